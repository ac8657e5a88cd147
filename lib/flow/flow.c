#include "flow/flow.h"
#include "platform/thread.h"

void
drpc__flow_budget_init(drpc__flow_budget *b, uint64_t limit)
{
	b->limit = limit > INT64_MAX ? INT64_MAX : (int64_t) limit;
	atomic_init(&b->exposed, 0);
	atomic_init(&b->nstarved, 0);
	b->head = NULL;
	b->tail = NULL;
	drpc__mutex_init(&b->mu);
}

void
drpc__flow_budget_fini(drpc__flow_budget *b)
{
	drpc__mutex_fini(&b->mu);
}

static uint64_t
rx_exposure(const drpc__flow_rx *rx)
{
	uint64_t top = rx->limit > rx->received ? rx->limit : rx->received;

	return top - rx->consumed;
}

// rx_sync brings the budget's sum up to date with rx's exposure, and
// tells whether it went down.
static bool
rx_sync(drpc__flow_budget *b, drpc__flow_rx *rx)
{
	int64_t x = rx->ended ? 0 : (int64_t) rx_exposure(rx);
	int64_t d = x - rx->charged;

	if (d != 0) {
		atomic_fetch_add(&b->exposed, d);
		rx->charged = x;
	}
	return d < 0;
}

void
drpc__flow_rx_init(drpc__flow_budget *b, drpc__flow_rx *rx,
    uint64_t window, uint64_t msg_cost, void *owner)
{
	*rx          = (drpc__flow_rx) {0};
	rx->window   = window;
	rx->msg_cost = msg_cost;
	rx->limit    = window;
	rx->owner    = owner;
	(void) rx_sync(b, rx);
}

void
drpc__flow_rx_received(drpc__flow_budget *b, drpc__flow_rx *rx, size_t len)
{
	rx->received += (uint64_t) len + rx->msg_cost;
	(void) rx_sync(b, rx);
}

bool
drpc__flow_rx_consumed(drpc__flow_budget *b, drpc__flow_rx *rx, size_t len)
{
	uint64_t n = (uint64_t) len + rx->msg_cost;

	// A message counted before the charge changed (negotiation) cannot
	// take C past R.
	rx->consumed += n <= rx->received - rx->consumed
	    ? n
	    : rx->received - rx->consumed;
	return rx_sync(b, rx) && atomic_load(&b->nstarved) > 0;
}

uint64_t
drpc__flow_rx_queued(const drpc__flow_rx *rx)
{
	return rx->received - rx->consumed;
}

// rx_unlink_locked takes rx off the starved FIFO (budget mu held).
static void
rx_unlink_locked(drpc__flow_budget *b, drpc__flow_rx *rx)
{
	if (!rx->starved) {
		return;
	}
	if (rx->prev != NULL) {
		rx->prev->next = rx->next;
	} else {
		b->head = rx->next;
	}
	if (rx->next != NULL) {
		rx->next->prev = rx->prev;
	} else {
		b->tail = rx->prev;
	}
	rx->prev    = NULL;
	rx->next    = NULL;
	rx->starved = false;
	atomic_fetch_sub(&b->nstarved, 1);
}

uint64_t
drpc__flow_rx_grant(drpc__flow_budget *b, drpc__flow_rx *rx)
{
	uint64_t want;
	int64_t  room;
	uint64_t d;

	if (!rx->active || rx->ended || rx->consumed + rx->window <= rx->limit) {
		return 0;
	}
	want = rx->consumed + rx->window - rx->limit;
	// Coalesce: a quarter of the window at a time, or all that is owed
	// once the application has caught up (a sender waiting for a large
	// first frame then gets the whole window).
	if (want < rx->window / 4 && rx->received > rx->consumed) {
		return 0;
	}
	drpc__mutex_lock(&b->mu);
	room = b->limit - atomic_load(&b->exposed);
	// Grants beyond the stream's overdraw do not raise its exposure.
	if (rx->received > rx->limit) {
		room += (int64_t) (rx->received - rx->limit);
	}
	d = room <= 0 ? 0 : (uint64_t) room < want ? (uint64_t) room : want;
	if (d < want && !rx->starved) {
		rx->starved = true; // the rest waits for room, in FIFO order
		rx->prev    = b->tail;
		rx->next    = NULL;
		if (b->tail != NULL) {
			b->tail->next = rx;
		} else {
			b->head = rx;
		}
		b->tail = rx;
		atomic_fetch_add(&b->nstarved, 1);
	} else if (d == want) {
		rx_unlink_locked(b, rx);
	}
	rx->limit += d;
	(void) rx_sync(b, rx);
	drpc__mutex_unlock(&b->mu);
	return d;
}

bool
drpc__flow_rx_end(drpc__flow_budget *b, drpc__flow_rx *rx)
{
	bool down;

	if (rx->ended) {
		return false;
	}
	rx->ended = true;
	down      = rx_sync(b, rx);
	drpc__mutex_lock(&b->mu);
	rx_unlink_locked(b, rx);
	drpc__mutex_unlock(&b->mu);
	return down && atomic_load(&b->nstarved) > 0;
}

void *
drpc__flow_budget_pop(drpc__flow_budget *b, void (*hold)(void *))
{
	drpc__flow_rx *rx = NULL;

	if (atomic_load(&b->nstarved) == 0) {
		return NULL;
	}
	drpc__mutex_lock(&b->mu);
	if (b->head != NULL && atomic_load(&b->exposed) < b->limit) {
		rx = b->head;
		rx_unlink_locked(b, rx);
		hold(rx->owner);
	}
	drpc__mutex_unlock(&b->mu);
	return rx != NULL ? rx->owner : NULL;
}

int64_t
drpc__flow_budget_exposed(drpc__flow_budget *b)
{
	return atomic_load(&b->exposed);
}
