// Unsigned base-128 varints (protobuf's encoding, docs/protocol.md §2).
#ifndef DRPC_WIRE_VARINT_H
#define DRPC_WIRE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

// DRPC__VARINT_MAX is the longest encoding of a uint64: 10 bytes.
#define DRPC__VARINT_MAX 10

// drpc__varint_size is the number of bytes the minimal encoding of v takes.
size_t drpc__varint_size(uint64_t v);

// drpc__varint_put writes the minimal encoding of v at p, which must have
// room for DRPC__VARINT_MAX bytes, and returns the byte after it.
uint8_t *drpc__varint_put(uint8_t *p, uint64_t v);

// drpc__varint_read decodes one varint from the len bytes at buf.
// DRPC_OK: *v is the value and *used (1..10) the bytes it took.
// DRPC_OK with *used == 0: the buffer ends inside the varint (need more).
// DRPC_EVARINT: the encoding has more than 10 bytes, or its 10th byte
// carries bits beyond the 64th. Non-minimal encodings are accepted.
drpc_err drpc__varint_read(
    const uint8_t *buf, size_t len, uint64_t *v, size_t *used);

#endif // DRPC_WIRE_VARINT_H
