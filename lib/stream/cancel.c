// Ending a stream early (stream.h): a local cancel (a context's, a
// deadline's, the user's, the connection's close) sends Cancel, or, for a
// server whose propagated deadline passed, an Error carrying
// DeadlineExceeded; the final Error that cuts off a message in progress
// (drpc__stream_error_locked: also the reader's overrun and too-big
// ends, recv.c); a handler told of its stream's end through its context.
//
// Locks: drpc__stream_cancel takes s->mu, then the writer's mu (the
// Cancel or Error, appended without waiting) and the leaf locks of
// termination (state.c); cancel_err is set under s->mu, and read under it
// by cancel_reason and recv. drpc__stream_cancel_owned_ctx must be called
// with no stream lock held: the context's mu comes first (it runs the
// context's listeners, this stream's among them).
//
// Callers: any thread. drpc__stream_cancel runs from the context's
// listener (stream_on_ctx, under the context's mu), from a user thread
// whose wait timed out (send.c, recv.c), from drpc_stream_cancel, from
// the connection (drpc__conn_cancel_streams), and from the reader
// on a peer's Cancel past our deadline (recv.c).
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

// drpc__stream_cancel_owned_ctx tells a handler, through its context, that its
// stream was cancelled or lost. No stream lock may be held (ctx first).
void
drpc__stream_cancel_owned_ctx(drpc__stream *s)
{
	if (s->owns_ctx) {
		drpc_ctx_cancel(s->ctx);
	}
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

drpc_err
drpc__stream_cancel_reason(drpc__stream *s)
{
	drpc_err why;

	drpc__mutex_lock(&s->mu);
	why = s->cancel_err;
	drpc__mutex_unlock(&s->mu);
	return why;
}
