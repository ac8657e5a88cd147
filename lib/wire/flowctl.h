// Flow-control frames (docs/protocol.md §13).
//
// Window update, frame-compatible with cockroachdb/drpc: kind 8, control
// and done set, message id 0, body exactly one varint, the positive byte
// delta, for stream id > 0. Stream 0, which cockroachdb/drpc reserves for
// a connection-level window (and drops today), carries exactly that
// between libdrpc peers that announced one in their hellos. A frame that
// does not conform is dropped by the receiver, never fatal.
//
// Hello, libdrpc's negotiation: kind 32 with control and done set, sent
// on a stream in that stream's message-id sequence. Every DRPC peer
// ignores a control packet of a kind it does not know, so a peer without
// the extension never notices it. Body: varints, version (1), the
// sender's receive window per stream in bytes, the charge per Message
// packet it wants counted against that window, its connection window
// (0: none), and the features it announces (flow control, multiplexing,
// control frames; absent: flow control only); the first three are required. Later
// versions may append fields, which a version-1 reader ignores.
#ifndef DRPC_WIRE_FLOWCTL_H
#define DRPC_WIRE_FLOWCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <drpc/error.h>

#include "common/buf.h"
#include "wire/frame.h"

#define DRPC__KIND_WINDOW_UPDATE 8
#define DRPC__KIND_HELLO         32
#define DRPC__HELLO_VERSION      1

// DRPC__HELLO_BODY_MAX is the longest hello body this library writes.
#define DRPC__HELLO_BODY_MAX 50

// Features a hello announces (the optional fifth field; a hello without
// it, from a first libdrpc, announces flow control). A receiver ignores
// bits it does not know, so new ones reach older peers harmlessly.
#define DRPC__HELLO_FLOW ((uint64_t) 1) // flow control: count and grant
#define DRPC__HELLO_MUX  ((uint64_t) 2) // concurrent streams welcome
#define DRPC__HELLO_CTRL ((uint64_t) 4) // ping and goaway frames understood
					// (wire/control.h)

typedef struct drpc__hello {
	uint64_t version;  // >= 1
	uint64_t window;   // receive window per stream, bytes (> 0)
	uint64_t msg_cost; // bytes charged per Message packet on top of its body
	uint64_t conn_window; // receive window of the connection, 0: none
	uint64_t features;    // DRPC__HELLO_FLOW | _MUX | _CTRL
} drpc__hello;

// drpc__window_update_append appends a whole window-update frame.
drpc_err drpc__window_update_append(
    drpc__buf *b, uint64_t stream_id, uint64_t delta);

// drpc__window_update_parse checks that f is a conforming window update
// (any stream id: whether stream 0 means anything is the caller's call)
// and gives its delta; false for anything else (the caller drops it).
bool drpc__window_update_parse(const drpc__frame *f, uint64_t *delta);

// drpc__hello_put writes h's body at out (DRPC__HELLO_BODY_MAX bytes of
// room) and returns its length.
size_t drpc__hello_put(uint8_t *out, const drpc__hello *h);

// drpc__hello_parse checks that f is a conforming hello (control and done
// set, version >= 1, window > 0, the three required fields present) and
// decodes it; false for anything else (the caller ignores it).
bool drpc__hello_parse(const drpc__frame *f, drpc__hello *h);

#endif // DRPC_WIRE_FLOWCTL_H
