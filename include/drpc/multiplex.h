// Multiplexing: whether a client connection runs its calls concurrently
// (docs/protocol.md §9.1). Not every DRPC server can take that: upstream
// Go DRPC serves one stream at a time per connection, abandons the active
// stream when a new Invoke arrives, and drops the connection when a frame
// of the older stream follows. A libdrpc server announces that it
// multiplexes by answering the client's hello.
#ifndef DRPC_MULTIPLEX_H
#define DRPC_MULTIPLEX_H

#ifdef __cplusplus
extern "C" {
#endif

// drpc_multiplex_mode, for a client (drpc_conn_opts.multiplex):
//   DRPC_MULTIPLEX_AUTO (the default) one stream at a time (later calls
//                   wait their turn, cancellably) until the server proves
//                   it multiplexes: a libdrpc server's answer to the hello
//                   the first call carries. From then on calls run at
//                   once. The first call waits for nothing; calls made
//                   before the answer wait for it (or for the first call
//                   to end, whichever comes first).
//   DRPC_MULTIPLEX_ON   concurrent streams from the first call, for peers
//                   known to multiplex (libdrpc, cockroachdb/drpc with
//                   stream multiplexing).
//   DRPC_MULTIPLEX_OFF  one stream at a time, always (upstream Go DRPC).
// For a server (drpc_server_opts.multiplex): AUTO and ON answer hellos,
// announcing multiplexing (and flow control, if on); OFF answers none,
// so clients treat the server as a plain DRPC peer.
typedef enum drpc_multiplex_mode {
	DRPC_MULTIPLEX_AUTO = 0,
	DRPC_MULTIPLEX_ON   = 1,
	DRPC_MULTIPLEX_OFF  = 2,
} drpc_multiplex_mode;

#ifdef __cplusplus
}
#endif

#endif // DRPC_MULTIPLEX_H
