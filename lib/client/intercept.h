// The client's interceptors and per-RPC stats (include/drpc/intercept.h,
// include/drpc/stats.h): the copies a connection (or a channel's handle)
// keeps of its options' chain and stats handler, and the calls run
// through them.
#ifndef DRPC_CLIENT_INTERCEPT_H
#define DRPC_CLIENT_INTERCEPT_H

#include <drpc/conn.h>

#include "common/next.h"
#include "stream/observe.h"

// drpc__cli_icpt: a connection's copy of its opts' interceptors and
// stats; immutable once made.
typedef drpc__chain drpc__cli_icpt; // common/next.h

// drpc__cli_icpt_create copies o's interceptors and stats into *out, or
// sets *out NULL when o (may be NULL) has neither. DRPC_EINVAL for
// interceptors NULL with ninterceptors > 0 or a NULL fn.
drpc_err drpc__cli_icpt_create(drpc__cli_icpt **out, const drpc_conn_opts *o);
void     drpc__cli_icpt_free(drpc__cli_icpt *ic);

// drpc__cli_icpt_invoke is drpc_invoke through ic; drpc__cli_icpt_open
// drpc_stream_open (request false) or drpc_stream_open_request.
drpc_err drpc__cli_icpt_invoke(drpc_conn *c, const drpc__cli_icpt *ic,
    drpc_ctx *ctx, const char *method, const void *req, size_t req_len,
    const drpc_call_opts *opts, void **reply, size_t *reply_len,
    drpc_status *st);
drpc_err drpc__cli_icpt_open(drpc_stream **sp, drpc_conn *c,
    const drpc__cli_icpt *ic, drpc_ctx *ctx, const char *method,
    const void *req, size_t req_len, bool request,
    const drpc_call_opts *opts);

// Implemented by client.c: the calls without interceptors. obs (may be
// NULL) observes the call's stream: drpc__client_invoke lends it to the
// stream for the call; drpc__client_open gives it to the stream it opens
// drpc__client_id (client.c) is the id of c's connection
// (drpc/conninfo.h); 0 for a channel's handle, whose calls each go to
// some backend.
uint64_t drpc__client_id(const drpc_conn *c);

// (on error it stays the caller's). Both count the request.
drpc_err drpc__client_invoke(drpc_conn *c, drpc_ctx *ctx,
    const char *method, const void *req, size_t req_len,
    const drpc_call_opts *opts, void **reply, size_t *reply_len,
    drpc_status *st, drpc__obs *obs);
drpc_err drpc__client_open(drpc_stream **sp, drpc_conn *c, drpc_ctx *ctx,
    const char *method, const void *req, size_t req_len, bool request,
    const drpc_call_opts *opts, drpc__obs *obs);

#endif // DRPC_CLIENT_INTERCEPT_H
