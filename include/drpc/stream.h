// Streams: one RPC, on the client or the server side.
//
// Thread safety: a stream may have one sending thread and one receiving
// thread at a time (they may be different threads). drpc_stream_cancel
// and drpc_stream_close may be called from any thread at any time, even
// while another thread is blocked in send or recv on the same stream.
//
// Time: drpc_call_opts.timeout_ms is in milliseconds from the call, as
// every timeout of the API (docs/api.md, "Time").
//
// Ownership: a client stream belongs to the caller of drpc_stream_open,
// who releases it with drpc_stream_destroy. A server stream belongs to the
// library; its handler borrows it until the handler returns.
#ifndef DRPC_STREAM_H
#define DRPC_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/ctx.h>
#include <drpc/error.h>
#include <drpc/metadata.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drpc_stream drpc_stream;
typedef struct drpc_conn   drpc_conn;

// drpc_status is the detail behind a failed call or stream. code is the
// same value the call returned. For an error the peer sent (an Error
// packet), remote is true and remote_code is its code as it came over the
// wire (0 = none; 1 to 16 are gRPC status codes), message its text.
typedef struct drpc_status {
	drpc_err code;
	bool     remote;
	uint64_t remote_code;
	char    *message; // NUL-terminated; owned; drpc_status_reset frees it
} drpc_status;

// drpc_status_reset frees st's message and zeroes it. NULL is a no-op.
DRPC_API void drpc_status_reset(drpc_status *st);

// drpc_call_opts carries per-call options; NULL (or all zero) means none.
// Every call takes them: drpc_invoke, drpc_stream_open, drpc_invoke_msg
// and the generated stubs.
typedef struct drpc_call_opts {
	const drpc_md_pair *md; // invoke metadata, borrowed for the call
	size_t              nmd;
	// timeout_ms bounds the whole call (for a stream: until it is
	// destroyed), in milliseconds from the call that opens it; 0: no
	// timeout of its own; negative: already expired. The earlier of it
	// and ctx's deadline applies; the call then ends with
	// DRPC_ETIMEDOUT, and the deadline travels to the server as a ctx's
	// does. No context needs to be made for it. docs/api.md, "Time".
	int64_t timeout_ms;
	// wait_for_ready (channels only, drpc/channel.h): when no backend is
	// ready, the call waits for one (within its deadline, cancellably)
	// instead of failing at once with DRPC_EUNAVAIL. Ignored on a plain
	// connection.
	bool wait_for_ready;
} drpc_call_opts;

// drpc_stream_open starts a streaming call of method ("/pkg.Service/M")
// on c. ctx (may be NULL) bounds the whole stream: when it is cancelled or
// its deadline passes, the stream is cancelled (a Cancel goes to the
// server) and blocked operations return DRPC_ECANCELED / DRPC_ETIMEDOUT.
// ctx must outlive the stream. A done ctx fails at once without sending
// anything. Blocks only in one-stream mode (waiting its turn) or when the
// connection's writer is full. Errors: the ctx's error, DRPC_EUNAVAIL
// (connection lost), DRPC_EINVAL, DRPC_ERESOURCE, DRPC_ENOMEM.
DRPC_API drpc_err drpc_stream_open(drpc_stream **sp, drpc_conn *c,
    drpc_ctx *ctx, const char *method, const drpc_call_opts *opts);

// drpc_stream_open_request starts a server-streaming call: as
// drpc_stream_open, with the request (req_len bytes, borrowed; NULL and 0
// for an empty one) sent and the sending side closed in the Invoke's own
// write. A request over the maximum message size fails with
// DRPC_ERESOURCE before anything is written; *sp is NULL on any error.
DRPC_API drpc_err drpc_stream_open_request(drpc_stream **sp, drpc_conn *c,
    drpc_ctx *ctx, const char *method, const void *req, size_t req_len,
    const drpc_call_opts *opts);

// drpc_stream_send sends one message (len bytes; the caller's buffer is
// free again when it returns: a message under 64 KiB is copied into the
// connection's writer, a larger one written from the buffer while the call
// waits for the socket to take it).
// It blocks while the connection's writer is full or, with flow control
// (drpc/flow.h), while the peer's window for this stream or connection is
// used up, that is until the peer's application reads; the stream's
// context (cancel, deadline) ends the wait as for any blocking call.
// Errors: DRPC_ESTATE after close_send; DRPC_EOF when the peer has ended
// the stream (recv tells why); DRPC_ECLOSED after a Close; DRPC_ECANCELED
// or DRPC_ETIMEDOUT after a cancel; DRPC_EUNAVAIL (client) or
// DRPC_ECANCELED (server) when the connection is lost; DRPC_ERESOURCE for a
// message larger than the maximum message size.
DRPC_API drpc_err drpc_stream_send(
    drpc_stream *s, const void *data, size_t len);

// drpc_stream_recv waits for the next message and returns a copy in
// *data (malloc'd; the caller frees it with drpc_free) and *len. An empty
// message (a valid message: an empty protobuf, say) is DRPC_OK with *len
// 0 and *data NULL: test *len, not *data (drpc_free(NULL) is a no-op).
// A clean end of the peer's messages is DRPC_EOF, distinct from every
// error: the peer's error (DRPC_EREMOTE or the gRPC-range code it sent;
// details from drpc_stream_status), DRPC_ECANCELED, DRPC_ETIMEDOUT,
// DRPC_EUNAVAIL. Nothing is allocated on error.
DRPC_API drpc_err drpc_stream_recv(drpc_stream *s, void **data, size_t *len);

// drpc_stream_recv_view is drpc_stream_recv without the copy: *data is
// lent until drpc_stream_recv_done, which must follow every DRPC_OK. For
// an empty message *len is 0 and *data may be NULL.
DRPC_API drpc_err drpc_stream_recv_view(
    drpc_stream *s, const void **data, size_t *len);
DRPC_API void drpc_stream_recv_done(drpc_stream *s);

// drpc_stream_send_last sends one message and closes the sending side,
// as drpc_stream_send then drpc_stream_close_send, but the peer gets both
// in one write: a handler's final reply (unary and client-streaming
// calls), a client's last message. Errors as drpc_stream_send; on error
// the sending side stays open (a close_send may follow).
DRPC_API drpc_err drpc_stream_send_last(
    drpc_stream *s, const void *data, size_t len);

// drpc_stream_close_send tells the peer this side sends no more messages.
// Idempotent; a no-op on an ended stream.
DRPC_API drpc_err drpc_stream_close_send(drpc_stream *s);

// drpc_stream_close ends the stream at once (a Close goes to the peer if
// the stream is still running). Blocked operations return DRPC_ECLOSED.
DRPC_API drpc_err drpc_stream_close(drpc_stream *s);

// drpc_stream_cancel cancels the stream (DRPC_ECANCELED) as its context
// would. Never blocks on I/O.
DRPC_API void drpc_stream_cancel(drpc_stream *s);

// drpc_stream_status fills st with the details of the stream's end: the
// error recv reports, and for a peer's Error its code and text. The caller
// resets st. DRPC_ESTATE if the stream has not ended.
DRPC_API drpc_err drpc_stream_status(drpc_stream *s, drpc_status *st);

// drpc_stream_destroy releases a client stream (closing it first if it is
// still running). NULL is a no-op. Never call it on a server stream.
DRPC_API void drpc_stream_destroy(drpc_stream *s);

// Server side: what a handler can ask of its stream.

// drpc_stream_method is the method name the client invoked (NUL-terminated,
// valid while the handler runs).
DRPC_API const char *drpc_stream_method(const drpc_stream *s);

// drpc_stream_ctx is the stream's context: on the server, cancelled when
// the client cancels, the connection ends or the server shuts down, with
// the client's deadline if it sent one.
DRPC_API drpc_ctx *drpc_stream_ctx(const drpc_stream *s);

// drpc_stream_md_get finds a metadata value the client sent: DRPC_OK with
// *value and *len (borrowed, valid while the handler runs), or
// DRPC_ENOTFOUND. *value is NUL-terminated (value[len] == '\0'), so it
// may be used as a C string; len is exact (a value may hold NULs).
DRPC_API drpc_err drpc_stream_md_get(const drpc_stream *s, const char *key,
    const char **value, size_t *len);

// drpc_stream_md_count and drpc_stream_md_at list every pair (i < count),
// keys and values NUL-terminated as drpc_stream_md_get's.
DRPC_API size_t       drpc_stream_md_count(const drpc_stream *s);
DRPC_API drpc_md_pair drpc_stream_md_at(const drpc_stream *s, size_t i);

// drpc_stream_set_error decides how a server stream ends: once it is
// called, the stream ends with an Error of this code and text (copied)
// when the handler returns, whatever the handler returns, DRPC_OK
// included; a second call replaces the first. code goes on the wire as
// given (1-16 are gRPC status codes). Without it, the handler's return
// value decides (drpc_handler_fn, drpc/server.h). Messages the handler
// sent go out before the Error, so a unary client that already has its
// reply sees success: set the error instead of sending the reply. The
// text sent is at most 16 KiB (and at most the connection's maximum
// message size less 8): a longer message is cut at a UTF-8 character
// boundary and ends with " ... (truncated from N bytes)", N its length,
// so the client can tell (docs/protocol.md §5.3). Every Error the library
// sends is held to the same limit.
DRPC_API drpc_err drpc_stream_set_error(
    drpc_stream *s, uint64_t code, const char *message);

// drpc_free frees memory the library returned (recv data, replies).
DRPC_API void drpc_free(void *p);

#ifdef __cplusplus
}
#endif

#endif // DRPC_STREAM_H
