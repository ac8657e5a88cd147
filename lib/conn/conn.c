// Design notes. The registry (stream id -> stream) is guarded by the
// connection's mu, which is a leaf lock: it is never held while taking a
// stream's or the writer's lock. A stream calls back into it (forget)
// with its own lock held, from its terminate, so whoever wakes on the end
// finds the registry updated (docs/design.md §7); forget takes only mu,
// and the registry's reference it drops is never the stream's last. The
// reader thread looks a stream up
// and holds a reference while it dispatches a frame, so a concurrent
// forget cannot free it mid-dispatch.
//
// The connection is reference counted: the creator holds one reference
// and every stream one more, so a stream handle the user still holds after
// drpc__conn_destroy stays safe to use (it reports the connection's end);
// the memory goes with the last reference.
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cause.h"
#include "common/idmap.h"
#include "common/idwin.h"
#include "conn/conn.h"
#include "ctx/ctx.h"
#include "mux/writer.h"
#include "platform/thread.h"
#include "transport/transport.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"
#include "wire/reader.h"

#define CONN_DEFAULT_STACK   ((size_t) 128 << 10)
#define CONN_DEFAULT_PENDING 1024
#define CONN_DEFAULT_WRITE_TIMEOUT_MS 30000
#define CONN_FLOW_MAX        ((uint64_t) 1 << 48)
#define CONN_FLOW_MAX_COST   ((uint64_t) 1 << 20)
// CONN_INVOKE_MAX (I) bounds what one half-received invoke may cost, and
// CONN_PENDING_MAX (P) what all of a connection's cost together; each is
// also held to max_msg_size. The cost counts the wire bytes of the packet
// being assembled and the metadata decoded (drpc__md_cost): an invoke past
// either limit is refused with ResourceExhausted (docs/design.md §4).
#define CONN_INVOKE_MAX  ((size_t) 64 << 10)
#define CONN_PENDING_MAX ((size_t) 1 << 20)

// A server stream whose invoke sequence is still arriving.
typedef struct pending_invoke {
	drpc__asm asm_;
	drpc__md  md;
	bool      refused; // over the maximum: refused, its frames dropped
			   // until its last Invoke frame
	size_t    cost;    // what it holds, counted in conn.pending_bytes
} pending_invoke;

// A new server stream, registered but not yet handed to on_invoke.
typedef struct ready_invoke {
	drpc__stream *s;
	drpc__md      md;
	uint8_t      *name; // malloc'd copy
	size_t        name_len;
} ready_invoke;

struct drpc__conn {
	// Immutable after create.
	drpc__conn_opts opts;
	drpc_transport *tr;
	pthread_t       reader;
	atomic_uint     refs; // atomic
	// framed: a whole frame has arrived (set once by the reader; read by
	// a server's timeouts through drpc__conn_idle).
	atomic_bool framed;

	drpc__writer      w;       // internally locked
	drpc__flow_conn   fconn;   // internally locked
	// rxmem: what the streams hold of the peer's packets (atomic; its
	// strikes are the reader thread's), bounded by conn_window + the
	// largest message whatever the flow mode (docs/design.md §8).
	drpc__rxmem       rxmem;
	uint64_t          my_cost; // immutable: charge per Message we ask
	uint64_t          tx_cost; // immutable: charge assumed of the peer
	size_t            invoke_max;  // immutable: I, for one pending invoke
	size_t            pending_max; // immutable: P, for all of them
	// wide_slots: the client charges its sends less than we ask until
	// our answer arrives (its hello says so): its streams get the slot
	// bound of a charge of 0 (protocol.md §13.3). Reader thread only.
	bool              wide_slots;
	bool              hello_seen; // reader thread only: a hello (server)
					   // or its answer (client) was taken

	// Reader thread only.
	drpc__frame_reader fr;
	drpc_cause         rd_why;  // words for the error the reader ends on
	drpc__idmap        pending; // id -> pending_invoke
	size_t             pending_bytes; // the sum of their cost (<= P)
	drpc__idwin        taken; // server: stream ids taken (any order)
	ready_invoke      *ready; // new streams for on_invoke, in order
	size_t             nready;
	size_t             ready_cap;

	// open_mu orders client stream opens: an id is taken and its Invoke
	// appended under it, so ids reach the wire strictly increasing (as
	// servers may require). Lock order: open_mu before ctx, stream and
	// writer locks; nothing sleeps while it is held.
	pthread_mutex_t open_mu;
	uint64_t        next_id;    // guarded by open_mu
	bool            hello_sent; // guarded by open_mu (client)

	pthread_mutex_t mu;
	pthread_cond_t  term_cv; // broadcast when the connection ends
	pthread_cond_t  slot_cv; // client opens wait here under max_streams
	// Guarded by mu:
	drpc__idmap streams; // id -> stream, one reference each
	size_t      opening;      // client opens past the slot wait
	size_t      slot_waiters; // client opens sleeping on slot_cv
	bool        terminated; // terminate has begun
	bool        ended;      // ...and finished: every stream ended
	drpc_err    cause;
	char        cause_text[DRPC_CAUSE_TEXT_MAX]; // the cause in words
	bool        closed; // drpc__conn_close ran
	bool        flow_on;     // flow control is in force
	uint64_t    peer_window; // the peer's window per stream, once on
	uint64_t    peer_cost;   // the peer's charge per Message, once on
	uint64_t    flow_gen;    // one more each time the figures change
	bool        mux_on;      // client: concurrent streams allowed
	// idle_since: when the registry last became empty (drpc__now_ns()
	// time; the creation at first), 0 while it holds a stream.
	int64_t idle_since;
};

static void *reader_main(void *arg);
static void  reader_flush_ready(void *arg);
static void  reader_ring_waits(void *arg);

static void
conn_hold(drpc__conn *c)
{
	atomic_fetch_add(&c->refs, 1);
}

static void
conn_free(drpc__conn *c)
{
	pending_invoke *p;

	while ((p = drpc__idmap_take_any(&c->pending)) != NULL) {
		drpc__asm_fini(&p->asm_);
		drpc__md_fini(&p->md);
		free(p);
	}
	drpc__idmap_fini(&c->pending);
	drpc__idmap_fini(&c->streams);
	drpc__frame_reader_fini(&c->fr);
	drpc__writer_fini(&c->w);
	drpc__flow_conn_fini(&c->fconn);
	drpc__cond_fini(&c->term_cv);
	drpc__cond_fini(&c->slot_cv);
	drpc__mutex_fini(&c->open_mu);
	drpc__mutex_fini(&c->mu);
	free(c);
}

static void
conn_rele(void *arg)
{
	drpc__conn *c = arg;

	if (atomic_fetch_sub(&c->refs, 1) == 1) {
		conn_free(c);
	}
}

// conn_forget removes s from the registry (if still there) and drops the
// registry's reference.
static void
conn_forget(void *arg, drpc__stream *s)
{
	drpc__conn *c     = arg;
	bool        found = false;

	drpc__mutex_lock(&c->mu);
	if (drpc__idmap_get(&c->streams, drpc__stream_id(s)) == s) {
		drpc__idmap_del(&c->streams, drpc__stream_id(s));
		found = true;
		if (c->streams.n == 0) {
			c->idle_since = drpc__now_ns();
		}
		if (c->slot_waiters > 0) {
			drpc__cond_broadcast(&c->slot_cv);
		}
	}
	drpc__mutex_unlock(&c->mu);
	if (found) {
		drpc__stream_rele(s);
	}
}

// conn_end ends the connection (once: later calls do nothing) for the
// cause why, which it records in words.
static void
conn_end(drpc__conn *c, const drpc_cause *why)
{
	drpc__stream *s;
	drpc_cause    cause = *why;

	drpc__cause_fill(&cause);
	drpc__mutex_lock(&c->mu);
	if (c->terminated) {
		drpc__mutex_unlock(&c->mu);
		return;
	}
	c->terminated = true;
	c->cause      = cause.code;
	memcpy(c->cause_text, cause.text, sizeof(c->cause_text));
	drpc__cond_broadcast(&c->slot_cv);
	drpc__mutex_unlock(&c->mu);

	drpc__writer_stop(&c->w, DRPC_ECLOSED, false);
	drpc__transport_shutdown(c->tr);
	for (;;) {
		drpc__mutex_lock(&c->mu);
		s = drpc__idmap_take_any(&c->streams);
		drpc__mutex_unlock(&c->mu);
		if (s == NULL) {
			break;
		}
		drpc__stream_conn_lost(s);
		drpc__stream_rele(s); // the registry's reference
	}
	// Waiters learn of the end only once every stream has ended too.
	drpc__mutex_lock(&c->mu);
	c->ended = true;
	drpc__cond_broadcast(&c->term_cv);
	drpc__mutex_unlock(&c->mu);
	if (c->opts.on_end != NULL) {
		c->opts.on_end(c->opts.arg, &cause);
	}
}

// conn_io_cause words a transport's failure: code is what the transport
// returned, err its errno (0: unknown, a user transport), dir "read" or
// "write".
static void
conn_io_cause(drpc_cause *why, drpc_err code, int err, const char *dir)
{
	switch (err) {
	case 0:
		(void) drpc__cause_set(
		    why, code, "%s failed: %s", dir, drpc_strerror(code));
		break;
	case ECONNRESET:
		(void) drpc__cause_errno(
		    why, code, err, "peer reset the connection (%s)", dir);
		break;
	case EPIPE:
		(void) drpc__cause_errno(why, code, err,
		    "peer closed or reset the connection (%s)", dir);
		break;
	default:
		(void) drpc__cause_errno(why, code, err, "%s failed", dir);
		break;
	}
}

// conn_io_end ends the connection for a transport failure or end of
// input. Once a local close has begun, that is the cause: its own
// shutdown of the transport is what the reader or the writer just met.
static void
conn_io_end(drpc__conn *c, drpc_cause *why)
{
	bool closing;

	drpc__mutex_lock(&c->mu);
	closing = c->closed;
	drpc__mutex_unlock(&c->mu);
	if (closing) {
		(void) drpc__cause_set(why, DRPC_ECLOSED, "closed locally");
	}
	conn_end(c, why);
}

// conn_on_write_error runs on the drain thread, whose write just failed.
static void
conn_on_write_error(void *arg, drpc_err err)
{
	drpc__conn *c = arg;
	drpc_cause  why;

	conn_io_cause(&why, err, drpc__transport_write_errno(c->tr), "write");
	conn_io_end(c, &why);
}

static void
conn_apply_defaults(drpc__conn_opts *o)
{
	if (o->max_msg_size == 0) {
		o->max_msg_size = DRPC__DEFAULT_MAX_SIZE;
	}
	if (o->max_pending == 0) {
		o->max_pending = CONN_DEFAULT_PENDING;
	}
	if (o->stack_size == 0) {
		o->stack_size = CONN_DEFAULT_STACK;
	}
	if (o->close_timeout_ms == 0) {
		o->close_timeout_ms = 1000;
	}
	if (o->write_timeout_ms == 0) {
		o->write_timeout_ms = CONN_DEFAULT_WRITE_TIMEOUT_MS;
	}
	if (o->stream_window == 0) {
		o->stream_window = DRPC__FLOW_WINDOW;
	}
	if (o->conn_window == 0) {
		o->conn_window = DRPC__FLOW_CONN_WINDOW;
	}
	if (o->stream_window > CONN_FLOW_MAX) {
		o->stream_window = CONN_FLOW_MAX;
	}
	if (o->conn_window > CONN_FLOW_MAX) {
		o->conn_window = CONN_FLOW_MAX;
	}
}

static size_t
conn_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

drpc_err
drpc__conn_create(
    drpc__conn **cp, drpc_transport *tr, const drpc__conn_opts *opts)
{
	drpc__conn *c;
	drpc_err    rv;

	if (cp == NULL || tr == NULL || opts == NULL ||
	    (opts->is_server && opts->on_invoke == NULL)) {
		return DRPC_EINVAL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return DRPC_ENOMEM;
	}
	c->opts = *opts;
	conn_apply_defaults(&c->opts);
	c->invoke_max  = conn_min(CONN_INVOKE_MAX, c->opts.max_msg_size);
	c->pending_max = conn_min(CONN_PENDING_MAX, c->opts.max_msg_size);
	c->tr      = tr;
	c->next_id = 1;
	c->idle_since = drpc__now_ns();
	atomic_init(&c->refs, 1);
	atomic_init(&c->framed, false);
	drpc__mutex_init(&c->mu);
	drpc__mutex_init(&c->open_mu);
	drpc__cond_init(&c->term_cv);
	drpc__cond_init(&c->slot_cv);
	drpc__flow_conn_init(&c->fconn);
	drpc__rxmem_init(&c->rxmem, c->opts.conn_window +
	    c->opts.max_msg_size + DRPC__RXMEM_MSG);
	// A peer configured "on" is taken to be cockroachdb/drpc: plain
	// byte counts, no per-message charge, a window equal to ours.
	c->my_cost = c->opts.flow == DRPC_FLOW_ON ? 0 : DRPC__FLOW_MSG_COST;
	c->tx_cost = c->my_cost;
	c->mux_on  = c->opts.is_server ||
	    c->opts.multiplex == DRPC_MULTIPLEX_ON;
	if (c->opts.flow == DRPC_FLOW_ON) {
		c->flow_on     = true;
		c->peer_window = c->opts.stream_window;
		c->peer_cost   = 0;
		c->flow_gen    = 1;
	}
	drpc__frame_reader_init(
	    &c->fr, drpc__transport_read, tr, c->opts.max_msg_size);
	c->fr.skip_oversize   = true; // one stream ends, not the connection
	c->fr.before_read     = reader_flush_ready;
	c->fr.before_read_arg = c;
	c->w.wait_hook     = c->opts.send_wait_hook;
	c->w.wait_hook_arg = c->opts.send_wait_hook_arg;
	rv = drpc__writer_start(&c->w, tr, c->opts.writer_limit,
	    c->opts.split_size, c->opts.stack_size, c->opts.id,
	    conn_on_write_error, c);
	if (rv != DRPC_OK) {
		goto fail_mu;
	}
	rv = drpc__thread_start(&c->reader, "drpc-rd", c->opts.id,
	    c->opts.stack_size, reader_main, c);
	if (rv != DRPC_OK) {
		goto fail_writer;
	}
	*cp = c; // ownership of tr moves only here
	return DRPC_OK;

fail_writer:
	drpc__writer_stop(&c->w, DRPC_ECLOSED, false);
	drpc__writer_join(&c->w);
	drpc__writer_fini(&c->w);
fail_mu:
	drpc__frame_reader_fini(&c->fr);
	drpc__flow_conn_fini(&c->fconn);
	drpc__mutex_fini(&c->open_mu);
	drpc__cond_fini(&c->term_cv);
	drpc__cond_fini(&c->slot_cv);
	drpc__mutex_fini(&c->mu);
	free(c);
	return rv;
}

drpc_err
drpc__conn_cause(drpc__conn *c, drpc_cause *out)
{
	drpc_err rv;

	drpc__mutex_lock(&c->mu);
	rv = c->terminated ? c->cause : DRPC_OK;
	if (out != NULL) {
		out->code = rv;
		memcpy(out->text, rv == DRPC_OK ? "" : c->cause_text,
		    rv == DRPC_OK ? 1 : sizeof(out->text));
	}
	drpc__mutex_unlock(&c->mu);
	return rv;
}

drpc_err
drpc__conn_err(drpc__conn *c)
{
	drpc_err rv;

	drpc__mutex_lock(&c->mu);
	rv = c->terminated ? c->cause : DRPC_OK;
	drpc__mutex_unlock(&c->mu);
	return rv;
}

drpc_err
drpc__conn_wait(drpc__conn *c, int64_t deadline_ns)
{
	drpc_err rv = DRPC_OK;

	drpc__mutex_lock(&c->mu);
	while (!c->ended && rv == DRPC_OK) {
		rv = drpc__cond_wait_until(&c->term_cv, &c->mu, deadline_ns);
	}
	rv = c->ended ? c->cause : DRPC_ETIMEDOUT;
	drpc__mutex_unlock(&c->mu);
	return rv;
}

size_t
drpc__conn_send_waiters(drpc__conn *c)
{
	size_t n;

	drpc__mutex_lock(&c->w.mu);
	n = c->w.waiters;
	drpc__mutex_unlock(&c->w.mu);
	return n;
}

size_t
drpc__conn_active(drpc__conn *c)
{
	size_t n;

	drpc__mutex_lock(&c->mu);
	n = c->streams.n;
	drpc__mutex_unlock(&c->mu);
	return n;
}

void
drpc__conn_idle(drpc__conn *c, bool *framed, int64_t *idle_since)
{
	*framed = atomic_load(&c->framed);
	drpc__mutex_lock(&c->mu);
	*idle_since = c->idle_since;
	drpc__mutex_unlock(&c->mu);
}

void
drpc__conn_abort(drpc__conn *c, drpc_err code, const char *text)
{
	drpc_cause why = {code, ""};

	(void) snprintf(why.text, sizeof(why.text), "%s", text);
	conn_end(c, &why);
}

// conn_new_stream creates a stream and registers it (the registry's
// reference plus the caller's handle).
static drpc_err
conn_new_stream(drpc__conn *c, uint64_t id, drpc_ctx *ctx, drpc__stream **sp)
{
	drpc__stream_opts so = {
	    .id           = id,
	    .is_client    = !c->opts.is_server,
	    .ring_slots   = c->opts.ring_slots,
	    .max_msg_size = c->opts.max_msg_size,
	    .ctx          = ctx,
	    .owns_ctx     = c->opts.is_server,
	    .w            = &c->w,
	    .owner        = {conn_forget, conn_rele, reader_ring_waits, c},
	    .fconn   = c->opts.flow == DRPC_FLOW_OFF ? NULL : &c->fconn,
	    .rxmem   = &c->rxmem,
	    .window  = c->opts.stream_window,
	    .rx_cost = c->my_cost,
	    .tx_cost = c->tx_cost,
	    .why     = &c->rd_why,
	};
	drpc__stream      *s;
	drpc_err           rv;
	bool               flow_on = false;
	drpc__flow_figures fig     = {0};

	if ((rv = drpc__stream_create(&s, &so)) != DRPC_OK) {
		if (so.owns_ctx) {
			drpc_ctx_destroy(ctx); // the stream would have
		}
		if (!c->opts.is_server) {
			drpc__mutex_lock(&c->mu);
			c->opening--;
			drpc__cond_broadcast(&c->slot_cv);
			drpc__mutex_unlock(&c->mu);
		}
		return rv;
	}
	conn_hold(c); // released when s is freed
	drpc__mutex_lock(&c->mu);
	if (c->terminated) {
		rv = c->opts.is_server ? DRPC_ECANCELED : DRPC_EUNAVAIL;
	} else if ((rv = drpc__idmap_put(&c->streams, id, s)) == DRPC_OK) {
		drpc__stream_hold(s);
		c->idle_since = 0;
		// Registered before flow control came on: conn_flow_on's
		// snapshot has it. After: it is this call's to turn on, with
		// these figures, unless conn_flow_on's snapshot (which has it
		// now) applies newer ones first: gen makes those win.
		flow_on = c->flow_on;
		fig     = (drpc__flow_figures) {c->peer_window, c->peer_cost,
			c->wide_slots, c->flow_gen};
	}
	if (!c->opts.is_server) {
		c->opening--; // the slot is now the registry's (or free)
		if (rv != DRPC_OK && c->slot_waiters > 0) {
			drpc__cond_broadcast(&c->slot_cv);
		}
	}
	drpc__mutex_unlock(&c->mu);
	if (rv != DRPC_OK) {
		drpc__stream_rele(s);
		return rv;
	}
	if (flow_on) {
		if (c->opts.open_hook != NULL) {
			c->opts.open_hook(c->opts.hook_arg);
		}
		drpc__stream_flow_on(s, &fig);
	}
	*sp = s;
	return DRPC_OK;
}

// conn_flow_on puts flow control in force (or updates the peer's
// figures): every registered stream is turned on, and every later one
// at its creation (conn_new_stream). peer is the peer's hello, NULL in
// the "on" mode before any: then the peer is taken to be configured like
// us, without a connection window (cockroachdb/drpc).
static void
conn_flow_on(drpc__conn *c, const drpc__hello *peer)
{
	drpc__stream     **v      = NULL;
	size_t             n      = 0;
	uint64_t           window = peer != NULL ? peer->window
						 : c->opts.stream_window;
	uint64_t           cost   = peer != NULL ? peer->msg_cost : 0;
	drpc__flow_figures fig;

	// A peer's figures are clamped so no count can overflow: 2^48 bytes
	// is as good as unlimited, a charge over 1 MiB is the peer's loss.
	window = window > CONN_FLOW_MAX ? CONN_FLOW_MAX : window;
	cost   = cost > CONN_FLOW_MAX_COST ? CONN_FLOW_MAX_COST : cost;
	if (peer != NULL) {
		// Both sides have the extension and told each other their
		// connection windows: stream-0 grants go both ways, starting
		// with what was consumed before.
		drpc__writer_window_update(&c->w, 0, drpc__flow_conn_activate(
					  &c->fconn, c->opts.conn_window));
		if (peer->conn_window > 0) {
			drpc__writer_conn_gate(&c->w,
			    peer->conn_window > CONN_FLOW_MAX ? CONN_FLOW_MAX
							      : peer->conn_window);
		}
	}
	drpc__mutex_lock(&c->mu);
	c->flow_on     = true;
	c->peer_window = window;
	c->peer_cost   = cost;
	fig = (drpc__flow_figures) {window, cost, c->wide_slots, ++c->flow_gen};
	if (c->streams.n > 0 &&
	    (v = malloc(c->streams.n * sizeof(*v))) != NULL) {
		for (size_t i = 0; i < c->streams.cap; i++) {
			if (c->streams.slots[i].id != 0) {
				v[n] = c->streams.slots[i].val;
				drpc__stream_hold(v[n++]);
			}
		}
	}
	drpc__mutex_unlock(&c->mu);
	// Without memory for the snapshot the streams already open stay
	// as they were (ungated): only later ones are flow controlled.
	for (size_t i = 0; i < n; i++) {
		drpc__stream_flow_on(v[i], &fig);
		drpc__stream_rele(v[i]);
	}
	free(v);
	if (c->opts.flow_on_hook != NULL) {
		c->opts.flow_on_hook(c->opts.hook_arg);
	}
}

bool
drpc__conn_flow_active(drpc__conn *c)
{
	bool on;

	drpc__mutex_lock(&c->mu);
	on = c->flow_on;
	drpc__mutex_unlock(&c->mu);
	return on;
}

int64_t
drpc__conn_mem_held(drpc__conn *c)
{
	return drpc__rxmem_held(&c->rxmem);
}

uint64_t
drpc__conn_flow_held(drpc__conn *c)
{
	return drpc__flow_conn_held(&c->fconn);
}

// A client open waiting for a free slot: the context's listener wakes it.
typedef struct slot_wait {
	drpc__ctx_listener l;
	drpc__conn        *c;
	drpc_err           why; // guarded by c->mu; the ctx's error once fired
} slot_wait;

static void
conn_slot_wake(void *arg, drpc_err why)
{
	slot_wait *w = arg;

	drpc__mutex_lock(&w->c->mu);
	w->why = why;
	drpc__cond_broadcast(&w->c->slot_cv);
	drpc__mutex_unlock(&w->c->mu);
}

// conn_slot_full_locked tells whether a client open must wait: one stream
// at a time until multiplexing is on (docs/protocol.md §9.1), then
// max_streams (0: no limit).
static bool
conn_slot_full_locked(const drpc__conn *c)
{
	size_t limit = c->mux_on ? c->opts.max_streams : 1;

	return limit != 0 && c->streams.n + c->opening >= limit;
}

// conn_wait_slot waits, cancellably, until the client may have one more
// stream, and reserves it. The reservation passes to the registry in
// conn_new_stream.
static drpc_err
conn_wait_slot(drpc__conn *c, drpc_ctx *ctx)
{
	slot_wait w  = {{conn_slot_wake, NULL, NULL, NULL}, c, DRPC_OK};
	int64_t   dl = drpc_ctx_deadline(ctx);
	drpc_err  rv;

	if (c->opts.is_server) {
		return DRPC_OK;
	}
	drpc__mutex_lock(&c->mu);
	if (!c->terminated && !conn_slot_full_locked(c)) {
		c->opening++; // the common case: no wait, no listener
		drpc__mutex_unlock(&c->mu);
		return DRPC_OK;
	}
	drpc__mutex_unlock(&c->mu);
	w.l.arg = &w;
	if ((rv = drpc__ctx_listen(ctx, &w.l)) != DRPC_OK) {
		return rv;
	}
	drpc__mutex_lock(&c->mu);
	while (rv == DRPC_OK && w.why == DRPC_OK && !c->terminated &&
	    conn_slot_full_locked(c)) {
		c->slot_waiters++;
		rv = drpc__cond_wait_until(&c->slot_cv, &c->mu, dl);
		c->slot_waiters--;
	}
	rv = w.why != DRPC_OK ? w.why
	    : c->terminated   ? DRPC_EUNAVAIL
			      : rv;
	if (rv == DRPC_OK) {
		c->opening++;
	}
	drpc__mutex_unlock(&c->mu);
	drpc__ctx_unlisten(ctx, &w.l);
	return rv;
}

drpc_err
drpc__conn_open(drpc__conn *c, drpc_ctx *ctx,
    const drpc__stream_invoke *inv, drpc__stream **sp)
{
	drpc__stream *s;
	drpc_err      rv;
	uint64_t      id;

	// A message or name over the maximum fails this call alone, before
	// anything is written: the peer would end the whole connection.
	if ((inv->msg != NULL && inv->msg_len > c->opts.max_msg_size) ||
	    inv->name_len > c->opts.max_msg_size) {
		return DRPC_ERESOURCE;
	}
	// The early check: a done context costs no stream id and no bytes.
	if ((rv = drpc_ctx_err(ctx)) != DRPC_OK ||
	    (rv = conn_wait_slot(c, ctx)) != DRPC_OK) {
		return rv;
	}
	drpc__mutex_lock(&c->open_mu);
	id = c->next_id++;
	if ((rv = conn_new_stream(c, id, ctx, &s)) != DRPC_OK) {
		drpc__mutex_unlock(&c->open_mu);
		return rv;
	}
	if ((rv = drpc__stream_watch_ctx(s)) != DRPC_OK) {
		drpc__mutex_unlock(&c->open_mu);
	} else if (!c->hello_sent && (c->opts.flow != DRPC_FLOW_OFF ||
					 c->opts.multiplex == DRPC_MULTIPLEX_AUTO)) {
		// The connection's first invoke carries the hello: it asks
		// for flow control (unless off) and whether the server
		// multiplexes.
		drpc__stream_invoke with = *inv;
		uint8_t             body[DRPC__HELLO_BODY_MAX];
		drpc__hello         h = {DRPC__HELLO_VERSION,
				    c->opts.stream_window, c->my_cost,
				    c->opts.conn_window,
				    DRPC__HELLO_MUX |
					(c->opts.flow != DRPC_FLOW_OFF
						? DRPC__HELLO_FLOW
						: 0)};

		with.hello     = body;
		with.hello_len = drpc__hello_put(body, &h);
		c->hello_sent  = true; // guarded by open_mu, released below
		rv = drpc__stream_send_invoke(s, &with, &c->open_mu);
		if (rv != DRPC_OK && !drpc__stream_invoked(s)) {
			// Nothing went out (metadata over the maximum, a
			// cancel in between, no memory): a later open
			// carries the hello.
			drpc__mutex_lock(&c->open_mu);
			c->hello_sent = false;
			drpc__mutex_unlock(&c->open_mu);
		}
	} else {
		rv = drpc__stream_send_invoke(s, inv, &c->open_mu);
	}
	if (rv != DRPC_OK) {
		drpc_err why = drpc__stream_cancel_reason(s);

		drpc__stream_destroy(s);
		return why != DRPC_OK ? why : rv;
	}
	*sp = s;
	return DRPC_OK;
}

void
drpc__conn_close_start(drpc__conn *c)
{
	// Flush what streams already wrote (a final CloseSend or Error must
	// reach the peer): the drain thread writes it, then exits. A no-op
	// on a writer already stopped.
	drpc__writer_stop(&c->w, DRPC_ECLOSED, true);
}

void
drpc__conn_close_by(drpc__conn *c, int64_t deadline_ns)
{
	bool first;

	drpc__mutex_lock(&c->mu);
	first     = !c->closed;
	c->closed = true;
	drpc__mutex_unlock(&c->mu);
	if (!first) {
		return;
	}
	drpc__conn_close_start(c);
	if (c->opts.flush_hook != NULL) {
		c->opts.flush_hook(c->opts.hook_arg, deadline_ns);
	}
	// Never wait on a peer that stopped reading past the deadline.
	if (drpc__writer_wait_exit(&c->w, deadline_ns) != DRPC_OK) {
		drpc__transport_shutdown(c->tr);
	}
	conn_end(c, &(drpc_cause){DRPC_ECLOSED, "closed locally"});
	drpc__thread_join(c->reader);
	drpc__writer_join(&c->w);
	drpc_transport_destroy(c->tr);
	c->tr = NULL;
}

void
drpc__conn_close(drpc__conn *c)
{
	drpc__conn_close_by(c, drpc__deadline_in_ms(c->opts.close_timeout_ms));
}

void
drpc__conn_destroy(drpc__conn *c)
{
	if (c == NULL) {
		return;
	}
	drpc__conn_close(c);
	conn_rele(c);
}

// The reader thread.

static void
pending_free(pending_invoke *p)
{
	if (p == NULL) {
		return;
	}
	drpc__asm_fini(&p->asm_);
	drpc__md_fini(&p->md);
	free(p);
}

// pending_charge makes cost what p holds, in the connection's total too.
static void
pending_charge(drpc__conn *c, pending_invoke *p, size_t cost)
{
	c->pending_bytes = c->pending_bytes - p->cost + cost;
	p->cost          = cost;
}

// reader_pending_drop forgets the half-received invoke of id, if any.
static void
reader_pending_drop(drpc__conn *c, uint64_t id)
{
	pending_invoke *p = drpc__idmap_del(&c->pending, id);

	if (p != NULL) {
		pending_charge(c, p, 0);
		pending_free(p);
	}
}

// reader_invoke_why words why the invoke of stream id is refused: it
// would cost more than I (per_invoke), or take the connection's pending
// invokes past P.
static void
reader_invoke_why(
    drpc__conn *c, uint64_t id, bool per_invoke, char *why, size_t n)
{
	if (per_invoke) {
		(void) snprintf(why, n,
		    "an invoke on stream %llu over the %zu-byte invoke limit",
		    (unsigned long long) id, c->invoke_max);
	} else {
		(void) snprintf(why, n,
		    "an invoke on stream %llu refused: half-received invokes "
		    "over the %zu-byte limit",
		    (unsigned long long) id, c->pending_max);
	}
}

// reader_invoke_over tells whether p (NULL: a new invoke) would break a
// limit once it costs cost bytes, and if so words why.
static bool
reader_invoke_over(drpc__conn *c, const pending_invoke *p, uint64_t id,
    size_t cost, char *why, size_t n)
{
	size_t others = c->pending_bytes - (p != NULL ? p->cost : 0);

	if (cost <= c->invoke_max && cost <= c->pending_max - others) {
		return false;
	}
	reader_invoke_why(c, id, cost > c->invoke_max, why, n);
	return true;
}

// reader_refuse answers an invoke the server will not take with an Error
// (code ResourceExhausted), without creating a stream.
static void
reader_refuse(drpc__conn *c, uint64_t id, const char *why)
{
	drpc__wstate ws = {.stream_id = id, .next_msg_id = 1, .known = true};
	drpc__buf    body = {0};
	drpc__packet pkt  = {.kind = DRPC__KIND_ERROR};

	atomic_init(&ws.abort, false);
	if (drpc__errbody_append(&body, DRPC_ERESOURCE, why, strlen(why)) ==
	    DRPC_OK) {
		pkt.data = body.data;
		pkt.len  = body.len;
		(void) drpc__writer_send(&c->w, &ws, &pkt, 1, true, 0);
	}
	drpc__buf_fini(&body);
}

// reader_flush_ready hands every new stream to on_invoke. The reader does
// it only when it is about to wait for more bytes (or its queue is long):
// by then the request that usually follows an Invoke in the same read is
// already in the stream's ring, so the handler thread it wakes finds it
// and need not be woken a second time.
static void
reader_flush_ready(void *arg)
{
	drpc__conn *c = arg;

	for (size_t i = 0; i < c->nready; i++) {
		ready_invoke     *r    = &c->ready[i];
		drpc__invoke_info info = {drpc__stream_id(r->s), r->name,
		    r->name_len, r->md};

		c->opts.on_invoke(c->opts.arg, r->s, &info);
		free(r->name);
	}
	c->nready = 0;
}

// reader_ring_waits: the reader is about to wait for room in a stream's
// full ring; the handlers it has not started yet may be what frees it.
static void
reader_ring_waits(void *arg)
{
	drpc__conn *c = arg;

	reader_flush_ready(c);
	if (c->opts.ring_wait_hook != NULL) {
		c->opts.ring_wait_hook(c->opts.hook_arg);
	}
}

#define READER_READY_MAX 64

static drpc_err
reader_queue_ready(drpc__conn *c, drpc__stream *s, drpc__invoke_info *info)
{
	ready_invoke *r;

	if (c->nready == READER_READY_MAX) {
		reader_flush_ready(c);
	}
	if (c->ready == NULL &&
	    (c->ready = calloc(READER_READY_MAX, sizeof(*c->ready))) == NULL) {
		goto now;
	}
	r = &c->ready[c->nready];
	if ((r->name = malloc(info->name_len + 1)) == NULL) {
		goto now;
	}
	memcpy(r->name, info->name, info->name_len);
	r->name[info->name_len] = '\0';
	r->name_len = info->name_len;
	r->s        = s;
	r->md       = info->md;
	c->nready++;
	return DRPC_OK;

now: // no memory to defer: hand it over at once
	c->opts.on_invoke(c->opts.arg, s, info);
	return DRPC_OK;
}

// reader_start_stream creates and registers a server stream before the
// next frame is read, so the request that follows finds it.
static drpc_err
reader_start_stream(drpc__conn *c, uint64_t id, const uint8_t *name,
    size_t name_len, drpc__md *md)
{
	drpc__invoke_info info = {id, name, name_len, {0}};
	drpc__stream     *s;
	drpc_ctx         *ctx = NULL;
	drpc_err          rv;

	if (md != NULL) {
		info.md = *md; // moved
		memset(md, 0, sizeof(*md));
	}
	if (c->opts.max_streams != 0 &&
	    drpc__conn_active(c) >= c->opts.max_streams) {
		reader_refuse(c, id, "too many concurrent streams");
		drpc__md_fini(&info.md);
		return DRPC_OK;
	}
	if (c->opts.invoke_ctx != NULL &&
	    (ctx = c->opts.invoke_ctx(c->opts.arg, &info)) == NULL) {
		// No context means no way to cancel the handler (shutdown
		// does it through the context): refuse the RPC instead.
		reader_refuse(c, id, "out of memory");
		drpc__md_fini(&info.md);
		return DRPC_OK;
	}
	if ((rv = conn_new_stream(c, id, ctx, &s)) != DRPC_OK) {
		drpc__md_fini(&info.md);
		if (rv != DRPC_ENOMEM) {
			return DRPC_OK;
		}
		return drpc__cause_set(&c->rd_why, rv,
		    "out of memory for stream %llu", (unsigned long long) id);
	}
	if ((rv = drpc__stream_watch_ctx(s)) != DRPC_OK) {
		// Born cancelled (the server is shutting down): the cancel
		// already ended it; the handler still sees it and returns.
		rv = DRPC_OK;
	}
	return reader_queue_ready(c, s, &info);
}

static drpc_err reader_refuse_invoke(
    drpc__conn *c, uint64_t id, bool last, const char *why);

// reader_pending_md decodes an invoke's metadata, refusing it, before
// anything is allocated, if its decoded cost would break a limit. A second
// InvokeMetadata replaces the first (as upstream).
static drpc_err
reader_pending_md(drpc__conn *c, pending_invoke *p, const drpc__packet *pkt)
{
	size_t   room = c->pending_max - (c->pending_bytes - p->cost);
	size_t   max  = room < c->invoke_max ? room : c->invoke_max;
	char     why[160];
	drpc_err rv;

	drpc__md_fini(&p->md);
	rv = drpc__md_decode_max(pkt->data, pkt->len, max, &p->md);
	drpc__asm_trim(&p->asm_); // its body is decoded: not kept
	pending_charge(c, p, drpc__md_cost(&p->md));
	if (rv == DRPC_ETOOBIG) {
		reader_invoke_why(
		    c, pkt->stream_id, max == c->invoke_max, why, sizeof(why));
		return reader_refuse_invoke(c, pkt->stream_id, false, why);
	}
	if (rv != DRPC_OK) {
		return drpc__cause_set(&c->rd_why, rv,
		    "%s invoke metadata on stream %llu",
		    rv == DRPC_ENOMEM ? "no memory for" : "malformed",
		    (unsigned long long) pkt->stream_id);
	}
	return DRPC_OK;
}

static drpc_err
reader_pending_packet(drpc__conn *c, pending_invoke *p, const drpc__packet *pkt)
{
	drpc_err rv;

	if (pkt->kind == DRPC__KIND_INVOKE_METADATA) {
		return reader_pending_md(c, p, pkt);
	}
	rv = reader_start_stream(c, pkt->stream_id, pkt->data, pkt->len, &p->md);
	reader_pending_drop(c, pkt->stream_id);
	return rv;
}

// reader_bad_invoke explains an invoke the connection cannot take: one
// sent to a client, or one for a stream id a server took before (or one
// too far below the highest to remember: common/idwin.h).
static drpc_err
reader_bad_invoke(drpc__conn *c, const drpc__frame *f)
{
	if (!c->opts.is_server) {
		return drpc__cause_set(&c->rd_why, DRPC_EPROTO,
		    "an %s for stream %llu sent to a client",
		    drpc__kind_name(f->kind),
		    (unsigned long long) f->stream_id);
	}
	return drpc__cause_set(&c->rd_why, DRPC_EPROTO,
	    "an %s for stream %llu, an id used before on this connection",
	    drpc__kind_name(f->kind), (unsigned long long) f->stream_id);
}

static drpc_err      reader_refuse_big(drpc__conn *c, const drpc__frame *f);
static drpc__stream *reader_lookup(drpc__conn *c, uint64_t id);

// reader_pending_new adds a pending entry for a new invoke on f's stream.
static drpc_err
reader_pending_new(drpc__conn *c, const drpc__frame *f, pending_invoke **pp)
{
	pending_invoke *p;
	drpc_err        rv;

	if (c->pending.n >= c->opts.max_pending) {
		return drpc__cause_set(&c->rd_why, DRPC_ERESOURCE,
		    "more than %zu half-received invokes", c->opts.max_pending);
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		return drpc__cause_set(&c->rd_why, DRPC_ENOMEM,
		    "out of memory for a half-received invoke");
	}
	drpc__asm_init(&p->asm_, c->opts.max_msg_size);
	p->asm_.why = &c->rd_why;
	if ((rv = drpc__idmap_put(&c->pending, f->stream_id, p)) != DRPC_OK) {
		pending_free(p);
		return drpc__cause_set(&c->rd_why, rv,
		    "out of memory for a half-received invoke");
	}
	*pp = p;
	return DRPC_OK;
}

// pending_wire is what p's assembler will hold once frame f is in: a
// newer message id replaces the packet in progress.
static size_t
pending_wire(const pending_invoke *p, const drpc__frame *f)
{
	const drpc__asm *a = &p->asm_;

	if (a->in_progress && a->message_id == f->message_id) {
		return a->body.len + f->len;
	}
	return f->len;
}

// reader_pending_frame feeds f to its pending entry p, refusing the invoke
// first if the bytes it would then hold break a limit (before they are
// copied).
static drpc_err
reader_pending_frame(drpc__conn *c, pending_invoke *p, const drpc__frame *f)
{
	size_t       cost = drpc__md_cost(&p->md) + pending_wire(p, f);
	drpc__packet pkt;
	bool         complete;
	char         why[160];
	drpc_err     rv;

	if (reader_invoke_over(c, p, f->stream_id, cost, why, sizeof(why))) {
		return reader_refuse_invoke(c, f->stream_id,
		    f->kind == DRPC__KIND_INVOKE && f->done, why);
	}
	rv = drpc__asm_add(&p->asm_, f, &pkt, &complete);
	if (rv == DRPC_ETOOBIG) {
		return reader_refuse_big(c, f);
	}
	if (rv != DRPC_OK) {
		return rv;
	}
	if (!complete) {
		pending_charge(c, p, cost);
		return DRPC_OK;
	}
	return reader_pending_packet(c, p, &pkt);
}

static drpc_err
reader_on_invoke_frame(drpc__conn *c, const drpc__frame *f)
{
	pending_invoke *p = drpc__idmap_get(&c->pending, f->stream_id);
	char            why[160];
	drpc_err        rv;

	if (!c->opts.is_server) {
		return reader_bad_invoke(c, f); // clients never get invokes
	}
	if (p != NULL && p->refused) {
		// The rest of a refused invoke: dropped, and forgotten with
		// its last Invoke frame.
		if (f->kind == DRPC__KIND_INVOKE && f->done) {
			reader_pending_drop(c, f->stream_id);
		}
		return DRPC_OK;
	}
	if (p == NULL) {
		// A new id starts a stream in any order, but only once.
		if (drpc__idwin_taken(&c->taken, f->stream_id)) {
			return reader_bad_invoke(c, f);
		}
		drpc__idwin_take(&c->taken, f->stream_id);
	}
	if (p == NULL && f->kind == DRPC__KIND_INVOKE && f->done &&
	    f->message_id != 0) {
		if (f->len > c->invoke_max) { // a method name alone
			reader_invoke_why(c, f->stream_id, true, why, sizeof(why));
			return reader_refuse_invoke(c, f->stream_id, true, why);
		}
		return reader_start_stream(c, f->stream_id, f->data, f->len, NULL);
	}
	if (p == NULL && (rv = reader_pending_new(c, f, &p)) != DRPC_OK) {
		return rv;
	}
	return reader_pending_frame(c, p, f);
}

// reader_refuse_invoke refuses the invoke of stream id (its id already
// taken) for the reason why: an Error (ResourceExhausted) goes back; unless
// the frame at hand is its last Invoke frame (last), a pending entry
// marked refused, holding nothing, drops its other frames until then
// (max_pending bounds them as any pending invoke); the connection carries
// on.
static drpc_err
reader_refuse_invoke(drpc__conn *c, uint64_t id, bool last, const char *why)
{
	pending_invoke *p = drpc__idmap_get(&c->pending, id);
	drpc_err        rv;

	reader_refuse(c, id, why);
	if (last) {
		reader_pending_drop(c, id);
		return DRPC_OK; // nothing of it is left to come
	}
	if (p == NULL) {
		if (c->pending.n >= c->opts.max_pending) {
			return drpc__cause_set(&c->rd_why, DRPC_ERESOURCE,
			    "more than %zu half-received invokes",
			    c->opts.max_pending);
		}
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    (rv = drpc__idmap_put(&c->pending, id, p)) != DRPC_OK) {
			free(p);
			return drpc__cause_set(&c->rd_why, DRPC_ENOMEM,
			    "out of memory for a half-received invoke");
		}
	}
	pending_charge(c, p, 0);
	drpc__asm_fini(&p->asm_); // nothing more is assembled
	drpc__md_fini(&p->md);
	memset(p, 0, sizeof(*p));
	p->refused = true;
	return DRPC_OK;
}

// reader_refuse_big refuses the invoke f belongs to, over the maximum
// message size (reader_refuse_invoke).
static drpc_err
reader_refuse_big(drpc__conn *c, const drpc__frame *f)
{
	char why[160];

	(void) snprintf(why, sizeof(why),
	    "an %s on stream %llu over the %zu-byte maximum",
	    drpc__kind_name(f->kind), (unsigned long long) f->stream_id,
	    c->opts.max_msg_size);
	return reader_refuse_invoke(c, f->stream_id,
	    f->kind == DRPC__KIND_INVOKE && f->done, why);
}

// reader_oversize handles a frame over the maximum message size, whose
// body the frame reader skips without buffering it: only its stream ends,
// with ResourceExhausted both ways (as cockroachdb/drpc does); a new
// stream's invoke is refused; anything else is dropped. The connection
// carries on.
static drpc_err
reader_oversize(drpc__conn *c, const drpc__frame *f)
{
	drpc__stream *s;

	if (f->kind == DRPC__KIND_MESSAGE && c->opts.flow != DRPC_FLOW_OFF) {
		// The peer paid connection credit for the frame: give it
		// back, as for any frame dropped (the count is clamped: a
		// conforming peer never sends more than its credit).
		uint64_t n = f->len > CONN_FLOW_MAX ? CONN_FLOW_MAX : f->len;

		n += f->done ? c->my_cost : 0;
		drpc__flow_conn_received(&c->fconn, n);
		drpc__writer_window_update(
		    &c->w, 0, drpc__flow_conn_consumed(&c->fconn, n));
	}
	if ((s = reader_lookup(c, f->stream_id)) != NULL) {
		char why[160];

		(void) snprintf(why, sizeof(why),
		    "a %s frame of %zu bytes on stream %llu over the %zu-byte "
		    "maximum",
		    drpc__kind_name(f->kind), f->len,
		    (unsigned long long) f->stream_id, c->opts.max_msg_size);
		drpc__stream_too_big(s, why);
		drpc__stream_rele(s);
		return DRPC_OK;
	}
	if (!c->opts.is_server || (f->kind != DRPC__KIND_INVOKE &&
				      f->kind != DRPC__KIND_INVOKE_METADATA)) {
		return DRPC_OK; // no stream of ours: dropped
	}
	pending_invoke *p = drpc__idmap_get(&c->pending, f->stream_id);

	if (p != NULL && p->refused) {
		if (f->kind == DRPC__KIND_INVOKE && f->done) {
			reader_pending_drop(c, f->stream_id);
		}
		return DRPC_OK; // refused already
	}
	if (p == NULL) {
		if (drpc__idwin_taken(&c->taken, f->stream_id)) {
			return reader_bad_invoke(c, f);
		}
		drpc__idwin_take(&c->taken, f->stream_id);
	}
	return reader_refuse_big(c, f);
}

// reader_drop handles a frame of no registered stream: dropped, except
// that a Cancel or Close also discards a half-received invoke.
static void
reader_drop(drpc__conn *c, const drpc__frame *f)
{
	if (f->kind == DRPC__KIND_CANCEL || f->kind == DRPC__KIND_CLOSE) {
		reader_pending_drop(c, f->stream_id);
	}
}

// reader_lookup returns the registered stream id with a reference held,
// or NULL.
static drpc__stream *
reader_lookup(drpc__conn *c, uint64_t id)
{
	drpc__stream *s;

	drpc__mutex_lock(&c->mu);
	s = drpc__idmap_get(&c->streams, id);
	if (s != NULL) {
		drpc__stream_hold(s);
	}
	drpc__mutex_unlock(&c->mu);
	return s;
}

// reader_on_window applies a window update; one that does not conform,
// one for no registered stream, any while flow control is not in force,
// and a stream-0 one unless the peer announced a connection window, are
// dropped (never fatal: docs/protocol.md §13).
static void
reader_on_window(drpc__conn *c, const drpc__frame *f)
{
	drpc__stream *s;
	uint64_t      delta;
	bool          conn_gated;

	if (!drpc__window_update_parse(f, &delta) ||
	    !drpc__conn_flow_active(c)) {
		return;
	}
	if (f->stream_id == 0) {
		drpc__mutex_lock(&c->w.mu);
		conn_gated = c->w.conn_gated;
		drpc__mutex_unlock(&c->w.mu);
		if (conn_gated) {
			drpc__writer_conn_credit(&c->w, delta);
		}
		return;
	}
	if ((s = reader_lookup(c, f->stream_id)) == NULL) {
		return;
	}
	drpc__stream_on_window(s, delta);
	drpc__stream_rele(s);
}

// reader_on_hello handles the flow-control negotiation. A server answers
// the first conforming hello (in its stream's sequence, before anything
// it grants, so the client is on before any window update arrives) and
// turns flow control on with the client's figures; a client that sent a
// hello turns it on with the server's. Anything else is ignored.
static void
reader_on_hello(drpc__conn *c, const drpc__frame *f)
{
	drpc__hello   h;
	drpc__stream *s;
	bool          sent;
	bool          flow;

	if (!drpc__hello_parse(f, &h)) {
		return;
	}
	flow = c->opts.flow != DRPC_FLOW_OFF && (h.features & DRPC__HELLO_FLOW);
	if (c->opts.is_server) {
		uint8_t     body[DRPC__HELLO_BODY_MAX];
		drpc__hello mine;
		size_t      len;

		if (c->hello_seen || c->opts.multiplex == DRPC_MULTIPLEX_OFF) {
			return; // answered already, or playing a plain server
		}
		c->hello_seen = true;
		// Until our answer arrives a client charges its sends at its
		// own rate: a lower one could fill our slots before it learns
		// ours, so its streams get the slots of a charge of 0
		// (protocol.md §13.3). Our charge stays: after the answer
		// the client recounts at it, and waits as usual.
		c->wide_slots = h.msg_cost < c->my_cost;
		mine = (drpc__hello) {DRPC__HELLO_VERSION, c->opts.stream_window,
		    c->my_cost, c->opts.conn_window,
		    DRPC__HELLO_MUX | (flow ? DRPC__HELLO_FLOW : 0)};
		len  = drpc__hello_put(body, &mine);
		if ((s = reader_lookup(c, f->stream_id)) != NULL) {
			(void) drpc__stream_send_control(
			    s, DRPC__KIND_HELLO, body, len);
			drpc__stream_rele(s);
		} else {
			(void) drpc__writer_control(&c->w, NULL, f->stream_id,
			    DRPC__KIND_HELLO, body, len);
		}
		if (flow) {
			conn_flow_on(c, &h);
		}
		return;
	}
	drpc__mutex_lock(&c->open_mu);
	sent = c->hello_sent;
	drpc__mutex_unlock(&c->open_mu);
	if (!sent || c->hello_seen) {
		return;
	}
	c->hello_seen = true; // the first answer only
	if (c->opts.hello_hook != NULL) {
		c->opts.hello_hook(c->opts.hook_arg);
	}
	if (flow) {
		conn_flow_on(c, &h);
	}
	if (c->opts.multiplex == DRPC_MULTIPLEX_AUTO) {
		// Any answer comes from a libdrpc server, which multiplexes:
		// the calls waiting their turn may all go now.
		drpc__mutex_lock(&c->mu);
		c->mux_on = true;
		drpc__cond_broadcast(&c->slot_cv);
		drpc__mutex_unlock(&c->mu);
	}
}

static drpc_err
reader_dispatch(drpc__conn *c, const drpc__frame *f)
{
	drpc__stream *s;
	drpc_err      rv;

	// Flow-control frames are taken out before any stream sees them:
	// their ids are not part of the streams' message sequences.
	if (f->kind == DRPC__KIND_WINDOW_UPDATE) {
		reader_on_window(c, f);
		return DRPC_OK;
	}
	if (f->kind == DRPC__KIND_HELLO && f->control) {
		reader_on_hello(c, f);
		return DRPC_OK;
	}
	drpc__mutex_lock(&c->mu);
	s = drpc__idmap_get(&c->streams, f->stream_id);
	if (s != NULL) {
		drpc__stream_hold(s);
	}
	drpc__mutex_unlock(&c->mu);
	if (s != NULL) {
		rv = drpc__stream_on_frame(s, f);
		drpc__stream_rele(s);
		return rv;
	}
	if (f->kind == DRPC__KIND_INVOKE ||
	    f->kind == DRPC__KIND_INVOKE_METADATA) {
		return reader_on_invoke_frame(c, f);
	}
	reader_drop(c, f);
	if (f->kind == DRPC__KIND_MESSAGE && c->opts.flow != DRPC_FLOW_OFF) {
		// The peer paid connection credit for it: give it back.
		uint64_t n = f->len + (f->done ? c->my_cost : 0);

		drpc__flow_conn_received(&c->fconn, n);
		drpc__writer_window_update(
		    &c->w, 0, drpc__flow_conn_consumed(&c->fconn, n));
	}
	return DRPC_OK;
}

// reader_end ends the connection with the error rv the reader stopped
// on, in the words of the layer that found it: the frame reader (a
// malformed header, the end of input), the transport (its errno), or the
// dispatch (a protocol rule, in rd_why).
static void
reader_end(drpc__conn *c, drpc_err rv)
{
	drpc_cause why = {rv, ""};
	bool       io  = false;

	if (c->fr.sticky == rv && c->fr.why.code == rv) {
		why = c->fr.why;
		io = rv == DRPC_EOF || rv == DRPC_ETRUNC || why.text[0] == '\0';
		if (why.text[0] == '\0') {
			conn_io_cause(&why, rv,
			    drpc__transport_read_errno(c->tr), "read");
		}
	} else if (c->rd_why.code == rv) {
		why = c->rd_why;
	}
	if (rv == DRPC_EOF) {
		why.code = DRPC_ECLOSED; // the peer closing is a clean close
	}
	if (io) {
		conn_io_end(c, &why);
	} else {
		conn_end(c, &why);
	}
}

// reader_backlog stops reading while the writer has a backlog
// (writer_limit bytes of terminal and control packets unwritten: errors
// for refused invokes, window updates, replies to what the reader reads,
// none of which wait for room): a peer that sends and never reads is
// stopped here, and one that stays stopped past the write timeout is cut
// off. Messages wait for room instead, and never make a backlog.
static drpc_err
reader_backlog(drpc__conn *c)
{
	int64_t  ms = c->opts.write_timeout_ms;
	size_t   unwritten = 0;
	drpc_err rv;

	reader_flush_ready(c); // the handlers need not wait meanwhile
	if (c->opts.backlog_hook != NULL) {
		c->opts.backlog_hook(
		    c->opts.hook_arg, drpc__writer_unwritten(&c->w));
	}
	rv = drpc__writer_wait_backlog(&c->w,
	    ms > 0 ? (ms > INT64_MAX / 1000000 ? INT64_MAX : ms * 1000000) : 0,
	    &unwritten);
	if (rv != DRPC_ETIMEDOUT) {
		return DRPC_OK;
	}
	return drpc__cause_set(&c->rd_why, DRPC_ETIMEDOUT,
	    "the peer stopped reading: %zu bytes unwritten and no write "
	    "completed in %lld ms",
	    unwritten, (long long) ms);
}

static void *
reader_main(void *arg)
{
	drpc__conn *c = arg;
	drpc__frame f;
	drpc_err    rv;

	for (;;) {
		if (drpc__writer_backlog(&c->w) &&
		    (rv = reader_backlog(c)) != DRPC_OK) {
			break;
		}
		rv = drpc__frame_reader_next(&c->fr, &f);
		c->rd_why.code = DRPC_OK; // words only for this frame's error
		if ((rv == DRPC_OK || rv == DRPC_ETOOBIG) &&
		    !atomic_load_explicit(&c->framed, memory_order_relaxed)) {
			atomic_store(&c->framed, true);
		}
		if (rv == DRPC_ETOOBIG) {
			rv = reader_oversize(c, &f); // its body is skipped
		} else if (rv == DRPC_OK) {
			rv = reader_dispatch(c, &f);
		}
		if (rv == DRPC_OK && c->rxmem.strikes >= DRPC__RXMEM_STRIKES) {
			rv = drpc__cause_set(&c->rd_why, DRPC_ERESOURCE,
			    "the peer sent beyond its limits again and again: "
			    "%u streams ended for it", c->rxmem.strikes);
		}
		if (rv != DRPC_OK) {
			break;
		}
	}
	reader_end(c, rv);
	reader_flush_ready(c); // their handlers see the end and return
	free(c->ready);
	c->ready = NULL;
	return NULL;
}
