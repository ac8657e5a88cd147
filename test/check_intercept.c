// Interceptors, stream wrappers, stream values and per-RPC stats
// (include/drpc/intercept.h, include/drpc/stats.h), over loopback TCP
// against the interop Echo service (echo_service.c) and the generated
// stubs of test/proto/echo.proto:
//   chain   order and short-circuit on both sides, next called twice,
//           metadata and timeouts added by a client interceptor, values;
//   wrap    wrappers of a bidi stream on both sides, a refused send;
//   stats   counts of every call kind (cancelled and failed ones too) on
//           both sides, begin/msg/end order, end exactly once.
// Handlers and callbacks record under a lock; the test thread asserts.
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "echo.drpc.h"
#include "echo_service.h"
#include "fixture.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"

// A log of events, in order ("A>", "<A", "H" ...), and counters, shared
// by interceptors, wrappers and handlers of one test.
typedef struct journal {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	char            text[1024];
	int             handled;   // the test's own handlers ran
	int             twice;     // what a second next call returned
	char            md[64];    // the "auth" metadata a server saw
	int64_t         deadline;  // the deadline a server saw
	int             calls;     // calls the server's interceptor saw
	int             outer;     // calls the outermost journal saw end
	// wrapper records: per side (0 server, 1 client)
	int      w_send[2], w_recv[2], w_end[2];
	size_t   w_sent_bytes[2], w_recv_bytes[2];
	drpc_err w_end_code[2];
	int      bad; // anything out of order
} journal;

static void
jr_init(journal *j)
{
	memset(j, 0, sizeof(*j));
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->twice = -1;
}

static void
jr_fini(journal *j)
{
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
}

static void
jr_add(journal *j, const char *ev)
{
	pthread_mutex_lock(&j->mu);
	if (strlen(j->text) + strlen(ev) + 2 < sizeof(j->text)) {
		strcat(j->text, ev);
		strcat(j->text, " ");
	}
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

// jr_addf adds the event fmt formats (at most 31 characters).
static void jr_addf(journal *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
jr_addf(journal *j, const char *fmt, ...)
{
	char    ev[32];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev, sizeof(ev), fmt, ap);
	va_end(ap);
	jr_add(j, ev);
}

// jr_set_twice records what a second next call returned.
static void
jr_set_twice(journal *j, drpc_err rv)
{
	pthread_mutex_lock(&j->mu);
	j->twice = (int) rv;
	pthread_mutex_unlock(&j->mu);
}

// jr_wait_int waits until *v reaches n (under mu), false if it never does.
static bool
jr_wait_int(journal *j, const int *v, int n)
{
	struct timespec ts;
	int64_t         dl = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	bool            ok;

	pthread_mutex_lock(&j->mu);
	while (*v < n && drpc_now_ns() < dl) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&j->cv, &j->mu, &ts);
	}
	ok = *v >= n;
	pthread_mutex_unlock(&j->mu);
	return ok;
}

// Per-RPC stats: every RPC is tracked from begin to end, and each end
// is checked against the msg callbacks of its RPC.
#define ST_MAX 64

typedef struct st_rpc {
	const drpc_rpc_info *rpc;
	uint64_t             msgs[2], bytes[2]; // [0] in, [1] out
} st_rpc;

typedef struct st_end {
	char         method[64];
	bool         client;
	drpc_rpc_end e;
	char         message[128];
	char         peer[128]; // rpc->peer_addr at end
} st_end;

typedef struct stats_rec {
	journal *j; // its mu and cv guard everything below
	st_rpc   live[ST_MAX];
	size_t   nlive;
	st_end   ends[ST_MAX];
	int      begins, nends;
	int      bad;
	char     why[160];
} stats_rec;

static st_rpc *
st_find(stats_rec *r, const drpc_rpc_info *rpc)
{
	for (size_t i = 0; i < r->nlive; i++) {
		if (r->live[i].rpc == rpc) {
			return &r->live[i];
		}
	}
	return NULL;
}

static void
st_bad(stats_rec *r, const char *why)
{
	if (r->bad++ == 0) {
		snprintf(r->why, sizeof(r->why), "%s", why);
	}
}

static void
st_begin(void *arg, const drpc_rpc_info *rpc)
{
	stats_rec *r = arg;

	pthread_mutex_lock(&r->j->mu);
	r->begins++;
	if (st_find(r, rpc) != NULL || r->nlive == ST_MAX ||
	    rpc->begin_ns == 0 || rpc->method[0] != '/') {
		st_bad(r, "begin twice, or a bad info");
	} else {
		r->live[r->nlive++] = (st_rpc) {.rpc = rpc};
	}
	pthread_mutex_unlock(&r->j->mu);
}

static void
st_msg(void *arg, const drpc_rpc_info *rpc, bool out, size_t len)
{
	stats_rec *r = arg;
	st_rpc    *p;

	pthread_mutex_lock(&r->j->mu);
	if ((p = st_find(r, rpc)) == NULL) {
		st_bad(r, "msg outside begin..end");
	} else {
		p->msgs[out]++;
		p->bytes[out] += len;
	}
	pthread_mutex_unlock(&r->j->mu);
}

static void
st_end_cb(void *arg, const drpc_rpc_info *rpc, const drpc_rpc_end *e)
{
	stats_rec *r = arg;
	st_rpc    *p;

	pthread_mutex_lock(&r->j->mu);
	if ((p = st_find(r, rpc)) == NULL) {
		st_bad(r, "end without begin, or twice");
	} else if (p->msgs[0] != e->msgs_in || p->msgs[1] != e->msgs_out ||
	    p->bytes[0] != e->bytes_in || p->bytes[1] != e->bytes_out) {
		st_bad(r, "end's counts differ from its msg callbacks");
	}
	if (p != NULL) {
		*p = r->live[--r->nlive];
	}
	if (rpc->conn_id == 0 && e->code != DRPC_EUNAUTH) {
		// Every RPC here is on a plain connection, known at begin;
		// a client interceptor's refusal (EUNAUTH) too.
		st_bad(r, "an RPC without its connection's id");
	}
	if (r->nends < ST_MAX) {
		st_end *d = &r->ends[r->nends];

		snprintf(d->method, sizeof(d->method), "%s", rpc->method);
		snprintf(d->message, sizeof(d->message), "%s",
		    e->message != NULL ? e->message : "");
		snprintf(d->peer, sizeof(d->peer), "%s", rpc->peer_addr);
		d->client = rpc->client;
		d->e      = *e;
		d->e.message = NULL;
	}
	r->nends++;
	pthread_cond_broadcast(&r->j->cv);
	pthread_mutex_unlock(&r->j->mu);
}

// st_last_of finds the last end of method (NULL: none), under the lock
// of a test that waited for it.
static const st_end *
st_last_of(stats_rec *r, const char *method)
{
	const st_end *found = NULL;

	pthread_mutex_lock(&r->j->mu);
	for (int i = 0; i < r->nends && i < ST_MAX; i++) {
		if (strcmp(r->ends[i].method, method) == 0) {
			found = &r->ends[i];
		}
	}
	pthread_mutex_unlock(&r->j->mu);
	return found;
}

// The fixture: a server on loopback TCP with the Echo service, the
// test's handlers and the given options; a client dialled to it.
typedef struct fixture {
	tf                 t; // the server and its client (fixture.h)
	drpc_conn         *c; // t.c
	journal        j;
	stats_rec      ss, cs; // server's and client's stats
	drpc_stats_handler sh, ch;
	echo_observer  eo;
	int            sleeping; // Sleep handlers started (under j.mu)
	Test__Echo__EchoService_Server gen; // the generated service's
} fixture;

static void
fx_sleep_started(void *arg)
{
	fixture *f = arg;

	pthread_mutex_lock(&f->j.mu);
	f->sleeping++;
	pthread_cond_broadcast(&f->j.cv);
	pthread_mutex_unlock(&f->j.mu);
}

// h_plain is a handler of the test's: it notes it ran and answers "ok".
static drpc_err
h_plain(drpc_stream *s, void *user)
{
	journal *j = user;
	drpc_err rv;

	jr_add(j, "H");
	pthread_mutex_lock(&j->mu);
	j->handled++;
	pthread_mutex_unlock(&j->mu);
	if ((rv = tf_drop_request(s)) != DRPC_OK) {
		return rv;
	}
	return drpc_stream_send_last(s, "ok", 2);
}

// h_value answers with the string value an interceptor set (key: its
// own address).
static const char value_key = 'k';

static drpc_err
h_value(drpc_stream *s, void *user)
{
	const char *v = drpc_stream_value(s, &value_key);
	drpc_err    rv;

	(void) user;
	if ((rv = tf_drop_request(s)) != DRPC_OK) {
		return rv;
	}
	v = v != NULL ? v : "(none)";
	return drpc_stream_send_last(s, v, strlen(v));
}

static drpc_err gen_unary(void *user, drpc_stream *s,
    const Test__Echo__Msg *req, Test__Echo__Msg *reply);

// fx_register registers the echo services (the interop one, observed,
// and the generated one) of f (arg) on m.
static void
fx_register(void *arg, drpc_mux *m)
{
	fixture *f = arg;

	DRPC_CHECK_OK(echo_register_observed(m, &f->eo));
	DRPC_CHECK_OK(test__echo__echo_service__register(m, &f->gen));
}

static void
fx_start(fixture *f, drpc_server_opts *so, drpc_conn_opts *co)
{
	drpc_server_opts s0  = {0};
	drpc_conn_opts   c0  = {0};
	const tf_method  m[] = {
	     {"/t/Plain", h_plain, &f->j},
	     {"/t/Reject", h_plain, &f->j},
	     {"/t/Value", h_value, NULL},
        };

	memset(f, 0, sizeof(*f));
	jr_init(&f->j);
	f->ss.j = f->cs.j = &f->j;
	f->sh = (drpc_stats_handler) {st_begin, st_msg, st_end_cb, &f->ss};
	f->ch = (drpc_stats_handler) {st_begin, st_msg, st_end_cb, &f->cs};
	f->eo = (echo_observer){.sleep_started = fx_sleep_started, .arg = f};
	f->gen.unary = gen_unary;
	tf_server_start(&f->t, &(tf_opts){.server = so ? so : &s0,
	                           .methods       = m,
	                           .nmethods      = TU_LEN(m),
	                           .setup         = fx_register,
	                           .setup_arg     = f});
	f->c = tf_dial(&f->t, co ? co : &c0);
}

// fx_stop stops the server (tf_stop: no thread or fd left), then checks
// what the stats handlers and the journal saw.
static void
fx_stop(fixture *f)
{
	tf_stop(&f->t);
	ck_assert_msg(f->ss.bad == 0, "server stats: %s", f->ss.why);
	ck_assert_msg(f->cs.bad == 0, "client stats: %s", f->cs.why);
	ck_assert_int_eq(f->j.bad, 0);
	jr_fini(&f->j);
}

static char name_a[] = "A", name_b[] = "B";
static char val_first[] = "first", val_icpt[] = "from-icpt";

// Server interceptors: A and B journal around next; C rejects
// /t/Reject (with set_error for the message) and tries next twice.

static drpc_err
si_journal(drpc_stream *s, drpc_next *next, void *arg)
{
	journal    *j    = ((void **) arg)[0];
	const char *name = ((void **) arg)[1];
	drpc_err    rv;

	jr_addf(j, "%s>", name);
	rv = drpc_next_handle(next, s);
	jr_addf(j, "<%s", name);
	pthread_mutex_lock(&j->mu);
	j->outer += name == name_a;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	return rv;
}

static drpc_err
si_gate(drpc_stream *s, drpc_next *next, void *arg)
{
	journal *j = arg;
	drpc_err rv;

	if (strcmp(drpc_stream_method(s), "/t/Reject") == 0) {
		jr_add(j, "C!");
		(void) drpc_stream_set_error(s, 7, "rejected by C");
		return DRPC_EPERM;
	}
	rv = drpc_next_handle(next, s);
	jr_set_twice(j, drpc_next_handle(next, s));
	return rv;
}

static drpc_err
call_plain(drpc_conn *c, const char *method, drpc_status *st)
{
	void    *out = NULL;
	size_t   n;
	drpc_err rv = drpc_invoke(c, NULL, method, "x", 1, NULL, &out, &n, st);

	drpc_free(out);
	return rv;
}

START_TEST(test_icpt_server_chain)
{
	fixture                 f;
	void                   *a[2] = {&f.j, name_a};
	void                   *b[2] = {&f.j, name_b};
	drpc_server_interceptor v[3] = {
	    {si_journal, a}, {si_journal, b}, {si_gate, &f.j}};
	drpc_server_opts so = {.interceptors = v, .ninterceptors = 3};
	drpc_status      st = {0};

	fx_start(&f, &so, NULL);
	v[0].fn = NULL; // the server keeps its own copy
	DRPC_CHECK_OK(call_plain(f.c, "/t/Plain", &st));
	ck_assert(jr_wait_int(&f.j, &f.j.outer, 1)); // the reply came first
	ck_assert_str_eq(f.j.text, "A> B> H <B <A ");
	ck_assert_int_eq(f.j.twice, DRPC_ESTATE);
	f.j.text[0] = '\0';
	DRPC_CHECK_ERR(call_plain(f.c, "/t/Reject", &st), DRPC_EPERM);
	ck_assert_uint_eq(st.remote_code, 7);
	ck_assert_str_eq(st.message, "rejected by C");
	ck_assert(jr_wait_int(&f.j, &f.j.outer, 2));
	ck_assert_str_eq(f.j.text, "A> B> C! <B <A ");
	ck_assert_int_eq(f.j.handled, 1); // the handler never ran for it
	drpc_status_reset(&st);
	fx_stop(&f);
}
END_TEST

// Client interceptors.

static drpc_err
ci_journal(drpc_client_call *c, drpc_next *next, void *arg)
{
	journal    *j    = ((void **) arg)[0];
	const char *name = ((void **) arg)[1];
	drpc_err    rv;

	jr_addf(j, "%s>", name);
	rv = drpc_next_call(next, c);
	jr_addf(j, "<%s:%d", name,
	    drpc_client_call_status(c) != NULL
	        ? (int) drpc_client_call_status(c)->code
	        : -1);
	return rv;
}

// ci_gate refuses /t/Deny, returns OK without next for /t/Skip, and
// adds the auth token and a timeout to the rest.
static drpc_err
ci_gate(drpc_client_call *c, drpc_next *next, void *arg)
{
	journal *j = arg;
	drpc_err rv;

	if (strcmp(drpc_client_call_method(c), "/t/Deny") == 0) {
		return DRPC_EUNAUTH;
	}
	if (strcmp(drpc_client_call_method(c), "/t/Skip") == 0) {
		return DRPC_OK;
	}
	if (drpc_client_call_add_md(c, "auth", "token-1") != DRPC_OK) {
		return DRPC_EINTERNAL;
	}
	drpc_client_call_set_timeout(c, j->deadline); // set by the test
	rv = drpc_next_call(next, c);
	jr_set_twice(j, drpc_next_call(next, c));
	return rv;
}

// si_auth records the auth metadata and the deadline a call came with.
static drpc_err
si_auth(drpc_stream *s, drpc_next *next, void *arg)
{
	journal    *j = arg;
	const char *v;
	size_t      n;

	pthread_mutex_lock(&j->mu);
	j->calls++;
	if (drpc_stream_md_get(s, "auth", &v, &n) == DRPC_OK) {
		snprintf(j->md, sizeof(j->md), "%s", v);
	}
	j->deadline = drpc_ctx_deadline(drpc_stream_ctx(s));
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	return drpc_next_handle(next, s);
}

START_TEST(test_icpt_client_chain)
{
	fixture                 f;
	void                   *a[2] = {&f.j, name_a};
	drpc_client_interceptor v[2] = {{ci_journal, a}, {ci_gate, &f.j}};
	drpc_conn_opts          co = {.interceptors = v, .ninterceptors = 2};
	drpc_server_interceptor sv[1] = {{si_auth, &f.j}};
	drpc_server_opts        so = {.interceptors = sv, .ninterceptors = 1};
	drpc_status             st = {0};

	fx_start(&f, &so, &co);
	DRPC_CHECK_OK(call_plain(f.c, "/t/Plain", &st));
	ck_assert_str_eq(f.j.text, "A> H <A:0 ");
	ck_assert_int_eq(f.j.twice, DRPC_ESTATE);
	ck_assert_str_eq(f.j.md, "token-1");
	ck_assert_int_eq(f.j.calls, 1);
	f.j.text[0] = '\0';
	DRPC_CHECK_ERR(call_plain(f.c, "/t/Deny", &st), DRPC_EUNAUTH);
	ck_assert_int_eq(st.code, DRPC_EUNAUTH);
	ck_assert_ptr_nonnull(st.message);
	ck_assert_str_eq(f.j.text, "A> <A:-1 ");
	DRPC_CHECK_ERR(call_plain(f.c, "/t/Skip", &st), DRPC_ESTATE);
	ck_assert_int_eq(f.j.calls, 1); // neither reached the server
	ck_assert_int_eq(f.j.handled, 1);
	drpc_status_reset(&st);
	fx_stop(&f);
}
END_TEST

// A client interceptor's timeout bounds the call (the earlier of it and
// the caller's wins) and travels to the server. If the deadline passed
// before the call reached the server, it runs again with twice the time
// (test/README.md rule 5).
START_TEST(test_icpt_client_timeout)
{
	fixture                 f;
	drpc_client_interceptor v[1] = {{ci_gate, &f.j}};
	drpc_conn_opts          co = {.interceptors = v, .ninterceptors = 1};
	drpc_server_interceptor sv[1] = {{si_auth, &f.j}};
	drpc_server_opts        so = {.interceptors = sv, .ninterceptors = 1};
	drpc_call_opts          o  = {.timeout_ms = 3600 * 1000};
	uint8_t                 req[ECHO_REQ_MAX];
	size_t                  n = echo_sleep_req_put(req, 3600 * 1000);
	void                   *out;
	size_t                  len;
	int                     calls;

	fx_start(&f, &so, &co);
	for (int64_t ms = 50;; ms *= 2) {
		pthread_mutex_lock(&f.j.mu);
		f.j.deadline = ms; // ci_gate's timeout
		pthread_mutex_unlock(&f.j.mu);
		DRPC_CHECK_ERR(drpc_invoke(f.c, NULL, "/interop.Echo/Sleep",
				   req, n, &o, &out, &len, NULL),
		    DRPC_ETIMEDOUT);
		pthread_mutex_lock(&f.j.mu);
		calls = f.j.calls;
		pthread_mutex_unlock(&f.j.mu);
		if (calls > 0 || ms > tu_bound_ns(TU_WAIT_NS) / 1000000) {
			break;
		}
	}
	ck_assert_int_gt(calls, 0);
	// The server saw a deadline, well before the caller's hour.
	ck_assert(jr_wait_int(&f.j, &f.j.calls, 1));
	pthread_mutex_lock(&f.j.mu);
	ck_assert_int_ne(f.j.deadline, 0);
	ck_assert_int_lt(f.j.deadline,
	    drpc_now_ns() + (int64_t) 1800 * 1000 * 1000000);
	pthread_mutex_unlock(&f.j.mu);
	fx_stop(&f);
}
END_TEST

// si_value adds a value for the handler.
static drpc_err
si_value(drpc_stream *s, drpc_next *next, void *arg)
{
	drpc_err rv;

	(void) arg;
	if ((rv = drpc_stream_set_value(s, &value_key, val_first)) != DRPC_OK ||
	    (rv = drpc_stream_set_value(s, &value_key, val_icpt)) !=
		DRPC_OK) {
		return rv;
	}
	return drpc_next_handle(next, s);
}

START_TEST(test_icpt_values)
{
	fixture                 f;
	drpc_server_interceptor sv[1] = {{si_value, NULL}};
	drpc_server_opts        so = {.interceptors = sv, .ninterceptors = 1};
	void                   *out;
	size_t                  len;

	fx_start(&f, &so, NULL);
	DRPC_CHECK_OK(drpc_invoke(
	    f.c, NULL, "/t/Value", "", 0, NULL, &out, &len, NULL));
	ck_assert_uint_eq(len, 9);
	ck_assert_mem_eq(out, "from-icpt", 9);
	drpc_free(out);
	ck_assert_ptr_null(drpc_stream_value(NULL, &value_key));
	fx_stop(&f);
}
END_TEST

// Wrappers: one per side counts what passes; the client's refuses a
// message "forbidden".

typedef struct wrap_arg {
	journal *j;
	int      side;
} wrap_arg;

static drpc_err
w_send(void *arg, drpc_stream *s, const void *data, size_t len)
{
	wrap_arg *w = arg;

	(void) s;
	if (len == 9 && memcmp(data, "forbidden", 9) == 0) {
		return DRPC_EPERM;
	}
	pthread_mutex_lock(&w->j->mu);
	w->j->w_send[w->side]++;
	w->j->w_sent_bytes[w->side] += len;
	pthread_mutex_unlock(&w->j->mu);
	return DRPC_OK;
}

static void
w_recv(void *arg, drpc_stream *s, const void *data, size_t len)
{
	wrap_arg *w = arg;

	(void) s;
	(void) data;
	pthread_mutex_lock(&w->j->mu);
	w->j->w_recv[w->side]++;
	w->j->w_recv_bytes[w->side] += len;
	pthread_mutex_unlock(&w->j->mu);
}

static void
w_end(void *arg, drpc_stream *s, const drpc_status *st)
{
	wrap_arg *w = arg;

	(void) s;
	pthread_mutex_lock(&w->j->mu);
	w->j->w_end[w->side]++;
	w->j->w_end_code[w->side] = st->code;
	pthread_cond_broadcast(&w->j->cv);
	pthread_mutex_unlock(&w->j->mu);
}

static const drpc_stream_wrapper counting = {w_send, w_recv, w_end};

static drpc_err
si_wrap(drpc_stream *s, drpc_next *next, void *arg)
{
	drpc_err rv = drpc_stream_wrap(s, &counting, arg);

	return rv != DRPC_OK ? rv : drpc_next_handle(next, s);
}

static drpc_err
ci_wrap(drpc_client_call *c, drpc_next *next, void *arg)
{
	drpc_err rv = drpc_next_call(next, c);

	if (rv == DRPC_OK && drpc_client_call_kind(c) == DRPC_CALL_STREAM) {
		rv = drpc_stream_wrap(drpc_client_call_stream(c), &counting, arg);
	}
	return rv;
}

// fx_start_wrapped starts the fixture with si_wrap on the server and
// ci_wrap on the client, w[0] and w[1] their arguments (the test's: the
// interceptors are copied, their arguments are not).
static void
fx_start_wrapped(fixture *f, wrap_arg w[2])
{
	drpc_server_interceptor sv[1] = {{si_wrap, &w[0]}};
	drpc_client_interceptor cv[1] = {{ci_wrap, &w[1]}};
	drpc_server_opts so = {.interceptors = sv, .ninterceptors = 1};
	drpc_conn_opts          co = {.interceptors = cv, .ninterceptors = 1};

	w[0] = (wrap_arg){&f->j, 0};
	w[1] = (wrap_arg){&f->j, 1};
	fx_start(f, &so, &co);
}

START_TEST(test_icpt_wrap_bidi)
{
	fixture      f;
	wrap_arg     w[2];
	drpc_stream *s;
	size_t       sent = 0;
	uint8_t     *enc;
	size_t       n;
	void        *out;
	size_t       len;

	fx_start_wrapped(&f, w);
	DRPC_CHECK_OK(drpc_stream_open(&s, f.c, NULL, "/interop.Echo/Bidi", NULL));
	for (int i = 0; i < 5; i++) {
		char payload[48];

		snprintf(payload, sizeof(payload), "message %d%s", i,
		    i == 3 ? " with more bytes" : "");
		DRPC_CHECK_OK(echo_msg_encode(payload, strlen(payload), &enc, &n));
		DRPC_CHECK_OK(drpc_stream_send(s, enc, n));
		sent += n;
		free(enc);
		DRPC_CHECK_OK(drpc_stream_recv(s, &out, &len));
		ck_assert_uint_eq(len, n);
		drpc_free(out);
	}
	DRPC_CHECK_ERR(drpc_stream_send(s, "forbidden", 9), DRPC_EPERM);
	DRPC_CHECK_OK(drpc_stream_close_send(s));
	DRPC_CHECK_ERR(drpc_stream_recv(s, &out, &len), DRPC_EOF);
	ck_assert(jr_wait_int(&f.j, &f.j.w_end[0], 1)); // the server's end
	ck_assert_int_eq(f.j.w_end[1], 0); // the client's: at destroy
	drpc_stream_destroy(s);
	pthread_mutex_lock(&f.j.mu);
	for (int side = 0; side < 2; side++) {
		ck_assert_int_eq(f.j.w_send[side], 5);
		ck_assert_int_eq(f.j.w_recv[side], 5);
		ck_assert_uint_eq(f.j.w_sent_bytes[side], sent);
		ck_assert_uint_eq(f.j.w_recv_bytes[side], sent);
		ck_assert_int_eq(f.j.w_end[side], 1);
		ck_assert_int_eq(f.j.w_end_code[side], DRPC_OK);
	}
	pthread_mutex_unlock(&f.j.mu);
	fx_stop(&f);
}
END_TEST

// Generated stubs run inside the chain: a unary call and a bidi stream
// of test/proto/echo.proto, both sides intercepted and wrapped.

static drpc_err
gen_unary(void *user, drpc_stream *s, const Test__Echo__Msg *req,
    Test__Echo__Msg *reply)
{
	(void) user;
	(void) s;
	reply->payload = req->payload; // borrowed until the reply is sent
	return DRPC_OK;
}

START_TEST(test_icpt_generated_stubs)
{
	fixture          f;
	wrap_arg         w[2];
	Test__Echo__Msg  req = TEST__ECHO__MSG__INIT;
	Test__Echo__Msg *reply;

	fx_start_wrapped(&f, w);
	req.payload.data = (uint8_t *) (uintptr_t) "stub";
	req.payload.len  = 4;
	DRPC_CHECK_OK(test__echo__echo_service__unary__invoke(
	    f.c, NULL, &req, &reply, NULL, NULL));
	ck_assert_uint_eq(reply->payload.len, 4);
	protobuf_c_message_free_unpacked(&reply->base, NULL);
	ck_assert(jr_wait_int(&f.j, &f.j.w_end[0], 1));
	pthread_mutex_lock(&f.j.mu);
	ck_assert_int_eq(f.j.w_recv[0], 1); // the request, through the chain
	ck_assert_int_eq(f.j.w_send[0], 1); // the reply
	ck_assert_int_eq(f.j.w_send[1], 0); // a unary call has no stream
	pthread_mutex_unlock(&f.j.mu);
	fx_stop(&f);
}
END_TEST

// Stats. expect checks the last end of method on one side.
static void
expect(stats_rec *r, const char *method, drpc_err code, uint64_t remote,
    uint64_t msgs_in, uint64_t bytes_in, uint64_t msgs_out,
    uint64_t bytes_out)
{
	const st_end *e = st_last_of(r, method);

	ck_assert_msg(e != NULL, "no end for %s", method);
	ck_assert_msg(e->e.code == code, "%s: code %s, want %s", method,
	    drpc_err_name(e->e.code), drpc_err_name(code));
	ck_assert_uint_eq(e->e.remote_code, remote);
	ck_assert_uint_eq(e->e.msgs_in, msgs_in);
	ck_assert_uint_eq(e->e.bytes_in, bytes_in);
	ck_assert_uint_eq(e->e.msgs_out, msgs_out);
	ck_assert_uint_eq(e->e.bytes_out, bytes_out);
	ck_assert_int_ge(e->e.latency_ns, 0);
}

// wait_ends waits until r has n ends.
static void
wait_ends(fixture *f, stats_rec *r, int n)
{
	ck_assert_msg(jr_wait_int(&f->j, &r->nends, n), "%d ends, want %d",
	    r->nends, n);
}

// stats_unary: a unary call echoing payload, its reply.
static size_t
stats_unary(fixture *f, const char *payload)
{
	uint8_t *enc;
	size_t   n;
	void    *out;
	size_t   len;

	DRPC_CHECK_OK(echo_msg_encode(payload, strlen(payload), &enc, &n));
	DRPC_CHECK_OK(drpc_invoke(f->c, NULL, "/interop.Echo/Unary", enc, n,
	    NULL, &out, &len, NULL));
	ck_assert_uint_eq(len, n);
	drpc_free(out);
	free(enc);
	return n;
}

// stats_server_stream reads count messages of size bytes to the end;
// returns their bytes, *req_len the request's.
static size_t
stats_server_stream(fixture *f, int count, int size, size_t *req_len)
{
	uint8_t      req[ECHO_REQ_MAX];
	drpc_stream *s;
	size_t       got = 0;
	void        *out;
	size_t       len;
	drpc_err     rv;

	*req_len = echo_stream_req_put(req, count, size);
	DRPC_CHECK_OK(drpc_stream_open_request(&s, f->c, NULL,
	    "/interop.Echo/ServerStream", req, *req_len, NULL));
	while ((rv = drpc_stream_recv(s, &out, &len)) == DRPC_OK) {
		got += len;
		drpc_free(out);
	}
	ck_assert_int_eq(rv, DRPC_EOF);
	drpc_stream_destroy(s);
	return got;
}

// stats_client_stream sends the payloads and reads the summary without
// waiting for the end (as a generated stub does); returns the bytes sent.
static size_t
stats_client_stream(fixture *f, size_t *reply_len)
{
	drpc_stream *s;
	size_t       sent = 0;
	void        *out;

	DRPC_CHECK_OK(drpc_stream_open(
	    &s, f->c, NULL, "/interop.Echo/ClientStream", NULL));
	for (int i = 0; i < 4; i++) {
		uint8_t *enc;
		size_t   n;

		DRPC_CHECK_OK(echo_msg_encode("abcdefgh", (size_t) i * 2, &enc, &n));
		DRPC_CHECK_OK(drpc_stream_send(s, enc, n));
		sent += n;
		free(enc);
	}
	DRPC_CHECK_OK(drpc_stream_close_send(s));
	DRPC_CHECK_OK(drpc_stream_recv(s, &out, reply_len));
	drpc_free(out);
	drpc_stream_destroy(s);
	return sent;
}

// stats_fail makes Fail answer code 9 "nope"; returns the request's size.
static size_t
stats_fail(fixture *f)
{
	uint8_t    *enc;
	size_t      n;
	void       *out;
	size_t      len;
	drpc_status st = {0};

	DRPC_CHECK_OK(echo_fail_req_encode(9, "nope", &enc, &n));
	DRPC_CHECK_ERR(drpc_invoke(f->c, NULL, "/interop.Echo/Fail", enc, n,
			   NULL, &out, &len, &st),
	    DRPC_ESTATE);
	ck_assert_str_eq(st.message, "nope");
	drpc_status_reset(&st);
	free(enc);
	return n;
}

// stats_cancel opens Sleep with its request, cancels it once the handler
// sleeps, and destroys it; returns the request's size.
static size_t
stats_cancel(fixture *f)
{
	uint8_t      req[ECHO_REQ_MAX];
	size_t       n = echo_sleep_req_put(req, 3600 * 1000);
	drpc_stream *s;

	DRPC_CHECK_OK(drpc_stream_open_request(
	    &s, f->c, NULL, "/interop.Echo/Sleep", req, n, NULL));
	ck_assert(jr_wait_int(&f->j, &f->sleeping, 1));
	drpc_stream_cancel(s);
	drpc_stream_destroy(s);
	return n;
}

// Every kind of call, on both sides, with a stats handler and the two
// gates: the counts are what was sent, and every begun RPC ends once.
START_TEST(test_icpt_stats_counts)
{
	fixture                 f;
	drpc_server_interceptor sv[1] = {{si_gate, &f.j}};
	drpc_client_interceptor cv[1] = {{ci_gate, &f.j}};
	drpc_server_opts        so = {.interceptors = sv, .ninterceptors = 1,
		   .stats = &f.sh};
	drpc_conn_opts co = {.interceptors = cv, .ninterceptors = 1,
	    .stats = &f.ch};
	size_t n, m, req;
	int    ends = 0;
	void  *out;
	size_t len;

	fx_start(&f, &so, &co);
	n = stats_unary(&f, "hello stats");
	wait_ends(&f, &f.ss, ++ends);
	expect(&f.cs, "/interop.Echo/Unary", DRPC_OK, 0, 1, n, 1, n);
	expect(&f.ss, "/interop.Echo/Unary", DRPC_OK, 0, 1, n, 1, n);

	m = stats_server_stream(&f, 3, 10, &req);
	wait_ends(&f, &f.ss, ++ends);
	expect(&f.cs, "/interop.Echo/ServerStream", DRPC_OK, 0, 3, m, 1, req);
	expect(&f.ss, "/interop.Echo/ServerStream", DRPC_OK, 0, 1, req, 3, m);

	n = stats_client_stream(&f, &m);
	wait_ends(&f, &f.ss, ++ends);
	expect(&f.cs, "/interop.Echo/ClientStream", DRPC_OK, 0, 1, m, 4, n);
	expect(&f.ss, "/interop.Echo/ClientStream", DRPC_OK, 0, 4, n, 1, m);

	n = stats_fail(&f);
	wait_ends(&f, &f.ss, ++ends);
	expect(&f.cs, "/interop.Echo/Fail", DRPC_ESTATE, 9, 0, 0, 1, n);
	expect(&f.ss, "/interop.Echo/Fail", DRPC_ESTATE, 9, 1, n, 0, 0);

	n = stats_cancel(&f);
	wait_ends(&f, &f.ss, ++ends);
	expect(&f.cs, "/interop.Echo/Sleep", DRPC_ECANCELED, 0, 0, 0, 1, n);
	expect(&f.ss, "/interop.Echo/Sleep", DRPC_ECANCELED, 1, 1, n, 0, 0);

	// Refused by the server's interceptor: its handler never ran.
	DRPC_CHECK_ERR(call_plain(f.c, "/t/Reject", NULL), DRPC_EPERM);
	wait_ends(&f, &f.ss, ++ends);
	expect(&f.cs, "/t/Reject", DRPC_EPERM, 7, 0, 0, 1, 1);
	expect(&f.ss, "/t/Reject", DRPC_EPERM, 7, 0, 0, 0, 0);

	// Unknown: refused on the server's reader, begun and ended there.
	DRPC_CHECK_ERR(drpc_invoke(f.c, NULL, "/t/Nobody", "", 0, NULL, &out,
			   &len, NULL),
	    DRPC_EUNIMPL);
	wait_ends(&f, &f.ss, ++ends);
	expect(&f.cs, "/t/Nobody", DRPC_EUNIMPL, 12, 0, 0, 1, 0);
	expect(&f.ss, "/t/Nobody", DRPC_EUNIMPL, 12, 0, 0, 0, 0);

	// Refused by the client's interceptor: begun and ended on the
	// client only (the server never heard of it).
	DRPC_CHECK_ERR(call_plain(f.c, "/t/Deny", NULL), DRPC_EUNAUTH);
	expect(&f.cs, "/t/Deny", DRPC_EUNAUTH, 0, 0, 0, 0, 0);
	fx_stop(&f);
	ck_assert_int_eq(f.ss.begins, ends);
	ck_assert_int_eq(f.ss.nends, ends);
	ck_assert_int_eq(f.cs.begins, ends + 1);
	ck_assert_int_eq(f.cs.nends, ends + 1);
	ck_assert_uint_eq(f.ss.nlive, 0);
	ck_assert_uint_eq(f.cs.nlive, 0);
}
END_TEST

// A bidi stream cancelled midway, with wrappers and stats on both sides:
// both ends see what went before the cancel, and end once.
START_TEST(test_icpt_stats_bidi_cancel)
{
	fixture                 f;
	wrap_arg                ws = {&f.j, 0}, wc = {&f.j, 1};
	drpc_server_interceptor sv[1] = {{si_wrap, &ws}};
	drpc_client_interceptor cv[1] = {{ci_wrap, &wc}};
	drpc_server_opts so = {.interceptors = sv, .ninterceptors = 1,
	    .stats = &f.sh};
	drpc_conn_opts co = {.interceptors = cv, .ninterceptors = 1,
	    .stats = &f.ch};
	drpc_stream *s;
	uint8_t     *enc;
	size_t       n;
	void        *out;
	size_t       len;

	fx_start(&f, &so, &co);
	DRPC_CHECK_OK(drpc_stream_open(&s, f.c, NULL, "/interop.Echo/Bidi", NULL));
	DRPC_CHECK_OK(echo_msg_encode("ping", 4, &enc, &n));
	for (int i = 0; i < 2; i++) {
		DRPC_CHECK_OK(drpc_stream_send(s, enc, n));
		DRPC_CHECK_OK(drpc_stream_recv(s, &out, &len));
		drpc_free(out);
	}
	free(enc);
	drpc_stream_cancel(s);
	DRPC_CHECK_ERR(drpc_stream_recv(s, &out, &len), DRPC_ECANCELED);
	drpc_stream_destroy(s);
	wait_ends(&f, &f.ss, 1);
	expect(&f.cs, "/interop.Echo/Bidi", DRPC_ECANCELED, 0, 2, 2 * n, 2,
	    2 * n);
	expect(&f.ss, "/interop.Echo/Bidi", DRPC_ECANCELED, 1, 2, 2 * n, 2,
	    2 * n);
	ck_assert(jr_wait_int(&f.j, &f.j.w_end[0], 1));
	pthread_mutex_lock(&f.j.mu);
	ck_assert_int_eq(f.j.w_end[1], 1);
	ck_assert_int_eq(f.j.w_end_code[1], DRPC_ECANCELED);
	ck_assert_int_eq(f.j.w_end_code[0], DRPC_ECANCELED);
	pthread_mutex_unlock(&f.j.mu);
	fx_stop(&f);
	ck_assert_int_eq(f.ss.nends, 1);
	ck_assert_int_eq(f.cs.nends, 1);
}
END_TEST

// Bad options are refused: interceptors NULL with a count, a NULL fn.
START_TEST(test_icpt_bad_opts)
{
	drpc_mux               *mux;
	drpc_server            *srv = NULL;
	drpc_server_interceptor sv[1] = {{NULL, NULL}};
	drpc_server_opts        so = {.ninterceptors = 1};
	drpc_client_interceptor cv[1] = {{NULL, NULL}};
	drpc_conn_opts          co = {.interceptors = cv, .ninterceptors = 1};
	drpc_conn              *c = NULL;
	int                     sv2[2];

	DRPC_CHECK_OK(drpc_mux_create(&mux));
	DRPC_CHECK_ERR(drpc_server_create(&srv, mux, &so), DRPC_EINVAL);
	so.interceptors = sv;
	DRPC_CHECK_ERR(drpc_server_create(&srv, mux, &so), DRPC_EINVAL);
	ck_assert_ptr_null(srv);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv2), 0);
	DRPC_CHECK_ERR(drpc_conn_create_fd(&c, sv2[0], &co), DRPC_EINVAL);
	ck_assert_ptr_null(c);
	DRPC_CHECK_ERR(drpc_next_handle(NULL, NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_next_call(NULL, NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_stream_wrap(NULL, &counting, NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_stream_set_value(NULL, &value_key, NULL),
	    DRPC_EINVAL);
	close(sv2[0]);
	close(sv2[1]);
	drpc_mux_destroy(mux);
}
END_TEST


// Review tests (lifetimes and bad input).

// A stream opened on a channel may be destroyed after the channel
// (drpc/channel.h): its stats' end must not reach into the channel's
// freed memory (ASan: heap-use-after-free in drpc__obs_end before the fix).
START_TEST(test_icpt_channel_stream_outlives)
{
	fixture           f;
	drpc_channel_opts o = {0};
	drpc_channel     *ch;
	drpc_cause        why;
	drpc_stream      *s;
	uint8_t          *enc;
	size_t            n;
	void             *out;
	size_t            len;

	fx_start(&f, NULL, NULL);
	o.conn.stats = &f.ch;
	DRPC_CHECK_OK(drpc_channel_create(&ch, f.t.addr, &o, &why));
	DRPC_CHECK_OK(drpc_stream_open(
	    &s, drpc_channel_conn(ch), NULL, "/interop.Echo/Bidi", NULL));
	DRPC_CHECK_OK(echo_msg_encode("ping", 4, &enc, &n));
	DRPC_CHECK_OK(drpc_stream_send(s, enc, n));
	DRPC_CHECK_OK(drpc_stream_recv(s, &out, &len));
	drpc_free(out);
	free(enc);
	drpc_channel_destroy(ch);
	drpc_stream_destroy(s); // after the channel, as channel.h allows
	pthread_mutex_lock(&f.j.mu);
	ck_assert_int_eq(f.cs.begins, 1);
	ck_assert_int_eq(f.cs.nends, 1);
	pthread_mutex_unlock(&f.j.mu);
	fx_stop(&f);
}
END_TEST

// A unary call in flight on a channel's handle while the channel is
// destroyed ends DRPC_ECANCELED (drpc/channel.h); its interceptor is
// held after next returned until drpc_channel_destroy has returned, so
// the call's stats end comes after the channel is gone.
typedef struct gate {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	int             returned; // next returned in the interceptor
	int             go;       // the channel is destroyed: go on
	drpc_err        rv;       // the call's result
} gate;

static drpc_err
ci_hold(drpc_client_call *c, drpc_next *next, void *arg)
{
	gate    *g  = arg;
	drpc_err rv = drpc_next_call(next, c);

	pthread_mutex_lock(&g->mu);
	g->returned = 1;
	pthread_cond_broadcast(&g->cv);
	while (!g->go) {
		pthread_cond_wait(&g->cv, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	return rv;
}

typedef struct inflight {
	drpc_conn *c;
	gate      *g;
} inflight;

static void *
inflight_main(void *arg)
{
	inflight *a = arg;
	uint8_t   req[ECHO_REQ_MAX];
	size_t    n = echo_sleep_req_put(req, 3600 * 1000);
	void     *out = NULL;
	size_t    len;
	drpc_err  rv;

	rv = drpc_invoke(a->c, NULL, "/interop.Echo/Sleep", req, n, NULL, &out,
	    &len, NULL);
	drpc_free(out);
	pthread_mutex_lock(&a->g->mu);
	a->g->rv = rv;
	pthread_mutex_unlock(&a->g->mu);
	return NULL;
}

START_TEST(test_icpt_channel_destroy_inflight)
{
	fixture                 f;
	gate                    g = {.rv = DRPC_OK};
	drpc_client_interceptor cv[1] = {{ci_hold, &g}};
	drpc_channel_opts       o = {0};
	drpc_channel           *ch;
	drpc_cause              why;
	inflight                a;
	pthread_t               t;

	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	fx_start(&f, NULL, NULL);
	o.conn.stats         = &f.ch;
	o.conn.interceptors  = cv;
	o.conn.ninterceptors = 1;
	DRPC_CHECK_OK(drpc_channel_create(&ch, f.t.addr, &o, &why));
	a = (inflight) {drpc_channel_conn(ch), &g};
	ck_assert_int_eq(pthread_create(&t, NULL, inflight_main, &a), 0);
	ck_assert(jr_wait_int(&f.j, &f.sleeping, 1));
	drpc_channel_destroy(ch); // the call is cancelled
	pthread_mutex_lock(&g.mu);
	while (!g.returned) {
		pthread_cond_wait(&g.cv, &g.mu);
	}
	g.go = 1; // the interceptor returns: the call's stats end
	pthread_cond_broadcast(&g.cv);
	pthread_mutex_unlock(&g.mu);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(g.rv, DRPC_ECANCELED);
	pthread_mutex_lock(&f.j.mu);
	ck_assert_int_eq(f.cs.begins, 1);
	ck_assert_int_eq(f.cs.nends, 1);
	pthread_mutex_unlock(&f.j.mu);
	fx_stop(&f);
	pthread_cond_destroy(&g.cv);
	pthread_mutex_destroy(&g.mu);
}
END_TEST

// Bad call options (md NULL with nmd > 0) get DRPC_EINVAL with an
// interceptor that adds metadata as without one, never a crash.
START_TEST(test_icpt_bad_call_md)
{
	fixture                 f;
	drpc_client_interceptor cv[1] = {{ci_gate, &f.j}};
	drpc_conn_opts          co = {.interceptors = cv, .ninterceptors = 1};
	drpc_call_opts          o  = {.md = NULL, .nmd = 2};
	drpc_status             st = {0};
	drpc_stream            *s  = NULL;
	void                   *out = NULL;
	size_t                  len;

	fx_start(&f, NULL, &co);
	DRPC_CHECK_ERR(drpc_invoke(f.c, NULL, "/t/Plain", "x", 1, &o, &out,
			   &len, &st),
	    DRPC_EINVAL);
	DRPC_CHECK_ERR(
	    drpc_stream_open(&s, f.c, NULL, "/interop.Echo/Bidi", &o),
	    DRPC_EINVAL);
	ck_assert_ptr_null(s);
	drpc_status_reset(&st);
	fx_stop(&f);
}
END_TEST

// An interceptor adding metadata over the message size limit gets a
// clean DRPC_ERESOURCE, and the call's stats end once.
static drpc_err
ci_huge(drpc_client_call *c, drpc_next *next, void *arg)
{
	size_t   n = *(size_t *) arg;
	char    *v = malloc(n + 1);
	drpc_err rv;

	if (strcmp(drpc_client_call_method(c), "/t/Plain") != 0) {
		free(v);
		return drpc_next_call(next, c);
	}
	if (v == NULL) {
		return DRPC_ENOMEM;
	}
	memset(v, 'v', n);
	v[n] = '\0';
	rv = drpc_client_call_add_md(c, "huge", v);
	free(v);
	return rv != DRPC_OK ? rv : drpc_next_call(next, c);
}

START_TEST(test_icpt_huge_md)
{
	fixture                 f;
	size_t                  big = 8u << 20;
	drpc_client_interceptor cv[1] = {{ci_huge, &big}};
	drpc_conn_opts          co = {.interceptors = cv, .ninterceptors = 1,
		     .max_msg_size = 1u << 20, .stats = &f.ch};
	drpc_status             st = {0};
	void                   *out = NULL;
	size_t                  len;

	fx_start(&f, NULL, &co);
	DRPC_CHECK_ERR(drpc_invoke(f.c, NULL, "/t/Plain", "x", 1, NULL, &out,
			   &len, &st),
	    DRPC_ERESOURCE);
	ck_assert_int_eq(st.code, DRPC_ERESOURCE);
	ck_assert_ptr_nonnull(st.message);
	drpc_status_reset(&st);
	// The connection carries on.
	DRPC_CHECK_ERR(call_plain(f.c, "/t/Nobody", NULL), DRPC_EUNIMPL);
	pthread_mutex_lock(&f.j.mu);
	ck_assert_int_eq(f.j.handled, 0);
	ck_assert_int_eq(f.cs.begins, 2);
	ck_assert_int_eq(f.cs.nends, 2);
	pthread_mutex_unlock(&f.j.mu);
	fx_stop(&f);
}
END_TEST


// A unary call on a channel's handle learns its backend's address once
// the call is open, as a stream does: its stats end names the peer.
START_TEST(test_icpt_channel_unary_peer)
{
	fixture           f;
	drpc_channel_opts o = {0};
	drpc_channel     *ch;
	drpc_cause        why;
	drpc_stream      *s;
	const st_end     *e;

	fx_start(&f, NULL, NULL);
	o.conn.stats = &f.ch;
	DRPC_CHECK_OK(drpc_channel_create(&ch, f.t.addr, &o, &why));
	DRPC_CHECK_ERR(call_plain(drpc_channel_conn(ch), "/t/Nobody", NULL),
	    DRPC_EUNIMPL);
	DRPC_CHECK_OK(drpc_stream_open(
	    &s, drpc_channel_conn(ch), NULL, "/interop.Echo/Bidi", NULL));
	drpc_stream_destroy(s);
	ck_assert_ptr_nonnull(e = st_last_of(&f.cs, "/interop.Echo/Bidi"));
	ck_assert_str_eq(e->peer, f.t.addr);
	ck_assert_ptr_nonnull(e = st_last_of(&f.cs, "/t/Nobody"));
	ck_assert_str_eq(e->peer, f.t.addr);
	drpc_channel_destroy(ch);
	fx_stop(&f);
}
END_TEST

TU_SUITE(intercept,
    TU_TEST("chain", test_icpt_server_chain, .timeout = 60),
    TU_TEST("chain", test_icpt_client_chain),
    TU_TEST("chain", test_icpt_client_timeout),
    TU_TEST("chain", test_icpt_values),
    TU_TEST("chain", test_icpt_bad_opts),
    TU_TEST("wrap", test_icpt_wrap_bidi, .timeout = 60),
    TU_TEST("wrap", test_icpt_generated_stubs),
    TU_TEST("stats", test_icpt_stats_counts, .timeout = 60),
    TU_TEST("stats", test_icpt_stats_bidi_cancel),
    TU_TEST("chain", test_icpt_bad_call_md),
    TU_TEST("chain", test_icpt_huge_md),
    TU_TEST("stats", test_icpt_channel_stream_outlives),
    TU_TEST("stats", test_icpt_channel_destroy_inflight),
    TU_TEST("stats", test_icpt_channel_unary_peer))
