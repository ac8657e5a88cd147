// Who writes (issue 15, docs/design.md §3): a call's invoke and a reply
// are written by the threads that make them, never by a drain thread;
// a burst of messages is the drain thread's; a large message goes from
// its sender's memory to the socket; and the reader wakes a caller once,
// after the reply and the CloseSend behind it, so it sends no Close.
//
// Every test runs over a real socketpair (the writers can write without
// blocking) and counts with drpc__conn_write_stats: which thread wrote is
// decided by the rule, not by timing, so the counts are exact.
#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "conn/conn.h"
#include "connutil.h"
#include "ctx/ctx.h"
#include "platform/thread.h"
#include "stream/stream_impl.h"
#include "fixture.h"
#include "suites.h"
#include "testutil.h"
#include "wire/frame.h"

#define KIB 1024

// h_echo receives one message and replies with it as the last one.
static drpc_err
h_echo(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;

	(void) arg, (void) name, (void) md;
	if ((rv = drpc__stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	rv = drpc__stream_send_last(s, len > 0 ? data : (const uint8_t *) "", len);
	drpc__stream_recv_done(s);
	return rv;
}

// unary makes one call as drpc_invoke does and checks the echo.
static void
unary(drpc__conn *c, const char *msg)
{
	drpc__stream  *s;
	const uint8_t *data;
	size_t         len;

	DRPC_CHECK_OK(tu_open(c, NULL, "/t/Echo", msg, strlen(msg), true, &s));
	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, strlen(msg));
	ck_assert(memcmp(data, msg, len) == 0);
	drpc__stream_recv_done(s);
	DRPC_CHECK_OK(drpc__stream_close(s));
	drpc__stream_destroy(s);
}

#define UNARY_CALLS 100

// Unary calls cost no drain-thread write on either side: the caller
// writes its invoke, the handler its reply. The client sends no hello
// (multiplexing on, flow control off), so nothing else is written at all:
// a drain thread that wrote a hello's answer would linger and could catch
// a reply before its handler's flush. The counts are read once both
// connections are closed (drain threads joined).
START_TEST(test_writepath_unary_no_drain)
{
	tu_leak            l = tu_leak_start();
	tu_pair            p;
	drpc__conn_opts    plain;
	drpc__writer_stats c, sv;

	tu_pair_open(&p, h_echo, NULL, tu_plain(&(drpc__conn_opts) {0}, &plain),
	    NULL);
	for (int i = 0; i < UNARY_CALLS; i++) {
		unary(p.cli, "0123456789abcdef");
	}
	drpc__conn_close(p.cli);
	drpc__conn_close(p.srv);
	drpc__conn_write_stats(p.cli, &c);
	drpc__conn_write_stats(p.srv, &sv);
	// Nobody woke either drain thread, but for a flush that used up its
	// rounds writing for others: a loaded machine can chain calls so
	// (the reply written in a flush's first round brings the next call,
	// whose handler finds the token still taken, and so on), which a
	// test cannot prevent and which is no fault. A drain thread woken
	// spuriously may still write what a flusher was about to, so writes
	// are not attributed.
	ck_assert_uint_le(c.drain_wakes, c.handoffs);
	ck_assert_uint_le(sv.drain_wakes, sv.handoffs);
	// One write per call each way: the invoke (with its message and
	// CloseSend), the reply (with its CloseSend). No Close follows.
	ck_assert_uint_eq(c.flush_writes + c.drain_writes, UNARY_CALLS);
	ck_assert_uint_eq(sv.flush_writes + sv.drain_writes, UNARY_CALLS);
	tu_pair_close(&p);
	tu_leak_check(&l);
}
END_TEST

#define BURST 1000

// h_burst sends BURST small messages back to back, then returns (the
// CloseSend follows).
static drpc_err
h_burst(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	drpc_err rv = DRPC_OK;

	(void) arg, (void) name, (void) md;
	for (int i = 0; i < BURST && rv == DRPC_OK; i++) {
		rv = drpc__stream_send(s, (const uint8_t *) "0123456789abcdef", 16);
	}
	if (rv == DRPC_OK) {
		rv = drpc__stream_close_send(s);
	}
	return rv;
}

// A burst is the drain thread's: only the first message and the
// CloseSend are flushed by the handler, the other 999 messages are left
// to the drain thread (which batches them).
START_TEST(test_writepath_burst_is_drained)
{
	tu_leak            l = tu_leak_start();
	tu_pair            p;
	drpc__stream      *s;
	const uint8_t     *data;
	size_t             len;
	size_t             got = 0;
	drpc__writer_stats sv;
	drpc_err           rv;

	tu_pair_open(&p, h_burst, NULL, NULL, NULL);
	DRPC_CHECK_OK(tu_open(p.cli, NULL, "/t/Burst", "go", 2, true, &s));
	while ((rv = drpc__stream_recv(s, &data, &len)) == DRPC_OK) {
		ck_assert_uint_eq(len, 16);
		drpc__stream_recv_done(s);
		got++;
	}
	DRPC_CHECK_ERR(rv, DRPC_EOF);
	ck_assert_uint_eq(got, BURST);
	drpc__stream_destroy(s);
	drpc__conn_close(p.cli);
	drpc__conn_close(p.srv);
	drpc__conn_write_stats(p.srv, &sv);
	// Two flushes (the first message, the CloseSend), each at most two
	// writes (WRITER_FLUSH_ROUNDS): the 999 messages between them were
	// appended without a write of the handler's own; the drain thread
	// (or the CloseSend's flush, if it came first) wrote them.
	ck_assert_uint_le(sv.flush_writes, 4);
	tu_pair_close(&p);
	tu_leak_check(&l);
}
END_TEST

// h_sink receives every message, checking each is LARGE bytes of the
// pattern, until the end of the input.
#define LARGE ((size_t) 1 << 20)

static uint8_t
pattern(size_t i)
{
	return (uint8_t) (i * 131 + (i >> 12));
}

static drpc_err
h_sink(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	const uint8_t *data;
	size_t         len;
	size_t        *msgs = arg;
	drpc_err       rv;

	(void) name, (void) md;
	while ((rv = drpc__stream_recv(s, &data, &len)) == DRPC_OK) {
		bool same = len == LARGE;

		for (size_t i = 0; same && i < len; i++) {
			same = data[i] == pattern(i);
		}
		drpc__stream_recv_done(s);
		if (!same) {
			return DRPC_EINVAL;
		}
		(*msgs)++; // this stream's handler only
	}
	return rv == DRPC_EOF ? drpc__stream_send_last(s, (const uint8_t *) "k", 1)
			      : rv;
}

// Large messages go from the sender's memory to the socket: every byte of
// their frames is counted as written directly, and each arrives intact.
START_TEST(test_writepath_large_direct)
{
	tu_leak            l = tu_leak_start();
	tu_pair            p;
	drpc__stream      *s;
	uint8_t           *big = malloc(LARGE);
	const uint8_t     *data;
	size_t             len;
	size_t             msgs = 0;
	drpc__writer_stats c0, c1;

	ck_assert_ptr_nonnull(big);
	for (size_t i = 0; i < LARGE; i++) {
		big[i] = pattern(i);
	}
	tu_pair_open(&p, h_sink, &msgs, NULL, NULL);
	DRPC_CHECK_OK(tu_open(p.cli, NULL, "/t/Sink", NULL, 0, false, &s));
	drpc__conn_write_stats(p.cli, &c0);
	for (int i = 0; i < 4; i++) {
		DRPC_CHECK_OK(drpc__stream_send(s, big, LARGE));
	}
	drpc__conn_write_stats(p.cli, &c1); // counted before send returns
	DRPC_CHECK_OK(drpc__stream_close_send(s));
	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, 1);
	drpc__stream_recv_done(s);
	ck_assert_uint_eq(msgs, 4);
	// The bodies and at least one header per frame, all direct.
	ck_assert_uint_ge(c1.direct_bytes - c0.direct_bytes,
	    4 * (LARGE + LARGE / (64 * KIB)));
	drpc__stream_destroy(s);
	free(big);
	tu_pair_close(&p);
	tu_leak_check(&l);
}
END_TEST

// A large send whose deadline passes while the peer reads nothing ends
// with DRPC_ETIMEDOUT; the peer then gets whole frames only, the frame in
// progress finished, then the stream's Cancel, and nothing after it.
START_TEST(test_writepath_large_deadline)
{
	tu_raw        r;
	drpc_ctx     *ctx;
	drpc__stream *s;
	uint8_t      *big  = calloc(1, 8 << 20);
	drpc__frame   f;
	size_t        body = 0;
	bool          end  = false;
	drpc__conn_opts o  = {.max_msg_size = 16 << 20};

	ck_assert_ptr_nonnull(big);
	tu_raw_open(&r, &o);
	DRPC_CHECK_OK(tu_open_timeout(
	    r.conn, 100, &ctx, "/t/Sink", NULL, 0, false, &s));
	DRPC_CHECK_ERR(drpc__stream_send(s, big, 8 << 20), DRPC_ETIMEDOUT);
	while (!end && tu_raw_next(&r, &f) == DRPC_OK) {
		if (f.kind == DRPC__KIND_MESSAGE) {
			ck_assert(!f.done);
			body += f.len;
		}
		end = f.kind == DRPC__KIND_CANCEL || f.kind == DRPC__KIND_ERROR;
	}
	ck_assert(end);
	ck_assert_uint_gt(body, 0);
	ck_assert_uint_lt(body, 8 << 20);
	ck_assert_uint_eq(body % (64 * KIB), 0); // whole frames
	drpc__stream_destroy(s);
	drpc_ctx_destroy(ctx);
	drpc__conn_close(r.conn);
	DRPC_CHECK_ERR(tu_raw_next(&r, &f), DRPC_EOF); // nothing after it
	tu_raw_close(&r);
	free(big);
}
END_TEST

// rae_job is a caller waiting in recv, and what it saw when recv returned.
typedef struct rae_job {
	drpc__stream  *s;
	drpc_err       rv;
	bool           ended; // the stream had ended when recv returned
	const uint8_t *data;
	size_t         len;
} rae_job;

static void *
rae_recv(void *arg)
{
	rae_job *j = arg;

	j->rv    = drpc__stream_recv(j->s, &j->data, &j->len);
	j->ended = drpc__stream_is_terminated(j->s);
	return NULL;
}

// rae_waiting says whether a user thread sleeps in s's recv.
static bool
rae_waiting(drpc__stream *s)
{
	bool w;

	drpc__mutex_lock(&s->mu);
	w = s->user_waiting;
	drpc__mutex_unlock(&s->mu);
	return w;
}

// The reader wakes a caller waiting in recv once the reply and the
// CloseSend that came with it are both in: the stream has ended by the
// time recv returns the reply, so the caller's close sends nothing. (A
// caller that comes to recv while the reader is between the two frames
// finds the reply at once, without a wake: the test waits until the
// caller sleeps in recv before the peer writes.)
START_TEST(test_writepath_reply_and_end_together)
{
	rae_job        j = {0};
	pthread_t      t;
	int64_t        dl;
	tu_raw        r;
	drpc__stream *s;
	drpc__frame   f;
	uint8_t       both[64];
	size_t        n = 0;
	drpc__buf     b = {0};

	tu_raw_open(&r, &(drpc__conn_opts) {0});
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t/Echo", "q", 1, true, &s));
	for (int i = 0; i < 3; i++) { // Invoke, Message, CloseSend
		DRPC_CHECK_OK(tu_raw_next(&r, &f));
	}
	ck_assert_int_eq(f.kind, DRPC__KIND_CLOSE_SEND);
	// The reply and the CloseSend in one write, as a server sends them.
	DRPC_CHECK_OK(drpc__frame_append(&b, &(drpc__frame) {.stream_id = 1,
	    .message_id = 1, .kind = DRPC__KIND_MESSAGE, .data =
	    (const uint8_t *) "a", .len = 1, .done = true}));
	DRPC_CHECK_OK(drpc__frame_append(&b, &(drpc__frame) {.stream_id = 1,
	    .message_id = 2, .kind = DRPC__KIND_CLOSE_SEND, .done = true}));
	ck_assert_uint_le(b.len, sizeof(both));
	memcpy(both, b.data, b.len);
	n = b.len;
	drpc__buf_fini(&b);
	j.s = s;
	ck_assert_int_eq(pthread_create(&t, NULL, rae_recv, &j), 0);
	dl = drpc__now_ns() + tu_bound_ns(TU_WAIT_NS);
	while (!rae_waiting(s) && drpc__now_ns() < dl) {
		// the poll's interval; the bound fails the test
		nanosleep(&(struct timespec) {.tv_nsec = 1000000}, NULL);
	}
	ck_assert_msg(rae_waiting(s), "the caller never slept in recv");
	tu_raw_write(&r, both, n);
	pthread_join(t, NULL);
	DRPC_CHECK_OK(j.rv);
	ck_assert_uint_eq(j.len, 1);
	ck_assert(j.ended);
	drpc__stream_recv_done(s);
	DRPC_CHECK_OK(drpc__stream_close(s)); // ended: writes nothing
	drpc__stream_destroy(s);
	drpc__conn_close(r.conn);
	DRPC_CHECK_ERR(tu_raw_next(&r, &f), DRPC_EOF);
	tu_raw_close(&r);
}
END_TEST

// wp_start starts the public fixture over a socketpair with the
// server's options o, fn serving /t/M, and dials it (f->c).
static void
wp_start(tf *f, drpc_handler_fn fn, void *user, const drpc_server_opts *o)
{
	tf_method m  = {"/t/M", fn, user};
	tf_opts   to = {
	      .net = TF_PAIR, .server = o, .methods = &m, .nmethods = 1};

	tf_server_start(f, &to);
	tf_dial(f, NULL);
}

// h_err_last sets the RPC's error, then replies with send_last and
// returns OK: the error must still end the RPC (docs/api.md, rule 1).
// It never asserts (test/README.md, rule 6): a failed set_error is its
// result, which the client sees instead of code 7.
static drpc_err
h_err_last(drpc_stream *s, void *user)
{
	drpc_err rv;

	(void) user;
	if ((rv = tf_drop_request(s)) != DRPC_OK ||
	    (rv = drpc_stream_set_error(s, 7, "not you")) != DRPC_OK) {
		return rv;
	}
	return drpc_stream_send_last(s, "x", 1);
}

START_TEST(test_writepath_send_last_keeps_error)
{
	tf           p;
	drpc_stream *s;
	void        *msg;
	size_t       len;
	drpc_status  st = {0};

	wp_start(&p, h_err_last, NULL, NULL);
	DRPC_CHECK_OK(drpc_stream_open_request(&s, p.c, NULL, "/t/M", "q", 1,
	    NULL));
	DRPC_CHECK_OK(drpc_stream_recv(s, &msg, &len)); // the reply
	drpc_free(msg);
	DRPC_CHECK_ERR(drpc_stream_recv(s, &msg, &len), 7); // then the Error
	DRPC_CHECK_OK(drpc_stream_status(s, &st));
	ck_assert_str_eq(st.message, "not you");
	drpc_status_reset(&st);
	drpc_stream_destroy(s);
	tf_stop(&p); // and no thread or fd left
}
END_TEST

// h_slow_tail replies with send_last, then (the first call only) stays
// in the handler until the second call's handler has started.
typedef struct tail {
	tu_event    second; // the second handler started
	atomic_int  calls;
} tail;

static drpc_err
h_slow_tail(drpc_stream *s, void *user)
{
	tail    *t = user;
	drpc_err rv;
	int      n = atomic_fetch_add(&t->calls, 1);

	if ((rv = tf_drop_request(s)) != DRPC_OK) {
		return rv;
	}
	if (n == 1) {
		tu_event_post(&t->second);
	}
	rv = drpc_stream_send_last(s, "r", 1);
	if (n == 0) {
		(void) tu_event_wait(&t->second, 1);
	}
	return rv;
}

// With max_handlers 1, a handler that replied with send_last frees its
// place before the client can see the end of its call: the client's next
// call is served while the first handler has not returned yet.
START_TEST(test_writepath_place_free_at_send_last)
{
	drpc_server_opts o = {.max_handlers = 1};
	tf               p;
	tail             t;
	void            *reply;
	size_t           len;

	tu_event_init(&t.second);
	atomic_init(&t.calls, 0);
	wp_start(&p, h_slow_tail, &t, &o);
	for (int i = 0; i < 2; i++) {
		DRPC_CHECK_OK(drpc_invoke(
		    p.c, NULL, "/t/M", "q", 1, NULL, &reply, &len, NULL));
		drpc_free(reply);
	}
	tf_stop(&p); // and no thread or fd left
	tu_event_fini(&t.second);
}
END_TEST

// With more than two streams open, senders leave their packets to the
// drain thread (it batches them): two idle streams opened first (each
// written by its opener, one or two streams being open), then every
// unary call's invoke is the drain thread's.
START_TEST(test_writepath_many_streams_drained)
{
	tu_leak            l = tu_leak_start();
	tu_pair            p;
	drpc__stream      *idle[2];
	drpc__writer_stats c;

	tu_pair_open(&p, h_echo, NULL, NULL, NULL);
	for (int i = 0; i < 2; i++) {
		DRPC_CHECK_OK(tu_open(p.cli, NULL, "/t/Idle", NULL, 0, false,
		    &idle[i]));
	}
	tu_pair_wait_started(&p, 2);
	for (int i = 0; i < 20; i++) {
		unary(p.cli, "0123456789abcdef");
	}
	drpc__conn_close(p.cli);
	drpc__conn_write_stats(p.cli, &c);
	ck_assert_uint_eq(c.flush_writes, 2);
	ck_assert_uint_ge(c.drain_writes, 1);
	for (int i = 0; i < 2; i++) {
		drpc__stream_destroy(idle[i]);
	}
	tu_pair_close(&p);
	tu_leak_check(&l);
}
END_TEST

TU_SUITE(writepath,
    TU_TEST("writepath", test_writepath_unary_no_drain, .timeout = 60),
    TU_TEST("writepath", test_writepath_burst_is_drained),
    TU_TEST("writepath", test_writepath_large_direct),
    TU_TEST("writepath", test_writepath_large_deadline),
    TU_TEST("writepath", test_writepath_reply_and_end_together),
    TU_TEST("writepath", test_writepath_send_last_keeps_error),
    TU_TEST("writepath", test_writepath_place_free_at_send_last),
    TU_TEST("writepath", test_writepath_many_streams_drained))
