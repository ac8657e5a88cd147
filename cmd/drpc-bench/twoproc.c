// drpc-bench --two-process: raw TCP, libdrpc and gRPC C++ side by side,
// each client and its server in two processes (docs/benchmarks.md, "Two
// processes: raw TCP, libdrpc and gRPC C++").
//
// Design notes. This process starts the servers itself: a `drpc-bench
// --server` child (its own binary), which serves libdrpc and the raw
// baseline, and, if the gRPC peer is built (drpc-bench-grpc beside this
// binary, or --grpc-peer), a `drpc-bench-grpc --server` child. Children
// inherit the CPU affinity, so `taskset -c 0 drpc-bench --two-process`
// pins them too. This process is the client of raw TCP and libdrpc; for
// gRPC it starts a `drpc-bench-grpc --client` child per run, which prints
// its figures and costs on one line. For each workload (a step) the three
// peers run back to back, raw first; repetitions are rep-major.
//
// Costs of both processes: each side takes its own getrusage just inside
// the server's, around the timed loop (mark_begin, mark_end): the libdrpc
// server answers the Usage method, the raw server the RAW_OP_USAGE
// command, the gRPC server its GetUsage method.
//
// Every child is stopped and reaped on the way out: at the end, on a
// failure, on SIGINT/SIGTERM/SIGHUP (the signal thread, procs.c) and when
// the watchdog gives up (its exit hook). A run of a gRPC client is under
// the watchdog like any workload: past its budget it is killed.
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

#define TP_CALLERS   32              // the throughput step's callers
#define TP_START_NS  (15 * NS_PER_S) // for a server to say where it is
#define TP_GRPC_OUT  4096            // a gRPC client's output, at most
#define TP_GRPC_PEER "drpc-bench-grpc"

const tp_step tp_steps[TP_STEPS] = {
    {"unary-latency", W_UNARY_LAT, 0},
    {"unary-throughput", W_UNARY_TPUT, 0},
    {"server stream 16 B", W_STREAM_TPUT, 0},
    {"server stream 4 KiB", W_STREAM_TPUT, 1},
    {"server stream 1 MiB", W_STREAM_TPUT, 2},
    {"bidi-latency", W_BIDI_LAT, 0},
    {"tls (libdrpc, TLS against plain)", W_TLS, 0},
};

const char *const tp_peer_names[TP_PEERS] = {"raw TCP", "libdrpc", "gRPC C++"};

// The raw and libdrpc runs of a step: the workloads of the one-process
// mode, with the server's costs (mark_begin) since cfg.two_process is set.

static bool
tp_run_raw(bench *b, const tp_step *st)
{
	switch (st->bit) {
	case W_UNARY_LAT:
		return raw_latency_run(b, "raw.pingpong", "ping-pong 16 B");
	case W_UNARY_TPUT:
		return raw_pp32_run(b);
	case W_STREAM_TPUT:
		return raw_stream_size(b, false, st->k);
	default:
		// Bidi's own raw ping-pong, measured beside it.
		return raw_latency_run(
		    b, "raw.pingpong_bidi", "ping-pong 16 B (bidi's)");
	}
}

static bool
tp_run_drpc(bench *b, const tp_step *st)
{
	switch (st->bit) {
	case W_UNARY_LAT:
		return wl_unary_latency(b);
	case W_UNARY_TPUT:
		return tput_run(b, TP_CALLERS) &&
		    tput_run_on(b, TP_CALLERS, true);
	case W_STREAM_TPUT:
		return stream_case(b, false, st->k);
	case W_TLS:
		return wl_tls(b);
	default:
		return wl_bidi_latency(b);
	}
}

// The gRPC runs: a drpc-bench-grpc --client child per run.

// grpc_result is a gRPC client's "result key=value ..." line.
typedef struct grpc_result {
	double ops;
	double elapsed_ns;
	double median_us; // latency workloads
	double p99_us;
	usage  self; // its costs over the timed loop (deltas)
	usage  srv;  // the server's
} grpc_result;

// grpc_parse reads the result line out of a client's output.
static bool
grpc_parse(const char *out, grpc_result *r)
{
	// The line's keys and where each goes.
	const struct {
		const char *key;
		double     *v;
	} doubles[] = {{"ops", &r->ops}, {"elapsed_ns", &r->elapsed_ns},
	    {"median_us", &r->median_us}, {"p99_us", &r->p99_us}};
	const struct {
		const char *key;
		int64_t    *v;
	} cpus[] = {
	    {"cpu_ns", &r->self.cpu_ns}, {"srv_cpu_ns", &r->srv.cpu_ns}};
	const struct {
		const char *key;
		long       *v;
	} counts[]    = {{"vcs", &r->self.vcs}, {"ivcs", &r->self.ivcs},
	       {"minflt", &r->self.minflt}, {"srv_vcs", &r->srv.vcs},
	       {"srv_ivcs", &r->srv.ivcs}};
	const char *p = strstr(out, "result ");
	char        line[TP_GRPC_OUT];
	char       *save = NULL;
	int         seen = 0;

	if (p == NULL) {
		return false;
	}
	snprintf(line, sizeof(line), "%.*s", (int) strcspn(p, "\n"), p);
	memset(r, 0, sizeof(*r));
	r->median_us = -1;
	r->p99_us    = -1;
	for (char *t = strtok_r(line, " ", &save); t != NULL;
	     t       = strtok_r(NULL, " ", &save)) {
		char  *eq = strchr(t, '=');
		double v;

		if (eq == NULL) {
			continue;
		}
		*eq = '\0';
		v   = strtod(eq + 1, NULL);
		seen += strcmp(t, "ops") == 0 || strcmp(t, "elapsed_ns") == 0;
		for (size_t i = 0; i < sizeof(doubles) / sizeof(*doubles);
		     i++) {
			if (strcmp(t, doubles[i].key) == 0) {
				*doubles[i].v = v;
			}
		}
		for (size_t i = 0; i < sizeof(cpus) / sizeof(*cpus); i++) {
			if (strcmp(t, cpus[i].key) == 0) {
				*cpus[i].v = (int64_t) v;
			}
		}
		for (size_t i = 0; i < sizeof(counts) / sizeof(*counts); i++) {
			if (strcmp(t, counts[i].key) == 0) {
				*counts[i].v = (long) v;
			}
		}
	}
	return seen == 2 && r->ops > 0 && r->elapsed_ns > 0;
}

// grpc_record records a gRPC run under "grpc." and the id the libdrpc
// run of the same step records.
static void
grpc_record(bench *b, const tp_step *st, const grpc_result *r)
{
	static const usage zero = {0};
	char               id[64];
	char               label[64];
	double             secs = r->elapsed_ns / 1e9;
	const char        *wl   = "grpc";
	aux                a    = aux_per_op(zero, r->self, r->ops);

	aux_add_server(&a, zero, r->srv, r->ops);
	switch (st->bit) {
	case W_UNARY_LAT:
	case W_BIDI_LAT: {
		const char *p = st->bit == W_UNARY_LAT ? "grpc.unary.latency"
		                                       : "grpc.bidi.latency";

		snprintf(id, sizeof(id), "%s.median_us", p);
		table_put(&b->tab, id, wl, "median µs", NULL, r->median_us, &a);
		snprintf(id, sizeof(id), "%s.p99_us", p);
		table_put(&b->tab, id, wl, "p99 µs", NULL, r->p99_us, NULL);
		break;
	}
	case W_UNARY_TPUT:
		snprintf(
		    id, sizeof(id), "grpc.unary.tput.%d.calls_s", TP_CALLERS);
		table_put(&b->tab, id, wl, "calls/s", NULL, r->ops / secs, &a);
		break;
	default:
		snprintf(id, sizeof(id), "grpc.stream.server.%s.mb_s",
		    stream_size_names[st->k]);
		snprintf(
		    label, sizeof(label), "%s: MB/s", stream_size_text[st->k]);
		table_put(&b->tab, id, wl, label, NULL,
		    r->ops * (double) stream_sizes[st->k] / 1e6 / secs, &a);
		snprintf(id, sizeof(id), "grpc.stream.server.%s.msgs_s",
		    stream_size_names[st->k]);
		table_put(&b->tab, id, wl, "msgs/s", NULL, r->ops / secs, NULL);
		break;
	}
}

// arg_list is a command line built with snprintf: argv for posix_spawn.
#define ARGS_MAX 20

typedef struct arg_list {
	char  s[ARGS_MAX][512];
	char *v[ARGS_MAX + 1];
	int   n;
} arg_list;

static void args_add(arg_list *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
args_add(arg_list *a, const char *fmt, ...)
{
	va_list ap;

	if (a->n == ARGS_MAX) {
		return; // the callers below stay far from it
	}
	va_start(ap, fmt);
	vsnprintf(a->s[a->n], sizeof(a->s[a->n]), fmt, ap);
	va_end(ap);
	a->v[a->n] = a->s[a->n];
	a->n++;
	a->v[a->n] = NULL;
}

// grpc_args is the command line of a client run of st.
static void
grpc_args(const bench *b, const tp_step *st, arg_list *a)
{
	a->n = 0;
	args_add(a, "%s", b->tp->grpc_peer);
	args_add(a, "--client");
	args_add(a, "%s", b->tp->grpc.addr);
	args_add(a, "--workload");
	switch (st->bit) {
	case W_UNARY_LAT:
	case W_BIDI_LAT:
		args_add(a,
		    st->bit == W_UNARY_LAT ? "unary-latency" : "bidi-latency");
		args_add(a, "--calls");
		args_add(a, "%zu", b->cfg.lat_calls);
		args_add(a, "--warmup");
		args_add(a, "%d", BENCH_WARMUP);
		break;
	case W_UNARY_TPUT:
		args_add(a, "unary-throughput");
		args_add(a, "--callers");
		args_add(a, "%d", TP_CALLERS);
		args_add(a, "--warmup");
		args_add(a, "%d", BENCH_WARMUP);
		args_add(a, "--ms");
		args_add(a, "%lld", (long long) (b->cfg.tput_ns / NS_PER_MS));
		break;
	default:
		args_add(a, "server-stream");
		args_add(a, "--size");
		args_add(a, "%zu", stream_sizes[st->k]);
		args_add(a, "--ms");
		args_add(a, "%lld", (long long) (b->cfg.stream_ns / NS_PER_MS));
		break;
	}
	args_add(a, "--parent-pid");
	args_add(a, "%ld", (long) getpid());
}

static int64_t
grpc_budget(const bench *b, const tp_step *st)
{
	switch (st->bit) {
	case W_UNARY_LAT:
	case W_BIDI_LAT:
		return latency_budget(b);
	case W_UNARY_TPUT:
		return b->cfg.tput_ns + 30 * NS_PER_S;
	default:
		return b->cfg.stream_ns + 30 * NS_PER_S;
	}
}

static bool
tp_run_grpc(bench *b, const tp_step *st)
{
	char        out[TP_GRPC_OUT];
	arg_list    args;
	char        what[64];
	grpc_result r;
	pid_t       pid;
	int         fd;
	int         status;
	bool        fired;

	grpc_args(b, st, &args);
	snprintf(what, sizeof(what), "gRPC client (%s)", st->name);
	wd_arm(&b->wd, what, grpc_budget(b, st));
	if (!procs_spawn(
	        &b->tp->ps, "drpc-bench-grpc --client", args.v, &pid, &fd)) {
		(void) wd_disarm(&b->wd);
		return false;
	}
	wd_watch_pid(&b->wd, pid);
	(void) procs_read_all(fd, out, sizeof(out));
	// The watch ends while the child is a zombie, so the watchdog can
	// never signal a pid that was reaped and reused.
	procs_await(pid);
	fired  = wd_disarm(&b->wd);
	status = procs_wait(&b->tp->ps, pid);
	if (fired || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		procs_describe_status(status, what, sizeof(what));
		fprintf(stderr, "drpc-bench: gRPC client (%s): %s%s\n",
		    st->name, what, fired ? " (the watchdog killed it)" : "");
		return false;
	}
	if (!grpc_parse(out, &r) ||
	    ((st->bit == W_UNARY_LAT || st->bit == W_BIDI_LAT) &&
	        r.median_us < 0)) {
		fprintf(stderr,
		    "drpc-bench: gRPC client (%s): unexpected output \"%s\"\n",
		    st->name, out);
		return false;
	}
	grpc_record(b, st, &r);
	return true;
}

// Starting and stopping the servers.

// self_dir puts the directory of this binary in dir (for its siblings).
static bool
self_dir(char *dir, size_t cap)
{
	ssize_t n = readlink("/proc/self/exe", dir, cap - 1);
	char   *slash;

	if (n <= 0) {
		return false;
	}
	dir[n] = '\0';
	if ((slash = strrchr(dir, '/')) == NULL) {
		return false;
	}
	*slash = '\0';
	return true;
}

// server_start starts a server child and reads where it listens from its
// first line: "<prefix><addr><end>...".
static bool
server_start(bench *b, tp_server *srv, const char *name, arg_list *args,
    const char *prefix, char end)
{
	char        line[512];
	const char *p;
	int         fd;

	if (!procs_spawn(&b->tp->ps, name, args->v, &srv->pid, &fd)) {
		srv->pid = 0;
		return false;
	}
	if (!procs_read_line(fd, line, sizeof(line), TP_START_NS) ||
	    (p = strstr(line, prefix)) == NULL) {
		fprintf(stderr,
		    "drpc-bench: %s did not say where it serves (it printed "
		    "\"%s\")\n",
		    name, line);
		return false;
	}
	p += strlen(prefix);
	snprintf(srv->addr, sizeof(srv->addr), "%.*s",
	    (int) strcspn(p, (char[]){end, '\0'}), p);
	if ((p = strstr(line, "(gRPC ")) != NULL) {
		p += strlen("(gRPC ");
		snprintf(srv->version, sizeof(srv->version), "%.*s",
		    (int) strcspn(p, ";)"), p);
	}
	proc_pid_status_text((long) srv->pid,
	    "Cpus_allowed_list:", srv->affinity, sizeof(srv->affinity));
	return true;
}

static bool
tp_start_drpc(bench *b)
{
	char     self[512];
	ssize_t  n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	arg_list a;

	if (n <= 0) {
		fprintf(stderr, "drpc-bench: /proc/self/exe: %s\n",
		    strerror(errno));
		return false;
	}
	self[n] = '\0';
	a.n     = 0;
	args_add(&a, "%s", self);
	args_add(&a, "--server");
	args_add(&a, "tcp://127.0.0.1:0");
	args_add(&a, "--handler-stack");
	args_add(&a, "%zu", b->cfg.handler_stack >> 10);
	args_add(&a, "--idle-workers");
	args_add(&a, "%zu", b->cfg.idle_workers);
	args_add(&a, "--parent-pid");
	args_add(&a, "%ld", (long) getpid());
	if (b->tls.client != NULL) {
		char cert[128];
		char key[128];

		if (!tls_write_files(&b->tls, cert, key, sizeof(cert))) {
			return false;
		}
		args_add(&a, "--tls-cert");
		args_add(&a, "%s", cert);
		args_add(&a, "--tls-key");
		args_add(&a, "%s", key);
	}
	return server_start(
	    b, &b->tp->drpc, "drpc-bench --server", &a, "serving on ", ',');
}

// tp_find_grpc decides which gRPC peer to run: --grpc-peer, else
// drpc-bench-grpc beside this binary (make bench-grpc puts it there).
static void
tp_find_grpc(bench *b)
{
	tp_state *tp = b->tp;
	char      dir[400];

	if (b->cfg.grpc_peer != NULL) {
		snprintf(tp->grpc_peer, sizeof(tp->grpc_peer), "%s",
		    b->cfg.grpc_peer);
	} else if (self_dir(dir, sizeof(dir))) {
		snprintf(tp->grpc_peer, sizeof(tp->grpc_peer), "%s/%s", dir,
		    TP_GRPC_PEER);
	}
	tp->grpc_built =
	    tp->grpc_peer[0] != '\0' && access(tp->grpc_peer, X_OK) == 0;
	if (!tp->grpc_built && b->cfg.grpc_peer != NULL) {
		fprintf(stderr, "drpc-bench: --grpc-peer %s: %s\n",
		    b->cfg.grpc_peer, strerror(errno));
	}
}

static bool
tp_start_grpc(bench *b)
{
	arg_list a;

	a.n = 0;
	args_add(&a, "%s", b->tp->grpc_peer);
	args_add(&a, "--server");
	args_add(&a, "127.0.0.1:0");
	args_add(&a, "--parent-pid");
	args_add(&a, "%ld", (long) getpid());
	b->tp->grpc_up = server_start(b, &b->tp->grpc,
	    "drpc-bench-grpc --server", &a, "serving on ", ' ');
	return b->tp->grpc_up;
}

// tp_stop_servers stops the servers and says if one did not stop well.
static void
tp_stop_servers(tp_state *tp)
{
	tp_server *srvs[] = {&tp->grpc, &tp->drpc};

	for (size_t i = 0; i < 2; i++) {
		char text[64];
		int  status;

		if (srvs[i]->pid == 0) {
			continue;
		}
		status = procs_end(&tp->ps, srvs[i]->pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			procs_describe_status(status, text, sizeof(text));
			fprintf(stderr, "drpc-bench: server pid %ld: %s\n",
			    (long) srvs[i]->pid, text);
		}
	}
}

// servers_cpu_ns is the CPU time the servers have used so far.
static int64_t
servers_cpu_ns(const tp_state *tp)
{
	int64_t sum = 0;

	if (tp->drpc.pid > 0) {
		sum += proc_pid_cpu_ns((long) tp->drpc.pid);
	}
	if (tp->grpc.pid > 0) {
		sum += proc_pid_cpu_ns((long) tp->grpc.pid);
	}
	return sum;
}

// own_cpu_ns is the CPU time this run's processes have used: this one,
// the servers, and the gRPC clients already reaped.
static int64_t
own_cpu_ns(const tp_state *tp)
{
	return usage_now().cpu_ns + children_cpu_ns() + servers_cpu_ns(tp);
}

// The run.

// tp_run_peer runs one peer of one step and says how it went on stderr.
static void
tp_run_peer(bench *b, size_t i, tp_peer p)
{
	const tp_step *st = &tp_steps[i];
	int64_t        t0 = now_ns();
	bool           ok;

	if (b->tp->failed[i][p] || (p == TP_GRPC && !b->tp->grpc_up) ||
	    (st->bit == W_TLS && p != TP_DRPC)) {
		return;
	}
	fprintf(stderr, "%s %s", p > TP_RAW ? "," : "", tp_peer_names[p]);
	fflush(stderr);
	switch (p) {
	case TP_RAW:
		ok = tp_run_raw(b, st);
		break;
	case TP_DRPC:
		ok = tp_run_drpc(b, st);
		break;
	default:
		ok = tp_run_grpc(b, st);
		break;
	}
	fprintf(stderr, " %s (%.1f s)", ok ? "done" : "FAILED",
	    (double) (now_ns() - t0) / 1e9);
	if (!ok) {
		b->tp->failed[i][p] = true;
	}
}

static void
tp_run_all(bench *b)
{
	int64_t t0    = now_ns();
	int64_t busy0 = machine_busy_ns();
	int64_t own0  = own_cpu_ns(b->tp);

	for (int rep = 0; rep < b->cfg.reps; rep++) {
		b->rep = rep;
		for (size_t i = 0; i < TP_STEPS; i++) {
			if (!b->tp->selected[i]) {
				continue;
			}
			fprintf(stderr, "drpc-bench: rep %d/%d: %s:", rep + 1,
			    b->cfg.reps, tp_steps[i].name);
			for (int p = 0; p < TP_PEERS; p++) {
				tp_run_peer(b, i, (tp_peer) p);
			}
			fputc('\n', stderr);
		}
	}
	b->run_ns      = now_ns() - t0;
	b->run_busy_ns = busy0 < 0 ? -1 : machine_busy_ns() - busy0;
	b->run_own_ns  = own_cpu_ns(b->tp) - own0;
}

// tp_failed tells whether a run failed (a gRPC server that could not be
// started counts, and so does a --grpc-peer that is not there; a gRPC
// peer that is not built does not).
static bool
tp_failed(const bench *b)
{
	const tp_state *tp = b->tp;

	if ((tp->grpc_built || b->cfg.grpc_peer != NULL) && !tp->grpc_up) {
		return true;
	}
	for (size_t i = 0; i < TP_STEPS; i++) {
		for (int p = 0; p < TP_PEERS; p++) {
			if (tp->failed[i][p]) {
				return true;
			}
		}
	}
	return false;
}

// tp_session starts the servers, runs every selected step and reports;
// the caller stops the servers.
static int
tp_session(bench *b)
{
	tp_state *tp = b->tp;

	if (!tp_start_drpc(b)) {
		return 1;
	}
	tp_find_grpc(b);
	if (tp->grpc_built && !tp_start_grpc(b)) {
		fprintf(stderr, "drpc-bench: the gRPC column is left out\n");
	}
	b->addr   = tp->drpc.addr;
	b->remote = true;
	if (!bench_connect(b)) {
		return 1;
	}
	tp_run_all(b);
	if (b->cfg.json) {
		tp_print_json(b);
	} else {
		tp_print_table(b);
	}
	return tp_failed(b) ? 1 : 0;
}

int
run_two_process(bench *b)
{
	tp_state *tp;
	int       status;
	int       err;

	if ((tp = calloc(1, sizeof(*tp))) == NULL) {
		fprintf(stderr, "drpc-bench: out of memory\n");
		return 1;
	}
	b->tp = tp;
	for (size_t i = 0; i < TP_STEPS; i++) {
		tp->selected[i] = (b->cfg.only & tp_steps[i].bit) != 0;
	}
	// Before any other thread starts: the signal mask is inherited.
	if ((err = procs_start(&tp->ps)) != 0) {
		fprintf(stderr, "drpc-bench: signals: %s\n", strerror(err));
		free(tp);
		return 1;
	}
	if ((err = wd_start(&b->wd)) != 0) {
		fprintf(stderr, "drpc-bench: watchdog: %s\n", strerror(err));
		procs_stop(&tp->ps);
		free(tp);
		return 1;
	}
	wd_on_exit(&b->wd, procs_kill_all, &tp->ps);
	status = tp_session(b);
	tp_stop_servers(tp);
	wd_stop(&b->wd);
	procs_stop(&tp->ps);
	b->tp = NULL;
	free(tp);
	return status;
}
