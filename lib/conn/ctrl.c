// Liveness pings and graceful drain (docs/protocol.md §14, docs/design.md
// §6): the reader's handling of the control frames, the keepalive an
// owner thread calls, and the GOAWAY a stopping server sends.
//
// Design notes. Whether the peer has the extension is settled once, by
// the reader, when the hellos are exchanged (ctrl); nothing goes out
// before. A server settles it only after its answer is appended, and the
// writer keeps append order, so the client always reads the answer (and
// learns the server has the extension) before any PING or GOAWAY.
//
// The peer's silence is measured by the reader itself: it notes when it
// blocks in read() and clears the note when read() returns, so time spent
// handling frames, or waiting for room in a full ring or for the writer's
// backlog (the peer is then ours to wait for, not the other way round),
// never counts. That costs a clock read per read(), not per frame, and
// only on connections that ping. The ping state itself (one PING
// outstanding at most) is under the connection's mu, a leaf lock: pings
// are rare.
//
// GOAWAY ordering: a client sets draining under open_mu, then appends the
// GOAWAY ACK. An open holds open_mu from its check of draining until its
// Invoke is appended, so every Invoke the client wrote precedes the ACK on
// the wire (the writer never reorders what was appended: mux/writer.h). A
// server that reads the ACK first hands every invoke already read to
// on_invoke (before_goaway_ack still true), then marks the ACK: the
// invokes that raced the GOAWAY are served, and none follows.
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/cause.h"
#include "conn/conn_impl.h"
#include "mux/writer.h"
#include "platform/thread.h"
#include "transport/transport.h"
#include "wire/control.h"
#include "wire/flowctl.h"

#define CTRL_DEFAULT_TIMEOUT_NS (20 * 1000000000ll)

static int64_t
ctrl_add_sat(int64_t t, int64_t ns)
{
	return ns > INT64_MAX - t ? INT64_MAX : t + ns;
}

void
drpc__conn_ctrl_init(drpc__conn *c)
{
	const drpc__conn_opts *o = &c->opts;
	// A client sends a hello only when flow control is not off or the
	// multiplexing mode is automatic (conn.c, drpc__conn_open); a server
	// answers none when its multiplexing is off.
	bool never = o->is_server ? o->multiplex == DRPC_MULTIPLEX_OFF
	                          : o->flow == DRPC_FLOW_OFF &&
	                                o->multiplex != DRPC_MULTIPLEX_AUTO;

	atomic_init(&c->ctrl, never ? CONN_CTRL_NO : CONN_CTRL_UNKNOWN);
	atomic_init(&c->rx_wait_since, 0);
	atomic_init(&c->goaway, CONN_GOAWAY_NONE);
	atomic_init(&c->draining, false);
	if (c->opts.ping_interval_ns > 0 && c->opts.ping_timeout_ns <= 0) {
		c->opts.ping_timeout_ns = CTRL_DEFAULT_TIMEOUT_NS;
	}
}

drpc_err
drpc__conn_read_timed(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	drpc__conn *c = arg;
	drpc_err    rv;

	atomic_store_explicit(
	    &c->rx_wait_since, drpc__now_ns(), memory_order_relaxed);
	rv = drpc__transport_read(c->tr, buf, cap, n);
	atomic_store_explicit(&c->rx_wait_since, 0, memory_order_relaxed);
	return rv;
}

bool
drpc__conn_ctrl_ok(drpc__conn *c)
{
	return atomic_load(&c->ctrl) == CONN_CTRL_YES;
}

// ctrl_send appends one control frame on stream 0; false if the writer
// has stopped (the connection is ending).
static bool
ctrl_send(drpc__conn *c, uint8_t kind, uint64_t v)
{
	uint8_t body[DRPC__CTRL_BODY_MAX];

	return drpc__writer_control(&c->w, NULL, 0, kind, body,
	           drpc__ctrl_put(body, v)) == DRPC_OK;
}

// ctrl_goaway_send sends the GOAWAY asked for, once.
static void
ctrl_goaway_send(drpc__conn *c)
{
	int wanted = CONN_GOAWAY_WANTED;

	if (atomic_compare_exchange_strong(
	        &c->goaway, &wanted, CONN_GOAWAY_SENT)) {
		(void) ctrl_send(c, DRPC__KIND_GOAWAY, 0);
	}
}

void
drpc__conn_ctrl_settled(drpc__conn *c, uint64_t features)
{
	bool yes = (features & DRPC__HELLO_CTRL) != 0;

	// Sequentially consistent, as drpc__conn_goaway's: of a GOAWAY asked
	// for meanwhile, either this sees the request or the asker sees YES
	// (or both: the CAS in ctrl_goaway_send sends it once).
	atomic_store(&c->ctrl, yes ? CONN_CTRL_YES : CONN_CTRL_NO);
	if (yes && c->opts.is_server &&
	    atomic_load(&c->goaway) == CONN_GOAWAY_WANTED) {
		ctrl_goaway_send(c);
	}
}

void
drpc__conn_goaway(drpc__conn *c)
{
	int none = CONN_GOAWAY_NONE;

	if (!c->opts.is_server || !atomic_compare_exchange_strong(
	                              &c->goaway, &none, CONN_GOAWAY_WANTED)) {
		return;
	}
	if (atomic_load(&c->ctrl) == CONN_CTRL_YES) {
		ctrl_goaway_send(c);
	}
}

bool
drpc__conn_goaway_pending(drpc__conn *c)
{
	bool ended;

	if (atomic_load(&c->goaway) != CONN_GOAWAY_SENT) {
		return false;
	}
	drpc__mutex_lock(&c->mu);
	ended = c->terminated;
	drpc__mutex_unlock(&c->mu);
	return !ended;
}

bool
drpc__conn_draining(drpc__conn *c)
{
	return atomic_load(&c->draining);
}

drpc_err
drpc__conn_drain_cause(drpc__conn *c, drpc_cause *out)
{
	if (!drpc__conn_draining(c)) {
		drpc_cause_clear(out);
		return DRPC_OK;
	}
	return drpc__cause_set(out, DRPC_EUNAVAIL,
	    "the server is shutting down: it sent GOAWAY, no new streams on "
	    "this connection");
}

bool
drpc__conn_before_goaway_ack(drpc__conn *c)
{
	return atomic_load(&c->ctrl) == CONN_CTRL_YES &&
	       atomic_load(&c->goaway) != CONN_GOAWAY_ACKED;
}

// ctrl_on_goaway (client): no more opens, then the ACK, then the owner.
static void
ctrl_on_goaway(drpc__conn *c)
{
	bool first;

	drpc__mutex_lock(&c->open_mu);
	first = !atomic_load(&c->draining);
	atomic_store(&c->draining, true);
	drpc__mutex_unlock(&c->open_mu);
	if (!first) {
		return; // a second GOAWAY: nothing new
	}
	// Opens waiting for a slot give up (conn.c, conn_wait_slot).
	drpc__mutex_lock(&c->mu);
	drpc__cond_broadcast(&c->slot_cv);
	drpc__mutex_unlock(&c->mu);
	(void) ctrl_send(c, DRPC__KIND_GOAWAY_ACK, 0);
	if (c->opts.on_goaway != NULL) {
		c->opts.on_goaway(c->opts.arg);
	}
}

// ctrl_on_goaway_ack (server): the invokes read before the ACK go to
// on_invoke first, while they still count as before it.
static void
ctrl_on_goaway_ack(drpc__conn *c)
{
	if (atomic_load(&c->goaway) != CONN_GOAWAY_SENT) {
		return; // no GOAWAY of ours to answer, or answered already
	}
	drpc__conn_flush_ready(c);
	atomic_store(&c->goaway, CONN_GOAWAY_ACKED);
	if (c->opts.on_goaway_acked != NULL) {
		c->opts.on_goaway_acked(c->opts.arg);
	}
}

// ctrl_on_ack takes the answer to our PING: only the one outstanding.
static void
ctrl_on_ack(drpc__conn *c, uint64_t seq)
{
	drpc__mutex_lock(&c->mu);
	if (c->ping_sent_ns != 0 && seq == c->ping_seq) {
		c->ping_sent_ns = 0;
		c->acks_taken++;
	}
	drpc__mutex_unlock(&c->mu);
}

void
drpc__conn_on_ctrl(drpc__conn *c, const drpc__frame *f)
{
	uint64_t v;

	if (!drpc__ctrl_parse(f, &v) || !drpc__conn_ctrl_ok(c)) {
		return; // nonconforming, or from a peer without it: dropped
	}
	if (c->opts.ctrl_hook != NULL) {
		c->opts.ctrl_hook(c->opts.hook_arg, f->kind);
	}
	switch (f->kind) {
	case DRPC__KIND_PING:
		if (ctrl_send(c, DRPC__KIND_PING_ACK, v)) {
			drpc__mutex_lock(&c->mu);
			c->pings_answered++;
			drpc__mutex_unlock(&c->mu);
		}
		break;
	case DRPC__KIND_PING_ACK:
		ctrl_on_ack(c, v);
		break;
	case DRPC__KIND_GOAWAY:
		if (!c->opts.is_server) {
			ctrl_on_goaway(c);
		}
		break;
	default: // DRPC__KIND_GOAWAY_ACK
		if (c->opts.is_server) {
			ctrl_on_goaway_ack(c);
		}
		break;
	}
}

// ctrl_step decides, under mu, what keepalive does at now: *seq > 0 asks
// for a PING with that number, *dead for the end; returns the next time.
static int64_t
ctrl_step_locked(drpc__conn *c, int64_t now, uint64_t *seq, bool *dead)
{
	int64_t iv = c->opts.ping_interval_ns;
	int64_t to = c->opts.ping_timeout_ns;
	int64_t since =
	    atomic_load_explicit(&c->rx_wait_since, memory_order_relaxed);

	// Not blocked in read(): the peer's silence is not being measured.
	since = since == 0 || since > now ? now : since;
	if (c->ping_sent_ns != 0) {
		int64_t due;

		since = since > c->ping_sent_ns ? since : c->ping_sent_ns;
		*dead = now - since >= to;
		// Called again an interval on at the latest: the ACK, which
		// nobody announces, is usually long in by then, and the next
		// PING is due an interval after it.
		due = ctrl_add_sat(since, to);
		return due < ctrl_add_sat(now, iv) ? due
		                                   : ctrl_add_sat(now, iv);
	}
	if (now - since < iv) {
		return ctrl_add_sat(since, iv);
	}
	*seq            = ++c->ping_seq;
	c->ping_sent_ns = now > 0 ? now : 1;
	c->pings_sent++;
	return ctrl_add_sat(now, to < iv ? to : iv);
}

int64_t
drpc__conn_keepalive(drpc__conn *c, int64_t now_ns)
{
	uint64_t seq  = 0;
	bool     dead = false;
	int      ctrl = atomic_load(&c->ctrl);
	int64_t  next;
	char     why[96];

	if (c->opts.ping_interval_ns <= 0 || ctrl == CONN_CTRL_NO) {
		return 0;
	}
	drpc__mutex_lock(&c->mu);
	if (c->terminated) {
		drpc__mutex_unlock(&c->mu);
		return 0;
	}
	next = ctrl == CONN_CTRL_UNKNOWN
	           ? ctrl_add_sat(now_ns, c->opts.ping_interval_ns)
	           : ctrl_step_locked(c, now_ns, &seq, &dead);
	drpc__mutex_unlock(&c->mu);
	if (dead) {
		(void) snprintf(why, sizeof(why),
		    "peer did not answer a ping within %lld ms",
		    (long long) (c->opts.ping_timeout_ns / 1000000));
		drpc__conn_abort(c, DRPC_EUNAVAIL, why);
		return 0;
	}
	if (seq != 0 && !ctrl_send(c, DRPC__KIND_PING, seq)) {
		return 0; // the writer stopped: the connection is ending
	}
	return next;
}

void
drpc__conn_ctrl_stats_get(drpc__conn *c, drpc__conn_ctrl_stats *st)
{
	int g = atomic_load(&c->goaway);

	drpc__mutex_lock(&c->mu);
	st->pings_sent     = c->pings_sent;
	st->acks_taken     = c->acks_taken;
	st->pings_answered = c->pings_answered;
	drpc__mutex_unlock(&c->mu);
	st->goaway =
	    c->opts.is_server ? g >= CONN_GOAWAY_SENT : drpc__conn_draining(c);
	st->goaway_acked = g == CONN_GOAWAY_ACKED;
}
