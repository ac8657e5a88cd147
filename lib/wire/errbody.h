// The body of an Error packet: an 8-byte big-endian code, then the message
// text (docs/protocol.md §5.3).
#ifndef DRPC_WIRE_ERRBODY_H
#define DRPC_WIRE_ERRBODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#include "common/buf.h"

// DRPC__ERRBODY_CODE_LEN is the size of the code field.
#define DRPC__ERRBODY_CODE_LEN 8

// DRPC__ERRBODY_TEXT_MAX (T) is the longest text an Error we send
// carries: every Error packet's body is made by drpc__errbody_append, which
// cuts a longer text, so no peer can make us buffer a long text per Error.
#define DRPC__ERRBODY_TEXT_MAX ((size_t) 16 << 10)

// drpc__errbody_append appends code and the msg_len bytes of msg to b. A
// text longer than DRPC__ERRBODY_TEXT_MAX is cut, never silently: it is
// cut at a UTF-8 character boundary and ends with the marker
// " ... (truncated from N bytes)", N the full length, all within the limit.
drpc_err drpc__errbody_append(
    drpc__buf *b, uint64_t code, const char *msg, size_t msg_len);

// drpc__errbody_append_max is drpc__errbody_append with the text held to
// max_text bytes when that is smaller (a peer's message size). A limit too
// small for the marker gets the cut text alone.
drpc_err drpc__errbody_append_max(drpc__buf *b, uint64_t code,
    const char *msg, size_t msg_len, size_t max_text);

// drpc__errbody_parse splits an Error body. A body of at least 8 bytes gives
// its code and *msg/*msg_len point at the text after it (borrowed from body),
// returning true. A shorter body is not a valid error body (Go DRPC accepts
// it as text without a code): *code is 0, the text is the whole body, and
// the result is false.
bool drpc__errbody_parse(const uint8_t *body, size_t len, uint64_t *code,
    const uint8_t **msg, size_t *msg_len);

#endif // DRPC_WIRE_ERRBODY_H
