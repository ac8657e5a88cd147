// The small traps of the public API (issue 13, item 5), over real sockets:
// what the client sees when a handler sets an error and returns, or
// returns one of the library's own codes; metadata values as C strings;
// empty messages; method names the mux refuses; per-call timeouts.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <drpc/drpc.h>

#include "fixture.h"
#include "suites.h"
#include "testutil.h"

// Handlers.

// h_set_ok sets an error, then returns DRPC_OK.
static drpc_err
h_set_ok(drpc_stream *s, void *user)
{
	(void) user;
	return drpc_stream_set_error(s, DRPC_ENOTFOUND, "no such key");
}

// h_set_fail sets an error, then returns one of the library's codes.
static drpc_err
h_set_fail(drpc_stream *s, void *user)
{
	(void) user;
	if (drpc_stream_set_error(s, 42, "custom") != DRPC_OK) {
		return DRPC_ENOMEM;
	}
	return DRPC_EIO;
}

// h_return returns the code the request gives in decimal; to an empty
// request (len 0, data NULL) it answers an empty message.
static drpc_err
h_return(drpc_stream *s, void *user)
{
	void    *data;
	size_t   len;
	char     num[24] = {0};
	drpc_err rv;

	(void) user;
	if ((rv = drpc_stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	if (len == 0) {
		return data == NULL ? drpc_stream_send(s, NULL, 0)
		                    : DRPC_EDATALOSS;
	}
	memcpy(num, data, len < sizeof(num) - 1 ? len : sizeof(num) - 1);
	drpc_free(data);
	return (drpc_err) atoi(num);
}

// h_md answers "key=value;" for every pair, read as C strings (so a
// value that is not terminated shows up as garbage), after checking that
// every key and value is terminated where its length says and that
// md_get's length is exact ("nul" holds "x\0y").
static drpc_err
h_md(drpc_stream *s, void *user)
{
	char        out[512] = {0};
	size_t      n        = 0;
	const char *v;
	size_t      len;

	(void) user;
	for (size_t i = 0; i < drpc_stream_md_count(s); i++) {
		drpc_md_pair p = drpc_stream_md_at(s, i);

		if (p.key[p.key_len] != '\0' || p.value[p.value_len] != '\0') {
			return DRPC_EDATALOSS;
		}
		n += (size_t) snprintf(
		    out + n, sizeof(out) - n, "%s=%s;", p.key, p.value);
	}
	if (drpc_stream_md_get(s, "nul", &v, &len) != DRPC_OK || len != 3 ||
	    memcmp(v, "x\0y", 4) != 0) {
		return DRPC_EDATALOSS;
	}
	return drpc_stream_send(s, out, n);
}

// h_empty expects two empty messages, one by drpc_stream_recv (len 0,
// data NULL) and one by drpc_stream_recv_view (len 0), then the end of
// the client's messages; it answers with one empty message.
static drpc_err
h_empty(drpc_stream *s, void *user)
{
	void       *data = &data;
	const void *view;
	size_t      len = 99;
	drpc_err    rv;

	(void) user;
	if ((rv = drpc_stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	if (data != NULL || len != 0) {
		drpc_free(data);
		return DRPC_EDATALOSS;
	}
	if ((rv = drpc_stream_recv_view(s, &view, &len)) != DRPC_OK) {
		return rv;
	}
	drpc_stream_recv_done(s);
	if (len != 0) {
		return DRPC_EDATALOSS;
	}
	if ((rv = drpc_stream_recv(s, &data, &len)) != DRPC_EOF) {
		return rv == DRPC_OK ? DRPC_EDATALOSS : rv;
	}
	return drpc_stream_send(s, NULL, 0);
}

// h_deadline answers "yes" if its context has a deadline, else "no".
static drpc_err
h_deadline(drpc_stream *s, void *user)
{
	(void) user;
	return drpc_ctx_deadline(drpc_stream_ctx(s)) != 0
	           ? drpc_stream_send(s, "yes", 3)
	           : drpc_stream_send(s, "no", 2);
}

// h_hang records when each call (metadata "id", 0 to HANG_CALLS - 1)
// started, then never answers: it waits until its context ends (the
// client's Cancel, or the deadline the client sent). user is a hang.
#define HANG_CALLS 8

typedef struct hang {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	int64_t         started[HANG_CALLS]; // guarded by mu; 0: not yet
} hang;

static drpc_err
h_hang(drpc_stream *s, void *user)
{
	hang       *h   = user;
	int64_t     now = drpc_now_ns();
	const char *v;
	size_t      len;
	int         id;

	if (drpc_stream_md_get(s, "id", &v, &len) != DRPC_OK) {
		return DRPC_EINVAL;
	}
	if ((id = atoi(v)) >= 0 && id < HANG_CALLS) {
		pthread_mutex_lock(&h->mu);
		h->started[id] = now;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
	}
	return drpc_ctx_wait(drpc_stream_ctx(s), 0);
}

// traps_start serves the handlers on the fixture's server (user is
// every handler's user pointer; its log is kept) and dials it with co
// (may be NULL).
static void
traps_start(tf *f, void *user, const drpc_conn_opts *co)
{
	const tf_method m[] = {
	    {"/traps.T/SetOk", h_set_ok, user},
	    {"/traps.T/SetFail", h_set_fail, user},
	    {"/traps.T/Return", h_return, user},
	    {"/traps.T/Md", h_md, user},
	    {"/traps.T/Empty", h_empty, user},
	    {"/traps.T/Deadline", h_deadline, user},
	    {"/traps.T/Hang", h_hang, user},
	};

	tf_server_start(f, &(tf_opts){.methods = m, .nmethods = TU_LEN(m)});
	tf_dial(f, co);
}

// set_error, then DRPC_OK: the call fails with the error that was set.
START_TEST(test_traps_set_error_then_ok)
{
	tf          f;
	drpc_status st = {0};

	traps_start(&f, NULL, NULL);
	DRPC_CHECK_ERR(tf_call(&f, "/traps.T/SetOk", "", &st), DRPC_ENOTFOUND);
	ck_assert(st.remote);
	ck_assert_uint_eq(st.remote_code, DRPC_ENOTFOUND);
	ck_assert_str_eq(st.message, "no such key");
	drpc_status_reset(&st);
	tf_stop(&f);
}
END_TEST

// set_error, then an error (even a library code): the error that was set
// goes out as given, and the failure is logged at WARN with that code,
// not as a library failure (docs/api.md, "Logging").
START_TEST(test_traps_set_error_then_error)
{
	char        line[512];
	tf          f;
	drpc_status st = {0};

	traps_start(&f, NULL, NULL);
	DRPC_CHECK_ERR(tf_call(&f, "/traps.T/SetFail", "", &st), DRPC_EREMOTE);
	ck_assert(st.remote);
	ck_assert_uint_eq(st.remote_code, 42);
	ck_assert_str_eq(st.message, "custom");
	ck_assert_uint_eq(tf_log_count(&f, DRPC_LOG_WARN), 1);
	tf_log_line(&f, DRPC_LOG_WARN, 0, line, sizeof(line));
	ck_assert_msg(
	    strstr(line, "/traps.T/SetFail failed: code 42") != NULL &&
	        strstr(line, "Internal") == NULL,
	    "log: %s", line);
	drpc_status_reset(&st);
	tf_stop(&f);
}
END_TEST

// A gRPC code (1-16) a handler returns travels as it is, with its text;
// each failure is logged once at WARN, with its code.
START_TEST(test_traps_status_travels)
{
	char        line[512];
	tf          f;
	drpc_status st = {0};
	char        req[16];
	char        want[32];

	traps_start(&f, NULL, NULL);
	for (int code = DRPC_ECANCELED; code <= DRPC_EUNAUTH; code++) {
		snprintf(req, sizeof(req), "%d", code);
		DRPC_CHECK_ERR(
		    tf_call(&f, "/traps.T/Return", req, &st), (drpc_err) code);
		ck_assert_uint_eq(st.remote_code, (uint64_t) code);
		ck_assert_str_eq(st.message, drpc_strerror((drpc_err) code));
		// Logged before the Error is sent: it is there already.
		ck_assert_uint_eq(
		    tf_log_count(&f, DRPC_LOG_WARN), (size_t) code);
		snprintf(want, sizeof(want), "code %d ", code);
		tf_log_line(
		    &f, DRPC_LOG_WARN, (size_t) code - 1, line, sizeof(line));
		ck_assert_msg(strstr(line, want) != NULL, "log: %s", line);
	}
	drpc_status_reset(&st);
	tf_stop(&f);
}
END_TEST

// Any other code a handler returns (the library's own, 100 and up, or an
// unassigned one) reaches the client as Internal with a neutral text; the
// server's log has the method and the real error at WARN level.
static const drpc_err hidden[] = {DRPC_EOF, DRPC_ENOMEM, DRPC_EPROTO,
    DRPC_EVARINT, DRPC_ETOOBIG, DRPC_EKIND, DRPC_ETRUNC, DRPC_EMETADATA,
    DRPC_EIO, DRPC_ECLOSED, DRPC_EREMOTE, (drpc_err) 17};

START_TEST(test_traps_library_code_is_internal)
{
	char        line[512];
	tf          f;
	drpc_status st   = {0};
	drpc_err    code = hidden[_i];
	char        req[16];

	traps_start(&f, NULL, NULL);
	snprintf(req, sizeof(req), "%d", (int) code);
	DRPC_CHECK_ERR(
	    tf_call(&f, "/traps.T/Return", req, &st), DRPC_EINTERNAL);
	ck_assert(st.remote);
	ck_assert_uint_eq(st.remote_code, DRPC_EINTERNAL);
	ck_assert_str_eq(st.message, "internal error");
	// The line is logged before the Error is sent: it is there already.
	ck_assert_uint_eq(tf_log_count(&f, DRPC_LOG_WARN), 1);
	tf_log_line(&f, DRPC_LOG_WARN, 0, line, sizeof(line));
	ck_assert_msg(strstr(line, "/traps.T/Return") != NULL &&
	                  strstr(line, drpc_strerror(code)) != NULL,
	    "log: %s", line);
	drpc_status_reset(&st);
	tf_stop(&f);
}
END_TEST

// Metadata values reach the handler NUL-terminated, lengths exact.
START_TEST(test_traps_md_values_terminated)
{
	tf             f;
	drpc_md_pair   md[] = {drpc_md_str("a", "one"), drpc_md_str("b", ""),
	      drpc_md_str("c", "three"), {"nul", 3, "x\0y", 3}};
	drpc_call_opts o    = {.md = md, .nmd = 4};

	traps_start(&f, NULL, NULL);
	DRPC_CHECK_OK(tf_call_opts(&f, "/traps.T/Md", "", &o, NULL));
	tf_reply_is(&f, "a=one;b=;c=three;nul=x;");
	tf_stop(&f);
}
END_TEST

// Empty messages both ways: len 0 and a NULL pointer, then the end.
START_TEST(test_traps_empty_message)
{
	tf           f;
	drpc_stream *s;
	drpc_status  st   = {0};
	void        *data = &data;
	size_t       len  = 99;

	traps_start(&f, NULL, NULL);
	DRPC_CHECK_OK(drpc_stream_open(&s, f.c, NULL, "/traps.T/Empty", NULL));
	DRPC_CHECK_OK(drpc_stream_send(s, NULL, 0));
	DRPC_CHECK_OK(drpc_stream_send(s, "", 0));
	DRPC_CHECK_OK(drpc_stream_close_send(s));
	DRPC_CHECK_OK(drpc_stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_null(data);
	DRPC_CHECK_ERR(drpc_stream_recv(s, &data, &len), DRPC_EOF);
	drpc_stream_destroy(s);
	// A unary call: an empty request, an empty reply.
	data = &data;
	DRPC_CHECK_OK(drpc_invoke(
	    f.c, NULL, "/traps.T/Return", NULL, 0, NULL, &data, &len, &st));
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_null(data);
	drpc_status_reset(&st);
	tf_stop(&f);
}
END_TEST

// The mux takes only names a client can call: a leading slash and
// something after it.
START_TEST(test_traps_mux_names)
{
	drpc_mux *m;

	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_ERR(drpc_mux_register(m, "", h_return, NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_mux_register(m, "/", h_return, NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_mux_register(m, "traps.T/Return", h_return, NULL),
	    DRPC_EINVAL);
	DRPC_CHECK_ERR(
	    drpc_mux_register(m, "Return", h_return, NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_mux_register(m, NULL, h_return, NULL), DRPC_EINVAL);
	DRPC_CHECK_OK(drpc_mux_register(m, "/traps.T/Return", h_return, NULL));
	DRPC_CHECK_OK(drpc_mux_register(m, "/T/Return", h_return, NULL));
	DRPC_CHECK_ERR(
	    drpc_mux_register(m, "/T/Return", h_return, NULL), DRPC_EEXIST);
	drpc_mux_destroy(m);
}
END_TEST

// Per-call timeouts (drpc_call_opts.timeout_ms) against a handler that
// never answers.

static void
hang_init(hang *h)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
}

static void
hang_fini(hang *h)
{
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
}

// hang_wait returns when call id started, or 0 if it has not within 10 s
// (times CK_TIMEOUT_MULTIPLIER).
static int64_t
hang_wait(hang *h, int id)
{
	const char     *m    = getenv("CK_TIMEOUT_MULTIPLIER");
	time_t          secs = 10 * (m != NULL && atoi(m) > 1 ? atoi(m) : 1);
	struct timespec until;
	int64_t         t;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += secs;
	pthread_mutex_lock(&h->mu);
	while (h->started[id] == 0 &&
	       pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0) {
	}
	t = h->started[id];
	pthread_mutex_unlock(&h->mu);
	return t;
}

// hang_opts fills o to call Hang as call id with timeout_ms.
static void
hang_opts(drpc_call_opts *o, drpc_md_pair *md, char *num, size_t cap, int id,
    int64_t timeout_ms)
{
	snprintf(num, cap, "%d", id);
	*md = drpc_md_str("id", num);
	*o  = (drpc_call_opts){.md = md, .nmd = 1, .timeout_ms = timeout_ms};
}

typedef drpc_err (*hang_call)(
    drpc_conn *c, drpc_ctx *ctx, const drpc_call_opts *o);

// hang_invoke calls Hang with drpc_invoke.
static drpc_err
hang_invoke(drpc_conn *c, drpc_ctx *ctx, const drpc_call_opts *o)
{
	void    *reply;
	size_t   len;
	drpc_err rv;

	rv = drpc_invoke(c, ctx, "/traps.T/Hang", "", 0, o, &reply, &len, NULL);
	if (rv == DRPC_OK) {
		drpc_free(reply);
	}
	return rv;
}

// hang_stream calls Hang with drpc_stream_open and waits in recv; the
// stream's status must agree with what recv said.
static drpc_err
hang_stream(drpc_conn *c, drpc_ctx *ctx, const drpc_call_opts *o)
{
	drpc_stream *s;
	drpc_status  st = {0};
	void        *data;
	size_t       len;
	drpc_err     rv;

	if ((rv = drpc_stream_open(&s, c, ctx, "/traps.T/Hang", o)) !=
	    DRPC_OK) {
		return rv;
	}
	if ((rv = drpc_stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc_free(data);
		rv = DRPC_EDATALOSS;
	} else if (drpc_stream_status(s, &st) != DRPC_OK || st.code != rv) {
		rv = DRPC_ESTATE;
	}
	drpc_status_reset(&st);
	drpc_stream_destroy(s);
	return rv;
}

static const struct {
	hang_call call;
	bool      omit_deadline; // the server never learns the deadline
	bool      parent;        // under a ctx whose deadline is later
} hang_variants[] = {
    {hang_invoke, false, false},
    {hang_stream, false, false},
    {hang_invoke, true, false},
    {hang_stream, true, false},
    {hang_invoke, false, true},
    {hang_stream, true, true},
};

// A call with timeout_ms to a handler that is running and never answers
// ends with DRPC_ETIMEDOUT, no context made. The handler must have
// started before the deadline (at least t0 + timeout_ms): otherwise the
// call is made again with twice the timeout, so a slow machine changes
// how many tries it takes, never the outcome.
START_TEST(test_traps_timeout_never_answered)
{
	drpc_conn_opts co = {.omit_deadline = hang_variants[_i].omit_deadline};
	hang           h;
	tf             f;
	drpc_ctx      *ctx   = NULL;
	bool           first = false;

	hang_init(&h);
	traps_start(&f, &h, &co);
	if (hang_variants[_i].parent) {
		DRPC_CHECK_OK(drpc_ctx_create_timeout(&ctx, NULL, 600000));
	}
	for (int id = 0; id < HANG_CALLS && !first; id++) {
		int64_t        timeout_ms = (int64_t) 100 << id;
		drpc_call_opts o;
		drpc_md_pair   md;
		char           num[16];
		int64_t        t0 = drpc_now_ns();
		int64_t        started;

		hang_opts(&o, &md, num, sizeof(num), id, timeout_ms);
		DRPC_CHECK_ERR(
		    hang_variants[_i].call(f.c, ctx, &o), DRPC_ETIMEDOUT);
		started = hang_wait(&h, id);
		first   = started != 0 && started < t0 + timeout_ms * 1000000;
	}
	ck_assert_msg(first, "no handler started before its call's deadline");
	drpc_ctx_destroy(ctx);
	tf_stop(&f);
	hang_fini(&h);
}
END_TEST

typedef struct hang_job {
	drpc_conn *c;
	drpc_ctx  *ctx;
	drpc_err   rv;
} hang_job;

static void *
hang_job_main(void *arg)
{
	hang_job      *j = arg;
	drpc_call_opts o;
	drpc_md_pair   md;
	char           num[16];

	hang_opts(&o, &md, num, sizeof(num), 0, 600000);
	j->rv = hang_invoke(j->c, j->ctx, &o);
	return NULL;
}

// The ctx still applies beside timeout_ms: cancelling it ends the call
// (DRPC_ECANCELED), an expired one ends it at once (DRPC_ETIMEDOUT), and
// a negative timeout_ms has expired already.
START_TEST(test_traps_timeout_and_ctx)
{
	hang           h;
	tf             f;
	hang_job       j = {0};
	pthread_t      t;
	drpc_call_opts o;
	drpc_md_pair   md;
	char           num[16];

	hang_init(&h);
	traps_start(&f, &h, NULL);
	DRPC_CHECK_OK(drpc_ctx_create(&j.ctx, NULL));
	j.c = f.c;
	ck_assert_int_eq(pthread_create(&t, NULL, hang_job_main, &j), 0);
	ck_assert(hang_wait(&h, 0) != 0); // the handler is running
	drpc_ctx_cancel(j.ctx);
	pthread_join(t, NULL);
	DRPC_CHECK_ERR(j.rv, DRPC_ECANCELED);
	drpc_ctx_destroy(j.ctx);

	DRPC_CHECK_OK(drpc_ctx_create_timeout(&j.ctx, NULL, 0));
	hang_opts(&o, &md, num, sizeof(num), 1, 600000);
	DRPC_CHECK_ERR(hang_invoke(f.c, j.ctx, &o), DRPC_ETIMEDOUT);
	DRPC_CHECK_ERR(hang_stream(f.c, j.ctx, &o), DRPC_ETIMEDOUT);
	drpc_ctx_destroy(j.ctx);
	hang_opts(&o, &md, num, sizeof(num), 1, -1);
	DRPC_CHECK_ERR(hang_invoke(f.c, NULL, &o), DRPC_ETIMEDOUT);
	DRPC_CHECK_ERR(hang_stream(f.c, NULL, &o), DRPC_ETIMEDOUT);
	tf_stop(&f);
	hang_fini(&h);
}
END_TEST

// A call that answers in time succeeds; its timeout reached the handler
// as a deadline, and a call without one has none.
START_TEST(test_traps_timeout_in_time)
{
	tf             f;
	drpc_call_opts o = {.timeout_ms = 600000};
	void          *reply;
	size_t         len;

	traps_start(&f, NULL, NULL);
	DRPC_CHECK_OK(drpc_invoke(
	    f.c, NULL, "/traps.T/Deadline", "", 0, &o, &reply, &len, NULL));
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(reply, "yes", 3);
	drpc_free(reply);
	DRPC_CHECK_OK(drpc_invoke(
	    f.c, NULL, "/traps.T/Deadline", "", 0, NULL, &reply, &len, NULL));
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(reply, "no", 2);
	drpc_free(reply);
	tf_stop(&f);
}
END_TEST

TU_SUITE(traps,
    TU_TEST("status", test_traps_set_error_then_ok, .timeout = 30),
    TU_TEST("status", test_traps_set_error_then_error),
    TU_TEST("status", test_traps_status_travels),
    TU_TEST("status", test_traps_library_code_is_internal,
        .loops = (int) TU_LEN(hidden)),
    TU_TEST("calls", test_traps_md_values_terminated, .timeout = 30),
    TU_TEST("calls", test_traps_empty_message),
    TU_TEST("calls", test_traps_mux_names),
    TU_TEST("time", test_traps_timeout_never_answered,
        .loops = (int) TU_LEN(hang_variants), .timeout = 60),
    TU_TEST("time", test_traps_timeout_and_ctx),
    TU_TEST("time", test_traps_timeout_in_time))
