// A stream's life and end (stream.h): creation, references and the free,
// the link to its context, the creator's destroy, and termination, which
// every way a stream ends goes through; also the server's per-RPC fields
// (method, metadata, the handler's error override, on_last) and the
// peer's Error as recorded.
//
// Termination records two errors: recv_err, what recv reports once the
// queue is drained, and send_err, what send reports. It closes the ring,
// wakes every waiter (cv: user threads; space_cv: the reader; the writer's
// wait for room) and leaves the owner's registry in the same critical
// section, so whoever wakes on the end finds the registry updated.
// Outgoing terminal packets (Close, Error, Cancel: send.c, cancel.c) close
// the stream's writer state, so nothing of it is written after them.
//
// Locks: terminated, recv_err, send_err, the ring's close and the remote
// error are guarded by s->mu; terminate and end_quiet run with it held and
// take the writer's mu (drpc__writer_wake) and the owner's leaf lock
// (forget) under it. refs, ended and on_last_due are atomics; watching and
// adopted belong to the creator's thread; method, md and err_* are set
// before the handler runs, then its thread's. The context's mu comes
// before s->mu: stream_on_ctx runs under it (ctx.h listeners).
//
// Callers: create and watch_ctx on the opener's thread (a client's caller
// in drpc__conn_open) or the reader thread (a new server stream: conn's
// invoke.c); destroy and adopt_ctx on the thread that holds the
// creator's handle (the caller; a server's handler thread once the
// handler returned, or the reader thread for an RPC it refused); hold and
// rele from any thread; conn_lost from whichever thread ends the
// connection; the terminate functions from the other files of lib/stream.
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

bool
drpc__stream_is_terminated(drpc__stream *s)
{
	return atomic_load(&s->ended);
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

void
drpc__stream_abandon(drpc__stream *s)
{
	drpc__mutex_lock(&s->mu);
	drpc__stream_terminate_locked(s, DRPC_ECLOSED, DRPC_ECLOSED);
	drpc__mutex_unlock(&s->mu);
}
