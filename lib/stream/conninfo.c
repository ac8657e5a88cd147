// A stream's view of its connection (drpc/conninfo.h): the id and user
// pointer handlers and interceptors ask for, and the counts the server
// keeps through its streams (drpc_conn_stats).
//
// Locks: the tag's id and user are immutable, its counts relaxed atomics
// (stream.h, drpc__conn_tag). drpc__stream_failed_locked reads the end
// (has_remote, cancel_err, recv_err) with s->mu held: the connection's
// forget, under the stream's terminate; drpc__stream_failed takes s->mu.
//
// Callers: handlers and interceptors (any thread) for the id and user;
// the server's report.c (reader or handler thread) for the counts; the
// connection (conn.c) for failed.
#include <stdatomic.h>

#include <drpc/conninfo.h>

#include "platform/thread.h"
#include "stream/stream_impl.h"

uint64_t
drpc_stream_conn_id(const drpc_stream *s)
{
	return s != NULL && s->owner.tag != NULL ? s->owner.tag->id : 0;
}

void *
drpc_stream_conn_user(const drpc_stream *s)
{
	return s != NULL && s->owner.tag != NULL ? s->owner.tag->user : NULL;
}

void
drpc__stream_note_refused(drpc__stream *s)
{
	if (s->owner.tag != NULL) {
		atomic_fetch_add_explicit(
		    &s->owner.tag->refused, 1, memory_order_relaxed);
	}
}

void
drpc__stream_note_failed(drpc__stream *s)
{
	if (s->owner.tag != NULL) {
		atomic_fetch_add_explicit(
		    &s->owner.tag->failed, 1, memory_order_relaxed);
	}
}

bool
drpc__stream_failed(drpc__stream *s)
{
	bool failed;

	drpc__mutex_lock(&s->mu);
	failed = drpc__stream_failed_locked(s);
	drpc__mutex_unlock(&s->mu);
	return failed;
}

bool
drpc__stream_failed_locked(const drpc__stream *s)
{
	// A normal end reports DRPC_EOF (both sides sent CloseSend) or
	// DRPC_ECLOSED (closed here); anything else is a failure.
	return s->has_remote || s->cancel_err != DRPC_OK ||
	       (s->recv_err != DRPC_EOF && s->recv_err != DRPC_ECLOSED);
}
