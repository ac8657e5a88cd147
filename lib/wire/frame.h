// DRPC frames: one control byte, three varints, a body (docs/protocol.md §3).
//
// The frame layer validates only the encoding: any kind, and stream or
// message id 0, parse. The packet and stream layers judge them.
#ifndef DRPC_WIRE_FRAME_H
#define DRPC_WIRE_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#include "common/buf.h"

// Packet kinds. Values are the 6-bit kind field of the control byte.
typedef enum drpc__kind {
	DRPC__KIND_INVOKE          = 1,
	DRPC__KIND_MESSAGE         = 2,
	DRPC__KIND_ERROR           = 3,
	DRPC__KIND_CANCEL          = 4,
	DRPC__KIND_CLOSE           = 5,
	DRPC__KIND_CLOSE_SEND      = 6,
	DRPC__KIND_INVOKE_METADATA = 7,
} drpc__kind;

// DRPC__KIND_LAST is the largest kind this library knows.
#define DRPC__KIND_LAST 7

// DRPC__FRAME_HEADER_MAX is the longest header: 1 + 3 varints of 10 bytes.
#define DRPC__FRAME_HEADER_MAX 31

// DRPC__DEFAULT_MAX_SIZE is the default largest frame body and packet body
// accepted, the same 4 MiB as Go DRPC's reader.
#define DRPC__DEFAULT_MAX_SIZE ((size_t) 4 << 20)

// DRPC__DEFAULT_SPLIT_SIZE is the default largest body per frame a sender
// writes, as Go DRPC's 64 KiB.
#define DRPC__DEFAULT_SPLIT_SIZE ((size_t) 64 << 10)

typedef struct drpc__frame {
	uint64_t       stream_id;
	uint64_t       message_id;
	const uint8_t *data; // borrowed: points into the parsed buffer
	size_t         len;
	uint8_t        kind; // 0..63
	bool           done;
	bool           control;
} drpc__frame;

// drpc__kind_is_known tells whether kind is one this library handles.
bool drpc__kind_is_known(unsigned kind);

// drpc__kind_name returns "Invoke", "Message", ... or "Unknown".
const char *drpc__kind_name(unsigned kind);

// drpc__frame_parse parses one frame from the len bytes at buf.
// DRPC_OK with *used > 0: *fr is the frame, *used the bytes it took;
// fr->data points into buf.
// DRPC_OK with *used == 0: buf holds a proper prefix of a frame (need more).
// DRPC_EVARINT: a header varint is malformed.
// DRPC_ETOOBIG: the declared body length exceeds max_len; reported as soon
// as the header is complete, before any body byte is needed. fr's ids,
// kind, flags and len (the declared length, saturated) then describe the
// frame, fr->data is NULL and *used is the header's length.
drpc_err drpc__frame_parse(const uint8_t *buf, size_t len, size_t max_len,
    drpc__frame *fr, size_t *used);

// drpc__frame_size is the number of bytes, header and body, of the frame
// that the len bytes at buf begin, as its header declares (saturated at
// SIZE_MAX); 0 while the header is incomplete or malformed.
size_t drpc__frame_size(const uint8_t *buf, size_t len);

// drpc__frame_header_put encodes the header of fr (fr->len is the body
// length) into out, which has room for DRPC__FRAME_HEADER_MAX bytes, and
// returns the number of bytes written.
size_t drpc__frame_header_put(uint8_t *out, const drpc__frame *fr);

// drpc__frame_append appends the encoded frame (header and body) to b.
drpc_err drpc__frame_append(drpc__buf *b, const drpc__frame *fr);

#endif // DRPC_WIRE_FRAME_H
