// Connection info: which connection an RPC came from, per-connection user
// data, and what each connection did, for handlers, logs and metrics.
//
// Every connection (a server's, a client's, each backend of a channel) has
// an id: 64 random bits (getrandom), nonzero, drawn once when the
// connection is created. There is no process-wide counter (the library
// keeps no global mutable state): two connections of one process share an
// id with a chance of about n^2 / 2^65 for n connections, none in practice.
// The server's log lines about a connection name it as "conn <id in hex>"
// (docs/api.md, "Logging"), and its threads are named drpc-rd-<low bits>.
//
// Hooks (drpc_server_opts.conn_hooks, drpc_conn_opts.conn_hooks; a channel
// passes its conn opts' hooks to every backend connection):
//   - open is called once per connection, before its first stream: a
//     client's on the thread creating it (drpc_dial, drpc_conn_create*,
//     a channel's dialer) before that call returns; a server's on the
//     thread serving it (accept thread, drpc_server_serve_*) before its
//     reader starts, except for a transport that learns its peer in a
//     handshake (TLS): then on the connection's reader thread once the
//     first frame has been read (the certificate is known), before any
//     stream. Such a connection that ends before its first frame is never
//     opened, nor closed.
//   - close is called exactly once per open, after the connection ended,
//     its last stream was released and (server) the last of its handlers
//     returned: on the thread that drops the last hold on it (the thread
//     destroying the connection or the last stream, a handler worker, the
//     server's reaper or the thread shutting the server down). A server's
//     are all called before drpc_server_destroy returns.
// Both may run on several threads at once for different connections; they
// must not block for long, nor call back into the connection or server.
// ci and st are valid during the call only.
//
// Cost: with no hooks set, the counters below cost nothing on the hot
// path: each is a plain field of one owner thread, a field under a lock
// already held, or a relaxed atomic on a failure path (docs/design.md).
#ifndef DRPC_CONNINFO_H
#define DRPC_CONNINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>
#include <drpc/peer.h>
#include <drpc/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drpc_conn_info {
	uint64_t         id;     // the connection's id (above)
	bool             client; // this side is the client
	const drpc_peer *peer;   // address and TLS identity (drpc/peer.h)
} drpc_conn_info;

// drpc_conn_stats is what a connection did, given to the close hook.
typedef struct drpc_conn_stats {
	const drpc_cause *cause; // why it ended ("closed locally", EOF, ...)
	// streams_opened: server: RPCs whose invoke was taken (refused ones
	// included); client: calls whose stream was opened.
	// streams_refused: server: RPCs answered with an Error without a
	// handler (over max_streams or the invoke limits, unknown method,
	// over max_handlers, the server shutting down); client: opens that
	// failed before anything was written (the connection ended or
	// drains after a GOAWAY, the context ended while waiting for a slot).
	// streams_failed: server: RPCs whose handler ended with any status
	// but OK; client: calls that ended with an error (an Error from the
	// server, a cancel, the connection's loss).
	uint64_t streams_opened, streams_refused, streams_failed;
	// Time senders spent asleep: waiting for flow-control credit (the
	// stream's or the connection's window), and for room in the writer
	// (writer_limit), summed over every sender.
	int64_t  flow_blocked_ns;
	int64_t  writer_blocked_ns;
	// bytes_in, bytes_out: DRPC bytes read from and written to the
	// transport (frames; for TLS the bytes before encryption).
	uint64_t bytes_in, bytes_out;
	// opened_ns: the connection's creation; closed_ns: when it ended
	// (drpc_now_ns() time).
	int64_t  opened_ns, closed_ns;
} drpc_conn_stats;

typedef struct drpc_conn_hooks {
	// open: the connection is up, before its first stream; returns the
	// connection's user pointer (may be NULL). May be NULL.
	void *(*open)(void *arg, const drpc_conn_info *ci);
	// close: after its last stream ended (above); exactly once per open;
	// free user here. May be NULL.
	void (*close)(void *arg, const drpc_conn_info *ci, void *user,
	    const drpc_conn_stats *st);
	void *arg;
} drpc_conn_hooks;

// drpc_stream_conn_id is the id of s's connection (a handler's: its
// client's connection; a client call's: the connection, or the channel's
// backend, carrying it). 0 for NULL. Any thread.
DRPC_API uint64_t drpc_stream_conn_id(const drpc_stream *s);

// drpc_stream_conn_user is what the open hook of s's connection returned
// (NULL without hooks, or for NULL). It stays valid while s is: the close
// hook runs only after every stream of the connection was released. Any
// thread.
DRPC_API void *drpc_stream_conn_user(const drpc_stream *s);

#ifdef __cplusplus
}
#endif

#endif // DRPC_CONNINFO_H
