#include <stdint.h>
#include <string.h>

#include "mux/writer_impl.h"
#include "platform/thread.h"
#include "wire/flowctl.h"
#include "wire/varint.h"

#define WRITER_DEFAULT_LIMIT ((size_t) 4 << 20)
#define WRITER_SOCKET_ROOM   ((size_t) 256 << 10)


drpc_err
drpc__writer_start(drpc__writer *w, drpc_transport *tr, size_t limit,
    size_t split, size_t stack_size, uint64_t id,
    void (*on_error)(void *, drpc_err), void *arg)
{
	void (*hook)(void *) = w->wait_hook; // set by the caller, if at all
	void    *hook_arg    = w->wait_hook_arg;
	bool     timed       = w->timed;
	drpc_err rv;

	memset(w, 0, sizeof(*w));
	w->wait_hook     = hook;
	w->wait_hook_arg = hook_arg;
	w->timed         = timed;
	w->tr            = tr;
	w->limit    = limit == 0 ? WRITER_DEFAULT_LIMIT : limit;
	w->split    = split == 0 ? DRPC__DEFAULT_SPLIT_SIZE : split;
	w->on_error = on_error;
	w->arg      = arg;
	w->self_write = drpc__transport_can_try(tr);
	// On a socket the kernel's buffer gives the depth, and Messages of
	// 64 KiB or more go direct: Messages wait for room past 256 KiB, so
	// the buffers never grow to writer_limit and back (each time
	// costing the pages' faults: measured, 4 KiB streams lost 40%).
	w->room = w->self_write && w->limit > WRITER_SOCKET_ROOM
	    ? WRITER_SOCKET_ROOM
	    : w->limit;
	drpc__mutex_init(&w->mu);
	drpc__cond_init(&w->drain_cv);
	drpc__cond_init(&w->space_cv);
	drpc__cond_init(&w->back_cv);
	drpc__cond_init(&w->conn_cv);
	atomic_init(&w->backlog, false);
	rv = drpc__thread_start(
	    &w->thread, "drpc-wr", id, stack_size, drpc__writer_main, w);
	if (rv != DRPC_OK) {
		drpc__cond_fini(&w->conn_cv);
		drpc__cond_fini(&w->back_cv);
		drpc__cond_fini(&w->space_cv);
		drpc__cond_fini(&w->drain_cv);
		drpc__mutex_fini(&w->mu);
	}
	return rv;
}

static bool
kind_is_bounded(unsigned kind)
{
	return kind == DRPC__KIND_MESSAGE || kind == DRPC__KIND_INVOKE ||
	    kind == DRPC__KIND_INVOKE_METADATA;
}

void
drpc__wstate_init(
    drpc__wstate *ws, uint64_t stream_id, bool known, uint64_t msg_cost)
{
	memset(ws, 0, sizeof(*ws));
	ws->stream_id   = stream_id;
	ws->next_msg_id = 1;
	ws->known       = known;
	ws->msg_cost    = msg_cost;
	atomic_init(&ws->abort, false);
	drpc__cond_init(&ws->credit_cv);
}

void
drpc__wstate_fini(drpc__wstate *ws)
{
	drpc__cond_fini(&ws->credit_cv);
}

// msg_charge is what a Message of len bytes costs ws's credit.
static int64_t
msg_charge(const drpc__wstate *ws, size_t len)
{
	return (int64_t) len + (int64_t) ws->msg_cost;
}

// writer_wait_credit_locked waits until a gated Message may start: the
// stream's credit and, if the peer has a connection window, the
// connection's are positive. Any credit is usable, however small, so
// credit that blocked senders hold never starves anyone. Then it charges
// the Message to both (gated or not: the counts run from the start).
static drpc_err
writer_wait_credit_locked(
    drpc__writer *w, drpc__wstate *ws, size_t len, int64_t deadline_ns)
{
	drpc_err rv = DRPC_OK;

	for (;;) {
		bool stream_short = ws->gated && ws->credit <= 0;
		bool conn_short   = w->conn_gated && w->conn_credit <= 0;

		if (!stream_short && !conn_short) {
			break;
		}
		if (w->stopped) {
			return w->stop_err;
		}
		if (ws->closed) {
			return DRPC_ESTATE;
		}
		if (atomic_load(&ws->abort)) {
			return DRPC_ECANCELED;
		}
		if (rv == DRPC_ETIMEDOUT) {
			return rv;
		}
		int64_t slept = w->timed ? drpc__now_ns() : 0;

		if (w->wait_hook != NULL) {
			w->wait_hook(w->wait_hook_arg);
		}
		if (stream_short) {
			ws->credit_waiters++;
			rv = drpc__cond_wait_until(
			    &ws->credit_cv, &w->mu, deadline_ns);
			ws->credit_waiters--;
		} else {
			w->conn_waiters++;
			rv = drpc__cond_wait_until(
			    &w->conn_cv, &w->mu, deadline_ns);
			w->conn_waiters--;
		}
		if (w->timed) {
			w->flow_blocked_ns += drpc__now_ns() - slept;
		}
	}
	ws->credit -= msg_charge(ws, len);
	w->conn_credit -= msg_charge(ws, len);
	ws->msgs++;
	return DRPC_OK;
}

// credit_add adds a grant to a credit count, saturating: a hostile peer's
// huge grants must not wrap it.
static int64_t
credit_add(int64_t credit, uint64_t delta)
{
	if (delta > (uint64_t) (INT64_MAX / 2) ||
	    credit > INT64_MAX / 2 - (int64_t) delta) {
		return INT64_MAX / 2;
	}
	return credit + (int64_t) delta;
}

// writer_refund_locked gives back the charge of a Message of len bytes
// of which only sent bytes went out (cut off by a cancel, or never
// started): the receiver counts the frames it gets, and no per-message
// charge for a packet that never completes.
static void
writer_refund_locked(drpc__writer *w, drpc__wstate *ws, size_t len, size_t sent)
{
	int64_t n = (int64_t) (len - sent) + (int64_t) ws->msg_cost;

	ws->credit += n;
	w->conn_credit += n;
	ws->msgs--;
	if (w->conn_waiters > 0) {
		drpc__cond_broadcast(&w->conn_cv);
	}
}

// writer_wait_room_locked waits until need more bytes fit under the limit
// (or the buffer is empty), for a data packet of ws.
static drpc_err
writer_wait_room_locked(
    drpc__writer *w, drpc__wstate *ws, size_t need, int64_t deadline_ns)
{
	for (;;) {
		if (w->stopped) {
			return w->stop_err;
		}
		if (atomic_load(&ws->abort)) {
			return DRPC_ECANCELED;
		}
		if (ws->closed) {
			return DRPC_ESTATE;
		}
		if (w->active.len == 0 || (w->active.len < w->room &&
					      need <= w->room - w->active.len)) {
			return DRPC_OK;
		}
		if (deadline_ns != 0 && drpc__now_ns() >= deadline_ns) {
			return DRPC_ETIMEDOUT;
		}
		int64_t slept = w->timed ? drpc__now_ns() : 0;

		w->waiters++;
		if (w->wait_hook != NULL) {
			w->wait_hook(w->wait_hook_arg);
		}
		(void) drpc__cond_wait_until(&w->space_cv, &w->mu, deadline_ns);
		w->waiters--;
		if (w->timed) {
			w->room_blocked_ns += drpc__now_ns() - slept;
		}
	}
}

static size_t
packet_wire_size(const drpc__packet *p, size_t split)
{
	return p->len +
	    drpc__packet_frames(p->kind, p->len, split) * DRPC__FRAME_HEADER_MAX;
}

// drpc__writer_unwritten_locked is what waits to be written: the active buffer
// and what is left of the one being written.
size_t
drpc__writer_unwritten_locked(const drpc__writer *w)
{
	return w->active.len + w->spare.len - w->spare_off;
}

// writer_append_whole_locked appends every packet with no wait in between.
static drpc_err
writer_append_whole_locked(
    drpc__writer *w, drpc__wstate *ws, drpc__packet *pkts, size_t n)
{
	drpc_err rv;

	for (size_t i = 0; i < n; i++) {
		size_t before = w->active.len;

		pkts[i].stream_id  = ws->stream_id;
		pkts[i].message_id = ws->next_msg_id;
		rv = drpc__packet_append(&w->active, &pkts[i], w->split);
		if (rv != DRPC_OK) {
			return rv;
		}
		if (!kind_is_bounded(pkts[i].kind)) {
			w->active_unheld += w->active.len - before;
		}
		ws->next_msg_id++;
		ws->known = true;
	}
	return DRPC_OK;
}

// writer_append_split_locked appends one large data packet frame by frame,
// waiting for room before each frame. A cancel or close of the stream in
// between stops it; the peer then drops the partial packet.
static drpc_err
writer_append_split_locked(drpc__writer *w, drpc__wstate *ws,
    drpc__packet *pkt, int64_t deadline, size_t *sent)
{
	size_t   off = 0;
	drpc_err rv;

	*sent = 0;
	pkt->stream_id  = ws->stream_id;
	pkt->message_id = ws->next_msg_id++;
	ws->known       = true;
	while (off < pkt->len) {
		size_t      n  = pkt->len - off < w->split ? pkt->len - off
							 : w->split;
		drpc__frame fr = {.stream_id = pkt->stream_id,
		    .message_id = pkt->message_id, .data = pkt->data + off,
		    .len = n, .kind = pkt->kind, .control = pkt->control,
		    .done = off + n == pkt->len};

		rv = writer_wait_room_locked(
		    w, ws, n + DRPC__FRAME_HEADER_MAX, deadline);
		if (rv != DRPC_OK) {
			return rv;
		}
		if ((rv = drpc__frame_append(&w->active, &fr)) != DRPC_OK) {
			return rv;
		}
		drpc__writer_kick_locked(w);
		off += n;
		*sent = off;
	}
	return DRPC_OK;
}

static drpc_err
writer_send_locked(drpc__writer *w, drpc__wstate *ws, drpc__packet *pkts,
    size_t n, int64_t deadline_ns)
{
	size_t        total   = 0;
	bool          bounded = false;
	drpc_err      rv      = DRPC_OK;
	drpc__packet *msg     = NULL; // the Message charged, if any
	size_t        sent    = 0;    // its body bytes that went out

	for (size_t i = 0; i < n; i++) {
		total += packet_wire_size(&pkts[i], w->split);
		bounded = bounded || kind_is_bounded(pkts[i].kind);
		if (pkts[i].kind == DRPC__KIND_MESSAGE && rv == DRPC_OK) {
			rv = writer_wait_credit_locked(
			    w, ws, pkts[i].len, deadline_ns);
			msg = rv == DRPC_OK ? &pkts[i] : msg;
		}
	}
	if (rv != DRPC_OK) {
		// Nothing went out; a Message charged before the failure
		// (there is at most one per call) is given back whole.
		if (msg != NULL) {
			writer_refund_locked(w, ws, msg->len, 0);
		}
		return rv;
	}
	if (!bounded) {
		return writer_append_whole_locked(w, ws, pkts, n);
	}
	if (total <= w->room && !(msg != NULL && w->self_write &&
				     msg->len >= DRPC__WRITER_DIRECT_MIN)) {
		rv = writer_wait_room_locked(w, ws, total, deadline_ns);
		rv = rv != DRPC_OK ? rv
				   : writer_append_whole_locked(w, ws, pkts, n);
		if (rv != DRPC_OK && msg != NULL) {
			writer_refund_locked(w, ws, msg->len, 0);
		}
		return rv;
	}
	for (size_t i = 0; i < n && rv == DRPC_OK; i++) {
		if (pkts[i].kind == DRPC__KIND_MESSAGE &&
		    pkts[i].len >= DRPC__WRITER_DIRECT_MIN && w->self_write) {
			rv = drpc__writer_send_direct_locked(
			    w, ws, &pkts[i], deadline_ns, &sent);
			if (rv != DRPC_OK) {
				writer_refund_locked(w, ws, pkts[i].len, sent);
			}
			msg = NULL;
			continue;
		}
		if (pkts[i].kind == DRPC__KIND_MESSAGE && pkts[i].len > 0) {
			rv = writer_append_split_locked(
			    w, ws, &pkts[i], deadline_ns, &sent);
			if (rv != DRPC_OK) {
				// Cut off: the receiver counts the frames
				// that went out and drops the packet.
				writer_refund_locked(w, ws, pkts[i].len, sent);
			}
			msg = NULL;
			continue;
		}
		// Terminal and control packets never wait for room (a
		// CloseSend after a direct Message, say).
		if (kind_is_bounded(pkts[i].kind)) {
			rv = writer_wait_room_locked(w, ws,
			    packet_wire_size(&pkts[i], w->split), deadline_ns);
		}
		if (rv == DRPC_OK) {
			rv = writer_append_whole_locked(w, ws, &pkts[i], 1);
		}
	}
	if (rv != DRPC_OK && msg != NULL) {
		writer_refund_locked(w, ws, msg->len, 0);
	}
	return rv;
}

// writer_appended_locked ends an append: a caller that will flush owes
// one drpc__writer_flush (counted in flushers, so that nobody wakes the
// drain thread for what it is about to write itself); any other append
// wakes the drain thread if nobody else will write.
static void
writer_appended_locked(drpc__writer *w, bool flush)
{
	if (flush && w->self_write) {
		w->flushers++;
		drpc__writer_note_locked(w);
		return;
	}
	drpc__writer_kick_locked(w);
}

drpc_err
drpc__writer_send(drpc__writer *w, drpc__wstate *ws, drpc__packet *pkts,
    size_t n, unsigned flags, int64_t deadline_ns)
{
	bool     terminal = (flags & DRPC__WS_TERMINAL) != 0;
	drpc_err rv;

	drpc__mutex_lock(&w->mu);
	if (w->stopped) {
		rv = w->stop_err;
	} else if (ws->closed) {
		rv = DRPC_ESTATE;
	} else if (!terminal && atomic_load(&ws->abort)) {
		// The stream has ended (or is being cancelled): nothing but
		// its final packet may follow. A CloseSend appended now could
		// land after the next stream's Invoke, which a one-stream
		// peer (upstream Go DRPC) takes as an id going backwards.
		rv = DRPC_ECANCELED;
	} else if (terminal && n == 1 && !ws->known) {
		ws->closed = true; // the peer never heard of it: say nothing
		rv         = DRPC_OK;
	} else {
		rv = writer_send_locked(w, ws, pkts, n, deadline_ns);
		if (rv == DRPC_OK && terminal) {
			ws->closed = true;
		}
	}
	writer_appended_locked(w, rv == DRPC_OK && (flags & DRPC__WS_FLUSH));
	drpc__mutex_unlock(&w->mu);
	return rv;
}

drpc_err
drpc__writer_send_prefix(drpc__writer *w, drpc__wstate *ws,
    drpc__packet *pkts, size_t n, size_t must, bool flush, size_t *sent)
{
	drpc_err rv = DRPC_OK;
	size_t   i  = 0;

	drpc__mutex_lock(&w->mu);
	if (w->stopped) {
		rv = w->stop_err;
	} else if (ws->closed) {
		rv = DRPC_ESTATE;
	} else {
		rv = writer_append_whole_locked(w, ws, pkts, must);
		for (i = must; rv == DRPC_OK && i < n; i++) {
			size_t need = packet_wire_size(&pkts[i], w->split);

			if (w->active.len >= w->room ||
			    need > w->room - w->active.len) {
				break;
			}
			if (pkts[i].kind == DRPC__KIND_MESSAGE) {
				if ((ws->gated && ws->credit <= 0) ||
				    (w->conn_gated && w->conn_credit <= 0)) {
					break;
				}
				ws->credit -= msg_charge(ws, pkts[i].len);
				w->conn_credit -= msg_charge(ws, pkts[i].len);
				ws->msgs++;
			}
			rv = writer_append_whole_locked(w, ws, &pkts[i], 1);
		}
	}
	writer_appended_locked(w, rv == DRPC_OK && flush);
	drpc__mutex_unlock(&w->mu);
	*sent = rv == DRPC_OK ? i : 0;
	return rv;
}

void
drpc__writer_cancel(drpc__writer *w, drpc__wstate *ws)
{
	drpc__packet cancel = {.stream_id = ws->stream_id,
	    .kind = DRPC__KIND_CANCEL, .control = true};

	atomic_store(&ws->abort, true);
	drpc__mutex_lock(&w->mu);
	if (!ws->closed && ws->known && !w->stopped) {
		size_t before = w->active.len;

		cancel.message_id = ws->next_msg_id++;
		if (drpc__packet_append(&w->active, &cancel, w->split) ==
		    DRPC_OK) {
			w->active_unheld += w->active.len - before;
			drpc__writer_kick_locked(w);
		}
	}
	ws->closed = true;
	if (w->waiters > 0 || w->direct_waiters > 0) {
		// Senders waiting for room, or for the write token (drain.c).
		drpc__cond_broadcast(&w->space_cv);
	}
	if (ws->credit_waiters > 0) {
		drpc__cond_broadcast(&ws->credit_cv);
	}
	if (w->conn_waiters > 0) {
		drpc__cond_broadcast(&w->conn_cv);
	}
	drpc__mutex_unlock(&w->mu);
}

void
drpc__writer_wake(drpc__writer *w, drpc__wstate *ws)
{
	atomic_store(&ws->abort, true);
	drpc__mutex_lock(&w->mu);
	if (w->waiters > 0 || w->direct_waiters > 0) {
		drpc__cond_broadcast(&w->space_cv);
	}
	if (ws->credit_waiters > 0) {
		drpc__cond_broadcast(&ws->credit_cv);
	}
	if (w->conn_waiters > 0) {
		drpc__cond_broadcast(&w->conn_cv);
	}
	drpc__mutex_unlock(&w->mu);
}

void
drpc__writer_conn_gate(drpc__writer *w, uint64_t window)
{
	drpc__mutex_lock(&w->mu);
	if (!w->conn_gated) {
		w->conn_gated = true;
		w->conn_credit += (int64_t) window;
	}
	if (w->conn_waiters > 0) {
		drpc__cond_broadcast(&w->conn_cv);
	}
	drpc__mutex_unlock(&w->mu);
}

void
drpc__writer_conn_credit(drpc__writer *w, uint64_t delta)
{
	drpc__mutex_lock(&w->mu);
	w->conn_credit = credit_add(w->conn_credit, delta);
	if (w->conn_waiters > 0) {
		drpc__cond_broadcast(&w->conn_cv);
	}
	drpc__mutex_unlock(&w->mu);
}

void
drpc__writer_gate(drpc__writer *w, drpc__wstate *ws, uint64_t window,
    uint64_t msg_cost, uint64_t gen)
{
	drpc__mutex_lock(&w->mu);
	if (gen < ws->gate_gen) {
		drpc__mutex_unlock(&w->mu); // stale: newer figures are in
		return;
	}
	ws->gate_gen = gen;
	if (!ws->gated) {
		ws->gated = true;
		ws->credit += (int64_t) window;
	} else if (window != ws->peer_window) {
		ws->credit += (int64_t) window - (int64_t) ws->peer_window;
	}
	// Messages charged at the assumed rate are recounted at the peer's:
	// its counts run at its own rate from the stream's start.
	if (msg_cost != ws->msg_cost) {
		int64_t adj = (int64_t) ws->msgs *
		    ((int64_t) ws->msg_cost - (int64_t) msg_cost);

		ws->credit += adj;
		w->conn_credit += adj;
		if (adj > 0 && w->conn_waiters > 0) {
			// The recount raised the connection's credit too.
			drpc__cond_broadcast(&w->conn_cv);
		}
	}
	ws->peer_window = window;
	ws->msg_cost    = msg_cost;
	if (ws->credit_waiters > 0) {
		drpc__cond_broadcast(&ws->credit_cv);
	}
	drpc__mutex_unlock(&w->mu);
}

void
drpc__writer_credit(drpc__writer *w, drpc__wstate *ws, uint64_t delta)
{
	drpc__mutex_lock(&w->mu);
	ws->credit = credit_add(ws->credit, delta);
	if (ws->credit_waiters > 0) {
		drpc__cond_broadcast(&ws->credit_cv);
	}
	drpc__mutex_unlock(&w->mu);
}

void
drpc__writer_window_update(drpc__writer *w, uint64_t stream_id, uint64_t delta)
{
	uint8_t body[10];

	if (delta > 0) {
		(void) drpc__writer_control(w, NULL, stream_id,
		    DRPC__KIND_WINDOW_UPDATE, body,
		    (size_t) (drpc__varint_put(body, delta) - body));
	}
}

drpc_err
drpc__writer_control(drpc__writer *w, drpc__wstate *ws, uint64_t stream_id,
    uint8_t kind, const uint8_t *body, size_t len)
{
	drpc__frame f = {.stream_id = stream_id, .data = body, .len = len,
	    .kind = kind, .done = true, .control = true};
	drpc_err    rv;

	drpc__mutex_lock(&w->mu);
	if (w->stopped) {
		rv = w->stop_err;
	} else {
		size_t before = w->active.len;

		if (ws != NULL) {
			f.message_id = ws->next_msg_id++;
		}
		if ((rv = drpc__frame_append(&w->active, &f)) == DRPC_OK) {
			w->active_unheld += w->active.len - before;
			drpc__writer_kick_locked(w);
		}
	}
	drpc__mutex_unlock(&w->mu);
	return rv;
}

void
drpc__writer_stop(drpc__writer *w, drpc_err err, bool graceful)
{
	drpc__mutex_lock(&w->mu);
	if (!w->stopped) {
		w->stopped  = true;
		w->stop_err = err;
		w->graceful = graceful;
		drpc__cond_broadcast(&w->drain_cv);
		drpc__cond_broadcast(&w->space_cv);
		drpc__cond_broadcast(&w->back_cv);
		drpc__cond_broadcast(&w->conn_cv);
	}
	drpc__mutex_unlock(&w->mu);
}

void
drpc__writer_get_stats(drpc__writer *w, drpc__writer_stats *st)
{
	drpc__mutex_lock(&w->mu);
	*st = (drpc__writer_stats) {w->writes, w->drain_writes,
	    w->drain_wakes, w->flush_writes, w->direct_bytes, w->handoffs};
	drpc__mutex_unlock(&w->mu);
}

size_t
drpc__writer_unwritten(drpc__writer *w)
{
	size_t n;

	drpc__mutex_lock(&w->mu);
	n = drpc__writer_unwritten_locked(w);
	drpc__mutex_unlock(&w->mu);
	return n;
}

bool
drpc__writer_backlog(drpc__writer *w)
{
	return atomic_load_explicit(&w->backlog, memory_order_relaxed);
}

drpc_err
drpc__writer_wait_backlog(
    drpc__writer *w, int64_t timeout_ns, size_t *unwritten)
{
	int64_t  start = drpc__now_ns();
	drpc_err rv    = DRPC_OK;

	drpc__mutex_lock(&w->mu);
	for (;;) {
		int64_t last  = w->wrote_ns > start ? w->wrote_ns : start;
		int64_t until = 0;

		if (timeout_ns > 0) {
			until = last > INT64_MAX - timeout_ns ? INT64_MAX
							      : last + timeout_ns;
		}

		if (w->stopped) {
			break;
		}
		if (drpc__writer_unheld_locked(w) < w->limit) {
			atomic_store_explicit(
			    &w->backlog, false, memory_order_relaxed);
			break;
		}
		if (until != 0 && drpc__now_ns() >= until) {
			*unwritten = drpc__writer_unwritten_locked(w);
			rv         = DRPC_ETIMEDOUT;
			break;
		}
		w->back_waiting = true;
		(void) drpc__cond_wait_until(&w->back_cv, &w->mu, until);
		w->back_waiting = false;
	}
	drpc__mutex_unlock(&w->mu);
	return rv;
}

drpc_err
drpc__writer_wait_exit(drpc__writer *w, int64_t deadline_ns)
{
	drpc_err rv = DRPC_OK;

	drpc__mutex_lock(&w->mu);
	while (!w->exited && rv == DRPC_OK) {
		rv = drpc__cond_wait_until(&w->space_cv, &w->mu, deadline_ns);
	}
	rv = w->exited ? DRPC_OK : DRPC_ETIMEDOUT;
	drpc__mutex_unlock(&w->mu);
	return rv;
}

void
drpc__writer_join(drpc__writer *w)
{
	drpc__thread_join(w->thread);
}

void
drpc__writer_fini(drpc__writer *w)
{
	drpc__buf_fini(&w->active);
	drpc__buf_fini(&w->spare);
	drpc__cond_fini(&w->conn_cv);
	drpc__cond_fini(&w->back_cv);
	drpc__cond_fini(&w->space_cv);
	drpc__cond_fini(&w->drain_cv);
	drpc__mutex_fini(&w->mu);
}

