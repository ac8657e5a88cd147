// Cancellation, deadlines and termination on the connection core, ordered
// with semaphores and hooks, never with sleeps.
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "connutil.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"

// hold_handler blocks in recv until the stream ends and records how.
typedef struct hold_state {
	tu_sync  sync;
	drpc_err last; // guarded by sync
	size_t   ended;
	size_t   msgs;
} hold_state;

static drpc_err
hold_handler(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	hold_state    *h = arg;
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;
	size_t         n = 0;

	(void) name;
	(void) md;
	while ((rv = drpc__stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc__stream_recv_done(s);
		n++;
	}
	tu_sync_lock(&h->sync);
	h->last = rv;
	h->ended++;
	h->msgs += n;
	tu_sync_unlock_broadcast(&h->sync);
	return DRPC_OK;
}

static void
hold_init(hold_state *h)
{
	memset(h, 0, sizeof(*h));
	tu_sync_init(&h->sync);
}

// hold_open opens a pair whose server runs hold_handler with h.
static void
hold_open(tu_pair *p, hold_state *h)
{
	hold_init(h);
	tu_pair_open(p, hold_handler, h, NULL, NULL);
}

// hold_wait_ended waits until n hold handlers have ended (TU_WAIT_NS).
static void
hold_wait_ended(hold_state *h, size_t n)
{
	size_t got = tu_sync_wait(&h->sync, &h->ended, n, TU_WAIT_NS);

	ck_assert_msg(got >= n, "%zu handlers ended, want %zu", got, n);
}

typedef struct recv_arg {
	drpc__stream *s;
	sem_t        *started; // posted just before blocking (may be NULL)
	drpc_err      rv;
} recv_arg;

static void *
recv_main(void *arg)
{
	recv_arg      *a = arg;
	const uint8_t *data;
	size_t         len;

	if (a->started != NULL) {
		sem_post(a->started);
	}
	a->rv = drpc__stream_recv(a->s, &data, &len);
	if (a->rv == DRPC_OK) {
		drpc__stream_recv_done(a->s);
	}
	return NULL;
}

// cancel_receiving cancels ctx (s's context) while a thread receives on
// s: the receive and the stream's cancel reason both say Canceled.
static void
cancel_receiving(drpc__stream *s, drpc_ctx *ctx)
{
	recv_arg  a = {.s = s};
	pthread_t t;

	DRPC_CHECK_OK(drpc__thread_start(&t, "t-recv", 0, 0, recv_main, &a));
	drpc_ctx_cancel(ctx);
	drpc__thread_join(t);
	ck_assert_int_eq(a.rv, DRPC_ECANCELED);
	DRPC_CHECK_ERR(drpc__stream_cancel_reason(s), DRPC_ECANCELED);
}

// Cancel from another thread while recv blocks: recv reports Canceled,
// the server handler sees the Cancel (it ends while the connection is
// up), and the connection carries on: a second stream's handler runs.
START_TEST(test_cancel_blocked_recv)
{
	tu_leak       leak = tu_leak_start();
	tu_pair       p;
	hold_state    h;
	drpc_ctx     *ctx;
	drpc__stream *s;
	drpc__stream *s2;

	hold_open(&p, &h);
	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	DRPC_CHECK_OK(tu_open(p.cli, ctx, "/t/Hold", NULL, 0, false, &s));
	tu_pair_wait_started(&p, 1);
	cancel_receiving(s, ctx);
	DRPC_CHECK_ERR(drpc__stream_send(s, (const uint8_t *) "x", 1),
	    DRPC_ECANCELED);
	hold_wait_ended(&h, 1);
	ck_assert_int_eq(h.last, DRPC_ECANCELED);
	// The connection is fine: another stream's handler gets its message
	// and the end of its input.
	DRPC_CHECK_OK(tu_open(p.cli, NULL, "/t/Hold", "m", 1, true, &s2));
	hold_wait_ended(&h, 2);
	ck_assert_int_eq(h.last, DRPC_EOF);
	ck_assert_uint_eq(h.msgs, 1);
	drpc__stream_destroy(s2);
	drpc__stream_destroy(s);
	drpc_ctx_destroy(ctx);
	DRPC_CHECK_OK(drpc__conn_err(p.cli));
	tu_pair_close(&p);
	ck_assert_uint_eq(h.ended, 2);
	tu_leak_check(&leak);
}
END_TEST

// The deadline passes while recv blocks: DeadlineExceeded, not before the
// deadline, and the server handler is cancelled by the Cancel frame (it
// ends while the connection is up). The handler may or may not have taken
// the request "q" before the Cancel came.
START_TEST(test_cancel_deadline_recv)
{
	tu_pair        p;
	hold_state     h;
	drpc_ctx      *ctx;
	drpc__stream  *s;
	const uint8_t *data;
	size_t         len;

	hold_open(&p, &h);
	DRPC_CHECK_OK(
	    tu_open_timeout(p.cli, 100, &ctx, "/t/Hold", "q", 1, false, &s));
	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), DRPC_ETIMEDOUT);
	ck_assert_int_ge(drpc_now_ns(), drpc_ctx_deadline(ctx));
	DRPC_CHECK_ERR(drpc__stream_cancel_reason(s), DRPC_ETIMEDOUT);
	hold_wait_ended(&h, 1);
	DRPC_CHECK_OK(drpc__conn_err(p.srv));
	drpc__stream_destroy(s);
	drpc_ctx_destroy(ctx);
	tu_pair_close(&p);
	ck_assert_uint_eq(h.ended, 1);
	ck_assert_int_eq(h.last, DRPC_ECANCELED);
	ck_assert_uint_le(h.msgs, 1);
}
END_TEST

// A client whose peer never reads: sends fill the socket and the writer,
// then block. The hook tells the test a sender sleeps for room.
static void
post_hook(void *arg)
{
	sem_post(arg);
}

typedef struct send_arg {
	drpc__stream *s;
	size_t        size;
	drpc_err      rv;
	size_t        sent;
} send_arg;

static void *
send_main(void *arg)
{
	send_arg *a   = arg;
	uint8_t  *buf = calloc(1, a->size);

	while ((a->rv = drpc__stream_send(a->s, buf, a->size)) == DRPC_OK) {
		a->sent++;
	}
	free(buf);
	return NULL;
}

static void
blocked_sender_open(tu_raw *r, sem_t *waiting, size_t max)
{
	drpc__conn_opts o = {.writer_limit = 64 << 10, .max_msg_size = max,
	    .send_wait_hook = post_hook, .send_wait_hook_arg = waiting};

	ck_assert_int_eq(sem_init(waiting, 0, 0), 0);
	tu_raw_open(r, &o);
}

// Cancel from another thread while send blocks for room.
START_TEST(test_cancel_blocked_send)
{
	tu_raw    r;
	sem_t     waiting;
	drpc_ctx *ctx;
	send_arg  a = {.size = 32 << 10};
	pthread_t t;

	blocked_sender_open(&r, &waiting, 0);
	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	DRPC_CHECK_OK(tu_open(r.conn, ctx, "/t/Sink", NULL, 0, false, &a.s));
	DRPC_CHECK_OK(drpc__thread_start(&t, "t-send", 0, 0, send_main, &a));
	ck_assert_int_eq(sem_wait(&waiting), 0); // the sender sleeps
	drpc_ctx_cancel(ctx);
	drpc__thread_join(t);
	ck_assert_int_eq(a.rv, DRPC_ECANCELED);
	ck_assert_uint_gt(a.sent, 0);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	drpc__stream_destroy(a.s);
	drpc_ctx_destroy(ctx);
	tu_raw_close(&r);
	sem_destroy(&waiting);
}
END_TEST

// The deadline passes while send blocks for room.
START_TEST(test_cancel_deadline_send)
{
	tu_raw    r;
	sem_t     waiting;
	drpc_ctx *ctx;
	send_arg  a = {.size = 32 << 10};

	blocked_sender_open(&r, &waiting, 0);
	DRPC_CHECK_OK(tu_open_timeout(
	    r.conn, 100, &ctx, "/t/Sink", NULL, 0, false, &a.s));
	send_main(&a);
	ck_assert_int_eq(a.rv, DRPC_ETIMEDOUT);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	drpc__stream_destroy(a.s);
	drpc_ctx_destroy(ctx);
	tu_raw_close(&r);
	sem_destroy(&waiting);
}
END_TEST

// A Cancel does not wait for a large message in progress: the message is
// cut off at a frame boundary, the Cancel follows with the next message
// id, and nothing of the stream comes after it (the seed's limitation 2).
// The cancel comes while the sender is blocked for room in the middle of
// its 8 MiB message, the peer having read nothing: the writer holds 64
// KiB and the socket far less than 8 MiB. The peer then reads up to the
// Cancel before the client closes: a close flushes for close_timeout_ms
// at most, and the socket may be full.
START_TEST(test_cancel_cuts_large_message)
{
	tu_raw      r;
	sem_t       waiting;
	drpc_ctx   *ctx;
	send_arg    a = {.size = 8 << 20};
	pthread_t   t;
	drpc__frame f;
	size_t      msg_bytes = 0;
	bool        cancelled = false;

	blocked_sender_open(&r, &waiting, 16 << 20);
	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	DRPC_CHECK_OK(tu_open(r.conn, ctx, "/t/Sink", NULL, 0, false, &a.s));
	DRPC_CHECK_OK(drpc__thread_start(&t, "t-send", 0, 0, send_main, &a));
	ck_assert_int_eq(sem_wait(&waiting), 0);
	drpc_ctx_cancel(ctx);
	drpc__thread_join(t);
	ck_assert_int_eq(a.rv, DRPC_ECANCELED);
	ck_assert_uint_eq(a.sent, 0);
	// Read what the peer got: Invoke (1,1), part of Message (1,2), then
	// Cancel (1,3); then the client closes and the input ends.
	while (!cancelled && tu_raw_next(&r, &f) == DRPC_OK) {
		if (f.kind == DRPC__KIND_MESSAGE) {
			ck_assert_uint_eq(f.message_id, 2);
			ck_assert(!f.done);
			msg_bytes += f.len;
		} else if (f.kind == DRPC__KIND_CANCEL) {
			ck_assert_uint_eq(f.message_id, 3);
			ck_assert(f.control);
			cancelled = true;
		}
	}
	ck_assert(cancelled);
	ck_assert_uint_lt(msg_bytes, a.size);
	drpc__stream_destroy(a.s);
	drpc__conn_close(r.conn);
	DRPC_CHECK_ERR(tu_raw_next(&r, &f), DRPC_EOF); // nothing after it
	drpc_ctx_destroy(ctx);
	tu_raw_close(&r);
	sem_destroy(&waiting);
}
END_TEST

// Large Messages go by the direct path (mux/drain.c): the sender waits for
// the write token, then writes from its own memory. Stream A's 8 MiB
// Message holds the token, the peer reading nothing; stream B's 1 MiB
// Message waits for it. B's end (a cancel, the peer's Close) must end B's
// wait at once, as it ends a wait for room: A may hold the token for good.
// tok_hook tells each sender's thread apart (a thread-local pointer): A's
// fires once its socket is full, B's once it sleeps for the token.
typedef struct tok_sender {
	drpc__stream *s;
	size_t        size;
	drpc_err      rv;
	bool          posted;  // this sender's thread only
	tu_event      blocked; // its send sleeps
	tu_event      done;    // its send returned
} tok_sender;

static _Thread_local tok_sender *tl_tok;

static void
tok_hook(void *arg)
{
	tok_sender *a = tl_tok;

	(void) arg;
	if (a != NULL && !a->posted) {
		a->posted = true;
		tu_event_post(&a->blocked);
	}
}

static void *
tok_send_main(void *arg)
{
	tok_sender *a   = arg;
	uint8_t    *buf = calloc(1, a->size);

	tl_tok = a;
	a->rv  = buf == NULL ? DRPC_ENOMEM : drpc__stream_send(a->s, buf, a->size);
	free(buf);
	tu_event_post(&a->done);
	return NULL;
}

typedef struct tok_fx {
	tu_raw     r;
	drpc_ctx  *actx;
	drpc_ctx  *bctx;
	tok_sender a;
	tok_sender b;
	pthread_t  ta;
	pthread_t  tb;
} tok_fx;

// tok_open starts A, waits until it holds the token with the socket full,
// then starts B and waits until B sleeps for the token.
static void
tok_open(tok_fx *fx)
{
	drpc__conn_opts o = {
	    .max_msg_size = 16 << 20, .send_wait_hook = tok_hook};

	memset(fx, 0, sizeof(*fx));
	fx->a.size = 8 << 20;
	fx->b.size = 1 << 20;
	tu_event_init(&fx->a.blocked);
	tu_event_init(&fx->a.done);
	tu_event_init(&fx->b.blocked);
	tu_event_init(&fx->b.done);
	tu_raw_open(&fx->r, &o);
	DRPC_CHECK_OK(drpc_ctx_create(&fx->actx, NULL));
	DRPC_CHECK_OK(drpc_ctx_create(&fx->bctx, NULL));
	DRPC_CHECK_OK(
	    tu_open(fx->r.conn, fx->actx, "/t/Sink", NULL, 0, false, &fx->a.s));
	DRPC_CHECK_OK(
	    tu_open(fx->r.conn, fx->bctx, "/t/Sink", NULL, 0, false, &fx->b.s));
	DRPC_CHECK_OK(drpc__thread_start(
	    &fx->ta, "t-send-a", 0, 0, tok_send_main, &fx->a));
	ck_assert(tu_event_wait(&fx->a.blocked, 1));
	DRPC_CHECK_OK(drpc__thread_start(
	    &fx->tb, "t-send-b", 0, 0, tok_send_main, &fx->b));
	ck_assert(tu_event_wait(&fx->b.blocked, 1));
}

// tok_finish lets A go (its cancel), joins both senders, reads what the
// peer got up to A's Cancel (whole frames: the reader parses each) and
// closes. woke says whether B's send returned before A let go.
static void
tok_finish(tok_fx *fx, bool woke)
{
	drpc__frame f;
	uint64_t    aid = drpc__stream_id(fx->a.s);
	bool        cancelled = false;

	drpc_ctx_cancel(fx->actx);
	drpc__thread_join(fx->ta);
	drpc__thread_join(fx->tb);
	ck_assert_msg(woke, "stream B's send slept on for the write token "
			    "after its stream ended");
	ck_assert_int_eq(fx->a.rv, DRPC_ECANCELED);
	while (!cancelled && tu_raw_next(&fx->r, &f) == DRPC_OK) {
		cancelled = f.kind == DRPC__KIND_CANCEL && f.stream_id == aid;
	}
	ck_assert(cancelled);
	drpc__stream_destroy(fx->a.s);
	drpc__stream_destroy(fx->b.s);
	drpc__conn_close(fx->r.conn);
	drpc_ctx_destroy(fx->actx);
	drpc_ctx_destroy(fx->bctx);
	tu_raw_close(&fx->r);
	tu_event_fini(&fx->a.blocked);
	tu_event_fini(&fx->a.done);
	tu_event_fini(&fx->b.blocked);
	tu_event_fini(&fx->b.done);
}

START_TEST(test_cancel_wakes_token_waiter)
{
	tok_fx fx;
	bool   woke;

	tok_open(&fx);
	drpc_ctx_cancel(fx.bctx);
	woke = tu_event_wait(&fx.b.done, 1);
	tok_finish(&fx, woke);
	ck_assert_int_eq(fx.b.rv, DRPC_ECANCELED);
}
END_TEST

// The same, B's stream ended by the peer (a Close).
START_TEST(test_cancel_remote_end_wakes_token_waiter)
{
	tok_fx fx;
	bool   woke;

	tok_open(&fx);
	tu_raw_send(&fx.r, DRPC__KIND_CLOSE, false, drpc__stream_id(fx.b.s), 1,
	    NULL, 0);
	woke = tu_event_wait(&fx.b.done, 1);
	tok_finish(&fx, woke);
	ck_assert_int_eq(fx.b.rv, DRPC_ECLOSED);
}
END_TEST

// The server's connection goes away while 100 client streams block in
// recv: each wakes with Unavailable; nothing leaks.
#define BLOCKED 100

START_TEST(test_cancel_termination_wakes_all)
{
	tu_leak       leak = tu_leak_start();
	tu_pair       p;
	hold_state    h;
	pthread_t     t[BLOCKED];
	recv_arg      a[BLOCKED];
	sem_t         started;

	hold_init(&h);
	ck_assert_int_eq(sem_init(&started, 0, 0), 0);
	tu_pair_open(&p, hold_handler, &h, NULL, NULL);
	for (int i = 0; i < BLOCKED; i++) {
		a[i] = (recv_arg) {.started = &started};
		DRPC_CHECK_OK(
		    tu_open(p.cli, NULL, "/t/Hold", NULL, 0, false, &a[i].s));
		DRPC_CHECK_OK(drpc__thread_start(
		    &t[i], "t-recv", (uint64_t) i, 0, recv_main, &a[i]));
	}
	for (int i = 0; i < BLOCKED; i++) {
		ck_assert_int_eq(sem_wait(&started), 0);
	}
	tu_pair_wait_started(&p, BLOCKED);
	drpc__conn_close(p.srv);
	for (int i = 0; i < BLOCKED; i++) {
		drpc__thread_join(t[i]);
		ck_assert_int_eq(a[i].rv, DRPC_EUNAVAIL);
		DRPC_CHECK_ERR(drpc__stream_send(a[i].s, (const uint8_t *) "x",
		    1), DRPC_EUNAVAIL);
		drpc__stream_destroy(a[i].s);
	}
	DRPC_CHECK_ERR(tu_wait_conn_err(p.cli), DRPC_ECLOSED);
	ck_assert_uint_eq(drpc__conn_active(p.cli), 0);
	tu_pair_close(&p);
	ck_assert_uint_eq(h.ended, BLOCKED);
	ck_assert_int_eq(h.last, DRPC_ECANCELED); // handlers: conn gone
	sem_destroy(&started);
	tu_leak_check(&leak);
}
END_TEST

// The server handler cancels its stream: the client sees Canceled.
static drpc_err
cancel_handler(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	(void) arg;
	(void) name;
	(void) md;
	drpc__stream_cancel(s, DRPC_ECANCELED);
	return DRPC_OK;
}

START_TEST(test_cancel_remote)
{
	tu_pair        p;
	drpc__stream  *s;
	const uint8_t *data;
	size_t         len;

	tu_pair_open(&p, cancel_handler, NULL, NULL, NULL);
	DRPC_CHECK_OK(tu_open(p.cli, NULL, "/t/C", "x", 1, true, &s));
	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), DRPC_ECANCELED);
	// The stream ended remotely: send says EOF, recv told the reason.
	DRPC_CHECK_ERR(drpc__stream_send(s, (const uint8_t *) "x", 1),
	    DRPC_EOF);
	DRPC_CHECK_OK(drpc__stream_cancel_reason(s)); // not a local cancel
	drpc__stream_destroy(s);
	DRPC_CHECK_OK(drpc__conn_err(p.cli));
	tu_pair_close(&p);
}
END_TEST

// The three outcomes of a cancelled unary call (reference §16.7), each
// forced: (1) cancelled before the call: fails before an id is taken;
// (2) cancelled after the invoke went out, before the request: the send
// reports the cancel, never EOF; (3) cancelled while waiting for the
// reply: recv reports it.
START_TEST(test_cancel_unary_outcomes)
{
	tu_pair        p;
	hold_state     h;
	drpc_ctx      *ctx;
	drpc__stream  *s;
	const uint8_t *data;
	size_t         len;

	hold_open(&p, &h);
	// (1)
	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	drpc_ctx_cancel(ctx);
	DRPC_CHECK_ERR(tu_open(p.cli, ctx, "/t/Hold", "r", 1, true, &s),
	    DRPC_ECANCELED);
	drpc_ctx_destroy(ctx);
	// (2): the invoke is written, then the cancel wins the race.
	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	DRPC_CHECK_OK(tu_open(p.cli, ctx, "/t/Hold", NULL, 0, false, &s));
	ck_assert_uint_eq(drpc__stream_id(s), 1); // (1) took no id
	drpc_ctx_cancel(ctx);
	DRPC_CHECK_ERR(drpc__stream_send(s, (const uint8_t *) "r", 1),
	    DRPC_ECANCELED);
	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), DRPC_ECANCELED);
	drpc__stream_destroy(s);
	drpc_ctx_destroy(ctx);
	// (3): the request is out (the handler holds the stream open by not
	// seeing the end of the input), the reply never comes.
	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	DRPC_CHECK_OK(tu_open(p.cli, ctx, "/t/Hold", "r", 1, false, &s));
	tu_pair_wait_started(&p, 2);
	cancel_receiving(s, ctx);
	drpc__stream_destroy(s);
	drpc_ctx_destroy(ctx);
	tu_pair_close(&p);
	ck_assert_uint_eq(h.ended, 2);
}
END_TEST

// The client connection is destroyed with streams open and handles still
// held: the handles report Unavailable and release cleanly afterwards.
START_TEST(test_cancel_close_with_streams_open)
{
	tu_leak        leak = tu_leak_start();
	tu_pair       p;
	hold_state    h;
	drpc__stream *s[10];
	const uint8_t *data;
	size_t         len;

	hold_open(&p, &h);
	for (int i = 0; i < 10; i++) {
		DRPC_CHECK_OK(tu_open(p.cli, NULL, "/t/Hold", "x", 1, false,
		    &s[i]));
	}
	tu_pair_wait_started(&p, 10);
	drpc__conn_destroy(p.cli);
	for (int i = 0; i < 10; i++) {
		DRPC_CHECK_ERR(drpc__stream_recv(s[i], &data, &len),
		    DRPC_EUNAVAIL);
		DRPC_CHECK_ERR(drpc__stream_close(s[i]), DRPC_OK);
		drpc__stream_destroy(s[i]);
	}
	p.cli = NULL;
	DRPC_CHECK_ERR(tu_wait_conn_err(p.srv), DRPC_ECLOSED);
	tu_pair_close(&p);
	ck_assert_uint_eq(h.ended, 10);
	tu_leak_check(&leak);
}
END_TEST

// A full receive ring holds the reader for that stream's consumer only
// until it reads; all messages then arrive, in order, then EOF.
static drpc_err
burst_handler(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	(void) arg;
	(void) name;
	(void) md;
	for (uint32_t i = 0; i < 20; i++) {
		drpc_err rv = drpc__stream_send(s, (const uint8_t *) &i,
		    sizeof(i));

		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return drpc__stream_close_send(s);
}

START_TEST(test_cancel_ring_full)
{
	drpc__conn_opts co = {.ring_slots = 4};
	tu_pair         p;
	drpc__stream   *s;
	const uint8_t  *data;
	size_t          len;

	tu_pair_open(&p, burst_handler, NULL, &co, NULL);
	DRPC_CHECK_OK(tu_open(p.cli, NULL, "/t/Burst", NULL, 0, true, &s));
	for (uint32_t i = 0; i < 20; i++) {
		uint32_t got;

		DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
		ck_assert_uint_eq(len, sizeof(got));
		memcpy(&got, data, sizeof(got));
		ck_assert_uint_eq(got, i);
		drpc__stream_recv_done(s);
	}
	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), DRPC_EOF);
	drpc__stream_destroy(s);
	tu_pair_close(&p);
	ck_assert_int_eq(p.last_handler_err, DRPC_OK);
}
END_TEST

TU_SUITE(cancel,
    TU_TEST("cancel", test_cancel_blocked_recv, .timeout = 30),
    TU_TEST("cancel", test_cancel_deadline_recv),
    TU_TEST("cancel", test_cancel_blocked_send),
    TU_TEST("cancel", test_cancel_deadline_send),
    TU_TEST("cancel", test_cancel_cuts_large_message),
    TU_TEST("cancel", test_cancel_wakes_token_waiter),
    TU_TEST("cancel", test_cancel_remote_end_wakes_token_waiter),
    TU_TEST("cancel", test_cancel_remote),
    TU_TEST("cancel", test_cancel_unary_outcomes),
    TU_TEST("termination", test_cancel_termination_wakes_all, .timeout = 30),
    TU_TEST("termination", test_cancel_close_with_streams_open),
    TU_TEST("termination", test_cancel_ring_full))
