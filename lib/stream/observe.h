// drpc__obs: what watches one stream, for interceptors and stats
// (include/drpc/intercept.h, include/drpc/stats.h): its stream wrappers,
// its values, and its per-RPC stats. A stream has none (s->obs NULL, the
// only thing the hot path tests) until a stats handler begins the RPC or
// drpc_stream_wrap / drpc_stream_set_value first asks for one.
//
// Threads: info, the wrappers and the values are set while no other
// thread uses the stream (the stream's creator, an interceptor, the
// handler before it shares the stream), then only read. The out counters
// belong to the sending thread, the in counters and seen to the receiving
// thread; end reads them once every other user is done (server: the
// handler returned; client: drpc_stream_destroy, the last call).
#ifndef DRPC_STREAM_OBSERVE_H
#define DRPC_STREAM_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/intercept.h>
#include <drpc/stats.h>

#include "stream/stream.h"

typedef struct drpc__obs_wrap {
	drpc_stream_wrapper w;
	void               *arg;
} drpc__obs_wrap;

typedef struct drpc__obs_value {
	const void *key;
	void       *value;
} drpc__obs_value;

typedef struct drpc__obs {
	// Stats: handler NULL for none, else &handler, the observer's own
	// copy (a client stream may outlive the connection or channel whose
	// options it came from: drpc/channel.h). info.method and
	// info.peer_addr point into method (owned) and peer.
	const drpc_stats_handler *stats;
	drpc_stats_handler        handler;
	drpc_rpc_info             info;
	char                     *method;
	char                      peer[128];
	uint64_t                  msgs_out, bytes_out; // sending thread
	uint64_t                  msgs_in, bytes_in;   // receiving thread
	// seen: the first end (not DRPC_OK) a recv reported; receiving thread.
	drpc_err seen;
	bool     ended; // end ran (the thread ending the RPC)

	drpc__obs_wrap  *wraps;
	size_t           nwraps, wcap;
	drpc__obs_value *vals;
	size_t           nvals, vcap;
} drpc__obs;

// drpc__obs_create makes an empty observer.
drpc_err drpc__obs_create(drpc__obs **op);

// drpc__obs_free frees o (NULL is a no-op); its end must have run, or it
// had no wrapper.
void drpc__obs_free(drpc__obs *o);

// drpc__obs_begin starts o's stats with h (copied): copies method, takes
// conn_id (0: not known yet, learnt from the stream) and peer (may be
// NULL) as the connection's id and the peer's address, stamps the time
// and calls h->begin.
drpc_err drpc__obs_begin(drpc__obs *o, const drpc_stats_handler *h,
    const char *method, bool client, uint64_t conn_id, const char *peer);

// drpc__obs_set_peer sets the peer's address after begin (a channel's
// call learns its backend once it is open), before the stream is shared.
void drpc__obs_set_peer(drpc__obs *o, const char *peer);

// drpc__obs_learn_peer sets o's peer (and connection id) from s's
// connection if o has none yet (a channel's call learns its backend once
// it is open; a client's call its connection's id).
void drpc__obs_learn_peer(drpc__obs *o, drpc__stream *s);

// drpc__obs_count reports one message of len bytes sent (out) or
// received to the stats handler, if any.
void drpc__obs_count(drpc__obs *o, bool out, size_t len);

// drpc__obs_end ends the RPC once: wrappers' end in order, then stats'
// end with st (code, remote_code, message) and the counts. Later calls do
// nothing.
void drpc__obs_end(drpc__obs *o, drpc__stream *s, const drpc_status *st);

// drpc__stream_obs is s's observer, NULL if none (any thread using s);
// drpc__stream_set_obs gives s one (s owns it from then on, and frees it
// with itself), before s is shared; NULL detaches it (o stays the
// caller's).
drpc__obs *drpc__stream_obs(const drpc__stream *s);
void       drpc__stream_set_obs(drpc__stream *s, drpc__obs *o);

// drpc__stream_obs_send and drpc__stream_obs_send_last are
// drpc__stream_send and drpc__stream_send_last through s's observer: the
// wrappers' send (any refusal fails the send), the send, the count.
drpc_err drpc__stream_obs_send(
    drpc__stream *s, const uint8_t *data, size_t len, bool last);

// drpc__stream_obs_recv is what drpc__stream_recv reports to s's observer:
// a message (rv DRPC_OK: counted, shown to the wrappers) or the end.
void drpc__stream_obs_recv(
    drpc__stream *s, drpc_err rv, const uint8_t *data, size_t len);

// drpc__stream_obs_end_client ends a client stream's RPC (at its
// destroy, or when the call failed after the open, with code not
// DRPC_OK): the local cancel if any, else code if not DRPC_OK, else the
// end its application saw (DRPC_EOF: success), else success.
void drpc__stream_obs_end_client(drpc__stream *s, drpc_err code);

#endif // DRPC_STREAM_OBSERVE_H
