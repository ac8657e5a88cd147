// The memory a peer can make a connection hold (docs/design.md §8), one
// part at a time, over a socketpair with a raw peer playing the hostile
// side: what the streams hold of its messages (the connection's memory
// account, whatever the flow mode), a stream's queue in bytes without flow
// control, the writer's backlog of replies to a peer that never reads, and
// what a receive ring keeps allocated once drained. docs/reliability.md §3
// quotes these bounds; test/check_hostile.c attacks a whole server.
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connutil.h"
#include "platform/thread.h"
#include "stream/ring.h"
#include "suites.h"
#include "testutil.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"

#define BOX_MAX 64

// A server conn whose on_invoke keeps each new stream (unread) for the
// test, and the events the tests wait for.
typedef struct box {
	pthread_mutex_t mu;
	drpc__stream   *s[BOX_MAX]; // guarded by mu
	size_t          n;          // guarded by mu
	tu_event        invoked;
	tu_event        ring_waits; // the reader waits for ring room
	tu_event        backlogs;   // the reader stops for the writer
	size_t          unwritten;  // at the last backlog (guarded by mu)
} box;

static void
box_on_invoke(void *arg, drpc__stream *s, drpc__invoke_info *info)
{
	box *b = arg;

	drpc__md_fini(&info->md);
	drpc__mutex_lock(&b->mu);
	ck_assert_uint_lt(b->n, BOX_MAX);
	b->s[b->n++] = s;
	drpc__mutex_unlock(&b->mu);
	tu_event_post(&b->invoked);
}

static void
box_ring_wait(void *arg)
{
	tu_event_post(&((box *) arg)->ring_waits);
}

static void
box_backlog(void *arg, size_t unwritten)
{
	box *b = arg;

	drpc__mutex_lock(&b->mu);
	b->unwritten = unwritten;
	drpc__mutex_unlock(&b->mu);
	tu_event_post(&b->backlogs);
}

static void
box_init(box *b, drpc__conn_opts *o)
{
	memset(b, 0, sizeof(*b));
	drpc__mutex_init(&b->mu);
	tu_event_init(&b->invoked);
	tu_event_init(&b->ring_waits);
	tu_event_init(&b->backlogs);
	o->is_server      = true;
	o->on_invoke      = box_on_invoke;
	o->arg            = b;
	o->ring_wait_hook = box_ring_wait;
	o->backlog_hook   = box_backlog;
	o->hook_arg       = b;
}

static drpc__stream *
box_get(box *b, size_t i)
{
	drpc__stream *s;

	ck_assert(tu_event_wait(&b->invoked, (int) i + 1));
	drpc__mutex_lock(&b->mu);
	s = b->s[i];
	drpc__mutex_unlock(&b->mu);
	return s;
}

// box_release destroys every stream handle kept.
static void
box_release(box *b)
{
	drpc__mutex_lock(&b->mu);
	for (size_t i = 0; i < b->n; i++) {
		drpc__stream_destroy(b->s[i]);
	}
	b->n = 0;
	drpc__mutex_unlock(&b->mu);
}

static void
box_fini(box *b)
{
	box_release(b);
	tu_event_fini(&b->invoked);
	tu_event_fini(&b->ring_waits);
	tu_event_fini(&b->backlogs);
	drpc__mutex_fini(&b->mu);
}

#define KIB ((size_t) 1024)

// Small figures keep the tests quick: the connection may hold
// conn_window + max_msg_size + 64 bytes of the peer's messages.
#define T_WINDOW   (16 * KIB)
#define T_CONN_WIN (64 * KIB)
#define T_MAX_MSG  (32 * KIB)
#define T_LIMIT    (T_CONN_WIN + T_MAX_MSG + 64)
#define T_PIECE    (8 * KIB)

// raw_frame writes one frame of len bytes of fill, done or not.
static void
raw_frame(tu_raw *r, uint8_t kind, uint64_t sid, uint64_t mid, size_t len,
    bool done)
{
	uint8_t    *body = malloc(len + 1);
	drpc__buf   b    = {0};
	drpc__frame f    = {.stream_id = sid, .message_id = mid, .data = body,
	       .len = len, .kind = kind, .done = done};

	ck_assert_ptr_nonnull(body);
	memset(body, (int) ('a' + sid % 26), len);
	DRPC_CHECK_OK(drpc__frame_append(&b, &f));
	tu_raw_write(r, b.data, b.len);
	drpc__buf_fini(&b);
	free(body);
}

static void
raw_invoke(tu_raw *r, uint64_t sid)
{
	tu_raw_send(r, DRPC__KIND_INVOKE, false, sid, 1, "/t", 2);
}

// raw_hello sends a hello on stream sid, message id mid, asking for flow
// control and multiplexing with the connection's test figures: the
// conn then knows the raw peer honours its windows.
static void
raw_hello(tu_raw *r, uint64_t sid, uint64_t mid)
{
	uint8_t     body[DRPC__HELLO_BODY_MAX];
	drpc__hello h = {DRPC__HELLO_VERSION, T_WINDOW, DRPC__RXMEM_MSG,
	    T_CONN_WIN, DRPC__HELLO_FLOW | DRPC__HELLO_MUX};
	size_t      len = drpc__hello_put(body, &h);

	tu_raw_send(r, DRPC__KIND_HELLO, true, sid, mid, body, len);
}

// raw_expect_error reads frames until an Error for sid and checks its code
// (other frames are skipped).
static void
raw_expect_error(tu_raw *r, uint64_t sid, uint64_t code)
{
	drpc__frame    f;
	uint64_t       got;
	const uint8_t *msg;
	size_t         len;

	for (;;) {
		DRPC_CHECK_OK(tu_raw_next(r, &f));
		if (f.kind == DRPC__KIND_ERROR && f.stream_id == sid) {
			break;
		}
	}
	ck_assert(drpc__errbody_parse(f.data, f.len, &got, &msg, &len));
	ck_assert_uint_eq(got, code);
}

// half_build opens stream sid with the first piece of a message that is
// not done.
static void
half_build(tu_raw *r, uint64_t sid)
{
	raw_invoke(r, sid);
	raw_frame(r, DRPC__KIND_MESSAGE, sid, 2, T_PIECE, false);
}

// hello_half_build opens stream 1 with the hello of a peer that honours
// its windows, then half-builds a message on it.
static void
hello_half_build(tu_raw *r)
{
	raw_invoke(r, 1);
	raw_hello(r, 1, 2);
	raw_frame(r, DRPC__KIND_MESSAGE, 1, 3, T_PIECE, false);
}

// recv_len receives a message on b's stream i and checks its length.
static void
recv_len(box *b, size_t i, size_t want)
{
	const uint8_t *data;
	size_t         len;
	drpc__stream  *s = box_get(b, i);

	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, want);
	drpc__stream_recv_done(s);
}

// conn_ends waits for r's conn to end with want, for a cause that
// mentions text.
static void
conn_ends(tu_raw *r, drpc_err want, const char *text)
{
	drpc_cause why;

	DRPC_CHECK_ERR(tu_wait_conn_err(r->conn), want);
	(void) drpc__conn_cause(r->conn, &why);
	ck_assert_msg(strstr(why.text, text) != NULL, "cause: %s, want %s",
	    why.text, text);
}

static void
bounds_opts(drpc__conn_opts *o, box *b, drpc_flow_mode flow)
{
	*o = (drpc__conn_opts) {
	    .flow          = flow,
	    .multiplex     = DRPC_MULTIPLEX_ON,
	    .stream_window = T_WINDOW,
	    .conn_window   = T_CONN_WIN,
	    .max_msg_size  = T_MAX_MSG,
	};
	box_init(b, o);
}

// open_bounds starts the leak check, then opens r: a server conn with the
// test figures in flow mode and write_timeout_ms (the stall timeout; 0
// leaves the default), whose streams b keeps.
static tu_leak
open_bounds(box *b, tu_raw *r, drpc_flow_mode flow, int64_t write_timeout_ms)
{
	tu_leak         leak = tu_leak_start();
	drpc__conn_opts o;

	bounds_opts(&o, b, flow);
	o.write_timeout_ms = write_timeout_ms;
	tu_raw_open_exact(r, &o);
	return leak;
}

// close_box closes r and b, then checks that nothing leaked.
static void
close_box(box *b, tu_raw *r, const tu_leak *leak)
{
	tu_raw_close(r);
	box_fini(b);
	tu_leak_check(leak);
}

// Half-built messages on many streams, flow control in force: the
// connection holds what fits in its account and ends each stream that
// would go past it with ResourceExhausted (the peer ignored its windows);
// the others, and the connection, carry on, and every byte is given back
// when the streams go.
START_TEST(test_bounds_half_built)
{
	tu_leak leak;
	size_t  fit = T_LIMIT / T_PIECE; // 12
	size_t  n   = fit + 3;
	box     b;
	tu_raw  r;

	leak = open_bounds(&b, &r, DRPC_FLOW_AUTO, 0);
	hello_half_build(&r);
	for (size_t i = 2; i <= n; i++) {
		half_build(&r, i);
	}
	(void) box_get(&b, n - 1);
	for (size_t i = fit + 1; i <= n; i++) {
		raw_expect_error(&r, i, 8);
	}
	ck_assert_int_eq(drpc__conn_mem_held(r.conn), (int64_t) (fit * T_PIECE));
	ck_assert_int_le(drpc__conn_mem_held(r.conn), (int64_t) T_LIMIT);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));

	// The first stream completes its message with an empty last frame
	// (the 64 its slot costs still fit): it is queued, len + 64, and
	// delivered whole.
	raw_frame(&r, DRPC__KIND_MESSAGE, 1, 3, 0, true);
	{
		const uint8_t *data;
		size_t         len;
		drpc__stream  *s = box_get(&b, 0);

		DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
		ck_assert_uint_eq(len, T_PIECE);
		ck_assert_int_eq(drpc__conn_mem_held(r.conn),
		    (int64_t) (fit * T_PIECE + 64));
		drpc__stream_recv_done(s);
	}
	ck_assert_int_eq(
	    drpc__conn_mem_held(r.conn), (int64_t) ((fit - 1) * T_PIECE));
	box_release(&b); // half-built packets go with their streams
	ck_assert_int_eq(drpc__conn_mem_held(r.conn), 0);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	close_box(&b, &r, &leak);
}
END_TEST

// A conforming peer that pays nothing per message (our "on" mode asks a
// charge of 0) may queue empty messages the account counts at 64 each:
// it is waited for, never refused.
START_TEST(test_bounds_zero_charge_waits)
{
	tu_leak leak;
	size_t  msgs = T_LIMIT / 64 + 10;
	box     b;
	tu_raw  r;

	leak = open_bounds(&b, &r, DRPC_FLOW_ON, 0);
	raw_invoke(&r, 1);
	raw_hello(&r, 1, 2);
	for (size_t i = 0; i < msgs; i++) {
		raw_frame(&r, DRPC__KIND_MESSAGE, 1, 3 + i, 0, true);
	}
	(void) box_get(&b, 0);
	ck_assert(tu_event_wait(&b.ring_waits, 1)); // waits, not refuses
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	ck_assert_int_le(drpc__conn_mem_held(r.conn), (int64_t) T_LIMIT);
	close_box(&b, &r, &leak);
}
END_TEST

// Without flow control the peer cannot be asked to wait: a full account
// makes the reader wait for the applications instead, as a full ring
// does. A consumer's release lets it go on, and nothing is lost.
START_TEST(test_bounds_no_flow_waits)
{
	tu_leak leak;
	size_t  fit = T_LIMIT / T_PIECE; // 12
	size_t  n   = fit + 1;           // one piece more than fits
	box     b;
	tu_raw  r;

	leak = open_bounds(&b, &r, DRPC_FLOW_OFF, 0);
	// Stream 1 gets one whole message of a piece, then every stream
	// half-builds one: the account fills before the last streams fit.
	raw_invoke(&r, 1);
	raw_frame(&r, DRPC__KIND_MESSAGE, 1, 2, T_PIECE, true);
	for (size_t i = 2; i <= n; i++) {
		half_build(&r, i);
	}
	(void) box_get(&b, n - 1); // its invoke came before the piece
	// The reader waits with everything it could take: stream 1's
	// message and fit - 1 half-built ones.
	ck_assert(tu_event_wait(&b.ring_waits, 1));
	ck_assert_int_le(drpc__conn_mem_held(r.conn), (int64_t) T_LIMIT);
	recv_len(&b, 0, T_PIECE); // room for the rest
	// The last piece got in: the stream completes its message.
	raw_frame(&r, DRPC__KIND_MESSAGE, n, 2, 0, true);
	recv_len(&b, n - 1, T_PIECE);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	close_box(&b, &r, &leak);
}
END_TEST

// overrun_ends_conn half-builds a message on streams 1 to last (with
// flow control, stream 1 says hello first): the connection must end with
// want, for a cause that mentions text.
static void
overrun_ends_conn(drpc_flow_mode flow, int64_t write_timeout_ms, size_t last,
    drpc_err want, const char *text)
{
	box     b;
	tu_raw  r;
	tu_leak leak  = open_bounds(&b, &r, flow, write_timeout_ms);
	size_t  first = 1;

	if (flow != DRPC_FLOW_OFF) {
		hello_half_build(&r);
		first = 2;
	}
	for (size_t i = first; i <= last; i++) {
		half_build(&r, i);
	}
	conn_ends(&r, want, text);
	close_box(&b, &r, &leak);
}

// Without flow control, an account full of half-built packets (nothing a
// consumer could release): the reader waits the stall timeout, then the
// connection ends.
START_TEST(test_bounds_no_flow_stall)
{
	overrun_ends_conn(DRPC_FLOW_OFF, 50, T_LIMIT / T_PIECE + 1,
	    DRPC_ETIMEDOUT, "stalled: the 98368 bytes");
}
END_TEST

// A peer that keeps sending past the account loses the connection after
// DRPC__RXMEM_STRIKES streams were ended for it.
START_TEST(test_bounds_strikes_end_connection)
{
	overrun_ends_conn(DRPC_FLOW_AUTO, 0,
	    T_LIMIT / T_PIECE + DRPC__RXMEM_STRIKES, DRPC_ERESOURCE,
	    "16 streams ended");
}
END_TEST

// Without flow control a stream's queue is bounded in bytes (its window),
// not only in slots: the reader waits for the consumer once the stream
// holds that much, and nothing is lost.
START_TEST(test_bounds_queue_bytes_without_flow)
{
	tu_leak       leak;
	size_t        msgs = 12;
	size_t        len  = 4 * KIB;
	drpc__stream *s;
	box           b;
	tu_raw        r;
	int64_t       held;

	leak = open_bounds(&b, &r, DRPC_FLOW_OFF, 0);
	raw_invoke(&r, 1);
	for (size_t i = 0; i < msgs; i++) {
		raw_frame(&r, DRPC__KIND_MESSAGE, 1, 2 + i, len, true);
	}
	s = box_get(&b, 0);
	ck_assert(tu_event_wait(&b.ring_waits, 1));
	held = drpc__conn_mem_held(r.conn);
	// Full at the window: W / len messages, each len + 64.
	ck_assert_int_eq(held, (int64_t) ((T_WINDOW / len) * (len + 64)));
	for (size_t i = 0; i < msgs; i++) {
		const uint8_t *data;
		size_t         got;

		DRPC_CHECK_OK(drpc__stream_recv(s, &data, &got));
		ck_assert_uint_eq(got, len);
		ck_assert_uint_eq(data[0], 'b');
		drpc__stream_recv_done(s);
	}
	ck_assert_int_eq(drpc__conn_mem_held(r.conn), 0);
	close_box(&b, &r, &leak);
}
END_TEST

// A stream whose application reads nothing, its queue full and no flow
// control: the reader waits, reading nothing, so not even the peer's
// close could get through; after the stall timeout the connection ends.
START_TEST(test_bounds_stall_timeout)
{
	tu_leak leak;
	box     b;
	tu_raw  r;

	leak = open_bounds(&b, &r, DRPC_FLOW_OFF, 50);
	raw_invoke(&r, 1);
	for (size_t i = 0; i < 8; i++) {
		raw_frame(&r, DRPC__KIND_MESSAGE, 1, 2 + i, 4 * KIB, true);
	}
	(void) box_get(&b, 0);
	ck_assert(tu_event_wait(&b.ring_waits, 1));
	conn_ends(&r, DRPC_ETIMEDOUT, "stalled: stream 1");
	close_box(&b, &r, &leak);
}
END_TEST

// A client faces a hostile server the same way: a stream that would take
// the connection past its account ends with DRPC_ERESOURCE locally (and
// an Error to the server); its neighbour is untouched.
START_TEST(test_bounds_client_side)
{
	tu_leak         leak = tu_leak_start();
	drpc__conn_opts o    = {
		   .flow         = DRPC_FLOW_AUTO,
		   .multiplex    = DRPC_MULTIPLEX_ON,
		   .conn_window  = 32 * KIB,
		   .max_msg_size = 64 * KIB,
        };
	size_t         limit = 96 * KIB + 64;
	size_t         first = 7; // pieces stream 1 half-builds
	drpc__stream  *s[2];
	const uint8_t *data;
	size_t         len;
	tu_raw         r;

	tu_raw_open_exact(&r, &o);
	for (size_t i = 0; i < 2; i++) {
		DRPC_CHECK_OK(
		    tu_open(r.conn, NULL, "/t", NULL, 0, false, &s[i]));
	}
	// The server answers the hello: the client's windows are known to
	// it. Stream 1 half-builds a message, then stream 2 sends one piece
	// more than the rest of the account takes.
	raw_hello(&r, 1, 1);
	for (size_t i = 0; i < first; i++) {
		raw_frame(&r, DRPC__KIND_MESSAGE, 1, 2, T_PIECE, false);
	}
	for (size_t i = 0; i <= (limit - first * T_PIECE) / T_PIECE; i++) {
		raw_frame(&r, DRPC__KIND_MESSAGE, 2, 1, T_PIECE, false);
	}
	raw_expect_error(&r, 2, 8);
	DRPC_CHECK_ERR(drpc__stream_recv(s[1], &data, &len), DRPC_ERESOURCE);
	raw_frame(&r, DRPC__KIND_MESSAGE, 1, 2, 0, true);
	DRPC_CHECK_OK(drpc__stream_recv(s[0], &data, &len));
	ck_assert_uint_eq(len, first * T_PIECE);
	drpc__stream_recv_done(s[0]);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	drpc__stream_destroy(s[0]);
	drpc__stream_destroy(s[1]);
	ck_assert_int_eq(drpc__conn_mem_held(r.conn), 0);
	tu_raw_close(&r);
	tu_leak_check(&leak);
}
END_TEST

// A frame over the maximum (its body skipped unread) ends a stream that
// has a message half built: the half-built bytes leave the memory account,
// and the connection's flow count, when the stream ends, not when its
// handle goes (the handler may hold it long after). _i 0: no flow
// control; 1: automatic (the connection's counts run from the start).
START_TEST(test_bounds_oversize_drops_half_built)
{
	tu_leak        leak;
	drpc__stream  *s;
	const uint8_t *data;
	size_t         len;
	box            b;
	tu_raw         r;

	leak = open_bounds(&b, &r, _i == 0 ? DRPC_FLOW_OFF : DRPC_FLOW_AUTO, 0);
	raw_invoke(&r, 1);
	raw_frame(&r, DRPC__KIND_MESSAGE, 1, 2, T_PIECE, false);
	raw_frame(&r, DRPC__KIND_MESSAGE, 1, 3, T_MAX_MSG + 1, true);
	raw_expect_error(&r, 1, 8);
	s = box_get(&b, 0); // held, as a handler would
	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), DRPC_ERESOURCE);
	ck_assert_int_eq(drpc__conn_mem_held(r.conn), 0);
	ck_assert_uint_eq(drpc__conn_flow_held(r.conn), 0);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	box_release(&b);
	close_box(&b, &r, &leak);
}
END_TEST

// A peer's Error text is kept (until the stream is freed) only up to what
// we would send ourselves, and the cut is marked.
START_TEST(test_bounds_remote_error_text)
{
	tu_leak         leak = tu_leak_start();
	drpc__conn_opts o    = {.flow = DRPC_FLOW_OFF};
	size_t          big  = 100 * KIB;
	const char     *mark = " ... (truncated from 102400 bytes)";
	drpc__buf       body = {0};
	char           *text = malloc(big);
	drpc__stream   *s;
	const uint8_t  *data;
	const char     *msg;
	size_t          len;
	uint64_t        code;
	tu_raw          r;

	ck_assert_ptr_nonnull(text);
	memset(text, 'x', big);
	tu_raw_open_exact(&r, &o);
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t", NULL, 0, false, &s));
	// A raw body: code 13 and the whole text (our own append would cut).
	DRPC_CHECK_OK(drpc__buf_append(&body, "\0\0\0\0\0\0\0\x0d", 8));
	DRPC_CHECK_OK(drpc__buf_append(&body, text, big));
	tu_raw_send(&r, DRPC__KIND_ERROR, false, 1, 1, body.data, body.len);
	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), DRPC_EREMOTE);
	DRPC_CHECK_OK(drpc__stream_remote_err(s, &code, &msg, &len));
	ck_assert_uint_eq(code, 13);
	ck_assert_uint_le(len, DRPC__ERRBODY_TEXT_MAX);
	ck_assert_uint_gt(len, strlen(mark));
	ck_assert_str_eq(msg + len - strlen(mark), mark);
	drpc__stream_destroy(s);
	tu_raw_close(&r);
	drpc__buf_fini(&body);
	free(text);
	tu_leak_check(&leak);
}
END_TEST

// The flood of a peer that never reads: invokes the server refuses (one
// stream at most), each answered with an Error from the reader thread.

#define FLOOD_LIMIT ((size_t) 1024) // the writer's limit
#define FLOOD_N     20000

typedef struct flood {
	int       fd;
	pthread_t t;
	size_t    sent; // invokes written (the thread's until joined)
} flood;

static void *
flood_main(void *arg)
{
	flood   *fl = arg;
	drpc__buf b = {0};

	for (uint64_t id = 2; id < 2 + FLOOD_N; id++) {
		drpc__frame f = {.stream_id = id, .message_id = 1,
		    .data = (const uint8_t *) "/t", .len = 2,
		    .kind = DRPC__KIND_INVOKE, .done = true};

		b.len = 0;
		DRPC_CHECK_OK(drpc__frame_append(&b, &f));
		if (send(fl->fd, b.data, b.len, MSG_NOSIGNAL) !=
		    (ssize_t) b.len) {
			break; // the server cut us off
		}
		fl->sent++;
	}
	drpc__buf_fini(&b);
	return NULL;
}

static void
flood_start(flood *fl, tu_raw *r)
{
	memset(fl, 0, sizeof(*fl));
	fl->fd = r->fd;
	raw_invoke(r, 1); // takes the one slot
	ck_assert_int_eq(pthread_create(&fl->t, NULL, flood_main, fl), 0);
}

static void
flood_opts(drpc__conn_opts *o, box *b, int64_t write_timeout_ms)
{
	*o = (drpc__conn_opts) {
	    .flow             = DRPC_FLOW_OFF,
	    .multiplex        = DRPC_MULTIPLEX_ON,
	    .max_streams      = 1,
	    .writer_limit     = FLOOD_LIMIT,
	    .write_timeout_ms = write_timeout_ms,
	};
	box_init(b, o);
}

// open_flood is open_bounds with a flood's figures.
static tu_leak
open_flood(box *b, tu_raw *r, int64_t write_timeout_ms)
{
	tu_leak         leak = tu_leak_start();
	drpc__conn_opts o;

	flood_opts(&o, b, write_timeout_ms);
	tu_raw_open_exact(r, &o);
	return leak;
}

// The reader stops reading once the writer's limit of replies (packets
// that never wait for room) waits unwritten: what the writer holds stays
// under that plus one frame's replies. When
// the peer reads again every refused invoke gets its Error: nothing lost.
START_TEST(test_bounds_backlog_stops_reader)
{
	tu_leak     leak;
	drpc__frame f;
	size_t      errors = 0;
	size_t      unwritten;
	flood       fl;
	box         b;
	tu_raw      r;

	leak = open_flood(&b, &r, -1);
	flood_start(&fl, &r);
	ck_assert(tu_event_wait(&b.backlogs, 1));
	drpc__mutex_lock(&b.mu);
	unwritten = b.unwritten;
	drpc__mutex_unlock(&b.mu);
	ck_assert_uint_le(unwritten, FLOOD_LIMIT + 128);
	while (errors < FLOOD_N) {
		DRPC_CHECK_OK(tu_raw_next(&r, &f));
		if (f.kind == DRPC__KIND_ERROR) {
			errors++;
		}
	}
	pthread_join(fl.t, NULL);
	ck_assert_uint_eq(fl.sent, FLOOD_N);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	close_box(&b, &r, &leak);
}
END_TEST

// A peer that never reads at all is cut off after the write timeout, with
// a cause that says so.
START_TEST(test_bounds_backlog_write_timeout)
{
	tu_leak leak;
	flood   fl;
	box     b;
	tu_raw  r;

	leak = open_flood(&b, &r, 50);
	flood_start(&fl, &r);
	conn_ends(&r, DRPC_ETIMEDOUT, "the peer stopped reading");
	ck_assert(tu_event_wait(&b.backlogs, 1));
	shutdown(r.fd, SHUT_RDWR); // the flood ends, whatever it sent
	pthread_join(fl.t, NULL);
	close_box(&b, &r, &leak);
}
END_TEST

// A connection that sent large messages and a burst does not keep its
// writer's buffers large: a 1 MiB message goes from the sender's memory
// (the direct path), a burst of 64 x 32 KiB waits for room past 256 KiB
// (the room on a socket), and once the drain thread sleeps it holds at
// most 2 x 256 KiB. The sends run on their own thread, since they wait
// for the peer, which reads on this one.
typedef struct big_send {
	drpc__stream *s;
	uint8_t      *msg;
	drpc_err      rv;
} big_send;

static void *
big_send_main(void *arg)
{
	big_send *b = arg;

	b->rv = drpc__stream_send(b->s, b->msg, 1 << 20);
	for (int i = 0; b->rv == DRPC_OK && i < 64; i++) {
		b->rv = drpc__stream_send(b->s, b->msg, 32 * KIB);
	}
	return NULL;
}

START_TEST(test_bounds_writer_shrinks)
{
	tu_leak         leak = tu_leak_start();
	drpc__conn_opts o    = {.flow = DRPC_FLOW_OFF};
	size_t          want = (1 << 20) + 64 * 32 * KIB;
	size_t          got  = 0;
	big_send        b    = {.msg = calloc(1, 1 << 20)};
	pthread_t       t;
	int64_t         until;
	drpc__frame     f;
	tu_raw          r;

	ck_assert_ptr_nonnull(b.msg);
	tu_raw_open_exact(&r, &o);
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t", NULL, 0, false, &b.s));
	DRPC_CHECK_OK(drpc__thread_start(&t, "t-big", 0, 0, big_send_main, &b));
	while (got < want) { // the peer reads it all
		DRPC_CHECK_OK(tu_raw_next(&r, &f));
		got += f.kind == DRPC__KIND_MESSAGE ? f.len : 0;
	}
	drpc__thread_join(t);
	DRPC_CHECK_OK(b.rv);
	// Wait (polling, bounded) for the drain thread to have gone to sleep.
	until = drpc__now_ns() + tu_bound_ns(TU_WAIT_NS);
	while (drpc__conn_out_retained(r.conn) > 2 * (256 * KIB) &&
	    drpc__now_ns() < until) {
		struct timespec ms = {0, 1000000};

		(void) nanosleep(&ms, NULL);
	}
	ck_assert_uint_le(drpc__conn_out_retained(r.conn), 2 * (256 * KIB));
	drpc__stream_destroy(b.s);
	tu_raw_close(&r);
	free(b.msg);
	tu_leak_check(&leak);
}
END_TEST

// A ring that once held many messages keeps at most DRPC__RING_RETAIN
// bytes allocated once drained, whatever their sizes; while it holds
// messages, at most two blocks more than they need.
START_TEST(test_bounds_ring_keeps_little)
{
	static uint8_t big[100 * 1024];
	drpc__ring     rg;
	const uint8_t *data;
	size_t         len;
	size_t         msgs;
	size_t         bytes;

	drpc__ring_init(&rg, 100000);
	for (int round = 0; round < 3; round++) {
		size_t sizes[] = {16, 1000, 20000};

		for (size_t i = 0; i < 1000; i++) {
			DRPC_CHECK_OK(drpc__ring_put(&rg, big, sizes[i % 3]));
		}
		ck_assert_uint_eq(rg.count, 1000);
		for (size_t i = 0; i < 1000; i++) {
			size_t need = (rg.count / DRPC__RING_BLOCK + 3) *
			    sizeof(drpc__ring_block);

			drpc__ring_borrow(&rg, &data, &len);
			ck_assert_uint_eq(len, sizes[i % 3]);
			drpc__ring_release(&rg);
			// Blocks: what the queue needs, plus two.
			ck_assert_uint_le(
			    drpc__ring_retained(&rg), need + DRPC__RING_KEEP);
		}
		ck_assert_uint_eq(rg.bytes, 0);
		ck_assert_uint_le(drpc__ring_retained(&rg), DRPC__RING_RETAIN);
	}
	// A cleared queue with a borrowed head keeps that one message.
	for (size_t i = 0; i < 300; i++) {
		DRPC_CHECK_OK(drpc__ring_put(&rg, big, i == 0 ? 7 : 1000));
	}
	drpc__ring_borrow(&rg, &data, &len);
	drpc__ring_clear(&rg, &msgs, &bytes);
	ck_assert_uint_eq(msgs, 299);
	ck_assert_uint_eq(bytes, 299 * 1000);
	ck_assert_uint_eq(rg.count, 1);
	ck_assert_uint_eq(rg.bytes, 7);
	ck_assert_uint_eq(len, 7);
	drpc__ring_release(&rg);
	DRPC_CHECK_OK(drpc__ring_put(&rg, big, sizeof(big)));
	drpc__ring_borrow(&rg, &data, &len);
	ck_assert_uint_eq(len, sizeof(big));
	drpc__ring_release(&rg);
	ck_assert_uint_le(drpc__ring_retained(&rg), DRPC__RING_RETAIN);
	drpc__ring_fini(&rg);
}
END_TEST

TU_SUITE(bounds,
    TU_TEST("core", test_bounds_half_built, .timeout = 60),
    TU_TEST("core", test_bounds_strikes_end_connection),
    TU_TEST("core", test_bounds_no_flow_waits),
    TU_TEST("core", test_bounds_zero_charge_waits),
    TU_TEST("core", test_bounds_no_flow_stall),
    TU_TEST("core", test_bounds_queue_bytes_without_flow),
    TU_TEST("core", test_bounds_stall_timeout),
    TU_TEST("core", test_bounds_client_side),
    TU_TEST("core", test_bounds_oversize_drops_half_built, .loops = 2),
    TU_TEST("core", test_bounds_remote_error_text),
    TU_TEST("core", test_bounds_writer_shrinks),
    TU_TEST("core", test_bounds_backlog_stops_reader),
    TU_TEST("core", test_bounds_backlog_write_timeout),
    TU_TEST("core", test_bounds_ring_keeps_little))
