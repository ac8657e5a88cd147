// The health service (include/drpc/health.h) over real loopback TCP. The
// requests and answers are written and read byte for byte here, as
// grpc.health.v1's encoding has them (HealthCheckRequest: 0x0a, length,
// the service name; HealthCheckResponse: 0x08, the status; proto3 leaves
// out zero values), so the test also pins the wire format.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "fixture.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"

// The health service on the fixture's server (fixture.h), attached to
// it, and a client (t.c).
typedef struct hc_env {
	drpc_health *h;
	tf           t;
} hc_env;

static void
hc_register(void *arg, drpc_mux *m)
{
	hc_env *e = arg;

	DRPC_CHECK_OK(drpc_health_register(e->h, m));
	DRPC_CHECK_ERR(drpc_health_register(e->h, m), DRPC_EEXIST);
}

static void
hc_start(hc_env *e, const drpc_server_opts *o)
{
	tf_opts to = {.server = o, .setup = hc_register, .setup_arg = e};

	DRPC_CHECK_OK(drpc_health_create(&e->h));
	tf_server_start(&e->t, &to);
	DRPC_CHECK_OK(drpc_health_attach(e->h, e->t.srv));
	tf_dial(&e->t, NULL);
}

static void
hc_stop(hc_env *e)
{
	tf_free(&e->t);
	drpc_health_destroy(e->h);
}

// hc_req encodes a HealthCheckRequest for service into buf.
static size_t
hc_req(uint8_t *buf, const char *service)
{
	size_t n = strlen(service);

	if (n == 0) {
		return 0; // proto3: the empty string is left out
	}
	ck_assert_uint_lt(n, 128);
	buf[0] = 0x0a;
	buf[1] = (uint8_t) n;
	memcpy(buf + 2, service, n);
	return n + 2;
}

// hc_status decodes a HealthCheckResponse; -1 if it is not one.
static int
hc_status(const uint8_t *b, size_t len)
{
	if (len == 0) {
		return DRPC_HEALTH_UNKNOWN;
	}
	if (len == 2 && b[0] == 0x08 && b[1] < 0x80) {
		return b[1];
	}
	return -1;
}

static drpc_err
hc_check(hc_env *e, const char *service, int *status, drpc_status *st)
{
	uint8_t  req[160];
	void    *reply = NULL;
	size_t   len   = 0;
	drpc_err rv;

	rv      = drpc_invoke(e->t.c, NULL, DRPC_HEALTH_CHECK, req,
	         hc_req(req, service), NULL, &reply, &len, st);
	*status = rv == DRPC_OK ? hc_status(reply, len) : -1;
	drpc_free(reply);
	return rv;
}

static drpc_stream *
hc_watch(hc_env *e, const char *service)
{
	uint8_t      req[160];
	drpc_stream *s;

	DRPC_CHECK_OK(drpc_stream_open_request(&s, e->t.c, NULL,
	    DRPC_HEALTH_WATCH, req, hc_req(req, service), NULL));
	return s;
}

// hc_next is the next status a watch sends (-1: not a status; -2: the
// stream ended, *end says how).
static int
hc_next(drpc_stream *s, drpc_err *end)
{
	void    *m;
	size_t   len;
	int      st;
	drpc_err rv = drpc_stream_recv(s, &m, &len);

	if (rv != DRPC_OK) {
		*end = rv;
		return -2;
	}
	st = hc_status(m, len);
	drpc_free(m);
	return st;
}

START_TEST(test_health_check)
{
	hc_env      e;
	drpc_status st = {0};
	int         status;

	hc_start(&e, NULL);
	DRPC_CHECK_OK(drpc_health_set(e.h, "a.Svc", DRPC_HEALTH_SERVING));
	DRPC_CHECK_OK(drpc_health_set(e.h, "b.Svc", DRPC_HEALTH_NOT_SERVING));
	DRPC_CHECK_ERR(drpc_health_set(e.h, "c", DRPC_HEALTH_SERVICE_UNKNOWN),
	    DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_health_set(e.h, NULL, DRPC_HEALTH_SERVING),
	    DRPC_EINVAL);

	DRPC_CHECK_OK(hc_check(&e, "", &status, NULL));
	ck_assert_int_eq(status, DRPC_HEALTH_SERVING);
	DRPC_CHECK_OK(hc_check(&e, "a.Svc", &status, NULL));
	ck_assert_int_eq(status, DRPC_HEALTH_SERVING);
	DRPC_CHECK_OK(hc_check(&e, "b.Svc", &status, NULL));
	ck_assert_int_eq(status, DRPC_HEALTH_NOT_SERVING);
	DRPC_CHECK_ERR(hc_check(&e, "nobody", &status, &st), DRPC_ENOTFOUND);
	ck_assert(st.remote);
	ck_assert_uint_eq(st.remote_code, DRPC_ENOTFOUND);
	drpc_status_reset(&st);
	// A change shows in the next Check.
	DRPC_CHECK_OK(drpc_health_set(e.h, "b.Svc", DRPC_HEALTH_SERVING));
	DRPC_CHECK_OK(hc_check(&e, "b.Svc", &status, NULL));
	ck_assert_int_eq(status, DRPC_HEALTH_SERVING);
	ck_assert_int_eq(drpc_health_get(e.h, "b.Svc"), DRPC_HEALTH_SERVING);
	ck_assert_int_eq(
	    drpc_health_get(e.h, "nobody"), DRPC_HEALTH_SERVICE_UNKNOWN);
	hc_stop(&e);
}
END_TEST

// Watch sends the status at once and each change; an unknown name is
// SERVICE_UNKNOWN until it is set; a cancelled watch ends.
START_TEST(test_health_watch)
{
	hc_env       e;
	drpc_stream *a, *x;
	drpc_err     end = DRPC_OK;

	hc_start(&e, NULL);
	DRPC_CHECK_OK(drpc_health_set(e.h, "a", DRPC_HEALTH_SERVING));
	a = hc_watch(&e, "a");
	x = hc_watch(&e, "x");
	ck_assert_int_eq(hc_next(a, &end), DRPC_HEALTH_SERVING);
	ck_assert_int_eq(hc_next(x, &end), DRPC_HEALTH_SERVICE_UNKNOWN);
	DRPC_CHECK_OK(drpc_health_set(e.h, "a", DRPC_HEALTH_NOT_SERVING));
	ck_assert_int_eq(hc_next(a, &end), DRPC_HEALTH_NOT_SERVING);
	DRPC_CHECK_OK(drpc_health_set(e.h, "x", DRPC_HEALTH_SERVING));
	ck_assert_int_eq(hc_next(x, &end), DRPC_HEALTH_SERVING);
	DRPC_CHECK_OK(drpc_health_set(e.h, "a", DRPC_HEALTH_SERVING));
	ck_assert_int_eq(hc_next(a, &end), DRPC_HEALTH_SERVING);
	drpc_stream_cancel(x);
	drpc_stream_destroy(x);
	drpc_stream_destroy(a);
	hc_stop(&e);
}
END_TEST

typedef struct hc_shut {
	drpc_server *s;
	drpc_err     rv;
} hc_shut;

static void *
hc_shutdown_main(void *arg)
{
	hc_shut *sh = arg;

	sh->rv = drpc_server_shutdown(sh->s, tu_deadline());
	return NULL;
}

// A graceful shutdown flips every service to NOT_SERVING: the watchers
// are told, then their streams end cleanly, so the shutdown needs cancel
// nothing.
START_TEST(test_health_shutdown)
{
	hc_env       e;
	drpc_stream *w1, *w2;
	drpc_err     end1 = DRPC_OK, end2 = DRPC_OK;
	hc_shut      sh;
	pthread_t    t;

	hc_start(&e, NULL);
	DRPC_CHECK_OK(drpc_health_set(e.h, "a", DRPC_HEALTH_SERVING));
	w1 = hc_watch(&e, "a");
	w2 = hc_watch(&e, "");
	ck_assert_int_eq(hc_next(w1, &end1), DRPC_HEALTH_SERVING);
	ck_assert_int_eq(hc_next(w2, &end2), DRPC_HEALTH_SERVING);
	sh.s  = e.t.srv;
	sh.rv = DRPC_EUNKNOWN;
	DRPC_CHECK_OK(drpc__thread_start(&t, "hc-shut", 0, 0, hc_shutdown_main, &sh));
	ck_assert_int_eq(hc_next(w1, &end1), DRPC_HEALTH_NOT_SERVING);
	ck_assert_int_eq(hc_next(w2, &end2), DRPC_HEALTH_NOT_SERVING);
	ck_assert_int_eq(hc_next(w1, &end1), -2);
	ck_assert_int_eq(hc_next(w2, &end2), -2);
	DRPC_CHECK_ERR(end1, DRPC_EOF); // a clean end, not an Error
	DRPC_CHECK_ERR(end2, DRPC_EOF);
	drpc__thread_join(t);
	DRPC_CHECK_OK(sh.rv); // nothing had to be cancelled
	ck_assert_int_eq(drpc_health_get(e.h, "a"), DRPC_HEALTH_NOT_SERVING);
	DRPC_CHECK_ERR(drpc_health_set(e.h, "a", DRPC_HEALTH_SERVING),
	    DRPC_ESTATE);
	DRPC_CHECK_ERR(drpc_health_attach(e.h, e.t.srv), DRPC_ESTATE);
	drpc_stream_destroy(w1);
	drpc_stream_destroy(w2);
	hc_stop(&e);
}
END_TEST

// hc_ended counts the server's Watch RPCs that ended (its stats hook).
static void
hc_ended(void *arg, const drpc_rpc_info *rpc, const drpc_rpc_end *end)
{
	(void) end;
	if (strcmp(rpc->method, DRPC_HEALTH_WATCH) == 0) {
		tu_event_post(arg);
	}
}

// A Watch ends at its deadline, as every RPC does, even when its client
// neither reads nor cancels it (a client that hangs, or one that counts
// on the server to enforce the deadline): its handler does not wait for
// the next change of status, holding a thread and a max_handlers place.
START_TEST(test_health_watch_deadline)
{
	hc_env             e;
	drpc_ctx          *ctx;
	drpc_stream       *w;
	tu_event           ended;
	drpc_stats_handler sh = {NULL, NULL, hc_ended, &ended};
	drpc_server_opts   o  = {.stats = &sh};

	tu_event_init(&ended);
	hc_start(&e, &o);
	DRPC_CHECK_OK(drpc_ctx_create_timeout(&ctx, NULL, 50));
	DRPC_CHECK_OK(drpc_stream_open_request(
	    &w, e.t.c, ctx, DRPC_HEALTH_WATCH, NULL, 0, NULL));
	// The client never looks at its stream again until the server ended
	// the RPC; nothing changes the status meanwhile.
	ck_assert(tu_event_wait(&ended, 1));
	drpc_stream_destroy(w);
	drpc_ctx_destroy(ctx);
	hc_stop(&e);
	tu_event_fini(&ended);
}
END_TEST

TU_SUITE(health,
    TU_TEST("health", test_health_check, .timeout = 60),
    TU_TEST("health", test_health_watch),
    TU_TEST("health", test_health_shutdown),
    TU_TEST("health", test_health_watch_deadline))
