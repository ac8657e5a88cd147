// Internal side of contexts: listeners that let a stream (or a child
// context) react to cancellation without a thread watching it.
//
// Lock order: a context's mu before its children's and before any stream's
// mu. Listener callbacks run with the context's mu held, so they must not
// call any drpc_ctx function; they take their own lock, flag, and wake.
#ifndef DRPC_CTX_CTX_H
#define DRPC_CTX_CTX_H

#include <stdbool.h>

#include <drpc/ctx.h>

typedef struct drpc__ctx_listener drpc__ctx_listener;

struct drpc__ctx_listener {
	void (*fn)(void *arg, drpc_err why);
	void               *arg;
	drpc__ctx_listener *prev; // guarded by the context's mu
	drpc__ctx_listener *next;
};

// drpc__ctx_listen links l into ctx, to be called once when ctx is
// cancelled. If ctx is already done it links nothing and returns the
// reason; otherwise DRPC_OK. A NULL ctx never fires.
drpc_err drpc__ctx_listen(drpc_ctx *ctx, drpc__ctx_listener *l);

// drpc__ctx_unlisten unlinks l (a no-op if it already fired or was never
// linked). After it returns, l's callback is not running and never will.
void drpc__ctx_unlisten(drpc_ctx *ctx, drpc__ctx_listener *l);

#endif // DRPC_CTX_CTX_H
