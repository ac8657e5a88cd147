// Per-RPC stats: callbacks on each RPC's begin, each message in or out,
// and its end, on both sides (drpc_server_opts.stats, drpc_conn_opts.stats).
// docs/api.md, "Interceptors and stats", says which RPCs count and when.
//
// Thread safety and ordering: callbacks run on the thread doing the
// operation (the server's begin on the connection's reader thread, msg on
// the thread that sent or received, end on the handler's thread or, for
// an RPC refused before it had one, the reader thread; the client's on the
// caller's threads), so callbacks of different RPCs run concurrently and
// must be thread-safe and quick (a slow server begin holds up the
// connection's reader). For one RPC, begin happens before every msg,
// which happen before end; the msg callbacks of one direction come in
// order; end comes exactly once for every begun RPC. rpc is valid during
// the callback only. Each RPC keeps its own copy of the handler: a client
// stream may end after its connection or channel is destroyed
// (drpc/channel.h), so arg must stay valid until every RPC begun with it
// has ended. Without a handler set the library pays one pointer
// test per operation: no lock, no atomic.
#ifndef DRPC_STATS_H
#define DRPC_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drpc_rpc_info {
	const char *method;
	bool        client;    // this side is the client
	uint64_t    conn_id;   // the connection's id (drpc/conninfo.h); a
	                       // channel's call: 0 until it is open
	const char *peer_addr; // "tcp://..." as drpc_peer.addr; "" if unknown
	int64_t     begin_ns;  // drpc_now_ns() at begin
} drpc_rpc_info;

// drpc_rpc_end: how an RPC ended. Counts are of message payload bytes
// (what the application sent and received, without framing) and
// messages: out on this side's sends that succeeded, in on the messages
// delivered to this side's application.
typedef struct drpc_rpc_end {
	drpc_err    code;        // DRPC_OK or the call's error
	uint64_t    remote_code; // the wire code (0 none)
	const char *message;     // may be NULL
	int64_t     latency_ns;  // from begin to end
	uint64_t    msgs_in, msgs_out, bytes_in, bytes_out;
} drpc_rpc_end;

typedef struct drpc_stats_handler {
	void (*begin)(void *arg, const drpc_rpc_info *rpc);
	void (*msg)(void *arg, const drpc_rpc_info *rpc, bool out, size_t len);
	void (*end)(void *arg, const drpc_rpc_info *rpc, const drpc_rpc_end *end);
	void *arg;
} drpc_stats_handler;

#ifdef __cplusplus
}
#endif

#endif // DRPC_STATS_H
