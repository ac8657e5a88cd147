// Control frames (issue 16, docs/protocol.md §14) on a real server: its
// reaper's pings and a client's keeper thread, a stopped peer detected,
// clients without the extension (no control frame, new calls refused on
// shutdown as before), nonconforming frames dropped, a graceful
// shutdown's GOAWAY with calls that race it; and TCP keepalive on both
// ends of a dialed connection.
//
// Nothing here waits for time (test/README.md): a test that shows that
// something was NOT sent waits for the event that would have sent it (a
// ping pass of the reaper past several intervals: the pinged hook) and
// reads the peer's bytes up to a reply that follows it; the interleaving
// of a GOAWAY and a call is forced with the reader's ctrl_hook, or by
// writing the call and the GOAWAY ACK in one write.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "common/buf.h"
#include "connutil.h"
#include "ctrlutil.h"
#include "fixture.h"
#include "platform/thread.h"
#include "server/hooks.h"
#include "suites.h"
#include "testutil.h"
#include "transport/addr.h"
#include "wire/control.h"
#include "wire/flowctl.h"
#include "wire/reader.h"

#define WAIT_NS tu_bound_ns(TU_WAIT_NS)
#define ECHO    CR_ECHO
#define HOLD    CR_HOLD
#define MS      CR_MS

// A server on the public API, its hooks observed.

typedef struct fx {
	drpc_mux       *mux;
	drpc_server    *srv;
	char            addr[300];
	tu_sync         sync;
	// Guarded by sync:
	size_t   held;     // Hold handlers holding their stream
	bool     open;     // ...which may return
	size_t   ctrl[64]; // control frames the server's readers took
	int64_t  pinged;   // the reaper's last ping pass; 0: none
	bool     drained;  // a shutdown's drain phase is over
	drpc_err drain_rv;
} fx;

static void
fx_ctrl(void *arg, unsigned kind)
{
	fx *f = arg;

	tu_sync_add(&f->sync, &f->ctrl[kind & 63], 1);
}

static void
fx_pinged(void *arg, int64_t now_ns)
{
	fx *f = arg;

	tu_sync_lock(&f->sync);
	f->pinged = now_ns;
	tu_sync_unlock_broadcast(&f->sync);
}

static void
fx_drained(void *arg, drpc_err rv)
{
	fx *f = arg;

	tu_sync_lock(&f->sync);
	f->drained  = true;
	f->drain_rv = rv;
	tu_sync_unlock_broadcast(&f->sync);
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
	tu_sync_lock(&f->sync);
	f->held++;
	drpc__cond_broadcast(&f->sync.cv);
	while (!f->open && rv == DRPC_OK) {
		rv = drpc__cond_wait_until(&f->sync.cv, &f->sync.mu, dl);
	}
	tu_sync_unlock(&f->sync);
	return rv != DRPC_OK ? rv : drpc_stream_send(s, "held", 4);
}

static void
fx_start(fx *f, const drpc_server_opts *o)
{
	drpc_server_opts   so = o != NULL ? *o : (drpc_server_opts){0};
	drpc__server_hooks h  = {.ctrl = fx_ctrl,
	     .pinged                   = fx_pinged,
	     .drained                  = fx_drained,
	     .arg                      = f};

	memset(f, 0, sizeof(*f));
	tu_sync_init(&f->sync);
	DRPC_CHECK_OK(drpc_mux_create(&f->mux));
	DRPC_CHECK_OK(drpc_mux_register(f->mux, ECHO, tf_h_echo, NULL));
	DRPC_CHECK_OK(drpc_mux_register(f->mux, HOLD, h_hold, f));
	DRPC_CHECK_OK(drpc_server_create(&f->srv, f->mux, &so));
	drpc__server_set_hooks(f->srv, &h);
	DRPC_CHECK_OK(drpc_server_listen(f->srv, "tcp://127.0.0.1:0"));
	DRPC_CHECK_OK(drpc_server_addr(f->srv, f->addr, sizeof(f->addr)));
}

static void
fx_open_gate(fx *f)
{
	tu_sync_set(&f->sync, &f->open, true);
}

static void
fx_stop(fx *f)
{
	fx_open_gate(f);
	(void) drpc_server_shutdown(f->srv, drpc_now_ns() + WAIT_NS);
	drpc_server_destroy(f->srv);
	drpc_mux_destroy(f->mux);
	tu_sync_fini(&f->sync);
}

// fx_peer dials f's server as a raw peer r and opens stream 1 on method:
// its Invoke, then, unless hello_features is 0, a Hello with them.
static void
fx_peer(fx *f, rp_peer *r, const char *method, uint64_t hello_features)
{
	uint8_t body[DRPC__HELLO_BODY_MAX];
	int     fd;

	DRPC_CHECK_OK(drpc__dial(f->addr, 0, &fd));
	rp_init(r, fd);
	rp_send(r, DRPC__KIND_INVOKE, false, 1, 1, method, strlen(method));
	if (hello_features != 0) {
		rp_send(r, DRPC__KIND_HELLO, true, 1, 2, body,
		    rp_hello_default(body, hello_features));
	}
}

// What fx_wait waits for: FX_CTRL, n control frames of kind taken by
// the server's readers; FX_PINGED, a ping pass of the reaper as of n or
// later; FX_HELD, n Hold handlers holding; FX_DRAINED, a shutdown's drain
// phase over.
typedef enum fx_event { FX_CTRL, FX_PINGED, FX_HELD, FX_DRAINED } fx_event;

static bool
fx_reached(const fx *f, fx_event e, unsigned kind, int64_t n)
{
	switch (e) {
	case FX_CTRL:
		return f->ctrl[kind] >= (size_t) n;
	case FX_PINGED:
		return f->pinged >= n;
	case FX_HELD:
		return f->held >= (size_t) n;
	case FX_DRAINED:
		return f->drained;
	}
	return false;
}

// fx_wait waits (WAIT_NS) for the event; false if it never comes.
static bool
fx_wait(fx *f, fx_event e, unsigned kind, int64_t n)
{
	int64_t dl = drpc_now_ns() + WAIT_NS;
	bool    done;

	tu_sync_lock(&f->sync);
	while (!(done = fx_reached(f, e, kind, n)) &&
	       drpc__cond_wait_until(&f->sync.cv, &f->sync.mu, dl) == DRPC_OK) {
	}
	tu_sync_unlock(&f->sync);
	return done;
}

static size_t
fx_ctrl_count(fx *f, unsigned kind)
{
	return tu_sync_get(&f->sync, &f->ctrl[kind]);
}

// A shutdown on a thread of its own (it blocks until the drain is done).
typedef struct stopper {
	pthread_t    t;
	drpc_server *srv;
	int64_t      deadline_ns;
	drpc_err     rv; // read after the join
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
	ck_assert(fx_wait(&f, FX_CTRL, DRPC__KIND_PING, 3));
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
	ck_assert(fx_wait(&f, FX_CTRL, DRPC__KIND_PING_ACK, 3));
	DRPC_CHECK_OK(drpc_conn_err(cc));
	drpc_conn_destroy(cc);
	fx_stop(&f);
}
END_TEST

// A stopped peer: a raw-peer server answers the hello with bit 4, then never
// answers a ping. A call without a deadline ends with DRPC_EUNAVAIL and
// the ping's cause (it would wait for ever without the keeper).
START_TEST(test_ctrl_stopped_peer)
{
	int            sv[2];
	rp_peer        r;
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
	rp_init(&r, sv[1]);
	DRPC_CHECK_OK(
	    drpc_stream_open_request(&s, cc, NULL, ECHO, "q", 1, NULL));
	rp_until(&r, DRPC__KIND_HELLO, 1, &f, &ctrl);
	ck_assert(drpc__hello_parse(&f, &h));
	ck_assert(h.features & DRPC__HELLO_CTRL); // a client always says so
	rp_send(&r, DRPC__KIND_HELLO, true, 1, 1, body,
	    rp_hello_default(body, DRPC__HELLO_MUX | DRPC__HELLO_CTRL));
	DRPC_CHECK_ERR(drpc_stream_recv(s, &data, &len), DRPC_EUNAVAIL);
	// At most the one PING came (a stop drops what was not written).
	ck_assert_uint_le(ctrl + rp_frames_rest(&r.fr, DRPC__KIND_PING), 1);
	DRPC_CHECK_ERR(drpc_conn_cause(cc, &why), DRPC_EUNAVAIL);
	ck_assert_msg(
	    strstr(why.text, "did not answer a ping") != NULL, "%s", why.text);
	drpc_stream_destroy(s);
	drpc_conn_destroy(cc);
	rp_close(&r);
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
	rp_peer     r;
	drpc__frame fr;
	size_t      ctrl = 0;
	int64_t     t0;
	stopper     st;

	fx_start(&f, so);
	fx_peer(&f, &r, ECHO, hello_features);
	rp_send(&r, DRPC__KIND_MESSAGE, false, 1, 3, "hi", 2);
	rp_send(&r, DRPC__KIND_CLOSE_SEND, false, 1, 4, NULL, 0);
	rp_until(&r, DRPC__KIND_CLOSE_SEND, 1, &fr, &ctrl);
	// A ping pass past several intervals: one would have pinged us.
	t0 = drpc_now_ns();
	ck_assert(fx_wait(&f, FX_PINGED, 0, t0 + 5 * MS));
	rp_hex(&r, "c3 00 00 01 07"); // a PING: dropped
	rp_call(
	    &r, 3, CR_ECHO, "hi", 2, &ctrl); // anything sent before comes first
	ck_assert_uint_eq(ctrl, 0);
	ck_assert_uint_eq(fx_ctrl_count(&f, DRPC__KIND_PING), 0);
	// A graceful shutdown with a call in flight: no GOAWAY for us, and a
	// new call is refused (Unavailable) once the drain is over.
	rp_send(&r, DRPC__KIND_INVOKE, false, 5, 1, HOLD, strlen(HOLD));
	rp_send(&r, DRPC__KIND_MESSAGE, false, 5, 2, "h", 1);
	ck_assert(fx_wait(&f, FX_HELD, 0, 1));
	stopper_start(&st, f.srv);
	ck_assert(fx_wait(&f, FX_DRAINED, 0, 0));
	rp_send(&r, DRPC__KIND_INVOKE, false, 7, 1, ECHO, strlen(ECHO));
	rp_until(&r, DRPC__KIND_ERROR, 7, &fr, &ctrl);
	ck_assert_uint_ge(fr.len, 8);
	ck_assert_uint_eq(fr.data[7], DRPC_EUNAVAIL);
	fx_open_gate(&f);
	rp_until(&r, DRPC__KIND_CLOSE_SEND, 5, &fr, &ctrl); // it finished
	ck_assert_uint_eq(ctrl + rp_frames_rest(&r.fr, 0), 0);
	drpc__thread_join(st.t);
	DRPC_CHECK_OK(st.rv);
	rp_close(&r);
	fx_stop(&f);
}

START_TEST(test_ctrl_server_plain_clients)
{
	drpc_server_opts so    = {.ping_interval_ms = 1};
	drpc_server_opts plain = {
	    .ping_interval_ms = 1, .multiplex = DRPC_MULTIPLEX_OFF};

	plain_client_case(&so, 0);
	plain_client_case(&so, DRPC__HELLO_FLOW | DRPC__HELLO_MUX);
	plain_client_case(
	    &plain, DRPC__HELLO_FLOW | DRPC__HELLO_MUX | DRPC__HELLO_CTRL);
}
END_TEST

// Nonconforming control frames from a peer with the extension are
// dropped, never fatal; the next conforming PING is answered, first.
START_TEST(test_ctrl_server_drops_nonconforming)
{
	fx          f;
	rp_peer     r;
	drpc__frame fr;
	size_t      ctrl = 0;
	uint64_t    v;

	fx_start(&f, NULL);
	fx_peer(&f, &r, ECHO, DRPC__HELLO_MUX | DRPC__HELLO_CTRL);
	rp_send(&r, DRPC__KIND_MESSAGE, false, 1, 3, "hi", 2);
	rp_send(&r, DRPC__KIND_CLOSE_SEND, false, 1, 4, NULL, 0);
	rp_until(&r, DRPC__KIND_CLOSE_SEND, 1, &fr, &ctrl);
	for (size_t i = 0; i < CR_NONCONFORMING; i++) {
		rp_hex(&r, cr_nonconforming[i]);
	}
	rp_hex(&r, "c5 00 00 01 09");    // an ACK of no PING of the server's
	rp_hex(&r, "c9 00 00 01 00");    // a GOAWAY ACK of no GOAWAY
	rp_hex(&r, "c7 00 00 01 00");    // a GOAWAY sent to a server
	rp_hex(&r, "c3 00 00 02 ac 02"); // PING 300
	rp_until(&r, DRPC__KIND_PING_ACK, 0, &fr, &ctrl);
	ck_assert_uint_eq(ctrl, 1);
	ck_assert(drpc__ctrl_parse(&fr, &v));
	ck_assert_uint_eq(v, 300);
	rp_call(&r, 3, CR_ECHO, "hi", 2, &ctrl); // the connection carries on
	rp_close(&r);
	fx_stop(&f);
}
END_TEST

// GOAWAY.

// The client side of the GOAWAY test: a libdrpc connection whose reader
// holds a GOAWAY back (ctrl_hook) until the test lets it go.
typedef struct gcli {
	drpc__conn *c;
	tu_sync     sync;
	// Guarded by sync:
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
	tu_sync_lock(&g->sync);
	g->in_hook = true;
	drpc__cond_broadcast(&g->sync.cv);
	while (!g->let_go &&
	       drpc__cond_wait_until(&g->sync.cv, &g->sync.mu, dl) == DRPC_OK) {
	}
	tu_sync_unlock(&g->sync);
}

static void
gcli_on_goaway(void *arg)
{
	gcli *g = arg;

	tu_sync_add(&g->sync, &g->on_goaway, 1);
}

static bool
gcli_wait(gcli *g, const bool *flag, const size_t *count)
{
	if (flag != NULL) {
		return tu_sync_wait_flag(&g->sync, flag, TU_WAIT_NS);
	}
	return tu_sync_wait(&g->sync, count, 1, TU_WAIT_NS) > 0;
}

static void
gcli_open(gcli *g, const char *addr)
{
	drpc__conn_opts o = {.on_goaway = gcli_on_goaway,
	    .ctrl_hook                  = gcli_hook,
	    .hook_arg                   = g,
	    .arg                        = g};
	drpc_transport *tr;
	int             fd;

	memset(g, 0, sizeof(*g));
	tu_sync_init(&g->sync);
	DRPC_CHECK_OK(drpc__dial(addr, 0, &fd));
	DRPC_CHECK_OK(drpc_transport_create_fd(&tr, fd));
	DRPC_CHECK_OK(drpc__conn_create(&g->c, tr, &o));
}

static void
gcli_let_go(gcli *g)
{
	tu_sync_set(&g->sync, &g->let_go, true);
}

static void
gcli_close(gcli *g)
{
	gcli_let_go(g);
	drpc__conn_destroy(g->c);
	tu_sync_fini(&g->sync);
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
	ck_assert(fx_wait(&f, FX_HELD, 0, 1));
	// The server's answer to the hello (on the held stream) was appended
	// before the handler started, but may not have reached the client
	// yet: wait for the client to take it (a poll of the flag, within a
	// bound; nothing signals it).
	{
		int64_t until = drpc_now_ns() + WAIT_NS;

		while (!drpc__conn_ctrl_ok(g.c) && drpc_now_ns() < until) {
			nanosleep(&(struct timespec) {0, 1000000}, NULL);
		}
	}
	ck_assert(drpc__conn_ctrl_ok(g.c));
	stopper_start(&st, f.srv);
	ck_assert(gcli_wait(&g, &g.in_hook, NULL)); // GOAWAY read, held
	ck_assert(!drpc__conn_draining(g.c));
	DRPC_CHECK_OK(tu_open(g.c, NULL, ECHO, "raced", 5, true, &raced));
	gcli_let_go(&g);
	tu_recv_is(raced, "raced"); // served though the server is stopping
	ck_assert(gcli_wait(&g, NULL, &g.on_goaway));
	ck_assert(drpc__conn_draining(g.c));
	DRPC_CHECK_ERR(
	    tu_open(g.c, NULL, ECHO, "late", 4, true, &late), DRPC_EUNAVAIL);
	DRPC_CHECK_ERR(drpc__conn_drain_cause(g.c, &why), DRPC_EUNAVAIL);
	ck_assert_msg(
	    strstr(why.text, "shutting down") != NULL, "%s", why.text);
	DRPC_CHECK_OK(drpc__conn_err(g.c)); // draining, not ended
	ck_assert(fx_wait(&f, FX_DRAINED, 0, 0));
	DRPC_CHECK_OK(f.drain_rv); // acknowledged, before the deadline
	fx_open_gate(&f);
	tu_recv_is(held, "held");
	drpc__thread_join(st.t);
	DRPC_CHECK_OK(st.rv);
	DRPC_CHECK_ERR(tu_wait_conn_err(g.c), DRPC_ECLOSED);
	drpc__conn_ctrl_stats_get(g.c, &cs);
	ck_assert(cs.goaway);
	ck_assert_uint_eq(tu_sync_get(&g.sync, &g.on_goaway), 1);
	ck_assert_uint_eq(fx_ctrl_count(&f, DRPC__KIND_GOAWAY_ACK), 1);
	drpc__stream_destroy(raced);
	drpc__stream_destroy(held);
	gcli_close(&g);
	fx_stop(&f);
}
END_TEST

// The server's side of the ordering, byte for byte: a raw-peer client
// with the extension takes the GOAWAY (its exact bytes), then writes a call and the
// GOAWAY ACK in one write, which the server reads at once: the call,
// written before the ACK, is served; one written after it is refused.
START_TEST(test_ctrl_goaway_ack_order)
{
	static const uint8_t goaway[] = {0xc7, 0x00, 0x00, 0x01, 0x00};
	fx                   f;
	rp_peer              r;
	drpc__frame          fr;
	size_t               ctrl = 0;
	drpc__buf            b = {0};
	stopper              st;

	fx_start(&f, NULL);
	fx_peer(&f, &r, HOLD, DRPC__HELLO_MUX | DRPC__HELLO_CTRL);
	rp_send(&r, DRPC__KIND_MESSAGE, false, 1, 3, "h", 1);
	ck_assert(fx_wait(&f, FX_HELD, 0, 1));
	stopper_start(&st, f.srv);
	rp_until(&r, DRPC__KIND_GOAWAY, 0, &fr, &ctrl);
	ck_assert_uint_eq(ctrl, 1);
	ck_assert_uint_eq(fr.len, 1);
	DRPC_CHECK_OK(drpc__ctrl_append(&b, DRPC__KIND_GOAWAY, 0));
	ck_assert_mem_eq(b.data, goaway, sizeof(goaway));
	b.len = 0;
	rp_unary(&b, 3, 1, ECHO, "raced", 5, 5);
	DRPC_CHECK_OK(drpc__ctrl_append(&b, DRPC__KIND_GOAWAY_ACK, 0));
	rp_send_buf(&r, &b); // in one write
	rp_next_on(&r, 3, &fr);
	ck_assert_uint_eq(fr.kind, DRPC__KIND_MESSAGE); // served
	ck_assert(fx_wait(&f, FX_DRAINED, 0, 0));
	DRPC_CHECK_OK(f.drain_rv);
	rp_send(&r, DRPC__KIND_INVOKE, false, 5, 1, ECHO, strlen(ECHO));
	rp_next_on(&r, 5, &fr);
	ck_assert_uint_eq(fr.kind, DRPC__KIND_ERROR); // refused
	ck_assert_uint_eq(fr.data[7], DRPC_EUNAVAIL);
	fx_open_gate(&f);
	rp_until(&r, DRPC__KIND_CLOSE_SEND, 1, &fr, &ctrl);
	ck_assert_uint_eq(ctrl + rp_frames_rest(&r.fr, 0), 1);
	drpc__thread_join(st.t);
	DRPC_CHECK_OK(st.rv);
	drpc__buf_fini(&b);
	rp_close(&r);
	fx_stop(&f);
}
END_TEST

// TCP keepalive.

// sock_ka reads fd's keepalive settings: on, idle, interval, count.
static void
sock_ka(int fd, int v[4])
{
	socklen_t len = sizeof(int);

	ck_assert_int_eq(
	    getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v[0], &len), 0);
	ck_assert_int_eq(
	    getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v[1], &len), 0);
	ck_assert_int_eq(
	    getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v[2], &len), 0);
	ck_assert_int_eq(
	    getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v[3], &len), 0);
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
	static const int dflt[4]   = {1, 60, 10, 3};
	static const int five[4]   = {1, 5, 5, 3};
	static const int ninety[4] = {1, 90, 10, 3};
	static const int off[4]    = {0, 0, 0, 0};

	keepalive_case(0, 0, dflt, dflt);
	keepalive_case(4500, 90000, five, ninety); // whole seconds, up
	keepalive_case(-1, -1, off, off);
}
END_TEST

TU_SUITE(ctrl_server,
    TU_TEST("ping", test_ctrl_keeper_pings, .timeout = 60),
    TU_TEST("ping", test_ctrl_reaper_pings),
    TU_TEST("ping", test_ctrl_stopped_peer),
    TU_TEST("plain", test_ctrl_server_plain_clients, .timeout = 60),
    TU_TEST("plain", test_ctrl_server_drops_nonconforming),
    TU_TEST("goaway", test_ctrl_goaway, .timeout = 60),
    TU_TEST("goaway", test_ctrl_goaway_ack_order),
    TU_TEST("keepalive", test_ctrl_tcp_keepalive, .timeout = 60))
