// The small traps of the public API (issue 13, item 5), over real sockets:
// what the client sees when a handler sets an error and returns, or
// returns one of the library's own codes; metadata values as C strings;
// empty messages; method names the mux refuses; per-call timeouts.
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>

#include "suites.h"
#include "testutil.h"

// log_sink keeps every WARN line a server logged, one per row.
#define SINK_LINES 32

typedef struct log_sink {
	pthread_mutex_t mu;
	char            lines[SINK_LINES][512]; // guarded by mu
	int             n;
} log_sink;

static void
sink_log(void *arg, drpc_log_level level, const char *msg)
{
	log_sink *l = arg;

	pthread_mutex_lock(&l->mu);
	if (level == DRPC_LOG_WARN && l->n < SINK_LINES) {
		snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%s", msg);
	}
	pthread_mutex_unlock(&l->mu);
}

// sink_count is how many WARN lines were logged so far.
static int
sink_count(log_sink *l)
{
	int n;

	pthread_mutex_lock(&l->mu);
	n = l->n;
	pthread_mutex_unlock(&l->mu);
	return n;
}

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

typedef struct fixture {
	log_sink     sink;
	drpc_mux    *mux;
	drpc_server *srv;
	drpc_conn   *c;
	char         addr[256];
} fixture;

static const struct {
	const char     *name;
	drpc_handler_fn fn;
} handlers[] = {
    {"/traps.T/SetOk", h_set_ok},
    {"/traps.T/SetFail", h_set_fail},
    {"/traps.T/Return", h_return},
    {"/traps.T/Md", h_md},
    {"/traps.T/Empty", h_empty},
};

// fixture_start serves the handlers on loopback TCP (user is every
// handler's user pointer) and dials it with co (may be NULL).
static void
fixture_start(fixture *f, void *user, const drpc_conn_opts *co)
{
	drpc_server_opts so = {.log = sink_log};

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->sink.mu, NULL);
	so.log_arg = &f->sink;
	DRPC_CHECK_OK(drpc_mux_create(&f->mux));
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		DRPC_CHECK_OK(drpc_mux_register(
		    f->mux, handlers[i].name, handlers[i].fn, user));
	}
	DRPC_CHECK_OK(drpc_server_create(&f->srv, f->mux, &so));
	DRPC_CHECK_OK(drpc_server_listen(f->srv, "tcp://127.0.0.1:0"));
	DRPC_CHECK_OK(drpc_server_addr(f->srv, f->addr, sizeof(f->addr)));
	DRPC_CHECK_OK(drpc_dial(&f->c, f->addr, co));
}

static void
fixture_stop(fixture *f)
{
	drpc_conn_destroy(f->c);
	DRPC_CHECK_OK(drpc_server_shutdown(f->srv, drpc_now_ns() + 2000000000));
	drpc_server_destroy(f->srv);
	drpc_mux_destroy(f->mux);
	pthread_mutex_destroy(&f->sink.mu);
}

// call invokes method with req and returns what the client saw; a reply,
// if any, is freed.
static drpc_err
call(fixture *f, const char *method, const char *req, drpc_status *st)
{
	void    *reply = NULL;
	size_t   len;
	drpc_err rv;

	rv = drpc_invoke(
	    f->c, NULL, method, req, strlen(req), NULL, &reply, &len, st);
	if (rv == DRPC_OK) {
		drpc_free(reply);
	}
	return rv;
}

// set_error, then DRPC_OK: the call fails with the error that was set.
START_TEST(test_traps_set_error_then_ok)
{
	fixture     f;
	drpc_status st = {0};

	fixture_start(&f, NULL, NULL);
	DRPC_CHECK_ERR(call(&f, "/traps.T/SetOk", "", &st), DRPC_ENOTFOUND);
	ck_assert(st.remote);
	ck_assert_uint_eq(st.remote_code, DRPC_ENOTFOUND);
	ck_assert_str_eq(st.message, "no such key");
	drpc_status_reset(&st);
	fixture_stop(&f);
}
END_TEST

// set_error, then an error (even a library code): the error that was set
// goes out as given, and nothing is logged as a library failure.
START_TEST(test_traps_set_error_then_error)
{
	fixture     f;
	drpc_status st = {0};

	fixture_start(&f, NULL, NULL);
	DRPC_CHECK_ERR(call(&f, "/traps.T/SetFail", "", &st), DRPC_EREMOTE);
	ck_assert(st.remote);
	ck_assert_uint_eq(st.remote_code, 42);
	ck_assert_str_eq(st.message, "custom");
	ck_assert_int_eq(sink_count(&f.sink), 0);
	drpc_status_reset(&st);
	fixture_stop(&f);
}
END_TEST

// A gRPC code (1-16) a handler returns travels as it is, with its text.
START_TEST(test_traps_status_travels)
{
	fixture     f;
	drpc_status st = {0};
	char        req[16];

	fixture_start(&f, NULL, NULL);
	for (int code = DRPC_ECANCELED; code <= DRPC_EUNAUTH; code++) {
		snprintf(req, sizeof(req), "%d", code);
		DRPC_CHECK_ERR(
		    call(&f, "/traps.T/Return", req, &st), (drpc_err) code);
		ck_assert_uint_eq(st.remote_code, (uint64_t) code);
		ck_assert_str_eq(st.message, drpc_strerror((drpc_err) code));
	}
	ck_assert_int_eq(sink_count(&f.sink), 0);
	drpc_status_reset(&st);
	fixture_stop(&f);
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
	fixture     f;
	drpc_status st   = {0};
	drpc_err    code = hidden[_i];
	char        req[16];

	fixture_start(&f, NULL, NULL);
	snprintf(req, sizeof(req), "%d", (int) code);
	DRPC_CHECK_ERR(call(&f, "/traps.T/Return", req, &st), DRPC_EINTERNAL);
	ck_assert(st.remote);
	ck_assert_uint_eq(st.remote_code, DRPC_EINTERNAL);
	ck_assert_str_eq(st.message, "internal error");
	// The line is logged before the Error is sent: it is there already.
	ck_assert_int_eq(sink_count(&f.sink), 1);
	ck_assert_msg(strstr(f.sink.lines[0], "/traps.T/Return") != NULL &&
	                  strstr(f.sink.lines[0], drpc_strerror(code)) != NULL,
	    "log: %s", f.sink.lines[0]);
	drpc_status_reset(&st);
	fixture_stop(&f);
}
END_TEST

// Metadata values reach the handler NUL-terminated, lengths exact.
START_TEST(test_traps_md_values_terminated)
{
	fixture        f;
	drpc_md_pair   md[] = {drpc_md_str("a", "one"), drpc_md_str("b", ""),
	      drpc_md_str("c", "three"), {"nul", 3, "x\0y", 3}};
	drpc_call_opts o    = {md, 4};
	const char    *want = "a=one;b=;c=three;nul=x;";
	void          *reply;
	size_t         len;

	fixture_start(&f, NULL, NULL);
	DRPC_CHECK_OK(drpc_invoke(
	    f.c, NULL, "/traps.T/Md", "", 0, &o, &reply, &len, NULL));
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_mem_eq(reply, want, len);
	drpc_free(reply);
	fixture_stop(&f);
}
END_TEST

// Empty messages both ways: len 0 and a NULL pointer, then the end.
START_TEST(test_traps_empty_message)
{
	fixture      f;
	drpc_stream *s;
	drpc_status  st   = {0};
	void        *data = &data;
	size_t       len  = 99;

	fixture_start(&f, NULL, NULL);
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
	fixture_stop(&f);
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

Suite *
traps_suite(void)
{
	Suite *s      = suite_create("traps");
	TCase *status = tcase_create("status");
	TCase *calls  = tcase_create("calls");

	tcase_add_test(status, test_traps_set_error_then_ok);
	tcase_add_test(status, test_traps_set_error_then_error);
	tcase_add_test(status, test_traps_status_travels);
	tcase_add_loop_test(status, test_traps_library_code_is_internal, 0,
	    (int) (sizeof(hidden) / sizeof(hidden[0])));
	tcase_add_test(calls, test_traps_md_values_terminated);
	tcase_add_test(calls, test_traps_empty_message);
	tcase_add_test(calls, test_traps_mux_names);
	tcase_set_timeout(status, 30);
	tcase_set_timeout(calls, 30);
	suite_add_tcase(s, status);
	suite_add_tcase(s, calls);
	return s;
}
