// drpc__ring: a stream's bounded queue of received messages.
//
// Single producer (the connection's reader thread) and single consumer (the
// thread receiving on the stream). Put copies the message into a slot;
// borrow lends the oldest slot to the consumer, who holds it until release,
// so a message is handed over without a second copy. The slot array grows
// on demand up to max slots, halves as the queue drains below a quarter of
// it (down to DRPC__RING_SHRINK slots) and is freed when the ring empties
// (if it had grown to that many), so an idle stream costs a few bytes.
// What a ring keeps allocated beyond its queued messages is one spare
// buffer of at most DRPC__RING_KEEP bytes, reused by the next put: a
// released slot's storage becomes the spare if there is none and it is
// small enough, else it is freed, so neither one big message nor a burst of
// many pins memory (docs/design.md §8).
//
// Close records an error (the first one wins) that borrow returns only
// after every queued message has been consumed: a graceful end delivers all
// data. Not thread-safe: the stream's mutex guards every call.
#ifndef DRPC_STREAM_RING_H
#define DRPC_STREAM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#include "common/buf.h"

#define DRPC__RING_KEEP   ((size_t) 16 << 10)
#define DRPC__RING_SHRINK ((size_t) 64)

typedef struct drpc__ring {
	drpc__buf *slots;
	size_t     cap;      // slots allocated
	size_t     max;      // slots allowed
	size_t     head;     // index of the oldest message
	size_t     count;    // messages queued (a borrowed one included)
	size_t     bytes;    // their bodies' bytes
	drpc__buf  spare;    // storage kept for the next put (<= KEEP)
	bool       borrowed; // the head slot is lent to the consumer
	bool       closed;
	drpc_err   err; // the close error
} drpc__ring;

// drpc__ring_init prepares an empty ring of at most max slots (>= 1).
void drpc__ring_init(drpc__ring *r, size_t max);

// drpc__ring_fini frees every slot.
void drpc__ring_fini(drpc__ring *r);

// drpc__ring_is_full tells whether a put would exceed max.
bool drpc__ring_is_full(const drpc__ring *r);

// drpc__ring_put copies len bytes into a new slot. The caller checks
// is_full and closed first. Errors: DRPC_ENOMEM.
drpc_err drpc__ring_put(drpc__ring *r, const uint8_t *data, size_t len);

// drpc__ring_put_swap queues the bytes of *b without copying them: the
// new slot takes b's storage and b gets the slot's old (empty) storage.
// For a large packet reassembled from many frames. Errors: DRPC_ENOMEM.
drpc_err drpc__ring_put_swap(drpc__ring *r, drpc__buf *b);

// drpc__ring_has_msg tells whether a message is queued and not lent.
bool drpc__ring_has_msg(const drpc__ring *r);

// drpc__ring_borrow lends the oldest message (has_msg must be true); the
// bytes stay valid until drpc__ring_release.
void drpc__ring_borrow(drpc__ring *r, const uint8_t **data, size_t *len);

// drpc__ring_release gives the borrowed slot back.
void drpc__ring_release(drpc__ring *r);

// drpc__ring_close closes the ring with err (first call wins).
void drpc__ring_close(drpc__ring *r, drpc_err err);

// drpc__ring_clear drops every queued message but a borrowed one, and
// tells how many it dropped and their bytes.
void drpc__ring_clear(drpc__ring *r, size_t *msgs, size_t *bytes);

#endif // DRPC_STREAM_RING_H
