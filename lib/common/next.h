// struct drpc_next: the rest of an interceptor chain (include/drpc/
// intercept.h), on the server (lib/server/intercept.c) or the client
// (lib/client/intercept.c). Each interceptor call gets a drpc_next of its
// own, on the stack of the step that calls it: called marks the one call
// of next it allows.
#ifndef DRPC_COMMON_NEXT_H
#define DRPC_COMMON_NEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <drpc/intercept.h>
#include <drpc/server.h>
#include <drpc/stats.h>

struct drpc_next {
	bool   client; // which of the two chains
	bool   called; // next was called (once at most)
	size_t i;      // the interceptor next runs (n: the handler or call)
	size_t n;
	// Server: the interceptors, the stream and the handler.
	const drpc_server_interceptor *sv;
	drpc_stream                   *s;
	drpc_handler_fn                fn;
	void                          *user;
	// Client: the interceptors and the call.
	const drpc_client_interceptor *cv;
	drpc_client_call              *call;
};

// drpc__chain is the copy a server or a connection keeps of its
// options' interceptors (v: n of them, drpc_server_interceptor or
// drpc_client_interceptor) and per-RPC stats; immutable once made.
typedef struct drpc__chain {
	void              *v;
	size_t             n;
	drpc_stats_handler stats;
	bool               has_stats;
} drpc__chain;

// drpc__chain_create copies n interceptors of elem bytes each at v (the
// caller has checked them) and stats (may be NULL) into *out, or sets *out
// NULL when there are neither. DRPC_ENOMEM. drpc__chain_free frees it
// (NULL is a no-op).
drpc_err drpc__chain_create(drpc__chain **out, const void *v, size_t n,
    size_t elem, const drpc_stats_handler *stats);
void     drpc__chain_free(drpc__chain *c);

#endif // DRPC_COMMON_NEXT_H
