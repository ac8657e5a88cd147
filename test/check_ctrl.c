// Control frames (issue 16, docs/protocol.md §14), the wire and the
// connection layer: the frames' encoding and rejects, their negotiation
// by hello feature bit 4, pings answered both ways between two
// connections, and a client that sends nothing new to a plain peer.
// check_ctrl_server.c has the server's side (its pings, GOAWAY, plain
// clients) and TCP keepalive.
//
// Nothing here waits for time (test/README.md): pings run on 1 ms
// intervals and the tests wait for their counts; a test that shows that
// something was NOT sent calls what would have sent it (a keepalive as of
// an hour later) and then reads the peer's bytes up to a reply that
// follows it.
#include <string.h>

#include <drpc/drpc.h>

#include "common/buf.h"
#include "connutil.h"
#include "ctrlutil.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"
#include "wire/control.h"
#include "wire/flowctl.h"
#include "wire/reader.h"

#define WAIT_NS tu_bound_ns(TU_WAIT_NS)
#define MS      CR_MS
#define HOUR_NS (3600 * 1000 * MS)

// The wire.

// Golden frames (docs/protocol.md §14), written by hand from the format.
static const struct {
	uint8_t     kind;
	uint64_t    v;
	const char *hex;
} golden[] = {
    {DRPC__KIND_PING, 1, "c3 00 00 01 01"},
    {DRPC__KIND_PING_ACK, 1, "c5 00 00 01 01"},
    {DRPC__KIND_PING, 300, "c3 00 00 02 ac 02"},
    {DRPC__KIND_GOAWAY, 0, "c7 00 00 01 00"},
    {DRPC__KIND_GOAWAY_ACK, 0, "c9 00 00 01 00"},
};

START_TEST(test_ctrl_golden)
{
	drpc__buf   b = {0};
	uint8_t     want[16];
	size_t      n = tu_hex(golden[_i].hex, want, sizeof(want));
	drpc__frame f;
	size_t      used;
	uint64_t    v = 99;

	DRPC_CHECK_OK(drpc__ctrl_append(&b, golden[_i].kind, golden[_i].v));
	ck_assert_uint_eq(b.len, n);
	ck_assert_mem_eq(b.data, want, n);
	DRPC_CHECK_OK(drpc__frame_parse(want, n, 64, &f, &used));
	ck_assert_uint_eq(used, n);
	ck_assert(drpc__ctrl_parse(&f, &v));
	ck_assert_uint_eq(v, golden[_i].v);
	drpc__buf_fini(&b);
}
END_TEST

START_TEST(test_ctrl_roundtrip)
{
	static const uint64_t vals[] = {
	    0, 1, 127, 128, 16383, 16384, (uint64_t) 1 << 63, UINT64_MAX};

	for (unsigned k = DRPC__KIND_PING; k <= DRPC__KIND_GOAWAY_ACK; k++) {
		for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			drpc__buf   b = {0};
			drpc__frame f;
			size_t      used;
			uint64_t    v = 0;

			DRPC_CHECK_OK(
			    drpc__ctrl_append(&b, (uint8_t) k, vals[i]));
			DRPC_CHECK_OK(
			    drpc__frame_parse(b.data, b.len, 64, &f, &used));
			ck_assert_uint_eq(used, b.len);
			ck_assert(f.control && f.done && f.kind == k);
			ck_assert(f.stream_id == 0 && f.message_id == 0);
			ck_assert(drpc__ctrl_parse(&f, &v));
			ck_assert_uint_eq(v, vals[i]);
			drpc__buf_fini(&b);
		}
	}
	ck_assert(!drpc__ctrl_kind(32) && !drpc__ctrl_kind(37));
	ck_assert_str_eq(drpc__kind_name(DRPC__KIND_GOAWAY), "GoAway");
}
END_TEST

START_TEST(test_ctrl_rejects)
{
	uint8_t     buf[32];
	size_t      n = tu_hex(cr_nonconforming[_i], buf, sizeof(buf));
	drpc__frame f;
	size_t      used;
	uint64_t    v;

	DRPC_CHECK_OK(drpc__frame_parse(buf, n, 64, &f, &used));
	ck_assert_uint_eq(used, n);
	ck_assert(!drpc__ctrl_parse(&f, &v));
}
END_TEST

// A hello's features: bit 4 read when present, never assumed when absent
// (a first libdrpc's hello has no features field), unknown bits ignored.
START_TEST(test_ctrl_hello_features)
{
	static const struct {
		const char *body;
		uint64_t    features;
	} cases[] = {
	    {"01 80 80 40 40", DRPC__HELLO_FLOW},             // absent
	    {"01 80 80 40 40 80 80 80 08", DRPC__HELLO_FLOW}, // still absent
	    {"01 80 80 40 40 00 03", 3},                      // before bit 4
	    {"01 80 80 40 40 00 07", 7},
	    {"01 80 80 40 40 00 ff 01", 0xff}, // unknown bits
	    {"01 80 80 40 40 00 04 05 06", 4}, // later fields
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t     body[32];
		drpc__frame f = {.kind = DRPC__KIND_HELLO,
		    .control           = true,
		    .done              = true,
		    .stream_id         = 1,
		    .message_id        = 2,
		    .data              = body};
		drpc__hello h;

		f.len = tu_hex(cases[i].body, body, sizeof(body));
		ck_assert_msg(drpc__hello_parse(&f, &h), "case %zu", i);
		ck_assert_uint_eq(h.features, cases[i].features);
	}
}
END_TEST

// Negotiation, and pings between two connections.

// pair_call makes one echo call on p's client.
static void
pair_call(tu_pair *p)
{
	drpc__stream  *s;
	const uint8_t *data;
	size_t         len;

	DRPC_CHECK_OK(tu_open(p->cli, NULL, CR_ECHO, "x", 1, true, &s));
	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, 1);
	drpc__stream_recv_done(s);
	drpc__stream_destroy(s);
}

START_TEST(test_ctrl_negotiated)
{
	tu_pair         p;
	drpc__conn_opts plain = {.multiplex = DRPC_MULTIPLEX_OFF};

	tu_pair_open(&p, tu_echo_all, NULL, NULL, NULL);
	ck_assert(!drpc__conn_ctrl_ok(p.cli) && !drpc__conn_ctrl_ok(p.srv));
	pair_call(&p); // its hello and the answer
	ck_assert(drpc__conn_ctrl_ok(p.cli));
	ck_assert(drpc__conn_ctrl_ok(p.srv));
	tu_pair_close(&p);

	// A server playing a plain one answers no hello: neither side has it.
	tu_pair_open(&p, tu_echo_all, NULL, NULL, &plain);
	pair_call(&p);
	ck_assert(!drpc__conn_ctrl_ok(p.cli) && !drpc__conn_ctrl_ok(p.srv));
	tu_pair_close(&p);
}
END_TEST

// keep_until plays the keeper for c (as client.c's does) until c took
// acks ACKs and the other side answered as many PINGs; false if it never
// happens.
static bool
keep_until(drpc__conn *c, drpc__conn *other, uint64_t acks)
{
	int64_t               dl = drpc__now_ns() + WAIT_NS;
	drpc__conn_ctrl_stats mine;
	drpc__conn_ctrl_stats theirs;
	int64_t               next;

	for (;;) {
		drpc__conn_ctrl_stats_get(c, &mine);
		drpc__conn_ctrl_stats_get(other, &theirs);
		if (mine.acks_taken >= acks && theirs.pings_answered >= acks) {
			return true;
		}
		next = drpc__conn_keepalive(c, drpc__now_ns());
		if (next == 0 || drpc__now_ns() > dl) {
			return false;
		}
		(void) drpc__conn_wait(c, next < dl ? next : dl);
	}
}

// Pings answered, both ways: the client pings the server, then the
// server the client. Each side has at most one ping outstanding, so a
// third ACK taken means the first two were taken too.
START_TEST(test_ctrl_ping_answered)
{
	tu_pair               p;
	drpc__conn_opts       o = {.ping_interval_ns = MS};
	drpc__conn_ctrl_stats st;

	tu_pair_open_tcp(&p, tu_echo_all, NULL, &o, &o);
	pair_call(&p);
	ck_assert(keep_until(p.cli, p.srv, 3));
	ck_assert(keep_until(p.srv, p.cli, 3));
	drpc__conn_ctrl_stats_get(p.cli, &st);
	ck_assert_uint_ge(st.pings_sent, 3);
	ck_assert_uint_le(st.pings_sent, st.acks_taken + 1);
	DRPC_CHECK_OK(drpc__conn_err(p.cli));
	DRPC_CHECK_OK(drpc__conn_err(p.srv));
	pair_call(&p); // still up
	tu_pair_close(&p);
}
END_TEST

// Peers without the extension.

// A client against a plain peer (a rp_peer server that never answers the
// hello) sends no control frame, even when its keepalive runs as of an
// hour and two hours later (it would ping, then give up, with a peer that
// has the extension); a PING from that peer is dropped, unanswered, and
// the connection carries on.
START_TEST(test_ctrl_client_plain_peer)
{
	tu_raw          r;
	drpc__conn_opts o = {.ping_interval_ns = MS,
	    .multiplex = DRPC_MULTIPLEX_ON}; // flow auto: a hello goes out
	drpc__stream   *s;
	drpc__frame     f;
	size_t          ctrl = 0;
	int64_t         now;
	const uint8_t  *data;
	size_t          len;

	tu_raw_open_exact(&r, &o);
	for (uint64_t sid = 1; sid <= 2; sid++) {
		DRPC_CHECK_OK(tu_open(r.conn, NULL, CR_ECHO, "x", 1, true, &s));
		rp_frames_until(&r.fr, DRPC__KIND_CLOSE_SEND, sid, &f, &ctrl);
		tu_raw_hex(&r, sid == 1 ? "05 01 01 01 79 0d 01 02 00"
		                        : "05 02 01 01 79 0d 02 02 00");
		DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
		drpc__stream_recv_done(s);
		drpc__stream_destroy(s);
		now = drpc__now_ns();
		ck_assert_int_eq(drpc__conn_keepalive(r.conn, now + HOUR_NS),
		    now + HOUR_NS + MS); // not known yet: asks again
		(void) drpc__conn_keepalive(r.conn, now + 2 * HOUR_NS);
		tu_raw_hex(&r, "c3 00 00 01 07"); // a PING: dropped
	}
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	ck_assert(!drpc__conn_ctrl_ok(r.conn));
	drpc__conn_close(r.conn);
	ck_assert_uint_eq(ctrl + rp_frames_rest(&r.fr, 0), 0);
	tu_raw_close(&r);
}
END_TEST

TU_SUITE(ctrl,
    TU_TEST("wire", test_ctrl_golden, .loops = (int) TU_LEN(golden)),
    TU_TEST("wire", test_ctrl_roundtrip),
    TU_TEST("wire", test_ctrl_rejects, .loops = CR_NONCONFORMING),
    TU_TEST("wire", test_ctrl_hello_features),
    TU_TEST("ping", test_ctrl_negotiated, .timeout = 60),
    TU_TEST("ping", test_ctrl_ping_answered),
    TU_TEST("plain", test_ctrl_client_plain_peer, .timeout = 60))
