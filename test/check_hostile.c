// Hostile peers against a server (issue 14): a raw peer that speaks the
// wire format but not in good faith attacks `drpc-interop serve`, run
// with its default options in a child process (hostile.h). Each test
// measures the child's RSS, threads and fds from /proc before, during and
// after the attack, checks the growth against the documented bound
// (docs/design.md §8, computed once in hostile.c), that a well-behaved
// client on another connection is served during and after the attack,
// that everything comes back once the attacker has gone, and the outcome
// the protocol requires (the attacker's streams refused with
// ResourceExhausted, or its connection closed). Each prints one line,
// `hostile: <attack> params=... rss_peak=... good_client=...`, the figures
// of docs/reliability.md §7.
//
// This file: memory. check_hostile_conns.c: threads, connections and
// odd frames; check_hostile_client.c: a hostile server against a client.
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile.h"
#include "suites.h"
#include "testutil.h"
#include "wire/flowctl.h"

#define FLOW_FEATURES (DRPC__HELLO_FLOW | DRPC__HELLO_MUX)
// A Sleep that outlasts every test: the handler waits until its stream
// or connection ends, and never reads.
#define SLEEP_FOREVER_MS 600000

static double
sent_mib(const hostile_peer *p)
{
	return (double) p->st.bytes_out / (double) HOSTILE_MIB;
}

static void
outcome(hostile_run *r, const hostile_peer *p, hostile_end end)
{
	snprintf(r->outcome, sizeof(r->outcome),
	    "%s,sent=%.0fMiB,errors=%llu,errors8=%llu", hostile_end_name(end),
	    sent_mib(p), (unsigned long long) p->st.errors,
	    (unsigned long long) p->st.errors8);
}

// attack runs a one-peer attack on r's server (begun): the peer, reading
// what the server sends or not, writes all gen makes (until the server
// stalls, if stall: hostile_pump), the server is sampled while the attack
// holds what it took, and the outcome noted; the peer is then closed (its
// figures stay in *p for the test's checks).
static hostile_end
attack(hostile_run *r, hostile_peer *p, bool reads, hostile_gen gen, void *arg,
    bool stall)
{
	hostile_end end;

	hostile_peer_open(p, r, reads);
	end = hostile_pump(p, gen, arg, stall);
	hostile_during(r);
	outcome(r, p, end);
	hostile_peer_close(p);
	return end;
}

// refused_attack runs a whole attack by one reading peer (gen's frames,
// arg its state) that pushes a connection past the bound, on a server of
// its own: the run is judged by bound_bytes of RSS growth and reports the
// params printf makes of fmt. The bound requires that the attack's
// streams end with ResourceExhausted, or the connection ends.
static void refused_attack(const char *name, size_t bound_bytes,
    hostile_gen gen, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
refused_attack(const char *name, size_t bound_bytes, hostile_gen gen, void *arg,
    const char *fmt, ...)
{
	hostile_run  r;
	hostile_peer p;
	hostile_end  end;
	va_list      ap;

	hostile_begin(&r, name, NULL);
	va_start(ap, fmt);
	hostile_vdescribe(&r, bound_bytes, fmt, ap);
	va_end(ap);
	end = attack(&r, &p, true, gen, arg, false);
	hostile_finish(&r);
	ck_assert_msg(end != HOSTILE_TIMEOUT, "%s: the attack hung", name);
	ck_assert_msg(end == HOSTILE_CLOSED || p.st.errors8 > 0,
	    "%s: the server took it all (%s, %.0f MiB sent, no stream "
	    "refused with code 8, connection open)",
	    name, hostile_end_name(end), sent_mib(&p));
}

// invoke_first appends stream sid's Invoke of method, with the hello a
// default client sends on its first stream; returns the next message id.
static uint64_t
invoke_first(drpc__buf *b, uint64_t sid, const char *method, bool hello)
{
	rp_frame(
	    b, DRPC__KIND_INVOKE, false, true, sid, 1, method, strlen(method));
	if (!hello) {
		return 2;
	}
	rp_hello(b, sid, 2, HOSTILE_W, 64, HOSTILE_WC, FLOW_FEATURES);
	return 3;
}

// 1. Streams each holding a half-built largest message.

typedef struct half_gen {
	uint64_t n;
	uint64_t i;
} half_gen;

static bool
half_next(void *arg, drpc__buf *out)
{
	half_gen *g   = arg;
	uint64_t  sid = ++g->i;
	uint64_t  mid = invoke_first(out, sid, HOSTILE_UNARY, sid == 1);

	// All of a largest message but its last frame.
	rp_packet(out, DRPC__KIND_MESSAGE, sid, mid, NULL,
	    HOSTILE_M - HOSTILE_F, HOSTILE_F, true);
	return g->i < g->n;
}

START_TEST(test_hostile_half_messages)
{
	half_gen     g = {.n = hostile_scaled(600, 60)};

	refused_attack("half_messages", hostile_rss_bound(1, 0, HOSTILE_S),
	    half_next, &g, "flow=on,streams=%llu,each=4MiB-64KiB_unfinished",
	    (unsigned long long) g.n);
}
END_TEST

// 2. Streams each holding two whole largest messages their handler never
// reads (Sleep reads its request, then sleeps).

typedef struct unread_gen {
	uint64_t n;    // streams
	uint64_t msgs; // largest messages per stream
	bool     flow; // the first stream carries a hello
	uint64_t i;    // stream
	uint64_t j;    // its next message; 0: its invoke
} unread_gen;

static bool
unread_next(void *arg, drpc__buf *out)
{
	unread_gen *g = arg;

	if (g->j == 0) {
		uint64_t sid = ++g->i;
		uint64_t mid =
		    invoke_first(out, sid, HOSTILE_SLEEP, g->flow && sid == 1);
		drpc__buf req = {0};

		hostile_sleep_req(&req, SLEEP_FOREVER_MS);
		rp_packet(out, DRPC__KIND_MESSAGE, sid, mid, req.data, req.len,
		    HOSTILE_F, false);
		drpc__buf_fini(&req);
		g->j = mid + 1;
		return true;
	}
	rp_packet(out, DRPC__KIND_MESSAGE, g->i, g->j++, NULL, HOSTILE_M,
	    HOSTILE_F, false);
	if (g->j == g->msgs + (g->flow && g->i == 1 ? 4 : 3)) {
		g->j = 0;
		return g->i < g->n;
	}
	return true;
}

START_TEST(test_hostile_unread_messages)
{
	unread_gen  g = {.n = hostile_scaled(300, 30), .msgs = 2, .flow = true};

	refused_attack("unread_messages", hostile_rss_bound(1, 0, HOSTILE_S),
	    unread_next, &g,
	    "flow=on,streams=%llu,each=2x4MiB_unread,method=Sleep",
	    (unsigned long long) g.n);
}
END_TEST

// 3a. Half-received invokes: InvokeMetadata packets of about 4 MiB (one
// entry with a large value) that never get their Invoke.

typedef struct md_gen {
	uint64_t  n;
	uint64_t  i;
	drpc__buf body; // one metadata body, reused
} md_gen;

static bool
md_next(void *arg, drpc__buf *out)
{
	md_gen  *g   = arg;
	uint64_t sid = ++g->i;

	rp_packet(out, DRPC__KIND_INVOKE_METADATA, sid, 1, g->body.data,
	    g->body.len, HOSTILE_F, false);
	return g->i < g->n;
}

// md_big_body makes a metadata body of one entry, key "k", whose value
// brings the body to just under the largest message.
static void
md_big_body(drpc__buf *b)
{
	hostile_md_entry(b, "k", HOSTILE_M - 16, 'v');
	ck_assert_uint_le(b->len, HOSTILE_M);
}

START_TEST(test_hostile_pending_metadata)
{
	md_gen       g = {.n = hostile_scaled(512, 64)};

	md_big_body(&g.body);
	refused_attack("pending_metadata", hostile_rss_bound(1, 0, 0), md_next,
	    &g, "flow=off,invokes=%llu,each=InvokeMetadata_%zuKiB_no_Invoke",
	    (unsigned long long) g.n, g.body.len / HOSTILE_KIB);
	drpc__buf_fini(&g.body);
}
END_TEST

// 3b. Invokes whose metadata is 524,288 tiny entries (8 bytes each, 4 MiB
// in all), to a handler that holds its stream (Sleep).

typedef struct tiny_gen {
	uint64_t  n;
	uint64_t  i;
	drpc__buf body;
	drpc__buf req;
} tiny_gen;

#define TINY_ENTRIES ((size_t) 524288)

static bool
tiny_next(void *arg, drpc__buf *out)
{
	tiny_gen *g   = arg;
	uint64_t  sid = ++g->i;

	rp_packet(out, DRPC__KIND_INVOKE_METADATA, sid, 1, g->body.data,
	    g->body.len, HOSTILE_F, false);
	rp_frame(out, DRPC__KIND_INVOKE, false, true, sid, 2, HOSTILE_SLEEP,
	    strlen(HOSTILE_SLEEP));
	rp_packet(out, DRPC__KIND_MESSAGE, sid, 3, g->req.data, g->req.len,
	    HOSTILE_F, false);
	return g->i < g->n;
}

START_TEST(test_hostile_metadata_entries)
{
	tiny_gen     g = {.n = hostile_scaled(16, 4)};

	for (size_t i = 0; i < TINY_ENTRIES; i++) {
		hostile_md_entry(&g.body, "k", 1, 'v');
	}
	ck_assert_uint_le(g.body.len, HOSTILE_M);
	hostile_sleep_req(&g.req, SLEEP_FOREVER_MS);
	refused_attack("metadata_entries", hostile_rss_bound(1, 0, g.n),
	    tiny_next, &g,
	    "flow=off,invokes=%llu,each=%zu_entries_of_8B,method=Sleep",
	    (unsigned long long) g.n, TINY_ENTRIES);
	drpc__buf_fini(&g.body);
	drpc__buf_fini(&g.req);
}
END_TEST

// 4a. Invokes of an unknown method, by the million, from a peer that
// never reads the Errors they earn. The server must stop reading once
// its unwritten replies reach the writer's limit, and drop the peer when
// nothing moves for its write timeout (made short here).

// The server's Error for an unknown method quotes its name (up to about
// 360 bytes): a long name makes each invoke cost the server as much to
// answer as it cost the peer to send.
#define UNKNOWN_NAME  300
#define UNKNOWN_CHUNK 8192

typedef struct unknown_gen {
	uint64_t n;
	uint64_t i;
	char     method[UNKNOWN_NAME + 1];
} unknown_gen;

static bool
unknown_next(void *arg, drpc__buf *out)
{
	unknown_gen *g = arg;

	for (uint64_t k = 0; k < UNKNOWN_CHUNK && g->i < g->n; k++) {
		g->i++;
		rp_frame(out, DRPC__KIND_INVOKE, false, true, g->i, 1,
		    g->method, UNKNOWN_NAME);
	}
	return g->i < g->n;
}

START_TEST(test_hostile_unknown_flood)
{
	static const char *const flags[] = {"--write-timeout-ms", "1000", NULL};
	unknown_gen              g = {.n = hostile_scaled(1000000, 100000)};
	hostile_run              r;
	hostile_peer             p;
	hostile_end              end;

	memset(g.method, 'x', UNKNOWN_NAME);
	g.method[0]                = '/';
	g.method[UNKNOWN_NAME / 2] = '/';
	hostile_begin(&r, "unknown_flood", flags);
	hostile_describe(&r, hostile_rss_bound(1, 0, HOSTILE_S),
	    "flow=off,invokes=%llu,method=unknown_%dB_name,reads=never,"
	    "write_timeout=1s",
	    (unsigned long long) g.n, UNKNOWN_NAME);
	end = attack(&r, &p, false, unknown_next, &g, false);
	hostile_finish(&r);
	ck_assert_msg(end == HOSTILE_CLOSED,
	    "a peer that never reads was not dropped (%s, %.0f MiB sent)",
	    hostile_end_name(end), sent_mib(&p));
}
END_TEST

// 4b. Calls of Fail with a 1 MiB message, from a peer that reads nothing
// until it has sent them all: Error texts are cut to T, so what the
// server holds for it stays small; then every Error is read.

typedef struct fail_gen {
	uint64_t  n;
	uint64_t  i;
	drpc__buf req;
} fail_gen;

static bool
fail_next(void *arg, drpc__buf *out)
{
	fail_gen *g = arg;

	g->i++;
	(void) rp_unary(
	    out, g->i, 1, HOSTILE_FAIL, g->req.data, g->req.len, HOSTILE_F);
	return g->i < g->n;
}

static bool
all_errors(const hostile_peer *p, void *arg)
{
	return p->st.errors >= *(const uint64_t *) arg;
}

START_TEST(test_hostile_fail_flood)
{
	fail_gen     g = {.n = hostile_scaled(400, 100)};
	hostile_run  r;
	hostile_peer p;
	hostile_end  end;
	hostile_end  read_end;

	hostile_begin(&r, "fail_flood", NULL);
	hostile_fail_req(&g.req, 9, HOSTILE_MIB);
	hostile_describe(&r, hostile_rss_bound(1, 0, HOSTILE_S),
	    "flow=off,calls=%llu,method=Fail,message=1MiB,reads=after",
	    (unsigned long long) g.n);
	hostile_peer_open(&p, &r, false);
	end = hostile_pump(&p, fail_next, &g, false);
	hostile_during(&r);
	p.reads  = true;
	read_end = hostile_pump_until(&p, all_errors, &g.n);
	outcome(&r, &p, end);
	snprintf(r.outcome + strlen(r.outcome),
	    sizeof(r.outcome) - strlen(r.outcome), ",max_error_text=%zuB",
	    p.st.max_error_text);
	hostile_peer_close(&p);
	drpc__buf_fini(&g.req);
	hostile_finish(&r);
	ck_assert_msg(end == HOSTILE_DRAINED,
	    "the calls were not all read (%s)", hostile_end_name(end));
	ck_assert_msg(read_end == HOSTILE_DONE,
	    "%llu Errors of %llu came back (%s)",
	    (unsigned long long) p.st.errors, (unsigned long long) g.n,
	    hostile_end_name(read_end));
	ck_assert_msg(p.st.max_error_text <= HOSTILE_T,
	    "an Error text of %zu bytes (longest sent: %zu)",
	    p.st.max_error_text, HOSTILE_T);
}
END_TEST

// 5. Idle connections, each of which once sent one largest frame (for a
// stream that does not exist, dropped): the reader's buffer must come
// back to its resting size.

static bool
big_next(void *arg, drpc__buf *out)
{
	(void) arg;
	rp_frame(out, DRPC__KIND_MESSAGE, false, true, 7, 1, NULL, HOSTILE_M);
	return false;
}

START_TEST(test_hostile_idle_big_frame)
{
	size_t        n = (size_t) hostile_scaled(300, 30);
	hostile_run   r;
	hostile_peer *p;
	drpc__buf     frame = {0};
	size_t        sent  = 0;
	size_t        drained;
	size_t        closed = 0;

	hostile_begin(&r, "idle_big_frame", NULL);
	ck_assert_ptr_nonnull(p = calloc(n, sizeof(*p)));
	(void) big_next(NULL, &frame);
	hostile_describe(&r, hostile_rss_bound(0, n, 0),
	    "flow=off,conns=%zu,each=one_4MiB_frame_unknown_stream_then_idle",
	    n);
	for (size_t i = 0; i < n; i++) {
		hostile_peer_open(&p[i], &r, false);
		sent += hostile_send_all(&p[i], &frame);
		hostile_poll(&r);
	}
	drained = hostile_wait_drained(p, n);
	for (size_t i = 0; i < n; i++) {
		closed += p[i].closed;
	}
	hostile_during(&r);
	snprintf(r.outcome, sizeof(r.outcome),
	    "sent=%zu,drained_or_closed=%zu,closed=%zu", sent, drained, closed);
	for (size_t i = 0; i < n; i++) {
		hostile_peer_close(&p[i]);
	}
	free(p);
	drpc__buf_fini(&frame);
	hostile_finish(&r);
	ck_assert_uint_eq(sent, n);
	ck_assert_uint_eq(drained, n);
	// Idle, but they sent a whole frame: nothing closes them.
	ck_assert_uint_eq(closed, 0);
}
END_TEST

// 6. Without flow control (no hello): streams each sent 20 largest
// messages to a handler that never reads them. A stream's queue is
// bounded in bytes: the server stops reading the connection (a plain
// peer's only brake) or refuses the stream, and a connection stalled so
// (its reader waiting for a handler that never reads) ends after the
// stall timeout.

START_TEST(test_hostile_no_flow_unread)
{
	// The reader waits for the handler that never reads; the peer's
	// close waits behind the bytes nobody reads, so only the stall
	// timeout (write_timeout_ms) frees the connection.
	static const char *const flags[] = {"--write-timeout-ms", "1000", NULL};
	unread_gen               g = {.n = hostile_scaled(40, 4), .msgs = 20};
	hostile_run              r;
	hostile_peer             p;
	hostile_end              end;

	hostile_begin(&r, "no_flow_unread", flags);
	hostile_describe(&r, hostile_rss_bound(1, 0, HOSTILE_S),
	    "flow=off,streams=%llu,each=20x4MiB_unread,method=Sleep,"
	    "stall_timeout=1s",
	    (unsigned long long) g.n);
	end = attack(&r, &p, true, unread_next, &g, true);
	hostile_finish(&r);
	ck_assert_msg(end != HOSTILE_TIMEOUT, "the attack hung");
	ck_assert_msg(end != HOSTILE_DRAINED || p.st.errors8 > 0,
	    "the server took all %.0f MiB (no stream refused, never "
	    "stopped reading)",
	    sent_mib(&p));
}
END_TEST

Suite *
hostile_suite(void)
{
	const tu_test memory[] = {
	    TU_TEST("memory", test_hostile_half_messages, .timeout = 120,
	        .teardown = hostile_kill_children),
	    TU_TEST("memory", test_hostile_unread_messages),
	    TU_TEST("memory", test_hostile_pending_metadata),
	    TU_TEST("memory", test_hostile_metadata_entries),
	    TU_TEST("memory", test_hostile_unknown_flood),
	    TU_TEST("memory", test_hostile_fail_flood),
	    TU_TEST("memory", test_hostile_idle_big_frame),
	    TU_TEST("memory", test_hostile_no_flow_unread),
	};
	tu_test tests[TU_LEN(memory) + 2 * HOSTILE_MAX_ROWS];
	size_t  n = TU_LEN(memory);

	memcpy(tests, memory, sizeof(memory));
	n += hostile_conn_tests(tests + n);
	n += hostile_client_tests(tests + n);
	return tu_suite("hostile", tests, n);
}
