// Design notes. A server owns: one accept thread per listener, one reaper
// thread (destroys connections that ended, joins workers that retired,
// ends connections past their handshake or idle timeout, pings clients:
// ctrl.c), and a pool of handler workers. A connection's reader thread
// hands each new RPC to the pool (on_invoke) without blocking: an idle
// worker takes it, or a new worker is started. Workers beyond
// idle_workers retire when they find nothing to do. Every RPC's context
// is a child of the server's root context, so shutdown cancels them all
// by cancelling the root.
//
// Lock order: server mu is taken with no connection, stream or context
// lock held, and nothing of theirs is called while it is held (a
// connection's on_end takes it, so it is never held around a close),
// but for drpc__conn_idle, drpc__conn_goaway and
// drpc__conn_goaway_pending, which take only the connection's leaf locks
// (its mu, its writer's mu).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/server.h>

#include "common/log.h"
#include "conn/conn.h"
#include "ctx/ctx.h"
#include "platform/thread.h"
#include "server/hooks.h"
#include "server/intercept.h"
#include "server/mux.h"
#include "server/server_impl.h"
#include "tls/tls.h"
#include "transport/addr.h"
#include "transport/transport.h"

#define SERVER_IDLE_WORKERS  16
#define SERVER_HANDLER_STACK ((size_t) 256 << 10)
#define SERVER_MAX_STREAMS   256  // per connection
#define SERVER_MAX_HANDLERS  1024 // in the whole server
#define SERVER_HANDSHAKE_MS  10000
#define SERVER_IDLE_MS       300000
// SERVER_GRACE_NS bounds shutdown past its deadline: cancelled handlers
// get this long to return, and every connection's flush shares it.
#define SERVER_GRACE_NS 1000000000ll

static void *reaper_main(void *arg);
static void *worker_main(void *arg);

// server_timeout_ns converts a timeout option: 0 is the default def (ms),
// a negative one none (0 ns), a huge one saturates.
static int64_t
server_timeout_ns(int64_t ms, int64_t def)
{
	ms = ms == 0 ? def : ms;
	if (ms < 0) {
		return 0;
	}
	return ms > INT64_MAX / 1000000 ? INT64_MAX : ms * 1000000;
}

static int64_t
server_add_sat(int64_t t, int64_t ns)
{
	return ns > INT64_MAX - t ? INT64_MAX : t + ns;
}

drpc_err
drpc_server_create(
    drpc_server **sp, const drpc_mux *mux, const drpc_server_opts *opts)
{
	drpc_server *s;
	drpc_err     rv;

	if (sp == NULL || mux == NULL ||
	    (opts != NULL && ((unsigned) opts->flow > DRPC_FLOW_OFF ||
				 (unsigned) opts->multiplex > DRPC_MULTIPLEX_OFF ||
				 (unsigned) opts->migrate > DRPC_MIGRATE_OPTIONAL))) {
		return DRPC_EINVAL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		return DRPC_ENOMEM;
	}
	s->mux = mux;
	if (opts != NULL && (rv = drpc__srv_icpt_create(&s->icpt, opts)) !=
	    DRPC_OK) {
		free(s);
		return rv;
	}
	if (opts != NULL) {
		s->opts     = *opts;
		s->opts.tls = drpc__tls_config_ref(opts->tls); // till destroy
		s->opts.interceptors  = NULL; // the copies are in icpt
		s->opts.ninterceptors = 0;
		s->opts.stats         = NULL;
		if (opts->conn_hooks != NULL) {
			s->conn_hooks      = *opts->conn_hooks;
			s->opts.conn_hooks = &s->conn_hooks;
		}
	}
	if (s->opts.idle_workers == 0) {
		s->opts.idle_workers = SERVER_IDLE_WORKERS;
	}
	if (s->opts.handler_stack == 0) {
		s->opts.handler_stack = SERVER_HANDLER_STACK;
	}
	if (s->opts.max_streams == 0) {
		s->opts.max_streams = SERVER_MAX_STREAMS;
	}
	if (s->opts.max_handlers == 0) {
		s->opts.max_handlers = SERVER_MAX_HANDLERS;
	}
	s->handshake_ns = server_timeout_ns(
	    s->opts.handshake_timeout_ms, SERVER_HANDSHAKE_MS);
	s->idle_ns = server_timeout_ns(s->opts.idle_timeout_ms, SERVER_IDLE_MS);
	s->sweep_ns = s->handshake_ns == 0           ? s->idle_ns
	              : s->idle_ns == 0              ? s->handshake_ns
	              : s->handshake_ns < s->idle_ns ? s->handshake_ns
	                                             : s->idle_ns;
	s->ping_ns  = s->opts.ping_interval_ms > 0
	     ? server_timeout_ns(s->opts.ping_interval_ms, 0)
	     : 0;
	if ((rv = drpc_ctx_create(&s->root, NULL)) != DRPC_OK) {
		drpc_tls_config_destroy((drpc_tls_config *) (uintptr_t) s->opts.tls);
		drpc__srv_icpt_free(s->icpt);
		free(s);
		return rv;
	}
	drpc__mutex_init(&s->mu);
	drpc__cond_init(&s->work_cv);
	drpc__cond_init(&s->reap_cv);
	drpc__cond_init(&s->done_cv);
	drpc__cond_init(&s->accept_cv);
	rv = drpc__thread_start(&s->reaper, "drpc-reap", 0,
	    s->opts.thread_stack, reaper_main, s);
	if (rv != DRPC_OK) {
		drpc__cond_fini(&s->accept_cv);
		drpc__cond_fini(&s->done_cv);
		drpc__cond_fini(&s->reap_cv);
		drpc__cond_fini(&s->work_cv);
		drpc__mutex_fini(&s->mu);
		drpc_ctx_destroy(s->root);
		drpc_tls_config_destroy((drpc_tls_config *) (uintptr_t) s->opts.tls);
		drpc__srv_icpt_free(s->icpt);
		free(s);
		return rv;
	}
	*sp = s;
	return DRPC_OK;
}

// Handlers.

// server_handler_done releases the RPC's place under max_handlers. It is
// done before the RPC's last packet goes out, so a client that saw its
// call end may count on that place being free for its next call: when
// the handler returns, or earlier, when it sends its reply with
// drpc_stream_send_last after the client finished sending (the stream's
// on_last; the RPC cannot go on after that, whatever the client does).
static void
server_handler_done(void *arg)
{
	drpc_server *srv = arg;

	drpc__mutex_lock(&srv->mu);
	srv->handlers--;
	drpc__mutex_unlock(&srv->mu);
}

static void
server_run(drpc_server *srv, drpc__stream *s, const drpc__mux_entry *e)
{
	const char *method = drpc_stream_method(s);
	drpc_err    rv;
	uint64_t    code;
	const char *msg;

	rv = srv->icpt == NULL ? e->fn(s, e->user)
			       : drpc__srv_icpt_run(srv->icpt, s, e->fn, e->user);
	drpc__stream_last(s); // server_handler_done, unless done already
	if (rv == DRPC_OK && !drpc__stream_error_override(s, &code, &msg)) {
		(void) drpc__stream_close_send(s);
	} else {
		drpc__server_fail(srv, s, method, rv);
	}
	drpc__srv_rpc_done(s, rv); // stats and wrappers, if any
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
		server_run(srv, j->s, j->e);
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
// nothing is queued. *wake says an idle worker is to be signalled, which
// the caller does once it released mu (the worker would only wait for it).
static drpc_err
server_dispatch_locked(drpc_server *srv, srv_job *j, bool *wake)
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
	*wake = srv->idle > 0;
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

// server_on_invoke dispatches a new RPC, or refuses it with an Error at
// once: Unavailable during shutdown, ResourceExhausted past max_handlers
// or without memory or a thread. Its connection carries on either way.
static void
server_on_invoke(void *arg, drpc__stream *s, drpc__invoke_info *info)
{
	srv_conn    *sc   = arg;
	drpc_server *srv  = sc->srv;
	srv_job     *j    = calloc(1, sizeof(*j));
	drpc_err     rv   = DRPC_ENOMEM;
	bool         busy = false;
	bool         wake = false;

	if (j != NULL) {
		j->s = s;
		rv = drpc__stream_set_call(s, info->name, info->name_len, &info->md);
	}
	drpc__md_fini(&info->md);
	if (rv == DRPC_OK && srv->icpt != NULL) {
		rv = drpc__srv_icpt_begin(srv->icpt, s); // stats, if any
	}
	if (rv == DRPC_OK) {
		const char *method = drpc_stream_method(s);

		j->e = drpc__mux_lookup(srv->mux, method, strlen(method));
	}
	if (rv == DRPC_OK && j->e == NULL) {
		// An unknown method is answered here, on the reader thread:
		// a flood of them costs no handler thread and no slot.
		drpc__server_unknown(srv, s);
		drpc__stream_destroy(s);
		free(j);
		return;
	}
	if (rv == DRPC_OK) {
		drpc__mutex_lock(&srv->mu);
		// A stopping server still serves what a client with the
		// extension sent before it took the GOAWAY (ctrl.c).
		if (srv->stopping &&
		    !(srv->draining && info->before_goaway_ack)) {
			rv = DRPC_EUNAVAIL;
		} else if (srv->handlers >= srv->opts.max_handlers) {
			rv   = DRPC_ERESOURCE;
			busy = true;
		} else if ((rv = server_dispatch_locked(srv, j, &wake)) ==
		    DRPC_OK) {
			srv->handlers++;
			// Before a worker can take it (it needs mu).
			drpc__stream_set_on_last(s, server_handler_done, srv);
		}
		drpc__mutex_unlock(&srv->mu);
		if (wake) {
			drpc__cond_signal(&srv->work_cv);
		}
	}
	if (rv != DRPC_OK) {
		drpc__server_refuse(srv, s, rv, busy);
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
	    "drpc: server connection ended: %s%s%s; conn %016" PRIx64,
	    cause->text, sc->peer[0] != '\0' ? "; peer " : "", sc->peer,
	    sc->id);
	drpc__mutex_lock(&srv->mu);
	sc->ended = true;
	if (sc->listed) {
		drpc__cond_signal(&srv->reap_cv);
	}
	drpc__cond_broadcast(&srv->done_cv); // a drain waits for it (ctrl.c)
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
	sc->id         = drpc__conn_new_id();
	o.id           = sc->id;
	o.conn_hooks   = srv->opts.conn_hooks;
	if (peer != NULL) {
		snprintf(sc->peer, sizeof(sc->peer), "%s", peer);
	}
	o.max_msg_size = srv->opts.max_msg_size;
	o.split_size   = srv->opts.split_size;
	o.writer_limit = srv->opts.writer_limit;
	o.write_timeout_ms = srv->opts.write_timeout_ms;
	o.ring_slots   = srv->opts.ring_slots;
	// The connection's 0 is no limit, as the server's SIZE_MAX.
	o.max_streams =
	    srv->opts.max_streams == SIZE_MAX ? 0 : srv->opts.max_streams;
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
	o.ctrl_hook    = srv->hooks.ctrl;
	o.hook_arg     = srv->hooks.arg;
	o.ping_interval_ns = srv->ping_ns;
	o.ping_timeout_ns  = srv->ping_ns != 0
	     ? server_timeout_ns(srv->opts.ping_timeout_ms, 0)
	     : 0;
	o.on_goaway_acked = drpc__server_on_goaway_acked;
	o.migrate          = srv->opts.migrate != DRPC_MIGRATE_OFF;
	o.migrate_optional = srv->opts.migrate == DRPC_MIGRATE_OPTIONAL;
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
	sc->since = drpc__now_ns(); // before the connection's own clock
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
	sc->ka_at  = srv->ping_ns != 0 ? server_add_sat(sc->since, srv->ping_ns)
				       : INT64_MAX;
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

	if (srv->opts.tls != NULL) {
		// The handshake is the reader thread's (its first read).
		drpc_cause why;

		rv = drpc_transport_create_tls(&tr, fd, srv->opts.tls, NULL, 0, &why);
		if (rv != DRPC_OK) {
			drpc__logf(srv->opts.log, srv->opts.log_arg,
			    DRPC_LOG_WARN, "drpc: %s; peer %s", why.text,
			    drpc__peer_addr(fd, peer, sizeof(peer)) == DRPC_OK
				? peer
				: "unknown");
			return rv;
		}
		rv = server_serve(srv, tr,
		    drpc__peer_addr(fd, peer, sizeof(peer)) == DRPC_OK ? peer
								   : NULL);
		if (rv != DRPC_OK) {
			drpc__transport_release_tls(tr); // fd: the caller's
		}
		return rv;
	}
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

// Timeouts. The reaper sweeps the listed connections at the earliest time
// one of them is due, and ends those whose time has come. Nobody wakes it
// for them: a new connection, or one that goes idle, is due a whole
// timeout later, and the reaper sweeps at least once per the shorter
// timeout (sweep_ns), so its next sweep always comes in time. A
// connection's state is read through drpc__conn_idle (the connection
// keeps it), so user transports are covered as sockets are.

// server_due_locked is when sc is due to end for a timeout (INT64_MAX:
// never); *idle tells whether for idleness, else for its handshake.
static int64_t
server_due_locked(const drpc_server *srv, const srv_conn *sc, bool *idle)
{
	bool    framed;
	int64_t idle_since;
	int64_t due = INT64_MAX;

	drpc__conn_idle(sc->c, &framed, &idle_since);
	*idle = false;
	if (!framed && srv->handshake_ns != 0) {
		due = server_add_sat(sc->since, srv->handshake_ns);
	}
	if (idle_since != 0 && srv->idle_ns != 0 &&
	    server_add_sat(idle_since, srv->idle_ns) < due) {
		due   = server_add_sat(idle_since, srv->idle_ns);
		*idle = true;
	}
	return due;
}

// reaper_sweep_locked unlinks every connection due at now and returns
// them (linked through next), and sets *next to the time of the next
// sweep: the first due time, within sweep_ns, and no sooner than 1/64 of
// it (connections due close together end in one sweep, a little late).
static srv_conn *
reaper_sweep_locked(drpc_server *srv, int64_t now, int64_t *next)
{
	srv_conn *due   = NULL;
	int64_t   first = server_add_sat(now, srv->sweep_ns);
	int64_t   least = server_add_sat(now, srv->sweep_ns / 64);

	for (srv_conn **pp = &srv->conns; *pp != NULL;) {
		srv_conn *sc   = *pp;
		bool      idle = false;
		int64_t   at;

		at = sc->ended ? INT64_MAX : server_due_locked(srv, sc, &idle);
		if (at > now) {
			first = at < first ? at : first;
			pp    = &sc->next;
			continue;
		}
		*pp = sc->next;
		srv->nconns--;
		sc->due_idle = idle;
		sc->next     = due;
		due          = sc;
	}
	*next = first > least ? first : least;
	return due;
}

// reaper_end_due ends the connections of the list due with their cause,
// all first, then destroys them (the joins overlap).
static void
reaper_end_due(drpc_server *srv, srv_conn *due)
{
	for (srv_conn *sc = due; sc != NULL; sc = sc->next) {
		char why[96];

		if (sc->due_idle) {
			(void) snprintf(why, sizeof(why),
			    "idle: no stream for %lld ms",
			    (long long) (srv->idle_ns / 1000000));
		} else {
			(void) snprintf(why, sizeof(why),
			    "no frame within %lld ms of connecting",
			    (long long) (srv->handshake_ns / 1000000));
		}
		drpc__conn_abort(sc->c, DRPC_ETIMEDOUT, why);
	}
	while (due != NULL) {
		srv_conn *next = due->next;

		drpc__conn_destroy(due->c);
		free(due);
		due = next;
	}
}

// reaper_wake is when the reaper next has timed work: the earlier of a
// sweep at next (if sweeps) and a ping pass (if pings); 0: none.
static int64_t
reaper_wake(const drpc_server *srv, bool sweeps, int64_t next, bool pings)
{
	if (!pings) {
		return sweeps ? next : 0;
	}
	return sweeps && next < srv->ping_next ? next : srv->ping_next;
}

static void *
reaper_main(void *arg)
{
	drpc_server *srv  = arg;
	int64_t      next = 0; // the next sweep for timeouts
	int64_t      now;

	drpc__mutex_lock(&srv->mu);
	for (;;) {
		srv_conn   *sc = reaper_take_locked(srv);
		srv_worker *w  = srv->retired;
		bool        sweeps = srv->sweep_ns != 0 && !srv->stopping;
		bool        pings  = srv->ping_ns != 0;

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
		} else if (sweeps && (now = drpc__now_ns()) >= next) {
			srv_conn *due = reaper_sweep_locked(srv, now, &next);

			if (due != NULL) {
				drpc__mutex_unlock(&srv->mu);
				reaper_end_due(srv, due);
				drpc__mutex_lock(&srv->mu);
			}
			if (srv->hooks.swept != NULL) {
				srv->hooks.swept(srv->hooks.arg, now);
			}
		} else if (pings && (now = drpc__now_ns()) >= srv->ping_next) {
			drpc__server_ping_locked(srv, now);
		} else {
			(void) drpc__cond_wait_until(&srv->reap_cv, &srv->mu,
			    reaper_wake(srv, sweeps, next, pings));
		}
	}
	drpc__mutex_unlock(&srv->mu);
	return NULL;
}

// Shutdown.

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

void
drpc__server_wait_adding_locked(drpc_server *srv)
{
	if (srv->adding > 0 && srv->hooks.shutdown_waits != NULL) {
		srv->hooks.shutdown_waits(srv->hooks.arg);
	}
	while (srv->adding > 0) {
		drpc__cond_wait(&srv->done_cv, &srv->mu);
	}
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
	drpc__server_wait_adding_locked(srv);
	while (srv->pinging) { // the reaper is calling into them (ctrl.c)
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
	srv->draining = deadline_ns != 0;
	drpc__cond_broadcast(&srv->accept_cv); // a paused listener ends
	drpc__mutex_unlock(&srv->mu);
	if (srv->hooks.stopping != NULL) {
		srv->hooks.stopping(srv->hooks.arg);
	}
	// Before the listeners stop and any GOAWAY goes out (a health
	// service tells its watchers NOT_SERVING first).
	drpc__server_run_shutdown_hooks(srv, deadline_ns != 0);
	drpc__server_stop_listeners(srv);
	if (deadline_ns != 0) {
		// GOAWAY to the clients with the extension; the RPCs they sent
		// before they knew are served (ctrl.c). Its result is the
		// handlers': a drain past the deadline leaves them cancelled.
		(void) drpc__server_drain(srv, deadline_ns);
	}
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
	// Under mu: the reaper, already running, reads swept under it.
	drpc__mutex_lock(&srv->mu);
	srv->hooks = *h;
	drpc__mutex_unlock(&srv->mu);
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
	drpc__cond_fini(&srv->accept_cv);
	drpc__cond_fini(&srv->done_cv);
	drpc__cond_fini(&srv->reap_cv);
	drpc__cond_fini(&srv->work_cv);
	drpc__mutex_fini(&srv->mu);
	drpc_ctx_destroy(srv->root);
	drpc_tls_config_destroy((drpc_tls_config *) (uintptr_t) srv->opts.tls);
	drpc__srv_icpt_free(srv->icpt);
	drpc__server_free_shutdown_hooks(srv);
	free(srv);
}
