// Hostile peers against a server, continued (check_hostile.c has the
// design): threads and connections (slow calls by the thousand, silent
// connections, churn), and frames that are legal but absurd (one-byte
// frames, odd stream ids, absurd flow-control figures, storms of Cancel
// and Close for streams that do not exist).
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "connutil.h"
#include "hostile.h"
#include "testutil.h"
#include "transport/addr.h"
#include "wire/flowctl.h"
#include "wire/varint.h"

#define FLOW_FEATURES    (DRPC__HELLO_FLOW | DRPC__HELLO_MUX)
#define SLEEP_FOREVER_MS 600000

static void
outcome(hostile_run *r, const hostile_peer *p, hostile_end end)
{
	snprintf(r->outcome, sizeof(r->outcome),
	    "%s,sent=%.1fMiB,errors=%llu,errors8=%llu,replies=%llu",
	    hostile_end_name(end),
	    (double) p->st.bytes_out / (double) HOSTILE_MIB,
	    (unsigned long long) p->st.errors,
	    (unsigned long long) p->st.errors8,
	    (unsigned long long) p->st.messages);
}

// 7. Calls of a slow method by the thousand on one connection: the
// handler threads are bounded (max_streams per connection, max_handlers
// per server) and the excess is refused at once with ResourceExhausted.

typedef struct slow_gen {
	uint64_t  n;
	uint64_t  i;
	drpc__buf req;
} slow_gen;

#define SLOW_CHUNK 256

static bool
slow_next(void *arg, drpc__buf *out)
{
	slow_gen *g = arg;

	for (int k = 0; k < SLOW_CHUNK && g->i < g->n; k++) {
		uint64_t sid = ++g->i;
		uint64_t mid = 1;

		rp_frame(out, DRPC__KIND_INVOKE, false, true, sid, mid++,
		    HOSTILE_SLEEP, strlen(HOSTILE_SLEEP));
		if (sid == 1) {
			rp_hello(out, sid, mid++, HOSTILE_W, 64, HOSTILE_WC,
			    FLOW_FEATURES);
		}
		rp_packet(out, DRPC__KIND_MESSAGE, sid, mid++, g->req.data,
		    g->req.len, HOSTILE_F, false);
		rp_frame(
		    out, DRPC__KIND_CLOSE_SEND, false, true, sid, mid, NULL, 0);
	}
	return g->i < g->n;
}

static bool
errors8_at_least(const hostile_peer *p, void *arg)
{
	return p->st.errors8 >= *(const uint64_t *) arg;
}

START_TEST(test_hostile_slow_calls)
{
	slow_gen     g    = {.n = hostile_scaled(10000, 1000)};
	uint64_t     want = g.n - HOSTILE_S;
	hostile_run  r;
	hostile_peer p;
	hostile_end  end;
	hostile_end  refused;
	size_t       max_threads;

	hostile_begin(&r, "slow_calls", NULL);
	hostile_sleep_req(&g.req, SLEEP_FOREVER_MS);
	hostile_describe(&r, hostile_rss_bound(1, 0, HOSTILE_S),
	    "flow=on,calls=%llu,method=Sleep(forever),one_conn",
	    (unsigned long long) g.n);
	hostile_peer_open(&p, &r, true);
	end = hostile_pump(&p, slow_next, &g, false);
	// Those past the limit are refused at once: wait for the refusals.
	refused = hostile_pump_until(&p, errors8_at_least, &want);
	hostile_during(&r);
	outcome(&r, &p, end);
	hostile_peer_close(&p);
	drpc__buf_fini(&g.req);
	hostile_finish(&r);
	// At most S handlers for the connection (each on a worker; the idle
	// ones of the baseline are among them) and its two threads.
	max_threads = r.base.threads + 2 + HOSTILE_S;
	ck_assert_msg(end == HOSTILE_DRAINED,
	    "the calls were not all read (%s)", hostile_end_name(end));
	ck_assert_msg(r.peak.threads <= max_threads,
	    "%zu threads at the peak, bound %zu (%zu handlers)", r.peak.threads,
	    max_threads, r.handlers_peak);
	ck_assert_msg(refused == HOSTILE_DONE,
	    "%llu calls refused with code 8, want %llu (%s)",
	    (unsigned long long) p.st.errors8, (unsigned long long) want,
	    hostile_end_name(refused));
}
END_TEST

// 7b. The same across connections: calls of a slow method on several
// connections, each under the per-connection limit, together past the
// server's cap on handlers: the excess is refused at once. While the
// attack holds every handler, the good client's call may be refused too
// (that is the cap); it is served once the attacker has gone.

#define SLOW_CONNS          8
#define SLOW_CALLS_PER_CONN 200

START_TEST(test_hostile_slow_calls_conns)
{
	slow_gen     g[SLOW_CONNS];
	uint64_t     total   = SLOW_CONNS * SLOW_CALLS_PER_CONN;
	uint64_t     want    = total - HOSTILE_H;
	uint64_t     refused = 0;
	hostile_run  r;
	hostile_peer p[SLOW_CONNS];
	bool         drained = true;
	size_t       max_threads;

	hostile_begin(&r, "slow_calls_conns", NULL);
	r.refusal_ok = true; // the attack holds every handler there is
	hostile_describe(&r, hostile_rss_bound(SLOW_CONNS, 0, HOSTILE_H),
	    "flow=on,conns=%d,calls_each=%d,method=Sleep(forever)", SLOW_CONNS,
	    SLOW_CALLS_PER_CONN);
	for (int i = 0; i < SLOW_CONNS; i++) {
		g[i] = (slow_gen){.n = SLOW_CALLS_PER_CONN};
		hostile_sleep_req(&g[i].req, SLEEP_FOREVER_MS);
		hostile_peer_open(&p[i], &r, true);
		drained = hostile_pump(&p[i], slow_next, &g[i], false) ==
		              HOSTILE_DRAINED &&
		          drained;
	}
	// Wait for the refusals, reading every connection.
	for (int64_t deadline = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	     refused < want && drpc_now_ns() < deadline;) {
		struct timespec ts = {0, 10 * 1000000l};

		refused = 0;
		for (int i = 0; i < SLOW_CONNS; i++) {
			hostile_peer_read(&p[i]);
			refused += p[i].st.errors8;
		}
		hostile_poll(&r);
		(void) nanosleep(&ts, NULL);
	}
	hostile_during(&r);
	snprintf(r.outcome, sizeof(r.outcome),
	    "all_sent=%s,refused_with_code_8=%llu", drained ? "yes" : "no",
	    (unsigned long long) refused);
	for (int i = 0; i < SLOW_CONNS; i++) {
		hostile_peer_close(&p[i]);
		drpc__buf_fini(&g[i].req);
	}
	hostile_finish(&r);
	// At most H handlers (the idle workers of the baseline among them,
	// one more for the good client's call) and each connection's two.
	max_threads = r.base.threads + 2 * SLOW_CONNS + HOSTILE_H + 1;
	ck_assert(drained);
	ck_assert_msg(r.peak.threads <= max_threads,
	    "%zu threads at the peak, bound %zu (%zu handlers)", r.peak.threads,
	    max_threads, r.handlers_peak);
	ck_assert_msg(refused >= want,
	    "%llu calls refused with code 8, want %llu",
	    (unsigned long long) refused, (unsigned long long) want);
}
END_TEST

// 8. Connections that send nothing, or half a frame header, then wait:
// the server closes every one of them after its handshake timeout (made
// short here), and its threads and fds come back while the attacker
// still holds its ends open.

#define SILENT_CONNS 3000

static int
silent_open(const hostile_server *hs, bool half)
{
	int fd = hostile_dial(hs);

	if (half) {
		static const uint8_t invoke_start[] = {0x03, 0x01};

		(void) send(
		    fd, invoke_start, sizeof(invoke_start), MSG_NOSIGNAL);
	}
	return fd;
}

// silent_closed tells whether the server closed fd's connection: a read
// finds its end (or a reset), not "nothing yet".
static bool
silent_closed(int fd)
{
	uint8_t b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);

	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

// SILENT_TIMEOUT_MS: the server's handshake timeout, times tu_scale():
// the good client, slowed down by a sanitizer, must still send its first
// frame in time.
#define SILENT_TIMEOUT_MS 500

START_TEST(test_hostile_silent_conns)
{
	char        ms[32];
	const char *flags[] = {"--handshake-timeout-ms", ms, NULL};
	size_t      limit   = hostile_raise_nofile();
	size_t      n       = (size_t) hostile_scaled(SILENT_CONNS, 300);
	int        *fds;
	hostile_run r;
	size_t      closed = 0;
	bool        back;

	// Room for the attacker's fds in this process (the server's are in
	// its own, with the same limit), with some to spare.
	if (n + 256 > limit) {
		n = limit - 256;
	}
	snprintf(ms, sizeof(ms), "%lld",
	    (long long) (SILENT_TIMEOUT_MS * tu_scale()));
	hostile_begin(&r, "silent_conns", flags);
	ck_assert_ptr_nonnull(fds = calloc(n, sizeof(*fds)));
	hostile_describe(&r, hostile_rss_bound(0, n, 0),
	    "conns=%zu,half_send_nothing,half_send_2_of_a_header,"
	    "handshake_timeout=%sms",
	    n, ms);
	for (size_t i = 0; i < n; i++) {
		fds[i] = silent_open(&r.srv, i % 2 == 1);
		if (i % 100 == 0) {
			hostile_poll(&r);
		}
	}
	hostile_during(&r);
	// Every connection is closed by the server while the attacker waits.
	back = hostile_wait_back(&r);
	for (size_t i = 0; i < n; i++) {
		closed += silent_closed(fds[i]);
		close(fds[i]);
	}
	free(fds);
	snprintf(r.outcome, sizeof(r.outcome),
	    "closed_by_server=%zu_of_%zu,counts_back_while_held=%s", closed, n,
	    back ? "yes" : "no");
	hostile_finish(&r);
	ck_assert_msg(back, "the server kept the silent connections' threads "
	                    "or fds");
	ck_assert_uint_eq(closed, n);
}
END_TEST

// 9. One largest message sent in frames of one byte each: reassembled
// and echoed exactly.

typedef struct tiny_frames {
	size_t    payload; // Msg payload bytes
	drpc__buf req;     // the encoded request
	size_t    off;     // bytes of req sent
	bool      invoked;
	uint64_t  reply_bytes; // Message bytes received on stream 1
	bool      reply_ok;    // every payload byte as sent
} tiny_frames;

#define TINY_CHUNK ((size_t) 65536)

static bool
tiny_frames_next(void *arg, drpc__buf *out)
{
	tiny_frames *t = arg;

	if (!t->invoked) {
		t->invoked = true;
		rp_frame(out, DRPC__KIND_INVOKE, false, true, 1, 1,
		    HOSTILE_UNARY, strlen(HOSTILE_UNARY));
	}
	for (size_t k = 0; k < TINY_CHUNK && t->off < t->req.len; k++) {
		bool last = t->off + 1 == t->req.len;

		rp_frame(out, DRPC__KIND_MESSAGE, false, last, 1, 2,
		    t->req.data + t->off, 1);
		t->off++;
	}
	if (t->off < t->req.len) {
		return true;
	}
	rp_frame(out, DRPC__KIND_CLOSE_SEND, false, true, 1, 3, NULL, 0);
	return false;
}

static void
tiny_frames_seen(void *arg, const drpc__frame *f)
{
	tiny_frames *t = arg;

	if (f->kind != DRPC__KIND_MESSAGE || f->stream_id != 1) {
		return;
	}
	// The reply is the request's encoding again (Unary echoes).
	for (size_t i = 0; i < f->len && t->reply_ok; i++) {
		uint64_t at = t->reply_bytes + i;

		t->reply_ok = at < t->req.len && f->data[i] == t->req.data[at];
	}
	t->reply_bytes += f->len;
}

static bool
closed_send_seen(const hostile_peer *p, void *arg)
{
	(void) arg;
	return p->st.close_sends > 0 || p->st.errors > 0;
}

START_TEST(test_hostile_tiny_frames)
{
	tiny_frames  t = {.payload = (size_t) hostile_scaled(
	                      HOSTILE_M - 16, 256 * HOSTILE_KIB),
	     .reply_ok = true};
	hostile_run  r;
	hostile_peer p;
	hostile_end  end;
	hostile_end  reply;
	size_t       sent;

	hostile_begin(&r, "tiny_frames", NULL);
	hostile_msg(&t.req, t.payload, 'p');
	hostile_describe(&r, hostile_rss_bound(1, 0, 1),
	    "flow=off,message=%zuB,frames_of_1B=%zu,method=Unary", t.req.len,
	    t.req.len);
	hostile_peer_open(&p, &r, true);
	p.on_frame     = tiny_frames_seen;
	p.on_frame_arg = &t;
	end            = hostile_pump(&p, tiny_frames_next, &t, false);
	reply          = hostile_pump_until(&p, closed_send_seen, NULL);
	hostile_during(&r);
	outcome(&r, &p, end);
	hostile_peer_close(&p);
	sent = t.req.len;
	drpc__buf_fini(&t.req);
	hostile_finish(&r);
	ck_assert_msg(reply == HOSTILE_DONE && p.st.errors == 0,
	    "no reply (%s, %llu errors)", hostile_end_name(reply),
	    (unsigned long long) p.st.errors);
	ck_assert_uint_eq(t.reply_bytes, sent);
	ck_assert(t.reply_ok);
}
END_TEST

// 10. Stream ids: going backwards (any order is allowed: every call is
// answered), reused or zero (a protocol error: the connection ends), near
// 2^64 (answered), then far below the highest seen (taken as reused, as
// the server remembers a window of 4,096 ids), and message ids going
// backwards on a stream (the connection ends). Each case on its own
// connection.

typedef struct ids_case {
	const char *name;
	bool        closes; // the protocol requires the connection to end
} ids_case;

static void
unary_at(drpc__buf *b, uint64_t sid)
{
	drpc__buf req = {0};

	hostile_msg(&req, 8, 'i');
	(void) rp_unary(b, sid, 1, HOSTILE_UNARY, req.data, req.len, HOSTILE_F);
	drpc__buf_fini(&req);
}

// ids_setup appends case k's legal calls (answered before anything
// else is sent) and returns how many; ids_attack appends its offence.
static uint64_t
ids_setup(int k, drpc__buf *b)
{
	switch (k) {
	case 0: // backwards
		for (uint64_t id = 1000; id >= 1; id--) {
			unary_at(b, id);
		}
		return 1000;
	case 1: // reused
		unary_at(b, 5);
		return 1;
	case 3: // near 2^64, spread over the whole range first
		for (uint64_t i = 1; i <= 1000; i++) {
			unary_at(b, i * (UINT64_MAX / 1001));
		}
		for (uint64_t i = 0; i < 1000; i++) {
			unary_at(b, UINT64_MAX - i);
		}
		return 2000;
	case 4: // far below the highest
		unary_at(b, UINT64_MAX);
		return 1;
	default:
		return 0;
	}
}

static void
ids_attack(int k, drpc__buf *b)
{
	switch (k) {
	case 1:
		unary_at(b, 5);
		break;
	case 2:
		unary_at(b, 0);
		break;
	case 4:
		unary_at(b, 1);
		break;
	case 5: { // message ids backwards on a stream that stays open
		drpc__buf req = {0};

		hostile_sleep_req(&req, SLEEP_FOREVER_MS);
		rp_frame(b, DRPC__KIND_INVOKE, false, true, 7, 1, HOSTILE_SLEEP,
		    strlen(HOSTILE_SLEEP));
		rp_packet(b, DRPC__KIND_MESSAGE, 7, 2, req.data, req.len,
		    HOSTILE_F, false);
		rp_frame(b, DRPC__KIND_MESSAGE, false, true, 7, 4, NULL, 0);
		rp_frame(b, DRPC__KIND_MESSAGE, false, true, 7, 3, NULL, 0);
		drpc__buf_fini(&req);
		break;
	}
	default:
		break;
	}
}

static const ids_case ids_cases[] = {
    {"backwards", false},
    {"reused", true},
    {"zero", true},
    {"near_2^64", false},
    {"far_below_top", true},
    {"message_id_backwards", true},
};

#define IDS_CASES (sizeof(ids_cases) / sizeof(ids_cases[0]))

// ids_settled: every call answered, served or (past the server's
// stream limit) refused.
static bool
ids_settled(const hostile_peer *p, void *arg)
{
	return p->st.close_sends + p->st.errors >= *(const uint64_t *) arg;
}

static bool
never(const hostile_peer *p, void *arg)
{
	(void) p;
	(void) arg;
	return false;
}

// ids_run runs case k on a connection of its own; true if it ended as
// the protocol requires.
static bool
ids_run(hostile_run *r, int k, char *got, size_t cap)
{
	hostile_peer p;
	drpc__buf    b       = {0};
	uint64_t     answers = ids_setup(k, &b);
	hostile_end  end     = HOSTILE_DONE;
	bool         ok;

	hostile_peer_open(&p, r, true);
	if (b.len > 0 && hostile_send_all(&p, &b)) {
		end = hostile_pump_until(&p, ids_settled, &answers);
	}
	b.len = 0;
	ids_attack(k, &b);
	if (end == HOSTILE_DONE && b.len > 0 && hostile_send_all(&p, &b)) {
		end = hostile_pump_until(&p, never, NULL);
	}
	ok = p.st.errors == p.st.errors8 &&
	     (ids_cases[k].closes
	             ? end == HOSTILE_CLOSED
	             : end == HOSTILE_DONE &&
	                   p.st.close_sends + p.st.errors == answers);
	snprintf(got, cap, "%s:%s/%llu+%llu", ids_cases[k].name,
	    hostile_end_name(end), (unsigned long long) p.st.close_sends,
	    (unsigned long long) p.st.errors);
	hostile_peer_close(&p);
	drpc__buf_fini(&b);
	return ok;
}

START_TEST(test_hostile_stream_ids)
{
	hostile_run r;
	char        got[IDS_CASES][64];
	bool        ok[IDS_CASES];
	size_t      at = 0;

	hostile_begin(&r, "stream_ids", NULL);
	hostile_describe(&r, hostile_rss_bound(1, 0, HOSTILE_S),
	    "backwards_1000..1,reused,zero,2000_near_2^64,far_below_top,"
	    "message_id_backwards");
	for (size_t k = 0; k < IDS_CASES; k++) {
		ok[k] = ids_run(&r, (int) k, got[k], sizeof(got[k]));
		at += (size_t) snprintf(r.outcome + at, sizeof(r.outcome) - at,
		    "%s%s", k > 0 ? "," : "", got[k]);
	}
	hostile_during(&r);
	hostile_finish(&r);
	for (size_t k = 0; k < IDS_CASES; k++) {
		ck_assert_msg(ok[k], "%s: want %s, got %s", ids_cases[k].name,
		    ids_cases[k].closes ? "the connection closed"
		                        : "every call answered",
		    got[k]);
	}
}
END_TEST

// 11. Flow control with absurd figures: hellos announcing windows and
// charges of 0, 1 and 2^64-1, and window updates of 0, 2^63 (twice: the
// credit would overflow) and 2^64-1, for the stream, the connection
// (stream 0) and streams that do not exist; thousands of hellos. The
// server must finish the call (ServerStream: 64 messages of 64 KiB) or
// end the connection, never hang or crash.

typedef struct flow_case {
	const char *name;
	uint64_t    window;
	uint64_t    cost;
	uint64_t    conn_window;
	int         hellos;
} flow_case;

static const flow_case flow_cases[] = {
    {"window_max", UINT64_MAX, UINT64_MAX, UINT64_MAX, 1},
    {"window_1", 1, 0, 1, 1},
    {"window_0", 0, 64, 0, 1},
    {"cost_max", HOSTILE_W, UINT64_MAX, HOSTILE_WC, 1},
    {"hellos_10000", 1, 1, 1, 10000},
};

#define FLOW_CASES     (sizeof(flow_cases) / sizeof(flow_cases[0]))
#define FLOW_MSGS      64
#define FLOW_MSG_BYTES 65536

static void
flow_build(const flow_case *fc, drpc__buf *b)
{
	static const uint64_t deltas[] = {
	    0, (uint64_t) 1 << 63, (uint64_t) 1 << 63, UINT64_MAX, 1};
	uint8_t  req[16];
	uint8_t *q   = req;
	uint64_t mid = 1;

	*q++ = 0x08; // StreamRequest.count
	q    = drpc__varint_put(q, FLOW_MSGS);
	*q++ = 0x10; // StreamRequest.size
	q    = drpc__varint_put(q, FLOW_MSG_BYTES);
	rp_frame(b, DRPC__KIND_INVOKE, false, true, 1, mid++, HOSTILE_STREAM,
	    strlen(HOSTILE_STREAM));
	for (int i = 0; i < fc->hellos; i++) {
		rp_hello(b, 1, mid++, fc->window, fc->cost, fc->conn_window,
		    FLOW_FEATURES);
	}
	for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		rp_window(b, 0, deltas[i]);
		rp_window(b, 1, deltas[i]);
		rp_window(b, 99, deltas[i]);
	}
	rp_packet(b, DRPC__KIND_MESSAGE, 1, mid++, req, (size_t) (q - req),
	    HOSTILE_F, false);
	rp_frame(b, DRPC__KIND_CLOSE_SEND, false, true, 1, mid, NULL, 0);
}

START_TEST(test_hostile_absurd_flow)
{
	hostile_run r;
	bool        ok[FLOW_CASES];
	char        got[FLOW_CASES][64];
	size_t      at = 0;

	hostile_begin(&r, "absurd_flow", NULL);
	hostile_describe(&r, hostile_rss_bound(1, 0, 1),
	    "hellos(window,cost,conn)=(max,max,max)(1,0,1)(0,64,0)(1M,max,"
	    "16M)x1,(1,1,1)x10000;updates=0,2^63,2^63,2^64-1,1_on_0,1,99;"
	    "ServerStream_64x64KiB");
	for (size_t k = 0; k < FLOW_CASES; k++) {
		hostile_peer p;
		drpc__buf    b = {0};
		hostile_end  end;

		flow_build(&flow_cases[k], &b);
		hostile_peer_open(&p, &r, true);
		end   = hostile_send_all(&p, &b)
		            ? hostile_pump_until(&p, closed_send_seen, NULL)
		            : HOSTILE_CLOSED;
		ok[k] = end == HOSTILE_CLOSED ||
		        (end == HOSTILE_DONE &&
		            (p.st.errors > 0 || p.st.messages == FLOW_MSGS));
		snprintf(got[k], sizeof(got[k]), "%s:%s/%llu_msgs",
		    flow_cases[k].name, hostile_end_name(end),
		    (unsigned long long) p.st.messages);
		at += (size_t) snprintf(r.outcome + at, sizeof(r.outcome) - at,
		    "%s%s", k > 0 ? "," : "", got[k]);
		hostile_peer_close(&p);
		drpc__buf_fini(&b);
	}
	hostile_during(&r);
	hostile_finish(&r);
	for (size_t k = 0; k < FLOW_CASES; k++) {
		ck_assert_msg(ok[k], "%s: neither finished nor ended: %s",
		    flow_cases[k].name, got[k]);
	}
}
END_TEST

// 12. Storms of Cancel, Close and CloseSend (and empty Messages) for
// streams that never existed: all dropped, nothing kept; the connection
// still serves a call afterwards.

typedef struct storm_gen {
	uint64_t n;
	uint64_t i;
	bool     called;
} storm_gen;

#define STORM_CHUNK 16384

static bool
storm_next(void *arg, drpc__buf *out)
{
	storm_gen *g = arg;

	if (g->i == g->n) {
		drpc__buf req = {0};

		hostile_msg(&req, 8, 's');
		(void) rp_unary(out, g->n + 1, 1, HOSTILE_UNARY, req.data,
		    req.len, HOSTILE_F);
		drpc__buf_fini(&req);
		g->called = true;
		return false;
	}
	for (int k = 0; k < STORM_CHUNK && g->i < g->n; k++) {
		uint64_t sid = ++g->i;

		rp_frame(out, DRPC__KIND_CANCEL, true, true, sid, 1, NULL, 0);
		rp_frame(out, DRPC__KIND_CLOSE, false, true, sid, 2, NULL, 0);
		rp_frame(
		    out, DRPC__KIND_CLOSE_SEND, false, true, sid, 3, NULL, 0);
		rp_frame(out, DRPC__KIND_MESSAGE, false, true, sid, 4, NULL, 0);
	}
	return true;
}

START_TEST(test_hostile_cancel_storm)
{
	storm_gen    g = {.n = hostile_scaled(1000000, 100000)};
	hostile_run  r;
	hostile_peer p;
	hostile_end  end;
	hostile_end  reply;

	hostile_begin(&r, "cancel_storm", NULL);
	hostile_describe(&r, hostile_rss_bound(1, 0, 1),
	    "flow=off,unknown_streams=%llu,each=Cancel+Close+CloseSend+"
	    "empty_Message,then_one_Unary",
	    (unsigned long long) g.n);
	hostile_peer_open(&p, &r, true);
	end   = hostile_pump(&p, storm_next, &g, false);
	reply = hostile_pump_until(&p, closed_send_seen, NULL);
	hostile_during(&r);
	outcome(&r, &p, end);
	hostile_peer_close(&p);
	hostile_finish(&r);
	ck_assert_msg(end == HOSTILE_DRAINED, "the storm was not all read (%s)",
	    hostile_end_name(end));
	ck_assert_msg(
	    reply == HOSTILE_DONE && p.st.messages == 1 && p.st.errors == 0,
	    "the call after the storm: %s, %llu replies, %llu errors",
	    hostile_end_name(reply), (unsigned long long) p.st.messages,
	    (unsigned long long) p.st.errors);
}
END_TEST

// 13. Churn: connections opened by the thousand, each sending half an
// Invoke, then closed at once, a hundred at a time.

#define CHURN_BATCH 100

START_TEST(test_hostile_churn)
{
	size_t      n = (size_t) hostile_scaled(2000, 400);
	hostile_run r;
	drpc__buf   half = {0};
	int         fds[CHURN_BATCH];
	size_t      written = 0;

	hostile_begin(&r, "churn", NULL);
	rp_frame(&half, DRPC__KIND_INVOKE, false, true, 1, 1, HOSTILE_UNARY,
	    strlen(HOSTILE_UNARY));
	half.len -= 8; // the frame cut inside the method name
	hostile_describe(&r, hostile_rss_bound(0, CHURN_BATCH, 0),
	    "conns=%zu,batches_of=%d,each=half_an_Invoke_then_close", n,
	    CHURN_BATCH);
	for (size_t done = 0; done < n; done += CHURN_BATCH) {
		for (size_t i = 0; i < CHURN_BATCH; i++) {
			fds[i] = hostile_dial(&r.srv);
			written += send(fds[i], half.data, half.len,
			               MSG_NOSIGNAL) == (ssize_t) half.len;
		}
		hostile_poll(&r);
		if (done + CHURN_BATCH > n / 2 && r.during_ns == 0) {
			hostile_during(&r); // halfway, the batch still open
		}
		for (size_t i = 0; i < CHURN_BATCH; i++) {
			close(fds[i]);
		}
	}
	snprintf(
	    r.outcome, sizeof(r.outcome), "half_invokes_written=%zu", written);
	drpc__buf_fini(&half);
	hostile_finish(&r);
	ck_assert_uint_eq(
	    written, (n + CHURN_BATCH - 1) / CHURN_BATCH * CHURN_BATCH);
}
END_TEST

size_t
hostile_conn_tests(tu_test *rows)
{
	const tu_test tests[] = {
	    TU_TEST("conns", test_hostile_slow_calls, .timeout = 120,
	        .teardown = hostile_kill_children),
	    TU_TEST("conns", test_hostile_slow_calls_conns),
	    TU_TEST("conns", test_hostile_silent_conns),
	    TU_TEST("conns", test_hostile_tiny_frames),
	    TU_TEST("conns", test_hostile_stream_ids),
	    TU_TEST("conns", test_hostile_absurd_flow),
	    TU_TEST("conns", test_hostile_cancel_storm),
	    TU_TEST("conns", test_hostile_churn),
	};

	_Static_assert(TU_LEN(tests) <= HOSTILE_MAX_ROWS, "too many rows");
	memcpy(rows, tests, sizeof(tests));
	return TU_LEN(tests);
}
