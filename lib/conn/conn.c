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
#include "conn/conn_impl.h"
#include "ctx/ctx.h"
#include "mux/writer.h"
#include "platform/thread.h"
#include "transport/transport.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"
#include "wire/reader.h"

static void
conn_hold(drpc__conn *c)
{
	atomic_fetch_add(&c->refs, 1);
}

static void
conn_free(drpc__conn *c)
{
	pending_invoke *p;

	drpc__conn_hooks_close(c, true); // the last hold on c is gone
	while ((p = drpc__idmap_take_any(&c->pending)) != NULL) {
		drpc__asm_fini(&p->asm_);
		drpc__md_fini(&p->md);
		free(p);
	}
	drpc__idmap_fini(&c->pending);
	drpc__idmap_fini(&c->streams);
	drpc_peer_reset(&c->peer);
	drpc__frame_reader_fini(&c->fr);
	drpc__writer_fini(&c->w);
	drpc__flow_conn_fini(&c->fconn);
	drpc__rxmem_fini(&c->rxmem);
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

// conn_open_streams is the streams registered (a hint, without mu).
static size_t
conn_open_streams(void *arg)
{
	drpc__conn *c = arg;

	return atomic_load_explicit(&c->nstreams, memory_order_relaxed);
}

// conn_stream_cause is drpc__conn_cause for a stream's status.
static drpc_err
conn_stream_cause(void *arg, drpc_cause *out)
{
	return drpc__conn_cause(arg, out);
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
		atomic_store_explicit(
		    &c->nstreams, c->streams.n, memory_order_relaxed);
		found = true;
		if (!c->opts.is_server && drpc__stream_failed_locked(s)) {
			c->st_failed++; // (a server counts its handlers')
		}
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

// drpc__conn_end ends the connection (once: later calls do nothing) for the
// cause why, which it records in words.
void
drpc__conn_end(drpc__conn *c, const drpc_cause *why)
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
	c->closed_ns  = drpc__now_ns();
	c->cause      = cause.code;
	memcpy(c->cause_text, cause.text, sizeof(c->cause_text));
	drpc__cond_broadcast(&c->slot_cv);
	drpc__mutex_unlock(&c->mu);

	drpc__writer_stop(&c->w, DRPC_ECLOSED, false);
	drpc__transport_shutdown(c->tr);
	drpc__rxmem_stop(&c->rxmem); // a reader waiting for room wakes
	for (;;) {
		drpc__mutex_lock(&c->mu);
		s = drpc__idmap_take_any(&c->streams);
		atomic_store_explicit(
		    &c->nstreams, c->streams.n, memory_order_relaxed);
		drpc__mutex_unlock(&c->mu);
		if (s == NULL) {
			break;
		}
		drpc__stream_conn_lost(s);
		// Out of the registry already, so conn_forget does not count
		// it: a client call lost with the connection failed (unless it
		// ended well meanwhile).
		if (!c->opts.is_server && drpc__stream_failed(s)) {
			drpc__mutex_lock(&c->mu);
			c->st_failed++;
			drpc__mutex_unlock(&c->mu);
		}
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

// drpc__conn_io_cause words a transport's failure: code is what the transport
// returned, err its errno (0: unknown, a user transport), dir "read" or
// "write".
void
drpc__conn_io_cause(drpc_cause *why, drpc_err code, int err, const char *dir)
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

// drpc__conn_io_end ends the connection for a transport failure or end of
// input. Once a local close has begun, that is the cause: its own
// shutdown of the transport is what the reader or the writer just met.
void
drpc__conn_io_end(drpc__conn *c, drpc_cause *why)
{
	bool closing;

	drpc__mutex_lock(&c->mu);
	closing = c->closed;
	drpc__mutex_unlock(&c->mu);
	if (closing) {
		(void) drpc__cause_set(why, DRPC_ECLOSED, "closed locally");
	}
	drpc__conn_end(c, why);
}

// conn_on_write_error runs on the drain thread, whose write just failed.
static void
conn_on_write_error(void *arg, drpc_err err)
{
	drpc__conn *c = arg;
	drpc_cause  why;

	if (!drpc__transport_why(c->tr, false, &why)) {
		drpc__conn_io_cause(
		    &why, err, drpc__transport_write_errno(c->tr), "write");
	}
	drpc__conn_io_end(c, &why);
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
	c->opened_ns  = c->idle_since;
	c->tag.id = c->opts.id != 0 ? c->opts.id : drpc__conn_new_id();
	atomic_init(&c->tag.refused, 0);
	atomic_init(&c->tag.failed, 0);
	if (c->opts.conn_hooks != NULL) {
		c->hooks   = *c->opts.conn_hooks;
		c->w.timed = true; // senders measure their sleeps
	}
	atomic_init(&c->refs, 1);
	atomic_init(&c->nstreams, 0);
	atomic_init(&c->framed, false);
	drpc__mutex_init(&c->mu);
	drpc__mutex_init(&c->open_mu);
	drpc__cond_init(&c->term_cv);
	drpc__cond_init(&c->slot_cv);
	drpc__flow_conn_init(&c->fconn);
	c->stall_ns = c->opts.write_timeout_ms > 0
	    ? (c->opts.write_timeout_ms > INT64_MAX / 1000000
		      ? INT64_MAX
		      : c->opts.write_timeout_ms * 1000000)
	    : 0;
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
	drpc__conn_ctrl_init(c);
	// Before the threads start: the hook may assume no read is running.
	// A hook that fails leaves the peer unknown, not the connection.
	(void) drpc__transport_peer(tr, &c->peer);
	c->peer_again = tr->peer != NULL;
	// Only a connection that pings notes when its reader waits (ctrl.c).
	if (c->opts.ping_interval_ns > 0) {
		drpc__frame_reader_init(
		    &c->fr, drpc__conn_read_timed, c, c->opts.max_msg_size);
	} else {
		drpc__frame_reader_init(
		    &c->fr, drpc__transport_read, tr, c->opts.max_msg_size);
	}
	c->fr.skip_oversize   = true; // one stream ends, not the connection
	c->fr.before_read     = drpc__conn_flush_ready;
	c->fr.before_read_arg = c;
	c->w.wait_hook     = c->opts.send_wait_hook;
	c->w.wait_hook_arg = c->opts.send_wait_hook_arg;
	// Before the threads: no stream exists yet. A server whose transport
	// learns its peer in a handshake opens once its reader has read the
	// first frame (drpc__conn_peer_again).
	if (!(c->opts.is_server && c->peer_again)) {
		drpc__conn_hooks_open(c);
	}
	rv = drpc__writer_start(&c->w, tr, c->opts.writer_limit,
	    c->opts.split_size, c->opts.stack_size,
	    drpc__conn_thread_id(c->tag.id), conn_on_write_error, c);
	if (rv != DRPC_OK) {
		goto fail_mu;
	}
	rv = drpc__thread_start(&c->reader, "drpc-rd",
	    drpc__conn_thread_id(c->tag.id),
	    c->opts.stack_size, drpc__conn_reader_main, c);
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
	c->cause = rv;
	(void) snprintf(c->cause_text, sizeof(c->cause_text),
	    "could not start the connection's threads: %s", drpc_strerror(rv));
	c->closed_ns = drpc__now_ns();
	drpc__conn_hooks_close(c, false);
	drpc__frame_reader_fini(&c->fr);
	drpc__flow_conn_fini(&c->fconn);
	drpc__rxmem_fini(&c->rxmem);
	drpc_peer_reset(&c->peer);
	drpc__mutex_fini(&c->open_mu);
	drpc__cond_fini(&c->term_cv);
	drpc__cond_fini(&c->slot_cv);
	drpc__mutex_fini(&c->mu);
	free(c);
	return rv;
}

drpc_err
drpc__conn_peer(drpc__conn *c, drpc_peer *out)
{
	drpc_err rv;

	drpc__mutex_lock(&c->mu);
	rv = drpc__peer_copy(out, &c->peer);
	drpc__mutex_unlock(&c->mu);
	return rv;
}

// drpc__conn_peer_again asks a transport with a peer hook again, once,
// when the reader has read its first frame: a server's TLS handshake is
// done by then, and no server stream exists yet. Reader thread.
void
drpc__conn_peer_again(drpc__conn *c)
{
	drpc_peer p;

	c->peer_again = false;
	// On failure it keeps what the creation found, and opens all the same.
	if (drpc__transport_peer(c->tr, &p) == DRPC_OK) {
		drpc__mutex_lock(&c->mu);
		drpc_peer old = c->peer;
		c->peer       = p;
		drpc__mutex_unlock(&c->mu);
		drpc_peer_reset(&old);
	}
	if (c->opts.is_server) {
		drpc__conn_hooks_open(c); // before its first stream
	}
}

// conn_stream_peer is the streams' way to their connection's peer.
static drpc_err
conn_stream_peer(void *arg, drpc_peer *out)
{
	return drpc__conn_peer(arg, out);
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
	drpc__conn_end(c, &why);
}

void
drpc__conn_cancel_streams(drpc__conn *c, drpc_err why)
{
	drpc__stream **all = NULL;
	size_t         n   = 0;

	drpc__mutex_lock(&c->mu);
	if (c->streams.n > 0 &&
	    (all = calloc(c->streams.n, sizeof(*all))) != NULL) {
		for (size_t i = 0; i < c->streams.cap; i++) {
			drpc__stream *s = c->streams.slots[i].val;

			if (c->streams.slots[i].id != 0 && s != NULL) {
				drpc__stream_hold(s);
				all[n++] = s;
			}
		}
	}
	drpc__mutex_unlock(&c->mu);
	if (all == NULL) {
		// Nothing registered, or no memory for the list: then the
		// streams end as the connection closes (DRPC_EUNAVAIL).
		return;
	}
	for (size_t i = 0; i < n; i++) {
		drpc__stream_cancel(all[i], why);
		drpc__stream_rele(all[i]);
	}
	free(all);
}

// drpc__conn_new_stream creates a stream and registers it (the registry's
// reference plus the caller's handle).
// conn_peer_bound tells a stream (on the reader thread) whether the peer
// honours our connection window: then going past the memory account is a
// violation that ends the stream, else the reader waits for room.
static bool
conn_peer_bound(void *arg)
{
	return ((drpc__conn *) arg)->peer_bound;
}

drpc_err
drpc__conn_new_stream(drpc__conn *c, uint64_t id, drpc_ctx *ctx, drpc__stream **sp)
{
	drpc__stream_opts so = {
	    .id           = id,
	    .is_client    = !c->opts.is_server,
	    .ring_slots   = c->opts.ring_slots,
	    .max_msg_size = c->opts.max_msg_size,
	    .ctx          = ctx,
	    .owns_ctx     = c->opts.is_server,
	    .w            = &c->w,
	    .owner        = {conn_forget, conn_rele, drpc__conn_ring_waits,
		       conn_peer_bound, conn_open_streams, conn_stream_peer,
		       conn_stream_cause, c, &c->tag},
	    .fconn   = c->opts.flow == DRPC_FLOW_OFF ? NULL : &c->fconn,
	    .rxmem   = &c->rxmem,
	    .stall_ns = c->stall_ns,
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
		atomic_store_explicit(
		    &c->nstreams, c->streams.n, memory_order_relaxed);
		drpc__stream_hold(s);
		c->idle_since = 0;
		c->st_opened++;
		// Registered before flow control came on: drpc__conn_flow_on's
		// snapshot has it. After: it is this call's to turn on, with
		// these figures, unless drpc__conn_flow_on's snapshot (which has it
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

// drpc__conn_flow_on puts flow control in force (or updates the peer's
// figures): every registered stream is turned on, and every later one
// at its creation (drpc__conn_new_stream). peer is the peer's hello, NULL in
// the "on" mode before any: then the peer is taken to be configured like
// us, without a connection window (cockroachdb/drpc).
void
drpc__conn_flow_on(drpc__conn *c, const drpc__hello *peer)
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

void
drpc__conn_write_stats(drpc__conn *c, drpc__writer_stats *st)
{
	drpc__writer_get_stats(&c->w, st);
}

size_t
drpc__conn_out_retained(drpc__conn *c)
{
	return drpc__writer_retained(&c->w);
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
// drpc__conn_new_stream.
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
	    !drpc__conn_draining(c) && conn_slot_full_locked(c)) {
		c->slot_waiters++;
		rv = drpc__cond_wait_until(&c->slot_cv, &c->mu, dl);
		c->slot_waiters--;
	}
	rv = w.why != DRPC_OK                                ? w.why
	    : c->terminated || drpc__conn_draining(c) ? DRPC_EUNAVAIL
							  : rv;
	if (rv == DRPC_OK) {
		c->opening++;
	}
	drpc__mutex_unlock(&c->mu);
	drpc__ctx_unlisten(ctx, &w.l);
	return rv;
}

// conn_slot_release gives back a slot conn_wait_slot reserved, for an
// open that fails before drpc__conn_new_stream takes it over.
static void
conn_slot_release(drpc__conn *c)
{
	if (c->opts.is_server) {
		return;
	}
	drpc__mutex_lock(&c->mu);
	c->opening--;
	if (c->slot_waiters > 0) {
		drpc__cond_broadcast(&c->slot_cv);
	}
	drpc__mutex_unlock(&c->mu);
}

// conn_refused counts a client open that failed before its stream was
// registered (drpc_conn_stats.streams_refused) and returns rv.
static drpc_err
conn_refused(drpc__conn *c, drpc_err rv)
{
	atomic_fetch_add_explicit(&c->tag.refused, 1, memory_order_relaxed);
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
	if ((rv = drpc_ctx_err(ctx)) != DRPC_OK) {
		return conn_refused(c, rv);
	}
	if (drpc__conn_draining(c)) {
		// the server said GOAWAY (ctrl.c)
		return conn_refused(c, DRPC_EUNAVAIL);
	}
	if ((rv = conn_wait_slot(c, ctx)) != DRPC_OK) {
		return conn_refused(c, rv);
	}
	drpc__mutex_lock(&c->open_mu);
	if (drpc__conn_draining(c)) {
		// Checked under open_mu: a GOAWAY ACK taken after this would
		// follow our Invoke; one taken before, we must not precede.
		drpc__mutex_unlock(&c->open_mu);
		conn_slot_release(c);
		return conn_refused(c, DRPC_EUNAVAIL);
	}
	id = c->next_id++;
	if ((rv = drpc__conn_new_stream(c, id, ctx, &s)) != DRPC_OK) {
		drpc__mutex_unlock(&c->open_mu);
		return conn_refused(c, rv);
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
				    DRPC__HELLO_MUX | DRPC__HELLO_CTRL |
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
	drpc__conn_end(c, &(drpc_cause){DRPC_ECLOSED, "closed locally"});
	drpc__thread_join(c->reader);
	drpc__writer_join(&c->w);
	drpc__mutex_lock(&c->mu);
	c->bytes_in  = c->tr->bytes_in; // the threads are joined
	c->bytes_out = c->tr->bytes_out;
	drpc__mutex_unlock(&c->mu);
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

// drpc__conn_lookup returns the registered stream id with a reference held,
// or NULL.
drpc__stream *
drpc__conn_lookup(drpc__conn *c, uint64_t id)
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
