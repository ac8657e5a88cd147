// Multiplexing only where the peer can take it (issue 13): the default
// client against a peer that behaves like upstream Go DRPC (one stream at
// a time, ids only going up) and against a libdrpc server; the explicit
// modes; a server that takes stream ids in any order but never twice; and
// sends over the maximum size that fail one call, never the connection.
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "common/idwin.h"
#include "connutil.h"
#include "echo.drpc.h"
#include "fixture.h"
#include "mux/writer.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"
#include "wire/reader.h"

#define MUX_THREADS 32
#define MUX_CALLS   8

// An upstream-like peer: serves one stream at a time, echoing each
// stream's last message when the client closes its side. Like upstream
// Go DRPC it would abandon the active stream if a new Invoke came before
// it finished, and drop the connection on a frame whose stream id is
// below the active one; here both are counted as violations (and the
// latter ends the connection, as upstream's would).
typedef struct upstream {
	int       fd;
	pthread_t t;
	uint64_t  active;    // the stream being served
	bool      finished;  // ...and answered
	uint8_t   last[64];  // its last message
	size_t    last_len;
	size_t    overlaps;  // an Invoke while another stream was unfinished
	size_t    backwards; // a frame of an id below the active one
	size_t    hellos;
	size_t    served;
} upstream;

static void
up_send(upstream *u, uint8_t kind, uint64_t sid, uint64_t mid,
    const void *body, size_t len)
{
	drpc__buf   b = {0};
	drpc__frame f = {.stream_id = sid, .message_id = mid, .data = body,
	    .len = len, .kind = kind, .done = true};

	if (drpc__frame_append(&b, &f) == DRPC_OK) {
		(void) send(u->fd, b.data, b.len, MSG_NOSIGNAL);
	}
	drpc__buf_fini(&b);
}

static void *
up_main(void *arg)
{
	upstream          *u = arg;
	drpc__frame_reader fr;
	drpc__frame        f;

	drpc__frame_reader_init(&fr, drpc__read_fd, &u->fd, 0);
	while (drpc__frame_reader_next(&fr, &f) == DRPC_OK) {
		if (f.kind == DRPC__KIND_HELLO && f.control) {
			u->hellos++; // an unknown control packet: ignored
			continue;
		}
		if (f.stream_id < u->active) {
			u->backwards++;
			break; // upstream drops the connection
		}
		if (f.stream_id > u->active) {
			if (f.kind != DRPC__KIND_INVOKE &&
			    f.kind != DRPC__KIND_INVOKE_METADATA) {
				continue;
			}
			if (u->active != 0 && !u->finished) {
				u->overlaps++; // upstream abandons the old one
			}
			u->active   = f.stream_id;
			u->finished = false;
			u->last_len = 0;
			continue;
		}
		if (f.kind == DRPC__KIND_MESSAGE && f.len <= sizeof(u->last)) {
			memcpy(u->last, f.data, f.len);
			u->last_len = f.len;
		} else if (f.kind == DRPC__KIND_CLOSE_SEND && !u->finished) {
			up_send(u, DRPC__KIND_MESSAGE, u->active, 1, u->last,
			    u->last_len);
			up_send(u, DRPC__KIND_CLOSE_SEND, u->active, 2, NULL, 0);
			u->finished = true;
			u->served++;
		} else if (f.kind == DRPC__KIND_CANCEL ||
		    f.kind == DRPC__KIND_CLOSE) {
			u->finished = true;
		}
	}
	drpc__frame_reader_fini(&fr);
	shutdown(u->fd, SHUT_RDWR);
	return NULL;
}

// A load: MUX_THREADS threads making MUX_CALLS unary calls each, every
// reply checked against its request.
typedef struct load {
	drpc_conn  *c;
	const char *method;
	atomic_int  ok;
	atomic_int  bad;
	drpc_err    first_err;
} load;

static void *
load_main(void *arg)
{
	load *l = arg;

	for (int i = 0; i < MUX_CALLS; i++) {
		char     req[32];
		void    *rep = NULL;
		size_t   len = 0;
		int      n   = snprintf(req, sizeof(req), "%p-%d", arg, i);
		drpc_err rv  = drpc_invoke(l->c, NULL, l->method, req,
			     (size_t) n, NULL, &rep, &len, NULL);

		if (rv == DRPC_OK && len == (size_t) n &&
		    memcmp(rep, req, len) == 0) {
			atomic_fetch_add(&l->ok, 1);
		} else {
			atomic_fetch_add(&l->bad, 1);
			l->first_err = rv;
		}
		drpc_free(rep);
	}
	return NULL;
}

static void
run_load(load *l)
{
	pthread_t t[MUX_THREADS];

	for (int i = 0; i < MUX_THREADS; i++) {
		DRPC_CHECK_OK(drpc__thread_start(&t[i], "t-load", 0, 0, load_main,
		    l));
	}
	for (int i = 0; i < MUX_THREADS; i++) {
		drpc__thread_join(t[i]);
	}
}

// The default client against the upstream-like peer: 32 threads calling
// at once see every call succeed, and the peer sees strictly one stream at
// a time, ids only going up, and one hello (which it ignores).
START_TEST(test_mux_default_upstream_serial)
{
	upstream u = {0};
	load     l = {.method = "/t/Echo"};
	int      sv[2];
	tu_leak  lk = tu_leak_start();

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	u.fd = sv[1];
	DRPC_CHECK_OK(drpc__thread_start(&u.t, "t-up", 0, 0, up_main, &u));
	DRPC_CHECK_OK(drpc_conn_create_fd(&l.c, sv[0], NULL));
	run_load(&l);
	drpc_conn_destroy(l.c);
	drpc__thread_join(u.t);
	close(sv[1]);
	ck_assert_msg(atomic_load(&l.bad) == 0, "%d calls failed (%s)",
	    atomic_load(&l.bad), drpc_err_name(l.first_err));
	ck_assert_int_eq(atomic_load(&l.ok), MUX_THREADS * MUX_CALLS);
	ck_assert_uint_eq(u.overlaps, 0);
	ck_assert_uint_eq(u.backwards, 0);
	ck_assert_uint_eq(u.served, MUX_THREADS * MUX_CALLS);
	ck_assert_uint_eq(u.hellos, 1);
	tu_leak_check(&lk);
}
END_TEST

// DRPC_MULTIPLEX_OFF (and the old one_stream) send no hello; a client in
// DRPC_MULTIPLEX_ON runs calls at once even against a silent peer.
START_TEST(test_mux_modes_against_upstream)
{
	drpc_conn_opts off = {.multiplex = DRPC_MULTIPLEX_OFF,
	    .flow = DRPC_FLOW_OFF};
	upstream       u   = {0};
	load           l   = {.method = "/t/Echo"};
	int            sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	u.fd = sv[1];
	DRPC_CHECK_OK(drpc__thread_start(&u.t, "t-up", 0, 0, up_main, &u));
	DRPC_CHECK_OK(drpc_conn_create_fd(&l.c, sv[0], &off));
	run_load(&l);
	drpc_conn_destroy(l.c);
	drpc__thread_join(u.t);
	close(sv[1]);
	ck_assert_int_eq(atomic_load(&l.bad), 0);
	ck_assert_uint_eq(u.overlaps + u.backwards + u.hellos, 0);
	// Multiplexing on: two streams open at once, no waiting.
	{
		drpc_conn_opts on = {.multiplex = DRPC_MULTIPLEX_ON};
		drpc_conn     *c;
		drpc_stream   *s1;
		drpc_stream   *s2;
		tu_raw         r = {0};

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		DRPC_CHECK_OK(drpc_conn_create_fd(&c, sv[0], &on));
		DRPC_CHECK_OK(drpc_stream_open(&s1, c, NULL, "/t/A", NULL));
		DRPC_CHECK_OK(drpc_stream_open(&s2, c, NULL, "/t/B", NULL));
		r.fd = sv[1];
		drpc__frame_reader_init(&r.fr, drpc__read_fd, &r.fd, 0);
		{
			drpc__frame f;
			uint64_t    seen = 0;

			while (seen < 2 &&
			    drpc__frame_reader_next(&r.fr, &f) == DRPC_OK) {
				if (f.kind == DRPC__KIND_INVOKE) {
					ck_assert_uint_eq(f.stream_id, seen + 1);
					seen++;
				}
			}
			ck_assert_uint_eq(seen, 2);
		}
		drpc__frame_reader_fini(&r.fr);
		drpc_stream_destroy(s1);
		drpc_stream_destroy(s2);
		drpc_conn_destroy(c);
		close(sv[1]);
	}
}
END_TEST

// Against a libdrpc server the default client runs the same load at once:
// every handler waits until all 32 are inside.
static drpc_err
h_gather_echo(drpc_stream *s, void *user)
{
	void    *req;
	size_t   len;
	drpc_err rv;

	if ((rv = drpc_stream_recv(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	// Echoes even if not all came: the test's check of most says so.
	(void) tf_gather_wait(user, MUX_THREADS, TU_WAIT_NS);
	rv = drpc_stream_send(s, req, len);
	drpc_free(req);
	return rv;
}

// mux_start starts the fixture's server over socketpairs with so (may be
// NULL), /t/Echo its echo, and extra (may be NULL); mux_raw_open serves r, a
// raw peer the test plays, and mux_raw_close closes r and frees the fixture.
static void
mux_start(tf *f, const drpc_server_opts *so, const tf_method *extra)
{
	tf_method m[] = {{"/t/Echo", tf_h_echo, NULL}, {NULL, NULL, NULL}};
	tf_opts   o   = {.net = TF_PAIR,
	        .server       = so,
	        .methods      = m,
	        .nmethods     = extra != NULL ? 2 : 1};

	if (extra != NULL) {
		m[1] = *extra;
	}
	tf_server_start(f, &o);
}

static void
mux_raw_open(tf *f, const drpc_server_opts *so, tu_raw *r)
{
	mux_start(f, so, NULL);
	r->fd = tf_serve_peer(f);
	drpc__frame_reader_init(&r->fr, drpc__read_fd, &r->fd, 0);
}

static void
mux_raw_close(tf *f, tu_raw *r)
{
	drpc__frame_reader_fini(&r->fr);
	close(r->fd);
	tf_free(f);
}

START_TEST(test_mux_default_libdrpc_concurrent)
{
	tf_gather g;
	load      l = {.method = "/t/Gather"};
	tf        f;

	tf_gather_init(&g);
	mux_start(&f, NULL, &(tf_method){"/t/Gather", h_gather_echo, &g});
	l.c = tf_dial(&f, NULL);
	run_load(&l);
	ck_assert_int_eq(atomic_load(&l.bad), 0);
	ck_assert_int_eq(g.most, MUX_THREADS); // all 32 inside at once
	tf_free(&f);                           // and no thread or fd left
	tf_gather_fini(&g);
}
END_TEST


// The id window: ids in any order, each once; far below the top counts as
// taken.
START_TEST(test_mux_idwin)
{
	drpc__idwin w = {0};

	ck_assert(drpc__idwin_taken(&w, 0));
	ck_assert(!drpc__idwin_taken(&w, 7));
	drpc__idwin_take(&w, 7);
	ck_assert(drpc__idwin_taken(&w, 7));
	ck_assert(!drpc__idwin_taken(&w, 3));
	drpc__idwin_take(&w, 3);
	ck_assert(drpc__idwin_taken(&w, 3));
	ck_assert(!drpc__idwin_taken(&w, 5));
	drpc__idwin_take(&w, 7 + DRPC__IDWIN_SPAN - 1);
	ck_assert(drpc__idwin_taken(&w, 7));
	ck_assert(!drpc__idwin_taken(&w, 9));
	drpc__idwin_take(&w, 7 + DRPC__IDWIN_SPAN);
	ck_assert(drpc__idwin_taken(&w, 7)); // below the window now
	ck_assert(!drpc__idwin_taken(&w, 9)); // its old bit was cleared
	drpc__idwin_take(&w, 1000000);
	ck_assert(!drpc__idwin_taken(&w, 1000000 - 1));
	ck_assert(drpc__idwin_taken(&w, 1000000 - DRPC__IDWIN_SPAN));
	for (uint64_t id = 1000001; id < 1000000 + 3 * DRPC__IDWIN_SPAN; id++) {
		if (drpc__idwin_taken(&w, id)) {
			ck_abort_msg("id %llu taken before use",
			    (unsigned long long) id);
		}
		drpc__idwin_take(&w, id);
	}
}
END_TEST

// A multiplexing client (cockroachdb/drpc picks ids at creation and writes
// Invokes later) sends 32 Invokes with ids in a shuffled order: the server
// serves them all. Then an Invoke reusing an ended id ends the connection.
static void
raw_call(tu_raw *r, uint64_t sid)
{
	char name[] = "/t/Echo";
	char msg[16];
	int  n = snprintf(msg, sizeof(msg), "s%llu", (unsigned long long) sid);

	tu_raw_send(r, DRPC__KIND_INVOKE, false, sid, 1, name, strlen(name));
	tu_raw_send(r, DRPC__KIND_MESSAGE, false, sid, 2, msg, (size_t) n);
	tu_raw_send(r, DRPC__KIND_CLOSE_SEND, false, sid, 3, NULL, 0);
}

START_TEST(test_mux_shuffled_ids)
{
	tf          fx;
	tu_raw      r = {0};
	uint64_t    ids[MUX_THREADS];
	bool        got[2 * MUX_THREADS + 2] = {false};
	size_t      replies                  = 0;
	drpc__frame f;
	char        b;

	mux_raw_open(&fx, NULL, &r);
	for (size_t i = 0; i < MUX_THREADS; i++) {
		ids[i] = 2 * i + 1;
	}
	srand(12345); // a fixed shuffle: the same order every run
	for (size_t i = MUX_THREADS - 1; i > 0; i--) {
		size_t   j = (size_t) rand() % (i + 1);
		uint64_t x = ids[i];

		ids[i] = ids[j];
		ids[j] = x;
	}
	for (size_t i = 0; i < MUX_THREADS; i++) {
		raw_call(&r, ids[i]);
	}
	while (replies < MUX_THREADS &&
	    drpc__frame_reader_next(&r.fr, &f) == DRPC_OK) {
		char want[16];
		int  n = snprintf(want, sizeof(want), "s%llu",
		     (unsigned long long) f.stream_id);

		ck_assert_uint_ne(f.kind, DRPC__KIND_ERROR);
		if (f.kind == DRPC__KIND_MESSAGE) {
			ck_assert_uint_lt(f.stream_id, 2 * MUX_THREADS + 2);
			ck_assert(!got[f.stream_id]);
			ck_assert_uint_eq(f.len, (size_t) n);
			ck_assert_mem_eq(f.data, want, f.len);
			got[f.stream_id] = true;
			replies++;
		}
	}
	ck_assert_uint_eq(replies, MUX_THREADS);
	// Reuse of an id that has ended: a protocol violation, which
	// upstream also ends the connection for. The peer reads its end.
	tu_raw_send(&r, DRPC__KIND_INVOKE, false, ids[0], 1, "/t/Echo", 7);
	while (drpc__frame_reader_next(&r.fr, &f) == DRPC_OK) {
	}
	ck_assert_int_eq(recv(r.fd, &b, 1, 0), 0);
	mux_raw_close(&fx, &r);
}
END_TEST

// A libdrpc server set not to announce multiplexing answers no hello, so
// clients take it for a plain DRPC server; the default server answers the
// first one, before its reply. A raw client sends Invoke, hello, Message
// and CloseSend on stream 1 and reads until the server's CloseSend.
static size_t
hellos_answered(const drpc_server_opts *so)
{
	drpc__hello  h = {DRPC__HELLO_VERSION, 1 << 20, 64, 16 << 20,
	     DRPC__HELLO_FLOW | DRPC__HELLO_MUX};
	uint8_t      body[DRPC__HELLO_BODY_MAX];
	size_t       len = drpc__hello_put(body, &h);
	tf           fx;
	tu_raw       r = {0};
	drpc__frame  f;
	size_t       hellos = 0;

	mux_raw_open(&fx, so, &r);
	tu_raw_send(&r, DRPC__KIND_INVOKE, false, 1, 1, "/t/Echo", 7);
	tu_raw_send(&r, DRPC__KIND_HELLO, true, 1, 2, body, len);
	tu_raw_send(&r, DRPC__KIND_MESSAGE, false, 1, 3, "m", 1);
	tu_raw_send(&r, DRPC__KIND_CLOSE_SEND, false, 1, 4, NULL, 0);
	do {
		DRPC_CHECK_OK(drpc__frame_reader_next(&r.fr, &f));
		hellos += f.kind == DRPC__KIND_HELLO && f.control;
	} while (f.kind != DRPC__KIND_CLOSE_SEND);
	mux_raw_close(&fx, &r);
	return hellos;
}

START_TEST(test_mux_server_off_no_hello)
{
	drpc_server_opts off = {.multiplex = DRPC_MULTIPLEX_OFF};

	ck_assert_uint_eq(hellos_answered(NULL), 1);
	ck_assert_uint_eq(hellos_answered(&off), 0);
}
END_TEST

// A frame over a server's maximum that the reader skips still gives the
// connection credit it used back: ten refused 60 KB calls (600 KB) to a
// server with a 16 KiB maximum and a 256 KiB connection window, then a
// 1-byte call must go through.
START_TEST(test_mux_skip_returns_credit)
{
	drpc_server_opts so = {.max_msg_size = 16 * 1024,
	    .conn_window = 256 * 1024};
	drpc_call_opts   to = {.timeout_ms = tu_bound_ns(TU_WAIT_NS) / 1000000};
	tf               f;
	drpc_conn       *c;
	uint8_t         *big = calloc(1, 60000);
	void            *rep;
	size_t           len;

	ck_assert_ptr_nonnull(big);
	mux_start(&f, &so, NULL);
	c = tf_dial(&f, NULL);
	DRPC_CHECK_OK(drpc_invoke(c, NULL, "/t/Echo", "a", 1, &to, &rep, &len,
	    NULL)); // negotiated: the connection window is in force
	drpc_free(rep);
	for (int i = 0; i < 10; i++) {
		DRPC_CHECK_ERR(drpc_invoke(c, NULL, "/t/Echo", big, 60000, &to,
				   &rep, &len, NULL),
		    DRPC_ERESOURCE);
	}
	DRPC_CHECK_OK(drpc_invoke(c, NULL, "/t/Echo", "b", 1, &to, &rep, &len,
	    NULL));
	ck_assert_uint_eq(len, 1);
	drpc_free(rep);
	tf_free(&f);
	free(big);
}
END_TEST

// Two invokes over the maximum, their frames interleaved (as a
// multiplexing client may write them): both are refused with code 8, the
// rest of their frames dropped, and the connection serves stream 5.
START_TEST(test_mux_refused_invokes_interleaved)
{
	drpc_server_opts so = {.max_msg_size = 1024};
	tf               fx;
	tu_raw           r = {0};
	uint8_t          md[1500];
	drpc__frame      f;
	size_t           refused = 0;
	bool             served  = false;

	memset(md, 0, sizeof(md));
	mux_raw_open(&fx, &so, &r);
	// InvokeMetadata frames of 1500 bytes (over the maximum), not done.
	{
		drpc__buf   b = {0};
		drpc__frame m = {.stream_id = 1, .message_id = 1, .data = md,
		    .len = sizeof(md), .kind = DRPC__KIND_INVOKE_METADATA};

		DRPC_CHECK_OK(drpc__frame_append(&b, &m));
		m.stream_id = 3;
		DRPC_CHECK_OK(drpc__frame_append(&b, &m));
		tu_raw_write(&r, b.data, b.len);
		drpc__buf_fini(&b);
	}
	tu_raw_send(&r, DRPC__KIND_INVOKE, false, 1, 2, "/t/Echo", 7);
	tu_raw_send(&r, DRPC__KIND_INVOKE, false, 3, 2, "/t/Echo", 7);
	raw_call(&r, 5);
	while (!served && drpc__frame_reader_next(&r.fr, &f) == DRPC_OK) {
		if (f.kind == DRPC__KIND_ERROR) {
			uint64_t       code;
			const uint8_t *text;
			size_t         tl;

			ck_assert(f.stream_id == 1 || f.stream_id == 3);
			ck_assert(drpc__errbody_parse(f.data, f.len, &code, &text,
			    &tl));
			ck_assert_uint_eq(code, 8);
			refused++;
		}
		served = f.kind == DRPC__KIND_MESSAGE && f.stream_id == 5;
	}
	ck_assert(served);
	ck_assert_uint_eq(refused, 2);
	mux_raw_close(&fx, &r);
}
END_TEST

// Sends over the maximum fail the call alone, before anything is written,
// at every entry point, while 16 threads keep calling on the same
// connection without a single failure.
#define BUSY_THREADS 16

typedef struct busy {
	drpc_conn  *c;
	atomic_int  stop;
	atomic_int  ok;
	atomic_int  bad;
} busy;

static void *
busy_main(void *arg)
{
	busy *b = arg;

	while (!atomic_load(&b->stop)) {
		void    *rep = NULL;
		size_t   len;
		drpc_err rv = drpc_invoke(b->c, NULL, "/t/Echo", "ping", 4, NULL,
		    &rep, &len, NULL);

		if (rv == DRPC_OK && len == 4 && memcmp(rep, "ping", 4) == 0) {
			atomic_fetch_add(&b->ok, 1);
		} else {
			atomic_fetch_add(&b->bad, 1);
		}
		drpc_free(rep);
	}
	return NULL;
}

// h_small answers "ok" whatever it gets: a call the client wrongly wrote
// would succeed (the server's maximum is larger than the client's).
static drpc_err
h_small(drpc_stream *s, void *user)
{
	drpc_err rv;

	(void) user;
	if ((rv = tf_drop_request(s)) != DRPC_OK) {
		return rv;
	}
	return drpc_stream_send(s, "ok", 2);
}

static drpc_err
h_unary_small(void *user, drpc_stream *s, const Test__Echo__Msg *req,
    Test__Echo__Msg *reply)
{
	(void) user;
	(void) s;
	(void) req;
	(void) reply; // an empty Msg
	return DRPC_OK;
}

// register_small registers the generated Echo service (arg) on m.
static void
register_small(void *arg, drpc_mux *m)
{
	DRPC_CHECK_OK(test__echo__echo_service__register(m, arg));
}

// small_start starts the fixture's server over socketpairs with so,
// /t/Echo, /t/Small and the generated Echo service impl.
static void
small_start(
    tf *f, const drpc_server_opts *so, Test__Echo__EchoService_Server *impl)
{
	const tf_method m[] = {
	    {"/t/Echo", tf_h_echo, NULL},
	    {"/t/Small", h_small, NULL},
	};
	tf_opts o = {.net = TF_PAIR,
	    .server       = so,
	    .methods      = m,
	    .nmethods     = TU_LEN(m),
	    .setup        = register_small,
	    .setup_arg    = impl};

	tf_server_start(f, &o);
}

START_TEST(test_mux_oversize_send_every_entry)
{
	const size_t                   max  = 64 * 1024;
	drpc_conn_opts                 co   = {.max_msg_size = max};
	drpc_server_opts               so   = {.max_msg_size = 16 * max};
	Test__Echo__EchoService_Server impl = {.unary = h_unary_small};
	tf                             f;
	busy                           b = {0};
	pthread_t                      t[BUSY_THREADS];
	uint8_t                       *big = calloc(1, max + 5);
	void                          *rep;
	size_t                         len;
	drpc_stream                   *s;
	Test__Echo__Msg                req    = TEST__ECHO__MSG__INIT;
	Test__Echo__Msg               *reply  = NULL;
	ProtobufCMessage *preply = NULL;
	drpc_md_pair   md  = {"k", 1, (const char *) big, max + 1};
	drpc_call_opts mdo = {.md = &md, .nmd = 1};

	ck_assert_ptr_nonnull(big);
	req.payload.data = big;
	req.payload.len  = max + 1;
	small_start(&f, &so, &impl);
	b.c = tf_dial(&f, &co);
	for (int i = 0; i < BUSY_THREADS; i++) {
		DRPC_CHECK_OK(drpc__thread_start(&t[i], "t-busy", 0, 0,
		    busy_main, &b));
	}
	for (int round = 0; round < 4; round++) {
		DRPC_CHECK_ERR(drpc_invoke(b.c, NULL, "/t/Small", big, max + 1,
				   NULL, &rep, &len, NULL),
		    DRPC_ERESOURCE);
		DRPC_CHECK_ERR(drpc_invoke(b.c, NULL, "/t/Small", "x", 1, &mdo,
				   &rep, &len, NULL),
		    DRPC_ERESOURCE);
		DRPC_CHECK_ERR(drpc_invoke_msg(b.c, NULL, "/t/Small",
				   &req.base, &test__echo__msg__descriptor,
				   &preply, NULL, NULL),
		    DRPC_ERESOURCE);
		DRPC_CHECK_ERR(test__echo__echo_service__unary__invoke(
				   b.c, NULL, &req, &reply, NULL, NULL),
		    DRPC_ERESOURCE);
		ck_assert_ptr_null(reply);
		// Opening a server stream with its request (what the
		// generated server-streaming stubs do).
		s = (drpc_stream *) &b;
		DRPC_CHECK_ERR(drpc_stream_open_request(&s, b.c, NULL,
				   "/t/Small", big, max + 1, NULL),
		    DRPC_ERESOURCE);
		ck_assert_ptr_null(s);
		s = (drpc_stream *) &b;
		DRPC_CHECK_ERR(drpc_stream_open_request_msg(&s, b.c, NULL,
				   "/t/Small", &req.base, NULL),
		    DRPC_ERESOURCE);
		ck_assert_ptr_null(s);
		DRPC_CHECK_OK(drpc_stream_open(&s, b.c, NULL, "/t/Echo", NULL));
		DRPC_CHECK_ERR(drpc_stream_send(s, big, max + 1), DRPC_ERESOURCE);
		DRPC_CHECK_OK(drpc_stream_send(s, "ok", 2));
		DRPC_CHECK_OK(drpc_stream_close_send(s));
		DRPC_CHECK_OK(drpc_stream_recv(s, &rep, &len));
		ck_assert_uint_eq(len, 2);
		drpc_free(rep);
		drpc_stream_destroy(s);
	}
	atomic_store(&b.stop, 1);
	for (int i = 0; i < BUSY_THREADS; i++) {
		drpc__thread_join(t[i]);
	}
	ck_assert_int_eq(atomic_load(&b.bad), 0);
	ck_assert_int_gt(atomic_load(&b.ok), 0);
	DRPC_CHECK_OK(drpc_conn_err(b.c));
	tf_free(&f);
	free(big);
}
END_TEST

// A stream that has ended frees its slot for the next one at once, so a
// CloseSend its own thread appends late could follow the next stream's
// Invoke on the wire, which an upstream-like peer takes as an id going
// backwards. The writer takes nothing but a terminal packet once a
// stream's writing is aborted (as every end does): checked on the writer.
static void
mux_on_error(void *arg, drpc_err err)
{
	(void) arg;
	(void) err;
}

START_TEST(test_mux_nothing_after_end)
{
	drpc__writer    w = {0};
	drpc__wstate    ws;
	drpc_transport *t;
	int             sv[2];
	drpc__packet    cs   = {.kind = DRPC__KIND_CLOSE_SEND};
	drpc__packet    err  = {.kind = DRPC__KIND_ERROR,
	       .data = (const uint8_t *) "\0\0\0\0\0\0\0\x08", .len = 8};
	drpc__frame_reader fr;
	drpc__frame     f;
	int             rfd;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	rfd = sv[1];
	DRPC_CHECK_OK(drpc_transport_create_fd(&t, sv[0]));
	DRPC_CHECK_OK(drpc__writer_start(&w, t, 0, 0, 0, 0, mux_on_error, NULL));
	drpc__wstate_init(&ws, 1, true, 0);
	drpc__writer_wake(&w, &ws); // what a stream's end does first
	DRPC_CHECK_ERR(drpc__writer_send(&w, &ws, &cs, 1, 0, 0),
	    DRPC_ECANCELED);
	DRPC_CHECK_OK(drpc__writer_send(&w, &ws, &err, 1, DRPC__WS_TERMINAL, 0));
	drpc__writer_stop(&w, DRPC_ECLOSED, true);
	drpc__writer_join(&w);
	drpc__frame_reader_init(&fr, drpc__read_fd, &rfd, 0);
	DRPC_CHECK_OK(drpc__frame_reader_next(&fr, &f));
	ck_assert_uint_eq(f.kind, DRPC__KIND_ERROR); // no CloseSend first
	drpc__frame_reader_fini(&fr);
	drpc__writer_fini(&w);
	drpc__wstate_fini(&ws);
	drpc_transport_destroy(t);
	close(sv[1]);
}
END_TEST

// A large Message goes by the direct path (mux/drain.c); when its send
// stops inside a frame, the rest of that frame is copied for the drain
// thread, so the peer gets it whole. If that frame is the Message's last,
// the peer gets the whole Message and charges it (its bytes and the
// per-message charge): so must the sender, and the send succeeded. Forced
// with a deadline already past: the sender makes one write, which a small
// socket buffer takes only part of (the peer reads nothing meanwhile).
START_TEST(test_mux_direct_cut_last_frame_charged)
{
	const size_t       len    = 64 << 10; // one frame, the direct path
	const int64_t      window = 1 << 20;
	const int64_t      cost   = 64;
	const int64_t      charge = (int64_t) len + cost;
	int                sndbuf = 16 << 10;
	struct timeval     bound  = {0};
	drpc__writer       w      = {0};
	drpc__wstate       ws;
	drpc_transport    *t;
	int                sv[2];
	uint8_t           *body = calloc(1, len);
	drpc__packet       msg  = {.kind = DRPC__KIND_MESSAGE, .data = body,
		   .len = len};
	drpc__frame_reader fr;
	drpc__frame        f = {0};
	size_t             got = 0;
	int                rfd;
	drpc_err           rv;
	int64_t            credit, conn_credit;
	uint64_t           msgs;

	ck_assert_ptr_nonnull(body);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
			     sizeof(sndbuf)), 0);
	bound.tv_sec = (time_t) (tu_bound_ns(TU_WAIT_NS) / 1000000000);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &bound,
			     sizeof(bound)), 0); // reads below never hang
	rfd = sv[1];
	DRPC_CHECK_OK(drpc_transport_create_fd(&t, sv[0]));
	DRPC_CHECK_OK(drpc__writer_start(&w, t, 0, 0, 0, 0, mux_on_error, NULL));
	drpc__wstate_init(&ws, 1, true, (uint64_t) cost);
	drpc__writer_gate(&w, &ws, (uint64_t) window, (uint64_t) cost, 1);
	drpc__writer_conn_gate(&w, (uint64_t) window);
	rv = drpc__writer_send(&w, &ws, &msg, 1, 0, 1); // deadline long past
	// The peer gets the whole Message, and nothing more.
	drpc__frame_reader_init(&fr, drpc__read_fd, &rfd, 0);
	while (!f.done && drpc__frame_reader_next(&fr, &f) == DRPC_OK) {
		ck_assert_uint_eq(f.kind, DRPC__KIND_MESSAGE);
		ck_assert_uint_eq(f.message_id, 1);
		got += f.len;
	}
	ck_assert(f.done);
	ck_assert_uint_eq(got, len);
	drpc__mutex_lock(&w.mu);
	credit      = ws.credit;
	conn_credit = w.conn_credit;
	msgs        = ws.msgs;
	drpc__mutex_unlock(&w.mu);
	ck_assert_int_eq(credit, window - charge);
	ck_assert_int_eq(conn_credit, window - charge);
	ck_assert_uint_eq(msgs, 1);
	DRPC_CHECK_OK(rv);
	drpc__writer_stop(&w, DRPC_ECLOSED, true);
	drpc__writer_join(&w);
	drpc__frame_reader_fini(&fr);
	drpc__writer_fini(&w);
	drpc__wstate_fini(&ws);
	drpc_transport_destroy(t);
	close(sv[1]);
	free(body);
}
END_TEST

TU_SUITE(mux,
    TU_TEST("core", test_mux_default_upstream_serial, .timeout = 60),
    TU_TEST("core", test_mux_modes_against_upstream),
    TU_TEST("core", test_mux_default_libdrpc_concurrent),
    TU_TEST("core", test_mux_server_off_no_hello),
    TU_TEST("core", test_mux_skip_returns_credit),
    TU_TEST("core", test_mux_refused_invokes_interleaved),
    TU_TEST("core", test_mux_idwin),
    TU_TEST("core", test_mux_nothing_after_end),
    TU_TEST("core", test_mux_direct_cut_last_frame_charged),
    TU_TEST("core", test_mux_shuffled_ids),
    TU_TEST("core", test_mux_oversize_send_every_entry))
