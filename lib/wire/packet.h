// Packets: frames reassembled per stream, and packets split into frames
// (docs/protocol.md §4).
//
// One drpc__asm assembles the frames of ONE stream. Frames of different
// streams may interleave freely on the connection (the multiplexed design);
// within a stream the message-id rules hold:
//   - a message id below the expected one is a protocol error;
//   - a new (higher) id while a packet is half built drops the half-built
//     packet silently and starts a new one;
//   - a kind change inside one packet is a protocol error;
//   - after a done frame the expected id is that id + 1.
// A peer that multiplexes nothing (Go DRPC upstream) obeys these rules too.
// Not thread-safe: one assembler has one owner (the reader thread).
#ifndef DRPC_WIRE_PACKET_H
#define DRPC_WIRE_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#include "common/buf.h"
#include "wire/frame.h"

typedef struct drpc__packet {
	uint64_t       stream_id;
	uint64_t       message_id;
	const uint8_t *data; // borrowed: valid until the next drpc__asm_add
	size_t         len;
	uint8_t        kind;
	bool           control; // OR of the control flags of its frames
} drpc__packet;

typedef struct drpc__asm {
	size_t    max_size;    // largest packet body accepted
	uint64_t  expect;      // lowest message id still acceptable
	bool      exhausted;   // message id 2^64-1 was completed
	bool      in_progress; // a packet is half built in body
	uint64_t  message_id;  // of the packet in progress
	uint8_t   kind;        // of the packet in progress
	bool      control;     // of the packet in progress
	drpc__buf body;        // bytes of the packet in progress
	// why, if set by the owner after init, receives the words for an
	// error ("message id went backwards on stream 3 (5 after 7)").
	drpc_cause *why;
} drpc__asm;

// drpc__asm_init prepares a for a new stream; max_size 0 means the default
// (DRPC__DEFAULT_MAX_SIZE).
void drpc__asm_init(drpc__asm *a, size_t max_size);

// drpc__asm_fini frees a's storage.
void drpc__asm_fini(drpc__asm *a);

// drpc__asm_trim frees the storage a's last packet left behind, unless a
// packet is in progress: the next packet allocates again. For an owner
// that keeps an assembler between packets at rest.
void drpc__asm_trim(drpc__asm *a);

// drpc__asm_add feeds one frame of a's stream.
// DRPC_OK with *complete: *pkt is a whole packet; its data is borrowed from
// fr or from a and valid until the next call.
// DRPC_OK without *complete: the frame was absorbed.
// DRPC_EPROTO: message id went backwards, or the kind changed in a packet.
// DRPC_ETOOBIG: the packet body would exceed max_size.
// DRPC_ENOMEM: the body could not grow.
// After an error the assembler must not be used again.
drpc_err drpc__asm_add(
    drpc__asm *a, const drpc__frame *fr, drpc__packet *pkt, bool *complete);

// drpc__packet_frames is the number of frames drpc__packet_append writes
// for a body of len bytes of the given kind, with split (0 = default 64 KiB).
// Only Invoke, InvokeMetadata and Message are split; others are one frame.
size_t drpc__packet_frames(unsigned kind, size_t len, size_t split);

// drpc__packet_append appends pkt to b as frames of at most split body
// bytes (0 = 64 KiB). Every frame carries pkt's control flag; only the last
// has done set. An empty body is one frame of length 0.
drpc_err drpc__packet_append(
    drpc__buf *b, const drpc__packet *pkt, size_t split);

#endif // DRPC_WIRE_PACKET_H
