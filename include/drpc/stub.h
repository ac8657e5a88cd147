// The runtime of the stubs protoc-gen-drpc-c writes (docs/codegen.md). A
// generated .drpc.c holds only what differs per method: the method names,
// their message descriptors and kinds in a table, one typed call per
// handler, and one-line typed wrappers over the functions below.
//
// For generated code: programs call the typed functions of a .drpc.h, not
// these. Stability: this header changes only together with the generator;
// a .drpc.c is built against the libdrpc whose protoc-gen-drpc-c wrote it
// (both are installed by the same `make install`).
//
// Handles: the client handle types a .drpc.h declares
// (Pkg__Svc__Method_Client) are never defined; a handle is the call's
// drpc_stream under a type of its own, so that each method's functions
// take only their own handles. Out-parameters typed void * below are the
// address of a generated pointer (a Pkg__Msg ** or a handle **): the
// functions store a ProtobufCMessage * or drpc_stream * there, which a
// pointer to any struct represents alike (C11 6.2.5).
//
// Errors: as the drpc/pb.h and drpc/stream.h functions they call; every
// out-parameter is NULL after a failure.
//
// Thread safety: as the stream and connection functions they wrap; the
// tables are const and shared by every call.
#ifndef DRPC_STUB_H
#define DRPC_STUB_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include <drpc/pb.h>
#include <drpc/server.h>

#ifdef __cplusplus
extern "C" {
#endif

// drpc_stub_kind is the shape of a method: whether the client and the
// server each send one message or a stream of them.
typedef enum drpc_stub_kind {
	DRPC_STUB_UNARY,
	DRPC_STUB_SERVER_STREAM,
	DRPC_STUB_CLIENT_STREAM,
	DRPC_STUB_BIDI,
} drpc_stub_kind;

// drpc_stub_method is a row of a service's method table.
typedef struct drpc_stub_method {
	const char                       *name; // on the wire
	const ProtobufCMessageDescriptor *input;
	const ProtobufCMessageDescriptor *output;
	drpc_stub_kind                    kind;
} drpc_stub_method;

// drpc_stub_call_fn calls the handler of row i in impl, the service's
// server struct, with typed arguments: req is the request (NULL unless the
// kind is unary or server streaming), reply the empty reply to fill in
// (NULL unless unary or client streaming). The handler is not NULL.
typedef drpc_err (*drpc_stub_call_fn)(const void *impl, size_t i,
    drpc_stream *s, const ProtobufCMessage *req, ProtobufCMessage *reply);

// drpc_stub_service is a service: its method table, its typed call, and
// where in the server struct its fields free_reply (a void (*)(void *user,
// ProtobufCMessage *reply)) and user (a void *) are, as offsetof gives.
typedef struct drpc_stub_service {
	const drpc_stub_method *methods;
	size_t                  n_methods;
	drpc_stub_call_fn       call;
	size_t                  free_reply;
	size_t                  user;
} drpc_stub_service;

// Client side.

// drpc_stub_invoke is a unary call: *reply (a Msg **, see above) gets the
// reply unpacked as reply_desc. Errors: DRPC_EINVAL (reply NULL), those of
// drpc_invoke_msg.
DRPC_API drpc_err drpc_stub_invoke(drpc_conn *c, drpc_ctx *ctx,
    const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *reply_desc, void *reply,
    const drpc_call_opts *opts, drpc_status *st);

// drpc_stub_open opens a client- or bidi-streaming call: *hp (a handle **)
// gets its stream. Errors: DRPC_EINVAL (hp NULL), those of
// drpc_stream_open.
DRPC_API drpc_err drpc_stub_open(void *hp, drpc_conn *c, drpc_ctx *ctx,
    const char *method, const drpc_call_opts *opts);

// drpc_stub_open_request opens a server-streaming call with its request
// req (borrowed), sent with the Invoke and the end of the sending side in
// one write. Errors: DRPC_EINVAL (hp or req NULL), those of
// drpc_stream_open_request_msg.
DRPC_API drpc_err drpc_stub_open_request(void *hp, drpc_conn *c, drpc_ctx *ctx,
    const char *method, const ProtobufCMessage *req,
    const drpc_call_opts *opts);

// drpc_stub_recv receives the next message of s into *m (a Msg **),
// unpacked as desc: a client handle's reply or a handler's request.
// Errors: DRPC_EINVAL (m or s NULL), those of drpc_stream_recv_msg.
DRPC_API drpc_err drpc_stub_recv(
    drpc_stream *s, const ProtobufCMessageDescriptor *desc, void *m);

// drpc_stub_close_and_recv closes the sending side of s and receives the
// reply of a client-streaming call into *reply (a Msg **). Errors:
// DRPC_EINVAL (reply or s NULL), those of drpc_stream_close_send and
// drpc_stream_recv_msg.
DRPC_API drpc_err drpc_stub_close_and_recv(
    drpc_stream *s, const ProtobufCMessageDescriptor *desc, void *reply);

// drpc_stub_stream is the stream of client handle h (NULL for NULL).
DRPC_API drpc_stream *drpc_stub_stream(const void *h);

// Server side.

// drpc_stub_serve serves one call of svc on s (borrowed, as a handler's
// stream is), the body of a generated drpc_handler_fn: it finds the row
// of the method s was invoked as, receives the request if the kind has
// one, allocates the reply if the kind has one, calls svc->call, sends
// the reply if the handler returned DRPC_OK, gives it to impl's
// free_reply, and frees both. Returns the handler's result, or the error
// that came first. A bad request body is DRPC_EINTERNAL
// (drpc_stream_recv_msg).
DRPC_API drpc_err drpc_stub_serve(
    drpc_stream *s, const void *impl, const drpc_stub_service *svc);

// drpc_stub_register registers every method of svc in mux: serve (which
// calls drpc_stub_serve) for those with a handler (has[i]), a handler
// that answers DRPC_EUNIMPL for the others, without reading the request.
// impl is every handler's user pointer (drpc_mux_register types it
// void *; it is only read). svc and impl are borrowed: they must not
// change (has is read now, the handlers when a call comes), and must
// outlive every server using mux; has only for the call. Errors:
// DRPC_EINVAL (NULL), those of drpc_mux_register; after an error some
// methods may be registered.
DRPC_API drpc_err drpc_stub_register(drpc_mux *mux,
    const drpc_stub_service *svc, const void *impl, const bool *has,
    drpc_handler_fn serve);

#ifdef __cplusplus
}
#endif

#endif // DRPC_STUB_H
