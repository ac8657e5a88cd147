// Calls on a channel: which backend takes a call, and waiting for one.
//
// A call is never sent twice: an open that finds its connection ended or
// draining failed before anything of it was written (drpc__conn_open
// checks under the connection's locks), so trying the next backend is
// not a retry. Once a stream is open its fate is its connection's.
#include <stdlib.h>
#include <string.h>

#include "channel/channel_impl.h"
#include "client/client.h"
#include "common/cause.h"
#include "conn/conn.h"
#include "ctx/ctx.h"
#include "platform/thread.h"

// state_locked is the channel's state as drpc_channel_get_state tells it.
static drpc_channel_state
state_locked(const drpc_channel *ch)
{
	const chan_backend *b;

	if (ch->closing) {
		return DRPC_CHANNEL_SHUTDOWN;
	}
	for (b = ch->backends; b != NULL; b = b->next) {
		if (!b->removed && chan_usable_locked(b->cur)) {
			return DRPC_CHANNEL_READY;
		}
	}
	if (!ch->wanted) {
		return DRPC_CHANNEL_IDLE;
	}
	for (b = ch->backends; b != NULL; b = b->next) {
		if (chan_wanted_locked(ch, b) && !b->failing) {
			return DRPC_CHANNEL_CONNECTING;
		}
	}
	return DRPC_CHANNEL_TRANSIENT_FAILURE;
}

// pick_locked chooses the connection for a call, or NULL if none is
// ready. Round-robin takes the ready backends in turn; pick-first takes the chosen backend, or any ready one while the
// choice moves.
static chan_conn *
pick_locked(drpc_channel *ch)
{
	chan_backend *b;
	size_t        start;
	size_t        i;

	if (ch->opts.lb == DRPC_LB_PICK_FIRST && ch->chosen != NULL &&
	    !ch->chosen->removed && chan_usable_locked(ch->chosen->cur)) {
		return ch->chosen->cur;
	}
	// The k-th ready backend, k moving one per call: calls spread evenly
	// over the ready ones, however many are not.
	for (i = 0, b = ch->backends; b != NULL; b = b->next) {
		i += !b->removed && chan_usable_locked(b->cur);
	}
	if (i == 0) {
		return NULL;
	}
	start = (size_t) (ch->rr++ % i);
	for (b = ch->backends;; b = b->next) {
		if (!b->removed && chan_usable_locked(b->cur) && start-- == 0) {
			return b->cur;
		}
	}
}

// A call waiting for a backend learns of its context's end through a
// listener (which runs under the context's lock, then takes the
// channel's: the lock order of channel_impl.h).
typedef struct chan_wait {
	drpc_channel *ch;
	bool          fired; // guarded by ch->mu
} chan_wait;

static void
wait_fired(void *arg, drpc_err why)
{
	chan_wait *w = arg;

	(void) why;
	drpc__mutex_lock(&w->ch->mu);
	w->fired = true;
	drpc__cond_broadcast(&w->ch->ready_cv);
	drpc__mutex_unlock(&w->ch->mu);
}

static void
unavailable(const drpc_channel *ch, drpc_cause *why)
{
	if (ch->last.code != DRPC_OK) {
		(void) drpc__cause_set(
		    why, DRPC_EUNAVAIL, "no backend ready: %s", ch->last.text);
	} else {
		(void) drpc__cause_set(why, DRPC_EUNAVAIL,
		    "no backend ready: no connection made yet");
	}
}

// open_on tries the open on cn (a user of it held; mu not held) and says
// whether the failure means "this connection takes no calls".
static drpc_err
open_on(chan_conn *cn, drpc_ctx *ctx, const drpc__stream_invoke *inv,
    drpc__stream **sp, bool *gone)
{
	drpc__conn *core = drpc__client_core(cn->cc);
	drpc_err    rv   = drpc__conn_open(core, ctx, inv, sp);

	*gone = rv == DRPC_EUNAVAIL &&
	    (drpc__conn_err(core) != DRPC_OK || drpc__conn_draining(core));
	return rv;
}

drpc_err
drpc__channel_open(drpc_channel *ch, drpc_ctx *ctx,
    const drpc__stream_invoke *inv, bool wait_for_ready, drpc__stream **sp,
    drpc_cause *why)
{
	chan_wait          w  = {ch, false};
	drpc__ctx_listener l  = {wait_fired, &w, NULL, NULL};
	int64_t            dl = drpc_ctx_deadline(ctx);
	bool               listening = false;
	bool               closing;
	drpc_err           rv;

	drpc_cause_clear(why);
	if ((rv = drpc_ctx_err(ctx)) != DRPC_OK) {
		return rv;
	}
	atomic_fetch_add(&ch->opens, 1);
	drpc__mutex_lock(&ch->mu);
	for (;;) {
		chan_conn *cn;
		bool       gone;

		if (ch->closing) {
			rv = DRPC_ECANCELED;
			break;
		}
		if (!ch->wanted) {
			chan_start_locked(ch);
		}
		if ((cn = pick_locked(ch)) != NULL) {
			atomic_fetch_add(&cn->users, 1);
			if (ch->hooks.on_pick != NULL) {
				ch->hooks.on_pick(ch->hooks.arg, cn->b->addr);
			}
			drpc__mutex_unlock(&ch->mu);
			rv = open_on(cn, ctx, inv, sp, &gone);
			if (!gone) {
				chan_conn_release(cn);
				goto out; // the one lock of a call: the pick's
			}
			// Never reached the wire: off the rotation, next one.
			drpc__mutex_lock(&ch->mu);
			cn->draining = true;
			drpc__cond_broadcast(&cn->b->cv);
			drpc__mutex_unlock(&ch->mu);
			chan_conn_release(cn);
			drpc__mutex_lock(&ch->mu);
			continue;
		}
		if (!wait_for_ready &&
		    state_locked(ch) == DRPC_CHANNEL_TRANSIENT_FAILURE) {
			unavailable(ch, why);
			rv = DRPC_EUNAVAIL;
			break;
		}
		if (!listening && ctx != NULL) {
			drpc__mutex_unlock(&ch->mu);
			rv = drpc__ctx_listen(ctx, &l);
			drpc__mutex_lock(&ch->mu);
			if (rv != DRPC_OK) {
				break;
			}
			listening = true;
			continue;
		}
		if (w.fired) {
			rv = DRPC_ECANCELED; // the context's own reason below
			break;
		}
		if (dl != 0 && drpc__now_ns() >= dl) {
			rv = DRPC_ETIMEDOUT;
			break;
		}
		(void) drpc__cond_wait_until(&ch->ready_cv, &ch->mu, dl);
	}
	drpc__mutex_unlock(&ch->mu);
out:
	closing = atomic_load(&ch->closing_a);
	if (listening) {
		drpc__ctx_unlisten(ctx, &l);
	}
	if (w.fired && drpc_ctx_err(ctx) != DRPC_OK) {
		rv = drpc_ctx_err(ctx);
	}
	if (closing) {
		// Overlapped the channel's destruction: no stream escapes it.
		if (rv == DRPC_OK) {
			drpc__stream_cancel(*sp, DRPC_ECANCELED);
			drpc__stream_destroy(*sp);
			*sp = NULL;
		}
		rv = DRPC_ECANCELED;
		(void) drpc__cause_set(why, rv, "channel destroyed");
	}
	chan_leave(ch);
	return rv;
}

drpc_err
drpc__channel_err(drpc_channel *ch, drpc_cause *cause)
{
	drpc_err rv;

	drpc_cause_clear(cause);
	drpc__mutex_lock(&ch->mu);
	switch (state_locked(ch)) {
	case DRPC_CHANNEL_READY:
		rv = DRPC_OK;
		break;
	case DRPC_CHANNEL_SHUTDOWN:
		rv = drpc__cause_set(cause, DRPC_ECANCELED, "channel destroyed");
		break;
	default:
		unavailable(ch, cause);
		rv = DRPC_EUNAVAIL;
		break;
	}
	drpc__mutex_unlock(&ch->mu);
	return rv;
}

drpc_channel_state
drpc_channel_get_state(drpc_channel *ch, bool connect)
{
	drpc_channel_state st;

	if (ch == NULL) {
		return DRPC_CHANNEL_SHUTDOWN;
	}
	drpc__mutex_lock(&ch->mu);
	if (connect && !ch->wanted && !ch->closing) {
		chan_start_locked(ch);
	}
	st = state_locked(ch);
	drpc__mutex_unlock(&ch->mu);
	return st;
}

drpc_err
drpc_channel_wait_ready(drpc_channel *ch, int64_t deadline_ns)
{
	drpc_err rv = DRPC_OK;

	if (ch == NULL) {
		return DRPC_EINVAL;
	}
	drpc__mutex_lock(&ch->mu);
	if (!ch->wanted && !ch->closing) {
		chan_start_locked(ch);
	}
	for (;;) {
		drpc_channel_state st = state_locked(ch);

		if (st == DRPC_CHANNEL_READY || st == DRPC_CHANNEL_SHUTDOWN) {
			rv = st == DRPC_CHANNEL_READY ? DRPC_OK : DRPC_ECANCELED;
			break;
		}
		if (deadline_ns != 0 && drpc__now_ns() >= deadline_ns) {
			rv = DRPC_ETIMEDOUT;
			break;
		}
		// destroy waits for this thread to leave: it is counted
		// while it waits (and wakes it: ready_cv).
		atomic_fetch_add(&ch->opens, 1);
		(void) drpc__cond_wait_until(
		    &ch->ready_cv, &ch->mu, deadline_ns);
		chan_left_locked(ch);
	}
	drpc__mutex_unlock(&ch->mu);
	return rv;
}

// chan_count is what the tests' counters count, one walk for the three.
typedef enum { COUNT_READY, COUNT_BACKENDS, COUNT_CONNS } chan_counted;

static size_t
chan_count(drpc_channel *ch, chan_counted what)
{
	size_t n = 0;

	drpc__mutex_lock(&ch->mu);
	for (const chan_backend *b = ch->backends; b != NULL; b = b->next) {
		switch (what) {
		case COUNT_READY:
			n += !b->removed && chan_usable_locked(b->cur);
			break;
		case COUNT_BACKENDS:
			n += !b->removed && !b->exited;
			break;
		case COUNT_CONNS:
			n += b->cur != NULL;
			for (const chan_conn *cn = b->retired; cn != NULL;
			     cn = cn->next) {
				n++;
			}
			break;
		}
	}
	drpc__mutex_unlock(&ch->mu);
	return n;
}

size_t
drpc__channel_ready_count(drpc_channel *ch)
{
	return chan_count(ch, COUNT_READY);
}

size_t
drpc__channel_backend_count(drpc_channel *ch)
{
	return chan_count(ch, COUNT_BACKENDS);
}

size_t
drpc__channel_conn_count(drpc_channel *ch)
{
	return chan_count(ch, COUNT_CONNS);
}
