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

#endif // DRPC_COMMON_NEXT_H
