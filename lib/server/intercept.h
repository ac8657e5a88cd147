// The server's interceptors and per-RPC stats (include/drpc/intercept.h,
// include/drpc/stats.h): the copies it keeps of its options' chain and
// stats handler, and the calls server.c makes at an RPC's begin and end.
#ifndef DRPC_SERVER_INTERCEPT_H
#define DRPC_SERVER_INTERCEPT_H

#include <drpc/server.h>

#include "stream/stream.h"

#include "common/next.h"

// drpc__srv_icpt: the server's copy of opts' interceptors and stats;
// immutable once made.
typedef drpc__chain drpc__srv_icpt; // common/next.h

// drpc__srv_icpt_create copies o's interceptors and stats into *out, or
// sets *out NULL when o has neither (the server then pays nothing).
// DRPC_EINVAL for interceptors NULL with ninterceptors > 0 or a NULL fn.
drpc_err drpc__srv_icpt_create(drpc__srv_icpt **out, const drpc_server_opts *o);
void     drpc__srv_icpt_free(drpc__srv_icpt *ic);

// drpc__srv_icpt_begin begins s's RPC for the stats (reader thread, once
// the method is known), if ic has them; an error leaves the RPC unbegun.
drpc_err drpc__srv_icpt_begin(const drpc__srv_icpt *ic, drpc__stream *s);

// drpc__srv_icpt_run runs ic's chain around fn(s, user).
drpc_err drpc__srv_icpt_run(const drpc__srv_icpt *ic, drpc__stream *s,
    drpc_handler_fn fn, void *user);

// drpc__srv_rpc_done ends s's RPC (if observed) after its handler
// returned rv and its end went out: the status the client was sent.
void drpc__srv_rpc_done(drpc__stream *s, drpc_err rv);

// drpc__srv_rpc_refused ends s's RPC (if observed), refused with an Error
// of code and text before any handler ran.
void drpc__srv_rpc_refused(drpc__stream *s, drpc_err code, const char *text);

#endif // DRPC_SERVER_INTERCEPT_H
