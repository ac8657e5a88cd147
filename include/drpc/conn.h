// Client connections: one transport shared by any number of threads, each
// call a stream of its own, multiplexed.
//
// Time: as every time argument of the API (docs/api.md, "Time"), a
// timeout is in milliseconds relative to the call (dial_timeout_ms; a
// call's own: drpc_call_opts.timeout_ms).
//
// Thread safety: every function may be called from any thread at once on
// the same connection, except drpc_conn_destroy, which must be the last
// call (after every stream opened on it has been destroyed or, at least,
// will not be used any more).
#ifndef DRPC_CONN_H
#define DRPC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/conninfo.h>
#include <drpc/ctx.h>
#include <drpc/error.h>
#include <drpc/flow.h>
#include <drpc/intercept.h>
#include <drpc/log.h>
#include <drpc/multiplex.h>
#include <drpc/stats.h>
#include <drpc/stream.h>
#include <drpc/tls.h>
#include <drpc/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

// drpc_conn_opts configures a client connection. Zero means the default
// for every field, so `drpc_conn_opts o = {0};` (or NULL) is the default.
typedef struct drpc_conn_opts {
	size_t  max_msg_size;    // largest message sent/received; 4 MiB
	size_t  split_size;      // largest frame body written; 64 KiB
	size_t  writer_limit;    // bytes buffered before senders wait; 4 MiB
	                         // (Messages: at most 256 KiB on a socket)
	size_t  ring_slots;      // received messages queued per stream; 256
	size_t  max_streams;     // concurrent streams; 0: no limit
	int64_t dial_timeout_ms; // drpc_dial's connect timeout; 10000
	// write_timeout_ms: the stall timeout (docs/reliability.md §3). A
	// server that reads nothing is cut off (DRPC_ETIMEDOUT) once no write
	// has completed for this long while the connection holds writer_limit
	// bytes of control packets for it (meanwhile it is not read); and,
	// without flow control, a connection whose reader waited this long
	// for room in a stream nobody reads ends the same way. 30000;
	// negative: never.
	int64_t write_timeout_ms;
	size_t  thread_stack;    // reader/drain thread stacks; 128 KiB
	// multiplex: whether calls run concurrently (drpc/multiplex.h). The
	// default runs one at a time until the server proves it multiplexes,
	// which a libdrpc server does in its first answer; set ON for
	// cockroachdb/drpc with multiplexing, OFF for upstream Go DRPC to skip
	// the hello.
	drpc_multiplex_mode multiplex;
	// one_stream: the same as multiplex = DRPC_MULTIPLEX_OFF (kept for
	// existing callers).
	bool one_stream;
	// omit_deadline: do not send a call's deadline to the server (the
	// reserved metadata entry of docs/protocol.md §9). A peer that does
	// not know the entry ignores it, but it adds an InvokeMetadata packet;
	// set this to send exactly the bytes upstream Go DRPC sends.
	bool omit_deadline;
	// Flow control (drpc/flow.h, docs/design.md §9). stream_window is
	// how many bytes a peer may send on one stream ahead of the
	// application (1 MiB); conn_window caps what all streams of the
	// connection hold and allow together (16 MiB).
	drpc_flow_mode flow;
	size_t         stream_window;
	size_t         conn_window;
	drpc_log_fn log; // may be NULL: nothing is logged
	void       *log_arg;
	// Liveness (docs/reliability.md §3). tcp_keepalive_ms: TCP keepalive
	// on a socket drpc_dial connects: the first probe after this long
	// without traffic, then one every 10 s (or this long, if shorter),
	// and the connection fails after 3 unanswered. 0: 60000; negative:
	// off. Not applied to sockets the caller connects.
	int64_t tcp_keepalive_ms;
	// ping_interval_ms: between libdrpc peers (the server announced the
	// extension, docs/protocol.md §14), a ping goes to the server once
	// nothing has been read from it for this long, from a thread of the
	// connection's own ("drpc-ka"); if nothing at all (the answer or
	// anything else) is read for ping_timeout_ms after a ping, the
	// connection ends with DRPC_EUNAVAIL ("peer did not answer a ping
	// within N ms") and so do its calls: a stopped server is detected
	// within ping_interval_ms + ping_timeout_ms. 0: no pings (the
	// server's pings are answered all the same). ping_timeout_ms: 0:
	// 20000.
	int64_t ping_interval_ms;
	int64_t ping_timeout_ms;
	// migrate_header: send drpcmigrate's 8-byte header "DRPC!!!1" first
	// thing on the connection (docs/protocol.md §15), for a server whose
	// port is shared with gRPC or HTTP (Go's drpcmigrate.ListenMux, or
	// drpc_server_opts.migrate). drpc_dial and drpc_conn_create_fd
	// write it on the socket, drpc_conn_create through the transport;
	// a write that fails fails the call.
	bool migrate_header;
	// tls: dial with TLS (drpc/tls.h; a client config), whatever the
	// scheme: "tls://host:port" needs it, and "tcp://host:port" with it
	// is TLS too. The handshake is part of the dial, within
	// dial_timeout_ms. drpc_dial takes its own reference: the caller may
	// destroy its handle after. drpc_conn_create_fd handshakes on its
	// socket the same way (verifying the config's server name, if it has
	// one, else only the chain); drpc_conn_create's transport is what it
	// is. NULL: plain.
	const drpc_tls_config *tls;
	// interceptors: ninterceptors of them run around every call made on
	// the connection, interceptors[0] outermost (drpc/intercept.h); on a
	// channel (drpc/channel.h) once per call on its handle, not per
	// backend. The array is copied. stats: per-RPC callbacks
	// (drpc/stats.h), copied; on a channel per call on its handle. NULL:
	// none, at the cost of one pointer test per call and per message.
	const drpc_client_interceptor *interceptors;
	size_t                         ninterceptors;
	const drpc_stats_handler      *stats;
	// conn_hooks: called when the connection opens and closes
	// (drpc/conninfo.h); copied, NULL: none. A channel gives them to
	// every backend connection it makes.
	const drpc_conn_hooks *conn_hooks;
} drpc_conn_opts;

// drpc_dial connects to addr and returns a connection:
//   "tcp://host:port" (host a name, IPv4, or [IPv6]; port 1-65535),
//   "tls://host:port" (TLS over TCP: opts->tls is required),
//   "unix:///path".
// opts may be NULL; it is copied. Errors: DRPC_EINVAL (bad address),
// DRPC_EUNAVAIL (refused, unreachable, no such unix socket, name
// resolution failed), DRPC_EPERM (permission denied), DRPC_ETIMEDOUT
// (dial_timeout_ms passed), DRPC_ERESOURCE, DRPC_ENOMEM.
DRPC_API drpc_err drpc_dial(
    drpc_conn **cp, const char *addr, const drpc_conn_opts *opts);

// drpc_dial_cause is drpc_dial that also says why it failed: cause (may
// be NULL) gets the code and a text such as "dial tcp://127.0.0.1:1:
// connection refused" or "invalid address "tcp://h:99999": port 99999 is
// out of range 1-65535 (accepted: ...)"; it is cleared on success.
DRPC_API drpc_err drpc_dial_cause(drpc_conn **cp, const char *addr,
    const drpc_conn_opts *opts, drpc_cause *cause);

// drpc_conn_create_fd wraps an already connected socket. On DRPC_OK the
// connection owns fd (and closes it); on error the caller still does.
DRPC_API drpc_err drpc_conn_create_fd(
    drpc_conn **cp, int fd, const drpc_conn_opts *opts);

// drpc_conn_create runs over a user transport (drpc/transport.h). On
// DRPC_OK the connection owns tr; on error the caller still does.
DRPC_API drpc_err drpc_conn_create(
    drpc_conn **cp, drpc_transport *tr, const drpc_conn_opts *opts);

// drpc_invoke makes a unary call: sends req (req_len bytes, borrowed) to
// method and waits for the reply, returned in *reply (malloc'd; free with
// drpc_free; NULL for an empty reply) and *reply_len. Concurrent calls on
// one connection run in parallel. opts may be NULL. st may be NULL; if
// not, it receives the details of a failure (the caller resets it).
// A call cancelled or timed out through ctx reports DRPC_ECANCELED or
// DRPC_ETIMEDOUT, never an end-of-stream. Errors: as drpc_stream_open and
// drpc_stream_recv; DRPC_EOF if the server answered nothing.
DRPC_API drpc_err drpc_invoke(drpc_conn *c, drpc_ctx *ctx,
    const char *method, const void *req, size_t req_len,
    const drpc_call_opts *opts, void **reply, size_t *reply_len,
    drpc_status *st);

// A server that shuts down gracefully tells a libdrpc client so (GOAWAY,
// docs/protocol.md §14): calls in flight go on, and a new call on that
// connection fails at once with DRPC_EUNAVAIL; the server closes the
// connection once they are done. Dial again for new calls.

// drpc_conn_err is DRPC_OK while the connection is up and takes calls,
// else why not: why it ended, or DRPC_EUNAVAIL while it drains after the
// server's GOAWAY (its calls in flight go on; dial again for new ones).
DRPC_API drpc_err drpc_conn_err(drpc_conn *c);

// drpc_conn_cause is drpc_conn_err in words: while the connection is up it
// returns DRPC_OK and clears cause; once it has ended it returns the same
// code as drpc_conn_err and fills cause (may be NULL) with it and a text
// saying why: "peer closed the connection (EOF)", "peer reset the
// connection (read): Connection reset by peer", "closed locally", "read
// failed: ...", or the protocol rule the peer broke ("message id went
// backwards on stream 3 (5 after 7)"); while it drains after a GOAWAY,
// DRPC_EUNAVAIL and "the server is shutting down: ...". docs/api.md §9
// lists them all.
DRPC_API drpc_err drpc_conn_cause(drpc_conn *c, drpc_cause *cause);

// drpc_conn_close ends the connection: buffered data is flushed (briefly),
// every open stream ends with DRPC_EUNAVAIL, the library's threads are
// joined and the transport closed. Idempotent; never from a handler of a
// stream of this connection.
DRPC_API void drpc_conn_close(drpc_conn *c);

// drpc_conn_destroy closes c and frees it. NULL is a no-op.
DRPC_API void drpc_conn_destroy(drpc_conn *c);

#ifdef __cplusplus
}
#endif

#endif // DRPC_CONN_H
