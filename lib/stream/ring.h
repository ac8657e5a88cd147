// drpc__ring: a stream's bounded queue of received messages.
//
// Single producer (the connection's reader thread) and single consumer (the
// thread receiving on the stream). Put copies the message into a slot;
// borrow lends the oldest slot to the consumer, who holds it until release,
// so a message is handed over without a second copy.
//
// The slots live in blocks of DRPC__RING_BLOCK, linked in queue order: the
// queue grows and shrinks a block at a time, never copying or reallocating
// a large array, and holds at most two blocks more than its messages need
// (one partly used at each end) plus one empty block kept for reuse. A
// block also carries a small arena: a small message is copied there (its
// slot's cap is 0: the storage is the block's), so the common small
// message costs no allocation and its memory goes when its block is
// recycled. A larger one gets its own buffer, freed when it is released
// unless it becomes the ring's one spare buffer (at most DRPC__RING_KEEP
// bytes, reused by the next put). So what a ring keeps allocated beyond
// its queued messages is bounded (DRPC__RING_RETAIN), however many
// messages it once held (docs/design.md §8).
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

#define DRPC__RING_BLOCK 64                  // slots per block
#define DRPC__RING_ARENA ((size_t) 4 << 10)  // a block's arena
#define DRPC__RING_KEEP  ((size_t) 16 << 10) // the spare buffer, at most

typedef struct drpc__ring_block {
	struct drpc__ring_block *next;
	size_t                   used; // arena bytes handed out
	drpc__buf                slot[DRPC__RING_BLOCK];
	_Alignas(8) uint8_t      arena[DRPC__RING_ARENA];
} drpc__ring_block;

// DRPC__RING_RETAIN bounds what an idle ring keeps allocated: two blocks
// (the current one and the one kept) and the spare buffer.
#define DRPC__RING_RETAIN (2 * sizeof(drpc__ring_block) + DRPC__RING_KEEP)

typedef struct drpc__ring {
	drpc__ring_block *first;    // block of the oldest message
	drpc__ring_block *last;     // block the next put goes into
	drpc__ring_block *idle;     // an empty block kept for reuse
	size_t            head;     // the oldest message's slot in first
	size_t            tail;     // the next put's slot in last
	size_t            max;      // messages allowed
	size_t            count;    // messages queued (a borrowed one included)
	size_t            bytes;    // their bodies' bytes
	bool              borrowed; // the head slot is lent to the consumer
	bool              closed;
	drpc_err          err;      // the close error
	drpc__buf         spare;    // storage kept for the next put
} drpc__ring;

// drpc__ring_init prepares an empty ring of at most max messages (>= 1).
void drpc__ring_init(drpc__ring *r, size_t max);

// drpc__ring_fini frees every slot.
void drpc__ring_fini(drpc__ring *r);

// drpc__ring_is_full tells whether a put would exceed max.
bool drpc__ring_is_full(const drpc__ring *r);

// drpc__ring_put copies len bytes into a new slot. The caller checks
// is_full and closed first. Errors: DRPC_ENOMEM.
drpc_err drpc__ring_put(drpc__ring *r, const uint8_t *data, size_t len);

// drpc__ring_put_swap queues the bytes of *b without copying them: the
// new slot takes b's storage, and b is left empty. For a large packet
// reassembled from many frames. Errors: DRPC_ENOMEM.
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

// drpc__ring_retained is what r has allocated beyond its queued messages'
// own buffers (blocks, arenas included, and the spare), for tests.
size_t drpc__ring_retained(const drpc__ring *r);

#endif // DRPC_STREAM_RING_H
