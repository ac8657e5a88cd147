// Servers: a handler table, listeners, and a thread per RPC.
//
// Time: drpc_server_shutdown takes a deadline in drpc_now_ns() time, as
// every deadline_ns of the API (docs/api.md, "Time").
//
// Thread safety: drpc_mux_register must finish before the mux is given to
// a server; after that the mux is read-only and may be shared by many
// servers. Every drpc_server function may be called from any thread,
// except drpc_server_destroy (the last call, never from a handler).
#ifndef DRPC_SERVER_H
#define DRPC_SERVER_H

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

// drpc_handler_fn runs one RPC on its own thread. It reads the request(s)
// with drpc_stream_recv, answers with drpc_stream_send, and returns. How
// the stream ends, in this order:
//   - drpc_stream_set_error was called: an Error with its code and text,
//     whatever the handler returned (DRPC_OK included);
//   - DRPC_OK: a normal end (CloseSend);
//   - a gRPC status code (1-16): an Error with that code and its
//     drpc_strerror text;
//   - any other code (the library's own, 100 and up: DRPC_EIO,
//     DRPC_ECLOSED, ...): an Error with Internal (13) and the text
//     "internal error"; the method and the real error go to the server's
//     log hook at DRPC_LOG_WARN (the client learns nothing of the
//     server's internals).
// user is the pointer given at registration. The stream belongs to the
// library: do not destroy it.
typedef drpc_err (*drpc_handler_fn)(drpc_stream *s, void *user);

// drpc_mux maps method names ("/pkg.Service/Method") to handlers.
typedef struct drpc_mux drpc_mux;

DRPC_API drpc_err drpc_mux_create(drpc_mux **mp);

// drpc_mux_register adds method (copied), the name clients call:
// "/pkg.Service/Method", or "/Service/Method" without a package. Errors:
// DRPC_EINVAL (NULL arguments, or a name that does not start with '/' or
// has nothing after it: "", "/", "pkg.Service/Method"), DRPC_EEXIST
// (already registered), DRPC_ENOMEM.
DRPC_API drpc_err drpc_mux_register(
    drpc_mux *m, const char *method, drpc_handler_fn fn, void *user);

// drpc_mux_destroy frees m (NULL is a no-op), once no server uses it.
DRPC_API void drpc_mux_destroy(drpc_mux *m);

typedef struct drpc_server drpc_server;

// drpc_migrate_mode: whether a server's connections start with
// drpcmigrate's header "DRPC!!!1" (docs/protocol.md §15), as a client
// behind Go's drpcmigrate.DialWithHeader (or with
// drpc_conn_opts.migrate_header) sends it. OFF: never (the default);
// REQUIRE: a connection must, or it is closed (the cause is logged at
// DRPC_LOG_WARN); OPTIONAL: the header is taken off if it is there, and a
// connection without it is served as it is. The server reads it on the
// connection's own reader thread, never the accept thread: a client that
// sends part of it and stalls holds only its own connection, until the
// handshake timeout closes it.
typedef enum drpc_migrate_mode {
	DRPC_MIGRATE_OFF      = 0,
	DRPC_MIGRATE_REQUIRE  = 1,
	DRPC_MIGRATE_OPTIONAL = 2,
} drpc_migrate_mode;

// drpc_server_opts configures a server; zero means the default everywhere.
// The defaults bound what a hostile or broken client can hold
// (docs/reliability.md §3); raise them for workloads that need more.
typedef struct drpc_server_opts {
	size_t max_conns; // connections served at once; 0: no limit
	// max_streams: streams open at once per connection; an invoke past
	// it gets an Error (ResourceExhausted, 8) at once and the connection
	// carries on. 0: 256; SIZE_MAX: no limit. (A client's
	// drpc_conn_opts.max_streams differs: there 0 means no limit, and
	// opens past it wait for a slot.)
	size_t max_streams;
	// max_handlers: handlers running at once in the whole server (over
	// every connection and listener); an invoke past it gets an Error
	// (ResourceExhausted, 8) at once, without a thread, and its
	// connection carries on. A handler counts from its invoke's arrival
	// until it returns, or until it sends its final reply with
	// drpc_stream_send_last after the client finished sending (generated
	// unary and client-streaming handlers do): a unary client may see
	// its reply before a handler that replied with drpc_stream_send has
	// returned. 0: 1024; SIZE_MAX: no limit.
	size_t max_handlers;
	// handshake_timeout_ms: a connection that has not delivered one
	// complete frame this long after it was accepted (or served) is
	// closed. 0: 10000; negative: no limit.
	int64_t handshake_timeout_ms;
	// idle_timeout_ms: a connection with no stream open for this long
	// (since its last stream ended, or since it was accepted) is closed.
	// 0: 300000 (5 minutes); negative: no limit.
	int64_t idle_timeout_ms;
	// write_timeout_ms: the stall timeout (docs/reliability.md §3). A
	// client that reads nothing is disconnected once no write has
	// completed for this long while its connection holds writer_limit
	// bytes of errors and control packets for it (meanwhile the
	// connection is not read); and, without flow control, a connection
	// whose reader waited this long for room in a stream whose handler
	// reads nothing is ended the same way. 0: 30000, negative: never.
	int64_t write_timeout_ms;
	size_t  max_msg_size; // 4 MiB
	size_t split_size;   // 64 KiB
	size_t writer_limit; // 4 MiB (Messages: at most 256 KiB on a socket)
	size_t ring_slots;   // 256
	size_t thread_stack; // stacks of the library's threads; 128 KiB
	// handler_stack: stack of handler threads; 0 = 256 KiB.
	size_t handler_stack;
	// idle_workers: handler threads kept waiting for the next RPC; 0: 16.
	size_t idle_workers;
	// Flow control per connection, as drpc_conn_opts (drpc/flow.h).
	drpc_flow_mode flow;
	size_t         stream_window; // 1 MiB
	size_t         conn_window;   // 16 MiB
	// multiplex: AUTO/ON answer clients' hellos, telling them this server
	// multiplexes; OFF answers none (a plain DRPC server to clients).
	drpc_multiplex_mode multiplex;
	drpc_log_fn    log;
	void       *log_arg;
	// tcp_keepalive_ms: TCP keepalive on every connection a listener
	// accepts, as drpc_conn_opts.tcp_keepalive_ms (0: 60000; negative:
	// off). Not applied to serve_fd's sockets.
	int64_t tcp_keepalive_ms;
	// ping_interval_ms: the server pings each client with the extension
	// (docs/protocol.md §14) once nothing has been read from it for this
	// long, and closes a connection that answers nothing within
	// ping_timeout_ms (0: 20000): a client that stopped is detected
	// within the sum. 0: no pings (the default); clients' pings are
	// answered all the same.
	int64_t ping_interval_ms;
	int64_t ping_timeout_ms;
	// migrate: drpcmigrate's header on every connection served
	// (listeners', serve_fd's and serve_transport's), drpc_migrate_mode.
	// With tls, it comes in clear before the TLS handshake and is taken
	// off the socket before OpenSSL reads (as Go's ListenMux does).
	drpc_migrate_mode migrate;
	// tls: every connection a listener accepts, and every fd given to
	// drpc_server_serve_fd, is TLS with this server config (drpc/tls.h),
	// whatever the listening address's scheme ("tls://" needs it). The
	// handshake runs on the connection's reader thread, never the
	// accept thread, bounded by handshake_timeout_ms. The server keeps a
	// reference: the caller may destroy its handle after
	// drpc_server_create. NULL: plain.
	const drpc_tls_config *tls;
	// interceptors: ninterceptors of them run around every RPC's handler,
	// interceptors[0] outermost (drpc/intercept.h); the array is copied.
	// stats: per-RPC callbacks (drpc/stats.h), copied. NULL: none, at the
	// cost of a pointer test per message and, per RPC, one call that
	// finds no observer (a handler may wrap its stream without either).
	const drpc_server_interceptor *interceptors;
	size_t                         ninterceptors;
	const drpc_stats_handler      *stats;
	// conn_hooks: called as each connection served opens and closes
	// (drpc/conninfo.h); copied, NULL: none.
	const drpc_conn_hooks *conn_hooks;
} drpc_server_opts;

// drpc_server_create makes a server for mux (borrowed; it must outlive
// the server). opts may be NULL.
DRPC_API drpc_err drpc_server_create(
    drpc_server **sp, const drpc_mux *mux, const drpc_server_opts *opts);

// drpc_server_listen binds addr ("tcp://host:port", port 0 picks a free
// one, an empty host means every address; "tls://host:port" the same, for
// a server with opts.tls, DRPC_EINVAL without; "unix:///path", where a socket
// file no server accepts on any more is replaced) and starts accepting on
// a thread of its own. That thread ends only at shutdown: an accept that
// fails (out of descriptors, EMFILE; out of memory; anything but the one
// connection's own error) is logged once at DRPC_LOG_WARN, retried after
// a pause of 5 ms doubling up to 1 s while it keeps failing, and logged
// again when accepting resumes. Errors: DRPC_EINVAL (bad address), DRPC_EEXIST
// (address in use), DRPC_EPERM (permission denied), DRPC_EUNAVAIL
// (cannot bind there: no such directory, address not available),
// DRPC_ESTATE (shut down), DRPC_ERESOURCE, DRPC_ENOMEM.
DRPC_API drpc_err drpc_server_listen(drpc_server *s, const char *addr);

// drpc_server_listen_cause is drpc_server_listen that also says why it
// failed: cause (may be NULL) gets the code and a text such as "listen
// tcp://127.0.0.1:7070: address in use"; it is cleared on success.
DRPC_API drpc_err drpc_server_listen_cause(
    drpc_server *s, const char *addr, drpc_cause *cause);

// drpc_server_addr writes the address of the server's last listener into
// buf (with the real port when 0 was asked for; "tls://" for a TCP
// listener of a server with drpc_server_opts.tls). DRPC_ESTATE if none.
DRPC_API drpc_err drpc_server_addr(drpc_server *s, char *buf, size_t cap);

// drpc_server_serve_fd serves one connected socket (the server owns fd on
// DRPC_OK). drpc_server_serve_transport serves a user transport likewise.
// Both return at once; the connection is served on the library's threads.
DRPC_API drpc_err drpc_server_serve_fd(drpc_server *s, int fd);
DRPC_API drpc_err drpc_server_serve_transport(
    drpc_server *s, drpc_transport *tr);

// drpc_server_shutdown stops accepting, lets RPCs in flight finish until
// the monotonic deadline_ns (drpc_now_ns() time; 0 = cancel them at
// once), then cancels the rest (their contexts end, their streams report
// DRPC_ECANCELED), closes every connection and joins every thread.
// With a deadline, the shutdown is graceful towards libdrpc clients
// (docs/protocol.md §14): each connection whose client has the extension
// gets a GOAWAY (open no new streams here), and until that client
// acknowledges it, or the deadline, its calls are still served (it may
// have sent them before it knew); the handlers are then waited for as
// above. Other clients' new calls are refused (DRPC_EUNAVAIL) as soon as
// the shutdown begins.
// Returns DRPC_OK if everything finished before the deadline,
// DRPC_ETIMEDOUT if handlers had to be cancelled. It returns by the
// deadline (or the handlers' end, if earlier) plus one second, in which
// cancelled handlers return and every connection flushes what was written
// (all at once: a peer that stopped reading costs no more), and 0.1 s
// more if handlers used that second up. A connection being served
// concurrently (serve_fd/serve_transport) is closed too. Called again, or
// from another thread while one runs, it returns when the first call has
// finished, with its result. A handler may call it: it never waits for
// the calling handler, and a second call from a handler returns DRPC_OK at
// once (the shutdown in progress ends when the handler returns). Never
// call it, nor drpc_server_destroy, from a log callback.
DRPC_API drpc_err drpc_server_shutdown(drpc_server *s, int64_t deadline_ns);

// drpc_server_on_shutdown adds a hook: fn(arg, graceful) is called once,
// on the thread of the first drpc_server_shutdown (or destroy), as soon as
// it begins: after new connections and RPCs are refused but before the
// listeners close and before any GOAWAY goes out, while every connection
// and handler still runs (graceful: it has a deadline, else handlers are
// cancelled at once). Hooks run in the order added. fn must not block for
// long nor call drpc_server_shutdown or destroy. arg must stay valid until
// the hook ran (or the server is destroyed). A health service links to
// its server this way (drpc_health_attach, drpc/health.h). Errors:
// DRPC_EINVAL (NULL), DRPC_ESTATE (a shutdown began), DRPC_ENOMEM.
DRPC_API drpc_err drpc_server_on_shutdown(
    drpc_server *s, void (*fn)(void *arg, bool graceful), void *arg);

// drpc_server_destroy shuts down at once (if not done) and frees s.
DRPC_API void drpc_server_destroy(drpc_server *s);

#ifdef __cplusplus
}
#endif

#endif // DRPC_SERVER_H
