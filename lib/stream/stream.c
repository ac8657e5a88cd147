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
#include "stream/ring.h"
#include "stream/stream.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"

struct drpc_stream {
	// Immutable after create.
	uint64_t           id;
	bool               is_client;
	size_t             max_msg_size;
	drpc_ctx          *ctx;
	bool               owns_ctx;
	int64_t            deadline_ns;
	drpc__writer      *w;
	drpc__stream_owner owner;
	drpc__flow_conn   *fconn;   // NULL: no flow control accounting
	drpc__rxmem       *rxmem;   // NULL: no memory accounting
	size_t             ring_slots; // the ring's bound without flow control
	drpc__ctx_listener ctx_l;   // linked in ctx while watched
	atomic_uint        refs;    // atomic
	atomic_bool        ended;   // atomic copy of terminated, for the reader
	drpc__wstate       ws;      // guarded by w->mu
	drpc__asm          in;      // reader thread only
	uint64_t           in_held; // reader thread only: frame bytes of the
	uint64_t           in_mid;  // packet in assembly, and its message id
	uint64_t           in_mem;  // reader thread only: its bytes in rxmem
	bool               watching; // creator's thread only
	bool               adopted;  // creator's thread only: destroy ctx

	pthread_mutex_t mu;
	pthread_cond_t  cv;       // the user's threads wait here
	pthread_cond_t  space_cv; // the reader waits here for ring room
	// Guarded by mu:
	drpc__ring ring;
	bool       send_closed; // CloseSend sent (or being sent)
	bool       recv_closed; // CloseSend received
	bool       terminated;
	bool       forgotten;      // removed from the owner's registry
	drpc_err   recv_err;       // recv's answer once drained
	drpc_err   send_err;       // send's answer after termination
	drpc_err   cancel_err;     // local cancel reason, or DRPC_OK
	bool       reader_waiting; // the reader sleeps on space_cv
	bool       user_waiting;   // a user thread sleeps on cv
	drpc__flow_rx rx;        // receive-side flow control
	size_t        borrowed_len; // body length of the message lent out
	uint64_t   remote_code;
	char      *remote_msg;
	size_t     remote_msg_len;
	bool       has_remote;

	// Server side, set before the handler runs; the handler's thread
	// only, afterwards.
	char    *method;
	drpc__md md;
	bool     err_set;
	uint64_t err_code;
	char    *err_msg;
};

static void stream_on_ctx(void *arg, drpc_err why);
static void stream_conn_consumed(drpc__stream *s, uint64_t n);

// stream_mem_gone gives back to the connection's memory account the
// bytes of msgs queued messages that left memory.
static void
stream_mem_gone(drpc__stream *s, size_t bytes, size_t msgs)
{
	if (s->rxmem != NULL && (bytes > 0 || msgs > 0)) {
		drpc__rxmem_add(s->rxmem,
		    -(int64_t) (bytes + msgs * (size_t) DRPC__RXMEM_MSG));
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
	s->fconn        = o->fconn;
	s->rxmem        = o->rxmem;
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
	stream_conn_consumed(s, s->rx.received - s->rx.consumed + s->in_held);
	stream_mem_gone(s, s->ring.bytes, s->ring.count);
	if (s->rxmem != NULL) {
		drpc__rxmem_add(s->rxmem, -(int64_t) s->in_mem);
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
	drpc__md_fini(&s->md);
	if (s->owns_ctx) {
		drpc_ctx_destroy(s->ctx);
	}
	if (s->owner.rele != NULL) {
		s->owner.rele(s->owner.owner);
	}
	free(s);
}

// stream_cancel_owned_ctx tells a handler, through its context, that its
// stream was cancelled or lost. No stream lock may be held (ctx first).
static void
stream_cancel_owned_ctx(drpc__stream *s)
{
	if (s->owns_ctx) {
		drpc_ctx_cancel(s->ctx);
	}
}

// stream_conn_err is what a stream reports when its connection is gone:
// clients see Unavailable, server handlers see Canceled (as Go DRPC does).
static drpc_err
stream_conn_err(const drpc__stream *s)
{
	return s->is_client ? DRPC_EUNAVAIL : DRPC_ECANCELED;
}

// stream_terminate_locked ends the stream and removes it from the owner's
// registry in the same critical section, so whoever wakes up on the end
// finds the registry already updated. The owner's lock is a leaf, taken
// here under the stream's; the registry's reference it drops is never the
// last (the caller acts through a reference of its own).
static void
stream_terminate_locked(drpc__stream *s, drpc_err recv_err, drpc_err send_err)
{
	if (s->terminated) {
		return;
	}
	s->terminated = true;
	atomic_store(&s->ended, true);
	s->recv_err = recv_err;
	s->send_err = send_err;
	drpc__ring_close(&s->ring, recv_err);
	drpc__cond_broadcast(&s->cv);
	drpc__cond_broadcast(&s->space_cv);
	drpc__writer_wake(s->w, &s->ws); // a sender waiting for room
	if (s->owner.forget != NULL) {
		s->owner.forget(s->owner.owner, s);
	}
}

// stream_conn_consumed counts n bytes gone from memory at the connection
// level and sends the connection's grant if one is due. Any lock may be
// held but the connection flow lock.
static void
stream_conn_consumed(drpc__stream *s, uint64_t n)
{
	if (s->fconn != NULL && n > 0) {
		drpc__writer_window_update(
		    s->w, 0, drpc__flow_conn_consumed(s->fconn, n));
	}
}

// stream_grant_locked sends the window update s is due, if any: none
// once the peer can send no more Messages on it.
static void
stream_grant_locked(drpc__stream *s)
{
	if (!s->terminated && !s->recv_closed) {
		drpc__writer_window_update(
		    s->w, s->id, drpc__flow_rx_grant(&s->rx));
	}
}

// stream_clear_locked drops the queued messages (but a borrowed one):
// they count as consumed.
static void
stream_clear_locked(drpc__stream *s)
{
	size_t   msgs;
	size_t   bytes;
	uint64_t n;

	drpc__ring_clear(&s->ring, &msgs, &bytes);
	stream_mem_gone(s, bytes, msgs);
	n = (uint64_t) bytes + (uint64_t) msgs * s->rx.msg_cost;
	s->rx.consumed += n;
	stream_conn_consumed(s, n);
}

// stream_error_locked sends the stream's final Error (code, text) at
// once, cutting off a message in progress.
static void
stream_error_locked(
    drpc__stream *s, uint64_t code, const char *text, size_t len)
{
	drpc__buf    body = {0};
	drpc__packet pkt  = {.kind = DRPC__KIND_ERROR};

	drpc__writer_wake(s->w, &s->ws); // stop a message in progress
	if (drpc__errbody_append(&body, code, text, len) == DRPC_OK) {
		pkt.data = body.data;
		pkt.len  = body.len;
		(void) drpc__writer_send(s->w, &s->ws, &pkt, 1, true, 0);
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

	stream_error_locked(s, DRPC_ETIMEDOUT, text, sizeof(text) - 1);
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
	stream_clear_locked(s);
	stream_terminate_locked(s, why, why);
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
		out = stream_conn_err(s); // the writer stopped: conn is gone
	}
	drpc__mutex_unlock(&s->mu);
	return out;
}

static drpc_err
stream_write(drpc__stream *s, drpc__packet *pkts, size_t n, bool terminal)
{
	drpc_err rv = drpc__writer_send(
	    s->w, &s->ws, pkts, n, terminal, s->deadline_ns);

	return rv == DRPC_OK ? DRPC_OK : stream_send_failed(s, rv);
}

drpc_err
drpc__stream_send_invoke(drpc__stream *s, const drpc__stream_invoke *inv,
    pthread_mutex_t *order_mu)
{
	drpc__packet pkts[5];
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
	rv = drpc__writer_send_prefix(s->w, &s->ws, pkts, n, must, &sent);
	drpc__mutex_unlock(order_mu);
	if (rv != DRPC_OK) {
		rv = stream_send_failed(s, rv);
	} else if (sent < n) {
		rv = stream_write(s, pkts + sent, n - sent, false);
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
	drpc__packet pkt = {.kind = DRPC__KIND_MESSAGE, .data = data,
	    .len = len};
	drpc_err     rv;

	if (len > s->max_msg_size) {
		return DRPC_ERESOURCE;
	}
	if ((rv = stream_send_check(s)) != DRPC_OK) {
		return rv;
	}
	return stream_write(s, &pkt, 1, false);
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
		if (!stream_wait_locked(s)) {
			drpc__mutex_unlock(&s->mu);
			drpc__stream_cancel(s, DRPC_ETIMEDOUT);
			drpc__mutex_lock(&s->mu);
		}
	}
	drpc__mutex_unlock(&s->mu);
	return rv;
}

void
drpc__stream_recv_done(drpc__stream *s)
{
	drpc__mutex_lock(&s->mu);
	drpc__ring_release(&s->ring);
	stream_mem_gone(s, s->borrowed_len, 1);
	if (s->fconn != NULL) {
		uint64_t n = drpc__flow_charge(&s->rx, s->borrowed_len);

		s->rx.consumed += n;
		stream_grant_locked(s);
		stream_conn_consumed(s, n);
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
		stream_grant_locked(s); // what was consumed before counts
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
	rv = drpc__writer_send(s->w, &s->ws, &pkt, 1, false, s->deadline_ns);
	if (rv == DRPC_OK && s->recv_closed) {
		stream_terminate_locked(s, DRPC_EOF, DRPC_ESTATE);
	}
	drpc__mutex_unlock(&s->mu);
	if (rv != DRPC_OK) {
		rv = stream_send_failed(s, rv);
		drpc__mutex_lock(&s->mu);
		if (s->recv_closed) {
			stream_terminate_locked(s, DRPC_EOF, DRPC_ESTATE);
		}
		drpc__mutex_unlock(&s->mu);
	}
	return rv;
}

// stream_end sends one terminal packet and terminates the stream.
static drpc_err
stream_end(drpc__stream *s, drpc__packet *pkt)
{
	drpc_err rv;

	drpc__mutex_lock(&s->mu);
	if (s->terminated) {
		drpc__mutex_unlock(&s->mu);
		return DRPC_OK;
	}
	rv = drpc__writer_send(s->w, &s->ws, pkt, 1, true, 0);
	if (rv == DRPC_ESTATE) {
		rv = DRPC_OK; // a terminal packet already went out
	}
	stream_terminate_locked(s, DRPC_ECLOSED, DRPC_ECLOSED);
	drpc__mutex_unlock(&s->mu);
	return rv == DRPC_OK ? DRPC_OK : stream_conn_err(s);
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
	stream_cancel_owned_ctx(s);
	drpc__mutex_lock(&s->mu);
	stream_terminate_locked(s, stream_conn_err(s), stream_conn_err(s));
	drpc__mutex_unlock(&s->mu);
}

// Reader side.

// stream_ring_full tells whether the ring can take no more messages.
// Without flow control that is its slot bound, or the stream's window in
// bytes (so a stream queues at most W plus one message). With it the peer's window
// bounds what is queued, and the slots rise to what a window admits; so a
// full ring means the peer ignores its window: more queued than twice the
// window and a maximal message, or more messages than the window's
// charges allow (stream_overrun_locked).
static bool
stream_ring_full(const drpc__stream *s)
{
	if (drpc__ring_is_full(&s->ring)) {
		return true;
	}
	if (!s->rx.active) {
		return s->ring.bytes >= s->rx.window;
	}
	return s->rx.received - s->rx.consumed >
	    2 * (s->rx.window + s->max_msg_size + s->rx.msg_cost);
}

// stream_overrun_locked ends a stream whose peer sent beyond its window:
// an Error (ResourceExhausted) goes to the peer, the queue is dropped,
// local calls report DRPC_ERESOURCE. Only this stream ends; the reader
// never waits for a consumer while flow control is on (a consumer may
// itself be waiting for credit the reader would have to read).
static void
stream_overrun_locked(drpc__stream *s)
{
	static const char text[] = "flow control: the peer sent beyond its "
				   "window";

	stream_error_locked(s, DRPC_ERESOURCE, text, sizeof(text) - 1);
	stream_clear_locked(s);
	stream_terminate_locked(s, DRPC_ERESOURCE, DRPC_ERESOURCE);
}

static drpc_err
stream_on_message(drpc__stream *s, const drpc__packet *pkt, bool *queued)
{
	drpc_err rv      = DRPC_OK;
	bool     overrun = false;

	drpc__mutex_lock(&s->mu);
	if (s->rx.active) {
		overrun = stream_ring_full(s) && !s->terminated &&
		    !s->recv_closed;
		if (overrun) {
			stream_overrun_locked(s);
			if (s->rxmem != NULL) {
				s->rxmem->strikes++; // the reader's
			}
		}
	} else {
		// Without flow control a full ring makes the reader wait for
		// this stream's consumer; it holds no other lock meanwhile
		// (docs/design.md §4, "Full rings").
		if (stream_ring_full(s) && s->owner.reader_waits != NULL) {
			drpc__mutex_unlock(&s->mu);
			s->owner.reader_waits(s->owner.owner);
			drpc__mutex_lock(&s->mu);
		}
		while (stream_ring_full(s) && !s->terminated &&
		    !s->recv_closed && !s->rx.active) {
			s->reader_waiting = true;
			drpc__cond_wait(&s->space_cv, &s->mu);
			s->reader_waiting = false;
		}
	}
	if (!s->terminated && !s->recv_closed) {
		int64_t mem  = (int64_t) pkt->len + DRPC__RXMEM_MSG;
		bool    swap = pkt->data == s->in.body.data &&
		    pkt->len == s->in.body.len;

		// Counted before it is queued: a consumer may give it back
		// as soon as it is (drpc__stream_on_frame checked it fits).
		// A packet built from frames was counted as the assembler's
		// bytes so far: that count moves to the queue.
		if (s->rxmem != NULL) {
			drpc__rxmem_add(s->rxmem,
			    mem - (swap ? (int64_t) s->in_mem : 0));
			s->in_mem = swap ? 0 : s->in_mem;
		}
		// A packet reassembled from frames lives in the assembler's
		// buffer: hand that buffer to the ring instead of copying it.
		rv = swap ? drpc__ring_put_swap(&s->ring, &s->in.body)
			  : drpc__ring_put(&s->ring, pkt->data, pkt->len);
		if (rv != DRPC_OK && s->rxmem != NULL) {
			drpc__rxmem_add(s->rxmem, -mem);
		}
		if (rv == DRPC_OK) {
			s->rx.received += drpc__flow_charge(&s->rx, pkt->len);
			*queued = true;
		}
		if (rv == DRPC_OK && s->user_waiting) {
			drpc__cond_signal(&s->cv);
		}
	}
	drpc__mutex_unlock(&s->mu);
	if (overrun) {
		stream_cancel_owned_ctx(s); // the handler learns of it
	}
	return rv;
}

static void
stream_on_close_send(drpc__stream *s)
{

	drpc__mutex_lock(&s->mu);
	if (!s->recv_closed) {
		s->recv_closed = true;
		drpc__ring_close(&s->ring, DRPC_EOF);
		drpc__cond_broadcast(&s->cv);
		if (s->send_closed) {
			stream_terminate_locked(s, DRPC_EOF, DRPC_ESTATE);
		}
	}
	drpc__mutex_unlock(&s->mu);
}

static void
stream_on_remote_end(
    drpc__stream *s, drpc_err recv_err, drpc_err send_err)
{

	drpc__mutex_lock(&s->mu);
	stream_terminate_locked(s, recv_err, send_err);
	drpc__mutex_unlock(&s->mu);
}

static drpc_err
stream_on_error(drpc__stream *s, const drpc__packet *pkt)
{
	uint64_t       code;
	const uint8_t *msg;
	size_t         len;
	char          *copy;
	drpc__buf      cut = {0};

	(void) drpc__errbody_parse(pkt->data, pkt->len, &code, &msg, &len);
	if (len > DRPC__ERRBODY_TEXT_MAX) {
		// Kept until the stream is freed: a peer's text is held to
		// what we would send ourselves, cut the same way (marked).
		if (drpc__errbody_append(&cut, code, (const char *) msg, len) !=
		    DRPC_OK) {
			return DRPC_ENOMEM;
		}
		(void) drpc__errbody_parse(cut.data, cut.len, &code, &msg, &len);
	}
	if ((copy = malloc(len + 1)) == NULL) {
		drpc__buf_fini(&cut);
		return DRPC_ENOMEM;
	}
	if (len > 0) {
		memcpy(copy, msg, len);
	}
	copy[len] = '\0';
	drpc__buf_fini(&cut);
	drpc__mutex_lock(&s->mu);
	if (!s->terminated && !s->has_remote) {
		s->has_remote     = true;
		s->remote_code    = code;
		s->remote_msg     = copy;
		s->remote_msg_len = len;
		copy              = NULL;
	}
	drpc__mutex_unlock(&s->mu);
	free(copy);
	stream_on_remote_end(s, DRPC_EREMOTE, DRPC_EOF);
	return DRPC_OK;
}

static drpc_err
stream_on_packet(drpc__stream *s, const drpc__packet *pkt, bool *queued)
{
	switch ((drpc__kind) pkt->kind) {
	case DRPC__KIND_MESSAGE:
		return stream_on_message(s, pkt, queued);
	case DRPC__KIND_CLOSE_SEND:
		stream_on_close_send(s);
		return DRPC_OK;
	case DRPC__KIND_CLOSE:
		stream_on_remote_end(s, DRPC_EOF, DRPC_ECLOSED);
		stream_cancel_owned_ctx(s);
		return DRPC_OK;
	case DRPC__KIND_CANCEL:
		if (s->is_client && s->deadline_ns != 0 &&
		    drpc__now_ns() >= s->deadline_ns) {
			// The peer gave up because our deadline passed.
			drpc__stream_cancel(s, DRPC_ETIMEDOUT);
			return DRPC_OK;
		}
		stream_on_remote_end(s, DRPC_ECANCELED, DRPC_EOF);
		stream_cancel_owned_ctx(s);
		return DRPC_OK;
	case DRPC__KIND_ERROR:
		return stream_on_error(s, pkt);
	case DRPC__KIND_INVOKE:
	case DRPC__KIND_INVOKE_METADATA:
		return drpc__cause_set(s->in.why, DRPC_EPROTO,
		    "an %s for active stream %llu", drpc__kind_name(pkt->kind),
		    (unsigned long long) s->id);
	}
	// Unknown kinds: ignored with the control flag, fatal without.
	if (pkt->control) {
		return DRPC_OK;
	}
	return drpc__cause_set(s->in.why, DRPC_EKIND,
	    "unknown packet kind %u without the control flag on stream %llu",
	    pkt->kind, (unsigned long long) s->id);
}

bool
drpc__stream_invoked(drpc__stream *s)
{
	bool known;

	drpc__mutex_lock(&s->w->mu);
	known = s->ws.known;
	drpc__mutex_unlock(&s->w->mu);
	return known;
}

void
drpc__stream_too_big(drpc__stream *s, const char *why)
{
	drpc__mutex_lock(&s->mu);
	if (!s->terminated) {
		stream_error_locked(s, DRPC_ERESOURCE, why, strlen(why));
		stream_clear_locked(s);
		stream_terminate_locked(s, DRPC_ERESOURCE, DRPC_ERESOURCE);
	}
	drpc__mutex_unlock(&s->mu);
}

// stream_mem_fits tells whether what fr adds to memory (a Message's
// bytes and its slot; the bytes of any frame kept while its packet is
// built) fits in the connection's account.
static bool
stream_mem_fits(const drpc__stream *s, const drpc__frame *fr)
{
	uint64_t n = 0;

	if (fr->kind == DRPC__KIND_MESSAGE) {
		n = fr->len + (fr->done ? DRPC__RXMEM_MSG : 0);
	} else if (!fr->done) {
		n = fr->len;
	}
	return n == 0 || drpc__rxmem_fits(s->rxmem, n);
}

// stream_asm_drop frees the half-built packet of an ended stream (its
// later frames are dropped, so the assembler is never used again).
static void
stream_asm_drop(drpc__stream *s)
{
	if (s->rxmem != NULL) {
		drpc__rxmem_add(s->rxmem, -(int64_t) s->in_mem);
	}
	s->in_mem = 0;
	drpc__buf_fini(&s->in.body);
}

// stream_mem_overrun ends s because the peer sent more than the
// connection may hold of its packets (docs/design.md §8): an Error
// (ResourceExhausted) both ways, the queue and the half-built packet
// dropped; a strike against the peer (the reader ends the connection
// after DRPC__RXMEM_STRIKES).
static void
stream_mem_overrun(drpc__stream *s)
{
	char why[160];

	(void) snprintf(why, sizeof(why),
	    "stream %llu ended: the peer sent beyond the %lld bytes a "
	    "connection may hold of its messages",
	    (unsigned long long) s->id, (long long) s->rxmem->limit);
	drpc__stream_too_big(s, why);
	stream_cancel_owned_ctx(s); // the handler learns of it
	s->rxmem->strikes++;
	stream_asm_drop(s);
}

// stream_asm_settle brings the account of the assembler's bytes up to
// date after a frame, and frees its buffer once no packet is in progress
// if it grew large.
static void
stream_asm_settle(drpc__stream *s)
{
	uint64_t now = s->in.in_progress ? s->in.body.len : 0;

	if (!s->in.in_progress && s->in.body.cap > DRPC__RING_KEEP) {
		drpc__buf_fini(&s->in.body);
	}
	if (s->rxmem != NULL && now != s->in_mem) {
		drpc__rxmem_add(s->rxmem, (int64_t) now - (int64_t) s->in_mem);
		s->in_mem = now;
	}
}

drpc_err
drpc__stream_on_frame(drpc__stream *s, const drpc__frame *fr)
{
	drpc__packet pkt;
	bool         complete;
	bool         queued = false;
	uint64_t     n      = 0;
	drpc_err     rv;

	// Message frames count at the connection level as they arrive
	// (docs/design.md §9), and as consumed once dropped.
	if (fr->kind == DRPC__KIND_MESSAGE && s->fconn != NULL) {
		n = fr->len + (fr->done ? s->rx.msg_cost : 0);
		drpc__flow_conn_received(s->fconn, n);
	}
	if (atomic_load(&s->ended)) {
		stream_conn_consumed(s, n);
		return DRPC_OK; // late frames of an ended stream are dropped
	}
	if (n > 0) {
		if (s->in_held > 0 && fr->message_id != s->in_mid) {
			// A half-built packet is abandoned for a newer one.
			stream_conn_consumed(s, s->in_held);
			s->in_held = 0;
		}
		s->in_held += n;
		s->in_mid = fr->message_id;
	}
	if (s->rxmem != NULL && !stream_mem_fits(s, fr)) {
		stream_mem_overrun(s);
		return DRPC_OK;
	}
	rv = drpc__asm_add(&s->in, fr, &pkt, &complete);
	if (rv == DRPC_ETOOBIG) {
		// A packet over the maximum across frames: only this stream
		// ends (its frames still to come are dropped as late ones).
		char why[160];

		(void) snprintf(why, sizeof(why),
		    "a %s packet on stream %llu over the %zu-byte maximum",
		    drpc__kind_name(fr->kind), (unsigned long long) s->id,
		    s->max_msg_size);
		drpc__stream_too_big(s, why);
		stream_asm_drop(s);
		return DRPC_OK;
	}
	if (rv != DRPC_OK || !complete) {
		stream_asm_settle(s);
		return rv;
	}
	rv = stream_on_packet(s, &pkt, &queued);
	stream_asm_settle(s);
	if (rv == DRPC_ENOMEM) {
		(void) drpc__cause_set(s->in.why, rv,
		    "out of memory for a %s packet on stream %llu",
		    drpc__kind_name(pkt.kind), (unsigned long long) s->id);
	}
	if (pkt.kind == DRPC__KIND_MESSAGE) {
		// Queued: the stream's count (R - C) holds it from now on.
		if (!queued) {
			stream_conn_consumed(s, s->in_held);
		}
		s->in_held = 0;
	}
	return rv;
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

// The public API (include/drpc/stream.h) on top of the internal calls.

drpc_err
drpc__stream_public_err(drpc__stream *s, drpc_err rv, drpc_status *st)
{
	uint64_t    code = 0;
	const char *msg  = NULL;
	size_t      len  = 0;
	bool        remote;

	remote = rv == DRPC_EREMOTE &&
	    drpc__stream_remote_err(s, &code, &msg, &len) == DRPC_OK;
	if (remote && code >= 1 && code <= 16) {
		rv = (drpc_err) code;
	}
	if (st != NULL) {
		drpc_status_reset(st);
		st->code        = rv;
		st->remote      = remote;
		st->remote_code = code;
		if (!remote) {
			msg = drpc_strerror(rv);
			len = strlen(msg);
		}
		if ((st->message = malloc(len + 1)) != NULL) {
			memcpy(st->message, msg, len);
			st->message[len] = '\0';
		}
	}
	return rv;
}

void
drpc_status_reset(drpc_status *st)
{
	if (st != NULL) {
		free(st->message);
		memset(st, 0, sizeof(*st));
	}
}

drpc_err
drpc_stream_send(drpc_stream *s, const void *data, size_t len)
{
	if (s == NULL || (data == NULL && len > 0)) {
		return DRPC_EINVAL;
	}
	return drpc__stream_send(s, data, len);
}

drpc_err
drpc_stream_recv_view(drpc_stream *s, const void **data, size_t *len)
{
	const uint8_t *p;
	drpc_err       rv;

	if (s == NULL || data == NULL || len == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = drpc__stream_recv(s, &p, len)) != DRPC_OK) {
		return drpc__stream_public_err(s, rv, NULL);
	}
	*data = p;
	return DRPC_OK;
}

void
drpc_stream_recv_done(drpc_stream *s)
{
	drpc__stream_recv_done(s);
}

drpc_err
drpc_stream_recv(drpc_stream *s, void **data, size_t *len)
{
	const void *view;
	size_t      n;
	drpc_err    rv;

	if (data == NULL || len == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = drpc_stream_recv_view(s, &view, &n)) != DRPC_OK) {
		return rv;
	}
	*data = NULL;
	if (n > 0 && (*data = malloc(n)) == NULL) {
		drpc__stream_recv_done(s);
		return DRPC_ENOMEM;
	}
	if (n > 0) {
		memcpy(*data, view, n);
	}
	*len = n;
	drpc__stream_recv_done(s);
	return DRPC_OK;
}

drpc_err
drpc_stream_close_send(drpc_stream *s)
{
	return s == NULL ? DRPC_EINVAL : drpc__stream_close_send(s);
}

drpc_err
drpc_stream_close(drpc_stream *s)
{
	return s == NULL ? DRPC_EINVAL : drpc__stream_close(s);
}

void
drpc_stream_cancel(drpc_stream *s)
{
	if (s != NULL) {
		drpc__stream_cancel(s, DRPC_ECANCELED);
	}
}

drpc_err
drpc_stream_status(drpc_stream *s, drpc_status *st)
{
	drpc_err rv;

	if (s == NULL || st == NULL) {
		return DRPC_EINVAL;
	}
	drpc__mutex_lock(&s->mu);
	rv = s->cancel_err != DRPC_OK ? s->cancel_err
	    : s->terminated           ? s->recv_err
				      : DRPC_OK;
	drpc__mutex_unlock(&s->mu);
	if (rv == DRPC_OK) {
		return DRPC_ESTATE;
	}
	(void) drpc__stream_public_err(s, rv, st);
	return DRPC_OK;
}

void
drpc_stream_destroy(drpc_stream *s)
{
	drpc__stream_destroy(s);
}

const char *
drpc_stream_method(const drpc_stream *s)
{
	return s->method != NULL ? s->method : "";
}

drpc_ctx *
drpc_stream_ctx(const drpc_stream *s)
{
	return s->ctx;
}

drpc_err
drpc_stream_md_get(const drpc_stream *s, const char *key, const char **value,
    size_t *len)
{
	const drpc__md_entry *e = drpc__md_get(&s->md, key, strlen(key));

	if (e == NULL) {
		return DRPC_ENOTFOUND;
	}
	*value = (const char *) e->val;
	*len   = e->val_len;
	return DRPC_OK;
}

size_t
drpc_stream_md_count(const drpc_stream *s)
{
	return s->md.n;
}

drpc_md_pair
drpc_stream_md_at(const drpc_stream *s, size_t i)
{
	drpc_md_pair p = {0};

	if (i < s->md.n) {
		p.key       = (const char *) s->md.entries[i].key;
		p.key_len   = s->md.entries[i].key_len;
		p.value     = (const char *) s->md.entries[i].val;
		p.value_len = s->md.entries[i].val_len;
	}
	return p;
}

drpc_err
drpc_stream_set_error(drpc_stream *s, uint64_t code, const char *message)
{
	char *copy = NULL;

	if (s == NULL) {
		return DRPC_EINVAL;
	}
	if (message != NULL) {
		size_t n = strlen(message);

		if ((copy = malloc(n + 1)) == NULL) {
			return DRPC_ENOMEM;
		}
		memcpy(copy, message, n + 1);
	}
	free(s->err_msg);
	s->err_set  = true;
	s->err_code = code;
	s->err_msg  = copy;
	return DRPC_OK;
}

void
drpc_free(void *p)
{
	free(p);
}

drpc_md_pair
drpc_md_str(const char *key, const char *value)
{
	drpc_md_pair p = {key, strlen(key), value, strlen(value)};

	return p;
}

void
drpc__stream_abandon(drpc__stream *s)
{
	drpc__mutex_lock(&s->mu);
	stream_terminate_locked(s, DRPC_ECLOSED, DRPC_ECLOSED);
	drpc__mutex_unlock(&s->mu);
}
