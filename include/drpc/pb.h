// protobuf-c glue: send, receive and invoke with ProtobufCMessage values,
// so users of protobuf-c need no code of their own between the two. The
// generated stubs (protoc-gen-drpc-c) are built on these.
//
// Thread safety: as the stream and connection functions they wrap.
#ifndef DRPC_PB_H
#define DRPC_PB_H

#include <protobuf-c/protobuf-c.h>

#include <drpc/conn.h>
#include <drpc/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

// drpc_stream_open_request_msg is drpc_stream_open_request with req
// packed (borrowed): a server-streaming call, opened with its request.
DRPC_API drpc_err drpc_stream_open_request_msg(drpc_stream **sp,
    drpc_conn *c, drpc_ctx *ctx, const char *method,
    const ProtobufCMessage *req, const drpc_call_opts *opts);

// drpc_stream_send_msg packs m and sends it (m is borrowed).
DRPC_API drpc_err drpc_stream_send_msg(
    drpc_stream *s, const ProtobufCMessage *m);

// drpc_stream_send_msg_last packs m and sends it with drpc_stream_send_last
// (the message and the end of this side in one write). Generated handlers
// send a unary or client-streaming reply with it.
DRPC_API drpc_err drpc_stream_send_msg_last(
    drpc_stream *s, const ProtobufCMessage *m);

// drpc_stream_recv_msg receives one message and unpacks it as desc.
// *m belongs to the caller: free it with
// protobuf_c_message_free_unpacked(*m, NULL). End of stream is DRPC_EOF;
// bytes that do not unpack as desc give DRPC_EINTERNAL (the stream stays
// usable); an allocation failure DRPC_ENOMEM. Nothing is returned on
// error.
DRPC_API drpc_err drpc_stream_recv_msg(drpc_stream *s,
    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **m);

// drpc_invoke_msg is drpc_invoke with messages: req is packed, the reply
// unpacked as reply_desc into *reply (the caller frees it with
// protobuf_c_message_free_unpacked). opts and st may be NULL.
DRPC_API drpc_err drpc_invoke_msg(drpc_conn *c, drpc_ctx *ctx,
    const char *method, const ProtobufCMessage *req,
    const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
    const drpc_call_opts *opts, drpc_status *st);

#ifdef __cplusplus
}
#endif

#endif // DRPC_PB_H
