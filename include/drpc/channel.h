// Channels: a client handle over one or many servers that survives their
// restarts. A channel owns its connections: it dials them (lazily or at
// once), redials with exponential backoff and jitter when they break,
// re-resolves names on every redial, spreads calls over the backends it
// resolved (pick-first or round-robin), and moves new calls off a backend
// that fails or drains (a libdrpc server's graceful shutdown). Each
// backend is one multiplexed connection. docs/api.md §10.
//
// Calls: drpc_channel_conn gives the channel's call handle, a drpc_conn *
// that every call function takes (drpc_invoke, drpc_stream_open,
// drpc_invoke_msg, generated stubs). A call goes to a ready backend; with
// none ready it fails at once with DRPC_EUNAVAIL (status message: the last
// connection error), unless drpc_call_opts.wait_for_ready asks it to wait
// within its deadline. The first connection attempt after the channel is
// created (or first used, when lazy) is waited for either way. A call in
// flight when its connection breaks fails with DRPC_EUNAVAIL; the library
// never sends a call twice (docs/api.md §10 shows the retry loop for
// idempotent calls).
//
// Thread safety: every function may be called from any thread at once,
// except drpc_channel_destroy, which must not race with calls made after
// it began (calls already in flight are fine: they end with
// DRPC_ECANCELED). Streams opened on the channel stay the caller's and
// are released with drpc_stream_destroy, before or after the channel.
#ifndef DRPC_CHANNEL_H
#define DRPC_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/conn.h>
#include <drpc/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drpc_channel drpc_channel;

// drpc_lb_policy: how calls are spread over the resolved backends.
//   DRPC_LB_PICK_FIRST   (the default) one connection: the first address
//                        that answers, in resolution order; when it
//                        fails, the next one.
//   DRPC_LB_ROUND_ROBIN  one connection per address; each call goes to
//                        the next ready one. A backend that fails leaves
//                        the rotation until it reconnects.
typedef enum drpc_lb_policy {
	DRPC_LB_PICK_FIRST  = 0,
	DRPC_LB_ROUND_ROBIN = 1,
} drpc_lb_policy;

// drpc_channel_state: the channel's connectivity, as gRPC names it.
typedef enum drpc_channel_state {
	DRPC_CHANNEL_IDLE              = 0, // lazy and not used yet
	DRPC_CHANNEL_CONNECTING        = 1, // first attempts in progress
	DRPC_CHANNEL_READY             = 2, // a backend takes calls
	DRPC_CHANNEL_TRANSIENT_FAILURE = 3, // none does; redialing
	DRPC_CHANNEL_SHUTDOWN          = 4, // being destroyed
} drpc_channel_state;

// drpc_channel_opts configures a channel; zero means the default for every
// field, so `drpc_channel_opts o = {0};` (or NULL) is the default.
typedef struct drpc_channel_opts {
	// conn: the options of every connection (dial_timeout_ms,
	// max_msg_size, flow, multiplex, log, tls, ...). With conn.tls each
	// backend verifies the target's host name (or the config's server
	// name), not the numeric address it dials; the channel keeps its own
	// reference to the config. ping_interval_ms and
	// ping_timeout_ms here apply to the channel's connections too.
	drpc_conn_opts conn;
	drpc_lb_policy lb;
	// eager: dial at drpc_channel_create (else at the first call).
	bool eager;
	// Backoff between failed attempts on one backend: the n-th failure
	// in a row waits min(initial * multiplier^(n-1), max) times a random
	// factor in [1 - jitter, 1 + jitter]. A connection that was ready
	// (its peer sent something) and broke is redialed at once; one the
	// peer closed before sending anything is a failed attempt. Defaults
	// as gRPC's: 1000 ms, 1.6, 120000 ms, 0.2.
	int64_t backoff_initial_ms;
	double  backoff_multiplier; // >= 1
	int64_t backoff_max_ms;
	double  backoff_jitter; // 0 to 1; negative: none
	// ping_interval_ms / ping_timeout_ms: between libdrpc peers, a
	// connection that read nothing for ping_interval_ms is pinged, and
	// one whose ping stays unanswered for ping_timeout_ms is closed (its
	// calls fail with DRPC_EUNAVAIL). 0: 30000 and 20000; a negative
	// interval: no pings.
	int64_t ping_interval_ms;
	int64_t ping_timeout_ms;
	// max_backends: addresses used at most (the first ones resolved); 0:
	// 64.
	size_t max_backends;
} drpc_channel_opts;

// drpc_channel_create makes a channel for target:
//   "tcp://host:port"   every address host resolves to (re-resolved on
//                       each redial), each a backend;
//   "unix:///path";
//   a comma-separated list of those ("tcp://a:7070,tcp://b:7070").
// It never fails for a server that is down: the channel redials. opts may
// be NULL; it is copied. Errors: DRPC_EINVAL (malformed target or
// options: cause names which), DRPC_ERESOURCE, DRPC_ENOMEM. cause may be
// NULL.
DRPC_API drpc_err drpc_channel_create(drpc_channel **chp, const char *target,
    const drpc_channel_opts *opts, drpc_cause *cause);

// drpc_channel_conn is the channel's call handle: pass it to drpc_invoke,
// drpc_stream_open, drpc_invoke_msg and generated stubs. It belongs to the
// channel (never drpc_conn_destroy it) and is valid until
// drpc_channel_destroy. drpc_conn_err/drpc_conn_cause on it report the
// channel (DRPC_OK while a backend is ready).
DRPC_API drpc_conn *drpc_channel_conn(drpc_channel *ch);

// drpc_channel_state reports the channel's state; connect true makes an
// idle channel start dialing.
DRPC_API drpc_channel_state drpc_channel_get_state(
    drpc_channel *ch, bool connect);

// drpc_channel_wait_ready waits until a backend is ready (DRPC_OK), the
// monotonic deadline_ns passes (DRPC_ETIMEDOUT; 0: no deadline) or the
// channel is destroyed (DRPC_ECANCELED). It starts an idle channel.
DRPC_API drpc_err drpc_channel_wait_ready(
    drpc_channel *ch, int64_t deadline_ns);

// drpc_channel_cause gives the last connection error in words ("dial
// tcp://127.0.0.1:7070: connection refused", "peer closed the connection
// (EOF)") and returns its code; DRPC_OK and a cleared cause if none.
DRPC_API drpc_err drpc_channel_cause(drpc_channel *ch, drpc_cause *cause);

// drpc_channel_destroy ends every call and stream in flight on the
// channel with DRPC_ECANCELED, closes its connections, joins its threads
// and frees it. A dial in progress is abandoned; a name resolution in
// progress is waited for. NULL is a no-op.
DRPC_API void drpc_channel_destroy(drpc_channel *ch);

#ifdef __cplusplus
}
#endif

#endif // DRPC_CHANNEL_H
