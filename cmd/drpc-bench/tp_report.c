// drpc-bench --two-process's output: the table (every figure of every
// peer, with its ratio to raw TCP and the costs of both processes), a
// Markdown summary in the shape of docs/benchmarks.md's, the targets of
// issue 15 evaluated on this run, and the same as JSON.
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

// A figure of the run, for each peer: raw's id and libdrpc's; gRPC's is
// libdrpc's with "grpc." in front (twoproc.c records it so).
typedef struct tp_figure {
	size_t      step;  // tp_steps
	const char *what;  // for people
	const char *key;   // for machines (JSON)
	const char *raw;   // raw TCP's id
	const char *drpc;  // libdrpc's id
	bool        costs; // the costs per operation belong to this row
} tp_figure;

static const tp_figure tp_figures[] = {
    {0, "unary 16 B: median µs", "unary.median_us", "raw.pingpong.median_us",
        "unary.latency.median_us", true},
    {0, "unary 16 B: p99 µs", "unary.p99_us", "raw.pingpong.p99_us",
        "unary.latency.p99_us", false},
    {1, "32 callers, one connection: calls/s", "tput32.calls_s",
        "raw.pingpong32.rt_s", "unary.tput.32.calls_s", true},
    {1, "32 callers, one channel: calls/s", "tput32ch.calls_s",
        "raw.pingpong32.rt_s", "unary.tput.32.channel.calls_s", false},
    {2, "server stream 16 B: MB/s", "stream.16B.mb_s", "raw.stream.16B.mb_s",
        "stream.server.16B.mb_s", true},
    {2, "server stream 16 B: msgs/s", "stream.16B.msgs_s",
        "raw.stream.16B.msgs_s", "stream.server.16B.msgs_s", false},
    {3, "server stream 4 KiB: MB/s", "stream.4KiB.mb_s", "raw.stream.4KiB.mb_s",
        "stream.server.4KiB.mb_s", true},
    {3, "server stream 4 KiB: msgs/s", "stream.4KiB.msgs_s",
        "raw.stream.4KiB.msgs_s", "stream.server.4KiB.msgs_s", false},
    {4, "server stream 1 MiB: MB/s", "stream.1MiB.mb_s", "raw.stream.1MiB.mb_s",
        "stream.server.1MiB.mb_s", true},
    {4, "server stream 1 MiB: msgs/s", "stream.1MiB.msgs_s",
        "raw.stream.1MiB.msgs_s", "stream.server.1MiB.msgs_s", false},
    {5, "bidi 16 B: median µs", "bidi.median_us", "raw.pingpong_bidi.median_us",
        "bidi.latency.median_us", true},
    {5, "bidi 16 B: p99 µs", "bidi.p99_us", "raw.pingpong_bidi.p99_us",
        "bidi.latency.p99_us", false},
};

#define TP_NFIGURES (sizeof(tp_figures) / sizeof(*tp_figures))

// fig_id is the id of figure f for peer p.
static void
fig_id(const tp_figure *f, tp_peer p, char *id, size_t cap)
{
	switch (p) {
	case TP_RAW:
		snprintf(id, cap, "%s", f->raw);
		break;
	case TP_DRPC:
		snprintf(id, cap, "%s", f->drpc);
		break;
	default:
		snprintf(id, cap, "grpc.%s", f->drpc);
		break;
	}
}

static bench_row *
fig_row(bench *b, const tp_figure *f, tp_peer p)
{
	char id[80];

	fig_id(f, p, id, sizeof(id));
	return table_find(&b->tab, id);
}

// fig_ratio is figure f of peer p divided by raw's; false if unknown.
static bool
fig_ratio(bench *b, const tp_figure *f, tp_peer p, double *r)
{
	bench_row *x   = fig_row(b, f, p);
	bench_row *raw = fig_row(b, f, TP_RAW);
	double     d;

	if (x == NULL || raw == NULL || x->n == 0 || raw->n == 0 ||
	    (d = median_of(raw->v, raw->n)) == 0) {
		return false;
	}
	*r = median_of(x->v, x->n) / d;
	return true;
}

// peer_state is why a peer has no figure: "" if it has one.
static const char *
peer_state(const bench *b, const tp_figure *f, tp_peer p)
{
	if (p == TP_GRPC && !b->tp->grpc_built) {
		return "not built";
	}
	if (p == TP_GRPC && !b->tp->grpc_up) {
		return "no server";
	}
	return b->tp->failed[f->step][p] ? "FAILED" : "not run";
}

// The targets of issue 15, on this run.

typedef enum tp_metric {
	TM_FIG, // the figure (its median)
	TM_CPU, // CPU µs per operation, client + server
	TM_VCS, // voluntary context switches per operation, both
} tp_metric;

typedef struct tp_target {
	const char *level; // "must", "goal"
	const char *text;
	const char *id; // a libdrpc figure
	tp_metric   m;
	const char *ref; // NULL: a bound on the value itself
	tp_metric   rm;
	target_op   op;
	double      bound; // value (÷ ref) op bound
} tp_target;

static const tp_target tp_targets[] = {
    {"must", "unary median latency <= gRPC's", "unary.latency.median_us",
        TM_FIG, "grpc.unary.latency.median_us", TM_FIG, T_LE, 1},
    {"goal", "unary median latency <= 1.5x raw ping-pong",
        "unary.latency.median_us", TM_FIG, "raw.pingpong.median_us", TM_FIG,
        T_LE, 1.5},
    {"must", "CPU per unary call (client+server) <= gRPC's",
        "unary.latency.median_us", TM_CPU, "grpc.unary.latency.median_us",
        TM_CPU, T_LE, 1},
    {"goal", "CPU per unary call (client+server) <= 1.6x raw ping-pong's",
        "unary.latency.median_us", TM_CPU, "raw.pingpong.median_us", TM_CPU,
        T_LE, 1.6},
    {"must", "voluntary context switches per unary call (both) <= 4",
        "unary.latency.median_us", TM_VCS, NULL, TM_VCS, T_LE, 4},
    {"goal", "voluntary context switches per unary call (both) <= 3",
        "unary.latency.median_us", TM_VCS, NULL, TM_VCS, T_LE, 3},
    {"must", "bidi median <= unary median", "bidi.latency.median_us", TM_FIG,
        "unary.latency.median_us", TM_FIG, T_LE, 1},
    {"must", "bidi median <= gRPC's bidi median", "bidi.latency.median_us",
        TM_FIG, "grpc.bidi.latency.median_us", TM_FIG, T_LE, 1},
    {"must", "bidi CPU per round trip <= unary CPU per call",
        "bidi.latency.median_us", TM_CPU, "unary.latency.median_us", TM_CPU,
        T_LE, 1},
    {"must", "bidi CPU per round trip <= gRPC's", "bidi.latency.median_us",
        TM_CPU, "grpc.bidi.latency.median_us", TM_CPU, T_LE, 1},
    {"must", "server stream 1 MiB >= 0.85x raw", "stream.server.1MiB.mb_s",
        TM_FIG, "raw.stream.1MiB.mb_s", TM_FIG, T_GE, 0.85},
    {"must", "server stream 1 MiB: CPU per MiB (both) <= 1.2x raw's",
        "stream.server.1MiB.mb_s", TM_CPU, "raw.stream.1MiB.mb_s", TM_CPU, T_LE,
        1.2},
    {"must", "unary p99 <= 2x its median", "unary.latency.p99_us", TM_FIG,
        "unary.latency.median_us", TM_FIG, T_LE, 2},
};

#define TP_NTARGETS (sizeof(tp_targets) / sizeof(*tp_targets))

// metric_of is a metric of a figure; false if not measured.
static bool
metric_of(bench *b, const char *id, tp_metric m, double *v)
{
	bench_row *r = table_find(&b->tab, id);

	if (r == NULL || r->n == 0) {
		return false;
	}
	switch (m) {
	case TM_FIG:
		*v = median_of(r->v, r->n);
		return true;
	case TM_CPU:
		return row_aux_median(r, AUX_ALL_CPU, v);
	case TM_VCS:
		return row_aux_median(r, AUX_ALL_VCS, v);
	}
	return false;
}

// tp_target_eval: false if not measured; else the value, the reference
// (*ref 0 if none), the ratio (or the value) and the verdict.
static bool
tp_target_eval(
    bench *b, const tp_target *t, double *v, double *ref, double *x, bool *met)
{
	if (!metric_of(b, t->id, t->m, v)) {
		return false;
	}
	*ref = 0;
	*x   = *v;
	if (t->ref != NULL) {
		if (!metric_of(b, t->ref, t->rm, ref) || *ref == 0) {
			return false;
		}
		*x = *v / *ref;
	}
	*met = target_ok(t->op, *x, t->bound);
	return true;
}

// tp_foreign_cpus is how many CPUs processes other than this run's (this
// one, its servers, its gRPC clients) kept busy on average; -1 if
// unknown.
static double
tp_foreign_cpus(const bench *b)
{
	double v;

	if (b->run_busy_ns < 0 || b->run_ns <= 0) {
		return -1;
	}
	v = (double) (b->run_busy_ns - b->run_own_ns) / (double) b->run_ns;
	return v > 0 ? v : 0; // /proc/stat counts in ticks: short runs jitter
}

// The text output.

static void
tp_header(bench *b)
{
	const tp_state *tp = b->tp;
	struct utsname  u;
	char            aff[128];
	double          foreign = tp_foreign_cpus(b);

	if (uname(&u) != 0) {
		memset(&u, 0, sizeof(u));
	}
	proc_status_text("Cpus_allowed_list:", aff, sizeof(aff));
	printf("drpc-bench --two-process: raw TCP, libdrpc and gRPC C++ side "
	       "by side; each client and its server in two processes\n");
	printf("  servers:  drpc-bench --server (libdrpc %s, raw TCP port %s): "
	       "pid %ld, CPU affinity %s\n",
	    tp->drpc.addr, b->raw_port, (long) tp->drpc.pid, tp->drpc.affinity);
	if (tp->grpc_up) {
		printf("            drpc-bench-grpc --server (gRPC %s, sync "
		       "API, %s): pid %ld, CPU affinity %s\n",
		    tp->grpc.version, tp->grpc.addr, (long) tp->grpc.pid,
		    tp->grpc.affinity);
	} else {
		printf("            gRPC: %s (%s; make bench-grpc)\n",
		    tp->grpc_built ? "its server did not start" : "not built",
		    tp->grpc_peer);
	}
	printf("  clients:  this process for raw TCP and libdrpc; a "
	       "drpc-bench-grpc --client per run for gRPC\n");
	printf("  host:     %s %s %s, %ld CPUs online, CPU affinity %s (%s)\n",
	    u.sysname, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN), aff,
	    strpbrk(aff, ",-") == NULL ? "pinned" : "unpinned");
	print_build_line(b);
	printf("  server:   libdrpc handler_stack %zu KiB, idle_workers %zu; "
	       "gRPC ServerBuilder defaults\n",
	    b->srv_handler_stack >> 10, b->srv_idle_workers);
	printf("  run:      %.0f s; other processes used %.2f CPUs on "
	       "average%s\n",
	    (double) b->run_ns / 1e9, foreign,
	    foreign > 0.1 ? " -- NOT A QUIET MACHINE: these figures are noise"
	                  : "");
	printf("  order:    each workload raw TCP, then libdrpc, then gRPC; "
	       "repetitions rep-major\n");
	printf("  ×raw:     the median divided by raw TCP's for the same "
	       "workload (latency: lower is better; rates: higher is "
	       "better)\n");
	printf("  costs:    per operation (call, message, round trip), "
	       "medians of the repetitions: cpu µs, vcs (voluntary)\n"
	       "            and ivcs (involuntary context switches) of both "
	       "processes, then the client's (cli) and the server's (srv);\n"
	       "            each is a getrusage delta around the timed loop, "
	       "the server's as the server reports it\n");
}

// tp_cost prints a cost's median in width columns: blank if unknown,
// always with the digits fmt_num gives a fraction (1.00, not 1).
static void
tp_cost(const bench_row *r, aux_field f, int width)
{
	char   num[48] = "";
	double m;

	if (row_aux_median(r, f, &m)) {
		if (m < 10 && m == (double) (long long) m) {
			snprintf(num, sizeof(num), "%.2f", m);
		} else if (m < 100 && m == (double) (long long) m) {
			snprintf(num, sizeof(num), "%.1f", m);
		} else {
			fmt_num(num, sizeof(num), m);
		}
	}
	put_col(num, width, true);
}

static void
tp_row(bench *b, const tp_figure *f, tp_peer p)
{
	bench_row *r = fig_row(b, f, p);
	char       cell[128];
	double     x;

	put_col(f->what, 38, false);
	put_col(tp_peer_names[p], 10, false);
	if (r == NULL || r->n == 0) {
		put_col(peer_state(b, f, p), 13, true);
		putchar('\n');
		return;
	}
	put_median_spread(r);
	cell[0] = '\0';
	if (p != TP_RAW && fig_ratio(b, f, p, &x)) {
		snprintf(cell, sizeof(cell), "%.2f", x);
	}
	put_col(cell, 7, true);
	if (f->costs) {
		tp_cost(r, AUX_ALL_CPU, 10);
		tp_cost(r, AUX_CPU, 8);
		tp_cost(r, AUX_SRV_CPU, 8);
		tp_cost(r, AUX_ALL_VCS, 8);
		tp_cost(r, AUX_VCS, 6);
		tp_cost(r, AUX_SRV_VCS, 6);
		tp_cost(r, AUX_ALL_IVCS, 8);
		tp_cost(r, AUX_IVCS, 6);
		tp_cost(r, AUX_SRV_IVCS, 6);
	}
	putchar('\n');
}

static void
tp_table(bench *b)
{
	static const bench_col cols[] = {{"figure", 38, false},
	    {"peer", 10, false}, {"median", 13, true}, {"spread", 25, true},
	    {"×raw", 7, true}, {"cpu µs", 10, true}, {"cli", 8, true},
	    {"srv", 8, true}, {"vcs", 8, true}, {"cli", 6, true},
	    {"srv", 6, true}, {"ivcs", 8, true}, {"cli", 6, true},
	    {"srv", 6, true}};

	putchar('\n');
	put_header(cols, sizeof(cols) / sizeof(*cols));
	for (size_t i = 0; i < TP_NFIGURES; i++) {
		if (!b->tp->selected[tp_figures[i].step]) {
			continue;
		}
		for (int p = 0; p < TP_PEERS; p++) {
			tp_row(b, &tp_figures[i], (tp_peer) p);
		}
	}
}

// A line of the summary: a figure or a cost of one, for each peer.
typedef struct tp_line {
	const char *text;
	size_t      fig; // tp_figures
	tp_metric   m;
	const char *unit; // after the number: " µs"
	bool        ratio;
} tp_line;

static const tp_line tp_lines[] = {
    {"unary 16 B, median latency", 0, TM_FIG, " µs", true},
    {"unary 16 B, p99 latency", 1, TM_FIG, " µs", true},
    {"unary: CPU per call, client+server", 0, TM_CPU, " µs", false},
    {"unary: voluntary context switches per call", 0, TM_VCS, "", false},
    {"bidi ping-pong 16 B, median", 9, TM_FIG, " µs", true},
    {"bidi: CPU per round trip", 9, TM_CPU, " µs", false},
    {"bidi: voluntary context switches per round trip", 9, TM_VCS, "", false},
    {"32 callers on one connection, calls/s", 2, TM_FIG, "", true},
    {"server stream 16 B, MB/s", 3, TM_FIG, "", true},
    {"server stream 4 KiB, MB/s", 5, TM_FIG, "", true},
    {"server stream 1 MiB, MB/s", 7, TM_FIG, "", true},
    {"server stream 1 MiB: CPU per MiB, client+server", 7, TM_CPU, " µs",
        false},
};

static void
tp_summary_cell(bench *b, const tp_line *l, tp_peer p)
{
	const tp_figure *f = &tp_figures[l->fig];
	char             id[80];
	char             num[48];
	double           v;
	double           x;

	fig_id(f, p, id, sizeof(id));
	if (!metric_of(b, id, l->m, &v)) {
		printf(" %s |", peer_state(b, f, p));
		return;
	}
	fmt_num(num, sizeof(num), v);
	printf(" %s%s", num, l->unit);
	if (l->ratio && p != TP_RAW && fig_ratio(b, f, p, &x)) {
		printf(" (%.2fx)", x);
	} else if (p == TP_RAW && l->fig == 2) {
		printf(" (32 conns)");
	}
	printf(" |");
}

static void
tp_summary(bench *b)
{
	printf("\nsummary (Markdown; ratios to raw TCP in brackets):\n\n");
	printf("| workload | raw TCP | libdrpc | gRPC C++%s%s sync |\n",
	    b->tp->grpc_up ? " " : "",
	    b->tp->grpc_up ? b->tp->grpc.version : "");
	printf("|---|---|---|---|\n");
	for (size_t i = 0; i < sizeof(tp_lines) / sizeof(*tp_lines); i++) {
		const tp_line *l = &tp_lines[i];

		if (!b->tp->selected[tp_figures[l->fig].step]) {
			continue;
		}
		printf("| %s |", l->text);
		for (int p = 0; p < TP_PEERS; p++) {
			tp_summary_cell(b, l, (tp_peer) p);
		}
		putchar('\n');
	}
}

static void
tp_targets_text(bench *b)
{
	printf("\ntargets (issue 15; medians of this run; reported, not "
	       "enforced):\n");
	for (size_t i = 0; i < TP_NTARGETS; i++) {
		const tp_target *t = &tp_targets[i];
		double           v;
		double           ref;
		double           x;
		bool             met;
		char             a[48];
		char             c[48];
		char             cell[128];

		if (!tp_target_eval(b, t, &v, &ref, &x, &met)) {
			printf(
			    "  [%s] %-66s  not measured\n", t->level, t->text);
			continue;
		}
		fmt_num(a, sizeof(a), v);
		if (t->ref != NULL) {
			fmt_num(c, sizeof(c), ref);
			snprintf(
			    cell, sizeof(cell), "%s / %s = %.2f×", a, c, x);
		} else {
			snprintf(cell, sizeof(cell), "%s", a);
		}
		printf("  [%s] %-66s  %-24s %s\n", t->level, t->text, cell,
		    met ? "met" : "NOT MET");
	}
}

void
tp_print_table(bench *b)
{
	tp_header(b);
	tp_table(b);
	tp_summary(b);
	tp_targets_text(b);
	tls_print(b, true);
	for (size_t i = 0; i < TP_STEPS; i++) {
		for (int p = 0; p < TP_PEERS; p++) {
			if (b->tp->failed[i][p]) {
				printf("\nFAILED: %s, %s (see the messages "
				       "above)\n",
				    tp_steps[i].name, tp_peer_names[p]);
			}
		}
	}
}

// The JSON output.

static void
tp_json_server(const char *key, const tp_server *srv, bool up)
{
	printf("    ");
	json_str(key);
	printf(": {\"running\": %s, \"pid\": %ld, \"addr\": ",
	    up ? "true" : "false", (long) srv->pid);
	json_str(srv->addr);
	printf(", \"cpu_affinity\": ");
	json_str(srv->affinity);
	if (srv->version[0] != '\0') {
		printf(", \"version\": ");
		json_str(srv->version);
	}
	putchar('}');
}

static void
tp_json_row(bench *b, const tp_figure *f, tp_peer p, bool first)
{
	bench_row *r = fig_row(b, f, p);
	char       id[80];
	double     x;

	fig_id(f, p, id, sizeof(id));
	printf("%s\n    {\"figure\": ", first ? "" : ",");
	json_str(f->key);
	printf(", \"workload\": ");
	json_str(tp_steps[f->step].name);
	printf(", \"peer\": ");
	json_str(tp_peer_names[p]);
	printf(", \"id\": ");
	json_str(id);
	if (r == NULL || r->n == 0) {
		printf(", \"measured\": false, \"why\": ");
		json_str(peer_state(b, f, p));
		putchar('}');
		return;
	}
	printf(", \"median\": %.3f, \"min\": %.3f, \"max\": %.3f, "
	       "\"values\": ",
	    median_of(r->v, r->n), min_of(r->v, r->n), max_of(r->v, r->n));
	json_array(r->v, r->n);
	if (p != TP_RAW && fig_ratio(b, f, p, &x)) {
		printf(", \"ratio_to_raw\": %.4f", x);
	}
	if (f->costs) {
		json_aux(r, ", \"cpu_us_per_op\"", AUX_ALL_CPU);
		json_aux(r, ", \"cpu_us_per_op_client\"", AUX_CPU);
		json_aux(r, ", \"cpu_us_per_op_server\"", AUX_SRV_CPU);
		json_aux(r, ", \"vcs_per_op\"", AUX_ALL_VCS);
		json_aux(r, ", \"vcs_per_op_client\"", AUX_VCS);
		json_aux(r, ", \"vcs_per_op_server\"", AUX_SRV_VCS);
		json_aux(r, ", \"ivcs_per_op\"", AUX_ALL_IVCS);
		json_aux(r, ", \"ivcs_per_op_client\"", AUX_IVCS);
		json_aux(r, ", \"ivcs_per_op_server\"", AUX_SRV_IVCS);
		json_aux(r, ", \"faults_per_op_client\"", AUX_FLT);
	}
	putchar('}');
}

static void
tp_json_targets(bench *b)
{
	printf("\n  ],\n  \"targets\": [");
	for (size_t i = 0; i < TP_NTARGETS; i++) {
		const tp_target *t = &tp_targets[i];
		double           v;
		double           ref;
		double           x;
		bool             met;

		printf("%s\n    {\"target\": ", i > 0 ? "," : "");
		json_str(t->text);
		printf(", \"level\": ");
		json_str(t->level);
		if (tp_target_eval(b, t, &v, &ref, &x, &met)) {
			printf(", \"value\": %.4f", v);
			if (t->ref != NULL) {
				printf(", \"reference\": %.4f, \"ratio\": "
				       "%.4f",
				    ref, x);
			}
			printf(", \"met\": %s", met ? "true" : "false");
		} else {
			printf(", \"measured\": false");
		}
		putchar('}');
	}
}

void
tp_print_json(bench *b)
{
	const tp_state *tp = b->tp;
	char            aff[128];
	bool            first = true;

	proc_status_text("Cpus_allowed_list:", aff, sizeof(aff));
	printf("{\n  \"mode\": \"two-process\",\n  \"cpu_affinity\": ");
	json_str(aff);
	printf(",\n  \"pinned\": %s,\n  \"cpus_online\": %ld,\n",
	    strpbrk(aff, ",-") == NULL ? "true" : "false",
	    sysconf(_SC_NPROCESSORS_ONLN));
	printf("  \"reps\": %d,\n  \"quick\": %s,\n  \"run_seconds\": "
	       "%.1f,\n  \"foreign_cpus\": %.3f,\n",
	    b->cfg.reps, b->cfg.quick ? "true" : "false",
	    (double) b->run_ns / 1e9, tp_foreign_cpus(b));
	printf("  \"handler_stack\": %zu,\n  \"idle_workers\": %zu,\n",
	    b->srv_handler_stack, b->srv_idle_workers);
	printf("  \"grpc_built\": %s,\n  \"servers\": {\n",
	    tp->grpc_built ? "true" : "false");
	tp_json_server("libdrpc+raw", &tp->drpc, tp->drpc.pid > 0);
	printf(",\n");
	tp_json_server("grpc", &tp->grpc, tp->grpc_up);
	printf("\n  },\n  \"results\": [");
	for (size_t i = 0; i < TP_NFIGURES; i++) {
		if (!tp->selected[tp_figures[i].step]) {
			continue;
		}
		for (int p = 0; p < TP_PEERS; p++) {
			tp_json_row(b, &tp_figures[i], (tp_peer) p, first);
			first = false;
		}
	}
	tp_json_targets(b);
	printf("\n  ]");
	tls_json(b);
	printf(",\n  \"failed\": [");
	first = true;
	for (size_t i = 0; i < TP_STEPS; i++) {
		for (int p = 0; p < TP_PEERS; p++) {
			char what[96];

			if (!tp->failed[i][p]) {
				continue;
			}
			snprintf(what, sizeof(what), "%s: %s", tp_steps[i].name,
			    tp_peer_names[p]);
			printf("%s", first ? "" : ", ");
			json_str(what);
			first = false;
		}
	}
	printf("]\n}\n");
}
