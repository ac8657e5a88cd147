// The interop `Echo` service (../shared/interop/interop.proto and its
// README section 1) on the public server API, plus the hand-written proto3
// codec of its four messages, which the interop tests also use as a client.
//
// Thread safety: the handlers run on the server's handler threads, any
// number at once; the codec functions are pure.
#ifndef DRPC_TEST_ECHO_SERVICE_H
#define DRPC_TEST_ECHO_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include <drpc/drpc.h>

// The error codes the service uses besides Fail's own (interop.proto).
#define ECHO_CODE_CANCELLED        1
#define ECHO_CODE_INVALID_ARGUMENT 3
#define ECHO_CODE_RESOURCE         8

// ECHO_MAX_PAYLOAD bounds what ServerStream and ClientStream build, so a
// request cannot make the service allocate gigabytes; the reply would not
// fit the library's default 4 MiB message limit anyway.
#define ECHO_MAX_PAYLOAD ((size_t) 4 << 20)

// ECHO_REQ_MAX is room enough for any StreamRequest or SleepRequest.
#define ECHO_REQ_MAX 24

// echo_observer lets a test see inside the service, so it can order
// events without sleeping. Both callbacks run on the handler's thread and
// may be NULL: sleep_started once a Sleep handler has its request and
// starts waiting; sleep_done when it stops, with DRPC_OK if it slept the
// whole time, else the context's error (DRPC_ECANCELED, DRPC_ETIMEDOUT).
typedef struct echo_observer {
	void (*sleep_started)(void *arg);
	void (*sleep_done)(void *arg, drpc_err why);
	void *arg;
} echo_observer;

// echo_register adds the seven /interop.Echo/ methods to m.
// Errors: those of drpc_mux_register.
drpc_err echo_register(drpc_mux *m);

// echo_register_observed is echo_register with an observer (borrowed: it
// must outlive every server using m; NULL means none).
drpc_err echo_register_observed(drpc_mux *m, const echo_observer *o);

// Encoders. The malloc'd ones return a buffer of at least one byte even
// when the encoding is empty (*len 0); the caller frees it with free().

// echo_msg_encode encodes Msg{payload}: 0a len bytes, or nothing at all
// for an empty payload. Errors: DRPC_ENOMEM.
drpc_err echo_msg_encode(
    const void *payload, size_t len, uint8_t **out, size_t *out_len);

// echo_fail_req_encode encodes FailRequest{code, message}.
drpc_err echo_fail_req_encode(
    uint64_t code, const char *message, uint8_t **out, size_t *out_len);

// echo_stream_req_put and echo_sleep_req_put write StreamRequest{count,
// size} and SleepRequest{millis} into out (ECHO_REQ_MAX bytes) and return
// the length. Negative values take 10-byte varints, as int32 does.
size_t echo_stream_req_put(uint8_t *out, int32_t count, int32_t size);
size_t echo_sleep_req_put(uint8_t *out, int32_t millis);

// Decoders: proto3 rules (absent fields are zero, the last occurrence of
// a field wins, unknown fields and fields of an unexpected wire type are
// skipped). DRPC_EPROTO if buf is not a well-formed protobuf message.

// echo_msg_decode finds the payload of a Msg; *payload points into buf
// (NULL with *payload_len 0 if absent).
drpc_err echo_msg_decode(
    const void *buf, size_t len, const uint8_t **payload, size_t *payload_len);

drpc_err echo_stream_req_decode(
    const void *buf, size_t len, int32_t *count, int32_t *size);

// echo_fail_req_decode: *message points into buf (not NUL-terminated).
drpc_err echo_fail_req_decode(const void *buf, size_t len, uint64_t *code,
    const uint8_t **message, size_t *message_len);

drpc_err echo_sleep_req_decode(const void *buf, size_t len, int32_t *millis);

#endif // DRPC_TEST_ECHO_SERVICE_H
