// The server child, its measurements, the good client and the bound
// (hostile.h). Raw attackers are in hostile_peer.c.
#include "hostile.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "childproc.h"
#include "connutil.h"
#include "testutil.h"

// The bound. Per busy connection, the formula of docs/design.md §8:
//   received messages, queued or half-assembled   WC + M
//   half-received invokes, decoded                P
//   the reader's buffer while a largest frame comes M + 31
//   outgoing frames: 2L before the reader stops,  3L + F + S (T + 64)
//     L more for senders waiting for room, one
//     frame in flight, a terminal packet a stream
//   streams: object and slot array, its invoke    S (STREAM_OBJ + I)
// With the defaults: 20 + 1 + 4 + 16.1 + 16.5 = about 58 MiB.
#define HOSTILE_STREAM_OBJ (2 * HOSTILE_KIB)

// What the formula leaves out, and why each figure:
// - A connection at rest (nothing queued, pending or unwritten): the
//   reader's 64 KiB buffer, the writer's buffers, the touched pages of
//   its two threads' stacks, its objects. Measured before issue 14: 100
//   connections at once cost about 20 KiB each (the churn attack), so
//   512 KiB leaves room for the 64 KiB buffer and for both threads'
//   128 KiB stacks in full.
// - A thread's resident part: the touched top of its stack and its TLS.
//   Measured: 10,000 Sleep handlers, about 10 KiB each; 64 KiB is six
//   times that (a quarter of a handler's 256 KiB stack).
// - The allocator: glibc keeps freed memory in up to 8 arenas per core
//   (16 here) and trims an arena only above its trim threshold, which
//   rises to twice the largest block freed (8 MiB after a 4 MiB
//   message); 64 MiB covers eight arenas holding that much.
#define HOSTILE_IDLE_CONN  (512 * HOSTILE_KIB)
#define HOSTILE_THREAD_RSS (64 * HOSTILE_KIB)
#define HOSTILE_SLACK      (64 * HOSTILE_MIB)

// HOSTILE_CONN_THREADS: a connection's reader and drain threads.
#define HOSTILE_CONN_THREADS 2

size_t
hostile_conn_bound(void)
{
	size_t received = HOSTILE_WC + HOSTILE_M;
	size_t invokes  = HOSTILE_P;
	size_t reader   = HOSTILE_M + 31;
	size_t outgoing =
	    3 * HOSTILE_L + HOSTILE_F + HOSTILE_S * (HOSTILE_T + 64);
	size_t streams = HOSTILE_S * (HOSTILE_STREAM_OBJ + HOSTILE_I);

	return received + invokes + reader + outgoing + streams;
}

size_t
hostile_rss_bound(size_t busy, size_t idle, size_t handlers)
{
	size_t threads = (busy + idle) * HOSTILE_CONN_THREADS + handlers;

	return busy * hostile_conn_bound() + idle * HOSTILE_IDLE_CONN +
	       threads * HOSTILE_THREAD_RSS + HOSTILE_SLACK;
}

uint64_t
hostile_scaled(uint64_t n, uint64_t min)
{
	uint64_t k = n / (uint64_t) tu_scale();

	return k > min ? k : min;
}

size_t
hostile_raise_nofile(void)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit up = {rl.rlim_max, rl.rlim_max};

		// valgrind keeps the top of the range for itself and refuses.
		if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
			rl = up;
		}
	}
	return rl.rlim_cur == RLIM_INFINITY ? SIZE_MAX : (size_t) rl.rlim_cur;
}

static int64_t
now_ns(void)
{
	return drpc_now_ns();
}

static void
nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

// The server child.

// interop_path finds drpc-interop beside this test binary's folder:
// build/<variant>/test/check_drpc -> build/<variant>/bin/drpc-interop.
static void
interop_path(char *out, size_t cap)
{
	char    exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char   *slash;

	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	slash  = strrchr(exe, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	ck_assert_int_lt(
	    snprintf(out, cap, "%s/../bin/drpc-interop", exe), (int) cap);
	ck_assert_msg(access(out, X_OK) == 0,
	    "%s: not found (make builds it with the tests)", out);
}

void
hostile_server_start(hostile_server *hs, const char *const *flags)
{
	char        path[PATH_MAX + 32];
	char       *argv[16];
	size_t      argc = 0;
	char        line[256];
	const char *at;
	child_proc  c;

	memset(hs, 0, sizeof(*hs));
	interop_path(path, sizeof(path));
	argv[argc++] = path;
	argv[argc++] = (char *) "serve";
	argv[argc++] = (char *) "tcp://127.0.0.1:0";
	for (size_t i = 0; flags != NULL && flags[i] != NULL; i++) {
		ck_assert_uint_lt(argc, 15);
		argv[argc++] = (char *) flags[i];
	}
	argv[argc] = NULL;
	child_start(&c, argv);
	hs->pid = c.pid;
	hs->out = c.out;
	if (!child_read_line(&c, line, sizeof(line))) {
		(void) hostile_server_stop(hs);
		ck_abort_msg("drpc-interop serve %s printed no address "
		             "(\"%s\"; exit status %d): does it take these "
		             "flags?",
		    argc > 3 ? argv[3] : "", line,
		    WIFEXITED(hs->status) ? WEXITSTATUS(hs->status) : -1);
	}
	at = strstr(line, " on tcp://");
	ck_assert_msg(at != NULL, "unexpected first line: %s", line);
	at += 4;
	ck_assert_uint_lt(strcspn(at, "\n"), sizeof(hs->addr));
	memcpy(hs->addr, at, strcspn(at, "\n"));
	hs->port = (uint16_t) atoi(strrchr(hs->addr, ':') + 1);
	ck_assert_uint_gt(hs->port, 0);
}

bool
hostile_server_alive(hostile_server *hs)
{
	if (hs->pid == 0) {
		return false;
	}
	if (waitpid(hs->pid, &hs->status, WNOHANG) == hs->pid) {
		hs->pid = 0;
		return false;
	}
	return true;
}

bool
hostile_server_stop(hostile_server *hs)
{
	int64_t deadline = now_ns() + tu_bound_ns(TU_WAIT_NS);
	bool    clean    = false;

	if (hs->pid != 0) {
		(void) kill(hs->pid, SIGTERM);
		while (waitpid(hs->pid, &hs->status, WNOHANG) == 0) {
			if (now_ns() > deadline) {
				(void) kill(hs->pid, SIGKILL);
				(void) waitpid(hs->pid, &hs->status, 0);
				hs->status = -1;
				break;
			}
			nap_ms(5);
		}
		clean   = WIFEXITED(hs->status) && WEXITSTATUS(hs->status) == 0;
		hs->pid = 0;
	}
	if (hs->out > 0) {
		close(hs->out);
		hs->out = -1;
	}
	return clean;
}

// kill_if_interop kills and reaps pid if it runs drpc-interop.
static void
kill_if_interop(pid_t pid)
{
	char    link[64];
	char    exe[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int) pid);
	if ((n = readlink(link, exe, sizeof(exe) - 1)) <= 0) {
		return;
	}
	exe[n] = '\0';
	if (strstr(exe, "/drpc-interop") != NULL) {
		(void) kill(pid, SIGKILL);
		(void) waitpid(pid, NULL, 0);
	}
}

void
hostile_kill_children(void)
{
	DIR           *d = opendir("/proc/self/task");
	struct dirent *e;

	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char  path[300];
		FILE *f;
		int   pid;

		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/self/task/%s/children",
		    e->d_name);
		if ((f = fopen(path, "r")) == NULL) {
			continue;
		}
		while (fscanf(f, "%d", &pid) == 1) {
			kill_if_interop((pid_t) pid);
		}
		fclose(f);
	}
	closedir(d);
}

// The good client.

#define GOOD_PAYLOAD 1024

void
hostile_good_open(hostile_good *g, const char *addr)
{
	memset(g, 0, sizeof(*g));
	DRPC_CHECK_OK(drpc_dial(&g->c, addr, NULL));
}

bool
hostile_good_call(hostile_good *g)
{
	drpc_call_opts o   = {.timeout_ms = tu_bound_ns(TU_WAIT_NS) / 1000000};
	drpc__buf      req = {0};
	void          *reply;
	size_t         len;
	drpc_err       rv;
	bool           ok;

	hostile_msg(&req, GOOD_PAYLOAD, (uint8_t) ('a' + g->calls % 26));
	g->calls++;
	rv = drpc_invoke(g->c, NULL, HOSTILE_UNARY, req.data, req.len, &o,
	    &reply, &len, NULL);
	ok = rv == DRPC_OK && len == req.len &&
	     memcmp(reply, req.data, len) == 0;
	if (rv == DRPC_OK) {
		drpc_free(reply);
	}
	if (ok) {
		g->served++;
	} else {
		g->last = rv != DRPC_OK ? rv : DRPC_EPROTO;
	}
	drpc__buf_fini(&req);
	return ok;
}

void
hostile_good_close(hostile_good *g)
{
	drpc_conn_destroy(g->c);
	g->c = NULL;
}

// good_prewarm fills the server's pool of idle workers: it holds
// HOSTILE_IDLE_WORKERS Sleep calls until that many handler threads run,
// then cancels them. The pool then holds exactly that many idle workers
// (more retire after 2 s idle, fewer never do), so the server's thread
// count after any attack comes back to the same figure.
static void
good_prewarm(hostile_good *g, hostile_server *hs)
{
	drpc_stream *s[HOSTILE_IDLE_WORKERS];
	drpc_ctx    *ctx;
	drpc__buf    req      = {0};
	int64_t      deadline = now_ns() + tu_bound_ns(TU_WAIT_NS);
	size_t       running;

	hostile_sleep_req(&req, 600000);
	DRPC_CHECK_OK(drpc_ctx_create(&ctx, NULL));
	for (size_t i = 0; i < HOSTILE_IDLE_WORKERS; i++) {
		DRPC_CHECK_OK(drpc_stream_open_request(
		    &s[i], g->c, ctx, HOSTILE_SLEEP, req.data, req.len, NULL));
	}
	while ((running = tu_named_threads(hs->pid, "drpc-h-")) <
	           HOSTILE_IDLE_WORKERS &&
	       now_ns() < deadline) {
		nap_ms(2);
	}
	drpc_ctx_cancel(ctx);
	for (size_t i = 0; i < HOSTILE_IDLE_WORKERS; i++) {
		drpc_stream_destroy(s[i]);
	}
	drpc_ctx_destroy(ctx);
	drpc__buf_fini(&req);
	ck_assert_uint_ge(running, HOSTILE_IDLE_WORKERS);
}

// wait_pool_at_rest waits until the server has exactly its idle workers:
// one made by the first call may still be busy when the prewarm's calls
// come, making one worker more, which retires after 2 s idle.
static void
wait_pool_at_rest(hostile_server *hs)
{
	int64_t deadline = now_ns() + tu_bound_ns(TU_WAIT_NS);
	size_t  n;

	while ((n = tu_named_threads(hs->pid, "drpc-h-")) !=
	           HOSTILE_IDLE_WORKERS &&
	       now_ns() < deadline) {
		nap_ms(10);
	}
	ck_assert_uint_eq(n, HOSTILE_IDLE_WORKERS);
}

// The run.

void
hostile_begin(hostile_run *r, const char *attack, const char *const *flags)
{
	memset(r, 0, sizeof(*r));
	r->attack = attack;
	(void) hostile_raise_nofile();
	hostile_server_start(&r->srv, flags);
	hostile_good_open(&r->good, r->srv.addr);
	ck_assert_msg(hostile_good_call(&r->good), "warm-up call: %s",
	    drpc_err_name(r->good.last));
	good_prewarm(&r->good, &r->srv);
	ck_assert_msg(hostile_good_call(&r->good), "warm-up call: %s",
	    drpc_err_name(r->good.last));
	wait_pool_at_rest(&r->srv);
	ck_assert(tu_sample_read(r->srv.pid, &r->base));
	r->peak     = r->base;
	r->start_ns = now_ns();
}

void
hostile_vdescribe(
    hostile_run *r, size_t bound_bytes, const char *fmt, va_list ap)
{
	r->bound_kib = bound_bytes / HOSTILE_KIB;
	(void) vsnprintf(r->params, sizeof(r->params), fmt, ap);
}

void
hostile_describe(hostile_run *r, size_t bound_bytes, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hostile_vdescribe(r, bound_bytes, fmt, ap);
	va_end(ap);
}

void
hostile_poll(hostile_run *r)
{
	tu_sample s;

	if (tu_sample_read(r->srv.pid, &s)) {
		tu_sample_max(&r->peak, &s);
	}
}

void
hostile_during(hostile_run *r)
{
	size_t h = tu_named_threads(r->srv.pid, "drpc-h-");

	r->during_ns = now_ns();
	hostile_poll(r);
	r->handlers_peak = h > r->handlers_peak ? h : r->handlers_peak;
	r->good_during   = hostile_good_call(&r->good);
	if (!r->good_during && r->refusal_ok &&
	    r->good.last == DRPC_ERESOURCE) {
		r->good_during    = true;
		r->refused_during = true;
		r->good.last      = DRPC_OK;
	}
	hostile_poll(r);
}

// hostile_wait_back waits until the server's threads and fds are back at the
// baseline: ended connections are destroyed by the server's reaper and
// surplus workers retire after 2 s idle, each on its own time.
bool
hostile_wait_back(hostile_run *r)
{
	int64_t        deadline = now_ns() + tu_bound_ns(TU_WAIT_NS);
	tu_sample      s;

	for (;;) {
		if (!tu_sample_read(r->srv.pid, &s)) {
			return false;
		}
		tu_sample_max(&r->peak, &s);
		if (s.threads == r->base.threads && s.fds == r->base.fds) {
			return true;
		}
		if (now_ns() > deadline) {
			return false;
		}
		nap_ms(10);
	}
}

static double
mib(size_t kib)
{
	return (double) kib / 1024.0;
}

static void
report(const hostile_run *r)
{
	size_t growth = r->peak.hwm_kib > r->base.rss_kib
	                    ? r->peak.hwm_kib - r->base.rss_kib
	                    : 0;

	fprintf(stderr,
	    "hostile: %s params=%s rss_base=%.1fMiB rss_peak=%.1fMiB "
	    "rss_growth=%.1fMiB bound=%.1fMiB%s rss_after=%.1fMiB "
	    "threads_base=%zu threads_peak=%zu threads_after=%zu "
	    "handlers_peak=%zu fds_base=%zu fds_peak=%zu fds_after=%zu "
	    "good_client=%s outcome=%s back=%s alive=%s clean_exit=%s "
	    "secs=%.1f+%.1f\n",
	    r->attack, r->params, mib(r->base.rss_kib), mib(r->peak.hwm_kib),
	    mib(growth), mib(r->bound_kib),
	    HOSTILE_RSS_CHECKED ? "" : "(unchecked)", mib(r->after.rss_kib),
	    r->base.threads, r->peak.threads, r->after.threads,
	    r->handlers_peak, r->base.fds, r->peak.fds, r->after.fds,
	    !(r->good_during && r->good_after) ? "FAILED"
	    : r->refused_during                ? "refused_during(8),ok_after"
	                                       : "ok",
	    r->outcome, r->back ? "yes" : "no", r->alive ? "yes" : "no",
	    r->clean_exit ? "yes" : "no",
	    (double) (r->during_ns - r->start_ns) / 1e9,
	    (double) (r->back_ns - r->during_ns) / 1e9);
}

void
hostile_finish(hostile_run *r)
{
	size_t growth;

	r->back    = hostile_wait_back(r);
	r->back_ns = now_ns();
	(void) tu_sample_read(r->srv.pid, &r->after);
	tu_sample_max(&r->peak, &r->after);
	r->good_after = hostile_good_call(&r->good);
	r->alive      = hostile_server_alive(&r->srv);
	hostile_good_close(&r->good);
	r->clean_exit = hostile_server_stop(&r->srv);
	report(r);
	growth = r->peak.hwm_kib > r->base.rss_kib
	             ? r->peak.hwm_kib - r->base.rss_kib
	             : 0;
	ck_assert_msg(r->good_during,
	    "%s: the good client was not served "
	    "during the attack (%s)",
	    r->attack, drpc_err_name(r->good.last));
	ck_assert_msg(r->good_after,
	    "%s: the good client was not served "
	    "after the attack (%s)",
	    r->attack, drpc_err_name(r->good.last));
	ck_assert_msg(r->alive, "%s: the server died (status %d)", r->attack,
	    r->srv.status);
	ck_assert_msg(r->back,
	    "%s: the server's threads/fds did not come back: %zu/%zu, "
	    "baseline %zu/%zu",
	    r->attack, r->after.threads, r->after.fds, r->base.threads,
	    r->base.fds);
	ck_assert_msg(r->clean_exit,
	    "%s: the server did not exit cleanly "
	    "(status %d)",
	    r->attack, r->srv.status);
	ck_assert_msg(!HOSTILE_RSS_CHECKED || growth <= r->bound_kib,
	    "%s: the server's RSS grew by %.1f MiB, bound %.1f MiB", r->attack,
	    mib(growth), mib(r->bound_kib));
}
