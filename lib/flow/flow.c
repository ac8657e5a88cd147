#include "flow/flow.h"
#include "platform/thread.h"

void
drpc__flow_rx_init(drpc__flow_rx *rx, uint64_t window, uint64_t cost)
{
	*rx          = (drpc__flow_rx) {0};
	rx->window   = window;
	rx->msg_cost = cost;
	rx->limit    = window;
}

uint64_t
drpc__flow_charge(const drpc__flow_rx *rx, size_t len)
{
	return (uint64_t) len + rx->msg_cost;
}

// want_grant is the grant that restores limit to consumed + window, once
// it is worth a window update: a quarter of the window, or anything at
// all when the peer has used up its credit (received >= limit: it may be
// waiting, and would wait for ever for a quarter that never comes). So a
// consumer that keeps up costs one update per quarter window, not one per
// message, and a flood of tiny messages cannot make us write per message.
static uint64_t
want_grant(uint64_t window, uint64_t limit, uint64_t received,
    uint64_t consumed)
{
	uint64_t want;

	if (consumed + window <= limit) {
		return 0;
	}
	want = consumed + window - limit;
	return want >= window / 4 || received >= limit ? want : 0;
}

uint64_t
drpc__flow_rx_grant(drpc__flow_rx *rx)
{
	uint64_t d;

	if (!rx->active) {
		return 0;
	}
	d = want_grant(rx->window, rx->limit, rx->received, rx->consumed);
	rx->limit += d;
	return d;
}

void
drpc__flow_conn_init(drpc__flow_conn *fc)
{
	*fc = (drpc__flow_conn) {0};
	drpc__mutex_init(&fc->mu);
}

void
drpc__flow_conn_fini(drpc__flow_conn *fc)
{
	drpc__mutex_fini(&fc->mu);
}

uint64_t
drpc__flow_conn_activate(drpc__flow_conn *fc, uint64_t window)
{
	uint64_t d = 0;

	drpc__mutex_lock(&fc->mu);
	if (!fc->active) {
		fc->active = true;
		fc->window = window;
		// The count runs from the connection's start: what was
		// received before is inside the initial window, and what was
		// consumed before is owed now.
		fc->limit = window;
		d = want_grant(
		    fc->window, fc->limit, fc->received, fc->consumed);
		fc->limit += d;
	}
	drpc__mutex_unlock(&fc->mu);
	return d;
}

void
drpc__flow_conn_received(drpc__flow_conn *fc, uint64_t n)
{
	drpc__mutex_lock(&fc->mu);
	fc->received += n;
	drpc__mutex_unlock(&fc->mu);
}

uint64_t
drpc__flow_conn_consumed(drpc__flow_conn *fc, uint64_t n)
{
	uint64_t d = 0;

	drpc__mutex_lock(&fc->mu);
	fc->consumed += n <= fc->received - fc->consumed
	    ? n
	    : fc->received - fc->consumed;
	if (fc->active) {
		d = want_grant(
		    fc->window, fc->limit, fc->received, fc->consumed);
		fc->limit += d;
	}
	drpc__mutex_unlock(&fc->mu);
	return d;
}

uint64_t
drpc__flow_conn_held(drpc__flow_conn *fc)
{
	uint64_t n;

	drpc__mutex_lock(&fc->mu);
	n = fc->received - fc->consumed;
	drpc__mutex_unlock(&fc->mu);
	return n;
}

void
drpc__rxmem_init(drpc__rxmem *m, uint64_t limit)
{
	atomic_init(&m->taken, 0);
	atomic_init(&m->given, 0);
	atomic_init(&m->waiting, false);
	m->limit   = limit > (uint64_t) INT64_MAX ? INT64_MAX : (int64_t) limit;
	m->strikes = 0;
	m->stopped = false;
	drpc__mutex_init(&m->mu);
	drpc__cond_init(&m->cv);
}

void
drpc__rxmem_fini(drpc__rxmem *m)
{
	drpc__cond_fini(&m->cv);
	drpc__mutex_fini(&m->mu);
}

drpc_err
drpc__rxmem_wait(drpc__rxmem *m, uint64_t n, int64_t deadline_ns)
{
	drpc_err rv = DRPC_OK;

	drpc__mutex_lock(&m->mu);
	// waiting is set before held is read again (both sequentially
	// consistent), and a giver adds before it reads waiting: one of the
	// two sees the other, so no wake-up is lost.
	atomic_store(&m->waiting, true);
	for (;;) {
		int64_t held = atomic_load(&m->taken) - atomic_load(&m->given);

		if (m->stopped) {
			rv = DRPC_ECLOSED;
			break;
		}
		if (n <= (uint64_t) INT64_MAX && held <= m->limit - (int64_t) n) {
			break;
		}
		if (drpc__cond_wait_until(&m->cv, &m->mu, deadline_ns) ==
			DRPC_ETIMEDOUT &&
		    deadline_ns != 0 && drpc__now_ns() >= deadline_ns) {
			rv = DRPC_ETIMEDOUT;
			break;
		}
	}
	atomic_store(&m->waiting, false);
	drpc__mutex_unlock(&m->mu);
	return rv;
}

void
drpc__rxmem_stop(drpc__rxmem *m)
{
	drpc__mutex_lock(&m->mu);
	m->stopped = true;
	drpc__cond_broadcast(&m->cv);
	drpc__mutex_unlock(&m->mu);
}

int64_t
drpc__rxmem_held(const drpc__rxmem *m)
{
	return atomic_load_explicit(&m->taken, memory_order_relaxed) -
	    atomic_load_explicit(&m->given, memory_order_relaxed);
}

bool
drpc__rxmem_fits(const drpc__rxmem *m, uint64_t n)
{
	return n <= (uint64_t) INT64_MAX &&
	    drpc__rxmem_held(m) <= m->limit - (int64_t) n;
}

void
drpc__rxmem_take(drpc__rxmem *m, int64_t n)
{
	int64_t t = atomic_load_explicit(&m->taken, memory_order_relaxed);

	atomic_store_explicit(&m->taken, t + n, memory_order_relaxed);
}

void
drpc__rxmem_give(drpc__rxmem *m, int64_t n)
{
	atomic_fetch_add(&m->given, n);
	if (atomic_load(&m->waiting)) {
		drpc__mutex_lock(&m->mu);
		drpc__cond_broadcast(&m->cv);
		drpc__mutex_unlock(&m->mu);
	}
}
