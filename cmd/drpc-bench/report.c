// drpc-bench's results: the table of figures (every repetition), the
// targets evaluated on it, and the output as text or JSON.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

bench_row *
table_find(bench_table *t, const char *id)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->rows[i].id, id) == 0) {
			return &t->rows[i];
		}
	}
	return NULL;
}

// table_put records one repetition's value of a figure. a may be NULL.
void
table_put(bench_table *t, const char *id, const char *workload,
    const char *what, const char *ratio_to, double v, const aux *a)
{
	bench_row *r = table_find(t, id);

	if (r == NULL) {
		if (t->n == BENCH_MAX_ROWS) {
			fprintf(stderr, "drpc-bench: too many results\n");
			return;
		}
		r = &t->rows[t->n++];
		memset(r, 0, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", id);
		snprintf(r->workload, sizeof(r->workload), "%s", workload);
		snprintf(r->what, sizeof(r->what), "%s", what);
		snprintf(r->ratio_to, sizeof(r->ratio_to), "%s",
		    ratio_to != NULL ? ratio_to : "");
	}
	if (r->n == BENCH_MAX_REPS) {
		return;
	}
	r->v[r->n] = v;
	if (a != NULL && a->vcs >= 0) {
		r->a[r->naux++] = *a;
	}
	r->n++;
}

// aux_get is one cost of a repetition; negative if not known.
static double
aux_get(const aux *a, aux_field f)
{
	bool srv = a->srv_cpu_us >= 0;

	switch (f) {
	case AUX_VCS:
		return a->vcs;
	case AUX_IVCS:
		return a->ivcs;
	case AUX_CPU:
		return a->cpu_us;
	case AUX_FLT:
		return a->flt;
	case AUX_SRV_VCS:
		return a->srv_vcs;
	case AUX_SRV_IVCS:
		return a->srv_ivcs;
	case AUX_SRV_CPU:
		return a->srv_cpu_us;
	case AUX_ALL_VCS:
		return srv ? a->vcs + a->srv_vcs : -1;
	case AUX_ALL_IVCS:
		return srv ? a->ivcs + a->srv_ivcs : -1;
	case AUX_ALL_CPU:
		return srv ? a->cpu_us + a->srv_cpu_us : -1;
	}
	return -1;
}

bool
row_aux_median(const bench_row *r, aux_field f, double *m)
{
	double v[BENCH_MAX_REPS];
	int    n = 0;

	for (int i = 0; i < r->naux; i++) {
		double x = aux_get(&r->a[i], f);

		if (x >= 0) {
			v[n++] = x;
		}
	}
	if (n == 0) {
		return false;
	}
	*m = median_of(v, n);
	return true;
}

double
median_of(const double *v, int n)
{
	double s[BENCH_MAX_REPS];

	if (n <= 0) {
		return 0;
	}
	memcpy(s, v, (size_t) n * sizeof(*s));
	qsort(s, (size_t) n, sizeof(*s), cmp_double);
	return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double
min_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++) {
		m = v[i] < m ? v[i] : m;
	}
	return m;
}

double
max_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++) {
		m = v[i] > m ? v[i] : m;
	}
	return m;
}

// table_median gives the median of a figure; false if it was not measured.
bool
table_median(bench_table *t, const char *id, double *m)
{
	bench_row *r = table_find(t, id);

	if (r == NULL || r->n == 0) {
		return false;
	}
	*m = median_of(r->v, r->n);
	return true;
}

// Targets (docs/benchmarks.md): each a bound on a figure, or on its
// ratio to another figure of the same run.

typedef struct target {
	const char *text;
	const char *id;
	const char *ref; // NULL: a bound on the figure itself
	target_op   op;
	double      must;
	double      goal; // 0: none
} target;

static const target targets[] = {
    {"unary latency median <= 2x raw TCP ping-pong (must), <= 1.1x "
     "(goal)",
        "unary.latency.median_us", "raw.pingpong.median_us", T_LE, 2.0, 1.1},
    {"unary throughput, 32 callers on one connection >= 0.3x raw "
     "32-connection ping-pong (must), >= 0.4x (goal)",
        "unary.tput.32.calls_s", "raw.pingpong32.rt_s", T_GE, 0.3, 0.4},
    {"server stream 1 MiB >= 0.6x raw", "stream.server.1MiB.mb_s",
        "raw.stream.1MiB.mb_s", T_GE, 0.6, 0},
    {"server stream 4 KiB >= 0.6x raw", "stream.server.4KiB.mb_s",
        "raw.stream.4KiB.mb_s", T_GE, 0.6, 0},
    {"server stream 16 B >= 1,000,000 msgs/s", "stream.server.16B.msgs_s", NULL,
        T_GE, 1e6, 0},
    {"(stricter) server stream 4 KiB >= 0.6x raw with 64 KiB writes",
        "stream.server.4KiB.mb_s", "raw.stream_batched.4KiB.mb_s", T_GE, 0.6,
        0},
    {"bidi ping-pong median <= 0.8x unary latency median",
        "bidi.latency.median_us", "unary.latency.median_us", T_LE, 0.8, 0},
    {"(literal reading) bidi ping-pong median <= 0.8x raw TCP ping-pong",
        "bidi.latency.median_us", "raw.pingpong.median_us", T_LE, 0.8, 0},
    {"10,000 idle streams opened in < 2 s (ms)", "scale.10000.open_ms", NULL,
        T_LT, 2000, 0},
    {"server RSS growth <= 16 KiB per stream (10,000 idle streams)",
        "scale.10000.server_rss_per_stream_kib", NULL, T_LE, 16, 0},
};

bool
target_ok(target_op op, double v, double bound)
{
	switch (op) {
	case T_LE:
		return v <= bound;
	case T_LT:
		return v < bound;
	case T_GE:
		return v >= bound;
	}
	return false;
}

// target_eval: false if not measured; else *v is the figure or ratio.
static bool
target_eval(bench *b, const target *t, double *v, bool *must, bool *goal)
{
	double x;
	double ref;

	if (!table_median(&b->tab, t->id, &x)) {
		return false;
	}
	if (t->ref != NULL) {
		if (!table_median(&b->tab, t->ref, &ref) || ref == 0) {
			return false;
		}
		x /= ref;
	}
	*v    = x;
	*must = target_ok(t->op, x, t->must);
	*goal = t->goal == 0 || target_ok(t->op, x, t->goal);
	return true;
}

// Output.

// table_sort orders the rows by workload (workload_names), keeping the
// order they were first recorded in within a workload.
void
table_sort(bench_table *t)
{
	size_t n = 0;

	for (size_t w = 0; w < sizeof(workload_names) / sizeof(*workload_names);
	     w++) {
		for (size_t i = 0; i < t->n; i++) {
			if (strcmp(t->rows[i].workload,
			        workload_names[w].name) == 0) {
				t->order[n++] = i;
			}
		}
	}
	for (size_t i = 0; i < t->n && n < t->n; i++) {
		bool listed = false;

		for (size_t j = 0; j < n; j++) {
			listed = listed || t->order[j] == i;
		}
		if (!listed) {
			t->order[n++] = i;
		}
	}
}

// foreign_cpus is how many CPUs other processes (and the hypervisor's
// steal) kept busy on average during the run; -1 if unknown. In --client
// mode the server process counts as foreign.
static double
foreign_cpus(const bench *b)
{
	if (b->run_busy_ns < 0 || b->run_ns <= 0) {
		return -1;
	}
	double v =
	    (double) (b->run_busy_ns - b->run_own_ns) / (double) b->run_ns;

	return v > 0 ? v : 0; // /proc/stat counts in ticks: short runs jitter
}

// fmt_num prints v with precision by magnitude, thousands grouped.
void
fmt_num(char *buf, size_t cap, double v)
{
	char   tmp[48];
	size_t len;
	size_t o = 0;

	if (v >= 1000 || v <= -1000 || v == (double) (long long) v) {
		snprintf(tmp, sizeof(tmp), "%.0f", v);
		len = strlen(tmp);
		for (size_t i = 0; i < len && o + 2 < cap; i++) {
			size_t left = len - i;

			buf[o++] = tmp[i];
			if (left > 1 && (left - 1) % 3 == 0 && tmp[i] != '-') {
				buf[o++] = ',';
			}
		}
		buf[o] = '\0';
	} else if (v >= 100 || v <= -100) {
		snprintf(buf, cap, "%.0f", v);
	} else if (v >= 10 || v <= -10) {
		snprintf(buf, cap, "%.1f", v);
	} else {
		snprintf(buf, cap, "%.2f", v);
	}
}

// put_col prints s left- or right-aligned in width columns (UTF-8 aware).
void
put_col(const char *s, int width, bool right)
{
	int cols = 0;

	for (const char *p = s; *p != '\0'; p++) {
		cols += ((unsigned char) *p & 0xC0) != 0x80;
	}
	if (right) {
		for (int i = cols; i < width; i++) {
			putchar(' ');
		}
	}
	fputs(s, stdout);
	if (!right) {
		for (int i = cols; i < width; i++) {
			putchar(' ');
		}
	}
}

void
put_header(const bench_col *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		put_col(cols[i].title, cols[i].width, cols[i].right);
	}
	putchar('\n');
}

void
put_median_spread(const bench_row *r)
{
	char num[48];
	char lo[48];
	char hi[48];
	char cell[128];

	fmt_num(num, sizeof(num), median_of(r->v, r->n));
	put_col(num, 13, true);
	fmt_num(lo, sizeof(lo), min_of(r->v, r->n));
	fmt_num(hi, sizeof(hi), max_of(r->v, r->n));
	snprintf(cell, sizeof(cell), "%s–%s", lo, hi);
	put_col(cell, 25, true);
}

void
print_build_line(const bench *b)
{
	printf("  build:    %s; %d repetition%s (figure = median, spread = "
	       "min-max)%s\n",
#ifdef __OPTIMIZE__
	    "optimized",
#else
	    "NOT optimized (use build/release)",
#endif
	    b->cfg.reps, b->cfg.reps == 1 ? "" : "s",
	    b->cfg.quick ? "; --quick (small counts: not for comparison)" : "");
}

void
put_aux(const bench_row *r, aux_field f, int width)
{
	char   num[48] = "";
	double m;

	if (row_aux_median(r, f, &m)) {
		fmt_num(num, sizeof(num), m);
	}
	put_col(num, width, true);
}

typedef struct host_info {
	char kernel[3 * 65 + 8];
	char affinity[128];
	long cpus;
	bool pinned;
	long nproc_limit; // -1: unlimited
	long threads_max;
	long map_count;
	long nofile;
	char mode[700];
} host_info;

static void
host_info_get(const bench *b, host_info *h)
{
	struct utsname u;
	struct rlimit  rl;

	memset(h, 0, sizeof(*h));
	if (uname(&u) == 0) {
		snprintf(h->kernel, sizeof(h->kernel), "%s %s %s", u.sysname,
		    u.release, u.machine);
	}
	proc_status_text(
	    "Cpus_allowed_list:", h->affinity, sizeof(h->affinity));
	h->pinned      = strpbrk(h->affinity, ",-") == NULL;
	h->cpus        = sysconf(_SC_NPROCESSORS_ONLN);
	h->nproc_limit = getrlimit(RLIMIT_NPROC, &rl) != 0 ? -2
	                 : rl.rlim_cur == RLIM_INFINITY    ? -1
	                                                   : (long) rl.rlim_cur;
	h->nofile      = getrlimit(RLIMIT_NOFILE, &rl) != 0 ? -2
	                 : rl.rlim_cur == RLIM_INFINITY     ? -1
	                                                : (long) rl.rlim_cur;
	h->threads_max = read_long_file("/proc/sys/kernel/threads-max");
	h->map_count   = read_long_file("/proc/sys/vm/max_map_count");
	if (b->remote) {
		snprintf(h->mode, sizeof(h->mode),
		    "client of the server at %s (raw baseline %s:%s)", b->addr,
		    b->host, b->raw_port);
	} else {
		snprintf(h->mode, sizeof(h->mode),
		    "client and server in one process, loopback TCP (%s)",
		    b->addr);
	}
}

void
print_table(bench *b)
{
	static const bench_col cols[] = {{"workload", 19, false},
	    {"figure", 42, false}, {"median", 13, true}, {"spread", 25, true},
	    {"×raw", 8, true}, {"vcs/op", 8, true}, {"cpu µs/op", 11, true},
	    {"flt/op", 9, true}};
	host_info h;
	char      num[48];
	char      cell[128];

	host_info_get(b, &h);
	printf("drpc-bench: libdrpc against plain TCP, measured in the same "
	       "run\n");
	printf("  mode:     %s\n", h.mode);
	printf("  host:     %s, %ld CPUs online, CPU affinity %s (%s)\n",
	    h.kernel, h.cpus, h.affinity, h.pinned ? "pinned" : "unpinned");
	print_build_line(b);
	printf("  server:   handler_stack %zu KiB, idle_workers %zu%s\n",
	    b->srv_handler_stack >> 10, b->srv_idle_workers,
	    b->cfg.workarounds ? "; --workarounds" : "");
	printf("  limits:   ulimit -u %ld, threads-max %ld, vm.max_map_count "
	       "%ld, open files %ld\n",
	    h.nproc_limit, h.threads_max, h.map_count, h.nofile);
	printf("  run:      %.0f s; other processes used %.2f CPUs on "
	       "average%s\n",
	    (double) b->run_ns / 1e9, foreign_cpus(b),
	    foreign_cpus(b) > 0.1 && !b->remote
	        ? " -- NOT A QUIET MACHINE: these figures are noise"
	        : "");
	if (!h.pinned) {
		printf("  note:     unpinned, where the scheduler puts the "
		       "threads "
		       "decides latency (same vCPU or not) and\n"
		       "            it varies from run to run: compare pinned "
		       "runs (taskset -c 0), docs/benchmarks.md\n");
	}
	printf("  ×raw:     the median divided by the raw figure of this run "
	       "(latency: lower is better; rates: higher is better)\n");
	printf("  vcs/op, cpu µs/op, flt/op: voluntary context switches, CPU "
	       "time and minor page faults per operation, whole %s\n",
	    b->remote ? "client process" : "process (client + server)");
	if (table_find(&b->tab, "flow.bulk.auto.mb_s") != NULL) {
		printf("  flow:     %zu MiB per transfer in 64 KiB messages "
		       "on one client stream, divided by the raw 64 KiB "
		       "stream;\n"
		       "            \"stalled\": beside a stream whose handler "
		       "never reads, not run with flow control off\n"
		       "            (it deadlocks by design: the reader stops "
		       "at the stalled stream's full ring)\n",
		    b->cfg.flow_total >> 20);
	}
	putchar('\n');
	put_header(cols, sizeof(cols) / sizeof(*cols));
	for (size_t k = 0; k < b->tab.n; k++) {
		bench_row *r = &b->tab.rows[b->tab.order[k]];
		double     ref;

		put_col(r->workload, 19, false);
		put_col(r->what, 42, false);
		put_median_spread(r);
		if (r->ratio_to[0] != '\0' &&
		    table_median(&b->tab, r->ratio_to, &ref) && ref != 0) {
			snprintf(cell, sizeof(cell), "%.2f",
			    median_of(r->v, r->n) / ref);
		} else {
			snprintf(cell, sizeof(cell), "%s", "");
		}
		put_col(cell, 8, true);
		if (r->naux > 0) {
			put_aux(r, AUX_VCS, 8);
			put_aux(r, AUX_CPU, 11);
			put_aux(r, AUX_FLT, 9);
		}
		putchar('\n');
	}
	printf("\ntargets (ratios use medians of this run):\n");
	for (size_t i = 0; i < sizeof(targets) / sizeof(*targets); i++) {
		const target *t = &targets[i];
		double        v;
		bool          must;
		bool          goal;

		if (!target_eval(b, t, &v, &must, &goal)) {
			printf("  %-96s  not measured\n", t->text);
			continue;
		}
		fmt_num(num, sizeof(num), v);
		printf("  %-96s  %s%s  %s%s\n", t->text, num,
		    t->ref != NULL ? "×" : "", must ? "met" : "NOT MET",
		    t->goal == 0 ? ""
		    : goal       ? " (goal met)"
		                 : " (goal not met)");
	}
	tls_print(b, false);
	if (b->failed != 0) {
		printf("\nFAILED workloads:");
		for (size_t i = 0;
		     i < sizeof(workload_names) / sizeof(*workload_names);
		     i++) {
			if ((b->failed & workload_names[i].bit) != 0) {
				printf(" %s", workload_names[i].name);
			}
		}
		printf(" (see the messages above)\n");
	}
}

void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char) *s;

		if (ch == '"' || ch == '\\') {
			printf("\\%c", ch);
		} else if (ch < 0x20) {
			printf("\\u%04x", ch);
		} else {
			putchar(ch);
		}
	}
	putchar('"');
}

void
json_array(const double *v, int n)
{
	putchar('[');
	for (int i = 0; i < n; i++) {
		printf("%s%.3f", i > 0 ? "," : "", v[i]);
	}
	putchar(']');
}

void
json_aux(const bench_row *r, const char *key, aux_field f)
{
	double m;

	if (row_aux_median(r, f, &m)) {
		printf("%s: %.3f", key, m);
	}
}

void
print_json(bench *b)
{
	host_info h;

	host_info_get(b, &h);
	printf("{\n  \"mode\": ");
	json_str(h.mode);
	printf(",\n  \"remote\": %s,\n  \"kernel\": ",
	    b->remote ? "true" : "false");
	json_str(h.kernel);
	printf(",\n  \"cpus_online\": %ld,\n  \"cpu_affinity\": ", h.cpus);
	json_str(h.affinity);
	printf(",\n  \"pinned\": %s,\n  \"reps\": %d,\n  \"quick\": %s,\n",
	    h.pinned ? "true" : "false", b->cfg.reps,
	    b->cfg.quick ? "true" : "false");
	printf("  \"run_seconds\": %.1f,\n  \"foreign_cpus\": %.3f,\n",
	    (double) b->run_ns / 1e9, foreign_cpus(b));
	printf("  \"handler_stack\": %zu,\n  \"idle_workers\": %zu,\n",
	    b->srv_handler_stack, b->srv_idle_workers);
	printf("  \"results\": [");
	for (size_t k = 0; k < b->tab.n; k++) {
		bench_row *r = &b->tab.rows[b->tab.order[k]];
		double     ref;

		printf("%s\n    {\"id\": ", k > 0 ? "," : "");
		json_str(r->id);
		printf(", \"workload\": ");
		json_str(r->workload);
		printf(", \"figure\": ");
		json_str(r->what);
		printf(", \"median\": %.3f, \"min\": %.3f, \"max\": %.3f, "
		       "\"values\": ",
		    median_of(r->v, r->n), min_of(r->v, r->n),
		    max_of(r->v, r->n));
		json_array(r->v, r->n);
		if (r->ratio_to[0] != '\0' &&
		    table_median(&b->tab, r->ratio_to, &ref) && ref != 0) {
			printf(", \"ratio_to\": ");
			json_str(r->ratio_to);
			printf(
			    ", \"ratio\": %.4f", median_of(r->v, r->n) / ref);
		}
		if (r->naux > 0) {
			json_aux(r, ", \"vcs_per_op\"", AUX_VCS);
			json_aux(r, ", \"cpu_us_per_op\"", AUX_CPU);
			json_aux(r, ", \"faults_per_op\"", AUX_FLT);
		}
		putchar('}');
	}
	printf("\n  ],\n  \"targets\": [");
	for (size_t i = 0; i < sizeof(targets) / sizeof(*targets); i++) {
		const target *t = &targets[i];
		double        v;
		bool          must;
		bool          goal;

		printf("%s\n    {\"target\": ", i > 0 ? "," : "");
		json_str(t->text);
		if (target_eval(b, t, &v, &must, &goal)) {
			printf(", \"value\": %.4f, \"met\": %s", v,
			    must ? "true" : "false");
			if (t->goal != 0) {
				printf(", \"goal_met\": %s",
				    goal ? "true" : "false");
			}
		} else {
			printf(", \"measured\": false");
		}
		putchar('}');
	}
	printf("\n  ],\n  \"failed\": [");
	for (size_t i = 0, k = 0;
	     i < sizeof(workload_names) / sizeof(*workload_names); i++) {
		if ((b->failed & workload_names[i].bit) != 0) {
			printf("%s", k++ > 0 ? ", " : "");
			json_str(workload_names[i].name);
		}
	}
	printf("]\n}\n");
}
