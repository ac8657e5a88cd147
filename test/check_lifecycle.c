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

// 1. A client-sent deadline of 2^63-1 ns: the handler gets a context that
// is a child of the server's root (so shutdown cancels it), not NULL, and
// nothing overflows (UBSan would stop the test).

typedef struct deadline_fx {
	tu_event   started;
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
	tu_event_post(&fx->started);
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

	tu_event_init(&fx.started);
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
	ck_assert(tu_event_wait(&fx.started, 1));
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
	tu_event_fini(&fx.started);
}
END_TEST

// 2. A connection served while shutdown runs is closed by that shutdown,
// never left to touch the freed server; a second shutdown returns only
// when the first has finished. The hooks hold serve_transport between
// creating and listing its connection, and release it only once shutdown
// waits for it (or, were it broken, has returned without it).

typedef struct race_fx {
	drpc_server *srv;
	tu_event     in_window; // serve_transport is between create and list
	tu_event     waits;     // a shutdown waits, or returned
	tu_event     go;        // the conn_created hook may return
	atomic_int   released;  // the held handler was let go
	struct race_shut {
		struct race_fx *fx;
		drpc_err        rv;
		int after;     // released, as seen when shutdown returned
	} shut[2];             // the first and the second shutdown
	int64_t      deadline; // the first shutdown's
	int          fd;
} race_fx;

static void
hook_conn_created(void *arg)
{
	race_fx *fx = arg;

	tu_event_post(&fx->in_window);
	(void) tu_event_wait(&fx->go, 1);
}

static void
hook_shutdown_waits(void *arg)
{
	race_fx *fx = arg;

	tu_event_post(&fx->waits); // with the server's mu held: no blocking
}

static void *
serve_main(void *arg)
{
	race_fx *fx = arg;

	(void) drpc_server_serve_fd(fx->srv, fx->fd);
	return NULL;
}

// shutdown_main is one of the shutdowns (a struct race_shut).
static void *
shutdown_main(void *arg)
{
	struct race_shut *sh = arg;

	sh->rv    = drpc_server_shutdown(sh->fx->srv, sh->fx->deadline);
	sh->after = atomic_load(&sh->fx->released);
	tu_event_post(&sh->fx->waits);
	return NULL;
}

static void
race_init(race_fx *fx, drpc_mux **mux)
{
	drpc__server_hooks h = {.conn_created = hook_conn_created,
	    .shutdown_waits = hook_shutdown_waits, .arg = fx};

	memset(fx, 0, sizeof(*fx));
	fx->shut[0].fx = fx->shut[1].fx = fx;
	tu_event_init(&fx->in_window);
	tu_event_init(&fx->waits);
	tu_event_init(&fx->go);
	DRPC_CHECK_OK(drpc_mux_create(mux));
	DRPC_CHECK_OK(drpc_server_create(&fx->srv, *mux, NULL));
	drpc__server_set_hooks(fx->srv, &h);
}

static void
race_fini(race_fx *fx, drpc_mux *mux)
{
	drpc_server_destroy(fx->srv);
	drpc_mux_destroy(mux);
	tu_event_fini(&fx->in_window);
	tu_event_fini(&fx->waits);
	tu_event_fini(&fx->go);
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
	ck_assert(tu_event_wait(&fx.in_window, 1));
	// The connection exists but is not listed: shut down now.
	DRPC_CHECK_OK(drpc__thread_start(
	    &td, "t-shut", 0, 0, shutdown_main, &fx.shut[0]));
	ck_assert(tu_event_wait(&fx.waits, 1));
	tu_event_post(&fx.go); // only now may serve_transport list it
	drpc__thread_join(td);
	drpc__thread_join(ts);
	DRPC_CHECK_OK(fx.shut[0].rv);
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
	tu_event started;
	tu_event release;
} hold_fx;

static drpc_err
h_hold(drpc_stream *s, void *user)
{
	hold_fx *h = user;

	(void) s;
	tu_event_post(&h->started);
	(void) tu_event_wait(&h->release, 1);
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
	tu_event_init(&h.started);
	tu_event_init(&h.release);
	tu_event_post(&fx.go); // serve_transport's hook passes at once here
	DRPC_CHECK_OK(drpc_mux_register(mux, "/t/Hold", h_hold, &h));
	DRPC_CHECK_OK(drpc_server_listen(fx.srv, "tcp://127.0.0.1:0"));
	DRPC_CHECK_OK(drpc_server_addr(fx.srv, addr, sizeof(addr)));
	DRPC_CHECK_OK(drpc_dial(&c, addr, NULL));
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, "/t/Hold", NULL));
	ck_assert(tu_event_wait(&h.started, 1));
	// Whichever shutdown comes first waits for the held handler (the
	// deadline is far); the other must wait for it, so both return only
	// after the handler is released.
	fx.deadline = tu_deadline();
	DRPC_CHECK_OK(drpc__thread_start(
	    &t1, "t-shut1", 0, 0, shutdown_main, &fx.shut[0]));
	DRPC_CHECK_OK(drpc__thread_start(
	    &t2, "t-shut2", 0, 0, shutdown_main, &fx.shut[1]));
	// Either the later call waits (hook), or, were it broken, returned.
	ck_assert(tu_event_wait(&fx.waits, 1));
	atomic_store(&fx.released, 1);
	tu_event_post(&h.release);
	drpc__thread_join(t1);
	drpc__thread_join(t2);
	DRPC_CHECK_OK(fx.shut[0].rv);
	DRPC_CHECK_OK(fx.shut[1].rv);
	ck_assert_msg(fx.shut[0].after == 1 && fx.shut[1].after == 1,
	    "a shutdown returned before the one in progress had finished");
	drpc_stream_destroy(s);
	drpc_conn_destroy(c);
	race_fini(&fx, mux);
	tu_event_fini(&h.started);
	tu_event_fini(&h.release);
}
END_TEST

// Shutdown from a handler: as the first call it does not wait for itself;
// as a second call (another thread's shutdown already waits for this very
// handler) it returns at once instead of waiting for that shutdown. Both
// calls return DRPC_OK: nothing had to be cancelled.

typedef struct self_fx {
	drpc_server *srv;
	tu_event     started;  // the handler runs
	tu_event     stopping; // a shutdown has begun
	tu_event     done;     // the handler's shutdown returned (rv set)
	bool         second;   // the handler's call comes second
	drpc_err     rv;       // the handler's shutdown
	drpc_err     main_rv;  // the other thread's
} self_fx;

static drpc_err
h_self_shutdown(drpc_stream *s, void *user)
{
	self_fx *fx = user;

	(void) s;
	tu_event_post(&fx->started);
	if (fx->second) {
		(void) tu_event_wait(&fx->stopping, 1);
	}
	fx->rv = drpc_server_shutdown(fx->srv, tu_deadline());
	tu_event_post(&fx->done);
	return DRPC_OK;
}

static void
hook_stopping(void *arg)
{
	tu_event_post(&((self_fx *) arg)->stopping);
}

static void *
self_shutdown_main(void *arg)
{
	self_fx *fx = arg;

	fx->main_rv = drpc_server_shutdown(fx->srv, tu_deadline());
	return NULL;
}

static void
run_self_shutdown(bool second)
{
	self_fx            fx = {.second = second};
	drpc__server_hooks h  = {.stopping = hook_stopping, .arg = &fx};
	drpc_mux          *mux;
	drpc_conn         *c;
	drpc_stream       *s;
	pthread_t          t;
	char               addr[300];

	tu_event_init(&fx.started);
	tu_event_init(&fx.stopping);
	tu_event_init(&fx.done);
	DRPC_CHECK_OK(drpc_mux_create(&mux));
	DRPC_CHECK_OK(drpc_mux_register(mux, "/t/Stop", h_self_shutdown, &fx));
	DRPC_CHECK_OK(drpc_server_create(&fx.srv, mux, NULL));
	drpc__server_set_hooks(fx.srv, &h);
	DRPC_CHECK_OK(drpc_server_listen(fx.srv, "tcp://127.0.0.1:0"));
	DRPC_CHECK_OK(drpc_server_addr(fx.srv, addr, sizeof(addr)));
	DRPC_CHECK_OK(drpc_dial(&c, addr, NULL));
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, "/t/Stop", NULL));
	ck_assert(tu_event_wait(&fx.started, 1));
	if (second) {
		DRPC_CHECK_OK(drpc__thread_start(
		    &t, "t-shut", 0, 0, self_shutdown_main, &fx));
		drpc__thread_join(t); // returns once the handler has
		DRPC_CHECK_OK(fx.main_rv);
	} else {
		// The handler's own call does it all; ours comes after.
		(void) tu_event_wait(&fx.stopping, 1);
		DRPC_CHECK_OK(drpc_server_shutdown(fx.srv, tu_deadline()));
	}
	ck_assert(tu_event_wait(&fx.done, 1));
	DRPC_CHECK_OK(fx.rv);
	drpc_stream_destroy(s);
	drpc_conn_destroy(c);
	drpc_server_destroy(fx.srv);
	drpc_mux_destroy(mux);
	tu_event_fini(&fx.started);
	tu_event_fini(&fx.stopping);
	tu_event_fini(&fx.done);
}

START_TEST(test_lifecycle_shutdown_from_handler)
{
	run_self_shutdown(false);
	run_self_shutdown(true);
}
END_TEST

// 5. Shutdown's flush bound: connections whose peers stopped reading
// each hold more than the socket takes, and shutdown flushes them all
// under one shared deadline (so N such peers cost one grace period, not
// N). The hook records the deadline each connection's flush is given.

#define FLUSH_CONNS 5

typedef struct flush_fx {
	tu_event        sent;  // a handler's first message is in its writer
	pthread_mutex_t mu;
	int64_t         by[FLUSH_CONNS]; // guarded by mu
	size_t          n;
} flush_fx;

static drpc_err
h_flood(drpc_stream *s, void *user)
{
	flush_fx *fx  = user;
	size_t    len = 32 * KIB; // copied into the writer (not direct)
	uint8_t  *buf = calloc(1, len);
	drpc_err  rv  = buf == NULL ? DRPC_ENOMEM : DRPC_OK;

	for (int i = 0; rv == DRPC_OK; i++) {
		if ((rv = drpc_stream_send(s, buf, len)) == DRPC_OK && i == 0) {
			tu_event_post(&fx->sent);
		}
	}
	free(buf);
	return rv;
}

static void
hook_flush_by(void *arg, int64_t deadline_ns)
{
	flush_fx *fx = arg;

	drpc__mutex_lock(&fx->mu);
	if (fx->n < FLUSH_CONNS) {
		fx->by[fx->n] = deadline_ns;
	}
	fx->n++;
	drpc__mutex_unlock(&fx->mu);
}

START_TEST(test_lifecycle_shutdown_flush_shared)
{
	static const char  name[] = "/t/Flood";
	flush_fx           fx     = {0};
	drpc__server_hooks h      = {.conn_flush_by = hook_flush_by, .arg = &fx};
	drpc_mux          *mux;
	drpc_server       *srv;
	tu_raw             r[FLUSH_CONNS];
	tu_leak            l = tu_leak_start();

	tu_event_init(&fx.sent);
	drpc__mutex_init(&fx.mu);
	DRPC_CHECK_OK(drpc_mux_create(&mux));
	DRPC_CHECK_OK(drpc_mux_register(mux, name, h_flood, &fx));
	DRPC_CHECK_OK(drpc_server_create(&srv, mux, NULL));
	drpc__server_set_hooks(srv, &h);
	for (int i = 0; i < FLUSH_CONNS; i++) {
		int sv[2];

		memset(&r[i], 0, sizeof(r[i]));
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		DRPC_CHECK_OK(drpc_server_serve_fd(srv, sv[1]));
		r[i].fd = sv[0];
		// A client that invokes, then never reads again.
		tu_raw_send(&r[i], DRPC__KIND_INVOKE, false, 1, 1, name,
		    strlen(name));
	}
	ck_assert(tu_event_wait(&fx.sent, FLUSH_CONNS));
	DRPC_CHECK_ERR(drpc_server_shutdown(srv, 0), DRPC_ETIMEDOUT);
	ck_assert_uint_eq(fx.n, FLUSH_CONNS);
	for (int i = 1; i < FLUSH_CONNS; i++) {
		ck_assert_msg(fx.by[i] == fx.by[0],
		    "connection %d flushed until %lld, the first until %lld", i,
		    (long long) fx.by[i], (long long) fx.by[0]);
	}
	drpc_server_destroy(srv);
	drpc_mux_destroy(mux);
	for (int i = 0; i < FLUSH_CONNS; i++) {
		close(r[i].fd);
	}
	drpc__mutex_fini(&fx.mu);
	tu_event_fini(&fx.sent);
	tu_leak_check(&l);
}
END_TEST

// 3. Flow-control figures copied by an opening stream before the peer's
// answer arrived must not replace the answer's, applied meanwhile by the
// reader. An "on" client opens stream 1 (with the hello); the raw server
// answers (window 16 KiB, charge 64) and the reader is held just before
// applying it; stream 2's open registers, copies the figures (still the
// assumed ones) and is held; the reader applies the answer to both
// streams; then the open goes on. Stream 2 must be gated at 16 KiB:
// 1 KiB messages stop after 16.

#define FIG_MSGS 64

typedef struct fig_fx {
	drpc__conn   *c;
	tu_event      taken;   // the reader holds the answer
	tu_event      reader_go;
	tu_event      in_open; // stream 2's open holds stale figures
	tu_event      go;
	tu_event      applied; // the reader applied the answer
	tu_event      stop;    // the sender blocked, or finished
	atomic_int    opens;
	atomic_int    waited;
	atomic_int    sent;
	drpc__stream *s;
	drpc_err      rv;
} fig_fx;

static void
fig_open_hook(void *arg)
{
	fig_fx *fx = arg;

	if (atomic_fetch_add(&fx->opens, 1) == 1) {
		tu_event_post(&fx->in_open);
		(void) tu_event_wait(&fx->go, 1);
	}
}

static void
fig_hello_hook(void *arg)
{
	fig_fx *fx = arg;

	tu_event_post(&fx->taken);
	(void) tu_event_wait(&fx->reader_go, 1);
}

static void
fig_applied_hook(void *arg)
{
	tu_event_post(&((fig_fx *) arg)->applied);
}

// post_once posts e the first time only, flag telling whether it has.
// Send-wait hooks call it with the writer's mu held: it takes the
// event's own (leaf) lock only.
static void
post_once(atomic_int *flag, tu_event *e)
{
	if (atomic_exchange(flag, 1) == 0) {
		tu_event_post(e);
	}
}

static void
fig_wait_hook(void *arg)
{
	fig_fx *fx = arg;

	post_once(&fx->waited, &fx->stop);
}

// events_init and events_fini init and fini the n events of e.
static void
events_init(tu_event *const *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tu_event_init(e[i]);
	}
}

static void
events_fini(tu_event *const *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tu_event_fini(e[i]);
	}
}

static void *
fig_open_main(void *arg)
{
	fig_fx *fx = arg;

	fx->rv = tu_open(fx->c, NULL, "/t/B", NULL, 0, false, &fx->s);
	return NULL;
}

static void *
fig_send_main(void *arg)
{
	fig_fx *fx = arg;
	uint8_t msg[1024] = {0};

	for (int i = 0; i < FIG_MSGS; i++) {
		if (drpc__stream_send(fx->s, msg, sizeof(msg)) != DRPC_OK) {
			break;
		}
		atomic_fetch_add(&fx->sent, 1);
	}
	tu_event_post(&fx->stop);
	return NULL;
}

START_TEST(test_lifecycle_stale_figures)
{
	fig_fx          fx = {0};
	drpc__conn_opts o  = {.flow = DRPC_FLOW_ON, .open_hook = fig_open_hook,
	     .hello_hook = fig_hello_hook, .flow_on_hook = fig_applied_hook, .send_wait_hook = fig_wait_hook,
	     .hook_arg = &fx, .send_wait_hook_arg = &fx};
	drpc__hello     ans = {DRPC__HELLO_VERSION, 16 * KIB, 64, 0,
	    DRPC__HELLO_FLOW | DRPC__HELLO_MUX};
	uint8_t         body[DRPC__HELLO_BODY_MAX];
	size_t          len = drpc__hello_put(body, &ans);
	drpc__stream   *s1;
	pthread_t       to;
	pthread_t       ts;
	tu_raw          r;
	tu_event *const ev[] = {&fx.taken, &fx.reader_go, &fx.in_open, &fx.go,
	    &fx.applied, &fx.stop};

	events_init(ev, TU_LEN(ev));
	tu_raw_open_as(&r, &o);
	fx.c = r.conn;
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t/A", NULL, 0, false, &s1));
	tu_raw_send(&r, DRPC__KIND_HELLO, true, 1, 1, body, len);
	ck_assert(tu_event_wait(&fx.taken, 1));
	DRPC_CHECK_OK(drpc__thread_start(&to, "t-open", 0, 0, fig_open_main, &fx));
	ck_assert(tu_event_wait(&fx.in_open, 1));
	tu_event_post(&fx.reader_go);
	ck_assert(tu_event_wait(&fx.applied, 1));
	tu_event_post(&fx.go);
	drpc__thread_join(to);
	DRPC_CHECK_OK(fx.rv);
	DRPC_CHECK_OK(drpc__thread_start(&ts, "t-send", 0, 0, fig_send_main, &fx));
	ck_assert(tu_event_wait(&fx.stop, 1));
	ck_assert_msg(atomic_load(&fx.waited) == 1,
	    "stream 2 sent %d KiB without waiting: it kept stale figures",
	    atomic_load(&fx.sent));
	// 16 KiB / (1 KiB + 64) is 15.06: the 16th message overdraws, the
	// 17th waits.
	ck_assert_int_le(atomic_load(&fx.sent), 16);
	tu_raw_close(&r); // ends the blocked send
	drpc__thread_join(ts);
	drpc__stream_destroy(fx.s);
	drpc__stream_destroy(s1);
	events_fini(ev, TU_LEN(ev));
}
END_TEST

// 4. A recount at the peer's lower charge raises the connection's credit
// too, and must wake a sender asleep on it. Writer level: 100 empty
// Messages charged at 64 each, then a 4 KiB connection window leaves the
// connection's credit negative; a sender on another stream sleeps on it;
// the peer's charge of 0 gives back 6,400 bytes of credit.

typedef struct recount_fx {
	drpc__writer *w;
	drpc__wstate *ws;
	tu_event      asleep;
	tu_event      done;
	drpc_err      rv;
} recount_fx;

static void
recount_wait_hook(void *arg)
{
	tu_event_post(&((recount_fx *) arg)->asleep);
}

static void *
recount_send_main(void *arg)
{
	recount_fx  *fx  = arg;
	uint8_t      one = 1;
	drpc__packet pkt = {.kind = DRPC__KIND_MESSAGE, .data = &one, .len = 1};

	fx->rv = drpc__writer_send(fx->w, fx->ws, &pkt, 1, 0, 0);
	tu_event_post(&fx->done);
	return NULL;
}

static void
recount_on_error(void *arg, drpc_err err)
{
	(void) arg;
	(void) err;
}

START_TEST(test_lifecycle_recount_wakes_conn_waiter)
{
	recount_fx      fx = {0};
	drpc__writer    w  = {.wait_hook = recount_wait_hook,
	       .wait_hook_arg = &fx};
	drpc__wstate    ws1;
	drpc__wstate    ws2;
	drpc_transport *t;
	pthread_t       th;
	int             sv[2];
	uint8_t         none = 0;

	tu_event_init(&fx.asleep);
	tu_event_init(&fx.done);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	DRPC_CHECK_OK(drpc_transport_create_fd(&t, sv[0]));
	DRPC_CHECK_OK(
	    drpc__writer_start(&w, t, 0, 0, 0, 0, recount_on_error, NULL));
	drpc__wstate_init(&ws1, 1, true, 64);
	drpc__wstate_init(&ws2, 3, true, 64);
	for (int i = 0; i < 100; i++) {
		drpc__packet pkt = {.kind = DRPC__KIND_MESSAGE, .data = &none};

		DRPC_CHECK_OK(drpc__writer_send(&w, &ws1, &pkt, 1, 0, 0));
	}
	drpc__writer_conn_gate(&w, 4 * KIB); // 4096 - 6400: short
	fx.w  = &w;
	fx.ws = &ws2;
	DRPC_CHECK_OK(drpc__thread_start(
	    &th, "t-send", 0, 0, recount_send_main, &fx));
	ck_assert(tu_event_wait(&fx.asleep, 1));
	// The hook ran with the writer's mu held, right before the wait:
	// the gate below takes that mu, so the sender is asleep by then.
	drpc__writer_gate(&w, &ws1, 1024 * KIB, 0, 1);
	ck_assert_msg(tu_event_wait(&fx.done, 1),
	    "the sender slept on although the recount gave credit back");
	DRPC_CHECK_OK(fx.rv);
	drpc__writer_stop(&w, DRPC_ECLOSED, false);
	drpc__thread_join(th);
	drpc__writer_join(&w);
	drpc__writer_fini(&w);
	drpc__wstate_fini(&ws1);
	drpc__wstate_fini(&ws2);
	drpc_transport_destroy(t);
	close(sv[1]);
	tu_event_fini(&fx.asleep);
	tu_event_fini(&fx.done);
}
END_TEST

// 6. An "on" client charges its sends 0 per Message and assumes the
// server's window is its own until the server's answer arrives. A raw
// client does exactly that and never reads the answer: an automatic
// server (stream window 64 KiB, so 4,104 message slots at a charge of 64)
// must take its 20,000 empty messages, since it adopts the client's lower
// charge. A second stream's handler marks that the reader got past them.

#define ON_MSGS 20000

// drain_count receives on s until the stream ends, counting into *got
// the messages that came; returns how it ended.
static drpc_err
drain_count(drpc__stream *s, size_t *got)
{
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;

	while ((rv = drpc__stream_recv(s, &data, &len)) == DRPC_OK) {
		(*got)++;
		drpc__stream_recv_done(s);
	}
	return rv;
}

// pair_wait_finished waits until n of p's handlers have returned,
// failing the test if they do not within the bound.
static void
pair_wait_finished(tu_pair *p, size_t n)
{
	size_t got = tu_wait_count(&p->mu, &p->cv, &p->finished, n, TU_WAIT_NS);

	ck_assert_msg(got >= n, "%zu of %zu handlers returned", got, n);
}

typedef struct on_fx {
	tu_event marked;
	tu_event release;
	size_t   got; // messages the held handler received
	drpc_err end; // how its receive loop ended
} on_fx;

static drpc_err
on_handler(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	on_fx *fx = arg;

	(void) md;
	if (strcmp(name, "/t/Mark") == 0) {
		tu_event_post(&fx->marked);
		return DRPC_OK;
	}
	(void) tu_event_wait(&fx->release, 1);
	fx->end = drain_count(s, &fx->got);
	return DRPC_OK;
}

START_TEST(test_lifecycle_on_client_auto_server)
{
	on_fx           fx = {0};
	tu_pair         p  = {.handler = on_handler, .arg = &fx};
	drpc__conn_opts o  = {.stream_window = 64 * KIB};
	drpc__hello     h  = {DRPC__HELLO_VERSION, 1024 * KIB, 0, 16384 * KIB,
	    DRPC__HELLO_FLOW | DRPC__HELLO_MUX};
	uint8_t         body[DRPC__HELLO_BODY_MAX];
	size_t          len = drpc__hello_put(body, &h);
	drpc__buf       b   = {0};
	uint64_t        mid = 1;
	tu_raw          r;

	tu_event_init(&fx.marked);
	tu_event_init(&fx.release);
	drpc__mutex_init(&p.mu);
	drpc__cond_init(&p.cv);
	tu_server_opts(&o, &p);
	tu_raw_open_as(&r, &o);
	{
		drpc__frame f = {.stream_id = 1, .message_id = mid++,
		    .data = (const uint8_t *) "/t/Hold", .len = 7,
		    .kind = DRPC__KIND_INVOKE, .done = true};

		DRPC_CHECK_OK(drpc__frame_append(&b, &f));
		f = (drpc__frame) {.stream_id = 1, .message_id = mid++,
		    .data = body, .len = len, .kind = DRPC__KIND_HELLO,
		    .done = true, .control = true};
		DRPC_CHECK_OK(drpc__frame_append(&b, &f));
		for (int i = 0; i < ON_MSGS; i++) {
			f = (drpc__frame) {.stream_id = 1, .message_id = mid++,
			    .kind = DRPC__KIND_MESSAGE, .done = true};
			DRPC_CHECK_OK(drpc__frame_append(&b, &f));
		}
		f = (drpc__frame) {.stream_id = 1, .message_id = mid++,
		    .kind = DRPC__KIND_CLOSE_SEND, .done = true};
		DRPC_CHECK_OK(drpc__frame_append(&b, &f));
		f = (drpc__frame) {.stream_id = 3, .message_id = 1,
		    .data = (const uint8_t *) "/t/Mark", .len = 7,
		    .kind = DRPC__KIND_INVOKE, .done = true};
		DRPC_CHECK_OK(drpc__frame_append(&b, &f));
	}
	tu_raw_write(&r, b.data, b.len);
	drpc__buf_fini(&b);
	ck_assert(tu_event_wait(&fx.marked, 1)); // the reader is past them all
	tu_event_post(&fx.release);
	tu_pair_wait_started(&p, 2);
	pair_wait_finished(&p, 2);
	DRPC_CHECK_ERR(fx.end, DRPC_EOF);
	ck_assert_uint_eq(fx.got, ON_MSGS);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	tu_raw_close(&r);
	tu_pair_close(&p);
	tu_event_fini(&fx.marked);
	tu_event_fini(&fx.release);
}
END_TEST

// The other half of 6: once the answer is in, an "on" client against an
// automatic server counts at the server's charge and waits for credit,
// so a flood of tiny messages into a held handler is delivered whole
// (wide slots before the answer must not turn into no bound after it).

#define TINY_MSGS 70000

typedef struct tiny_fx {
	tu_event      release;
	tu_event      stop; // the sender waited for credit, or finished
	atomic_int    waited;
	drpc__stream *cs;
	size_t        got;
	drpc_err      end;
	drpc_err      send_rv;
} tiny_fx;

static drpc_err
tiny_handler(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	tiny_fx       *fx = arg;
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;

	(void) name;
	(void) md;
	// Echo the first message: the client has our hello answer (sent
	// before it on this stream) once it has the echo.
	if ((rv = drpc__stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	drpc__stream_recv_done(s);
	if ((rv = drpc__stream_send(s, (const uint8_t *) "e", 1)) != DRPC_OK) {
		return rv;
	}
	(void) tu_event_wait(&fx->release, 1);
	fx->end = drain_count(s, &fx->got);
	return DRPC_OK;
}

static void
tiny_wait_hook(void *arg)
{
	tiny_fx *fx = arg;

	post_once(&fx->waited, &fx->stop);
}

static void *
tiny_send_main(void *arg)
{
	tiny_fx *fx = arg;

	for (int i = 0; i < TINY_MSGS && fx->send_rv == DRPC_OK; i++) {
		fx->send_rv = drpc__stream_send(fx->cs, (const uint8_t *) "x", 1);
	}
	if (fx->send_rv == DRPC_OK) {
		fx->send_rv = drpc__stream_close_send(fx->cs);
	}
	tu_event_post(&fx->stop);
	return NULL;
}

START_TEST(test_lifecycle_on_client_waits_after_answer)
{
	tiny_fx         fx = {0};
	tu_pair         p;
	drpc__conn_opts co = {.flow = DRPC_FLOW_ON,
	    .send_wait_hook = tiny_wait_hook, .send_wait_hook_arg = &fx};
	drpc__conn_opts so = {0};
	const uint8_t  *data;
	size_t          len;
	pthread_t       t;

	tu_event_init(&fx.release);
	tu_event_init(&fx.stop);
	tu_pair_open(&p, tiny_handler, &fx, &co, &so);
	DRPC_CHECK_OK(tu_open(p.cli, NULL, "/t/Tiny", "x", 1, false, &fx.cs));
	DRPC_CHECK_OK(drpc__stream_recv(fx.cs, &data, &len)); // answer is in
	drpc__stream_recv_done(fx.cs);
	DRPC_CHECK_OK(drpc__thread_start(&t, "t-tiny", 0, 0, tiny_send_main, &fx));
	ck_assert(tu_event_wait(&fx.stop, 1));
	// 70,000 one-byte messages are 70 KB, inside the 1 MiB window by
	// bytes; at the server's charge of 64 the client must wait first.
	ck_assert_msg(atomic_load(&fx.waited) == 1,
	    "the client never waited: %s", drpc_err_name(fx.send_rv));
	tu_event_post(&fx.release);
	drpc__thread_join(t);
	DRPC_CHECK_OK(fx.send_rv);
	pair_wait_finished(&p, 1);
	DRPC_CHECK_ERR(fx.end, DRPC_EOF);
	ck_assert_uint_eq(fx.got, TINY_MSGS);
	drpc__stream_destroy(fx.cs);
	tu_pair_close(&p);
	tu_event_fini(&fx.release);
	tu_event_fini(&fx.stop);
}
END_TEST

TU_SUITE(lifecycle,
    TU_TEST("core", test_lifecycle_huge_peer_deadline, .timeout = 60),
    TU_TEST("core", test_lifecycle_serve_during_shutdown),
    TU_TEST("core", test_lifecycle_second_shutdown_waits),
    TU_TEST("core", test_lifecycle_shutdown_from_handler),
    TU_TEST("core", test_lifecycle_shutdown_flush_shared),
    TU_TEST("core", test_lifecycle_stale_figures),
    TU_TEST("core", test_lifecycle_recount_wakes_conn_waiter),
    TU_TEST("core", test_lifecycle_on_client_auto_server),
    TU_TEST("core", test_lifecycle_on_client_waits_after_answer))
