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

void
drpc__ring_fini(drpc__ring *r)
{
	for (size_t i = 0; i < r->cap; i++) {
		drpc__buf_fini(&r->slots[i]);
	}
	free(r->slots);
	drpc__buf_fini(&r->spare);
	memset(r, 0, sizeof(*r));
}

// ring_drop gives up a slot's storage: it becomes the spare if there is
// none and it is small enough, or it is freed.
static void
ring_drop(drpc__ring *r, drpc__buf *slot)
{
	if (r->spare.data == NULL && slot->cap <= DRPC__RING_KEEP) {
		r->spare     = *slot;
		r->spare.len = 0;
	} else {
		drpc__buf_fini(slot);
	}
	*slot = (drpc__buf) {0};
}

// ring_slot takes the slot for the next put, giving it the spare storage.
static drpc__buf *
ring_slot(drpc__ring *r)
{
	drpc__buf *slot = &r->slots[(r->head + r->count) % r->cap];

	if (slot->data == NULL) {
		*slot   = r->spare;
		r->spare = (drpc__buf) {0};
	}
	slot->len = 0;
	return slot;
}

bool
drpc__ring_is_full(const drpc__ring *r)
{
	return r->count >= r->max;
}

// ring_resize moves the queued messages, in order from 0, to a new slot
// array of cap >= count slots (emptied slots hold no storage).
static drpc_err
ring_resize(drpc__ring *r, size_t cap)
{
	drpc__buf *slots;

	if ((slots = calloc(cap, sizeof(*slots))) == NULL) {
		return DRPC_ENOMEM;
	}
	for (size_t i = 0; i < r->count; i++) {
		slots[i] = r->slots[(r->head + i) % r->cap];
	}
	free(r->slots);
	r->slots = slots;
	r->cap   = cap;
	r->head  = 0;
	return DRPC_OK;
}

// ring_grow doubles the slot array.
static drpc_err
ring_grow(drpc__ring *r)
{
	size_t cap = r->cap == 0 ? 4 : r->cap * 2;

	return ring_resize(r, cap > r->max ? r->max : cap);
}

drpc_err
drpc__ring_put(drpc__ring *r, const uint8_t *data, size_t len)
{
	drpc__buf *slot;
	drpc_err   rv;

	DRPC__ASSERT(r->count < r->max);
	if (r->count == r->cap && (rv = ring_grow(r)) != DRPC_OK) {
		return rv;
	}
	slot = ring_slot(r);
	if ((rv = drpc__buf_append(slot, data, len)) != DRPC_OK) {
		return rv;
	}
	r->count++;
	r->bytes += len;
	return DRPC_OK;
}

drpc_err
drpc__ring_put_swap(drpc__ring *r, drpc__buf *b)
{
	drpc__buf *slot;
	drpc__buf  old;
	drpc_err   rv;

	DRPC__ASSERT(r->count < r->max);
	if (r->count == r->cap && (rv = ring_grow(r)) != DRPC_OK) {
		return rv;
	}
	slot   = &r->slots[(r->head + r->count) % r->cap];
	old    = *slot; // empty: released slots give their storage up
	*slot  = *b;
	*b     = old;
	b->len = 0;
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
	drpc__buf *slot = &r->slots[r->head];

	DRPC__ASSERT(drpc__ring_has_msg(r));
	r->borrowed = true;
	*data       = slot->data;
	*len        = slot->len;
}

// ring_shrink frees the slot array of an empty ring that grew to
// DRPC__RING_SHRINK slots, and halves a larger one a quarter full, so the array stays within four slots per
// queued message (beyond DRPC__RING_SHRINK). A borrowed head slot moves
// too: the borrower holds its storage, not the slot.
static void
ring_shrink(drpc__ring *r)
{
	if (r->cap < DRPC__RING_SHRINK) {
		return;
	}
	if (r->count == 0) {
		free(r->slots); // every slot gave its storage up
		r->slots = NULL;
		r->cap   = 0;
		r->head  = 0;
	} else if (r->cap > DRPC__RING_SHRINK && r->count < r->cap / 4) {
		(void) ring_resize(r, r->cap / 2); // no memory: keep it
	}
}

static void
ring_pop(drpc__ring *r)
{
	drpc__buf *slot = &r->slots[r->head];

	r->bytes -= slot->len;
	ring_drop(r, slot);
	r->head = (r->head + 1) % r->cap;
	r->count--;
	ring_shrink(r);
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
	size_t keep = r->borrowed ? 1 : 0;

	*msgs  = 0;
	*bytes = 0;
	while (r->count > keep) {
		// Drop from the tail so a borrowed head stays in place.
		drpc__buf *slot = &r->slots[(r->head + r->count - 1) % r->cap];

		*msgs += 1;
		*bytes += slot->len;
		r->bytes -= slot->len;
		ring_drop(r, slot);
		r->count--;
	}
	ring_shrink(r);
}
