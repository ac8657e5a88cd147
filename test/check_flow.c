// Flow control (docs/design.md §9, docs/protocol.md §13): the wire frames,
// the receive accounting, negotiation with libdrpc and plain peers, and
// the guarantees: a stream whose application stops reading stalls only its
// own sender, memory stays under the documented bound, blocked senders
// are cancellable. Ordered by events and hooks; the only clock reads are
// measurements (throughput, memory) and one precondition (did a sender
// sleep before its deadline?), never synchronisation.
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "connutil.h"
#include "flow/flow.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"
#include "wire/varint.h"

#define KIB ((size_t) 1 << 10)
#define MIB ((size_t) 1 << 20)

// test_scale is CK_TIMEOUT_MULTIPLIER (sanitizer and valgrind runs): the
// big transfers shrink by its square there, and RSS, which sanitizers
// inflate, is checked in plain builds only.
static size_t
test_scale(void)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	int         k = m != NULL ? atoi(m) : 1;

	return k > 1 ? (size_t) k : 1;
}

static size_t
rss_bytes(void)
{
	FILE         *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0;
	unsigned long res  = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &res), 2);
	fclose(f);
	return (size_t) res * (size_t) sysconf(_SC_PAGESIZE);
}

static double
now_s(void)
{
	return (double) drpc__now_ns() / 1e9;
}

// pattern_fill writes message seq of a stream tagged tag.
static void
pattern_fill(uint8_t *p, size_t n, uint64_t tag, uint64_t seq)
{
	uint8_t b = (uint8_t) (tag * 131 + seq * 7);

	for (size_t i = 0; i < n; i++) {
		p[i] = (uint8_t) (b + i);
	}
}

static bool
pattern_ok(const uint8_t *p, size_t n, uint64_t tag, uint64_t seq)
{
	uint8_t b = (uint8_t) (tag * 131 + seq * 7);

	for (size_t i = 0; i < n; i++) {
		if (p[i] != (uint8_t) (b + i)) {
			return false;
		}
	}
	return true;
}

// The wire frames.

static drpc__frame
parse_one(const drpc__buf *b)
{
	drpc__frame f;
	size_t      used;

	DRPC_CHECK_OK(drpc__frame_parse(b->data, b->len, 1 << 20, &f, &used));
	ck_assert_uint_eq(used, b->len);
	return f;
}

START_TEST(test_flow_wire_window)
{
	static const uint64_t deltas[] = {1, 127, 128, 1u << 20, UINT64_MAX};
	drpc__buf             b        = {0};
	drpc__frame           f;
	uint64_t              d;
	uint8_t               body[16];

	for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		b.len = 0;
		DRPC_CHECK_OK(drpc__window_update_append(&b, 7, deltas[i]));
		f = parse_one(&b);
		ck_assert_uint_eq(f.kind, DRPC__KIND_WINDOW_UPDATE);
		ck_assert(f.control && f.done);
		ck_assert_uint_eq(f.stream_id, 7);
		ck_assert_uint_eq(f.message_id, 0);
		ck_assert(drpc__window_update_parse(&f, &d));
		ck_assert_uint_eq(d, deltas[i]);
	}
	// The worked example of docs/protocol.md §13: stream 1, 64 KiB.
	b.len = 0;
	DRPC_CHECK_OK(drpc__window_update_append(&b, 1, 65536));
	ck_assert_uint_eq(b.len, 7);
	ck_assert_mem_eq(b.data, "\x91\x01\x00\x03\x80\x80\x04", 7);
	drpc__buf_fini(&b);

	// Non-conforming frames are refused (the reader drops them).
	f = (drpc__frame) {.stream_id = 3, .data = body, .len = 1,
	    .kind = DRPC__KIND_WINDOW_UPDATE, .done = true, .control = true};
	body[0] = 5;
	ck_assert(drpc__window_update_parse(&f, &d) && d == 5);
	f.control = false;
	ck_assert(!drpc__window_update_parse(&f, &d));
	f.control = true;
	f.done    = false;
	ck_assert(!drpc__window_update_parse(&f, &d));
	f.done      = true;
	f.stream_id = 0; // conforming; what it means is the caller's call
	ck_assert(drpc__window_update_parse(&f, &d) && d == 5);
	f.stream_id = 3;
	body[0]     = 0; // a zero delta
	ck_assert(!drpc__window_update_parse(&f, &d));
	body[0] = 5;
	body[1] = 1; // a trailing byte
	f.len   = 2;
	ck_assert(!drpc__window_update_parse(&f, &d));
	f.len = 0; // no body
	ck_assert(!drpc__window_update_parse(&f, &d));
	body[0] = 0x85; // a varint cut short
	f.len   = 1;
	ck_assert(!drpc__window_update_parse(&f, &d));
	memset(body, 0xff, 11); // a varint too long
	f.len = 11;
	ck_assert(!drpc__window_update_parse(&f, &d));
	f.kind = DRPC__KIND_MESSAGE;
	f.len  = 1;
	body[0] = 5;
	ck_assert(!drpc__window_update_parse(&f, &d));
}
END_TEST

START_TEST(test_flow_wire_hello)
{
	drpc__hello h = {DRPC__HELLO_VERSION, 1 << 20, 64, 16 << 20,
	    DRPC__HELLO_FLOW | DRPC__HELLO_MUX};
	drpc__hello got;
	uint8_t     body[DRPC__HELLO_BODY_MAX + 4];
	size_t      n = drpc__hello_put(body, &h);
	drpc__frame f = {.stream_id = 1, .message_id = 2, .data = body,
	    .len = n, .kind = DRPC__KIND_HELLO, .done = true, .control = true};

	ck_assert_uint_eq(n, 10);
	ck_assert_mem_eq(body, "\x01\x80\x80\x40\x40\x80\x80\x80\x08\x03", 10);
	ck_assert(drpc__hello_parse(&f, &got));
	ck_assert_uint_eq(got.version, 1);
	ck_assert_uint_eq(got.window, 1 << 20);
	ck_assert_uint_eq(got.msg_cost, 64);
	ck_assert_uint_eq(got.conn_window, 16 << 20);
	ck_assert_uint_eq(got.features, DRPC__HELLO_FLOW | DRPC__HELLO_MUX);
	f.len = 9; // without the features: a first libdrpc's, flow only
	ck_assert(drpc__hello_parse(&f, &got) &&
	    got.features == DRPC__HELLO_FLOW);
	f.len = 5; // without the optional connection window
	ck_assert(drpc__hello_parse(&f, &got) && got.conn_window == 0);
	f.len = n;
	// A later version's extra fields are ignored.
	body[0]   = 2;
	body[n]   = 0x2a;
	f.len     = n + 1;
	ck_assert(drpc__hello_parse(&f, &got) && got.version == 2);
	body[0] = 1;
	f.len   = n;
	f.control = false;
	ck_assert(!drpc__hello_parse(&f, &got));
	f.control = true;
	f.done    = false;
	ck_assert(!drpc__hello_parse(&f, &got));
	f.done = true;
	f.len  = 2; // a field missing
	ck_assert(!drpc__hello_parse(&f, &got));
	f.len   = n;
	body[0] = 0; // version 0
	ck_assert(!drpc__hello_parse(&f, &got));
	body[0] = 1;
	h.window = 0;
	f.len    = drpc__hello_put(body, &h);
	ck_assert(!drpc__hello_parse(&f, &got));
}
END_TEST

// The receive accounting.

START_TEST(test_flow_account_stream)
{
	drpc__flow_rx rx;

	drpc__flow_rx_init(&rx, 100, 0);
	rx.received = 60;
	ck_assert_uint_eq(drpc__flow_rx_grant(&rx), 0); // not active
	rx.active   = true;
	rx.consumed = 10;
	// Nothing until a quarter of the window is freed, or all is.
	ck_assert_uint_eq(drpc__flow_rx_grant(&rx), 0);
	rx.consumed = 30;
	ck_assert_uint_eq(drpc__flow_rx_grant(&rx), 30); // L = C + W
	ck_assert_uint_eq(rx.limit, 130);
	rx.consumed = 60;
	ck_assert_uint_eq(drpc__flow_rx_grant(&rx), 30);
	// An overdraw (a message larger than the credit, sent whole).
	rx.received = 310;
	ck_assert_uint_eq(drpc__flow_rx_grant(&rx), 0);
	rx.consumed = 310;
	ck_assert_uint_eq(drpc__flow_rx_grant(&rx), 250);
	ck_assert_uint_eq(rx.limit, 410);
	// A peer that has used all its credit gets even a small grant.
	rx.received = 410;
	rx.consumed = 320;
	ck_assert_uint_eq(drpc__flow_rx_grant(&rx), 10);
	rx.received = 409; // not quite: it can still start a message
	rx.consumed = 321;
	ck_assert_uint_eq(drpc__flow_rx_grant(&rx), 0);
	rx.msg_cost = 64;
	ck_assert_uint_eq(drpc__flow_charge(&rx, 10), 74);
}
END_TEST

START_TEST(test_flow_account_conn)
{
	drpc__flow_conn fc;

	drpc__flow_conn_init(&fc);
	drpc__flow_conn_received(&fc, 100);
	ck_assert_uint_eq(drpc__flow_conn_consumed(&fc, 10), 0); // inactive
	drpc__flow_conn_activate(&fc, 200);
	ck_assert_uint_eq(drpc__flow_conn_held(&fc), 90);
	ck_assert_uint_eq(drpc__flow_conn_consumed(&fc, 30), 0);
	ck_assert_uint_eq(drpc__flow_conn_consumed(&fc, 20), 60);
	ck_assert_uint_eq(drpc__flow_conn_held(&fc), 40);
	// More than was received cannot be consumed; 40 owed is under a
	// quarter and the peer has credit left: no update for it yet.
	ck_assert_uint_eq(drpc__flow_conn_consumed(&fc, 1000), 0);
	ck_assert_uint_eq(drpc__flow_conn_held(&fc), 0);
	// The peer uses up its credit (R >= L): what is owed goes at once.
	drpc__flow_conn_received(&fc, 170);
	ck_assert_uint_eq(drpc__flow_conn_consumed(&fc, 5), 45);
	drpc__flow_conn_fini(&fc);
	// What was consumed before activation is granted on activation.
	drpc__flow_conn_init(&fc);
	drpc__flow_conn_received(&fc, 100);
	ck_assert_uint_eq(drpc__flow_conn_consumed(&fc, 100), 0);
	ck_assert_uint_eq(drpc__flow_conn_activate(&fc, 80), 100);
	ck_assert_uint_eq(drpc__flow_conn_activate(&fc, 80), 0); // once
	drpc__flow_conn_fini(&fc);
}
END_TEST

// Handlers for the pair tests, chosen by method name. They never assert:
// they record in fstate, and the test thread checks.

typedef struct fstate {
	tu_sync     sync;
	drpc__conn *srv; // for exposure samples (set before any call)
	// Guarded by sync:
	size_t  peak_rss;
	int64_t peak_exposed; // what the server conn held, at most
	size_t  bad;       // messages that were not what was sent
	size_t  stalled;   // Stall handlers running
	drpc_err send_rv;  // how the last Source handler's send ended
	size_t   sources;  // Source handlers finished
	size_t   slow_ns;  // Slow handlers' pause per message
	bool     release;  // Stall handlers may return
	// Set before any call: the Source handler of this tag posts blocked
	// when it is about to sleep in a send (the server conn's hook).
	uint64_t blocked_tag;
	sem_t    blocked;
} fstate;

static void
fstate_init(fstate *st)
{
	memset(st, 0, sizeof(*st));
	tu_sync_init(&st->sync);
	ck_assert_int_eq(sem_init(&st->blocked, 0, 0), 0);
}

static void
fstate_fini(fstate *st)
{
	sem_destroy(&st->blocked);
	tu_sync_fini(&st->sync);
}

static void
fstate_sample(fstate *st)
{
	size_t  rss = rss_bytes();
	int64_t x   = st->srv != NULL ? (int64_t) drpc__conn_flow_held(st->srv) : 0;

	tu_sync_lock(&st->sync);
	if (rss > st->peak_rss) {
		st->peak_rss = rss;
	}
	if (x > st->peak_exposed) {
		st->peak_exposed = x;
	}
	tu_sync_unlock(&st->sync);
}

// A sender thread: sends count messages of size (0: until an error).
// blocked, if set, is posted when the sender is about to sleep in a send
// (for credit or for room in the writer), once per value of sent, so a
// spurious wake-up posts nothing more: see sender_blocked_hook.
typedef struct sender {
	drpc__stream *s;
	uint64_t      tag;
	size_t        size;
	size_t        count;
	size_t        sent; // messages sent
	drpc_err      rv;
	sem_t         done;
	sem_t        *blocked;
	size_t        posted;     // 1 + sent when blocked was last posted
	int64_t       blocked_at; // when it first went to sleep; 0: never
} sender;

// tl_sender is the sender running on this thread (a sender thread's, or
// a Source handler's own), for sender_blocked_hook.
static _Thread_local sender *tl_sender;

// sender_blocked_hook is the client conns' send_wait_hook (the server's,
// for Source handlers): called, with the writer's lock held, on the
// thread of a send about to sleep. It takes no lock and never blocks.
static void
sender_blocked_hook(void *arg)
{
	sender *a = tl_sender;

	(void) arg;
	if (a == NULL) {
		return;
	}
	if (a->blocked_at == 0) {
		a->blocked_at = drpc__now_ns();
	}
	if (a->blocked != NULL && a->posted != a->sent + 1) {
		a->posted = a->sent + 1;
		sem_post(a->blocked);
	}
}

// The request of a Sink, Slow or Source call: a tag for the pattern,
// and for Source the message size and count.
typedef struct freq {
	uint64_t tag;
	uint64_t size;
	uint64_t count;
} freq;

// sink_handler: reads every message (checking its pattern: the first is
// the request), then replies with the number of data messages. Slow
// handlers pause after each message (a slow consumer).
static drpc_err
sink_handler(fstate *st, drpc__stream *s, bool slow)
{
	const uint8_t *data;
	size_t         len;
	freq           rq;
	uint64_t       n = 0;
	size_t         bad = 0;
	drpc_err       rv;

	if ((rv = drpc__stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	memcpy(&rq, data, len < sizeof(rq) ? len : sizeof(rq));
	drpc__stream_recv_done(s);
	while ((rv = drpc__stream_recv(s, &data, &len)) == DRPC_OK) {
		bad += !pattern_ok(data, len, rq.tag, n);
		drpc__stream_recv_done(s);
		if ((++n & 63) == 0) {
			fstate_sample(st);
		}
		if (slow) {
			struct timespec ts = {0, (long) st->slow_ns};

			nanosleep(&ts, NULL); // the load profile, not a sync
		}
	}
	fstate_sample(st);
	tu_sync_lock(&st->sync);
	st->bad += bad;
	tu_sync_unlock(&st->sync);
	if (rv != DRPC_EOF) {
		return rv;
	}
	rv = drpc__stream_send(s, (const uint8_t *) &n, sizeof(n));
	return rv == DRPC_OK ? drpc__stream_close(s) : rv;
}

// source_handler sends count messages of size bytes (count 0: until the
// send fails), then closes.
static drpc_err
source_handler(fstate *st, drpc__stream *s)
{
	const uint8_t *data;
	size_t         len;
	freq           rq;
	uint8_t       *buf;
	drpc_err       rv;
	uint64_t       i;
	sender         me = {.size = 0};

	if ((rv = drpc__stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	memcpy(&rq, data, len < sizeof(rq) ? len : sizeof(rq));
	drpc__stream_recv_done(s);
	if ((buf = malloc(rq.size)) == NULL) {
		return DRPC_ENOMEM;
	}
	me.blocked =
	    rq.tag != 0 && rq.tag == st->blocked_tag ? &st->blocked : NULL;
	tl_sender = &me;
	for (i = 0; rq.count == 0 || i < rq.count; i++) {
		pattern_fill(buf, rq.size, rq.tag, i);
		if ((rv = drpc__stream_send(s, buf, rq.size)) != DRPC_OK) {
			break;
		}
		me.sent++;
	}
	tl_sender = NULL;
	free(buf);
	tu_sync_lock(&st->sync);
	st->send_rv = rv;
	st->sources++;
	tu_sync_unlock_broadcast(&st->sync);
	return rv == DRPC_OK ? drpc__stream_close(s) : DRPC_OK;
}

// stall_handler never reads: it waits until the test releases it.
static drpc_err
stall_handler(fstate *st, drpc__stream *s)
{
	(void) s;
	tu_sync_lock(&st->sync);
	st->stalled++;
	drpc__cond_broadcast(&st->sync.cv);
	while (!st->release) {
		drpc__cond_wait(&st->sync.cv, &st->sync.mu);
	}
	tu_sync_unlock(&st->sync);
	return DRPC_OK;
}

static void
stall_release(fstate *st)
{
	tu_sync_set(&st->sync, &st->release, true);
}

static drpc_err
flow_handler(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	fstate *st = arg;

	(void) md;
	if (strcmp(name, "/t/Sink") == 0) {
		return sink_handler(st, s, false);
	}
	if (strcmp(name, "/t/Slow") == 0) {
		return sink_handler(st, s, true);
	}
	if (strcmp(name, "/t/Source") == 0) {
		return source_handler(st, s);
	}
	if (strcmp(name, "/t/Stall") == 0) {
		return stall_handler(st, s);
	}
	return DRPC_ENOTFOUND;
}

static drpc__stream *
open_call(drpc__conn *c, drpc_ctx *ctx, const char *name, freq rq)
{
	drpc__stream *s;

	DRPC_CHECK_OK(tu_open(c, ctx, name, &rq, sizeof(rq), false, &s));
	return s;
}

static void *
sender_main(void *arg)
{
	sender  *a   = arg;
	uint8_t *buf = malloc(a->size);

	tl_sender = a;

	a->rv = buf == NULL ? DRPC_ENOMEM : DRPC_OK;
	for (size_t i = 0; a->rv == DRPC_OK && (a->count == 0 || i < a->count);
	     i++) {
		pattern_fill(buf, a->size, a->tag, i);
		if ((a->rv = drpc__stream_send(a->s, buf, a->size)) == DRPC_OK) {
			a->sent++;
		}
	}
	free(buf);
	tl_sender = NULL;
	sem_post(&a->done);
	return NULL;
}

// finish_sink half-closes s and checks the Sink's reply: n messages.
static void
finish_sink(drpc__stream *s, uint64_t n)
{
	const uint8_t *data;
	size_t         len;
	uint64_t       got;

	DRPC_CHECK_OK(drpc__stream_close_send(s));
	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, sizeof(got));
	memcpy(&got, data, sizeof(got));
	drpc__stream_recv_done(s);
	ck_assert_uint_eq(got, n);
	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), DRPC_EOF);
}

// sink_transfer sends count messages of size bytes on a new Sink call of
// p and checks that the Sink counted them all.
static void
sink_transfer(tu_pair *p, uint64_t tag, size_t size, size_t count)
{
	sender a = {.tag = tag, .size = size, .count = count};

	a.s = open_call(p->cli, NULL, "/t/Sink", (freq) {tag, 0, 0});
	ck_assert_int_eq(sem_init(&a.done, 0, 0), 0);
	(void) sender_main(&a);
	DRPC_CHECK_OK(a.rv);
	finish_sink(a.s, count);
	drpc__stream_destroy(a.s);
	sem_destroy(&a.done);
}

// negotiate makes a first call on p, so that the client has the server's
// answer to its hello: what follows is flow controlled from its first
// byte (before the answer, a client counts but does not wait: see
// docs/design.md §9).
static void
negotiate(tu_pair *p)
{
	drpc__stream *warm = open_call(p->cli, NULL, "/t/Sink", (freq) {0});

	finish_sink(warm, 0);
	drpc__stream_destroy(warm);
	ck_assert(drpc__conn_flow_active(p->cli));
}

// Two libdrpc peers in the automatic mode negotiate: after the first
// call, both connections are flow controlled; a plain transfer works.
START_TEST(test_flow_negotiated)
{
	tu_leak l = tu_leak_start();
	fstate  st;
	tu_pair p;

	fstate_init(&st);
	tu_pair_open(&p, flow_handler, &st, NULL, NULL);
	ck_assert(!drpc__conn_flow_active(p.cli));
	sink_transfer(&p, 1, 100 * KIB, 64);
	ck_assert(drpc__conn_flow_active(p.cli));
	ck_assert(drpc__conn_flow_active(p.srv));
	ck_assert_uint_eq(st.bad, 0);
	tu_pair_close(&p);
	fstate_fini(&st);
	tu_leak_check(&l);
}
END_TEST

// A stall fixture: on one connection, stream A's handler never reads
// while its client thread keeps sending msg-byte messages, and stream B
// moves count msg-byte messages to a Sink. B starts once A's sender is
// blocked, having used its window (with only A sending, nothing else
// makes it wait), so B's whole transfer runs beside a stalled stream.
typedef struct stall_fx {
	fstate    st;
	tu_pair   p;
	drpc_ctx *actx;
	sender    a;
	sender    b;
	sem_t     a_blocked;
	pthread_t ta;
	pthread_t tb;
	double    secs; // B's transfer
} stall_fx;

static void
stall_start(stall_fx *fx, const drpc__conn_opts *o, size_t msg, size_t count)
{
	drpc__conn_opts co = *o;
	double          t0;

	co.send_wait_hook = sender_blocked_hook;
	fstate_init(&fx->st);
	tu_pair_open(&fx->p, flow_handler, &fx->st, &co, o);
	fx->st.srv = fx->p.srv;
	negotiate(&fx->p);
	fx->a   = (sender){.tag = 2, .size = msg, .blocked = &fx->a_blocked};
	fx->b = (sender) {.tag = 3, .size = msg, .count = count};
	fx->b.s = open_call(fx->p.cli, NULL, "/t/Sink", (freq) {3, 0, 0});
	DRPC_CHECK_OK(drpc_ctx_create(&fx->actx, NULL));
	fx->a.s = open_call(fx->p.cli, fx->actx, "/t/Stall", (freq) {2, 0, 0});
	ck_assert_msg(
	    tu_sync_wait(&fx->st.sync, &fx->st.stalled, 1, TU_WAIT_NS) >= 1,
	    "the Stall handler never ran");
	ck_assert_int_eq(sem_init(&fx->a.done, 0, 0), 0);
	ck_assert_int_eq(sem_init(&fx->b.done, 0, 0), 0);
	ck_assert_int_eq(sem_init(&fx->a_blocked, 0, 0), 0);
	DRPC_CHECK_OK(drpc__thread_start(
	    &fx->ta, "t-stall", 0, 0, sender_main, &fx->a));
	ck_assert_int_eq(sem_wait(&fx->a_blocked), 0); // its window is used
	ck_assert_uint_gt(fx->a.sent, 0);
	t0 = now_s();
	DRPC_CHECK_OK(drpc__thread_start(
	    &fx->tb, "t-bulk", 0, 0, sender_main, &fx->b));
	drpc__thread_join(fx->tb);
	fx->secs = now_s() - t0;
	DRPC_CHECK_OK(fx->b.rv);
	finish_sink(fx->b.s, fx->b.count);
	// A is still blocked, having sent no more than its window allows.
	ck_assert_int_ne(sem_trywait(&fx->a.done), 0);
}

// stall_end cancels A's call, which must unblock its sender with
// DRPC_ECANCELED, checks every byte B sent arrived intact, and cleans up.
static void
stall_end(stall_fx *fx)
{
	drpc_ctx_cancel(fx->actx);
	drpc__thread_join(fx->ta);
	DRPC_CHECK_ERR(fx->a.rv, DRPC_ECANCELED);
	ck_assert_uint_eq(fx->st.bad, 0);
	drpc__stream_destroy(fx->a.s);
	drpc__stream_destroy(fx->b.s);
	drpc_ctx_destroy(fx->actx);
	stall_release(&fx->st);
	tu_pair_close(&fx->p);
	sem_destroy(&fx->a.done);
	sem_destroy(&fx->b.done);
	sem_destroy(&fx->a_blocked);
	fstate_fini(&fx->st);
}

// The first test: on one connection, the handler of stream A
// never reads while stream B moves 1 GiB (less under sanitizers). B
// completes; A's sender blocks once it has used its window (the reader
// never waits for A's handler); memory stays under the bound of
// docs/design.md §8 throughout; cancelling A's call unblocks its sender
// with DRPC_ECANCELED.
START_TEST(test_flow_stalled_neighbour)
{
	const size_t    window = 256 * KIB;
	const size_t    cwin   = 4 * MIB;
	const size_t    wlimit = 1 * MIB;
	const size_t    msg    = 64 * KIB;
	const size_t    total  = (1024 * MIB) / (test_scale() * test_scale());
	drpc__conn_opts o = {.stream_window = window, .conn_window = cwin,
	    .writer_limit = wlimit};
	tu_leak         l = tu_leak_start();
	stall_fx        fx;
	size_t          base = rss_bytes();
	size_t          bound;
	size_t          held_bound;

	stall_start(&fx, &o, msg, total / msg);
	ck_assert(drpc__conn_flow_active(fx.p.cli));
	ck_assert(drpc__conn_flow_active(fx.p.srv));
	ck_assert_uint_le(fx.a.sent, window / (msg + DRPC__FLOW_MSG_COST) + 1);
	// Memory (docs/design.md §8): what the server holds stays under
	// min(Wc + M, N x (W + M)) with M the largest message, here 64 KiB;
	// RSS growth under that plus both writers' buffers (2 x limit + a
	// frame each) and 16 MiB for stacks and allocator slack.
	held_bound = 2 * (window + msg) < cwin + msg ? 2 * (window + msg)
						     : cwin + msg;
	ck_assert_int_le(fx.st.peak_exposed, (int64_t) held_bound);
	bound = held_bound + 2 * (2 * wlimit + msg) + 16 * MIB;
	if (test_scale() == 1) {
		ck_assert_msg(fx.st.peak_rss <= base + bound,
		    "RSS grew %zu KiB, bound %zu KiB",
		    (fx.st.peak_rss - base) / KIB, bound / KIB);
	}
	fprintf(stderr,
	    "flow: stalled neighbour: %zu MiB in %.2f s (%.0f MiB/s); RSS "
	    "+%zu KiB (bound %zu KiB); server held at most %lld KiB; "
	    "stalled sender sent %zu messages\n",
	    total / MIB, fx.secs, (double) (total / MIB) / fx.secs,
	    (fx.st.peak_rss > base ? fx.st.peak_rss - base : 0) / KIB,
	    bound / KIB, (long long) fx.st.peak_exposed / 1024, fx.a.sent);
	stall_end(&fx);
	tu_leak_check(&l);
}
END_TEST

// The mirror image: the client never receives on stream A while it
// receives a bulk transfer on stream B; A's handler blocks in send (its
// conn's hook says so), and the client's cancel of A ends that send.
START_TEST(test_flow_stalled_client_stream)
{
	const size_t    msg   = 64 * KIB;
	const size_t    count = (256 * MIB / msg) / (test_scale() * test_scale());
	drpc__conn_opts o     = {.stream_window = 128 * KIB};
	drpc__conn_opts so    = {
	       .stream_window = 128 * KIB, .send_wait_hook = sender_blocked_hook};
	tu_leak         l     = tu_leak_start();
	fstate          st;
	tu_pair         p;
	drpc_ctx       *actx;
	drpc__stream   *a;
	drpc__stream   *b;
	const uint8_t  *data;
	size_t          len;
	size_t          n = 0;

	fstate_init(&st);
	st.blocked_tag = 4; // A's
	tu_pair_open(&p, flow_handler, &st, &o, &so);
	DRPC_CHECK_OK(drpc_ctx_create(&actx, NULL));
	b = open_call(p.cli, NULL, "/t/Source", (freq) {5, msg, count});
	a = open_call(p.cli, actx, "/t/Source", (freq) {4, msg, 0});
	while (drpc__stream_recv(b, &data, &len) == DRPC_OK) {
		ck_assert_uint_eq(len, msg);
		ck_assert(pattern_ok(data, len, 5, n));
		drpc__stream_recv_done(b);
		n++;
	}
	ck_assert_uint_eq(n, count);
	tu_sync_lock(&st.sync);
	ck_assert_uint_eq(st.sources, 1); // only B's handler has finished
	tu_sync_unlock(&st.sync);
	ck_assert_int_eq(sem_wait(&st.blocked), 0); // A's handler is blocked
	drpc_ctx_cancel(actx);
	ck_assert_msg(tu_sync_wait(&st.sync, &st.sources, 2, TU_WAIT_NS) >= 2,
	    "A's Source handler never ended after the cancel");
	tu_sync_lock(&st.sync);
	DRPC_CHECK_ERR(st.send_rv, DRPC_EOF); // the peer cancelled
	tu_sync_unlock(&st.sync);
	drpc__stream_destroy(a);
	drpc__stream_destroy(b);
	drpc_ctx_destroy(actx);
	tu_pair_close(&p);
	fstate_fini(&st);
	tu_leak_check(&l);
}
END_TEST

// 200 streams send as fast as they can to slow consumers: every byte
// arrives intact and in order, and what the server holds never exceeds
// its connection window plus one overdrawn message (200 windows would be
// 12.5 MiB).
#define MANY 200

START_TEST(test_flow_many_slow_streams)
{
	const size_t    window = 64 * KIB;
	const size_t    budget = 8 * MIB;
	const size_t    msgs   = 48 / test_scale() + 4;
	drpc__conn_opts o = {.stream_window = window, .conn_window = budget};
	tu_leak         l = tu_leak_start();
	fstate          st;
	tu_pair         p;
	sender         *a = calloc(MANY, sizeof(*a));
	pthread_t      *t = calloc(MANY, sizeof(*t));
	size_t          base;
	size_t          bound;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(t);
	fstate_init(&st);
	st.slow_ns = 200000; // 0.2 ms per message
	tu_pair_open(&p, flow_handler, &st, &o, &o);
	st.srv = p.srv;
	negotiate(&p);
	base = rss_bytes();
	for (size_t i = 0; i < MANY; i++) {
		a[i].tag   = 100 + i;
		a[i].size  = 1 * KIB + (i * 997) % (24 * KIB);
		a[i].count = msgs;
		a[i].s     = open_call(p.cli, NULL, "/t/Slow",
		        (freq) {100 + i, 0, 0});
		ck_assert_int_eq(sem_init(&a[i].done, 0, 0), 0);
		DRPC_CHECK_OK(drpc__thread_start(
		    &t[i], "t-send", i, 64 * KIB, sender_main, &a[i]));
	}
	for (size_t i = 0; i < MANY; i++) {
		drpc__thread_join(t[i]);
		DRPC_CHECK_OK(a[i].rv);
		finish_sink(a[i].s, msgs);
		drpc__stream_destroy(a[i].s);
		sem_destroy(&a[i].done);
	}
	ck_assert_uint_eq(st.bad, 0);
	// The connection window and one overdrawn message.
	bound = budget + 25 * KIB;
	ck_assert_int_le(st.peak_exposed, (int64_t) bound);
	if (test_scale() == 1) {
		// Plus the client's writer (2 x 4 MiB), 200 handler and 200
		// sender threads' touched stacks, allocator slack.
		ck_assert_msg(st.peak_rss <= base + bound + 8 * MIB + 32 * MIB,
		    "RSS grew %zu KiB", (st.peak_rss - base) / KIB);
	}
	fprintf(stderr,
	    "flow: %d slow streams: server held at most %lld KiB (bound "
	    "%zu KiB), RSS +%zu KiB\n",
	    MANY, (long long) st.peak_exposed / 1024, bound / KIB,
	    (st.peak_rss > base ? st.peak_rss - base : 0) / KIB);
	tu_pair_close(&p);
	fstate_fini(&st);
	free(a);
	free(t);
	tu_leak_check(&l);
}
END_TEST

// A window far smaller than the messages: each goes whole once the
// credit covers a frame, and the next waits for the grant of its
// consumption; everything arrives.
START_TEST(test_flow_big_messages)
{
	drpc__conn_opts o = {.stream_window = 16 * KIB};
	tu_leak         l = tu_leak_start();
	fstate          st;
	tu_pair         p;

	fstate_init(&st);
	tu_pair_open(&p, flow_handler, &st, &o, &o);
	sink_transfer(&p, 9, 1 * MIB, 12);
	ck_assert_uint_eq(st.bad, 0);
	tu_pair_close(&p);
	fstate_fini(&st);
	tu_leak_check(&l);
}
END_TEST

// A sender blocked on credit honours its call's deadline: it went to
// sleep for credit before the deadline (the hook times it; a run whose
// thread stalled until the deadline had passed proves nothing and is
// tried again with twice the time), and the deadline ends its send with
// DRPC_ETIMEDOUT, having sent no more than the window allows.
static bool
deadline_round(int64_t ms)
{
	drpc__conn_opts co = {
	    .stream_window = 64 * KIB, .send_wait_hook = sender_blocked_hook};
	drpc__conn_opts so = {.stream_window = 64 * KIB};
	fstate          st;
	tu_pair         p;
	drpc_ctx       *ctx;
	sender          a = {.tag = 2, .size = 16 * KIB};
	pthread_t       t;
	freq            rq = {2, 0, 0};
	bool            slept;

	fstate_init(&st);
	tu_pair_open(&p, flow_handler, &st, &co, &so);
	negotiate(&p);
	DRPC_CHECK_OK(tu_open_timeout(
	    p.cli, ms, &ctx, "/t/Stall", &rq, sizeof(rq), false, &a.s));
	ck_assert_int_eq(sem_init(&a.done, 0, 0), 0);
	DRPC_CHECK_OK(drpc__thread_start(&t, "t-send", 0, 0, sender_main, &a));
	drpc__thread_join(t);
	slept = a.blocked_at != 0 && a.blocked_at < drpc_ctx_deadline(ctx);
	DRPC_CHECK_ERR(a.rv, DRPC_ETIMEDOUT);
	ck_assert_uint_le(a.sent, 64 * KIB / (a.size + DRPC__FLOW_MSG_COST) + 1);
	drpc__stream_destroy(a.s);
	drpc_ctx_destroy(ctx);
	stall_release(&st);
	tu_pair_close(&p);
	sem_destroy(&a.done);
	fstate_fini(&st);
	return slept;
}

START_TEST(test_flow_deadline_while_blocked)
{
	tu_leak l  = tu_leak_start();
	int64_t ms = 200;

	while (!deadline_round(ms)) {
		ck_assert_msg(ms < tu_bound_ns(TU_WAIT_NS) / 1000000,
		    "the sender never slept for credit before its deadline");
		ms *= 2;
	}
	tu_leak_check(&l);
}
END_TEST

// An automatic client against a plain DRPC peer (one that ignores the
// hello): the hello goes once, on the first stream right after its
// Invoke; no window update is ever sent, nothing is gated, and data
// flows as before.
START_TEST(test_flow_plain_peer)
{
	// The peer reads once the client has closed: what the client wrote
	// fits in the socket, and the close may flush it for as long as the
	// drain thread needs to be scheduled (not the default 1 s).
	drpc__conn_opts o = {.stream_window = 64 * KIB,
	    .close_timeout_ms = tu_bound_ns(TU_WAIT_NS) / 1000000};
	tu_raw          r;
	drpc__stream   *s1;
	drpc__stream   *s2;
	drpc__frame     f;
	drpc__hello     h;
	uint8_t        *big = calloc(1, 48 * KIB);
	const uint8_t  *data;
	size_t          len;
	size_t          hellos = 0;
	size_t          msgs   = 0;

	ck_assert_ptr_nonnull(big);
	tu_raw_open_as(&r, &o);
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t/A", "x", 1, false, &s1));
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t/B", "y", 1, false, &s2));
	// More than the window on each stream, both ways.
	for (int i = 0; i < 4; i++) {
		DRPC_CHECK_OK(drpc__stream_send(s1, big, 48 * KIB));
		tu_raw_send(&r, DRPC__KIND_MESSAGE, false, 1, (uint64_t) i + 1,
		    big, 48 * KIB);
	}
	for (int i = 0; i < 4; i++) {
		DRPC_CHECK_OK(drpc__stream_recv(s1, &data, &len));
		ck_assert_uint_eq(len, 48 * KIB);
		drpc__stream_recv_done(s1);
	}
	ck_assert(!drpc__conn_flow_active(r.conn));
	drpc__stream_destroy(s1);
	drpc__stream_destroy(s2);
	drpc__conn_close(r.conn);
	while (tu_raw_next(&r, &f) == DRPC_OK) {
		ck_assert_uint_ne(f.kind, DRPC__KIND_WINDOW_UPDATE);
		if (f.kind == DRPC__KIND_HELLO) {
			ck_assert_uint_eq(f.stream_id, 1);
			ck_assert_uint_eq(f.message_id, 2); // after Invoke (1,1)
			ck_assert(drpc__hello_parse(&f, &h));
			ck_assert_uint_eq(h.window, 64 * KIB);
			ck_assert_uint_eq(h.msg_cost, DRPC__FLOW_MSG_COST);
			hellos++;
		}
		if (f.kind == DRPC__KIND_MESSAGE && f.stream_id == 1 && f.done) {
			ck_assert_uint_ge(f.message_id, 3);
			msgs++;
		}
	}
	ck_assert_uint_eq(hellos, 1);
	ck_assert_uint_eq(msgs, 5); // "x" and four 48 KiB messages
	free(big);
	tu_raw_close(&r);
}
END_TEST

// A client in the "on" mode against a peer configured alike that does
// not negotiate (cockroachdb/drpc with flow control on): the client is
// gated at the assumed window from the start, non-conforming window
// updates are dropped without harm, a conforming one lets exactly that
// much through, and the client grants credit as its application reads.
START_TEST(test_flow_on_mode_raw_peer)
{
	sem_t           waiting;
	drpc__conn_opts o = {.flow = DRPC_FLOW_ON,
	    .stream_window         = 128 * KIB,
	    .send_wait_hook        = sender_blocked_hook};
	tu_raw          r;
	sender          a = {.tag = 1, .size = 64 * KIB, .blocked = &waiting};
	pthread_t       t;
	drpc__frame     f;
	uint8_t         body[16];
	uint8_t        *msg = calloc(1, 64 * KIB);
	const uint8_t  *data;
	size_t          len;
	size_t          msgs   = 0;
	uint64_t        grants = 0;
	uint64_t        d;

	ck_assert_ptr_nonnull(msg);
	ck_assert_int_eq(sem_init(&waiting, 0, 0), 0);
	tu_raw_open_as(&r, &o);
	ck_assert(drpc__conn_flow_active(r.conn));
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t/A", NULL, 0, false, &a.s));
	ck_assert_int_eq(sem_init(&a.done, 0, 0), 0);
	DRPC_CHECK_OK(drpc__thread_start(&t, "t-send", 0, 0, sender_main, &a));
	ck_assert_int_eq(sem_wait(&waiting), 0); // blocked: window used
	// Dropped: no control flag, no done flag, stream 0, zero delta,
	// trailing bytes, an unknown stream.
	body[0] = 0x80;
	body[1] = 0x80;
	body[2] = 0x04; // 64 KiB
	tu_raw_send(&r, DRPC__KIND_WINDOW_UPDATE, false, 1, 0, body, 3);
	{
		drpc__buf   b  = {0};
		drpc__frame nf = {.stream_id = 1, .data = body, .len = 3,
		    .kind = DRPC__KIND_WINDOW_UPDATE, .control = true};

		DRPC_CHECK_OK(drpc__frame_append(&b, &nf));
		tu_raw_write(&r, b.data, b.len);
		drpc__buf_fini(&b);
	}
	tu_raw_send(&r, DRPC__KIND_WINDOW_UPDATE, true, 0, 0, body, 3);
	tu_raw_send(&r, DRPC__KIND_WINDOW_UPDATE, true, 1, 0, "\x00", 1);
	tu_raw_send(&r, DRPC__KIND_WINDOW_UPDATE, true, 1, 0,
	    "\x80\x80\x04\x00", 4);
	tu_raw_send(&r, DRPC__KIND_WINDOW_UPDATE, true, 99, 0, body, 3);
	// Conforming: one message's worth.
	tu_raw_send(&r, DRPC__KIND_WINDOW_UPDATE, true, 1, 0, body, 3);
	ck_assert_int_eq(sem_wait(&waiting), 0); // blocked again
	// Receiving: two messages of 64 KiB, read by the application.
	tu_raw_send(&r, DRPC__KIND_MESSAGE, false, 1, 1, msg, 64 * KIB);
	tu_raw_send(&r, DRPC__KIND_MESSAGE, false, 1, 2, msg, 64 * KIB);
	for (int i = 0; i < 2; i++) {
		DRPC_CHECK_OK(drpc__stream_recv(a.s, &data, &len));
		drpc__stream_recv_done(a.s);
	}
	drpc__stream_cancel(a.s, DRPC_ECANCELED);
	drpc__thread_join(t);
	DRPC_CHECK_ERR(a.rv, DRPC_ECANCELED);
	ck_assert_uint_eq(a.sent, 3);
	// The wire: Invoke, Hello (cost 0), three Messages, grants, Cancel.
	while (tu_raw_next(&r, &f) == DRPC_OK && f.kind != DRPC__KIND_CANCEL) {
		if (f.kind == DRPC__KIND_MESSAGE && f.done) {
			msgs++;
		}
		if (f.kind == DRPC__KIND_WINDOW_UPDATE) {
			ck_assert(f.control && f.done);
			ck_assert_uint_eq(f.stream_id, 1);
			ck_assert_uint_eq(f.message_id, 0);
			ck_assert(drpc__window_update_parse(&f, &d));
			grants += d;
		}
	}
	ck_assert_uint_eq(f.kind, DRPC__KIND_CANCEL);
	ck_assert_uint_eq(msgs, 3);
	ck_assert_uint_eq(grants, 128 * KIB); // what the application read
	drpc__stream_destroy(a.s);
	free(msg);
	tu_raw_close(&r);
	sem_destroy(&a.done);
	sem_destroy(&waiting);
}
END_TEST

// An automatic client and a server with flow control off: no answer to
// the hello, nobody is gated, and a transfer larger than any window works.
START_TEST(test_flow_server_off)
{
	drpc__conn_opts co = {.stream_window = 64 * KIB};
	drpc__conn_opts so = {.flow = DRPC_FLOW_OFF};
	fstate          st;
	tu_pair         p;

	fstate_init(&st);
	tu_pair_open(&p, flow_handler, &st, &co, &so);
	sink_transfer(&p, 7, 256 * KIB, 16);
	ck_assert(!drpc__conn_flow_active(p.cli));
	ck_assert(!drpc__conn_flow_active(p.srv));
	tu_pair_close(&p);
	fstate_fini(&st);
}
END_TEST

// The connection window: stalled stream A holds its stream window, which
// leaves B less than a window of the connection's; B still completes, in
// smaller steps, and the server never holds more than the connection
// window plus one message.
START_TEST(test_flow_conn_window_shared)
{
	const size_t    cwin = 384 * KIB;
	drpc__conn_opts o    = {.stream_window = 256 * KIB, .conn_window = cwin};
	tu_leak         l    = tu_leak_start();
	stall_fx        fx;

	stall_start(&fx, &o, 32 * KIB, 512);
	ck_assert_int_le(fx.st.peak_exposed, (int64_t) (cwin + 32 * KIB + 64));
	stall_end(&fx);
	tu_leak_check(&l);
}
END_TEST

// Mixed modes between libdrpc peers: one end "on" (charge 0), the other
// automatic (charge 64), both ways round. Each side charges at the rate
// the receiver declared (messages charged before the hello's answer at
// the assumed rate are recounted), so 4,000 small messages pass windows
// of 16 and 32 KiB, every byte intact.
START_TEST(test_flow_mixed_modes)
{
	for (int i = 0; i < 2; i++) {
		drpc__conn_opts on = {.flow = DRPC_FLOW_ON,
		    .stream_window = 16 * KIB, .conn_window = 32 * KIB};
		drpc__conn_opts au = {.flow = DRPC_FLOW_AUTO,
		    .stream_window = 16 * KIB, .conn_window = 32 * KIB};
		fstate          st;
		tu_pair         p;

		fstate_init(&st);
		tu_pair_open(&p, flow_handler, &st, i == 0 ? &on : &au,
		    i == 0 ? &au : &on);
		sink_transfer(&p, 5, 100, 4000);
		ck_assert_uint_eq(st.bad, 0);
		tu_pair_close(&p);
		fstate_fini(&st);
	}
}
END_TEST

// A peer that ignores its window: the stream it floods ends with
// ResourceExhausted (an Error goes back), and nothing else: the reader
// never waits for that stream's consumer, the connection keeps working.
START_TEST(test_flow_window_violation)
{
	drpc__conn_opts o = {.flow = DRPC_FLOW_ON, .stream_window = 64 * KIB,
	    .max_msg_size = 64 * KIB};
	tu_raw          r;
	drpc__stream   *s1;
	drpc__stream   *s2;
	uint8_t        *msg = calloc(1, 64 * KIB);
	const uint8_t  *data;
	size_t          len;
	drpc__frame     f;
	uint64_t        code;
	const uint8_t  *text;
	size_t          text_len;
	bool            error_seen = false;

	ck_assert_ptr_nonnull(msg);
	tu_raw_open_as(&r, &o);
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t/A", NULL, 0, false, &s1));
	// 2 x (W + M) = 256 KiB may be queued; the fifth 64 KiB is over.
	// Nothing is read meanwhile (a reading consumer would keep up).
	for (uint64_t i = 1; i <= 6; i++) {
		tu_raw_send(&r, DRPC__KIND_MESSAGE, false, 1, i, msg, 64 * KIB);
	}
	while (!error_seen && tu_raw_next(&r, &f) == DRPC_OK) {
		if (f.stream_id == 1 && f.kind == DRPC__KIND_ERROR) {
			ck_assert(drpc__errbody_parse(
			    f.data, f.len, &code, &text, &text_len));
			ck_assert_uint_eq(code, 8);
			error_seen = true;
		}
	}
	ck_assert(error_seen);
	DRPC_CHECK_ERR(drpc__stream_recv(s1, &data, &len), DRPC_ERESOURCE);
	// The connection carries on: a new stream gets its data.
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t/B", NULL, 0, false, &s2));
	tu_raw_send(&r, DRPC__KIND_MESSAGE, false, 2, 1, "ok", 2);
	DRPC_CHECK_OK(drpc__stream_recv(s2, &data, &len));
	ck_assert_uint_eq(len, 2);
	drpc__stream_recv_done(s2);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	drpc__stream_destroy(s1);
	drpc__stream_destroy(s2);
	free(msg);
	tu_raw_close(&r);
}
END_TEST

// The seed's known limitations (../shared/seed), one by one:
//  1. "All streams serialize their writes through this single writer"
//     (a mutex held across the transport write): here, below.
//  2. "SendCancel blocks on the stream's write lock" behind a large write:
//     test_cancel_cuts_large_message (check_cancel.c).
//  3. "A slow consumer stream blocks manageReader, stalling frame delivery
//     to all streams": test_flow_stalled_neighbour and
//     test_flow_stalled_client_stream (above).
//  4. "Conn.Invoke() holds a mutex for the entire unary RPC":
//     test_api_unary_parallel (check_api.c).
//
// 1: while stream 1's 2 MiB message is stuck half-written (the peer reads
// nothing, the writer's buffer is full, its sender waits for room), a new
// stream's Invoke still goes out at once, interleaved with it: streams
// share the writer's buffer, never a lock held across I/O.
START_TEST(test_flow_seed_writer_interleaves)
{
	sem_t           waiting;
	drpc__conn_opts o = {
	    .writer_limit = 256 * KIB, .send_wait_hook = sender_blocked_hook};
	tu_raw          r;
	sender a = {.tag = 1, .size = 2 * MIB, .count = 1, .blocked = &waiting};
	drpc__stream   *b;
	pthread_t       t;
	drpc__frame     f;
	bool            b_seen  = false;
	bool            a_done  = false;
	size_t          a_bytes = 0;

	ck_assert_int_eq(sem_init(&waiting, 0, 0), 0);
	tu_raw_open(&r, &o);
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t/A", NULL, 0, false, &a.s));
	ck_assert_int_eq(sem_init(&a.done, 0, 0), 0);
	DRPC_CHECK_OK(drpc__thread_start(&t, "t-send", 0, 0, sender_main, &a));
	ck_assert_int_eq(sem_wait(&waiting), 0); // stuck mid-message
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t/B", NULL, 0, false, &b));
	while (!a_done && tu_raw_next(&r, &f) == DRPC_OK) {
		if (f.stream_id == 2 && f.kind == DRPC__KIND_INVOKE) {
			b_seen = true;
		}
		if (f.stream_id == 1 && f.kind == DRPC__KIND_MESSAGE) {
			a_bytes += f.len;
			a_done = f.done;
		}
	}
	ck_assert(a_done);
	ck_assert_uint_eq(a_bytes, 2 * MIB);
	ck_assert_msg(b_seen, "stream 2's Invoke waited for stream 1's message");
	drpc__thread_join(t);
	DRPC_CHECK_OK(a.rv);
	drpc__stream_destroy(a.s);
	drpc__stream_destroy(b);
	tu_raw_close(&r);
	sem_destroy(&a.done);
	sem_destroy(&waiting);
}
END_TEST

TU_SUITE(flow,
    TU_TEST("wire", test_flow_wire_window),
    TU_TEST("wire", test_flow_wire_hello),
    TU_TEST("account", test_flow_account_stream),
    TU_TEST("account", test_flow_account_conn),
    TU_TEST("e2e", test_flow_negotiated, .timeout = 120),
    TU_TEST("e2e", test_flow_stalled_neighbour),
    TU_TEST("e2e", test_flow_stalled_client_stream),
    TU_TEST("e2e", test_flow_many_slow_streams),
    TU_TEST("e2e", test_flow_big_messages),
    TU_TEST("e2e", test_flow_deadline_while_blocked),
    TU_TEST("e2e", test_flow_plain_peer),
    TU_TEST("e2e", test_flow_on_mode_raw_peer),
    TU_TEST("e2e", test_flow_server_off),
    TU_TEST("e2e", test_flow_conn_window_shared),
    TU_TEST("e2e", test_flow_seed_writer_interleaves),
    TU_TEST("e2e", test_flow_mixed_modes),
    TU_TEST("e2e", test_flow_window_violation))
