// Design notes: a context is a node in a tree. Cancellation walks down the
// tree through listeners (a child is one of its parent's listeners), under
// each node's own mutex, parent first. Deadlines need no timer thread: the
// deadline is fixed at creation (the earlier of the node's own and its
// parent's), every blocked stream operation waits with it as a timeout,
// and drpc_ctx_err reports DRPC_ETIMEDOUT once it has passed (firing the
// listeners then, so other streams learn of it too).
#include <stdlib.h>
#include <time.h>

#include "ctx/ctx.h"
#include "platform/thread.h"

struct drpc_ctx {
	drpc_ctx          *parent;      // immutable
	int64_t            deadline_ns; // immutable; 0 = none
	drpc__ctx_listener in_parent;   // our listener on parent

	pthread_mutex_t     mu;
	pthread_cond_t      cv;        // drpc_ctx_wait sleeps here
	drpc_err            err;       // guarded by mu; DRPC_OK while live
	drpc__ctx_listener *listeners; // guarded by mu
};

int64_t
drpc_now_ns(void)
{
	return drpc__now_ns();
}

// ctx_fire_locked records why and runs every listener once.
static void
ctx_fire_locked(drpc_ctx *ctx, drpc_err why)
{
	drpc__ctx_listener *l;

	if (ctx->err != DRPC_OK) {
		return;
	}
	ctx->err = why;
	drpc__cond_broadcast(&ctx->cv);
	while ((l = ctx->listeners) != NULL) {
		ctx->listeners = l->next;
		if (l->next != NULL) {
			l->next->prev = NULL;
		}
		l->next = l->prev = NULL;
		l->fn(l->arg, why);
	}
}

static void
ctx_fire(drpc_ctx *ctx, drpc_err why)
{
	drpc__mutex_lock(&ctx->mu);
	ctx_fire_locked(ctx, why);
	drpc__mutex_unlock(&ctx->mu);
}

static void
ctx_on_parent(void *arg, drpc_err why)
{
	ctx_fire(arg, why);
}

drpc_err
drpc_ctx_create_deadline(
    drpc_ctx **ctxp, drpc_ctx *parent, int64_t deadline_ns)
{
	drpc_ctx *ctx;
	drpc_err  why;

	if (ctxp == NULL || deadline_ns < 0) {
		return DRPC_EINVAL;
	}
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL) {
		return DRPC_ENOMEM;
	}
	drpc__mutex_init(&ctx->mu);
	drpc__cond_init(&ctx->cv);
	ctx->parent      = parent;
	ctx->deadline_ns = deadline_ns;
	if (parent != NULL) {
		int64_t pd = parent->deadline_ns;

		if (pd != 0 && (ctx->deadline_ns == 0 || pd < ctx->deadline_ns)) {
			ctx->deadline_ns = pd;
		}
		ctx->in_parent.fn  = ctx_on_parent;
		ctx->in_parent.arg = ctx;
		if ((why = drpc__ctx_listen(parent, &ctx->in_parent)) !=
		    DRPC_OK) {
			ctx->err = why; // born cancelled
		}
	}
	*ctxp = ctx;
	return DRPC_OK;
}

drpc_err
drpc_ctx_create(drpc_ctx **ctxp, drpc_ctx *parent)
{
	return drpc_ctx_create_deadline(ctxp, parent, 0);
}

drpc_err
drpc_ctx_create_timeout(drpc_ctx **ctxp, drpc_ctx *parent, int64_t timeout_ms)
{
	if (timeout_ms < 0) {
		timeout_ms = 0;
	}
	// +1: a zero timeout is a deadline (already passed), never "none".
	int64_t dl = drpc__deadline_in_ms(timeout_ms);

	return drpc_ctx_create_deadline(
	    ctxp, parent, dl < INT64_MAX ? dl + 1 : dl);
}

void
drpc_ctx_cancel(drpc_ctx *ctx)
{
	if (ctx != NULL) {
		ctx_fire(ctx, DRPC_ECANCELED);
	}
}

drpc_err
drpc_ctx_err(drpc_ctx *ctx)
{
	drpc_err err;

	if (ctx == NULL) {
		return DRPC_OK;
	}
	drpc__mutex_lock(&ctx->mu);
	if (ctx->err == DRPC_OK && ctx->deadline_ns != 0 &&
	    drpc__now_ns() >= ctx->deadline_ns) {
		ctx_fire_locked(ctx, DRPC_ETIMEDOUT);
	}
	err = ctx->err;
	drpc__mutex_unlock(&ctx->mu);
	return err;
}

drpc_err
drpc_ctx_wait(drpc_ctx *ctx, int64_t deadline_ns)
{
	int64_t  dl;
	drpc_err err;

	if (ctx == NULL && deadline_ns == 0) {
		return DRPC_EINVAL;
	}
	dl = drpc_ctx_deadline(ctx);
	if (dl == 0 || (deadline_ns != 0 && deadline_ns < dl)) {
		dl = deadline_ns;
	}
	if (ctx == NULL) {
		struct timespec ts;
		int64_t         left = dl - drpc__now_ns();

		if (left > 0) {
			ts.tv_sec  = (time_t) (left / 1000000000);
			ts.tv_nsec = (long) (left % 1000000000);
			nanosleep(&ts, NULL);
		}
		return DRPC_OK;
	}
	drpc__mutex_lock(&ctx->mu);
	while (ctx->err == DRPC_OK &&
	    drpc__cond_wait_until(&ctx->cv, &ctx->mu, dl) == DRPC_OK) {
	}
	drpc__mutex_unlock(&ctx->mu);
	err = drpc_ctx_err(ctx); // fires the listeners if the deadline passed
	return err;
}

int64_t
drpc_ctx_deadline(const drpc_ctx *ctx)
{
	return ctx == NULL ? 0 : ctx->deadline_ns;
}

void
drpc_ctx_destroy(drpc_ctx *ctx)
{
	if (ctx == NULL) {
		return;
	}
	if (ctx->parent != NULL) {
		drpc__ctx_unlisten(ctx->parent, &ctx->in_parent);
	}
	DRPC__ASSERT(ctx->listeners == NULL); // a live child or stream
	drpc__cond_fini(&ctx->cv);
	drpc__mutex_fini(&ctx->mu);
	free(ctx);
}

drpc_err
drpc__ctx_listen(drpc_ctx *ctx, drpc__ctx_listener *l)
{
	drpc_err err;

	l->prev = l->next = NULL;
	if (ctx == NULL) {
		return DRPC_OK;
	}
	drpc__mutex_lock(&ctx->mu);
	if ((err = ctx->err) == DRPC_OK) {
		l->next = ctx->listeners;
		if (l->next != NULL) {
			l->next->prev = l;
		}
		ctx->listeners = l;
	}
	drpc__mutex_unlock(&ctx->mu);
	return err;
}

void
drpc__ctx_unlisten(drpc_ctx *ctx, drpc__ctx_listener *l)
{
	if (ctx == NULL) {
		return;
	}
	drpc__mutex_lock(&ctx->mu);
	if (l->prev != NULL) {
		l->prev->next = l->next;
	} else if (ctx->listeners == l) {
		ctx->listeners = l->next;
	}
	if (l->next != NULL) {
		l->next->prev = l->prev;
	}
	l->prev = l->next = NULL;
	drpc__mutex_unlock(&ctx->mu);
}
