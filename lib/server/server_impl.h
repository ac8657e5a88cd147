// The server's objects, shared by server.c (connections, handlers, the
// reaper, shutdown) and listen.c (listeners and their accept threads).
#ifndef DRPC_SERVER_SERVER_IMPL_H
#define DRPC_SERVER_SERVER_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/server.h>

#include "conn/conn.h"
#include "server/hooks.h"
#include "server/mux.h"

#define SERVER_MAX_LISTENERS 8

typedef struct srv_conn srv_conn;
struct srv_conn {
	drpc_server *srv;
	uint64_t     id;    // immutable: the connection's (conninfo.h)
	drpc__conn  *c;     // set before the conn is listed
	bool         ended; // guarded by srv->mu
	bool         listed;
	srv_conn    *next;      // guarded by srv->mu
	char         peer[128]; // immutable: "tcp://..." or "" if unknown
	int64_t      since;     // immutable: when it was served
	bool         due_idle;  // guarded by srv->mu: swept for idleness
	                        // (else for its handshake)
	// ka_at: when the reaper next calls drpc__conn_keepalive for it
	// (INT64_MAX: never). Guarded by srv->mu.
	int64_t ka_at;
};

typedef struct srv_job {
	drpc__stream          *s; // owns its context (a child of the root)
	const drpc__mux_entry *e; // the method's handler
	struct srv_job        *next;
} srv_job;

typedef struct srv_worker {
	pthread_t          t;
	drpc_server       *srv;
	struct srv_worker *next; // guarded by srv->mu
	struct srv_worker *prev;
	pthread_t          self;       // guarded by srv->mu: the thread,
	bool               in_handler; // while it runs a handler
} srv_worker;

typedef struct srv_listener {
	drpc_server *srv;
	int          fd;
	pthread_t    t;
	char         name[128]; // immutable: the address, for logs
} srv_listener;

typedef struct srv_shutdown_hook srv_shutdown_hook;

// DRPC__SERVER_BUSY is the text of the Error an invoke past max_handlers
// gets.
#define DRPC__SERVER_BUSY \
	"server busy: too many handlers running (max_handlers)"

struct drpc_server {
	// Immutable after create.
	const drpc_mux  *mux;
	drpc_server_opts opts;
	drpc_conn_hooks  conn_hooks; // opts.conn_hooks points here (a copy)
	drpc_ctx        *root;
	pthread_t        reaper;
	// The timeouts in ns (0: none), and the reaper's sweep period: a
	// sweep at least this often, so none is missed (reaper_main).
	int64_t handshake_ns;
	int64_t idle_ns;
	int64_t sweep_ns;
	// ping_ns: ping_interval_ms in ns, 0: the reaper pings nobody.
	int64_t ping_ns;
	// icpt: the interceptors and stats handler (server/intercept.h);
	// NULL when opts had neither (opts' own pointers are cleared).
	struct drpc__chain *icpt;

	pthread_mutex_t mu;
	pthread_cond_t  work_cv; // idle workers wait for jobs
	pthread_cond_t  reap_cv; // the reaper waits for work
	pthread_cond_t  done_cv; // shutdown waits for handlers, adders, itself
	pthread_cond_t  accept_cv; // accept threads pause on it (stopping)
	drpc__server_hooks hooks;  // tests only; set (under mu) before any use
	// Guarded by mu:
	srv_conn *conns;
	size_t    nconns;
	size_t    adding; // serve_transport calls past the stopping
	                  // check whose connection is not listed yet
	srv_job *head;
	srv_job *tail;
	size_t   idle;        // workers waiting on work_cv
	size_t   queued;      // jobs in the queue
	size_t   running;     // handlers running
	size_t   handlers;    // RPCs dispatched whose handler has not
	                      // returned (max_handlers)
	srv_worker  *workers; // live workers
	srv_worker  *retired; // exited, to be joined by the reaper
	srv_listener listeners[SERVER_MAX_LISTENERS];
	size_t       nlisteners;
	bool         stopping; // shutdown began: no new conns or RPCs
	// draining: a graceful shutdown is waiting for its GOAWAYs'
	// acknowledgements; meanwhile an RPC that arrived before its
	// connection's acknowledgement is served (ctrl.c).
	bool         draining;
	int64_t      ping_next; // the reaper's next ping pass
	// pinging: the reaper calls into listed connections without mu
	// (ctrl.c); none is unlisted by anyone else meanwhile.
	bool         pinging;
	bool         stopped;  // workers and reaper must exit
	bool         shut;     // drpc_server_shutdown finished
	drpc_err     shut_rv;  // ...with this result
	// on_shutdown: drpc_server_on_shutdown's hooks (report.c), added
	// until stopping is set, run once after.
	srv_shutdown_hook *on_shutdown;
	char         addr[300];
};

// drpc__server_stop_listeners ends every accept thread (shutdown has set
// stopping, which ends a paused one) and closes the listening sockets.
void drpc__server_stop_listeners(drpc_server *srv);

// server.c: drpc__server_wait_adding_locked waits (mu held) until every
// connection being served concurrently is listed.
void drpc__server_wait_adding_locked(drpc_server *srv);

// report.c: how failed and refused RPCs end and are logged (docs/api.md,
// "Logging"), and the shutdown hooks.
// drpc__server_fail sends the Error that ends a failed RPC (drpc/server.h):
// the code and text given to drpc_stream_set_error if the handler set
// one, whatever it returned; else a gRPC code (1-16) as it is, with its
// text. Any other code is the library's own (an I/O failure, a closed
// stream): the client gets Internal with a neutral text, and the log
// the detail, which is about this server and none of the client's.
void drpc__server_fail(
    drpc_server *srv, drpc__stream *s, const char *method, drpc_err rv);
// drpc__server_unknown answers an RPC for a method nobody registered, in
// the words Go DRPC uses; drpc__server_refuse one refused for rv
// (DRPC_EUNAVAIL: shutting down; else ResourceExhausted, busy: over
// max_handlers).
void drpc__server_unknown(drpc_server *srv, drpc__stream *s);
void drpc__server_refuse(
    drpc_server *srv, drpc__stream *s, drpc_err rv, bool busy);
// drpc__server_run_shutdown_hooks runs them (the first shutdown, once
// stopping is set); drpc__server_free_shutdown_hooks frees them (destroy).
void drpc__server_run_shutdown_hooks(drpc_server *srv, bool graceful);
void drpc__server_free_shutdown_hooks(drpc_server *srv);

// ctrl.c: liveness and drain (docs/protocol.md §14).
// drpc__server_ping_locked is the reaper's ping pass as of now (mu held;
// released while it calls into connections): drpc__conn_keepalive for
// every connection due, and ping_next set.
void drpc__server_ping_locked(drpc_server *srv, int64_t now);
// drpc__server_drain sends every listed connection a GOAWAY and waits
// until each that got one acknowledged it or ended, or deadline_ns
// (DRPC_ETIMEDOUT); then draining ends.
drpc_err drpc__server_drain(drpc_server *srv, int64_t deadline_ns);
// drpc__server_on_goaway_acked is the connections' on_goaway_acked.
void drpc__server_on_goaway_acked(void *arg);

#endif // DRPC_SERVER_SERVER_IMPL_H
