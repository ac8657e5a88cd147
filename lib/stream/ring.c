// The receive ring's blocks, arena and spare buffer (ring.h says how a
// ring is laid out and what it keeps). No lock of its own: every call is
// made with the owning stream's mu held, or by one who alone holds the
// stream: put by the reader thread (recv.c), borrow and release by the
// receiving thread (recv.c), close by the reader on the peer's CloseSend
// (recv.c) or by whichever thread ends the stream (state.c), clear by one
// that cancels or overruns it (credit.c), init by create and fini by the
// last reference's rele (state.c).
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "platform/thread.h"
#include "stream/ring.h"

void
drpc__ring_init(drpc__ring *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max == 0 ? 1 : max;
}

// ring_block_free frees a block and the buffers its slots own (a slot
// whose cap is 0 lives in the block's arena).
static void
ring_block_free(drpc__ring_block *b)
{
	if (b == NULL) {
		return;
	}
	for (size_t i = 0; i < DRPC__RING_BLOCK; i++) {
		if (b->slot[i].cap > 0) {
			drpc__buf_fini(&b->slot[i]);
		}
	}
	free(b);
}

void
drpc__ring_fini(drpc__ring *r)
{
	drpc__ring_block *b = r->first;

	while (b != NULL) {
		drpc__ring_block *next = b->next;

		ring_block_free(b);
		b = next;
	}
	ring_block_free(r->idle);
	drpc__buf_fini(&r->spare);
	memset(r, 0, sizeof(*r));
}

bool
drpc__ring_is_full(const drpc__ring *r)
{
	return r->count >= r->max;
}

// ring_store_put takes a released slot's storage: an arena slot's is the
// block's; an own buffer becomes the spare if there is none and it is
// small enough, or it is freed. The slot is left empty.
static void
ring_store_put(drpc__ring *r, drpc__buf *slot)
{
	if (slot->cap == 0) {
		// In the block's arena: it goes with the block.
	} else if (r->spare.data == NULL && slot->cap <= DRPC__RING_KEEP) {
		r->spare     = *slot;
		r->spare.len = 0;
	} else {
		drpc__buf_fini(slot);
	}
	*slot = (drpc__buf) {0};
}

// ring_store_fill copies len bytes into the empty slot of block b:
// into b's arena if they fit, else into the spare buffer if it is large
// enough, else into a new buffer.
static drpc_err
ring_store_fill(drpc__ring *r, drpc__ring_block *b, drpc__buf *slot,
    const uint8_t *data, size_t len)
{
	size_t room = DRPC__RING_ARENA - b->used;

	if (len <= room) {
		slot->data = b->arena + b->used;
		slot->len  = len;
		slot->cap  = 0;
		if (len > 0) {
			memcpy(slot->data, data, len);
		}
		b->used += (len + 7) & ~(size_t) 7; // the next starts aligned
		if (b->used > DRPC__RING_ARENA) {
			b->used = DRPC__RING_ARENA;
		}
		return DRPC_OK;
	}
	if (r->spare.data != NULL && len <= r->spare.cap) {
		*slot    = r->spare;
		r->spare = (drpc__buf) {0};
	}
	slot->len = 0;
	return drpc__buf_append(slot, data, len);
}

// ring_next_slot returns the slot the next put fills, adding a block if
// the last one is full (or there is none). NULL: no memory.
static drpc__buf *
ring_next_slot(drpc__ring *r)
{
	if (r->last == NULL || r->tail == DRPC__RING_BLOCK) {
		drpc__ring_block *b = r->idle;

		if (b != NULL) {
			r->idle = NULL;
		} else if ((b = malloc(sizeof(*b))) == NULL) {
			return NULL;
		} else {
			// The arena needs no zeroing: only what is copied
			// there is ever read.
			memset(b, 0, offsetof(drpc__ring_block, arena));
		}
		b->next = NULL;
		b->used = 0;
		if (r->last != NULL) {
			r->last->next = b;
		} else {
			r->first = b;
			r->head  = 0;
		}
		r->last = b;
		r->tail = 0;
	}
	return &r->last->slot[r->tail];
}

drpc_err
drpc__ring_put(drpc__ring *r, const uint8_t *data, size_t len)
{
	drpc__buf *slot;
	drpc_err   rv;

	DRPC__ASSERT(r->count < r->max);
	if ((slot = ring_next_slot(r)) == NULL) {
		return DRPC_ENOMEM;
	}
	if ((rv = ring_store_fill(r, r->last, slot, data, len)) != DRPC_OK) {
		ring_store_put(r, slot);
		return rv;
	}
	r->tail++;
	r->count++;
	r->bytes += len;
	return DRPC_OK;
}

drpc_err
drpc__ring_put_swap(drpc__ring *r, drpc__buf *b)
{
	drpc__buf *slot;

	DRPC__ASSERT(r->count < r->max);
	if ((slot = ring_next_slot(r)) == NULL) {
		return DRPC_ENOMEM;
	}
	*slot = *b;
	*b    = (drpc__buf) {0};
	r->tail++;
	r->count++;
	r->bytes += slot->len;
	return DRPC_OK;
}

bool
drpc__ring_has_msg(const drpc__ring *r)
{
	return r->count > 0 && !r->borrowed;
}

void
drpc__ring_borrow(drpc__ring *r, const uint8_t **data, size_t *len)
{
	drpc__buf *slot = &r->first->slot[r->head];

	DRPC__ASSERT(drpc__ring_has_msg(r));
	r->borrowed = true;
	*data       = slot->data;
	*len        = slot->len;
}

// ring_block_done recycles a block no message uses any more: kept as the
// idle block if there is none, else freed.
static void
ring_block_done(drpc__ring *r, drpc__ring_block *b)
{
	if (r->idle == NULL) {
		r->idle = b;
	} else {
		ring_block_free(b);
	}
}

// ring_pop releases the oldest message.
static void
ring_pop(drpc__ring *r)
{
	drpc__buf *slot = &r->first->slot[r->head];

	r->bytes -= slot->len;
	ring_store_put(r, slot);
	r->count--;
	r->head++;
	if (r->count == 0 && r->first == r->last) {
		r->head        = 0; // empty: the block is reused from its start
		r->tail        = 0;
		r->first->used = 0;
	} else if (r->head == DRPC__RING_BLOCK) {
		drpc__ring_block *b = r->first;

		r->first = b->next;
		r->head  = 0;
		if (r->first == NULL) {
			r->last = NULL;
		}
		ring_block_done(r, b);
	}
}

void
drpc__ring_release(drpc__ring *r)
{
	DRPC__ASSERT(r->borrowed);
	r->borrowed = false;
	ring_pop(r);
}

void
drpc__ring_close(drpc__ring *r, drpc_err err)
{
	if (!r->closed) {
		r->closed = true;
		r->err    = err;
	}
}

void
drpc__ring_clear(drpc__ring *r, size_t *msgs, size_t *bytes)
{
	drpc__ring_block *b;
	size_t            keep = r->borrowed ? 1 : 0;
	size_t            i;

	*msgs  = 0;
	*bytes = 0;
	if (r->count <= keep) {
		return;
	}
	// Every message after the kept ones, block by block from the head.
	b = r->first;
	i = r->head + keep;
	for (size_t n = r->count - keep; n > 0; n--, i++) {
		if (i == DRPC__RING_BLOCK) {
			b = b->next;
			i = 0;
		}
		*msgs += 1;
		*bytes += b->slot[i].len;
		ring_store_put(r, &b->slot[i]);
	}
	r->bytes -= *bytes;
	r->count = keep;
	// What is left ends in the head block, right after the kept slot.
	b = r->first->next;
	r->first->next = NULL;
	r->last        = r->first;
	r->tail        = r->head + keep;
	if (keep == 0) {
		r->head        = 0;
		r->tail        = 0;
		r->first->used = 0;
	}
	while (b != NULL) {
		drpc__ring_block *next = b->next;

		ring_block_done(r, b);
		b = next;
	}
}

size_t
drpc__ring_retained(const drpc__ring *r)
{
	size_t n = r->spare.cap;

	for (const drpc__ring_block *b = r->first; b != NULL; b = b->next) {
		n += sizeof(*b);
	}
	n += r->idle != NULL ? sizeof(*r->idle) : 0;
	return n;
}
