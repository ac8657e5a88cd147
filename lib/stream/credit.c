// Flow and memory accounting of a stream's receive side (docs/design.md
// §8, §9): the connection's memory account (rxmem) gives back the bytes of
// messages that leave memory; the connection's flow account (fconn) counts
// bytes consumed and sends the connection's grant when due; the stream's
// receive window (s->rx) grants credit as the application consumes
// (drpc__stream_grant_locked); flow control turns on with the peer's
// figures (drpc__stream_flow_on); the peer's window updates become send
// credit (drpc__stream_on_window, kept by the writer).
//
// Locks: s->rx, the ring and recv_closed are guarded by s->mu
// (grant_locked and clear_locked run with it held; flow_on takes it).
// fconn has its own mu, and rxmem is atomics with a mu for the reader's
// wait, both leaves below s->mu: mem_gone and conn_consumed may run with
// any lock held but those. Window updates are appended under the
// writer's mu, once fconn's is released.
//
// Callers: the receiving user thread (recv.c's recv_done, through these),
// the reader thread (recv.c; on_window from conn's reader.c), whoever
// cancels or ends the stream (clear_locked), the connection when it
// learns the peer's figures (flow_on: reader thread, or the opener), and
// the last reference's rele (state.c).
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
