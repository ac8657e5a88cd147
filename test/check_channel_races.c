// Channels: the interleavings of a call leaving the channel with the
// channel's destruction and its backends' reaping, forced through the
// channel's test hooks (channel/channel.h), never by timing. Part of the
// channel suite (check_channel.c adds this test case).
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include <drpc/drpc.h>

#include "channel/channel.h"
#include "platform/thread.h"
#include "srvproc.h"
#include "suites.h"
#include "testutil.h"
#include "tu_rows.h"

#define RACE_WAIT_NS tu_bound_ns(20 * 1000000000ll)

// Destroy racing the last call out: a waiting call whose context ends
// leaves the channel, and destroy, begun right then (the call is still
// in flight, which destroy allows), must not free the channel before that
// call is done with it. The hook runs destroy on another thread the
// moment the call has left, and notes whether destroy returned while the
// call was still inside the channel's code.

typedef struct leave_race {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	drpc_channel   *ch;
	pthread_t       destroyer;
	// Guarded by mu:
	bool armed;     // the next last-leave is the test's call
	bool fired;     // ...and it came: the destroyer runs
	bool destroyed; // drpc_channel_destroy returned
	bool early;     // it returned while the leaver was still inside
} leave_race;

static void *
leave_destroyer(void *arg)
{
	leave_race *x = arg;

	drpc_channel_destroy(x->ch);
	drpc__mutex_lock(&x->mu);
	x->destroyed = true;
	drpc__cond_broadcast(&x->cv);
	drpc__mutex_unlock(&x->mu);
	return NULL;
}

static void
leave_hook(void *arg)
{
	leave_race *x  = arg;
	int64_t     dl = drpc__now_ns() + RACE_WAIT_NS;

	drpc__mutex_lock(&x->mu);
	if (x->armed) {
		x->armed = false;
		x->fired =
		    pthread_create(&x->destroyer, NULL, leave_destroyer, x) == 0;
		// A correct destroy waits for this thread to leave: the bound
		// then runs out (never, here: see the test).
		while (x->fired && !x->destroyed && drpc__now_ns() < dl) {
			(void) drpc__cond_wait_until(&x->cv, &x->mu, dl);
		}
		x->early = x->destroyed;
	}
	drpc__mutex_unlock(&x->mu);
}

typedef struct leave_call {
	drpc_channel *ch;
	drpc_ctx     *ctx;
	drpc_err      rv;
} leave_call;

static void *
leave_caller(void *arg)
{
	leave_call    *c = arg;
	drpc_call_opts o = {0};
	void          *reply = NULL;
	size_t         len;

	o.wait_for_ready = true;
	c->rv = drpc_invoke(drpc_channel_conn(c->ch), c->ctx, "/x.S/M", "", 0,
	    &o, &reply, &len, NULL);
	drpc_free(reply);
	return NULL;
}

START_TEST(test_channel_destroy_last_leave)
{
	leave_race          x = {0};
	leave_call          c = {0};
	drpc__channel_hooks h = {0};
	drpc_channel_opts   o = {0};
	drpc_cause          why;
	char                target[128];
	pthread_t           t;
	bool                fired;
	int64_t             dl;

	drpc__mutex_init(&x.mu);
	drpc__cond_init(&x.cv);
	// Nothing listens there: the call waits for a backend for good.
	snprintf(target, sizeof(target), "unix:///tmp/drpc-chan-none-%d",
	    (int) getpid());
	o.backoff_initial_ms = 2;
	o.backoff_max_ms     = 20;
	o.ping_interval_ms   = -1;
	DRPC_CHECK_OK(drpc_channel_create(&x.ch, target, &o, &why));
	h.on_leave = leave_hook;
	h.arg      = &x;
	drpc__channel_set_hooks(x.ch, &h);
	x.armed = true;
	c.ch    = x.ch;
	DRPC_CHECK_OK(drpc_ctx_create(&c.ctx, NULL));
	ck_assert_int_eq(pthread_create(&t, NULL, leave_caller, &c), 0);
	// The call started the lazy channel: it is inside.
	dl = drpc_now_ns() + RACE_WAIT_NS;
	while (drpc_channel_get_state(x.ch, false) == DRPC_CHANNEL_IDLE &&
	    drpc_now_ns() < dl) {
		nanosleep(&(struct timespec) {0, 1000000}, NULL);
	}
	ck_assert_int_ne(drpc_channel_get_state(x.ch, false),
	    DRPC_CHANNEL_IDLE);
	drpc_ctx_cancel(c.ctx);
	pthread_join(t, NULL);
	ck_assert_msg(c.rv == DRPC_ECANCELED, "%s", drpc_strerror(c.rv));
	drpc__mutex_lock(&x.mu);
	fired   = x.fired;
	x.armed = false;
	drpc__mutex_unlock(&x.mu);
	if (fired) {
		pthread_join(x.destroyer, NULL);
	} else {
		drpc_channel_destroy(x.ch);
	}
	ck_assert_msg(!x.early,
	    "destroy freed the channel while a call was still leaving it");
	drpc_ctx_destroy(c.ctx);
	drpc__cond_fini(&x.cv);
	drpc__mutex_fini(&x.mu);
}
END_TEST

// The last user of a retired connection lets go of it while its backend
// reaps it: the release must not touch the connection (or wake through
// it) once its count is down, for the backend may have destroyed it by
// then. A call blocked opening on a connection (max_streams 1, the slot
// held by a stream) is failed by a kill; the hook, on its release, waits
// until the backend destroyed the connection before the release goes on.

typedef struct rel_race {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	drpc_channel   *ch;
	// Guarded by mu:
	bool armed;  // the next last release is the test call's
	bool picked; // the test call has its connection
	bool fired;  // the hook ran for it
	bool reaped; // ...and saw its connection destroyed
} rel_race;

static void
rel_pick_hook(void *arg, const char *addr)
{
	rel_race *x = arg;

	(void) addr;
	drpc__mutex_lock(&x->mu);
	if (x->armed) {
		x->picked = true;
		drpc__cond_broadcast(&x->cv);
	}
	drpc__mutex_unlock(&x->mu);
}

static void
rel_release_hook(void *arg)
{
	rel_race *x  = arg;
	int64_t   dl = drpc__now_ns() + RACE_WAIT_NS;
	bool      armed;
	bool      reaped;

	drpc__mutex_lock(&x->mu);
	armed    = x->armed;
	x->armed = false;
	x->fired = x->fired || armed;
	drpc__mutex_unlock(&x->mu);
	if (!armed) {
		return;
	}
	// The backend destroys the connection at its next look (it redials
	// a dead server every few ms): polled, nothing signals it.
	while (drpc__channel_conn_count(x->ch) > 0 && drpc__now_ns() < dl) {
		nanosleep(&(struct timespec) {0, 1000000}, NULL);
	}
	// Counted outside mu: on_pick, under the channel's lock, takes it.
	reaped = drpc__channel_conn_count(x->ch) == 0;
	drpc__mutex_lock(&x->mu);
	x->reaped = reaped;
	drpc__mutex_unlock(&x->mu);
}

typedef struct rel_call {
	drpc_channel *ch;
	drpc_err      rv;
} rel_call;

static void *
rel_caller(void *arg)
{
	rel_call *c     = arg;
	uint64_t  id    = 1;
	void     *reply = NULL;
	size_t    len;

	c->rv = drpc_invoke(drpc_channel_conn(c->ch), NULL, SP_CALL, &id,
	    sizeof(id), NULL, &reply, &len, NULL);
	drpc_free(reply);
	return NULL;
}

START_TEST(test_channel_release_reaped)
{
	sp_mgr              m;
	rel_race            x = {0};
	rel_call            c = {0};
	drpc__channel_hooks h = {0};
	drpc_channel_opts   o = {0};
	drpc_cause          why;
	drpc_stream        *s;
	pthread_t           t;
	void               *data;
	size_t              len;
	int64_t             dl;

	sp_start(&m);
	sp_up(&m, 0);
	drpc__mutex_init(&x.mu);
	drpc__cond_init(&x.cv);
	o.backoff_initial_ms = 2;
	o.backoff_max_ms     = 20;
	o.ping_interval_ms   = -1;
	o.conn.max_streams   = 1;
	DRPC_CHECK_OK(drpc_channel_create(&x.ch, m.addr[0], &o, &why));
	h.on_pick    = rel_pick_hook;
	h.on_release = rel_release_hook;
	h.arg        = &x;
	drpc__channel_set_hooks(x.ch, &h);
	// The one slot, held.
	DRPC_CHECK_OK(drpc_stream_open(&s, drpc_channel_conn(x.ch), NULL,
	    SP_BLOCK, NULL));
	dl = drpc_now_ns() + RACE_WAIT_NS;
	while (atomic_load(&m.sh->blocked[0]) < 1 && drpc_now_ns() < dl) {
		nanosleep(&(struct timespec) {0, 1000000}, NULL);
	}
	ck_assert_uint_eq(atomic_load(&m.sh->blocked[0]), 1);
	drpc__mutex_lock(&x.mu);
	x.armed = true;
	drpc__mutex_unlock(&x.mu);
	c.ch = x.ch;
	ck_assert_int_eq(pthread_create(&t, NULL, rel_caller, &c), 0);
	drpc__mutex_lock(&x.mu);
	while (!x.picked && drpc__now_ns() < dl) {
		(void) drpc__cond_wait_until(&x.cv, &x.mu, dl);
	}
	ck_assert(x.picked);
	drpc__mutex_unlock(&x.mu);
	// The call waits for the slot (or is about to): the connection
	// breaks under it, before anything of it was written.
	sp_kill(&m, 0);
	pthread_join(t, NULL);
	ck_assert_msg(c.rv == DRPC_EUNAVAIL, "%s", drpc_strerror(c.rv));
	drpc__mutex_lock(&x.mu);
	ck_assert(x.fired);
	ck_assert(x.reaped);
	drpc__mutex_unlock(&x.mu);
	DRPC_CHECK_ERR(drpc_stream_recv(s, &data, &len), DRPC_EUNAVAIL);
	drpc_stream_destroy(s);
	drpc_channel_destroy(x.ch);
	drpc__cond_fini(&x.cv);
	drpc__mutex_fini(&x.mu);
	sp_end(&m);
}
END_TEST

// A server that accepts every connection and closes it at once (a
// libdrpc server at max_conns, or one shutting down, does just that): the
// channel's connection is made, then breaks before the peer said a thing.
// That is a failed attempt, not a connection that was ready: each redial
// must follow a backoff, or the channel dials in a loop as fast as the
// server accepts. Counted through the hooks: an attempt never comes
// without a backoff before it, but for the first.

typedef struct flap {
	tu_sync   sync;
	int       lfd;     // the listener
	int       stop[2]; // a pipe: readable once the test is done
	pthread_t t;
	// Guarded by sync:
	size_t attempts, backoffs;
	bool   unbacked; // an attempt came with no backoff before it
} flap;

static void *
flap_server(void *arg)
{
	flap *f = arg;

	for (;;) {
		struct pollfd p[2] = {{f->lfd, POLLIN, 0}, {f->stop[0], POLLIN, 0}};
		int           fd;

		if (poll(p, 2, -1) < 0 || p[1].revents != 0) {
			break;
		}
		if ((fd = accept(f->lfd, NULL, NULL)) >= 0) {
			close(fd);
		}
	}
	return NULL;
}

static void
flap_attempt(void *arg, const char *addr, unsigned attempt)
{
	flap *f = arg;

	(void) addr;
	(void) attempt;
	tu_sync_lock(&f->sync);
	f->attempts++;
	if (f->backoffs + 1 < f->attempts) {
		f->unbacked = true;
	}
	tu_sync_unlock_broadcast(&f->sync);
}

static void
flap_backoff(void *arg, const char *addr, unsigned attempt, int64_t base_ns,
    int64_t delay_ns)
{
	flap *f = arg;

	(void) addr;
	(void) attempt;
	(void) base_ns;
	(void) delay_ns;
	tu_sync_lock(&f->sync);
	f->backoffs++;
	tu_sync_unlock(&f->sync);
}

START_TEST(test_channel_backoff_accept_close)
{
	flap                f = {0};
	drpc__channel_hooks h = {0};
	drpc_channel_opts   o = {0};
	drpc_channel       *ch;
	drpc_cause          why;
	struct sockaddr_un  sun = {0};
	char                target[160];

	tu_sync_init(&f.sync);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/drpc-chan-flap-%d",
	    (int) getpid());
	(void) unlink(sun.sun_path);
	f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f.lfd, 0);
	ck_assert_int_eq(
	    bind(f.lfd, (struct sockaddr *) &sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(f.lfd, 64), 0);
	ck_assert_int_eq(pipe(f.stop), 0);
	ck_assert_int_eq(pthread_create(&f.t, NULL, flap_server, &f), 0);
	snprintf(target, sizeof(target), "unix://%s", sun.sun_path);
	o.backoff_initial_ms = 2;
	o.backoff_multiplier = 2;
	o.backoff_max_ms     = 20;
	o.ping_interval_ms   = -1;
	DRPC_CHECK_OK(drpc_channel_create(&ch, target, &o, &why));
	h.on_attempt = flap_attempt;
	h.on_backoff = flap_backoff;
	h.arg        = &f;
	drpc__channel_set_hooks(ch, &h);
	(void) drpc_channel_get_state(ch, true); // start dialing
	(void) tu_sync_wait(&f.sync, &f.attempts, 6, 20 * 1000000000ll);
	drpc_channel_destroy(ch);
	ck_assert_int_eq(write(f.stop[1], "x", 1), 1);
	pthread_join(f.t, NULL);
	close(f.lfd);
	close(f.stop[0]);
	close(f.stop[1]);
	(void) unlink(sun.sun_path);
	ck_assert_uint_ge(f.attempts, 6);
	ck_assert_msg(!f.unbacked,
	    "redialed with no backoff: %zu attempts, %zu backoffs", f.attempts,
	    f.backoffs);
	tu_sync_fini(&f.sync);
}
END_TEST

TU_ROWS(channel_races_tests,
    TU_TEST("races", test_channel_destroy_last_leave, .timeout = 120),
    TU_TEST("races", test_channel_release_reaped),
    TU_TEST("races", test_channel_backoff_accept_close))
