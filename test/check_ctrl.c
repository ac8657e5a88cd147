// Liveness pings, GOAWAY and TCP keepalive (issue 16; docs/protocol.md
// §14): the control frames' encoding, their negotiation by hello feature
// bit 4, pings answered and a stopped peer detected, a graceful shutdown's
// GOAWAY with a call that races it, peers without the extension seeing no
// new byte, and the keepalive options on real sockets.
//
// Nothing here waits for time (test/README.md): pings run on 1 ms
// intervals and the tests wait for their counts; a test that shows that
// something was NOT sent waits for the event that would have sent it (a
// pass of the reaper, a keepalive call as of an hour later) and then
// reads the peer's bytes up to a reply that follows it.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "common/buf.h"
#include "connutil.h"
#include "platform/thread.h"
#include "server/hooks.h"
#include "suites.h"
#include "testutil.h"
#include "transport/addr.h"
#include "transport/transport.h"
#include "wire/control.h"
#include "wire/flowctl.h"
#include "wire/reader.h"

#define WAIT_NS tu_bound_ns(TU_WAIT_NS)
#define ECHO    "/c.S/Echo"
#define HOLD    "/c.S/Hold"
#define MS      1000000ll
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

			DRPC_CHECK_OK(drpc__ctrl_append(&b, (uint8_t) k, vals[i]));
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

// Frames a receiver drops: each differs from a conforming PING in one way.
static const char *const nonconforming[] = {
    "43 00 00 01 01",             // no control flag
    "c2 00 00 01 01",             // not done
    "c3 01 00 01 01",             // stream 1
    "c3 00 01 01 01",             // message id 1
    "c3 00 00 00",                // empty body
    "c3 00 00 02 01 01",          // two varints
    "c3 00 00 01 80",             // a truncated varint
    "c3 00 00 0b ff ff ff ff ff ff ff ff ff ff 01", // 11 varint bytes
    "c1 00 00 01 01",             // kind 32 (hello), not a control kind
    "cb 00 00 01 01",             // kind 37
};

START_TEST(test_ctrl_rejects)
{
	uint8_t     buf[32];
	size_t      n = tu_hex(nonconforming[_i], buf, sizeof(buf));
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
	    {"01 80 80 40 40", DRPC__HELLO_FLOW},          // absent
	    {"01 80 80 40 40 80 80 80 08", DRPC__HELLO_FLOW}, // still absent
	    {"01 80 80 40 40 00 03", 3},                   // before bit 4
	    {"01 80 80 40 40 00 07", 7},
	    {"01 80 80 40 40 00 ff 01", 0xff},             // unknown bits
	    {"01 80 80 40 40 00 04 05 06", 4},             // later fields
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t     body[32];
		drpc__frame f = {.kind = DRPC__KIND_HELLO, .control = true,
		    .done = true, .stream_id = 1, .message_id = 2, .data = body};
		drpc__hello h;

		f.len = tu_hex(cases[i].body, body, sizeof(body));
		ck_assert_msg(drpc__hello_parse(&f, &h), "case %zu", i);
		ck_assert_uint_eq(h.features, cases[i].features);
	}
}
END_TEST

// A server on the public API, its hooks observed.

typedef struct fx {
	drpc_mux       *mux;
	drpc_server    *srv;
	char            addr[300];
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	// Guarded by mu:
	size_t   held;      // Hold handlers holding their stream
	bool     open;      // ...which may return
	size_t   ctrl[64];  // control frames the server's readers took
	int64_t  pinged;    // the reaper's last ping pass; 0: none
	bool     drained;   // a shutdown's drain phase is over
	drpc_err drain_rv;
} fx;

static void
fx_ctrl(void *arg, unsigned kind)
{
	fx *f = arg;

	drpc__mutex_lock(&f->mu);
	f->ctrl[kind & 63]++;
	drpc__cond_broadcast(&f->cv);
	drpc__mutex_unlock(&f->mu);
}

static void
fx_pinged(void *arg, int64_t now_ns)
{
	fx *f = arg;

	drpc__mutex_lock(&f->mu);
	f->pinged = now_ns;
	drpc__cond_broadcast(&f->cv);
	drpc__mutex_unlock(&f->mu);
}

static void
fx_drained(void *arg, drpc_err rv)
{
	fx *f = arg;

	drpc__mutex_lock(&f->mu);
	f->drained  = true;
	f->drain_rv = rv;
	drpc__cond_broadcast(&f->cv);
	drpc__mutex_unlock(&f->mu);
}

static drpc_err
h_echo(drpc_stream *s, void *user)
{
	void    *data;
	size_t   len;
	drpc_err rv;

	(void) user;
	if ((rv = drpc_stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	rv = drpc_stream_send(s, len > 0 ? data : "", len);
	drpc_free(data);
	return rv;
}

// h_hold takes its request, says so, and holds its stream until the test
// opens the gate (or WAIT_NS pass: a failed test leaves no thread).
static drpc_err
h_hold(drpc_stream *s, void *user)
{
	fx      *f = user;
	int64_t  dl;
	void    *data;
	size_t   len;
	drpc_err rv;

	if ((rv = drpc_stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	drpc_free(data);
	dl = drpc_now_ns() + WAIT_NS;
	drpc__mutex_lock(&f->mu);
	f->held++;
	drpc__cond_broadcast(&f->cv);
	while (!f->open && rv == DRPC_OK) {
		rv = drpc__cond_wait_until(&f->cv, &f->mu, dl);
	}
	drpc__mutex_unlock(&f->mu);
	return rv != DRPC_OK ? rv : drpc_stream_send(s, "held", 4);
}

static void
fx_start(fx *f, const drpc_server_opts *o)
{
	drpc_server_opts   so = o != NULL ? *o : (drpc_server_opts) {0};
	drpc__server_hooks h  = {.ctrl = fx_ctrl, .pinged = fx_pinged,
	     .drained = fx_drained, .arg = f};

	memset(f, 0, sizeof(*f));
	drpc__mutex_init(&f->mu);
	drpc__cond_init(&f->cv);
	DRPC_CHECK_OK(drpc_mux_create(&f->mux));
	DRPC_CHECK_OK(drpc_mux_register(f->mux, ECHO, h_echo, NULL));
	DRPC_CHECK_OK(drpc_mux_register(f->mux, HOLD, h_hold, f));
	DRPC_CHECK_OK(drpc_server_create(&f->srv, f->mux, &so));
	drpc__server_set_hooks(f->srv, &h);
	DRPC_CHECK_OK(drpc_server_listen(f->srv, "tcp://127.0.0.1:0"));
	DRPC_CHECK_OK(drpc_server_addr(f->srv, f->addr, sizeof(f->addr)));
}

static void
fx_open_gate(fx *f)
{
	drpc__mutex_lock(&f->mu);
	f->open = true;
	drpc__cond_broadcast(&f->cv);
	drpc__mutex_unlock(&f->mu);
}

static void
fx_stop(fx *f)
{
	fx_open_gate(f);
	(void) drpc_server_shutdown(f->srv, drpc_now_ns() + WAIT_NS);
	drpc_server_destroy(f->srv);
	drpc_mux_destroy(f->mux);
	drpc__cond_fini(&f->cv);
	drpc__mutex_fini(&f->mu);
}

// fx_wait_ctrl waits until the server's readers took n frames of kind.
static bool
fx_wait_ctrl(fx *f, unsigned kind, size_t n)
{
	int64_t dl = drpc_now_ns() + WAIT_NS;
	bool    done;

	drpc__mutex_lock(&f->mu);
	while (!(done = f->ctrl[kind] >= n) &&
	       drpc__cond_wait_until(&f->cv, &f->mu, dl) == DRPC_OK) {
	}
	drpc__mutex_unlock(&f->mu);
	return done;
}

static size_t
fx_ctrl_count(fx *f, unsigned kind)
{
	size_t n;

	drpc__mutex_lock(&f->mu);
	n = f->ctrl[kind];
	drpc__mutex_unlock(&f->mu);
	return n;
}

// fx_wait_pinged waits for a ping pass of the reaper as of t or later.
static bool
fx_wait_pinged(fx *f, int64_t t)
{
	int64_t dl = drpc_now_ns() + WAIT_NS;
	bool    done;

	drpc__mutex_lock(&f->mu);
	while (!(done = f->pinged >= t) &&
	       drpc__cond_wait_until(&f->cv, &f->mu, dl) == DRPC_OK) {
	}
	drpc__mutex_unlock(&f->mu);
	return done;
}

static bool
fx_wait_held(fx *f, size_t n)
{
	int64_t dl = drpc_now_ns() + WAIT_NS;
	bool    done;

	drpc__mutex_lock(&f->mu);
	while (!(done = f->held >= n) &&
	       drpc__cond_wait_until(&f->cv, &f->mu, dl) == DRPC_OK) {
	}
	drpc__mutex_unlock(&f->mu);
	return done;
}

static bool
fx_wait_drained(fx *f)
{
	int64_t dl = drpc_now_ns() + WAIT_NS;
	bool    done;

	drpc__mutex_lock(&f->mu);
	while (!(done = f->drained) &&
	       drpc__cond_wait_until(&f->cv, &f->mu, dl) == DRPC_OK) {
	}
	drpc__mutex_unlock(&f->mu);
	return done;
}

// A shutdown on a thread of its own (it blocks until the drain is done).
typedef struct stopper {
	pthread_t   t;
	drpc_server *srv;
	int64_t     deadline_ns;
	drpc_err    rv; // read after the join
} stopper;

static void *
stopper_main(void *arg)
{
	stopper *st = arg;

	st->rv = drpc_server_shutdown(st->srv, st->deadline_ns);
	return NULL;
}

static void
stopper_start(stopper *st, drpc_server *srv)
{
	st->srv         = srv;
	st->deadline_ns = drpc_now_ns() + WAIT_NS;
	DRPC_CHECK_OK(
	    drpc__thread_start(&st->t, "stopper", 0, 0, stopper_main, st));
}

// A raw peer on a socket: the test writes frames byte for byte and reads
// what the other side sends, each read bounded by WAIT_NS.

typedef struct raw {
	int                fd;
	drpc__frame_reader fr;
} raw;

static drpc_err
raw_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	raw          *r   = arg;
	struct pollfd pfd = {r->fd, POLLIN, 0};
	ssize_t       got;

	if (poll(&pfd, 1, (int) (WAIT_NS / MS)) != 1) {
		return DRPC_ETIMEDOUT;
	}
	if ((got = read(r->fd, buf, cap)) < 0) {
		return errno == ECONNRESET ? DRPC_ECLOSED : DRPC_EIO;
	}
	*n = (size_t) got;
	return DRPC_OK;
}

static void
raw_init(raw *r, int fd)
{
	r->fd = fd;
	drpc__frame_reader_init(&r->fr, raw_read, r, 0);
}

static void
raw_close(raw *r)
{
	close(r->fd);
	drpc__frame_reader_fini(&r->fr);
}

static void
raw_send(raw *r, uint8_t kind, bool control, uint64_t sid, uint64_t mid,
    const void *body, size_t len)
{
	drpc__buf   b  = {0};
	drpc__frame fr = {.stream_id = sid, .message_id = mid, .data = body,
	    .len = len, .kind = kind, .done = true, .control = control};

	DRPC_CHECK_OK(drpc__frame_append(&b, &fr));
	ck_assert_int_eq(
	    send(r->fd, b.data, b.len, MSG_NOSIGNAL), (ssize_t) b.len);
	drpc__buf_fini(&b);
}

static void
raw_hex(raw *r, const char *hex)
{
	uint8_t buf[256];
	size_t  n = tu_hex(hex, buf, sizeof(buf));

	ck_assert_int_eq(send(r->fd, buf, n, MSG_NOSIGNAL), (ssize_t) n);
}

// frames_until reads frames from fr until one of kind on stream sid
// arrives (*f), counting the control frames of this extension on the way
// in *ctrl.
static void
frames_until(drpc__frame_reader *fr, uint8_t kind, uint64_t sid,
    drpc__frame *f, size_t *ctrl)
{
	for (;;) {
		DRPC_CHECK_OK(drpc__frame_reader_next(fr, f));
		if (drpc__ctrl_kind(f->kind)) {
			(*ctrl)++;
		}
		if (f->kind == kind && f->stream_id == sid) {
			return;
		}
	}
}

static void
raw_until(raw *r, uint8_t kind, uint64_t sid, drpc__frame *f, size_t *ctrl)
{
	frames_until(&r->fr, kind, sid, f, ctrl);
}

// frames_rest reads fr to its end, counting the control frames of this
// extension; all must be of kind (0: none may come).
static size_t
frames_rest(drpc__frame_reader *fr, unsigned kind)
{
	drpc__frame f;
	size_t      n = 0;

	while (drpc__frame_reader_next(fr, &f) == DRPC_OK) {
		if (drpc__ctrl_kind(f.kind)) {
			ck_assert_uint_eq(f.kind, kind);
			n++;
		}
	}
	return n;
}

// raw_call writes a plain unary call of ECHO on stream sid (Invoke,
// Message "hi", CloseSend) and reads up to the server's CloseSend.
static void
raw_call(raw *r, uint64_t sid, size_t *ctrl)
{
	drpc__frame f;

	raw_send(r, DRPC__KIND_INVOKE, false, sid, 1, ECHO, strlen(ECHO));
	raw_send(r, DRPC__KIND_MESSAGE, false, sid, 2, "hi", 2);
	raw_send(r, DRPC__KIND_CLOSE_SEND, false, sid, 3, NULL, 0);
	raw_until(r, DRPC__KIND_CLOSE_SEND, sid, &f, ctrl);
}

// The hello body a libdrpc client sends (1 MiB window, charge 64, 16 MiB
// connection window), with the features given.
static size_t
hello_body(uint8_t *out, uint64_t features)
{
	drpc__hello h = {DRPC__HELLO_VERSION, 1 << 20, 64, 16 << 20, features};

	return drpc__hello_put(out, &h);
}

// Negotiation, and pings between two connections.

static drpc_err
tu_echo(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;

	(void) arg;
	(void) name;
	(void) md;
	if ((rv = drpc__stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	rv = drpc__stream_send(s, data, len);
	drpc__stream_recv_done(s);
	return rv == DRPC_OK ? drpc__stream_close_send(s) : rv;
}

// pair_call makes one echo call on p's client.
static void
pair_call(tu_pair *p)
{
	drpc__stream  *s;
	const uint8_t *data;
	size_t         len;

	DRPC_CHECK_OK(tu_open(p->cli, NULL, ECHO, "x", 1, true, &s));
	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, 1);
	drpc__stream_recv_done(s);
	drpc__stream_destroy(s);
}

START_TEST(test_ctrl_negotiated)
{
	tu_pair         p;
	drpc__conn_opts plain = {.multiplex = DRPC_MULTIPLEX_OFF};

	tu_pair_open(&p, tu_echo, NULL, NULL, NULL);
	ck_assert(!drpc__conn_ctrl_ok(p.cli) && !drpc__conn_ctrl_ok(p.srv));
	pair_call(&p); // its hello and the answer
	ck_assert(drpc__conn_ctrl_ok(p.cli));
	ck_assert(drpc__conn_ctrl_ok(p.srv));
	tu_pair_close(&p);

	// A server playing a plain one answers no hello: neither side has it.
	tu_pair_open(&p, tu_echo, NULL, NULL, &plain);
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

	tu_pair_open_tcp(&p, tu_echo, NULL, &o, &o);
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

// A client's keeper thread against a server that answers: the server's
// reader counts the pings it takes, each sent only once the previous ACK
// was taken.
START_TEST(test_ctrl_keeper_pings)
{
	fx             f;
	drpc_conn     *cc;
	drpc_conn_opts o = {.ping_interval_ms = 1};
	void          *reply;
	size_t         len;

	fx_start(&f, NULL);
	DRPC_CHECK_OK(drpc_dial(&cc, f.addr, &o));
	DRPC_CHECK_OK(
	    drpc_invoke(cc, NULL, ECHO, "a", 1, NULL, &reply, &len, NULL));
	drpc_free(reply);
	ck_assert(fx_wait_ctrl(&f, DRPC__KIND_PING, 3));
	DRPC_CHECK_OK(drpc_conn_err(cc));
	DRPC_CHECK_OK(
	    drpc_invoke(cc, NULL, ECHO, "b", 1, NULL, &reply, &len, NULL));
	drpc_free(reply);
	drpc_conn_destroy(cc); // joins the keeper
	fx_stop(&f);
}
END_TEST

// The server's reaper pings a client that answers: its readers take the
// ACKs.
START_TEST(test_ctrl_reaper_pings)
{
	fx               f;
	drpc_conn       *cc;
	drpc_server_opts so = {.ping_interval_ms = 1};
	void            *reply;
	size_t           len;

	fx_start(&f, &so);
	DRPC_CHECK_OK(drpc_dial(&cc, f.addr, NULL));
	DRPC_CHECK_OK(
	    drpc_invoke(cc, NULL, ECHO, "a", 1, NULL, &reply, &len, NULL));
	drpc_free(reply);
	ck_assert(fx_wait_ctrl(&f, DRPC__KIND_PING_ACK, 3));
	DRPC_CHECK_OK(drpc_conn_err(cc));
	drpc_conn_destroy(cc);
	fx_stop(&f);
}
END_TEST

// A stopped peer: a raw server answers the hello with bit 4, then never
// answers a ping. A call without a deadline ends with DRPC_EUNAVAIL and
// the ping's cause (it would wait for ever without the keeper).
START_TEST(test_ctrl_stopped_peer)
{
	int            sv[2];
	raw            r;
	drpc_conn     *cc;
	drpc_conn_opts o = {.ping_interval_ms = 1, .ping_timeout_ms = 1};
	drpc_stream   *s;
	drpc__frame    f;
	drpc__hello    h;
	drpc_cause     why;
	uint8_t        body[DRPC__HELLO_BODY_MAX];
	size_t         ctrl = 0;
	void          *data;
	size_t         len;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	DRPC_CHECK_OK(drpc_conn_create_fd(&cc, sv[0], &o));
	raw_init(&r, sv[1]);
	DRPC_CHECK_OK(drpc_stream_open_request(&s, cc, NULL, ECHO, "q", 1, NULL));
	raw_until(&r, DRPC__KIND_HELLO, 1, &f, &ctrl);
	ck_assert(drpc__hello_parse(&f, &h));
	ck_assert(h.features & DRPC__HELLO_CTRL); // a client always says so
	raw_send(&r, DRPC__KIND_HELLO, true, 1, 1, body,
	    hello_body(body, DRPC__HELLO_MUX | DRPC__HELLO_CTRL));
	DRPC_CHECK_ERR(drpc_stream_recv(s, &data, &len), DRPC_EUNAVAIL);
	// At most the one PING came (a stop drops what was not written).
	ck_assert_uint_le(ctrl + frames_rest(&r.fr, DRPC__KIND_PING), 1);
	DRPC_CHECK_ERR(drpc_conn_cause(cc, &why), DRPC_EUNAVAIL);
	ck_assert_msg(strstr(why.text, "did not answer a ping") != NULL, "%s",
	    why.text);
	drpc_stream_destroy(s);
	drpc_conn_destroy(cc);
	raw_close(&r);
}
END_TEST

// Peers without the extension.

// A client against a plain peer (a raw server that never answers the
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
		DRPC_CHECK_OK(tu_open(r.conn, NULL, ECHO, "x", 1, true, &s));
		frames_until(&r.fr, DRPC__KIND_CLOSE_SEND, sid, &f, &ctrl);
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
	ck_assert_uint_eq(ctrl + frames_rest(&r.fr, 0), 0);
	tu_raw_close(&r);
}
END_TEST

// A server that pings, and its GOAWAY, against clients without the
// extension: one that sends no hello (a plain client), one whose hello
// lacks bit 4 (an earlier libdrpc), and a libdrpc client of a server
// playing a plain one (multiplex off). None gets a control frame, a PING
// from it is dropped, and a graceful shutdown refuses its new calls as
// before.
static void
plain_client_case(const drpc_server_opts *so, uint64_t hello_features)
{
	fx          f;
	raw         r;
	int         fd;
	drpc__frame fr;
	size_t      ctrl = 0;
	int64_t     t0;
	uint8_t     body[DRPC__HELLO_BODY_MAX];
	stopper     st;

	fx_start(&f, so);
	DRPC_CHECK_OK(drpc__dial(f.addr, 0, &fd));
	raw_init(&r, fd);
	raw_send(&r, DRPC__KIND_INVOKE, false, 1, 1, ECHO, strlen(ECHO));
	if (hello_features != 0) {
		raw_send(&r, DRPC__KIND_HELLO, true, 1, 2, body,
		    hello_body(body, hello_features));
	}
	raw_send(&r, DRPC__KIND_MESSAGE, false, 1, 3, "hi", 2);
	raw_send(&r, DRPC__KIND_CLOSE_SEND, false, 1, 4, NULL, 0);
	raw_until(&r, DRPC__KIND_CLOSE_SEND, 1, &fr, &ctrl);
	// A ping pass past several intervals: one would have pinged us.
	t0 = drpc_now_ns();
	ck_assert(fx_wait_pinged(&f, t0 + 5 * MS));
	raw_hex(&r, "c3 00 00 01 07"); // a PING: dropped
	raw_call(&r, 3, &ctrl);        // anything sent before comes first
	ck_assert_uint_eq(ctrl, 0);
	ck_assert_uint_eq(fx_ctrl_count(&f, DRPC__KIND_PING), 0);
	// A graceful shutdown with a call in flight: no GOAWAY for us, and a
	// new call is refused (Unavailable) once the drain is over.
	raw_send(&r, DRPC__KIND_INVOKE, false, 5, 1, HOLD, strlen(HOLD));
	raw_send(&r, DRPC__KIND_MESSAGE, false, 5, 2, "h", 1);
	ck_assert(fx_wait_held(&f, 1));
	stopper_start(&st, f.srv);
	ck_assert(fx_wait_drained(&f));
	raw_send(&r, DRPC__KIND_INVOKE, false, 7, 1, ECHO, strlen(ECHO));
	raw_until(&r, DRPC__KIND_ERROR, 7, &fr, &ctrl);
	ck_assert_uint_ge(fr.len, 8);
	ck_assert_uint_eq(fr.data[7], DRPC_EUNAVAIL);
	fx_open_gate(&f);
	raw_until(&r, DRPC__KIND_CLOSE_SEND, 5, &fr, &ctrl); // it finished
	ck_assert_uint_eq(ctrl + frames_rest(&r.fr, 0), 0);
	drpc__thread_join(st.t);
	DRPC_CHECK_OK(st.rv);
	raw_close(&r);
	fx_stop(&f);
}

START_TEST(test_ctrl_server_plain_clients)
{
	drpc_server_opts so    = {.ping_interval_ms = 1};
	drpc_server_opts plain = {.ping_interval_ms = 1,
	    .multiplex = DRPC_MULTIPLEX_OFF};

	plain_client_case(&so, 0);
	plain_client_case(&so, DRPC__HELLO_FLOW | DRPC__HELLO_MUX);
	plain_client_case(&plain, DRPC__HELLO_FLOW | DRPC__HELLO_MUX |
				      DRPC__HELLO_CTRL);
}
END_TEST

// Nonconforming control frames from a peer with the extension are
// dropped, never fatal; the next conforming PING is answered, first.
START_TEST(test_ctrl_server_drops_nonconforming)
{
	fx          f;
	raw         r;
	int         fd;
	drpc__frame fr;
	size_t      ctrl = 0;
	uint8_t     body[DRPC__HELLO_BODY_MAX];
	uint64_t    v;

	fx_start(&f, NULL);
	DRPC_CHECK_OK(drpc__dial(f.addr, 0, &fd));
	raw_init(&r, fd);
	raw_send(&r, DRPC__KIND_INVOKE, false, 1, 1, ECHO, strlen(ECHO));
	raw_send(&r, DRPC__KIND_HELLO, true, 1, 2, body,
	    hello_body(body, DRPC__HELLO_MUX | DRPC__HELLO_CTRL));
	raw_send(&r, DRPC__KIND_MESSAGE, false, 1, 3, "hi", 2);
	raw_send(&r, DRPC__KIND_CLOSE_SEND, false, 1, 4, NULL, 0);
	raw_until(&r, DRPC__KIND_CLOSE_SEND, 1, &fr, &ctrl);
	for (size_t i = 0; i < sizeof(nonconforming) / sizeof(nonconforming[0]);
	     i++) {
		raw_hex(&r, nonconforming[i]);
	}
	raw_hex(&r, "c5 00 00 01 09"); // an ACK of no PING of the server's
	raw_hex(&r, "c9 00 00 01 00"); // a GOAWAY ACK of no GOAWAY
	raw_hex(&r, "c7 00 00 01 00"); // a GOAWAY sent to a server
	raw_hex(&r, "c3 00 00 02 ac 02"); // PING 300
	raw_until(&r, DRPC__KIND_PING_ACK, 0, &fr, &ctrl);
	ck_assert_uint_eq(ctrl, 1);
	ck_assert(drpc__ctrl_parse(&fr, &v));
	ck_assert_uint_eq(v, 300);
	raw_call(&r, 3, &ctrl); // the connection carries on
	raw_close(&r);
	fx_stop(&f);
}
END_TEST

// GOAWAY.

// The client side of the GOAWAY test: a libdrpc connection whose reader
// holds a GOAWAY back (ctrl_hook) until the test lets it go.
typedef struct gcli {
	drpc__conn     *c;
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	// Guarded by mu:
	bool   in_hook;   // the reader holds a GOAWAY
	bool   let_go;    // ...and may go on
	size_t on_goaway; // on_goaway calls
} gcli;

static void
gcli_hook(void *arg, unsigned kind)
{
	gcli   *g  = arg;
	int64_t dl = drpc__now_ns() + WAIT_NS;

	if (kind != DRPC__KIND_GOAWAY) {
		return;
	}
	drpc__mutex_lock(&g->mu);
	g->in_hook = true;
	drpc__cond_broadcast(&g->cv);
	while (!g->let_go &&
	       drpc__cond_wait_until(&g->cv, &g->mu, dl) == DRPC_OK) {
	}
	drpc__mutex_unlock(&g->mu);
}

static void
gcli_on_goaway(void *arg)
{
	gcli *g = arg;

	drpc__mutex_lock(&g->mu);
	g->on_goaway++;
	drpc__cond_broadcast(&g->cv);
	drpc__mutex_unlock(&g->mu);
}

static bool
gcli_wait(gcli *g, const bool *flag, const size_t *count)
{
	int64_t dl = drpc__now_ns() + WAIT_NS;
	bool    done;

	drpc__mutex_lock(&g->mu);
	while (!(done = flag != NULL ? *flag : *count > 0) &&
	       drpc__cond_wait_until(&g->cv, &g->mu, dl) == DRPC_OK) {
	}
	drpc__mutex_unlock(&g->mu);
	return done;
}

static void
gcli_open(gcli *g, const char *addr)
{
	drpc__conn_opts o = {.on_goaway = gcli_on_goaway, .ctrl_hook = gcli_hook,
	    .hook_arg = g, .arg = g};
	drpc_transport *tr;
	int             fd;

	memset(g, 0, sizeof(*g));
	drpc__mutex_init(&g->mu);
	drpc__cond_init(&g->cv);
	DRPC_CHECK_OK(drpc__dial(addr, 0, &fd));
	DRPC_CHECK_OK(drpc_transport_create_fd(&tr, fd));
	DRPC_CHECK_OK(drpc__conn_create(&g->c, tr, &o));
}

static void
gcli_let_go(gcli *g)
{
	drpc__mutex_lock(&g->mu);
	g->let_go = true;
	drpc__cond_broadcast(&g->cv);
	drpc__mutex_unlock(&g->mu);
}

static void
gcli_close(gcli *g)
{
	gcli_let_go(g);
	drpc__conn_destroy(g->c);
	drpc__cond_fini(&g->cv);
	drpc__mutex_fini(&g->mu);
}

// reply_is receives the one reply of s and compares it.
static void
reply_is(drpc__stream *s, const char *want)
{
	const uint8_t *data;
	size_t         len;

	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_mem_eq(data, want, len);
	drpc__stream_recv_done(s);
}

// A graceful shutdown with a call in flight: the client takes the GOAWAY;
// a call it opened before it did (the reader held the GOAWAY back) is
// served, not refused; a call after it fails at once with DRPC_EUNAVAIL,
// the connection draining; the call in flight completes; on_goaway ran
// once; the shutdown finishes in time, and the server closes the
// connection.
START_TEST(test_ctrl_goaway)
{
	fx                    f;
	gcli                  g;
	stopper               st;
	drpc__stream         *held;
	drpc__stream         *raced;
	drpc__stream         *late;
	drpc_cause            why;
	drpc__conn_ctrl_stats cs;

	fx_start(&f, NULL);
	gcli_open(&g, f.addr);
	DRPC_CHECK_OK(tu_open(g.c, NULL, HOLD, "h", 1, true, &held));
	ck_assert(fx_wait_held(&f, 1));
	ck_assert(drpc__conn_ctrl_ok(g.c));
	stopper_start(&st, f.srv);
	ck_assert(gcli_wait(&g, &g.in_hook, NULL)); // GOAWAY read, held
	ck_assert(!drpc__conn_draining(g.c));
	DRPC_CHECK_OK(tu_open(g.c, NULL, ECHO, "raced", 5, true, &raced));
	gcli_let_go(&g);
	reply_is(raced, "raced"); // served though the server is stopping
	ck_assert(gcli_wait(&g, NULL, &g.on_goaway));
	ck_assert(drpc__conn_draining(g.c));
	DRPC_CHECK_ERR(tu_open(g.c, NULL, ECHO, "late", 4, true, &late),
	    DRPC_EUNAVAIL);
	DRPC_CHECK_ERR(drpc__conn_drain_cause(g.c, &why), DRPC_EUNAVAIL);
	ck_assert_msg(strstr(why.text, "shutting down") != NULL, "%s", why.text);
	DRPC_CHECK_OK(drpc__conn_err(g.c)); // draining, not ended
	ck_assert(fx_wait_drained(&f));
	DRPC_CHECK_OK(f.drain_rv); // acknowledged, before the deadline
	fx_open_gate(&f);
	reply_is(held, "held");
	drpc__thread_join(st.t);
	DRPC_CHECK_OK(st.rv);
	DRPC_CHECK_ERR(tu_wait_conn_err(g.c), DRPC_ECLOSED);
	drpc__conn_ctrl_stats_get(g.c, &cs);
	ck_assert(cs.goaway);
	drpc__mutex_lock(&g.mu);
	ck_assert_uint_eq(g.on_goaway, 1);
	drpc__mutex_unlock(&g.mu);
	ck_assert_uint_eq(fx_ctrl_count(&f, DRPC__KIND_GOAWAY_ACK), 1);
	drpc__stream_destroy(raced);
	drpc__stream_destroy(held);
	gcli_close(&g);
	fx_stop(&f);
}
END_TEST

// TCP keepalive.

// sock_ka reads fd's keepalive settings: on, idle, interval, count.
static void
sock_ka(int fd, int v[4])
{
	socklen_t len = sizeof(int);

	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v[0], &len), 0);
	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v[1], &len), 0);
	ck_assert_int_eq(
	    getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v[2], &len), 0);
	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v[3], &len), 0);
}

static int
sock_port(const struct sockaddr_storage *ss)
{
	return ntohs(((const struct sockaddr_in *) ss)->sin_port);
}

// find_ends finds, among this process's descriptors, the client's and the
// server's ends of the one TCP connection to port.
static void
find_ends(int port, int *cli, int *srv)
{
	*cli = *srv = -1;
	for (int fd = 0; fd < 1024; fd++) {
		struct sockaddr_storage me;
		struct sockaddr_storage peer;
		socklen_t               ml = sizeof(me);
		socklen_t               pl = sizeof(peer);

		if (getsockname(fd, (struct sockaddr *) &me, &ml) < 0 ||
		    me.ss_family != AF_INET ||
		    getpeername(fd, (struct sockaddr *) &peer, &pl) < 0) {
			continue;
		}
		if (sock_port(&peer) == port) {
			*cli = fd;
		} else if (sock_port(&me) == port) {
			*srv = fd;
		}
	}
	ck_assert_int_ge(*cli, 0);
	ck_assert_int_ge(*srv, 0);
}

static void
keepalive_case(int64_t cli_ms, int64_t srv_ms, const int want_cli[4],
    const int want_srv[4])
{
	fx               f;
	drpc_conn       *cc;
	drpc_conn_opts   o  = {.tcp_keepalive_ms = cli_ms};
	drpc_server_opts so = {.tcp_keepalive_ms = srv_ms};
	void            *reply;
	size_t           len;
	int              cli;
	int              srv;
	int              got[4];

	fx_start(&f, &so);
	DRPC_CHECK_OK(drpc_dial(&cc, f.addr, &o));
	// Served (so accepted, its options set) once the call is answered.
	DRPC_CHECK_OK(
	    drpc_invoke(cc, NULL, ECHO, "a", 1, NULL, &reply, &len, NULL));
	drpc_free(reply);
	find_ends(atoi(strrchr(f.addr, ':') + 1), &cli, &srv);
	sock_ka(cli, got);
	for (int i = 0; i < (want_cli[0] ? 4 : 1); i++) {
		ck_assert_int_eq(got[i], want_cli[i]);
	}
	sock_ka(srv, got);
	for (int i = 0; i < (want_srv[0] ? 4 : 1); i++) {
		ck_assert_int_eq(got[i], want_srv[i]);
	}
	drpc_conn_destroy(cc);
	fx_stop(&f);
}

START_TEST(test_ctrl_tcp_keepalive)
{
	static const int dflt[4]  = {1, 60, 10, 3};
	static const int five[4]  = {1, 5, 5, 3};
	static const int ninety[4] = {1, 90, 10, 3};
	static const int off[4]   = {0, 0, 0, 0};

	keepalive_case(0, 0, dflt, dflt);
	keepalive_case(4500, 90000, five, ninety); // whole seconds, up
	keepalive_case(-1, -1, off, off);
}
END_TEST

Suite *
ctrl_suite(void)
{
	Suite *s    = suite_create("ctrl");
	TCase *wire = tcase_create("wire");
	TCase *ping = tcase_create("ping");
	TCase *plain = tcase_create("plain");
	TCase *drain = tcase_create("goaway");
	TCase *tcp   = tcase_create("keepalive");

	tcase_add_loop_test(wire, test_ctrl_golden, 0,
	    (int) (sizeof(golden) / sizeof(golden[0])));
	tcase_add_test(wire, test_ctrl_roundtrip);
	tcase_add_loop_test(wire, test_ctrl_rejects, 0,
	    (int) (sizeof(nonconforming) / sizeof(nonconforming[0])));
	tcase_add_test(wire, test_ctrl_hello_features);
	tcase_add_test(ping, test_ctrl_negotiated);
	tcase_add_test(ping, test_ctrl_ping_answered);
	tcase_add_test(ping, test_ctrl_keeper_pings);
	tcase_add_test(ping, test_ctrl_reaper_pings);
	tcase_add_test(ping, test_ctrl_stopped_peer);
	tcase_add_test(plain, test_ctrl_client_plain_peer);
	tcase_add_test(plain, test_ctrl_server_plain_clients);
	tcase_add_test(plain, test_ctrl_server_drops_nonconforming);
	tcase_add_test(drain, test_ctrl_goaway);
	tcase_add_test(tcp, test_ctrl_tcp_keepalive);
	tcase_set_timeout(ping, 60);
	tcase_set_timeout(plain, 60);
	tcase_set_timeout(drain, 60);
	tcase_set_timeout(tcp, 60);
	suite_add_tcase(s, wire);
	suite_add_tcase(s, ping);
	suite_add_tcase(s, plain);
	suite_add_tcase(s, drain);
	suite_add_tcase(s, tcp);
	return s;
}
