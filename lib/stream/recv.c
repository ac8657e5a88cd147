// The receive path (docs/design.md §4), both ends of the ring. The
// reader's end: frames are assembled into packets; Messages are queued in
// the ring, counted in the connection's memory account and, with flow
// control, against the stream's window; a full ring makes the reader wait
// (no flow control) or ends a stream whose peer ignores its window;
// terminal packets end the stream. The receiving user's end: recv lends
// the oldest message (waiting on cv until one comes, the stream ends or
// the deadline passes) and recv_done gives it back, granting credit.
//
// Locks: the ring, rx, recv_closed, the remote error, reader_waiting and
// user_waiting are guarded by s->mu. The reader waits on space_cv with
// s->mu and nothing else held (it hands deferred work to its owner first:
// reader_waits); the user waits on cv. A reader that queues a message for
// a waiting user does not wake it under s->mu: it sets *wake, and
// drpc__stream_wake (no lock) wakes it later. The assembler (s->in) and
// its counts (in_held, in_mid, in_mem) are the reader thread's alone. The
// memory account (rxmem: atomics, and a leaf mu for the reader's wait)
// and the flow account (fconn: a leaf mu) are below s->mu (credit.c).
//
// Callers: drpc__stream_on_frame, drpc__stream_too_big and
// drpc__stream_wake on the connection's reader thread only;
// drpc__stream_recv and drpc__stream_recv_done on the stream's one
// receiving thread (a client's caller, a server's handler).
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

// stream_ring_full tells whether the ring can take no more messages.
// Without flow control that is its slot bound, or the stream's window in
// bytes (so a stream queues at most W plus one message). With it the
// peer's window bounds what is queued, and the slots rise to what a window admits; so a
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

	drpc__stream_error_locked(s, DRPC_ERESOURCE, text, sizeof(text) - 1);
	drpc__stream_clear_locked(s);
	drpc__stream_terminate_locked(s, DRPC_ERESOURCE, DRPC_ERESOURCE);
}

// stream_stalled explains why the connection ends: without flow control
// the reader waited stall_ns for this stream's application to make room,
// reading nothing meanwhile. Whatever the peer does (even closing: its
// FIN waits behind the bytes nobody reads), nothing else can unstick the
// connection, and a peer can fill a stream whose handler never reads.
static drpc_err
stream_stalled(drpc__stream *s)
{
	return drpc__cause_set(s->in.why, DRPC_ETIMEDOUT,
	    "stalled: stream %llu's application read nothing for %lld ms "
	    "while its queue was full (no flow control), and the connection "
	    "could not be read meanwhile",
	    (unsigned long long) s->id, (long long) (s->stall_ns / 1000000));
}

static drpc_err
stream_on_message(
    drpc__stream *s, const drpc__packet *pkt, bool *queued, bool *wake)
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
		int64_t until = s->stall_ns > 0
		    ? drpc__deadline_in_ns(s->stall_ns)
		    : 0;

		while (stream_ring_full(s) && !s->terminated &&
		    !s->recv_closed && !s->rx.active) {
			s->reader_waiting = true;
			rv = drpc__cond_wait_until(&s->space_cv, &s->mu, until);
			s->reader_waiting = false;
			if (rv == DRPC_ETIMEDOUT && stream_ring_full(s) &&
			    !s->terminated && !s->recv_closed &&
			    !s->rx.active) {
				drpc__mutex_unlock(&s->mu);
				return stream_stalled(s);
			}
			rv = DRPC_OK;
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
			drpc__rxmem_take(s->rxmem,
			    mem - (swap ? (int64_t) s->in_mem : 0));
			s->in_mem = swap ? 0 : s->in_mem;
		}
		// A packet reassembled from frames lives in the assembler's
		// buffer: hand that buffer to the ring instead of copying it.
		rv = swap ? drpc__ring_put_swap(&s->ring, &s->in.body)
			  : drpc__ring_put(&s->ring, pkt->data, pkt->len);
		if (rv != DRPC_OK && s->rxmem != NULL) {
			drpc__rxmem_take(s->rxmem, -mem);
		}
		if (rv == DRPC_OK) {
			s->rx.received += drpc__flow_charge(&s->rx, pkt->len);
			*queued = true;
		}
		if (rv == DRPC_OK && s->user_waiting) {
			*wake = true; // by the caller, once it released mu
		}
	}
	drpc__mutex_unlock(&s->mu);
	if (overrun) {
		drpc__stream_cancel_owned_ctx(s); // the handler learns of it
	}
	return rv;
}

static void
stream_on_close_send(drpc__stream *s, bool *wake)
{
	drpc__mutex_lock(&s->mu);
	if (!s->recv_closed) {
		s->recv_closed = true;
		drpc__ring_close(&s->ring, DRPC_EOF);
		if (s->send_closed) {
			drpc__stream_end_quiet_locked(s, DRPC_EOF, DRPC_ESTATE);
		}
		*wake = *wake || s->user_waiting;
	}
	drpc__mutex_unlock(&s->mu);
}

static void
stream_on_remote_end(
    drpc__stream *s, drpc_err recv_err, drpc_err send_err)
{

	drpc__mutex_lock(&s->mu);
	drpc__stream_terminate_locked(s, recv_err, send_err);
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
stream_on_packet(
    drpc__stream *s, const drpc__packet *pkt, bool *queued, bool *wake)
{
	switch ((drpc__kind) pkt->kind) {
	case DRPC__KIND_MESSAGE:
		return stream_on_message(s, pkt, queued, wake);
	case DRPC__KIND_CLOSE_SEND:
		stream_on_close_send(s, wake);
		return DRPC_OK;
	case DRPC__KIND_CLOSE:
		stream_on_remote_end(s, DRPC_EOF, DRPC_ECLOSED);
		drpc__stream_cancel_owned_ctx(s);
		return DRPC_OK;
	case DRPC__KIND_CANCEL:
		if (s->is_client && s->deadline_ns != 0 &&
		    drpc__now_ns() >= s->deadline_ns) {
			// The peer gave up because our deadline passed.
			drpc__stream_cancel(s, DRPC_ETIMEDOUT);
			return DRPC_OK;
		}
		stream_on_remote_end(s, DRPC_ECANCELED, DRPC_EOF);
		drpc__stream_cancel_owned_ctx(s);
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
// later frames are dropped, so the assembler is never used again): its
// bytes leave the memory account, and count as consumed at the connection
// level, now rather than when the last handle goes.
static void
stream_asm_drop(drpc__stream *s)
{
	if (s->rxmem != NULL) {
		drpc__rxmem_take(s->rxmem, -(int64_t) s->in_mem);
	}
	s->in_mem = 0;
	drpc__stream_conn_consumed(s, s->in_held);
	s->in_held = 0;
	drpc__buf_fini(&s->in.body);
}

void
drpc__stream_too_big(drpc__stream *s, const char *why)
{
	// The half-built packet goes first: by the time the peer reads the
	// Error, or a local call sees the end, its bytes are given back.
	stream_asm_drop(s);
	drpc__mutex_lock(&s->mu);
	if (!s->terminated) {
		drpc__stream_error_locked(s, DRPC_ERESOURCE, why, strlen(why));
		drpc__stream_clear_locked(s);
		drpc__stream_terminate_locked(s, DRPC_ERESOURCE, DRPC_ERESOURCE);
	}
	drpc__mutex_unlock(&s->mu);
}

// stream_mem_wait makes the reader wait until fr fits in the connection's
// account, when the peer does not know our connection window (no flow
// control, or cockroachdb/drpc's, per stream only): a peer that cannot be
// asked to wait is slowed down by not being read, as a full ring does. A
// consumer's release wakes it; the stall timeout bounds it (nothing queued
// may be consumable: half-built packets only), and the connection's end
// stops it.
static drpc_err
stream_mem_wait(drpc__stream *s, const drpc__frame *fr)
{
	uint64_t n = fr->len + (fr->kind == DRPC__KIND_MESSAGE && fr->done
				       ? DRPC__RXMEM_MSG
				       : 0);
	drpc_err rv;

	if (s->owner.reader_waits != NULL) {
		s->owner.reader_waits(s->owner.owner); // handlers not started
	}
	rv = drpc__rxmem_wait(s->rxmem, n,
	    s->stall_ns > 0 ? drpc__deadline_in_ns(s->stall_ns) : 0);
	if (rv != DRPC_ETIMEDOUT) {
		return rv;
	}
	return drpc__cause_set(s->in.why, DRPC_ETIMEDOUT,
	    "stalled: the %lld bytes a connection may hold of its peer's "
	    "messages stayed full for %lld ms (no flow control), and the "
	    "connection could not be read meanwhile",
	    (long long) s->rxmem->limit, (long long) (s->stall_ns / 1000000));
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
	drpc__stream_cancel_owned_ctx(s); // the handler learns of it
	s->rxmem->strikes++;
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
		drpc__rxmem_take(s->rxmem, (int64_t) now - (int64_t) s->in_mem);
		s->in_mem = now;
	}
}

void
drpc__stream_wake(drpc__stream *s)
{
	// No lock: the state it wakes for was set under mu, and a thread
	// that has not gone to sleep yet sees it before it does.
	drpc__cond_broadcast(&s->cv);
}

drpc_err
drpc__stream_on_frame(drpc__stream *s, const drpc__frame *fr, bool *wake)
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
		drpc__stream_conn_consumed(s, n);
		return DRPC_OK; // late frames of an ended stream are dropped
	}
	if (n > 0) {
		if (s->in_held > 0 && fr->message_id != s->in_mid) {
			// A half-built packet is abandoned for a newer one.
			drpc__stream_conn_consumed(s, s->in_held);
			s->in_held = 0;
		}
		s->in_held += n;
		s->in_mid = fr->message_id;
	}
	if (s->rxmem != NULL && !stream_mem_fits(s, fr)) {
		if (s->owner.peer_bound != NULL &&
		    s->owner.peer_bound(s->owner.owner)) {
			stream_mem_overrun(s); // the peer ignored its windows
			return DRPC_OK;
		}
		if ((rv = stream_mem_wait(s, fr)) != DRPC_OK) {
			return rv;
		}
		if (atomic_load(&s->ended)) {
			return DRPC_OK; // ended meanwhile: the frame is late
		}
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
		return DRPC_OK;
	}
	if (rv != DRPC_OK || !complete) {
		stream_asm_settle(s);
		return rv;
	}
	rv = stream_on_packet(s, &pkt, &queued, wake);
	stream_asm_settle(s);
	if (rv == DRPC_ENOMEM) {
		(void) drpc__cause_set(s->in.why, rv,
		    "out of memory for a %s packet on stream %llu",
		    drpc__kind_name(pkt.kind), (unsigned long long) s->id);
	}
	if (pkt.kind == DRPC__KIND_MESSAGE) {
		// Queued: the stream's count (R - C) holds it from now on.
		if (!queued) {
			drpc__stream_conn_consumed(s, s->in_held);
		}
		s->in_held = 0;
	}
	return rv;
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
