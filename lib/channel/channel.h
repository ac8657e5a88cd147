// The channel's entry points for the client layer (lib/client/client.c),
// which routes the calls made on a channel's handle here.
#ifndef DRPC_CHANNEL_CHANNEL_H
#define DRPC_CHANNEL_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>

#include <drpc/channel.h>
#include <drpc/ctx.h>

#include "stream/stream.h"

// drpc__channel_open opens a client stream on a ready backend (picked by
// the channel's policy), waiting for one when wait_for_ready is set (or
// while the channel's first connection attempts are in progress), within
// ctx. A backend that turns out to have ended or to be draining when the
// open reaches it never saw the call, so the next one is tried. Errors:
// DRPC_EUNAVAIL (no backend ready: why gets the last connection error),
// DRPC_ECANCELED (the channel is being destroyed), the context's error,
// and drpc__conn_open's. why may be NULL.
drpc_err drpc__channel_open(drpc_channel *ch, drpc_ctx *ctx,
    const drpc__stream_invoke *inv, bool wait_for_ready, drpc__stream **sp,
    drpc_cause *why);

// drpc__channel_err is DRPC_OK while a backend is ready, else the last
// connection error (DRPC_EUNAVAIL if none yet), with words in cause (may
// be NULL).
drpc_err drpc__channel_err(drpc_channel *ch, drpc_cause *cause);

// Test hooks (drpc__channel_set_hooks, before any call). on_attempt: a
// backend is about to dial (its attempt number, 1 after a success or at
// first). on_backoff: after attempt failed, it waits delay_ns (before
// jitter: base_ns). on_pick: a call got a connection to addr. on_leave: a
// call leaving the channel was the last one inside and is about to look
// at the channel again (mu not held; it may block). on_release: a call
// was the last user of the connection it picked and let go of it (mu not
// held; it may block).
typedef struct drpc__channel_hooks {
	void (*on_attempt)(void *arg, const char *addr, unsigned attempt);
	void (*on_backoff)(void *arg, const char *addr, unsigned attempt,
	    int64_t base_ns, int64_t delay_ns);
	void (*on_pick)(void *arg, const char *addr);
	void (*on_leave)(void *arg);
	void (*on_release)(void *arg);
	void *arg;
} drpc__channel_hooks;

void drpc__channel_set_hooks(drpc_channel *ch, const drpc__channel_hooks *h);

// drpc__channel_ready_count is how many backends take calls now, and
// drpc__channel_backend_count how many are listed and resolved (tests).
size_t drpc__channel_ready_count(drpc_channel *ch);
size_t drpc__channel_backend_count(drpc_channel *ch);

// drpc__channel_conn_count is how many connections the channel holds,
// taking calls or retired and not destroyed yet (tests).
size_t drpc__channel_conn_count(drpc_channel *ch);

#endif // DRPC_CHANNEL_CHANNEL_H
