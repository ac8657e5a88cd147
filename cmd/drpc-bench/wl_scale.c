// drpc-bench's streams-scale workload: 1,000 and then 10,000 idle
// server-streaming calls opened on one connection in a burst; the time to
// open and to end them all, and the threads and memory they hold (RSS
// from /proc, the server's through the Info method; kernel stacks from
// /proc/meminfo).
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include <drpc/drpc.h>

#include "bench.h"

typedef struct scale_mem {
	long rss_kib;
	long threads;
	long kstack_kib; // this host's kernel stacks (client side only)
} scale_mem;

static bool
scale_measure(drpc_conn *c, bool remote, scale_mem *srv, scale_mem *cli)
{
	server_info si;

	cli->rss_kib    = proc_status_field("VmRSS:");
	cli->threads    = proc_status_field("Threads:");
	cli->kstack_kib = meminfo_kib("KernelStack:");
	if (!remote) {
		*srv = *cli;
		return true;
	}
	if (!bench_info(c, &si)) {
		return false;
	}
	srv->rss_kib    = si.rss_kib;
	srv->threads    = si.threads;
	srv->kstack_kib = -1;
	return true;
}

// scale_settle waits (at most 10 s) until the server's thread count has
// not changed for 100 ms: the handlers of the previous run have returned
// to the pool or exited. Otherwise the RSS taken before the run would
// still include the previous run's threads (and, with --workarounds, a
// worker turning idle during the burst would reopen the window the
// priming in scale_open closes).
static bool
scale_settle(drpc_conn *c, bool remote)
{
	int64_t   stop   = now_ns() + 10 * NS_PER_S;
	long      last   = -1;
	int       stable = 0;
	scale_mem srv;
	scale_mem cli;

	while (stable < 5 && now_ns() < stop) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		if (!scale_measure(c, remote, &srv, &cli)) {
			return false;
		}
		stable = srv.threads == last ? stable + 1 : 0;
		last   = srv.threads;
		(void) nanosleep(&ts, NULL);
	}
	return true;
}

static void
scale_limits_hint(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NPROC, &rl) == 0) {
		fprintf(stderr,
		    "drpc-bench: streams-scale: limits: RLIMIT_NPROC %lld, "
		    "threads-max %ld, vm.max_map_count %ld (each handler "
		    "thread needs two mappings)\n",
		    rl.rlim_cur == RLIM_INFINITY ? -1LL
		                                 : (long long) rl.rlim_cur,
		    read_long_file("/proc/sys/kernel/threads-max"),
		    read_long_file("/proc/sys/vm/max_map_count"));
	}
}

// scale_open_one opens stream i and sends its request.
static bool
scale_open_one(drpc_conn *c, drpc_stream **ss, size_t i, size_t n)
{
	uint8_t  req[BENCH_SMALL];
	char     what[96];
	drpc_err rv;

	fill_pattern(req, sizeof(req));
	if ((rv = drpc_stream_open(&ss[i], c, NULL, M_IDLE, NULL)) != DRPC_OK) {
		ss[i] = NULL;
		snprintf(what, sizeof(what),
		    "streams-scale: opening stream %zu of %zu", i + 1, n);
		report_call(what, rv, NULL);
		return false;
	}
	if ((rv = drpc_stream_send(ss[i], req, sizeof(req))) != DRPC_OK) {
		snprintf(what, sizeof(what),
		    "streams-scale: request on stream %zu of %zu", i + 1, n);
		report_stream(what, ss[i], rv);
		return false;
	}
	return true;
}

// scale_ack waits for the handler of stream i to acknowledge.
static bool
scale_ack(const bench *b, drpc_stream **ss, size_t i, size_t n)
{
	const void *m;
	size_t      len;
	char        what[96];
	drpc_err    rv;

	if ((rv = drpc_stream_recv_view(ss[i], &m, &len)) == DRPC_OK) {
		drpc_stream_recv_done(ss[i]);
		return true;
	}
	snprintf(what, sizeof(what),
	    "streams-scale: stream %zu of %zu: no handler answered", i + 1, n);
	report_stream(what, ss[i], rv);
	if (rv == DRPC_ERESOURCE) {
		fprintf(stderr,
		    "drpc-bench: streams-scale: the server could not start "
		    "a handler thread (pthread_create failed) after %zu "
		    "streams\n",
		    i);
		scale_limits_hint();
	} else if (!b->cfg.workarounds) {
		fprintf(stderr,
		    "drpc-bench: streams-scale: in a server before e37f44c, "
		    "RPCs queued behind idle workers already woken get no "
		    "thread; measure one with --workarounds "
		    "(docs/benchmarks.md)\n");
	}
	return false;
}

// scale_open opens n idle streams in one burst, then waits for every
// handler's ack. With --workarounds the first ones go one at a time, each
// waiting for its ack, until the server's idle workers are all busy: the
// pool before e37f44c counted a worker it had signalled as idle until
// that worker ran, so RPCs arriving meanwhile started no thread and
// waited for a handler to return, which idle streams never do
// (docs/benchmarks.md).
static bool
scale_open(
    const bench *b, drpc_conn *c, drpc_stream **ss, size_t n, size_t *opened)
{
	size_t prime = b->cfg.workarounds ? b->srv_idle_workers + 2 : 0;

	prime = prime < n ? prime : n;
	for (*opened = 0; *opened < prime; (*opened)++) {
		if (!scale_open_one(c, ss, *opened, n)) {
			(*opened) += ss[*opened] != NULL;
			return false;
		}
		if (!scale_ack(b, ss, *opened, n)) {
			(*opened)++;
			return false;
		}
	}
	for (; *opened < n; (*opened)++) {
		if (!scale_open_one(c, ss, *opened, n)) {
			(*opened) += ss[*opened] != NULL;
			return false;
		}
	}
	for (size_t i = prime; i < n; i++) {
		if (!scale_ack(b, ss, i, n)) {
			return false;
		}
	}
	return true;
}

// scale_close ends every stream: CloseSend, then the handler's EOF.
static bool
scale_close(drpc_stream **ss, size_t n)
{
	const void *m;
	size_t      len;
	char        what[96];
	drpc_err    rv;

	for (size_t i = 0; i < n; i++) {
		if ((rv = drpc_stream_close_send(ss[i])) != DRPC_OK) {
			snprintf(what, sizeof(what),
			    "streams-scale: closing stream %zu", i + 1);
			report_stream(what, ss[i], rv);
			return false;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if ((rv = drpc_stream_recv_view(ss[i], &m, &len)) != DRPC_EOF) {
			if (rv == DRPC_OK) {
				drpc_stream_recv_done(ss[i]);
			}
			snprintf(what, sizeof(what),
			    "streams-scale: end of stream %zu", i + 1);
			report_stream(what, ss[i], rv);
			return false;
		}
	}
	return true;
}

// scale_record records one repetition. RSS growth is recorded from the
// first repetition only: later ones reuse heap and stacks the earlier
// ones freed, so they show less growth than a fresh process would.
static void
scale_record(bench *b, size_t n, const scale_mem *s0, const scale_mem *s1,
    const scale_mem *c0, const scale_mem *c1, int64_t open_ns, int64_t close_ns)
{
	const char *wl   = "streams-scale";
	const char *side = b->remote ? "server" : "process";
	char        id[64];
	char        label[64];
	double      grow = (double) (s1->rss_kib - s0->rss_kib);

	snprintf(id, sizeof(id), "scale.%zu.open_ms", n);
	snprintf(label, sizeof(label), "%zu: open all, ms", n);
	table_put(&b->tab, id, wl, label, NULL, (double) open_ns / 1e6, NULL);
	snprintf(id, sizeof(id), "scale.%zu.close_ms", n);
	snprintf(label, sizeof(label), "%zu: end all, ms", n);
	table_put(&b->tab, id, wl, label, NULL, (double) close_ns / 1e6, NULL);
	snprintf(id, sizeof(id), "scale.%zu.server_threads", n);
	snprintf(label, sizeof(label), "%zu: %s threads", n, side);
	table_put(&b->tab, id, wl, label, NULL, (double) s1->threads, NULL);
	snprintf(id, sizeof(id), "scale.%zu.server_threads_added", n);
	snprintf(label, sizeof(label), "%zu: %s threads added", n, side);
	table_put(&b->tab, id, wl, label, NULL,
	    (double) (s1->threads - s0->threads), NULL);
	if (b->rep == 0) {
		snprintf(id, sizeof(id), "scale.%zu.server_rss_kib", n);
		snprintf(label, sizeof(label),
		    "%zu: %s RSS growth KiB, 1st rep", n, side);
		table_put(&b->tab, id, wl, label, NULL, grow, NULL);
		snprintf(
		    id, sizeof(id), "scale.%zu.server_rss_per_stream_kib", n);
		snprintf(label, sizeof(label),
		    "%zu: %s RSS KiB/stream, 1st rep", n, side);
		table_put(
		    &b->tab, id, wl, label, NULL, grow / (double) n, NULL);
	}
	if (b->rep == 0 && c0->kstack_kib >= 0 && c1->kstack_kib >= 0) {
		// Threads' kernel stacks are in no process's RSS; on loopback
		// the server's are on this host too.
		grow = (double) (c1->kstack_kib - c0->kstack_kib);
		snprintf(id, sizeof(id), "scale.%zu.kstack_per_stream_kib", n);
		snprintf(label, sizeof(label),
		    "%zu: kernel stacks KiB/stream, 1st rep", n);
		table_put(
		    &b->tab, id, wl, label, NULL, grow / (double) n, NULL);
	}
	if (!b->remote) {
		return;
	}
	snprintf(id, sizeof(id), "scale.%zu.client_threads", n);
	snprintf(label, sizeof(label), "%zu: client threads", n);
	table_put(&b->tab, id, wl, label, NULL, (double) c1->threads, NULL);
	if (b->rep == 0) {
		grow = (double) (c1->rss_kib - c0->rss_kib);
		snprintf(id, sizeof(id), "scale.%zu.client_rss_kib", n);
		snprintf(label, sizeof(label),
		    "%zu: client RSS growth KiB, 1st rep", n);
		table_put(&b->tab, id, wl, label, NULL, grow, NULL);
		snprintf(
		    id, sizeof(id), "scale.%zu.client_rss_per_stream_kib", n);
		snprintf(label, sizeof(label),
		    "%zu: client RSS KiB/stream, 1st rep", n);
		table_put(
		    &b->tab, id, wl, label, NULL, grow / (double) n, NULL);
	}
}

static bool
scale_run(bench *b, size_t n)
{
	const char   *wl = "streams-scale";
	drpc_conn    *c;
	drpc_stream **ss;
	size_t        opened = 0;
	scale_mem     s0     = {0, 0, 0};
	scale_mem     s1     = {0, 0, 0};
	scale_mem     c0     = {0, 0, 0};
	scale_mem     c1     = {0, 0, 0};
	int64_t       t0;
	int64_t       open_ns  = 0;
	int64_t       close_ns = 0;
	bool          ok;

	if ((ss = calloc(n, sizeof(*ss))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if (!bench_dial(b, wl, &c)) {
		free(ss);
		return false;
	}
	wd_arm_conn(&b->wd, wl, 20 * NS_PER_S + (int64_t) n * NS_PER_MS, c);
	ok =
	    scale_settle(c, b->remote) && scale_measure(c, b->remote, &s0, &c0);
	if (ok) {
		t0      = now_ns();
		ok      = scale_open(b, c, ss, n, &opened);
		open_ns = now_ns() - t0;
	}
	ok = ok && scale_measure(c, b->remote, &s1, &c1);
	if (ok) {
		t0       = now_ns();
		ok       = scale_close(ss, n);
		close_ns = now_ns() - t0;
	}
	for (size_t i = 0; i < opened; i++) {
		drpc_stream_destroy(ss[i]);
	}
	ok = !wd_disarm(&b->wd) && ok;
	drpc_conn_destroy(c);
	free(ss);
	if (ok) {
		scale_record(b, n, &s0, &s1, &c0, &c1, open_ns, close_ns);
	}
	return ok;
}

bool
wl_streams_scale(bench *b)
{
	for (size_t i = 0; i < 2; i++) {
		if (!scale_run(b, b->cfg.scale_counts[i])) {
			return false;
		}
	}
	return true;
}
