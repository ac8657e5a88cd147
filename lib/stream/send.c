// The send path (stream.h): a client's invoke sequence, Messages,
// send_last's Message and CloseSend as one unit, CloseSend, and the
// terminal Close and Error this side sends; control frames (a hello's
// answer) in the stream's sequence.
//
// Packets go through the connection's writer (mux/writer.h), which owns
// the stream's writer state (s->ws, guarded by w->mu) and its send credit:
// a send waits there for room or credit, never holding s->mu (the reader
// needs it meanwhile), except CloseSend, Close and Error, which never wait
// and are appended under s->mu so no end can overtake them. Who writes:
// the sender itself on a latency path (stream_flush: its first Message,
// or after a receive that waited, while few streams are open), the drain
// thread otherwise. sends_run (a relaxed atomic) counts the Messages since
// a receive that waited (recv.c resets it). send_closed, terminated,
// send_err and cancel_err are read and set under s->mu.
//
// Callers: the stream's one sending thread (a client's caller, a server's
// handler); send_invoke on the opener's thread under the connection's
// order_mu (which it releases); send_control on the reader thread;
// close and send_error from any thread; invoked on the opener's thread.
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

bool
drpc__stream_invoked(drpc__stream *s)
{
	bool known;

	drpc__mutex_lock(&s->w->mu);
	known = s->ws.known;
	drpc__mutex_unlock(&s->w->mu);
	return known;
}
