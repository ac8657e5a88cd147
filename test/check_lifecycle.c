// Lifecycle and negotiation races found in review (issue 12), each forced
// deterministically with a test hook: a huge peer deadline, a connection
// served during shutdown, concurrent shutdowns, the shutdown flush bound,
// stale flow-control figures applied after fresh ones, a recount that must
// wake connection-credit waiters, and an "on" client that charges less
// than an automatic server before the server's answer arrives.
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include <drpc/drpc.h>

#include "conn/conn.h"
#include "connutil.h"
#include "mux/writer.h"
#include "platform/thread.h"
#include "server/hooks.h"
#include "suites.h"
#include "testutil.h"
#include "wire/flowctl.h"
#include "wire/metadata.h"

#define KIB ((size_t) 1024)

// A generous bound for an event that must come: only a broken library
// misses it (the suite's timeout would catch it too, with less to say).
static int64_t
lc_deadline(void)
{
	const char *m    = getenv("CK_TIMEOUT_MULTIPLIER");
	int64_t     mult = m != NULL && atoi(m) > 0 ? atoi(m) : 1;

	return drpc_now_ns() + mult * 30 * (int64_t) 1000000000;
}

// A flag with a condition variable: the test's way to wait for an event.
typedef struct lc_event {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	int             n; // guarded by mu
} lc_event;

static void
ev_init(lc_event *e)
{
	drpc__mutex_init(&e->mu);
	drpc__cond_init(&e->cv);
	e->n = 0;
}

static void
ev_fini(lc_event *e)
{
	drpc__cond_fini(&e->cv);
	drpc__mutex_fini(&e->mu);
}

static void
ev_post(lc_event *e)
{
	drpc__mutex_lock(&e->mu);
	e->n++;
	drpc__cond_broadcast(&e->cv);
	drpc__mutex_unlock(&e->mu);
}

// ev_wait waits until the event has happened n times; false if it never
// does (the generous deadline passed).
static bool
ev_wait(lc_event *e, int n)
{
	int64_t dl = lc_deadline();
	bool    ok;

	drpc__mutex_lock(&e->mu);
	while (e->n < n && drpc__cond_wait_until(&e->cv, &e->mu, dl) == DRPC_OK) {
	}
	ok = e->n >= n;
	drpc__mutex_unlock(&e->mu);
	return ok;
}

// 1. A client-sent deadline of 2^63-1 ns: the handler gets a context that
// is a child of the server's root (so shutdown cancels it), not NULL, and
// nothing overflows (UBSan would stop the test).

typedef struct deadline_fx {
	lc_event   started;
	drpc_ctx  *ctx;      // the handler's, set before started
	int64_t    deadline; // its deadline
	drpc_err   end;      // the context's error once done
	atomic_int returned;
} deadline_fx;

static drpc_err
h_block(drpc_stream *s, void *user)
{
	deadline_fx *fx = user;

	fx->ctx      = drpc_stream_ctx(s);
	fx->deadline = drpc_ctx_deadline(fx->ctx);
	ev_post(&fx->started);
	if (fx->ctx != NULL) {
		fx->end = drpc_ctx_wait(fx->ctx, 0); // until shutdown cancels
	}
	atomic_store(&fx->returned, 1);
	return DRPC_OK;
}

START_TEST(test_lifecycle_huge_peer_deadline)
{
	static const char key[] = DRPC_MD_TIMEOUT_KEY;
	static const char val[] = "9223372036854775807";
	static const char name[] = "/t/Block";
	drpc__md_entry    e = {(const uint8_t *) key, strlen(key),
	       (const uint8_t *) val, strlen(val)};
	deadline_fx       fx = {0};
	drpc_mux         *mux;
	drpc_server      *srv;
	drpc__buf         md = {0};
	tu_raw            r  = {0};
	int               sv[2];
	drpc_ctx         *c;

	// The public constructors saturate too.
	DRPC_CHECK_OK(drpc_ctx_create_timeout(&c, NULL, INT64_MAX));
	ck_assert_int_gt(drpc_ctx_deadline(c), drpc_now_ns());
	DRPC_CHECK_OK(drpc_ctx_err(c));
	drpc_ctx_destroy(c);

	ev_init(&fx.started);
	DRPC_CHECK_OK(drpc_mux_create(&mux));
	DRPC_CHECK_OK(drpc_mux_register(mux, name, h_block, &fx));
	DRPC_CHECK_OK(drpc_server_create(&srv, mux, NULL));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	DRPC_CHECK_OK(drpc_server_serve_fd(srv, sv[1]));
	r.fd = sv[0];
	DRPC_CHECK_OK(drpc__md_append(&md, &e, 1));
	tu_raw_send(&r, DRPC__KIND_INVOKE_METADATA, false, 1, 1, md.data, md.len);
	tu_raw_send(&r, DRPC__KIND_INVOKE, false, 1, 2, name, strlen(name));
	drpc__buf_fini(&md);
	ck_assert(ev_wait(&fx.started, 1));
	ck_assert_msg(fx.ctx != NULL, "the handler ran without a context");
	ck_assert_int_gt(fx.deadline, drpc_now_ns());
	ck_assert_int_eq(atomic_load(&fx.returned), 0);
	// Shutdown reaches the handler through the root: it returns.
	DRPC_CHECK_ERR(drpc_server_shutdown(srv, 0), DRPC_ETIMEDOUT);
	ck_assert_int_eq(atomic_load(&fx.returned), 1);
	DRPC_CHECK_ERR(fx.end, DRPC_ECANCELED);
	drpc_server_destroy(srv);
	drpc_mux_destroy(mux);
	close(sv[0]);
	ev_fini(&fx.started);
}
END_TEST

// 2. A connection served while shutdown runs is closed by that shutdown,
// never left to touch the freed server; a second shutdown returns only
// when the first has finished. The hooks hold serve_transport between
// creating and listing its connection, and release it only once shutdown
// waits for it (or, were it broken, has returned without it).

typedef struct race_fx {
	drpc_server *srv;
	lc_event     in_window; // serve_transport is between create and list
	lc_event     waits;     // a shutdown waits, or returned
	lc_event     go;        // the conn_created hook may return
	atomic_int   released;  // the held handler was let go
	int          first_after; // released, as seen when shutdown returned
	int          second_after;
	drpc_err     first_rv;
	drpc_err     second_rv;
	int64_t      deadline; // the first shutdown's
	int          fd;
} race_fx;

static void
hook_conn_created(void *arg)
{
	race_fx *fx = arg;

	ev_post(&fx->in_window);
	(void) ev_wait(&fx->go, 1);
}

static void
hook_shutdown_waits(void *arg)
{
	race_fx *fx = arg;

	ev_post(&fx->waits); // with the server's mu held: no blocking
}

static void *
serve_main(void *arg)
{
	race_fx *fx = arg;

	(void) drpc_server_serve_fd(fx->srv, fx->fd);
	return NULL;
}

static void *
shutdown_first_main(void *arg)
{
	race_fx *fx = arg;

	fx->first_rv    = drpc_server_shutdown(fx->srv, fx->deadline);
	fx->first_after = atomic_load(&fx->released);
	ev_post(&fx->waits);
	return NULL;
}

static void *
shutdown_second_main(void *arg)
{
	race_fx *fx = arg;

	fx->second_rv    = drpc_server_shutdown(fx->srv, fx->deadline);
	fx->second_after = atomic_load(&fx->released);
	ev_post(&fx->waits);
	return NULL;
}

static void
race_init(race_fx *fx, drpc_mux **mux)
{
	drpc__server_hooks h = {hook_conn_created, hook_shutdown_waits, NULL,
	    fx};

	memset(fx, 0, sizeof(*fx));
	ev_init(&fx->in_window);
	ev_init(&fx->waits);
	ev_init(&fx->go);
	DRPC_CHECK_OK(drpc_mux_create(mux));
	DRPC_CHECK_OK(drpc_server_create(&fx->srv, *mux, NULL));
	drpc__server_set_hooks(fx->srv, &h);
}

static void
race_fini(race_fx *fx, drpc_mux *mux)
{
	drpc_server_destroy(fx->srv);
	drpc_mux_destroy(mux);
	ev_fini(&fx->in_window);
	ev_fini(&fx->waits);
	ev_fini(&fx->go);
}

START_TEST(test_lifecycle_serve_during_shutdown)
{
	race_fx   fx;
	drpc_mux *mux;
	pthread_t ts;
	pthread_t td;
	int       sv[2];
	char      b;
	tu_leak   l = tu_leak_start();

	race_init(&fx, &mux);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fx.fd = sv[1];
	DRPC_CHECK_OK(drpc__thread_start(&ts, "t-serve", 0, 0, serve_main, &fx));
	ck_assert(ev_wait(&fx.in_window, 1));
	// The connection exists but is not listed: shut down now.
	DRPC_CHECK_OK(drpc__thread_start(
	    &td, "t-shut", 0, 0, shutdown_first_main, &fx));
	ck_assert(ev_wait(&fx.waits, 1));
	ev_post(&fx.go); // only now may serve_transport list it
	drpc__thread_join(td);
	drpc__thread_join(ts);
	DRPC_CHECK_OK(fx.first_rv);
	// Shutdown closed that connection: the peer reads the end at once
	// (an orphan would leave it open: EAGAIN).
	ck_assert_int_eq(recv(sv[0], &b, 1, MSG_DONTWAIT), 0);
	race_fini(&fx, mux); // an orphan's on_end would touch freed memory
	close(sv[0]);
	tu_leak_check(&l);
}
END_TEST

// A handler that holds shutdown until the test lets it go.
typedef struct hold_fx {
	lc_event started;
	lc_event release;
} hold_fx;

static drpc_err
h_hold(drpc_stream *s, void *user)
{
	hold_fx *h = user;

	(void) s;
	ev_post(&h->started);
	(void) ev_wait(&h->release, 1);
	return DRPC_OK;
}

START_TEST(test_lifecycle_second_shutdown_waits)
{
	race_fx      fx;
	hold_fx      h;
	drpc_mux    *mux;
	drpc_conn   *c;
	drpc_stream *s;
	pthread_t    t1;
	pthread_t    t2;
	char         addr[300];

	race_init(&fx, &mux);
	ev_init(&h.started);
	ev_init(&h.release);
	ev_post(&fx.go); // serve_transport's hook passes at once here
	DRPC_CHECK_OK(drpc_mux_register(mux, "/t/Hold", h_hold, &h));
	DRPC_CHECK_OK(drpc_server_listen(fx.srv, "tcp://127.0.0.1:0"));
	DRPC_CHECK_OK(drpc_server_addr(fx.srv, addr, sizeof(addr)));
	DRPC_CHECK_OK(drpc_dial(&c, addr, NULL));
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, "/t/Hold", NULL));
	ck_assert(ev_wait(&h.started, 1));
	// Whichever shutdown comes first waits for the held handler (the
	// deadline is far); the other must wait for it, so both return only
	// after the handler is released.
	fx.deadline = lc_deadline();
	DRPC_CHECK_OK(drpc__thread_start(
	    &t1, "t-shut1", 0, 0, shutdown_first_main, &fx));
	DRPC_CHECK_OK(drpc__thread_start(
	    &t2, "t-shut2", 0, 0, shutdown_second_main, &fx));
	// Either the later call waits (hook), or, were it broken, returned.
	ck_assert(ev_wait(&fx.waits, 1));
	atomic_store(&fx.released, 1);
	ev_post(&h.release);
	drpc__thread_join(t1);
	drpc__thread_join(t2);
	DRPC_CHECK_OK(fx.first_rv);
	DRPC_CHECK_OK(fx.second_rv);
	ck_assert_msg(fx.first_after == 1 && fx.second_after == 1,
	    "a shutdown returned before the one in progress had finished");
	drpc_stream_destroy(s);
	drpc_conn_destroy(c);
	race_fini(&fx, mux);
	ev_fini(&h.started);
	ev_fini(&h.release);
}
END_TEST

Suite *
lifecycle_suite(void)
{
	Suite *s  = suite_create("lifecycle");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_lifecycle_huge_peer_deadline);
	tcase_add_test(tc, test_lifecycle_serve_during_shutdown);
	tcase_add_test(tc, test_lifecycle_second_shutdown_waits);
	suite_add_tcase(s, tc);
	return s;
}
