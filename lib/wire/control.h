// Connection control frames: liveness pings and graceful drain
// (docs/protocol.md §14).
//
// Four kinds, sent only between peers that both announced
// DRPC__HELLO_CTRL in their hellos (wire/flowctl.h), so a peer without
// the extension never sees one. Each is one frame with the control and
// done flags set, on stream 0 with message id 0 (like the connection's
// window update, outside every stream's sequence), whose body is exactly
// one varint:
//
//   kind 33 PING        the sender's sequence number, opaque to the peer
//   kind 34 PING ACK    the PING's varint, echoed
//   kind 35 GOAWAY      reserved flags, 0 (server to client: open no new
//                       streams here; those in flight go on)
//   kind 36 GOAWAY ACK  reserved, 0 (client to server: no Invoke of mine
//                       follows this frame)
//
// A frame of these kinds that does not conform (a flag missing, a stream
// or message id other than 0, a body that is not exactly one varint) is
// dropped by the receiver, never fatal; so is a conforming one from a
// peer that did not announce the extension. Receivers ignore the value of
// the reserved varints (later versions may give them meaning).
#ifndef DRPC_WIRE_CONTROL_H
#define DRPC_WIRE_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#include "common/buf.h"
#include "wire/frame.h"

#define DRPC__KIND_PING       33
#define DRPC__KIND_PING_ACK   34
#define DRPC__KIND_GOAWAY     35
#define DRPC__KIND_GOAWAY_ACK 36

// DRPC__CTRL_BODY_MAX is the longest control body: one varint.
#define DRPC__CTRL_BODY_MAX 10

// drpc__ctrl_kind tells whether kind is one of the four above.
bool drpc__ctrl_kind(unsigned kind);

// drpc__ctrl_put writes the body of a control frame carrying v at out
// (DRPC__CTRL_BODY_MAX bytes of room) and returns its length.
size_t drpc__ctrl_put(uint8_t *out, uint64_t v);

// drpc__ctrl_append appends a whole control frame of kind carrying v.
drpc_err drpc__ctrl_append(drpc__buf *b, uint8_t kind, uint64_t v);

// drpc__ctrl_parse checks that f is a conforming control frame (one of
// the four kinds, control and done set, stream 0, message 0, the body
// exactly one varint) and gives its varint; false for anything else (the
// caller drops it).
bool drpc__ctrl_parse(const drpc__frame *f, uint64_t *v);

#endif // DRPC_WIRE_CONTROL_H
