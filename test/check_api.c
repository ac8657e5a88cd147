// The public API end to end: a drpc_server with a handler table, clients
// dialing it over loopback TCP and unix sockets, every kind of call,
// metadata, deadlines, status codes, limits and shutdown.
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "fixture.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"
#include "transport/addr.h"
#include "transport/transport.h"

// WAIT_NS bounds the waits for events (times tu_scale()): a failure
// bound, never a synchronisation.
#define WAIT_NS (30 * 1000000000ll)

// h_concat reads until EOF and answers with everything concatenated.
static drpc_err
h_concat(drpc_stream *s, void *user)
{
	char     all[4096];
	size_t   n = 0;
	void    *data;
	size_t   len;
	drpc_err rv;

	(void) user;
	while ((rv = drpc_stream_recv(s, &data, &len)) == DRPC_OK) {
		if (len <= sizeof(all) - n) {
			memcpy(all + n, data, len);
			n += len;
		}
		drpc_free(data);
	}
	return rv == DRPC_EOF ? drpc_stream_send(s, all, n) : rv;
}

// h_bidi echoes every message as it comes.
static drpc_err
h_bidi(drpc_stream *s, void *user)
{
	const void *data;
	size_t      len;
	drpc_err    rv;

	(void) user;
	while ((rv = drpc_stream_recv_view(s, &data, &len)) == DRPC_OK) {
		drpc_err sent = drpc_stream_send(s, data, len);

		drpc_stream_recv_done(s);
		if (sent != DRPC_OK) {
			return sent;
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// h_md answers with the sorted "k=v;" pairs it received.
static int
pair_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static drpc_err
h_md(drpc_stream *s, void *user)
{
	char     pairs[16][64];
	char     out[1024] = {0};
	size_t   n         = drpc_stream_md_count(s);
	drpc_err rv;

	(void) user;
	if ((rv = tf_drop_request(s)) != DRPC_OK) {
		return rv;
	}
	for (size_t i = 0; i < n && i < 16; i++) {
		drpc_md_pair p = drpc_stream_md_at(s, i);

		snprintf(pairs[i], sizeof(pairs[i]), "%.*s=%.*s;",
		    (int) p.key_len, p.key, (int) p.value_len, p.value);
	}
	qsort(pairs, n < 16 ? n : 16, sizeof(pairs[0]), pair_cmp);
	for (size_t i = 0; i < n && i < 16; i++) {
		strcat(out, pairs[i]);
	}
	return drpc_stream_send(s, out, strlen(out));
}

// h_deadline answers with its context's deadline (drpc_now_ns() time,
// in nanoseconds; -1 for none).
static drpc_err
h_deadline(drpc_stream *s, void *user)
{
	int64_t  dl = drpc_ctx_deadline(drpc_stream_ctx(s));
	char     out[32];
	drpc_err rv;

	(void) user;
	if ((rv = tf_drop_request(s)) != DRPC_OK) {
		return rv;
	}
	snprintf(out, sizeof(out), "%lld", dl == 0 ? -1LL : (long long) dl);
	return drpc_stream_send(s, out, strlen(out));
}

// api_echo_twice: a name registers once.
static void
api_echo_twice(void *arg, drpc_mux *m)
{
	(void) arg;
	DRPC_CHECK_ERR(
	    drpc_mux_register(m, TF_ECHO, tf_h_echo, NULL), DRPC_EEXIST);
}

// api_start starts the fixture's server over TCP (i = 0) or a unix
// socket (i = 1) with o, adding the handlers of this suite and extra (may
// be NULL).
static void
api_start(tf *f, int i, const drpc_server_opts *o, const tf_method *extra)
{
	tf_method m[] = {
	    {"/t.S/Concat", h_concat, NULL},
	    {"/t.S/Bidi", h_bidi, NULL},
	    {"/t.S/Md", h_md, NULL},
	    {"/t.S/Deadline", h_deadline, NULL},
	    {NULL, NULL, NULL},
	};
	tf_opts fo = {.net = i == 0 ? TF_TCP : TF_UNIX,
	    .server        = o,
	    .methods       = m,
	    .nmethods      = TU_LEN(m) - 1,
	    .setup         = api_echo_twice};

	if (extra != NULL) {
		m[fo.nmethods++] = *extra;
	}
	tf_server_start(f, &fo);
}

// Unary calls over TCP (_i = 0) and a unix socket (_i = 1), including an
// empty request and reply.
START_TEST(test_api_unary)
{
	tf          f;
	drpc_conn  *c;
	void       *reply;
	size_t      len;
	drpc_status st = {0};

	api_start(&f, _i, NULL, NULL);
	c = tf_dial(&f, NULL);
	DRPC_CHECK_OK(drpc_invoke(c, NULL, "/t.S/Echo", "hi", 2, NULL, &reply,
	    &len, &st));
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(reply, "hi", 2);
	drpc_free(reply);
	DRPC_CHECK_OK(drpc_invoke(c, NULL, "/t.S/Echo", NULL, 0, NULL, &reply,
	    &len, NULL));
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_null(reply);
	DRPC_CHECK_OK(drpc_conn_err(c));
	drpc_status_reset(&st);
	tf_stop(&f);
}
END_TEST

START_TEST(test_api_server_stream)
{
	tf           f;
	drpc_conn   *c;
	drpc_stream *s;
	void        *data;
	size_t       len;

	api_start(&f, _i, NULL, NULL);
	c = tf_dial(&f, NULL);
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, "/t.S/Count", NULL));
	DRPC_CHECK_OK(drpc_stream_send(s, "5", 1));
	DRPC_CHECK_OK(drpc_stream_close_send(s));
	for (int i = 0; i < 5; i++) {
		char want[12];

		snprintf(want, sizeof(want), "%d", i);
		DRPC_CHECK_OK(drpc_stream_recv(s, &data, &len));
		ck_assert_uint_eq(len, strlen(want));
		ck_assert_mem_eq(data, want, len);
		drpc_free(data);
	}
	DRPC_CHECK_ERR(drpc_stream_recv(s, &data, &len), DRPC_EOF);
	drpc_stream_destroy(s);
	tf_stop(&f);
}
END_TEST

START_TEST(test_api_client_stream_and_bidi)
{
	tf           f;
	drpc_conn   *c;
	drpc_stream *s;
	void        *data;
	size_t       len;
	const char  *parts[] = {"a", "bb", "ccc"};

	api_start(&f, _i, NULL, NULL);
	c = tf_dial(&f, NULL);
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, "/t.S/Concat", NULL));
	for (int i = 0; i < 3; i++) {
		DRPC_CHECK_OK(drpc_stream_send(s, parts[i], strlen(parts[i])));
	}
	DRPC_CHECK_OK(drpc_stream_close_send(s));
	DRPC_CHECK_OK(drpc_stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, 6);
	ck_assert_mem_eq(data, "abbccc", 6);
	drpc_free(data);
	DRPC_CHECK_ERR(drpc_stream_recv(s, &data, &len), DRPC_EOF);
	drpc_stream_destroy(s);
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, "/t.S/Bidi", NULL));
	for (int i = 0; i < 3; i++) {
		DRPC_CHECK_OK(drpc_stream_send(s, parts[i], strlen(parts[i])));
		DRPC_CHECK_OK(drpc_stream_recv(s, &data, &len));
		ck_assert_uint_eq(len, strlen(parts[i]));
		ck_assert_mem_eq(data, parts[i], len);
		drpc_free(data);
	}
	DRPC_CHECK_OK(drpc_stream_close_send(s));
	DRPC_CHECK_ERR(drpc_stream_recv(s, &data, &len), DRPC_EOF);
	drpc_stream_destroy(s);
	tf_stop(&f);
}
END_TEST

START_TEST(test_api_metadata_roundtrip)
{
	tf             f;
	drpc_md_pair   md[] = {drpc_md_str("authorization", "Bearer t0k3n"),
	      drpc_md_str("empty", ""), drpc_md_str("x-id", "req-1")};
	drpc_call_opts o    = {.md = md, .nmd = 3};

	api_start(&f, 0, NULL, NULL);
	tf_dial(&f, NULL);
	DRPC_CHECK_OK(tf_call_opts(&f, "/t.S/Md", "", &o, NULL));
	tf_reply_is(&f, "authorization=Bearer t0k3n;empty=;x-id=req-1;");
	tf_stop(&f);
}
END_TEST

// The client's deadline reaches the handler's context (and the reserved
// entry is not shown as metadata); without one the handler has none. The
// client sends the time left when it writes the call; the server adds it
// to its clock when the call arrives, so the handler's deadline is the
// client's, moved later by no more than the call took.
START_TEST(test_api_deadline_propagation)
{
	tf         f;
	drpc_conn *c;
	drpc_ctx  *ctx;
	void      *reply;
	size_t     len;
	char       num[32] = {0};
	int64_t    t0;
	int64_t    t1;
	int64_t    dl;

	api_start(&f, 0, NULL, NULL);
	c = tf_dial(&f, NULL);
	DRPC_CHECK_OK(drpc_ctx_create_timeout(&ctx, NULL, 3600 * 1000));
	t0 = drpc_now_ns();
	DRPC_CHECK_OK(drpc_invoke(c, ctx, "/t.S/Deadline", "", 0, NULL, &reply,
	    &len, NULL));
	t1 = drpc_now_ns();
	memcpy(num, reply, len < 31 ? len : 31);
	dl = atoll(num);
	ck_assert_int_ge(dl, drpc_ctx_deadline(ctx));
	ck_assert_int_le(dl, drpc_ctx_deadline(ctx) + (t1 - t0));
	drpc_free(reply);
	DRPC_CHECK_OK(drpc_invoke(c, ctx, "/t.S/Md", "", 0, NULL, &reply, &len,
	    NULL));
	ck_assert_uint_eq(len, 0); // no visible metadata
	DRPC_CHECK_OK(drpc_invoke(c, NULL, "/t.S/Deadline", "", 0, NULL,
	    &reply, &len, NULL));
	ck_assert_mem_eq(reply, "-1", 2);
	drpc_free(reply);
	drpc_ctx_destroy(ctx);
	tf_stop(&f);
}
END_TEST

// Every gRPC status a handler returns reaches the client as that code,
// with the code on the wire; an application code arrives as EREMOTE.
START_TEST(test_api_status_codes)
{
	tf          f;
	drpc_conn  *c;
	void       *reply;
	size_t      len;
	drpc_status st = {0};
	char        req[8];

	api_start(&f, 0, NULL, NULL);
	c = tf_dial(&f, NULL);
	for (int code = 1; code <= 16; code++) {
		int n = snprintf(req, sizeof(req), "%d", code);

		DRPC_CHECK_ERR(drpc_invoke(c, NULL, "/t.S/Fail", req,
		    (size_t) n, NULL, &reply, &len, &st), (drpc_err) code);
		ck_assert(st.remote);
		ck_assert_uint_eq(st.remote_code, (uint64_t) code);
		ck_assert_str_eq(st.message, drpc_strerror((drpc_err) code));
	}
	DRPC_CHECK_ERR(drpc_invoke(c, NULL, "/t.S/Fail", "42", 2, NULL, &reply,
	    &len, &st), DRPC_EREMOTE);
	ck_assert_uint_eq(st.remote_code, 42);
	ck_assert_str_eq(st.message, "custom");
	DRPC_CHECK_ERR(drpc_invoke(c, NULL, "/t.S/Nope", "", 0, NULL, &reply,
	    &len, &st), DRPC_EUNIMPL);
	ck_assert_str_eq(st.message, "protocol error: unknown rpc: \"/t.S/Nope\"");
	// The connection survived every one of them.
	DRPC_CHECK_OK(drpc_invoke(c, NULL, "/t.S/Echo", "x", 1, NULL, &reply,
	    &len, NULL));
	drpc_free(reply);
	drpc_status_reset(&st);
	tf_stop(&f);
}
END_TEST

// Cancel and deadline on a unary call: the status says so, never EOF.
START_TEST(test_api_unary_cancel_deadline)
{
	tf          f;
	drpc_conn  *c;
	drpc_ctx   *ctx;
	void       *reply;
	size_t      len;
	drpc_status st = {0};

	api_start(&f, 0, NULL, NULL);
	c = tf_dial(&f, NULL);
	DRPC_CHECK_OK(drpc_ctx_create_timeout(&ctx, NULL, 50));
	DRPC_CHECK_ERR(drpc_invoke(c, ctx, "/t.S/Sleep", "10000", 5, NULL,
	    &reply, &len, &st), DRPC_ETIMEDOUT);
	ck_assert_int_eq(st.code, DRPC_ETIMEDOUT);
	// Either side's deadline may fire first: the client's own, or the
	// server's copy (an Error with DeadlineExceeded, code 4).
	ck_assert(!st.remote || st.remote_code == 4);
	drpc_ctx_destroy(ctx);
	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	drpc_ctx_cancel(ctx);
	DRPC_CHECK_ERR(drpc_invoke(c, ctx, "/t.S/Echo", "x", 1, NULL, &reply,
	    &len, &st), DRPC_ECANCELED);
	drpc_ctx_destroy(ctx);
	DRPC_CHECK_OK(drpc_invoke(c, NULL, "/t.S/Sleep", "1", 1, NULL, &reply,
	    &len, NULL));
	ck_assert_mem_eq(reply, "slept", 5);
	drpc_free(reply);
	drpc_status_reset(&st);
	tf_stop(&f);
}
END_TEST

// 32 threads x 1000 unary calls on ONE connection, every answer right.
#define PAR_THREADS 32

typedef struct par_arg {
	drpc_conn  *c;
	int         id;
	int         calls;
	const char *method;
	drpc_err    rv;
} par_arg;

static void *
par_main(void *arg)
{
	par_arg *a = arg;

	for (int i = 0; i < a->calls && a->rv == DRPC_OK; i++) {
		char   req[32];
		int    n = snprintf(req, sizeof(req), "%d-%d", a->id, i);
		void  *reply;
		size_t len;

		a->rv = drpc_invoke(a->c, NULL, a->method, req, (size_t) n,
		    NULL, &reply, &len, NULL);
		if (a->rv == DRPC_OK && (len != (size_t) n ||
		    memcmp(reply, req, len) != 0)) {
			a->rv = DRPC_EDATALOSS;
		}
		if (a->rv == DRPC_OK) {
			drpc_free(reply);
		}
	}
	return NULL;
}

static void
run_parallel(drpc_conn *c, const char *method, int calls)
{
	pthread_t t[PAR_THREADS];
	par_arg   a[PAR_THREADS];

	for (int i = 0; i < PAR_THREADS; i++) {
		a[i] = (par_arg) {c, i, calls, method, DRPC_OK};
		DRPC_CHECK_OK(drpc__thread_start(&t[i], "t-par", (uint64_t) i,
		    0, par_main, &a[i]));
	}
	for (int i = 0; i < PAR_THREADS; i++) {
		drpc__thread_join(t[i]);
	}
	for (int i = 0; i < PAR_THREADS; i++) {
		ck_assert_msg(a[i].rv == DRPC_OK, "thread %d: %s", i,
		    drpc_strerror(a[i].rv));
	}
}

START_TEST(test_api_32_threads_one_conn)
{
	tf         f;
	drpc_conn *c;

	api_start(&f, 0, NULL, NULL);
	c = tf_dial(&f, NULL);
	run_parallel(c, "/t.S/Echo", 1000);
	tf_stop(&f);
}
END_TEST

// Calls run in parallel (no lock is held for a call's duration: the
// seed's limitation 4): 32 unary calls on one connection, each from its
// own thread, whose handlers each wait until all 32 are inside at once.
// Calls that were serialised anywhere could never all be inside; their
// handlers give up after WAIT_NS and the calls fail.
static drpc_err
h_gather_echo(drpc_stream *s, void *user)
{
	bool all = tf_gather_wait(user, PAR_THREADS, WAIT_NS);

	return all ? tf_h_echo(s, NULL) : DRPC_EABORTED;
}

START_TEST(test_api_unary_parallel)
{
	tf_gather  g;
	tf         f;
	drpc_conn *c;

	tf_gather_init(&g);
	api_start(&f, 0, NULL, &(tf_method){"/t.S/Gather", h_gather_echo, &g});
	c = tf_dial(&f, NULL);
	run_parallel(c, "/t.S/Gather", 1);
	ck_assert_int_eq(g.most, PAR_THREADS); // every handler has returned
	tf_stop(&f);
	tf_gather_fini(&g);
}
END_TEST

// Limits: the server's per-connection stream limit answers the excess with
// ResourceExhausted; a message over the maximum is refused before sending.
START_TEST(test_api_limits)
{
	drpc_server_opts so = {.max_streams = 2};
	tf               f;
	drpc_conn       *c;
	drpc_stream     *s[3];
	void            *data;
	size_t           len;
	drpc_status      st = {0};
	drpc_conn_opts   co = {.max_msg_size = 1024};
	char             big[1025] = {0};

	api_start(&f, 0, &so, NULL);
	c = tf_dial(&f, &co);
	for (int i = 0; i < 3; i++) {
		drpc_err rv;

		DRPC_CHECK_OK(drpc_stream_open(&s[i], c, NULL, "/t.S/Bidi", NULL));
		rv = drpc_stream_send(s[i], "x", 1);
		// The third's refusal may already have ended it (the send then
		// reports the end; recv below tells why).
		ck_assert_msg(rv == DRPC_OK || (i == 2 && rv == DRPC_EOF), "%s",
		    drpc_strerror(rv));
	}
	for (int i = 0; i < 2; i++) {
		DRPC_CHECK_OK(drpc_stream_recv(s[i], &data, &len));
		drpc_free(data);
	}
	DRPC_CHECK_ERR(drpc_stream_recv(s[2], &data, &len), DRPC_ERESOURCE);
	DRPC_CHECK_OK(drpc_stream_status(s[2], &st));
	ck_assert_uint_eq(st.remote_code, 8);
	DRPC_CHECK_ERR(drpc_stream_send(s[0], big, sizeof(big)), DRPC_ERESOURCE);
	for (int i = 0; i < 3; i++) {
		drpc_stream_destroy(s[i]);
	}
	drpc_status_reset(&st);
	tf_stop(&f);
}
END_TEST

// One-stream mode: a second call waits until the first stream ends, and
// a wait can be cancelled.
START_TEST(test_api_one_stream_mode)
{
	tf             f;
	drpc_conn_opts co = {.one_stream = true};
	drpc_conn     *c;
	drpc_stream   *s;
	drpc_ctx      *ctx;
	void          *reply;
	size_t         len;

	api_start(&f, 0, NULL, NULL);
	c = tf_dial(&f, &co);
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, "/t.S/Bidi", NULL));
	DRPC_CHECK_OK(drpc_ctx_create_timeout(&ctx, NULL, 50));
	DRPC_CHECK_ERR(drpc_invoke(c, ctx, "/t.S/Echo", "x", 1, NULL, &reply,
	    &len, NULL), DRPC_ETIMEDOUT);
	drpc_ctx_destroy(ctx);
	drpc_stream_destroy(s);
	DRPC_CHECK_OK(drpc_invoke(c, NULL, "/t.S/Echo", "x", 1, NULL, &reply,
	    &len, NULL));
	drpc_free(reply);
	tf_stop(&f);
}
END_TEST

// Graceful shutdown: a call in flight when the shutdown begins runs to its
// end, and the shutdown waits for it. The handler holds the call until
// the client half-closes, which the test does only once the shutdown is
// under way (the server refuses new connections) and still waiting.

// h_finish receives the request, posts user (a semaphore), and answers
// "done" once the client has finished sending.
static drpc_err
h_finish(drpc_stream *s, void *user)
{
	void    *data;
	size_t   len;
	drpc_err rv;

	if ((rv = tf_drop_request(s)) != DRPC_OK) {
		return rv;
	}
	sem_post(user);
	while ((rv = drpc_stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc_free(data);
	}
	return rv == DRPC_EOF ? drpc_stream_send(s, "done", 4) : rv;
}

typedef struct shutdown_arg {
	drpc_server    *srv;
	int64_t         deadline;
	pthread_mutex_t mu;
	bool            done; // guarded by mu
	drpc_err        rv;
} shutdown_arg;

static void *
shutdown_main(void *arg)
{
	shutdown_arg *a  = arg;
	drpc_err      rv = drpc_server_shutdown(a->srv, a->deadline);

	drpc__mutex_lock(&a->mu);
	a->done = true;
	a->rv   = rv;
	drpc__mutex_unlock(&a->mu);
	return NULL;
}

// wait_stopping waits until srv's shutdown has begun: it refuses to serve
// another connection (polling, 1 ms apart, for up to WAIT_NS).
static void
wait_stopping(drpc_server *srv)
{
	int64_t  deadline = drpc_now_ns() + tu_bound_ns(WAIT_NS);
	drpc_err rv       = DRPC_OK;

	while (rv == DRPC_OK && drpc_now_ns() < deadline) {
		int sv[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		if ((rv = drpc_server_serve_fd(srv, sv[1])) != DRPC_OK) {
			close(sv[1]);
		}
		close(sv[0]); // a connection served meanwhile just ends
		if (rv == DRPC_OK) {
			(void) drpc_ctx_wait(NULL, drpc_now_ns() + 1000000);
		}
	}
	DRPC_CHECK_ERR(rv, DRPC_ESTATE);
}

START_TEST(test_api_shutdown_graceful)
{
	shutdown_arg a = {.deadline = 0};
	tf           f;
	drpc_conn   *c;
	drpc_stream *s;
	pthread_t    t;
	sem_t        started;
	void        *data;
	size_t       len;
	bool         done;

	ck_assert_int_eq(sem_init(&started, 0, 0), 0);
	drpc__mutex_init(&a.mu);
	api_start(&f, 0, NULL, &(tf_method){"/t.S/Finish", h_finish, &started});
	c = tf_dial(&f, NULL);
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, "/t.S/Finish", NULL));
	DRPC_CHECK_OK(drpc_stream_send(s, "x", 1));
	ck_assert_int_eq(sem_wait(&started), 0); // the handler runs
	a.srv      = f.srv;
	a.deadline = drpc_now_ns() + tu_bound_ns(WAIT_NS);
	DRPC_CHECK_OK(
	    drpc__thread_start(&t, "t-shutdown", 0, 0, shutdown_main, &a));
	wait_stopping(f.srv);
	drpc__mutex_lock(&a.mu);
	done = a.done;
	drpc__mutex_unlock(&a.mu);
	ck_assert_msg(!done, "the shutdown did not wait for the call");
	DRPC_CHECK_OK(drpc_stream_close_send(s));
	DRPC_CHECK_OK(drpc_stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(data, "done", 4);
	drpc_free(data);
	DRPC_CHECK_ERR(drpc_stream_recv(s, &data, &len), DRPC_EOF);
	drpc__thread_join(t);
	DRPC_CHECK_OK(a.rv);
	drpc_stream_destroy(s);
	tf_free(&f);
	drpc__mutex_fini(&a.mu);
	sem_destroy(&started);
}
END_TEST

// A call still running at the shutdown's deadline is cancelled.
typedef struct call_arg {
	drpc_conn  *c;
	const char *req;
	drpc_err    rv;
} call_arg;

static void *
sleep_call_main(void *arg)
{
	call_arg *a = arg;
	void     *reply = NULL;
	size_t    len;

	a->rv = drpc_invoke(a->c, NULL, TF_SLEEP, a->req, strlen(a->req), NULL,
	    &reply, &len, NULL);
	drpc_free(reply);
	return NULL;
}

START_TEST(test_api_shutdown_deadline)
{
	tf         f;
	drpc_conn *c;
	pthread_t  t;
	call_arg   a;

	api_start(&f, 0, NULL, NULL);
	c = tf_dial(&f, NULL);
	a = (call_arg){c, "60000", DRPC_OK};
	DRPC_CHECK_OK(drpc__thread_start(&t, "t-call", 0, 0, sleep_call_main,
	    &a));
	tf_wait_started(&f, 1); // the handler runs
	DRPC_CHECK_ERR(drpc_server_shutdown(f.srv, drpc_now_ns() + 100000000),
	    DRPC_ETIMEDOUT);
	drpc__thread_join(t);
	ck_assert_msg(a.rv == DRPC_ECANCELED, "call: %s", drpc_err_name(a.rv));
	tf_free(&f);
}
END_TEST

// Bad addresses and arguments get clear errors.
START_TEST(test_api_bad_args)
{
	drpc_conn   *c;
	drpc_mux    *m;
	drpc_server *s;

	DRPC_CHECK_ERR(drpc_dial(&c, "nonsense", NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_dial(&c, "tcp://127.0.0.1", NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_dial(&c, "tcp://127.0.0.1:x", NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_dial(&c, "tcp://127.0.0.1:1", NULL), DRPC_EUNAVAIL);
	DRPC_CHECK_ERR(drpc_dial(&c, "unix:///nonexistent/x.sock", NULL),
	    DRPC_EUNAVAIL);
	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_ERR(drpc_mux_register(m, "", tf_h_echo, NULL), DRPC_EINVAL);
	DRPC_CHECK_OK(drpc_server_create(&s, m, NULL));
	DRPC_CHECK_ERR(drpc_server_listen(s, "udp://x:1"), DRPC_EINVAL);
	drpc_server_destroy(s);
	drpc_mux_destroy(m);
}
END_TEST

// The log hook hears of a connection a peer broke with garbage (the
// fixture's server logs into the fixture), at WARN.
START_TEST(test_api_log_hook)
{
	tf                   f;
	int                  fd;
	drpc_log_level       level     = DRPC_LOG_DEBUG;
	static const uint8_t garbage[] = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x00};

	api_start(&f, 0, NULL, NULL);
	DRPC_CHECK_OK(drpc__dial(f.addr, 0, &fd));
	ck_assert_int_eq(write(fd, garbage, sizeof(garbage)),
	    (ssize_t) sizeof(garbage));
	ck_assert_msg(tf_wait_log(&f, "malformed varint", &level),
	    "no line logged names the malformed varint");
	ck_assert_int_eq(level, DRPC_LOG_WARN);
	close(fd);
	tf_stop(&f);
}
END_TEST

// A peer that vanishes never kills the process with SIGPIPE (its default
// action is on here): a write to a socket whose peer has closed fails
// with DRPC_ECLOSED; and a call whose server shut down, cancelling it
// and closing the connection, keeps failing its sends cleanly.
START_TEST(test_api_no_sigpipe)
{
	tf              f;
	drpc_conn      *c;
	drpc_stream    *s;
	drpc_transport *tr;
	char            buf[4096] = {0};
	drpc_iovec      iov       = {buf, sizeof(buf)};
	void           *data;
	size_t          len;
	drpc_err        rv = DRPC_OK;
	int             sv[2];

	signal(SIGPIPE, SIG_DFL);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	DRPC_CHECK_OK(drpc_transport_create_fd(&tr, sv[0]));
	close(sv[1]);
	DRPC_CHECK_ERR(drpc__transport_writev(tr, &iov, 1), DRPC_ECLOSED);
	drpc_transport_destroy(tr);

	api_start(&f, 1, NULL, NULL);
	c = tf_dial(&f, NULL);
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, "/t.S/Bidi", NULL));
	DRPC_CHECK_OK(drpc_stream_send(s, "x", 1));
	DRPC_CHECK_OK(drpc_stream_recv(s, &data, &len)); // the handler runs
	drpc_free(data);
	// A deadline already passed: the handler is cancelled at once.
	DRPC_CHECK_ERR(
	    drpc_server_shutdown(f.srv, drpc_now_ns()), DRPC_ETIMEDOUT);
	for (int i = 0; i < 10000 && rv == DRPC_OK; i++) {
		rv = drpc_stream_send(s, buf, sizeof(buf));
	}
	// The shutdown cancelled the call (EOF: the peer ended the stream)
	// or the connection went first (Unavailable); either way, alive.
	ck_assert_msg(rv == DRPC_EOF || rv == DRPC_EUNAVAIL, "send: %s",
	    drpc_err_name(rv));
	drpc_stream_destroy(s);
	tf_free(&f);
}
END_TEST

TU_SUITE(api,
    TU_TEST("calls", test_api_unary, .loops = 2, .timeout = 30),
    TU_TEST("calls", test_api_server_stream, .loops = 2),
    TU_TEST("calls", test_api_client_stream_and_bidi, .loops = 2),
    TU_TEST("calls", test_api_metadata_roundtrip),
    TU_TEST("calls", test_api_deadline_propagation),
    TU_TEST("calls", test_api_status_codes),
    TU_TEST("calls", test_api_unary_cancel_deadline),
    TU_TEST("calls", test_api_bad_args),
    TU_TEST("load", test_api_32_threads_one_conn, .timeout = 120),
    TU_TEST("load", test_api_unary_parallel),
    TU_TEST("lifecycle", test_api_limits, .timeout = 30),
    TU_TEST("lifecycle", test_api_one_stream_mode),
    TU_TEST("lifecycle", test_api_shutdown_graceful),
    TU_TEST("lifecycle", test_api_shutdown_deadline),
    TU_TEST("lifecycle", test_api_log_hook),
    TU_TEST("lifecycle", test_api_no_sigpipe))
