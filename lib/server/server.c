// Design notes. A server owns: one accept thread per listener, one reaper
// thread (destroys connections that ended, joins workers that retired),
// and a pool of handler workers. A connection's reader thread hands each
// new RPC to the pool (on_invoke) without blocking: an idle worker takes
// it, or a new worker is started. Workers beyond idle_workers retire when
// they find nothing to do. Every RPC's context is a child of the server's
// root context, so shutdown cancels them all by cancelling the root.
//
// Lock order: server mu is taken with no connection, stream or context
// lock held, and nothing of theirs is called while it is held (a
// connection's on_end takes it, so it is never held around a close).
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/server.h>

#include "common/cause.h"
#include "common/log.h"
#include "conn/conn.h"
#include "ctx/ctx.h"
#include "platform/thread.h"
#include "server/hooks.h"
#include "server/mux.h"
#include "transport/addr.h"
#include "transport/transport.h"

#define SERVER_IDLE_WORKERS  16
#define SERVER_HANDLER_STACK ((size_t) 256 << 10)
#define SERVER_MAX_LISTENERS 8
// SERVER_GRACE_NS bounds shutdown past its deadline: cancelled handlers
// get this long to return, and every connection's flush shares it.
#define SERVER_GRACE_NS 1000000000ll

typedef struct srv_conn srv_conn;
struct srv_conn {
	drpc_server *srv;
	drpc__conn  *c;     // set before the conn is listed
	bool         ended; // guarded by srv->mu
	bool         listed;
	srv_conn    *next; // guarded by srv->mu
	char         peer[128]; // immutable: "tcp://..." or "" if unknown
};

typedef struct srv_job {
	drpc__stream   *s; // owns its context (a child of the root)
	struct srv_job *next;
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
} srv_listener;

struct drpc_server {
	// Immutable after create.
	const drpc_mux  *mux;
	drpc_server_opts opts;
	drpc_ctx        *root;
	pthread_t        reaper;

	pthread_mutex_t mu;
	pthread_cond_t  work_cv; // idle workers wait for jobs
	pthread_cond_t  reap_cv; // the reaper waits for work
	pthread_cond_t  done_cv; // shutdown waits for handlers, adders, itself
	drpc__server_hooks hooks; // tests only; set before any use
	// Guarded by mu:
	srv_conn    *conns;
	size_t       nconns;
	size_t       adding;   // serve_transport calls past the stopping
			       // check whose connection is not listed yet
	srv_job     *head;
	srv_job     *tail;
	size_t       idle;     // workers waiting on work_cv
	size_t       queued;   // jobs in the queue
	size_t       running;  // handlers running
	srv_worker  *workers;  // live workers
	srv_worker  *retired;  // exited, to be joined by the reaper
	srv_listener listeners[SERVER_MAX_LISTENERS];
	size_t       nlisteners;
	bool         stopping; // shutdown began: no new conns or RPCs
	bool         stopped;  // workers and reaper must exit
	bool         shut;     // drpc_server_shutdown finished
	drpc_err     shut_rv;  // ...with this result
	char         addr[300];
};

static void *reaper_main(void *arg);
static void *worker_main(void *arg);

drpc_err
drpc_server_create(
    drpc_server **sp, const drpc_mux *mux, const drpc_server_opts *opts)
{
	drpc_server *s;
	drpc_err     rv;

	if (sp == NULL || mux == NULL ||
	    (opts != NULL && ((unsigned) opts->flow > DRPC_FLOW_OFF ||
				 (unsigned) opts->multiplex > DRPC_MULTIPLEX_OFF))) {
		return DRPC_EINVAL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		return DRPC_ENOMEM;
	}
	s->mux = mux;
	if (opts != NULL) {
		s->opts = *opts;
	}
	if (s->opts.idle_workers == 0) {
		s->opts.idle_workers = SERVER_IDLE_WORKERS;
	}
	if (s->opts.handler_stack == 0) {
		s->opts.handler_stack = SERVER_HANDLER_STACK;
	}
	if ((rv = drpc_ctx_create(&s->root, NULL)) != DRPC_OK) {
		free(s);
		return rv;
	}
	drpc__mutex_init(&s->mu);
	drpc__cond_init(&s->work_cv);
	drpc__cond_init(&s->reap_cv);
	drpc__cond_init(&s->done_cv);
	rv = drpc__thread_start(&s->reaper, "drpc-reap", 0,
	    s->opts.thread_stack, reaper_main, s);
	if (rv != DRPC_OK) {
		drpc__cond_fini(&s->done_cv);
		drpc__cond_fini(&s->reap_cv);
		drpc__cond_fini(&s->work_cv);
		drpc__mutex_fini(&s->mu);
		drpc_ctx_destroy(s->root);
		free(s);
		return rv;
	}
	*sp = s;
	return DRPC_OK;
}

// Handlers.

// server_fail sends the Error that ends a failed RPC (drpc/server.h):
// the code and text given to drpc_stream_set_error if the handler set
// one, whatever it returned; else a gRPC code (1-16) as it is, with its
// text. Any other code is the library's own (an I/O failure, a closed
// stream): the client gets Internal with a neutral text, and the log
// the detail, which is about this server and none of the client's.
static void
server_fail(drpc_server *srv, drpc__stream *s, const char *method, drpc_err rv)
{
	uint64_t    code;
	const char *msg;
	bool        set = drpc__stream_error_override(s, &code, &msg);

	if (set || (rv >= DRPC_ECANCELED && rv <= DRPC_EUNAUTH)) {
		if (!set) {
			code = (uint64_t) rv;
			msg  = drpc_strerror(rv);
		}
		drpc__logf(srv->opts.log, srv->opts.log_arg, DRPC_LOG_DEBUG,
		    "drpc: %s failed: %s (code %" PRIu64 ")", method, msg,
		    code);
	} else {
		code = DRPC_EINTERNAL;
		msg  = drpc_strerror(DRPC_EINTERNAL);
		drpc__logf(srv->opts.log, srv->opts.log_arg, DRPC_LOG_WARN,
		    "drpc: %s failed: %s (%s); the client gets Internal",
		    method, drpc_strerror(rv), drpc_err_name(rv));
	}
	(void) drpc__stream_send_error(s, code, msg, strlen(msg));
}

static void
server_run(drpc_server *srv, drpc__stream *s)
{
	const char            *method = drpc_stream_method(s);
	const drpc__mux_entry *e;
	char                   text[400];
	drpc_err               rv;
	uint64_t               code;
	const char            *msg;

	e = drpc__mux_lookup(srv->mux, method, strlen(method));
	if (e == NULL) {
		snprintf(text, sizeof(text),
		    "protocol error: unknown rpc: \"%s\"", method);
		(void) drpc__stream_send_error(s, DRPC_EUNIMPL, text,
		    strlen(text));
		return;
	}
	rv = e->fn(s, e->user);
	if (rv == DRPC_OK && !drpc__stream_error_override(s, &code, &msg)) {
		(void) drpc__stream_close_send(s);
		return;
	}
	server_fail(srv, s, method, rv);
}

static void
server_job_done(srv_job *j)
{
	drpc__stream_abandon(j->s); // nothing more goes to the peer
	drpc__stream_destroy(j->s);
	free(j);
}

// SERVER_IDLE_LINGER_NS is how long a worker waits for a job before it
// may retire (when idle_workers others are idle too). Retiring at once
// made bursty loads create and destroy threads by the thousand.
#define SERVER_IDLE_LINGER_NS 2000000000ll

// worker_next waits for a job; NULL means the worker should exit.
static srv_job *
worker_next(drpc_server *srv)
{
	srv_job *j;

	while (srv->head == NULL && !srv->stopped) {
		drpc_err rv;

		srv->idle++;
		rv = drpc__cond_wait_until(&srv->work_cv, &srv->mu,
		    drpc__now_ns() + SERVER_IDLE_LINGER_NS);
		srv->idle--;
		if (rv == DRPC_ETIMEDOUT && srv->head == NULL &&
		    srv->idle >= srv->opts.idle_workers) {
			return NULL; // enough others wait: retire
		}
	}
	if ((j = srv->head) == NULL) {
		return NULL;
	}
	srv->queued--;
	srv->head = j->next;
	if (srv->head == NULL) {
		srv->tail = NULL;
	}
	srv->running++;
	return j;
}

static void
worker_unlink_locked(drpc_server *srv, srv_worker *w)
{
	if (w->prev != NULL) {
		w->prev->next = w->next;
	} else {
		srv->workers = w->next;
	}
	if (w->next != NULL) {
		w->next->prev = w->prev;
	}
	w->next = w->prev = NULL;
}

static void
worker_retire_locked(drpc_server *srv, srv_worker *w)
{
	worker_unlink_locked(srv, w);
	w->next      = srv->retired;
	srv->retired = w;
	drpc__cond_broadcast(&srv->reap_cv);
}

static void *
worker_main(void *arg)
{
	srv_worker  *w   = arg;
	drpc_server *srv = w->srv;
	srv_job     *j;

	drpc__mutex_lock(&srv->mu);
	w->self = pthread_self();
	while ((j = worker_next(srv)) != NULL) {
		w->in_handler = true;
		drpc__mutex_unlock(&srv->mu);
		server_run(srv, j->s);
		server_job_done(j);
		drpc__mutex_lock(&srv->mu);
		w->in_handler = false;
		if (--srv->running == 0) {
			drpc__cond_broadcast(&srv->done_cv);
		}
	}
	worker_retire_locked(srv, w);
	drpc__mutex_unlock(&srv->mu);
	return NULL;
}

// server_dispatch_locked queues j for a worker, starting one unless an
// idle worker is left for it: every queued job has a worker of its own,
// so a burst of RPCs never waits behind a handler that blocks. On error
// nothing is queued.
static drpc_err
server_dispatch_locked(drpc_server *srv, srv_job *j)
{
	srv_worker *w;
	drpc_err    rv;

	if (srv->queued >= srv->idle) {
		if ((w = calloc(1, sizeof(*w))) == NULL) {
			return DRPC_ENOMEM;
		}
		w->srv  = srv;
		w->next = srv->workers;
		if (w->next != NULL) {
			w->next->prev = w;
		}
		srv->workers = w; // linked first: the thread may retire at once
		rv = drpc__thread_start(&w->t, "drpc-h", 0,
		    srv->opts.handler_stack, worker_main, w);
		if (rv != DRPC_OK) {
			worker_unlink_locked(srv, w);
			free(w);
			return rv;
		}
	}
	if (srv->tail != NULL) {
		srv->tail->next = j;
	} else {
		srv->head = j;
	}
	srv->tail = j;
	srv->queued++;
	if (srv->idle > 0) {
		drpc__cond_signal(&srv->work_cv);
	}
	return DRPC_OK;
}

// Connection callbacks (on the reader thread).

// server_invoke_ctx makes the RPC's context: a child of the root, with
// the client's deadline if it sent one (the entry is removed from md).
static drpc_ctx *
server_invoke_ctx(void *arg, const drpc__invoke_info *info)
{
	srv_conn             *sc = arg;
	drpc__md             *md = (drpc__md *) &info->md;
	const drpc__md_entry *e;
	int64_t               dl = 0;
	drpc_ctx             *ctx;

	e = drpc__md_get(md, DRPC_MD_TIMEOUT_KEY, strlen(DRPC_MD_TIMEOUT_KEY));
	if (e != NULL) {
		char  num[24] = {0};
		char *end;

		if (e->val_len > 0 && e->val_len < sizeof(num)) {
			memcpy(num, e->val, e->val_len);
			// strtoll saturates at LLONG_MAX; so does the sum.
			long long ns = strtoll(num, &end, 10);
			if (*end == '\0' && ns > 0) {
				dl = drpc__deadline_in_ns(ns);
			}
		}
		*(drpc__md_entry *) e = md->entries[--md->n];
	}
	if (drpc_ctx_create_deadline(&ctx, sc->srv->root, dl) != DRPC_OK) {
		return NULL;
	}
	return ctx;
}

static void
server_on_invoke(void *arg, drpc__stream *s, drpc__invoke_info *info)
{
	srv_conn    *sc  = arg;
	drpc_server *srv = sc->srv;
	srv_job     *j   = calloc(1, sizeof(*j));
	drpc_err     rv  = DRPC_ENOMEM;

	if (j != NULL) {
		j->s = s;
		rv = drpc__stream_set_call(s, info->name, info->name_len, &info->md);
	}
	drpc__md_fini(&info->md);
	if (rv == DRPC_OK) {
		drpc__mutex_lock(&srv->mu);
		rv = srv->stopping ? DRPC_EUNAVAIL
				   : server_dispatch_locked(srv, j);
		drpc__mutex_unlock(&srv->mu);
	}
	if (rv != DRPC_OK) {
		const char *why = drpc_strerror(rv);

		(void) drpc__stream_send_error(s,
		    rv == DRPC_EUNAVAIL ? DRPC_EUNAVAIL : DRPC_ERESOURCE, why,
		    strlen(why));
		drpc__stream_destroy(s);
		free(j);
	}
}

static void
server_on_end(void *arg, const drpc_cause *cause)
{
	srv_conn    *sc  = arg;
	drpc_server *srv = sc->srv;

	// A close, local or by the peer, is no news (DEBUG); the rest is.
	drpc__logf(srv->opts.log, srv->opts.log_arg,
	    cause->code == DRPC_ECLOSED ? DRPC_LOG_DEBUG : DRPC_LOG_WARN,
	    "drpc: server connection ended: %s%s%s", cause->text,
	    sc->peer[0] != '\0' ? "; peer " : "", sc->peer);
	drpc__mutex_lock(&srv->mu);
	sc->ended = true;
	if (sc->listed) {
		drpc__cond_signal(&srv->reap_cv);
	}
	drpc__mutex_unlock(&srv->mu);
}

// server_serve serves tr; peer (may be NULL) names the other end in logs.
static drpc_err
server_serve(drpc_server *srv, drpc_transport *tr, const char *peer)
{
	drpc__conn_opts o = {.is_server = true};
	srv_conn       *sc;
	drpc_err        rv;

	if (srv == NULL || tr == NULL) {
		return DRPC_EINVAL;
	}
	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		return DRPC_ENOMEM;
	}
	sc->srv        = srv;
	if (peer != NULL) {
		snprintf(sc->peer, sizeof(sc->peer), "%s", peer);
	}
	o.max_msg_size = srv->opts.max_msg_size;
	o.split_size   = srv->opts.split_size;
	o.writer_limit = srv->opts.writer_limit;
	o.write_timeout_ms = srv->opts.write_timeout_ms;
	o.ring_slots   = srv->opts.ring_slots;
	o.max_streams  = srv->opts.max_streams;
	o.multiplex    = srv->opts.multiplex;
	o.stack_size   = srv->opts.thread_stack;
	o.flow          = srv->opts.flow;
	o.stream_window = srv->opts.stream_window;
	o.conn_window   = srv->opts.conn_window;
	o.invoke_ctx   = server_invoke_ctx;
	o.on_invoke    = server_on_invoke;
	o.on_end       = server_on_end;
	o.arg          = sc;
	o.flush_hook   = srv->hooks.conn_flush_by;
	o.hook_arg     = srv->hooks.arg;
	drpc__mutex_lock(&srv->mu);
	rv = srv->stopping ? DRPC_ESTATE
	    : (srv->opts.max_conns != 0 && srv->nconns >= srv->opts.max_conns)
	    ? DRPC_ERESOURCE
	    : DRPC_OK;
	if (rv == DRPC_OK) {
		srv->nconns++; // reserve the slot
		srv->adding++; // shutdown waits for this connection's listing
	}
	drpc__mutex_unlock(&srv->mu);
	if (rv == DRPC_OK && (rv = drpc__conn_create(&sc->c, tr, &o)) != DRPC_OK) {
		drpc__mutex_lock(&srv->mu);
		srv->nconns--;
		if (--srv->adding == 0) {
			drpc__cond_broadcast(&srv->done_cv);
		}
		drpc__mutex_unlock(&srv->mu);
	}
	if (rv != DRPC_OK) {
		free(sc);
		return rv;
	}
	if (srv->hooks.conn_created != NULL) {
		srv->hooks.conn_created(srv->hooks.arg);
	}
	// Listed even if shutdown began meanwhile: it waits for adding to
	// reach zero before it closes the listed connections, this one too.
	drpc__mutex_lock(&srv->mu);
	if (--srv->adding == 0) {
		drpc__cond_broadcast(&srv->done_cv);
	}
	sc->listed = true;
	sc->next   = srv->conns;
	srv->conns = sc;
	if (sc->ended) {
		drpc__cond_signal(&srv->reap_cv);
	}
	drpc__mutex_unlock(&srv->mu);
	return DRPC_OK;
}

drpc_err
drpc_server_serve_transport(drpc_server *srv, drpc_transport *tr)
{
	return server_serve(srv, tr, NULL);
}

drpc_err
drpc_server_serve_fd(drpc_server *srv, int fd)
{
	drpc_transport *tr;
	drpc_err        rv;
	char            peer[128];

	if ((rv = drpc_transport_create_fd(&tr, fd)) != DRPC_OK) {
		return rv;
	}
	rv = server_serve(srv, tr,
	    drpc__peer_addr(fd, peer, sizeof(peer)) == DRPC_OK ? peer : NULL);
	if (rv != DRPC_OK) {
		drpc__transport_release_fd(tr); // the fd stays the caller's
	}
	return rv;
}

// The reaper.

// reaper_take_locked unlinks one ended connection, or returns NULL.
static srv_conn *
reaper_take_locked(drpc_server *srv)
{
	for (srv_conn **pp = &srv->conns; *pp != NULL; pp = &(*pp)->next) {
		srv_conn *sc = *pp;

		if (sc->ended) {
			*pp = sc->next;
			srv->nconns--;
			return sc;
		}
	}
	return NULL;
}

static void *
reaper_main(void *arg)
{
	drpc_server *srv = arg;

	drpc__mutex_lock(&srv->mu);
	for (;;) {
		srv_conn   *sc = reaper_take_locked(srv);
		srv_worker *w  = srv->retired;

		if (sc != NULL) {
			drpc__mutex_unlock(&srv->mu);
			drpc__conn_destroy(sc->c);
			free(sc);
			drpc__mutex_lock(&srv->mu);
		} else if (w != NULL) {
			srv->retired = w->next;
			drpc__mutex_unlock(&srv->mu);
			drpc__thread_join(w->t);
			free(w);
			drpc__mutex_lock(&srv->mu);
		} else if (srv->stopped) {
			break;
		} else {
			drpc__cond_wait(&srv->reap_cv, &srv->mu);
		}
	}
	drpc__mutex_unlock(&srv->mu);
	return NULL;
}

// Listening.

static void *
accept_main(void *arg)
{
	srv_listener *l   = arg;
	drpc_server  *srv = l->srv;
	int           fd;

	for (;;) {
		fd = accept(l->fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			break; // shut down (EINVAL) or a hard failure
		}
		drpc__set_nodelay(fd);
		drpc_err rv = drpc_server_serve_fd(srv, fd);
		if (rv != DRPC_OK) {
			drpc__logf(srv->opts.log, srv->opts.log_arg,
			    DRPC_LOG_WARN, "drpc: refusing a connection: %s",
			    drpc_strerror(rv));
			close(fd);
		}
	}
	return NULL;
}

// server_listen_why explains a listen refused after the bind.
static const char *
server_listen_why(drpc_err rv)
{
	switch (rv) {
	case DRPC_ESTATE:
		return "the server is shutting down";
	case DRPC_ERESOURCE:
		return "the server has as many listeners as it takes";
	default:
		return "the accept thread did not start";
	}
}

drpc_err
drpc_server_listen_cause(drpc_server *srv, const char *addr, drpc_cause *cause)
{
	srv_listener *l;
	drpc_err      rv;
	int           fd;
	char          buf[DRPC__CAUSE_ADDR_MAX + 1];

	if (srv == NULL || addr == NULL) {
		drpc_cause_clear(cause);
		return drpc__cause_set(cause, DRPC_EINVAL, "listen: no %s",
		    srv == NULL ? "server" : "address");
	}
	if ((rv = drpc__listen_cause(addr, &fd, cause)) != DRPC_OK) {
		return rv;
	}
	drpc__mutex_lock(&srv->mu);
	if (srv->stopping || srv->nlisteners == SERVER_MAX_LISTENERS) {
		rv = srv->stopping ? DRPC_ESTATE : DRPC_ERESOURCE;
	} else {
		l      = &srv->listeners[srv->nlisteners];
		l->srv = srv;
		l->fd  = fd;
		rv = drpc__thread_start(&l->t, "drpc-acc", srv->nlisteners,
		    srv->opts.thread_stack, accept_main, l);
		if (rv == DRPC_OK) {
			srv->nlisteners++;
			(void) drpc__local_addr(fd, srv->addr, sizeof(srv->addr));
		}
	}
	drpc__mutex_unlock(&srv->mu);
	if (rv != DRPC_OK) {
		close(fd);
		(void) drpc__cause_set(cause, rv, "listen %s: %s",
		    drpc__cause_addr(addr, buf), server_listen_why(rv));
	}
	return rv;
}

drpc_err
drpc_server_listen(drpc_server *srv, const char *addr)
{
	return drpc_server_listen_cause(srv, addr, NULL);
}

drpc_err
drpc_server_addr(drpc_server *srv, char *buf, size_t cap)
{
	drpc_err rv = DRPC_ESTATE;

	drpc__mutex_lock(&srv->mu);
	if (srv->addr[0] != '\0' && strlen(srv->addr) < cap) {
		strcpy(buf, srv->addr);
		rv = DRPC_OK;
	}
	drpc__mutex_unlock(&srv->mu);
	return rv;
}

// Shutdown.

static void
server_stop_listeners(drpc_server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		(void) shutdown(srv->listeners[i].fd, SHUT_RDWR);
		drpc__thread_join(srv->listeners[i].t);
		close(srv->listeners[i].fd);
	}
	srv->nlisteners = 0;
}

// server_in_handler_locked tells whether the caller is a handler of srv
// (then a shutdown must not wait for itself).
static bool
server_in_handler_locked(const drpc_server *srv)
{
	for (const srv_worker *w = srv->workers; w != NULL; w = w->next) {
		if (w->in_handler && pthread_equal(w->self, pthread_self())) {
			return true;
		}
	}
	return false;
}

// server_wait_handlers waits until no handler runs (but the caller, if it
// is one) or the deadline.
static drpc_err
server_wait_handlers(drpc_server *srv, int64_t deadline_ns)
{
	drpc_err rv = DRPC_OK;
	size_t   self;

	drpc__mutex_lock(&srv->mu);
	self = server_in_handler_locked(srv) ? 1 : 0;
	while ((srv->running > self || srv->head != NULL) && rv == DRPC_OK) {
		rv = deadline_ns == 0 ? DRPC_ETIMEDOUT
				      : drpc__cond_wait_until(&srv->done_cv,
					    &srv->mu, deadline_ns);
	}
	rv = (srv->running > self || srv->head != NULL) ? DRPC_ETIMEDOUT
							: DRPC_OK;
	drpc__mutex_unlock(&srv->mu);
	return rv;
}

// SERVER_FLUSH_MIN_NS is the least time every connection gets to flush,
// even when cancelled handlers used up the grace period.
#define SERVER_FLUSH_MIN_NS 100000000ll

// server_close_conns closes every connection, each flushing what its
// streams wrote until flush_by (or SERVER_FLUSH_MIN_NS from now, if
// later): all flushes run at once under that one deadline, so peers that
// stopped reading cost one grace period in all, not one each. Connections
// still being added are waited for first.
static void
server_close_conns(drpc_server *srv, int64_t flush_by)
{
	srv_conn *all;
	int64_t   least = drpc__deadline_in_ns(SERVER_FLUSH_MIN_NS);

	flush_by = flush_by > least ? flush_by : least;
	drpc__mutex_lock(&srv->mu);
	if (srv->adding > 0 && srv->hooks.shutdown_waits != NULL) {
		srv->hooks.shutdown_waits(srv->hooks.arg);
	}
	while (srv->adding > 0) {
		drpc__cond_wait(&srv->done_cv, &srv->mu);
	}
	all        = srv->conns;
	srv->conns = NULL;
	for (srv_conn *sc = all; sc != NULL; sc = sc->next) {
		srv->nconns--;
	}
	drpc__mutex_unlock(&srv->mu);
	for (srv_conn *sc = all; sc != NULL; sc = sc->next) {
		drpc__conn_close_start(sc->c);
	}
	while (all != NULL) {
		srv_conn *next = all->next;

		drpc__conn_close_by(all->c, flush_by);
		drpc__conn_destroy(all->c);
		free(all);
		all = next;
	}
}

// server_stop_threads tells workers and the reaper to exit and joins the
// idle ones; workers stuck in a handler are joined by destroy.
static void
server_stop_threads(drpc_server *srv)
{
	drpc__mutex_lock(&srv->mu);
	srv->stopped = true;
	drpc__cond_broadcast(&srv->work_cv);
	drpc__cond_broadcast(&srv->reap_cv);
	drpc__mutex_unlock(&srv->mu);
	drpc__thread_join(srv->reaper);
}

drpc_err
drpc_server_shutdown(drpc_server *srv, int64_t deadline_ns)
{
	drpc_err rv;
	int64_t  grace;

	if (srv == NULL) {
		return DRPC_EINVAL;
	}
	drpc__mutex_lock(&srv->mu);
	if (srv->stopping && server_in_handler_locked(srv)) {
		// A handler cannot wait for a shutdown that waits for it: the
		// one in progress goes on, and ends when this handler returns.
		drpc__mutex_unlock(&srv->mu);
		return DRPC_OK;
	}
	if (srv->stopping) {
		// Another call is shutting down: return when it has, with
		// its result, as a second caller expects everything closed.
		if (!srv->shut && srv->hooks.shutdown_waits != NULL) {
			srv->hooks.shutdown_waits(srv->hooks.arg);
		}
		while (!srv->shut) {
			drpc__cond_wait(&srv->done_cv, &srv->mu);
		}
		rv = srv->shut_rv;
		drpc__mutex_unlock(&srv->mu);
		return rv;
	}
	srv->stopping = true;
	drpc__mutex_unlock(&srv->mu);
	if (srv->hooks.stopping != NULL) {
		srv->hooks.stopping(srv->hooks.arg);
	}
	server_stop_listeners(srv);
	rv = server_wait_handlers(srv, deadline_ns);
	// One grace period past the deadline (or past the handlers' end)
	// covers both the cancelled handlers' return and every flush.
	grace = drpc__deadline_in_ns(SERVER_GRACE_NS);
	if (rv != DRPC_OK) {
		// Past the deadline: cancel every RPC (each sends a Cancel and
		// wakes its handler), and give them a moment to return.
		drpc_ctx_cancel(srv->root);
		(void) server_wait_handlers(srv, grace);
	}
	server_close_conns(srv, grace);
	server_stop_threads(srv);
	drpc__mutex_lock(&srv->mu);
	srv->shut    = true;
	srv->shut_rv = rv;
	drpc__cond_broadcast(&srv->done_cv);
	drpc__mutex_unlock(&srv->mu);
	return rv;
}

void
drpc__server_set_hooks(drpc_server *srv, const drpc__server_hooks *h)
{
	srv->hooks = *h;
}

void
drpc_server_destroy(drpc_server *srv)
{
	srv_worker *w;

	if (srv == NULL) {
		return;
	}
	(void) drpc_server_shutdown(srv, 0);
	// Join every worker: idle ones exit at once; one still inside a
	// handler that ignores its cancelled context is waited for here.
	drpc__mutex_lock(&srv->mu);
	while (srv->workers != NULL) {
		drpc__cond_wait(&srv->reap_cv, &srv->mu); // each retire signals
	}
	w            = srv->retired;
	srv->retired = NULL;
	drpc__mutex_unlock(&srv->mu);
	while (w != NULL) {
		srv_worker *next = w->next;

		drpc__thread_join(w->t);
		free(w);
		w = next;
	}
	drpc__cond_fini(&srv->done_cv);
	drpc__cond_fini(&srv->reap_cv);
	drpc__cond_fini(&srv->work_cv);
	drpc__mutex_fini(&srv->mu);
	drpc_ctx_destroy(srv->root);
	free(srv);
}
