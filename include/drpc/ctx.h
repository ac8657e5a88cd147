// Contexts: cancellation and deadlines for calls and streams.
//
// A context is cancelled explicitly (drpc_ctx_cancel), by its deadline
// passing, or by its parent being cancelled. A stream opened with a context
// is cancelled with it: the library sends a Cancel to the peer, wakes every
// thread blocked on the stream, and reports DRPC_ECANCELED or
// DRPC_ETIMEDOUT. NULL is accepted wherever a context is, meaning "never
// cancelled, no deadline".
//
// Time: timeouts are relative int64_t milliseconds (names end in _ms),
// deadlines absolute int64_t nanoseconds on drpc_now_ns()'s monotonic
// clock (deadline_ns); docs/api.md, "Time", says what 0 means for each.
// A single call's deadline needs no context: drpc_call_opts.timeout_ms.
//
// Thread safety: every function may be called from any thread at any time,
// except drpc_ctx_destroy, which must be the last use of a context: after
// every stream opened with it has been closed, and after its children are
// destroyed.
#ifndef DRPC_CTX_H
#define DRPC_CTX_H

#include <stdint.h>

#include <drpc/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drpc_ctx drpc_ctx;

// drpc_ctx_create makes a context that is cancelled when parent is (parent
// may be NULL) and inherits its deadline. parent must outlive it.
// Errors: DRPC_EINVAL (ctxp NULL), DRPC_ENOMEM.
DRPC_API drpc_err drpc_ctx_create(drpc_ctx **ctxp, drpc_ctx *parent);

// drpc_ctx_create_timeout is drpc_ctx_create with a deadline timeout_ms
// milliseconds from now (the earlier of it and the parent's applies). A
// negative timeout is zero (already expired); a huge one saturates (as
// good as none) instead of overflowing.
DRPC_API drpc_err drpc_ctx_create_timeout(
    drpc_ctx **ctxp, drpc_ctx *parent, int64_t timeout_ms);

// drpc_ctx_create_deadline is drpc_ctx_create with an absolute deadline on
// the drpc_now_ns() clock (CLOCK_MONOTONIC); 0 is none (as
// drpc_ctx_create), a negative one DRPC_EINVAL.
DRPC_API drpc_err drpc_ctx_create_deadline(
    drpc_ctx **ctxp, drpc_ctx *parent, int64_t deadline_ns);

// drpc_ctx_cancel cancels ctx and its descendants (DRPC_ECANCELED). It
// never blocks on I/O; calling it again, or on NULL, is a no-op.
DRPC_API void drpc_ctx_cancel(drpc_ctx *ctx);

// drpc_ctx_err is DRPC_OK while ctx is live, DRPC_ECANCELED once
// cancelled, DRPC_ETIMEDOUT once its deadline has passed.
DRPC_API drpc_err drpc_ctx_err(drpc_ctx *ctx);

// drpc_ctx_wait blocks until ctx is done or the monotonic deadline_ns
// passes (0 = no limit but the context's own). Returns the context's
// error if it is done (DRPC_ECANCELED, DRPC_ETIMEDOUT), DRPC_OK if
// deadline_ns came first. With ctx NULL and deadline_ns 0 it would never
// return: that is DRPC_EINVAL. A handler uses it to wait "for N ms or
// until the call is cancelled".
DRPC_API drpc_err drpc_ctx_wait(drpc_ctx *ctx, int64_t deadline_ns);

// drpc_ctx_deadline is ctx's effective deadline in drpc_now_ns() time, or
// 0 if it has none.
DRPC_API int64_t drpc_ctx_deadline(const drpc_ctx *ctx);

// drpc_now_ns is the monotonic clock deadlines are measured on.
DRPC_API int64_t drpc_now_ns(void);

// drpc_ctx_destroy frees ctx (NULL is a no-op). See the rule above.
DRPC_API void drpc_ctx_destroy(drpc_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif // DRPC_CTX_H
