// Design notes. The state lives under one mutex per stream and is woken
// through two condition variables: cv for the receiving (and sending)
// user thread, space_cv for the reader thread when the receive ring is
// full. Nothing watches a stream's context: the context calls
// stream_on_ctx (a listener) when cancelled, and blocked operations wait
// with the context's deadline as their timeout, cancelling the stream
// themselves when it passes.
//
// Termination records two errors: recv_err, what recv reports once the
// queue is drained, and send_err, what send reports. Outgoing terminal
// packets (Close, Error, Cancel) close the writer state of the stream, so
// nothing of it is written after them.
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cause.h"
#include "ctx/ctx.h"
#include "platform/thread.h"
#include "stream/observe.h"
#include "stream/ring.h"
#include "stream/stream_impl.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"

static void stream_on_ctx(void *arg, drpc_err why);

// drpc__stream_mem_gone gives back to the connection's memory account the
// bytes of msgs queued messages that left memory.
void
drpc__stream_mem_gone(drpc__stream *s, size_t bytes, size_t msgs)
{
	if (s->rxmem != NULL && (bytes > 0 || msgs > 0)) {
		drpc__rxmem_give(s->rxmem,
		    (int64_t) (bytes + msgs * (size_t) DRPC__RXMEM_MSG));
	}
}

drpc_err
drpc__stream_create(drpc__stream **sp, const drpc__stream_opts *o)
{
	drpc__stream *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		return DRPC_ENOMEM;
	}
	s->id           = o->id;
	s->is_client    = o->is_client;
	s->max_msg_size = o->max_msg_size == 0 ? DRPC__DEFAULT_MAX_SIZE
						: o->max_msg_size;
	s->ctx          = o->ctx;
	s->owns_ctx     = o->owns_ctx;
	s->deadline_ns  = drpc_ctx_deadline(o->ctx);
	s->w            = o->w;
	s->owner        = o->owner;
	s->ctx_l.fn     = stream_on_ctx;
	s->ctx_l.arg    = s;
	atomic_init(&s->refs, 1);
	atomic_init(&s->ended, false);
	atomic_init(&s->sends_run, 0);
	atomic_init(&s->on_last_due, false);
	s->fconn        = o->fconn;
	s->rxmem        = o->rxmem;
	s->stall_ns     = o->stall_ns;
	s->ring_slots   = o->ring_slots == 0 ? 256 : o->ring_slots;
	// A server stream's peer knows it: the client told us of it.
	drpc__wstate_init(&s->ws, o->id, !o->is_client, o->tx_cost);
	drpc__flow_rx_init(&s->rx,
	    o->window == 0 ? DRPC__FLOW_WINDOW : o->window, o->rx_cost);
	drpc__asm_init(&s->in, s->max_msg_size);
	s->in.why = o->why;
	drpc__mutex_init(&s->mu);
	drpc__cond_init(&s->cv);
	drpc__cond_init(&s->space_cv);
	drpc__ring_init(&s->ring, s->ring_slots);
	*sp = s;
	return DRPC_OK;
}

uint64_t
drpc__stream_id(const drpc__stream *s)
{
	return s->id;
}

drpc_ctx *
drpc__stream_ctx(const drpc__stream *s)
{
	return s->ctx;
}

void
drpc__stream_hold(drpc__stream *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void
drpc__stream_rele(drpc__stream *s)
{
	if (atomic_fetch_sub(&s->refs, 1) != 1) {
		return;
	}
	// Whatever the application never consumed leaves memory now.
	drpc__stream_conn_consumed(s, s->rx.received - s->rx.consumed + s->in_held);
	drpc__stream_mem_gone(s, s->ring.bytes, s->ring.count);
	if (s->rxmem != NULL) {
		drpc__rxmem_give(s->rxmem, (int64_t) s->in_mem);
	}
	drpc__ring_fini(&s->ring);
	drpc__asm_fini(&s->in);
	drpc__wstate_fini(&s->ws);
	drpc__cond_fini(&s->space_cv);
	drpc__cond_fini(&s->cv);
	drpc__mutex_fini(&s->mu);
	free(s->remote_msg);
	free(s->method);
	free(s->err_msg);
	drpc__obs_free(s->obs);
	drpc__md_fini(&s->md);
	if (s->owns_ctx) {
		drpc_ctx_destroy(s->ctx);
	}
	if (s->owner.rele != NULL) {
		s->owner.rele(s->owner.owner);
	}
	free(s);
}

// drpc__stream_cancel_owned_ctx tells a handler, through its context, that its
// stream was cancelled or lost. No stream lock may be held (ctx first).
void
drpc__stream_cancel_owned_ctx(drpc__stream *s)
{
	if (s->owns_ctx) {
		drpc_ctx_cancel(s->ctx);
	}
}

// drpc__stream_conn_err is what a stream reports when its connection is gone:
// clients see Unavailable, server handlers see Canceled (as Go DRPC does).
drpc_err
drpc__stream_conn_err(const drpc__stream *s)
{
	return s->is_client ? DRPC_EUNAVAIL : DRPC_ECANCELED;
}

// drpc__stream_terminate_locked ends the stream and removes it from the owner's
// registry in the same critical section, so whoever wakes up on the end
// finds the registry already updated. The owner's lock is a leaf, taken
// here under the stream's; the registry's reference it drops is never the
// last (the caller acts through a reference of its own).
void
drpc__stream_terminate_locked(drpc__stream *s, drpc_err recv_err, drpc_err send_err)
{
	if (s->terminated) {
		return;
	}
	drpc__stream_end_quiet_locked(s, recv_err, send_err);
	drpc__cond_broadcast(&s->cv);
}

void
drpc__stream_end_quiet_locked(
    drpc__stream *s, drpc_err recv_err, drpc_err send_err)
{
	if (s->terminated) {
		return;
	}
	s->terminated = true;
	atomic_store(&s->ended, true);
	s->recv_err = recv_err;
	s->send_err = send_err;
	drpc__ring_close(&s->ring, recv_err);
	drpc__cond_broadcast(&s->space_cv);
	drpc__writer_wake(s->w, &s->ws); // a sender waiting for room
	if (s->owner.forget != NULL) {
		s->owner.forget(s->owner.owner, s);
	}
}

// drpc__stream_conn_consumed counts n bytes gone from memory at the connection
// level and sends the connection's grant if one is due. Any lock may be
// held but the connection flow lock.
void
drpc__stream_conn_consumed(drpc__stream *s, uint64_t n)
{
	if (s->fconn != NULL && n > 0) {
		drpc__writer_window_update(
		    s->w, 0, drpc__flow_conn_consumed(s->fconn, n));
	}
}

// drpc__stream_grant_locked sends the window update s is due, if any: none
// once the peer can send no more Messages on it.
void
drpc__stream_grant_locked(drpc__stream *s)
{
	if (!s->terminated && !s->recv_closed) {
		drpc__writer_window_update(
		    s->w, s->id, drpc__flow_rx_grant(&s->rx));
	}
}

// drpc__stream_clear_locked drops the queued messages (but a borrowed one):
// they count as consumed.
void
drpc__stream_clear_locked(drpc__stream *s)
{
	size_t   msgs;
	size_t   bytes;
	uint64_t n;

	drpc__ring_clear(&s->ring, &msgs, &bytes);
	drpc__stream_mem_gone(s, bytes, msgs);
	n = (uint64_t) bytes + (uint64_t) msgs * s->rx.msg_cost;
	s->rx.consumed += n;
	drpc__stream_conn_consumed(s, n);
}

// drpc__stream_error_locked sends the stream's final Error (code, text) at
// once, cutting off a message in progress.
void
drpc__stream_error_locked(
    drpc__stream *s, uint64_t code, const char *text, size_t len)
{
	drpc__buf    body = {0};
	drpc__packet pkt  = {.kind = DRPC__KIND_ERROR};

	drpc__writer_wake(s->w, &s->ws); // stop a message in progress
	if (drpc__errbody_append(&body, code, text, len) == DRPC_OK) {
		pkt.data = body.data;
		pkt.len  = body.len;
		(void) drpc__writer_send(
		    s->w, &s->ws, &pkt, 1, DRPC__WS_TERMINAL, 0);
	}
	drpc__buf_fini(&body);
}

// stream_deadline_error_locked ends a server stream whose deadline (the
// client's, propagated) passed with an Error carrying DeadlineExceeded (4)
// rather than a bare Cancel: the server's copy of the deadline fires a
// transit time before the client's, and a Cancel would make the client
// report Canceled for what is a deadline.
static void
stream_deadline_error_locked(drpc__stream *s)
{
	static const char text[] = "deadline exceeded";

	drpc__stream_error_locked(s, DRPC_ETIMEDOUT, text, sizeof(text) - 1);
}

void
drpc__stream_cancel(drpc__stream *s, drpc_err why)
{
	drpc__mutex_lock(&s->mu);
	if (s->terminated) {
		drpc__mutex_unlock(&s->mu);
		return;
	}
	// First tell the peer: it cuts off a large message in progress (abort)
	// instead of waiting for it; the peer drops the partial packet.
	if (!s->is_client && why == DRPC_ETIMEDOUT) {
		stream_deadline_error_locked(s);
	} else {
		drpc__writer_cancel(s->w, &s->ws);
	}
	// Then locally: queued messages are dropped, everyone wakes.
	s->cancel_err = why;
	drpc__stream_clear_locked(s);
	drpc__stream_terminate_locked(s, why, why);
	drpc__mutex_unlock(&s->mu);
}

static void
stream_on_ctx(void *arg, drpc_err why)
{
	drpc__stream_cancel(arg, why);
}

drpc_err
drpc__stream_watch_ctx(drpc__stream *s)
{
	drpc_err why = drpc__ctx_listen(s->ctx, &s->ctx_l);

	if (why != DRPC_OK) {
		drpc__stream_cancel(s, why);
		return why;
	}
	s->watching = true;
	return DRPC_OK;
}

void
drpc__stream_destroy(drpc__stream *s)
{
	if (s == NULL) {
		return;
	}
	(void) drpc__stream_close(s);
	if (s->watching) {
		drpc__ctx_unlisten(s->ctx, &s->ctx_l);
		s->watching = false;
	}
	if (s->adopted) {
		// Nothing reads a client stream's ctx once its creator has
		// let go (as with a caller's ctx destroyed after the stream).
		drpc_ctx_destroy(s->ctx);
		s->adopted = false;
	}
	drpc__stream_rele(s);
}

void
drpc__stream_adopt_ctx(drpc__stream *s)
{
	s->adopted = true;
}

drpc_err
drpc__stream_cancel_reason(drpc__stream *s)
{
	drpc_err why;

	drpc__mutex_lock(&s->mu);
	why = s->cancel_err;
	drpc__mutex_unlock(&s->mu);
	return why;
}

bool
drpc__stream_is_terminated(drpc__stream *s)
{
	return atomic_load(&s->ended);
}

// stream_deadline_passed cancels the stream if its deadline has passed.
static bool
stream_deadline_passed(drpc__stream *s)
{
	if (s->deadline_ns == 0 || drpc__now_ns() < s->deadline_ns) {
		return false;
	}
	drpc__stream_cancel(s, DRPC_ETIMEDOUT);
	return true;
}

// stream_send_check says whether a send may start, or why not.
static drpc_err
stream_send_check(drpc__stream *s)
{
	drpc_err rv = DRPC_OK;

	if (stream_deadline_passed(s)) {
		return DRPC_ETIMEDOUT;
	}
	drpc__mutex_lock(&s->mu);
	if (s->terminated) {
		rv = s->send_err;
	} else if (s->send_closed) {
		rv = DRPC_ESTATE;
	}
	drpc__mutex_unlock(&s->mu);
	return rv;
}

// stream_send_failed turns a writer error into what send reports.
static drpc_err
stream_send_failed(drpc__stream *s, drpc_err rv)
{
	drpc_err out;

	if (rv == DRPC_ETIMEDOUT) {
		drpc__stream_cancel(s, DRPC_ETIMEDOUT);
	}
	drpc__mutex_lock(&s->mu);
	if (s->terminated) {
		out = s->send_err;
	} else if (rv == DRPC_ENOMEM || rv == DRPC_ESTATE) {
		out = rv;
	} else {
		out = drpc__stream_conn_err(s); // the writer stopped: conn is gone
	}
	drpc__mutex_unlock(&s->mu);
	return out;
}

// STREAM_FLUSH_MAX_OPEN: a sender writes its own latency-path packets
// while its connection has at most this many streams open; with more, the
// drain thread batches them with the others' (it is then busy anyway, and
// on one CPU 32 callers each writing their own call lost 23% of their
// calls per second).
#define STREAM_FLUSH_MAX_OPEN 2

// stream_flush is DRPC__WS_FLUSH if s's sender should write itself.
static unsigned
stream_flush(const drpc__stream *s)
{
	if (s->owner.open_streams != NULL &&
	    s->owner.open_streams(s->owner.owner) > STREAM_FLUSH_MAX_OPEN) {
		return 0;
	}
	return DRPC__WS_FLUSH;
}

// stream_write appends pkts and, with DRPC__WS_FLUSH in flags, writes
// them itself if nobody else is writing.
static drpc_err
stream_write(drpc__stream *s, drpc__packet *pkts, size_t n, unsigned flags)
{
	drpc_err rv = drpc__writer_send(
	    s->w, &s->ws, pkts, n, flags, s->deadline_ns);

	if (rv != DRPC_OK) {
		return stream_send_failed(s, rv);
	}
	if ((flags & DRPC__WS_FLUSH) != 0) {
		drpc__writer_flush(s->w);
	}
	return DRPC_OK;
}

drpc_err
drpc__stream_send_invoke(drpc__stream *s, const drpc__stream_invoke *inv,
    pthread_mutex_t *order_mu)
{
	drpc__packet pkts[5];
	unsigned     flush;
	size_t       n    = 0;
	size_t       must = 1;
	size_t       sent = 0;
	drpc__buf    md   = {0};
	drpc_err     rv;

	if (inv->nmd > 0) {
		rv = drpc__md_append(&md, inv->md, inv->nmd);
		if (rv == DRPC_OK && md.len > s->max_msg_size) {
			rv = DRPC_ERESOURCE; // nothing written: this call fails
		}
		if (rv != DRPC_OK) {
			drpc__mutex_unlock(order_mu);
			drpc__buf_fini(&md);
			return rv;
		}
		pkts[n++] = (drpc__packet) {.kind = DRPC__KIND_INVOKE_METADATA,
		    .data = md.data, .len = md.len};
		must = 2;
	}
	pkts[n++] = (drpc__packet) {.kind = DRPC__KIND_INVOKE,
	    .data = inv->name, .len = inv->name_len};
	if (inv->hello != NULL) {
		pkts[n++] = (drpc__packet) {.kind = DRPC__KIND_HELLO,
		    .control = true, .data = inv->hello, .len = inv->hello_len};
		must++;
	}
	if (inv->msg != NULL) {
		pkts[n++] = (drpc__packet) {.kind = DRPC__KIND_MESSAGE,
		    .data = inv->msg, .len = inv->msg_len};
	}
	if (inv->close_send) {
		pkts[n++] = (drpc__packet) {.kind = DRPC__KIND_CLOSE_SEND};
		drpc__mutex_lock(&s->mu);
		s->send_closed = true;
		drpc__mutex_unlock(&s->mu);
	}
	// The invoke goes in under order_mu and never waits; whatever did
	// not fit follows with the usual waits, after order_mu is released.
	flush = stream_flush(s);
	rv    = drpc__writer_send_prefix(
	    s->w, &s->ws, pkts, n, must, flush != 0, &sent);
	drpc__mutex_unlock(order_mu);
	if (rv == DRPC_OK && flush != 0) {
		drpc__writer_flush(s->w); // after order_mu: it may write
	}
	if (rv != DRPC_OK) {
		rv = stream_send_failed(s, rv);
	} else if (sent < n) {
		rv = stream_write(s, pkts + sent, n - sent, flush);
		drpc__mutex_lock(&s->mu);
		if (rv != DRPC_OK && s->terminated && s->cancel_err == DRPC_OK) {
			// The peer ended the stream before the rest went
			// out (the writer takes nothing after an end): the
			// invoke stands, and recv tells how it ended.
			rv = DRPC_OK;
		}
		drpc__mutex_unlock(&s->mu);
	}
	drpc__buf_fini(&md);
	return rv;
}

drpc_err
drpc__stream_send_control(
    drpc__stream *s, uint8_t kind, const uint8_t *body, size_t len)
{
	return drpc__writer_control(s->w, &s->ws, s->id, kind, body, len);
}

drpc_err
drpc__stream_send(drpc__stream *s, const uint8_t *data, size_t len)
{
	return s->obs == NULL ? drpc__stream_send_plain(s, data, len)
			      : drpc__stream_obs_send(s, data, len, false);
}

drpc_err
drpc__stream_send_plain(drpc__stream *s, const uint8_t *data, size_t len)
{
	drpc__packet pkt = {.kind = DRPC__KIND_MESSAGE, .data = data,
	    .len = len};
	drpc_err     rv;

	if (len > s->max_msg_size) {
		return DRPC_ERESOURCE;
	}
	if ((rv = stream_send_check(s)) != DRPC_OK) {
		return rv;
	}
	// The stream's first Message, and the first since a receive that had
	// to wait for the peer, is likely what the peer waits for (a reply, a
	// ping): written at once by this thread. The ones after it are a
	// burst, for the drain thread to batch while this thread goes on
	// appending.
	if (atomic_fetch_add_explicit(&s->sends_run, 1, memory_order_relaxed) ==
	    0) {
		return stream_write(s, &pkt, 1, stream_flush(s));
	}
	return stream_write(s, &pkt, 1, 0);
}

void
drpc__stream_set_on_last(drpc__stream *s, void (*fn)(void *), void *arg)
{
	s->on_last     = fn;
	s->on_last_arg = arg;
	atomic_store(&s->on_last_due, fn != NULL);
}

void
drpc__stream_last(drpc__stream *s)
{
	if (atomic_exchange(&s->on_last_due, false)) {
		s->on_last(s->on_last_arg);
	}
}

drpc_err
drpc__stream_send_last(drpc__stream *s, const uint8_t *data, size_t len)
{
	return s->obs == NULL ? drpc__stream_send_last_plain(s, data, len)
			      : drpc__stream_obs_send(s, data, len, true);
}

drpc_err
drpc__stream_send_last_plain(
    drpc__stream *s, const uint8_t *data, size_t len)
{
	drpc__packet pkts[2] = {
	    {.kind = DRPC__KIND_MESSAGE, .data = data, .len = len},
	    {.kind = DRPC__KIND_CLOSE_SEND}};
	bool         last;
	unsigned     flush;
	drpc_err     rv;

	if (!s->is_client && s->err_set) {
		// The handler set the RPC's error (drpc_stream_set_error):
		// the Error, not a CloseSend, must end this side.
		return drpc__stream_send_plain(s, data, len);
	}
	if (len > s->max_msg_size) {
		return DRPC_ERESOURCE;
	}
	if ((rv = stream_send_check(s)) != DRPC_OK) {
		return rv;
	}
	drpc__mutex_lock(&s->mu);
	last = !s->is_client && s->recv_closed;
	drpc__mutex_unlock(&s->mu);
	if (last) {
		// The RPC ends with this write: its handler's place under
		// max_handlers is free before the peer can see the end.
		drpc__stream_last(s);
	}
	// Appended as one unit, without mu (the Message may wait for room
	// or credit, and the reader needs mu meanwhile). An end that comes
	// first aborts the append, as for any send; one that comes after
	// finds send_closed set below, or sets recv_closed for it to see.
	flush = stream_flush(s);
	rv    = drpc__writer_send(s->w, &s->ws, pkts, 2, flush, s->deadline_ns);
	if (rv != DRPC_OK) {
		return stream_send_failed(s, rv);
	}
	drpc__mutex_lock(&s->mu);
	s->send_closed = true;
	if (s->recv_closed) {
		drpc__stream_terminate_locked(s, DRPC_EOF, DRPC_ESTATE);
	}
	drpc__mutex_unlock(&s->mu);
	if (flush != 0) {
		drpc__writer_flush(s->w);
	}
	return DRPC_OK;
}

// stream_wait_locked sleeps on cv until woken or the deadline passes.
// Returns false on timeout (the lock is still held).
static bool
stream_wait_locked(drpc__stream *s)
{
	drpc_err rv;

	s->user_waiting = true;
	rv = drpc__cond_wait_until(&s->cv, &s->mu, s->deadline_ns);
	s->user_waiting = false;
	return rv != DRPC_ETIMEDOUT;
}

drpc_err
drpc__stream_recv(drpc__stream *s, const uint8_t **data, size_t *len)
{
	bool     waited = false;
	drpc_err rv;

	drpc__mutex_lock(&s->mu);
	for (;;) {
		if (s->cancel_err != DRPC_OK) {
			rv = s->cancel_err; // local cancel: report it at once
			break;
		}
		if (drpc__ring_has_msg(&s->ring)) {
			drpc__ring_borrow(&s->ring, data, len);
			s->borrowed_len = *len;
			rv              = DRPC_OK;
			break;
		}
		if (s->ring.closed) {
			rv = s->ring.err;
			break;
		}
		waited = true;
		if (!stream_wait_locked(s)) {
			drpc__mutex_unlock(&s->mu);
			drpc__stream_cancel(s, DRPC_ETIMEDOUT);
			drpc__mutex_lock(&s->mu);
		}
	}
	drpc__mutex_unlock(&s->mu);
	if (waited) {
		// It waited for the peer: what it sends next is likely what
		// the peer waits for in turn (drpc__stream_send). A receiver
		// that finds messages queued is streaming: its thread's sends,
		// if any, stay a burst.
		atomic_store_explicit(&s->sends_run, 0, memory_order_relaxed);
	}
	if (s->obs != NULL) {
		drpc__stream_obs_recv(s, rv, rv == DRPC_OK ? *data : NULL,
		    rv == DRPC_OK ? *len : 0);
	}
	return rv;
}

void
drpc__stream_recv_done(drpc__stream *s)
{
	drpc__mutex_lock(&s->mu);
	drpc__ring_release(&s->ring);
	drpc__stream_mem_gone(s, s->borrowed_len, 1);
	if (s->fconn != NULL) {
		uint64_t n = drpc__flow_charge(&s->rx, s->borrowed_len);

		s->rx.consumed += n;
		drpc__stream_grant_locked(s);
		drpc__stream_conn_consumed(s, n);
	}
	if (s->reader_waiting) {
		drpc__cond_signal(&s->space_cv);
	}
	drpc__mutex_unlock(&s->mu);
}

void
drpc__stream_flow_on(drpc__stream *s, const drpc__flow_figures *f)
{
	size_t slots;

	if (s->fconn == NULL) {
		return;
	}
	drpc__writer_gate(s->w, &s->ws, f->peer_window, f->peer_cost, f->gen);
	drpc__mutex_lock(&s->mu);
	if (!s->rx.active) {
		s->rx.active = true;
		// The window, not the slot count, bounds the queue now; the
		// slots only stop a peer that floods messages beyond it. A
		// conforming peer queues at most W / charge + 2 (the last one
		// may overdraw); four times that leaves room for what a client
		// sent before it learned of our window (protocol.md §13.3),
		// and a client that charged less than we ask until then gets
		// the slots of a charge of 0.
		slots = s->rx.msg_cost == 0 || f->wide_slots
		    ? 65536
		    : 4 * (size_t) (s->rx.window / s->rx.msg_cost) + 8;
		if (slots > 65536) {
			slots = 65536;
		}
		if (slots > s->ring.max) {
			s->ring.max = slots;
		}
		drpc__stream_grant_locked(s); // what was consumed before counts
		if (s->reader_waiting) {
			drpc__cond_signal(&s->space_cv);
		}
	}
	drpc__mutex_unlock(&s->mu);
}

void
drpc__stream_on_window(drpc__stream *s, uint64_t delta)
{
	drpc__writer_credit(s->w, &s->ws, delta);
}

drpc_err
drpc__stream_close_send(drpc__stream *s)
{
	drpc__packet pkt = {.kind = DRPC__KIND_CLOSE_SEND};
	unsigned     flush;
	drpc_err     rv;

	drpc__mutex_lock(&s->mu);
	if (s->terminated || s->send_closed) {
		drpc__mutex_unlock(&s->mu);
		return DRPC_OK;
	}
	s->send_closed = true;
	// Appended under mu (a CloseSend never waits for room), so the
	// stream cannot end, and free its slot for the next stream's
	// Invoke, before its CloseSend is in the writer: a one-stream peer
	// must not see the CloseSend after the next Invoke (protocol.md
	// §9.1), and an end that comes later does not lose it.
	flush = stream_flush(s);
	rv    = drpc__writer_send(s->w, &s->ws, &pkt, 1, flush, s->deadline_ns);
	if (rv == DRPC_OK && s->recv_closed) {
		drpc__stream_terminate_locked(s, DRPC_EOF, DRPC_ESTATE);
	}
	drpc__mutex_unlock(&s->mu);
	if (rv == DRPC_OK) {
		if (flush != 0) {
			drpc__writer_flush(s->w);
		}
	} else {
		rv = stream_send_failed(s, rv);
		drpc__mutex_lock(&s->mu);
		if (s->recv_closed) {
			drpc__stream_terminate_locked(s, DRPC_EOF, DRPC_ESTATE);
		}
		drpc__mutex_unlock(&s->mu);
	}
	return rv;
}

// stream_end sends one terminal packet and terminates the stream.
static drpc_err
stream_end(drpc__stream *s, drpc__packet *pkt)
{
	bool     flush = false;
	unsigned fl;
	drpc_err rv;

	drpc__mutex_lock(&s->mu);
	if (s->terminated) {
		drpc__mutex_unlock(&s->mu);
		return DRPC_OK;
	}
	fl = stream_flush(s);
	rv = drpc__writer_send(s->w, &s->ws, pkt, 1, DRPC__WS_TERMINAL | fl, 0);
	if (rv == DRPC_OK) {
		flush = fl != 0;
	} else if (rv == DRPC_ESTATE) {
		rv = DRPC_OK; // a terminal packet already went out
	}
	drpc__stream_terminate_locked(s, DRPC_ECLOSED, DRPC_ECLOSED);
	drpc__mutex_unlock(&s->mu);
	if (flush) {
		drpc__writer_flush(s->w);
	}
	return rv == DRPC_OK ? DRPC_OK : drpc__stream_conn_err(s);
}

drpc_err
drpc__stream_close(drpc__stream *s)
{
	drpc__packet pkt = {.kind = DRPC__KIND_CLOSE};

	return stream_end(s, &pkt);
}

drpc_err
drpc__stream_send_error(
    drpc__stream *s, uint64_t code, const char *msg, size_t msg_len)
{
	drpc__buf    body = {0};
	drpc__packet pkt  = {.kind = DRPC__KIND_ERROR};
	size_t       max  = 0; // the text's room within the peer's maximum
	drpc_err     rv;

	if (s->max_msg_size > DRPC__ERRBODY_CODE_LEN) {
		max = s->max_msg_size - DRPC__ERRBODY_CODE_LEN;
	}
	rv = drpc__errbody_append_max(&body, code, msg, msg_len, max);
	if (rv != DRPC_OK) {
		return rv;
	}
	pkt.data = body.data;
	pkt.len  = body.len;
	rv       = stream_end(s, &pkt);
	drpc__buf_fini(&body);
	return rv;
}

drpc_err
drpc__stream_remote_err(drpc__stream *s, uint64_t *code, const char **msg,
    size_t *msg_len)
{
	drpc_err rv = DRPC_ESTATE;

	drpc__mutex_lock(&s->mu);
	if (s->has_remote) {
		*code    = s->remote_code;
		*msg     = s->remote_msg;
		*msg_len = s->remote_msg_len;
		rv       = DRPC_OK;
	}
	drpc__mutex_unlock(&s->mu);
	return rv;
}

void
drpc__stream_conn_lost(drpc__stream *s)
{
	// A handler's context is cancelled first (its listener ends the
	// stream with Canceled), so a handler whose recv reports the loss
	// already finds its context cancelled.
	drpc__stream_cancel_owned_ctx(s);
	drpc__mutex_lock(&s->mu);
	drpc__stream_terminate_locked(s, drpc__stream_conn_err(s), drpc__stream_conn_err(s));
	drpc__mutex_unlock(&s->mu);
}

drpc_err
drpc__stream_set_call(drpc__stream *s, const uint8_t *method,
    size_t method_len, drpc__md *md)
{
	if ((s->method = malloc(method_len + 1)) == NULL) {
		return DRPC_ENOMEM;
	}
	if (method_len > 0) {
		memcpy(s->method, method, method_len);
	}
	s->method[method_len] = '\0';
	s->md                 = *md;
	memset(md, 0, sizeof(*md));
	return DRPC_OK;
}

bool
drpc__stream_error_override(drpc__stream *s, uint64_t *code, const char **msg)
{
	if (!s->err_set) {
		return false;
	}
	*code = s->err_code;
	*msg  = s->err_msg != NULL ? s->err_msg : "";
	return true;
}
