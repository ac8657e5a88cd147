// Interceptors: code that runs around every RPC, on the server (around
// each handler) and on the client (around each call made on a connection
// or a channel's handle), and stream wrappers that observe every message
// of one stream. docs/api.md, "Interceptors and stats", has the rules in
// full.
//
// Thread safety: an interceptor runs on the thread of the call it
// intercepts (server: the handler's worker thread; client: the caller's
// thread), so interceptors of different calls run concurrently and must
// be thread-safe towards each other. A drpc_next and a drpc_client_call
// are valid during that interceptor call only. drpc_stream_wrap and
// drpc_stream_set_value are called while no other thread uses the stream:
// from an interceptor (before next, or on the client after next opened
// the stream), or from the handler before it hands the stream to another
// thread; drpc_stream_value may be called from any thread using the
// stream afterwards.
#ifndef DRPC_INTERCEPT_H
#define DRPC_INTERCEPT_H

#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>
#include <drpc/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

// drpc_next is the rest of a chain: the interceptors after this one, then
// the handler (server) or the call itself (client).
typedef struct drpc_next drpc_next;

// Server side. drpc_server_opts.interceptors[0] is the outermost: it runs
// first, and its next runs interceptors[1] ... and finally the handler
// (registered with drpc_mux_register, generated or not). The handler's
// stream is s; what the chain returns ends the RPC as a handler's return
// value does (drpc_handler_fn, drpc/server.h), so an interceptor rejects a
// call by returning a code (or calling drpc_stream_set_error) without
// calling next: the handler never runs and the client gets that status.
typedef drpc_err (*drpc_server_interceptor_fn)(
    drpc_stream *s, drpc_next *next, void *arg);
typedef struct drpc_server_interceptor {
	drpc_server_interceptor_fn fn;
	void                      *arg;
} drpc_server_interceptor;

// drpc_next_handle runs the rest of the chain and the handler on s (the
// stream the interceptor was given), and returns what the handler (or the
// next interceptor) returned. It may be called at most once per
// interceptor call: a second call returns DRPC_ESTATE and runs nothing.
// DRPC_EINVAL for NULL arguments, a client call's next, or another stream.
DRPC_API drpc_err drpc_next_handle(drpc_next *next, drpc_stream *s);

// Values on a stream ("add to the context"): key is any unique address
// (that of a static variable of the caller, say), value the caller's,
// neither owned by the library. A second set of the same key replaces the
// value. Works on both sides. Errors: DRPC_EINVAL (NULL s or key),
// DRPC_ENOMEM. drpc_stream_value returns NULL for a key never set.
DRPC_API drpc_err drpc_stream_set_value(
    drpc_stream *s, const void *key, void *value);
DRPC_API void *drpc_stream_value(const drpc_stream *s, const void *key);

// Stream wrappers (both sides) observe, and may refuse, every message the
// application sends and observe every message it receives, and see the
// stream's end. Several may be added to a stream: recv and end run in the
// order they were added (the outermost interceptor's first), send in the
// reverse order (the one nearest the application first), as nested
// wrappers would. Each runs on the thread doing the operation: send on
// the sending thread before the message is handed to the connection (a
// non-OK result fails the send with that code and nothing is sent, and
// the wrappers outside it do not see it); recv on the receiving thread
// once a message arrived, before the application gets it (data is lent
// for the call); end once, last: on the server when the handler (or the
// chain) has returned and the stream's final status is sent, on the
// client when the stream is destroyed (drpc_stream_destroy; a unary call
// has no stream to wrap) or when the call failed after the stream was
// opened. st is the stream's outcome as drpc_stats_handler's end has it
// (code, remote_code, message). arg belongs to the wrapper: free it in
// end. Any callback may be NULL. The wrapper struct is copied.
typedef struct drpc_stream_wrapper {
	drpc_err (*send)(
	    void *arg, drpc_stream *s, const void *data, size_t len);
	void (*recv)(void *arg, drpc_stream *s, const void *data, size_t len);
	void (*end)(void *arg, drpc_stream *s, const drpc_status *st);
} drpc_stream_wrapper;

// drpc_stream_wrap adds w (copied) with arg to s. Errors: DRPC_EINVAL
// (NULL s or w), DRPC_ENOMEM; on error end is not called, arg is still
// the caller's.
DRPC_API drpc_err drpc_stream_wrap(
    drpc_stream *s, const drpc_stream_wrapper *w, void *arg);

// Client side: around every call made on a connection or a channel's
// handle (drpc_invoke, drpc_invoke_msg, drpc_stream_open,
// drpc_stream_open_request, drpc_stream_open_request_msg and the
// generated stubs, which use them). On a channel's handle the channel's
// drpc_conn_opts interceptors run once per call, not per backend.
typedef struct drpc_client_call drpc_client_call;
typedef enum drpc_call_kind {
	DRPC_CALL_UNARY  = 0,
	DRPC_CALL_STREAM = 1,
} drpc_call_kind;

DRPC_API const char    *drpc_client_call_method(const drpc_client_call *c);
DRPC_API drpc_call_kind drpc_client_call_kind(const drpc_client_call *c);

// drpc_client_call_add_md adds a metadata pair (both copied) to what the
// call sends, after the caller's own pairs. Only before next. Errors:
// DRPC_EINVAL (NULL arguments), DRPC_ESTATE (after next), DRPC_ENOMEM.
DRPC_API drpc_err drpc_client_call_add_md(
    drpc_client_call *c, const char *key, const char *value);

// drpc_client_call_set_timeout bounds the call as drpc_call_opts's
// timeout_ms does (milliseconds from the call; negative: already
// expired); with the caller's (or another interceptor's) timeout the
// earlier wins, and a ctx's deadline still applies too. Only before next
// (ignored after).
DRPC_API void drpc_client_call_set_timeout(
    drpc_client_call *c, int64_t timeout_ms);

// For a unary call next runs the whole call and returns its result (the
// final status is then in drpc_client_call_status); for a streaming call
// next opens the stream and returns (drpc_client_call_stream gives it, to
// wrap it: its wrapper's end sees the final status). The call's result is
// what the outermost interceptor returns, with one exception: DRPC_OK
// stands only if the call itself succeeded; otherwise the call's own
// error is returned (DRPC_ESTATE if no interceptor called next).
typedef drpc_err (*drpc_client_interceptor_fn)(
    drpc_client_call *c, drpc_next *next, void *arg);
typedef struct drpc_client_interceptor {
	drpc_client_interceptor_fn fn;
	void                      *arg;
} drpc_client_interceptor;

// drpc_next_call runs the rest of the chain and the call. At most once per
// interceptor call: a second call is DRPC_ESTATE. DRPC_EINVAL for NULL
// arguments, a server chain's next or another call.
DRPC_API drpc_err drpc_next_call(drpc_next *next, drpc_client_call *c);

// drpc_client_call_stream is the call's stream once next opened it (a
// streaming call), else NULL. The stream is the caller's as
// drpc_stream_open's (the interceptor must not destroy it).
DRPC_API drpc_stream *drpc_client_call_stream(const drpc_client_call *c);

// drpc_client_call_status is the unary call's final status once next
// returned (code DRPC_OK on success), else NULL; valid during the
// interceptor call.
DRPC_API const drpc_status *drpc_client_call_status(const drpc_client_call *c);

#ifdef __cplusplus
}
#endif

#endif // DRPC_INTERCEPT_H
