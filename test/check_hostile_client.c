// Hostile peers against a client (issue 14), the mirror of
// check_hostile.c: a hostile server (a raw listening socket served by a
// thread of the test) answers a libdrpc client that has the default
// options. It answers a unary call with endless messages, with frames for
// streams that never existed, with absurd lengths, and answers the
// client's hello with absurd windows. The client must return from every
// call (with a result or an error, never hang past its deadline), keep
// its memory bounded (its own RSS, measured in the release build) and
// leave no thread or fd behind. Each case prints one line,
// `hostile-client: <case> ...`.
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "hostile.h"
#include "platform/thread.h"
#include "testutil.h"
#include "transport/addr.h"
#include "wire/flowctl.h"
#include "wire/reader.h"
#include "wire/varint.h"

// The hostile server: one connection, one behaviour.

typedef enum evil_kind {
	EVIL_ENDLESS, // Message after Message on the call's stream
	EVIL_UNKNOWN, // frames for streams never opened, then the reply
	EVIL_LENGTH,  // one frame header with an absurd length
	EVIL_WINDOW,  // answers the hello with absurd figures
} evil_kind;

typedef struct evil {
	evil_kind kind;
	int       variant;
	uint64_t  budget; // ENDLESS, UNKNOWN: bytes to write
	uint64_t  window; // WINDOW: the hello's figures
	uint64_t  cost;
	uint64_t  conn_window;
	bool      grant;      // WINDOW: give back the first call's credit
	bool      stall_stop; // stop writing once the client stops reading
	int       lfd;
	int       fd;
	char      addr[64];
	pthread_t t;

	pthread_mutex_t mu;
	pthread_cond_t  cv;
	// Guarded by mu:
	uint64_t written;
	bool     done;    // the thread has finished its part
	uint64_t msgs_in; // WINDOW: the stream's Messages received
	bool     stalled; // the client stopped reading (stall_stop)
} evil;

static void
evil_post(evil *e, uint64_t written, bool done)
{
	drpc__mutex_lock(&e->mu);
	e->written += written;
	e->done = e->done || done;
	drpc__cond_broadcast(&e->cv);
	drpc__mutex_unlock(&e->mu);
}

// EVIL_STALL_NS: how long a write may find no room before the hostile
// server counts the client as not reading (EVIL_ENDLESS, variant 1). A
// client that is merely slow can only make it come early, which shortens
// the attack: never a false failure.
#define EVIL_STALL_NS (500 * 1000000ll)

// evil_write writes b entirely; false once the client has gone, or (with
// e->stall_stop) has stopped reading.
static bool
evil_write(evil *e, const drpc__buf *b)
{
	size_t off = 0;
	int    ms  = (int) (tu_bound_ns(EVIL_STALL_NS) / 1000000);

	while (off < b->len) {
		struct pollfd pfd = {e->fd, POLLOUT, 0};
		ssize_t       n;

		if (e->stall_stop && poll(&pfd, 1, ms) == 0) {
			drpc__mutex_lock(&e->mu);
			e->stalled = true;
			drpc__mutex_unlock(&e->mu);
			return false;
		}
		n = send(e->fd, b->data + off, b->len - off,
		    MSG_NOSIGNAL | (e->stall_stop ? MSG_DONTWAIT : 0));
		if (n < 0 && (errno == EINTR || errno == EAGAIN ||
		                 errno == EWOULDBLOCK)) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		off += (size_t) n;
		evil_post(e, (uint64_t) n, false);
	}
	return true;
}

// evil_invoke reads the client's frames up to its Invoke; returns the
// stream id (0 if the client went away first).
static uint64_t
evil_invoke(drpc__frame_reader *fr)
{
	drpc__frame f;

	while (drpc__frame_reader_next(fr, &f) == DRPC_OK) {
		if (f.kind == DRPC__KIND_INVOKE && f.done) {
			return f.stream_id;
		}
	}
	return 0;
}

// evil_drain reads (and forgets) what the client sends until it closes
// the connection.
static void
evil_drain(drpc__frame_reader *fr)
{
	drpc__frame f;

	while (drpc__frame_reader_next(fr, &f) == DRPC_OK) {
	}
}

static void
evil_endless(evil *e, uint64_t sid)
{
	drpc__buf b   = {0};
	uint64_t  mid = 1;
	uint64_t  n   = 0;

	// Whole messages of a MiB, in 64 KiB frames, never a CloseSend.
	while (n < e->budget) {
		b.len = 0;
		rp_packet(&b, DRPC__KIND_MESSAGE, sid, mid++, NULL, HOSTILE_MIB,
		    HOSTILE_F, false);
		if (!evil_write(e, &b)) {
			break;
		}
		n += b.len;
	}
	drpc__buf_fini(&b);
}

static void
evil_unknown(evil *e, uint64_t sid)
{
	drpc__buf b = {0};
	uint64_t  n = 0;
	uint64_t  k = 0;

	while (n < e->budget) {
		uint64_t other = sid + 1000 + k++;

		b.len = 0;
		// One largest frame, and every other kind, for a stream
		// that was never opened.
		rp_frame(&b, DRPC__KIND_MESSAGE, false, true, other, 1, NULL,
		    HOSTILE_M);
		rp_frame(&b, DRPC__KIND_ERROR, false, true, other + 1, 1,
		    "\0\0\0\0\0\0\0\x08no", 10);
		rp_frame(
		    &b, DRPC__KIND_CLOSE_SEND, false, true, other, 2, NULL, 0);
		rp_frame(&b, DRPC__KIND_CANCEL, true, true, other, 3, NULL, 0);
		rp_frame(&b, DRPC__KIND_CLOSE, false, true, other, 4, NULL, 0);
		rp_window(&b, other, (uint64_t) 1 << 40);
		rp_hello(
		    &b, other, 5, 1, 1, 1, DRPC__HELLO_FLOW | DRPC__HELLO_MUX);
		if (!evil_write(e, &b)) {
			break;
		}
		n += b.len;
	}
	b.len = 0;
	rp_frame(&b, DRPC__KIND_MESSAGE, false, true, sid, 1, "reply", 5);
	rp_frame(&b, DRPC__KIND_CLOSE_SEND, false, true, sid, 2, NULL, 0);
	(void) evil_write(e, &b);
	drpc__buf_fini(&b);
}

// The frames of EVIL_LENGTH, by variant: a Message claiming 2^63 bytes
// (none follow); one a byte over the largest, body and all; a stream id
// of 11 varint bytes; a length of 2^64-1.
static void
evil_length(evil *e, uint64_t sid)
{
	drpc__buf b = {0};
	uint8_t   hdr[40];
	uint8_t  *p = hdr;

	*p++ = 0x05; // Message, done
	switch (e->variant) {
	case 0:
		p = drpc__varint_put(drpc__varint_put(p, sid), 1);
		p = drpc__varint_put(p, (uint64_t) 1 << 63);
		break;
	case 1:
		break;
	case 2:
		for (int i = 0; i < 10; i++) {
			*p++ = 0xff;
		}
		*p++ = 0x01;
		*p++ = 0x01;
		*p++ = 0x00;
		break;
	default:
		p = drpc__varint_put(drpc__varint_put(p, sid), 1);
		p = drpc__varint_put(p, UINT64_MAX);
		break;
	}
	if (e->variant == 1) {
		rp_frame(&b, DRPC__KIND_MESSAGE, false, true, sid, 1, NULL,
		    HOSTILE_M + 1);
	} else if (drpc__buf_append(&b, hdr, (size_t) (p - hdr)) != DRPC_OK) {
		b.len = 0;
	}
	(void) evil_write(e, &b);
	drpc__buf_fini(&b);
}

// evil_window answers the hello on the first stream, with the reply to
// that call; then takes the second stream's messages until its CloseSend
// (answered with one Message and a CloseSend) or its end. It never
// grants credit.
static void
evil_window(evil *e, drpc__frame_reader *fr, uint64_t first)
{
	drpc__buf   b       = {0};
	uint64_t    sid     = 0;
	uint64_t    charged = 0;
	drpc__frame f;

	// The first call whole, then the answer to its hello, the credit
	// its request used on the connection (if asked: the client then
	// starts the stream with the announced connection window), and its
	// reply, in that order.
	while (drpc__frame_reader_next(fr, &f) == DRPC_OK &&
	       !(f.stream_id == first && f.kind == DRPC__KIND_CLOSE_SEND)) {
		if (f.stream_id == first && f.kind == DRPC__KIND_MESSAGE) {
			charged += f.len + (f.done ? e->cost : 0);
		}
	}
	rp_hello(&b, first, 1, e->window, e->cost, e->conn_window,
	    DRPC__HELLO_FLOW | DRPC__HELLO_MUX);
	if (e->grant && charged > 0) {
		rp_window(&b, 0, charged);
	}
	rp_frame(&b, DRPC__KIND_MESSAGE, false, true, first, 2, "ok", 2);
	rp_frame(&b, DRPC__KIND_CLOSE_SEND, false, true, first, 3, NULL, 0);
	(void) evil_write(e, &b);
	while (drpc__frame_reader_next(fr, &f) == DRPC_OK) {
		bool mine = sid != 0 && f.stream_id == sid;
		bool cs   = mine && f.kind == DRPC__KIND_CLOSE_SEND;

		if (f.kind == DRPC__KIND_INVOKE && f.stream_id != first) {
			sid = f.stream_id;
		}
		drpc__mutex_lock(&e->mu);
		e->msgs_in += mine && f.kind == DRPC__KIND_MESSAGE && f.done;
		drpc__mutex_unlock(&e->mu);
		if (cs) {
			b.len = 0;
			rp_frame(&b, DRPC__KIND_MESSAGE, false, true, sid, 1,
			    "ok", 2);
			rp_frame(&b, DRPC__KIND_CLOSE_SEND, false, true, sid, 2,
			    NULL, 0);
			(void) evil_write(e, &b);
		}
		if (mine && (f.kind == DRPC__KIND_CANCEL ||
		                f.kind == DRPC__KIND_CLOSE)) {
			break;
		}
	}
	drpc__buf_fini(&b);
}

static void *
evil_main(void *arg)
{
	evil              *e   = arg;
	struct pollfd      pfd = {e->lfd, POLLIN, 0};
	drpc__frame_reader fr;
	uint64_t           sid = 0;

	if (poll(&pfd, 1, (int) (tu_bound_ns(TU_WAIT_NS) / 1000000)) != 1 ||
	    (e->fd = accept(e->lfd, NULL, NULL)) < 0) {
		evil_post(e, 0, true);
		return NULL;
	}
	drpc__frame_reader_init(&fr, drpc__read_fd, &e->fd, 64 * HOSTILE_MIB);
	if ((sid = evil_invoke(&fr)) != 0) {
		switch (e->kind) {
		case EVIL_ENDLESS:
			evil_endless(e, sid);
			break;
		case EVIL_UNKNOWN:
			evil_unknown(e, sid);
			break;
		case EVIL_LENGTH:
			evil_length(e, sid);
			break;
		case EVIL_WINDOW:
			evil_window(e, &fr, sid);
			break;
		}
	}
	evil_post(e, 0, true);
	evil_drain(&fr); // until the client closes
	drpc__frame_reader_fini(&fr);
	return NULL;
}

static void
evil_start(evil *e)
{
	drpc__mutex_init(&e->mu);
	drpc__cond_init(&e->cv);
	e->fd = -1;
	DRPC_CHECK_OK(drpc__listen("tcp://127.0.0.1:0", &e->lfd));
	DRPC_CHECK_OK(drpc__local_addr(e->lfd, e->addr, sizeof(e->addr)));
	ck_assert_int_eq(pthread_create(&e->t, NULL, evil_main, e), 0);
}

// evil_join joins the thread (the client must have closed by then) and
// closes the sockets.
static void
evil_join(evil *e)
{
	ck_assert_int_eq(pthread_join(e->t, NULL), 0);
	if (e->fd >= 0) {
		close(e->fd);
	}
	close(e->lfd);
	drpc__cond_fini(&e->cv);
	drpc__mutex_fini(&e->mu);
}

// The client's side.

typedef struct client_run {
	const char *name;
	char        params[160];
	char        outcome[160];
	tu_leak     leak;
	size_t      rss0; // KiB
	size_t      rss_max;
} client_run;

static bool
rss_measured(void)
{
	return HOSTILE_RSS_CHECKED && RUNNING_ON_VALGRIND == 0;
}

static void
client_sample(client_run *c)
{
	size_t kib = tu_self_rss_kib();

	c->rss_max = kib > c->rss_max ? kib : c->rss_max;
}

// client_begin starts the run name, whose figures (params) printf makes
// of fmt, taking the baselines: threads, fds and RSS.
static void client_begin(client_run *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
client_begin(client_run *c, const char *name, const char *fmt, ...)
{
	va_list ap;

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->leak = tu_leak_start();
	c->rss0 = c->rss_max = tu_self_rss_kib();
	va_start(ap, fmt);
	(void) vsnprintf(c->params, sizeof(c->params), fmt, ap);
	va_end(ap);
}

// evil_wait_done waits until the hostile server has written its
// budget (or finished), sampling the client's RSS meanwhile.
static void
evil_wait_done(evil *e, client_run *c)
{
	int64_t deadline = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	int64_t step     = 10 * 1000000ll;
	bool    done;

	drpc__mutex_lock(&e->mu);
	while (!(done = e->done) && drpc_now_ns() < deadline) {
		drpc__mutex_unlock(&e->mu);
		client_sample(c);
		drpc__mutex_lock(&e->mu);
		(void) drpc__cond_wait_until(
		    &e->cv, &e->mu, drpc_now_ns() + step);
	}
	drpc__mutex_unlock(&e->mu);
	client_sample(c);
	ck_assert_msg(done, "%s: the hostile server never finished", c->name);
}

// client_finish prints the line and checks the client's memory and that
// its threads and fds are gone (the connection destroyed first).
static void
client_finish(client_run *c)
{
	size_t bound = hostile_rss_bound(1, 0, 0) / HOSTILE_KIB;
	size_t growth;

	client_sample(c);
	growth = c->rss_max - c->rss0;
	fprintf(stderr,
	    "hostile-client: %s params=%s rss_base=%.1fMiB "
	    "rss_peak=%.1fMiB rss_growth=%.1fMiB bound=%.1fMiB%s "
	    "outcome=%s\n",
	    c->name, c->params, (double) c->rss0 / 1024.0,
	    (double) c->rss_max / 1024.0, (double) growth / 1024.0,
	    (double) bound / 1024.0, rss_measured() ? "" : "(unchecked)",
	    c->outcome);
	tu_leak_check(&c->leak);
	ck_assert_msg(!rss_measured() || growth <= bound,
	    "%s: the client's RSS grew by %zu KiB, bound %zu KiB", c->name,
	    growth, bound);
}

// evil_connect starts e and returns a default connection to it.
static drpc_conn *
evil_connect(evil *e)
{
	drpc_conn *conn;

	evil_start(e);
	DRPC_CHECK_OK(drpc_dial(&conn, e->addr, NULL));
	return conn;
}

// evil_end destroys the connection, joins the hostile server and
// finishes the run (client_finish).
static void
evil_end(evil *e, drpc_conn *conn, client_run *c)
{
	drpc_conn_destroy(conn);
	evil_join(e);
	client_finish(c);
}

static drpc_call_opts
call_opts(void)
{
	return (drpc_call_opts){
	    .timeout_ms = tu_bound_ns(TU_WAIT_NS) / 1000000};
}

// flood_opts is call_opts for a call whose answer comes after the peer
// has written budget bytes: the deadline is only a net against a hang,
// so it allows for a machine that moves them at 20 MiB/s (the soak, two
// loaded copies, once took more than 10 s for 1 GiB), within the test
// case's own timeout.
static drpc_call_opts
flood_opts(uint64_t budget)
{
	int64_t ms = tu_bound_ns(TU_WAIT_NS) / 1000000 +
	             (int64_t) (budget / (20u << 20)) * 1000;

	return (drpc_call_opts){.timeout_ms = ms < 100000 ? ms : 100000};
}

// unary_run: a run whose client makes one unary call.
typedef struct unary_run {
	client_run c;
	drpc_conn *conn;  // evil_end's to destroy
	drpc_err   rv;    // the call's result
	size_t     len;   // the reply's length
	bool       exact; // the reply was "reply"
} unary_run;

// evil_unary connects to e (started here), makes u's unary call
// (HOSTILE_UNARY, "x", with o), and waits until the hostile server is
// done, sampling the client's RSS.
static void
evil_unary(unary_run *u, evil *e, drpc_call_opts o)
{
	void *reply = NULL;

	u->len  = 0;
	u->conn = evil_connect(e);
	u->rv   = drpc_invoke(
	      u->conn, NULL, HOSTILE_UNARY, "x", 1, &o, &reply, &u->len, NULL);
	u->exact =
	    u->rv == DRPC_OK && u->len == 5 && memcmp(reply, "reply", 5) == 0;
	drpc_free(reply);
	client_sample(&u->c);
	evil_wait_done(e, &u->c);
}

// A unary call answered with endless messages: the call returns the
// first; the rest, for a stream that has ended, are dropped as they come.
START_TEST(test_hostile_client_endless)
{
	evil      e = {.kind = EVIL_ENDLESS,
	         .budget     = hostile_scaled((uint64_t) 1 << 30, 64 << 20)};
	unary_run u;

	client_begin(&u.c, "endless_reply",
	    "reply=1MiB_messages_without_end,written=%lluMiB",
	    (unsigned long long) (e.budget >> 20));
	// The client keeps reading, and dropping, until the server is done.
	evil_unary(&u, &e, flood_opts(e.budget));
	snprintf(u.c.outcome, sizeof(u.c.outcome), "call=%s,reply=%zuB",
	    drpc_err_name(u.rv), u.len);
	evil_end(&e, u.conn, &u.c);
	DRPC_CHECK_OK(u.rv);
	ck_assert_uint_eq(u.len, HOSTILE_MIB);
}
END_TEST

// A server-streaming call whose application does not read, answered
// with endless messages by a server that ignores flow control (it never
// answers the hello): what the client queues for the stream must stay
// bounded in bytes, the reader waiting (a plain peer's only brake) until
// the application reads or the stream ends. The hostile server writes
// until the client stops taking bytes.
START_TEST(test_hostile_client_endless_unread)
{
	evil         e = {.kind = EVIL_ENDLESS,
	            .stall_stop = true,
	            .budget     = hostile_scaled((uint64_t) 1 << 30, 64 << 20)};
	client_run   c;
	drpc_conn   *conn;
	drpc_stream *s;
	bool         stalled;
	uint64_t     written;

	client_begin(&c, "endless_unread_stream",
	    "server_stream_not_read,reply=1MiB_messages_without_end,"
	    "budget=%lluMiB",
	    (unsigned long long) (e.budget >> 20));
	conn = evil_connect(&e);
	DRPC_CHECK_OK(drpc_stream_open_request(
	    &s, conn, NULL, HOSTILE_STREAM, NULL, 0, NULL));
	evil_wait_done(&e, &c); // the client stopped reading, or took it all
	drpc__mutex_lock(&e.mu);
	stalled = e.stalled;
	written = e.written;
	drpc__mutex_unlock(&e.mu);
	snprintf(c.outcome, sizeof(c.outcome),
	    "server_wrote=%.1fMiB,client_stopped_reading=%s",
	    (double) written / (double) HOSTILE_MIB, stalled ? "yes" : "no");
	drpc_stream_cancel(s);
	drpc_stream_destroy(s);
	evil_end(&e, conn, &c);
}
END_TEST

// A unary call answered after a flood of frames for streams that were
// never opened (every kind a server may send, largest Messages among
// them): all dropped, the reply arrives.
START_TEST(test_hostile_client_unknown_streams)
{
	evil      e = {.kind = EVIL_UNKNOWN,
	         .budget     = hostile_scaled((uint64_t) 1 << 30, 64 << 20)};
	unary_run u;

	client_begin(&u.c, "unknown_streams",
	    "frames_for_unopened_streams=%lluMiB(4MiB_Messages,Error,"
	    "CloseSend,Cancel,Close,window,hello),then_reply",
	    (unsigned long long) (e.budget >> 20));
	evil_unary(&u, &e, flood_opts(e.budget));
	snprintf(u.c.outcome, sizeof(u.c.outcome), "call=%s,reply=%zuB,conn=%s",
	    drpc_err_name(u.rv), u.len, drpc_err_name(drpc_conn_err(u.conn)));
	evil_end(&e, u.conn, &u.c);
	DRPC_CHECK_OK(u.rv);
	ck_assert(u.exact);
}
END_TEST

// A unary call answered with one frame of an absurd length: the call
// fails at once, without allocating what the header claims.
static const struct {
	const char *name;
	drpc_err    want;
} lengths[] = {
    {"length_2^63", DRPC_ERESOURCE},
    {"length_max+1_with_body", DRPC_ERESOURCE},
    {"stream_id_11_varint_bytes", DRPC_EUNAVAIL},
    {"length_2^64-1", DRPC_ERESOURCE},
};

START_TEST(test_hostile_client_absurd_length)
{
	evil      e = {.kind = EVIL_LENGTH, .variant = _i};
	unary_run u;

	client_begin(&u.c, lengths[_i].name, "reply=%s", lengths[_i].name);
	evil_unary(&u, &e, call_opts());
	snprintf(u.c.outcome, sizeof(u.c.outcome), "call=%s,conn=%s",
	    drpc_err_name(u.rv), drpc_err_name(drpc_conn_err(u.conn)));
	evil_end(&e, u.conn, &u.c);
	DRPC_CHECK_ERR(u.rv, lengths[_i].want);
}
END_TEST

// A client stream whose server answered the hello (with the first call's
// reply, so that the client has applied it before the stream starts)
// with an absurd window (1 byte, 2^63, 2^64-1, with charges to match) and
// never grants more: the stream completes or fails with DeadlineExceeded
// at its deadline, never hangs, never overflows its counts.
static const struct {
	const char *name;
	uint64_t    window;
	uint64_t    cost;
	uint64_t    conn_window;
	bool        grant;
	size_t      msgs;
	size_t      size;
	drpc_err    want; // DRPC_OK, or DRPC_ETIMEDOUT at the deadline
} windows[] = {
    {"window_1_one_1MiB_message", 1, 64, 1, true, 1, HOSTILE_MIB, DRPC_OK},
    {"window_1_four_256KiB_messages", 1, 64, 1, true, 4, 256 * HOSTILE_KIB,
        DRPC_ETIMEDOUT},
    {"window_1_conn_credit_spent", 1, 64, 1, false, 1, HOSTILE_MIB,
        DRPC_ETIMEDOUT},
    {"window_cost_conn_2^64-1", UINT64_MAX, UINT64_MAX, UINT64_MAX, false, 4,
        256 * HOSTILE_KIB, DRPC_OK},
    {"window_2^63_no_conn_window", (uint64_t) 1 << 63, 0, 0, false, 4,
        256 * HOSTILE_KIB, DRPC_OK},
};

#define WINDOW_DEADLINE_NS (500 * 1000000ll)

START_TEST(test_hostile_client_window)
{
	evil         e = {.kind  = EVIL_WINDOW,
	            .window      = windows[_i].window,
	            .cost        = windows[_i].cost,
	            .conn_window = windows[_i].conn_window,
	            .grant       = windows[_i].grant};
	int64_t      deadline;
	bool         late;
	uint8_t     *msg = calloc(1, windows[_i].size);
	client_run   c;
	drpc_conn   *conn;
	drpc_ctx    *ctx;
	drpc_stream *s = NULL;
	uint64_t     taken;
	size_t       sent  = 0;
	void        *reply = NULL;
	size_t       len   = 0;
	drpc_err     rv;

	ck_assert_ptr_nonnull(msg);
	client_begin(&c, windows[_i].name,
	    "hello(window=%llu,cost=%llu,conn=%llu),send=%zux%zuB",
	    (unsigned long long) windows[_i].window,
	    (unsigned long long) windows[_i].cost,
	    (unsigned long long) windows[_i].conn_window, windows[_i].msgs,
	    windows[_i].size);
	conn = evil_connect(&e);
	{
		drpc_call_opts o = call_opts();

		DRPC_CHECK_OK(drpc_invoke(
		    conn, NULL, HOSTILE_UNARY, "x", 1, &o, &reply, &len, NULL));
		drpc_free(reply);
		reply = NULL;
		len   = 0;
	}
	// Only a call meant to time out waits for its deadline; one meant to
	// complete gets the wait bound, so a slow machine cannot fail it.
	deadline = drpc_now_ns() + (windows[_i].want == DRPC_ETIMEDOUT
	                                   ? tu_bound_ns(WINDOW_DEADLINE_NS)
	                                   : tu_bound_ns(TU_WAIT_NS));
	DRPC_CHECK_OK(drpc_ctx_create_deadline(&ctx, NULL, deadline));
	rv =
	    drpc_stream_open(&s, conn, ctx, "/interop.Echo/ClientStream", NULL);
	while (rv == DRPC_OK && sent < windows[_i].msgs) {
		if ((rv = drpc_stream_send(s, msg, windows[_i].size)) ==
		    DRPC_OK) {
			sent++;
		}
	}
	if (rv == DRPC_OK && (rv = drpc_stream_close_send(s)) == DRPC_OK) {
		rv = drpc_stream_recv(s, &reply, &len);
	}
	drpc_free(reply);
	client_sample(&c);
	late = drpc_now_ns() >= deadline;
	drpc__mutex_lock(&e.mu);
	taken = e.msgs_in;
	drpc__mutex_unlock(&e.mu);
	snprintf(c.outcome, sizeof(c.outcome),
	    "%s,sent=%zu,server_got=%llu,reply=%zuB,deadline_passed=%s",
	    drpc_err_name(rv), sent, (unsigned long long) taken, len,
	    late ? "yes" : "no");
	drpc_stream_destroy(s);
	drpc_conn_destroy(conn);
	drpc_ctx_destroy(ctx);
	evil_join(&e);
	free(msg);
	client_finish(&c);
	ck_assert_msg(rv == windows[_i].want, "%s: want %s, got %s",
	    windows[_i].name, drpc_err_name(windows[_i].want), c.outcome);
	// Failed at its deadline, not before; completed with the reply.
	ck_assert(rv != DRPC_ETIMEDOUT || late);
	ck_assert(rv != DRPC_OK || len == 2);
}
END_TEST

size_t
hostile_client_tests(tu_test *rows)
{
	const tu_test tests[] = {
	    TU_TEST("client", test_hostile_client_endless, .timeout = 120),
	    TU_TEST("client", test_hostile_client_endless_unread),
	    TU_TEST("client", test_hostile_client_unknown_streams),
	    TU_TEST("client", test_hostile_client_absurd_length,
	        .loops = (int) TU_LEN(lengths)),
	    TU_TEST("client", test_hostile_client_window,
	        .loops = (int) TU_LEN(windows)),
	};

	_Static_assert(TU_LEN(tests) <= HOSTILE_MAX_ROWS, "too many rows");
	memcpy(rows, tests, sizeof(tests));
	return TU_LEN(tests);
}
