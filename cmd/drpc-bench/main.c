// drpc-bench: libdrpc's benchmarks, each printed beside a plain-TCP
// baseline measured in the same run. This file holds the arguments, the
// run loop (repetitions rep-major, workloads in run_order) and main;
// bench.h describes the design and lists the other files.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>

#include "../common/serve.h"
#include "bench.h"

const workload_name workload_names[WORKLOAD_COUNT] = {
    {"raw-baseline", W_RAW},
    {"unary-latency", W_UNARY_LAT},
    {"unary-throughput", W_UNARY_TPUT},
    {"stream-throughput", W_STREAM_TPUT},
    {"bidi-latency", W_BIDI_LAT},
    {"streams-scale", W_SCALE},
    {"flow", W_FLOW},
    {"tls", W_TLS},
};

// What runs each workload but the raw baseline (wl_raw, which takes the
// bits of the workloads that need its parts), in workload_names' order.
static bool (*const workload_runs[WORKLOAD_COUNT])(bench *b) = {
    NULL,
    wl_unary_latency,
    wl_unary_throughput,
    wl_stream_throughput,
    wl_bidi_latency,
    wl_streams_scale,
    wl_flow,
    wl_tls,
};

// The order they run in within a repetition: streams-scale first, so its
// first repetition measures RSS growth in a process whose heap no other
// workload has grown (freed memory is reused, hiding growth).
static const size_t run_order[] = {5, 0, 1, 2, 3, 4, 6, 7};

// Running.

static void
run_all(bench *b)
{
	unsigned only  = b->cfg.only;
	int64_t  t0    = now_ns();
	int64_t  busy0 = machine_busy_ns();
	usage    u0    = usage_now();

	for (int rep = 0; rep < b->cfg.reps; rep++) {
		b->rep = rep;
		for (size_t k = 0; k < sizeof(run_order) / sizeof(*run_order);
		     k++) {
			size_t   i   = run_order[k];
			unsigned bit = workload_names[i].bit;
			bool     ok  = true;
			int64_t  w0  = now_ns();

			if ((b->failed & bit) != 0) {
				continue;
			}
			if (bit == W_RAW) {
				// The raw parts every selected workload needs.
				if ((only & (W_RAW | W_UNARY_LAT | W_BIDI_LAT |
				                W_UNARY_TPUT | W_STREAM_TPUT |
				                W_FLOW)) == 0) {
					continue;
				}
			} else if ((only & bit) == 0) {
				continue;
			}
			fprintf(stderr, "drpc-bench: rep %d/%d: %s ...",
			    rep + 1, b->cfg.reps, workload_names[i].name);
			fflush(stderr);
			ok = bit == W_RAW ? wl_raw(b, only)
			                  : workload_runs[i](b);
			fprintf(stderr, " %s (%.1f s)\n",
			    ok ? "done" : "FAILED",
			    (double) (now_ns() - w0) / 1e9);
			if (!ok) {
				b->failed |= bit;
			}
		}
	}
	b->run_ns      = now_ns() - t0;
	b->run_busy_ns = busy0 < 0 ? -1 : machine_busy_ns() - busy0;
	b->run_own_ns  = usage_now().cpu_ns - u0.cpu_ns;
}

static void
usage_text(FILE *f)
{
	fprintf(f,
	    "usage: drpc-bench [options]\n"
	    "  (no mode option)   client and server in this process, "
	    "loopback TCP\n"
	    "  --server ADDR      serve the workloads on ADDR "
	    "(tcp://host:port) until SIGINT/SIGTERM\n"
	    "  --client ADDR      measure against a drpc-bench --server at "
	    "ADDR\n"
	    "  --only W[,W...]    run a subset: raw-baseline, unary-latency,\n"
	    "                     unary-throughput, stream-throughput, "
	    "bidi-latency, streams-scale,\n"
	    "                     flow, tls (TLS against plain: latency, "
	    "1 MiB streams,\n"
	    "                     handshakes, memory)\n"
	    "                     (the raw figures a workload is compared "
	    "with always run)\n"
	    "  --reps N           repetitions per figure (default 3; 1 with "
	    "--quick; at most %d)\n"
	    "  --quick            a fast smoke run with small counts\n"
	    "  --json             machine-readable output\n"
	    "  --tls-cert F, --tls-key F\n"
	    "                     --server: also serve TLS (tls://, same "
	    "host, port 0) with this\n"
	    "                     certificate chain and key (PEM files)\n"
	    "  --handler-stack K  server handler thread stack, KiB (default "
	    "64)\n"
	    "  --idle-workers N   server idle handler threads kept (default: "
	    "the library's, 16)\n"
	    "  --workarounds      avoid two server bugs fixed in e37f44c, to "
	    "measure older commits:\n"
	    "                     streams-scale opens the first streams one "
	    "at a time; the client\n"
	    "                     stream waits for its handler's "
	    "acknowledgement (docs/benchmarks.md)\n"
	    "  --two-process      raw TCP, libdrpc and gRPC C++ side by side, "
	    "each client and server in\n"
	    "                     two processes: starts drpc-bench --server "
	    "and drpc-bench-grpc --server\n"
	    "                     (make bench-grpc) itself; --only picks "
	    "among unary-latency,\n"
	    "                     unary-throughput, stream-throughput, "
	    "bidi-latency\n"
	    "  --grpc-peer PATH   the gRPC peer (default: drpc-bench-grpc "
	    "beside drpc-bench)\n"
	    "  --parent-pid PID   with --server: stop when process PID "
	    "exits\n"
	    "Pinned figures: taskset -c 0 drpc-bench (the header shows the "
	    "CPU affinity).\n",
	    BENCH_MAX_REPS);
}

static bool
parse_only(const char *list, unsigned *only)
{
	char  buf[256];
	char *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	*only = 0;
	for (char *w = strtok_r(buf, ",", &save); w != NULL;
	     w       = strtok_r(NULL, ",", &save)) {
		bool found = false;

		for (size_t i = 0;
		     i < sizeof(workload_names) / sizeof(*workload_names);
		     i++) {
			if (strcmp(w, workload_names[i].name) == 0) {
				*only |= workload_names[i].bit;
				found = true;
			}
		}
		if (!found) {
			fprintf(
			    stderr, "drpc-bench: unknown workload \"%s\"\n", w);
			return false;
		}
	}
	return *only != 0;
}

static bool
parse_size(const char *s, size_t *v)
{
	return cmd_parse_count(s, SIZE_MAX / 1024, v);
}

// check_two_process checks the options that go with --two-process (or
// only with another mode).
static bool
check_two_process(const bench_cfg *cfg)
{
	unsigned tp_bits =
	    W_UNARY_LAT | W_UNARY_TPUT | W_STREAM_TPUT | W_BIDI_LAT | W_TLS;

	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL) ||
	    (cfg->tls_cert != NULL && cfg->serve_addr == NULL)) {
		fprintf(stderr, "drpc-bench: --tls-cert and --tls-key go "
		                "together, with --server\n");
		return false;
	}
	if (cfg->parent_pid != 0 && cfg->serve_addr == NULL) {
		fprintf(
		    stderr, "drpc-bench: --parent-pid goes with --server\n");
		return false;
	}
	if (!cfg->two_process) {
		if (cfg->grpc_peer != NULL) {
			fprintf(stderr, "drpc-bench: --grpc-peer goes with "
			                "--two-process\n");
			return false;
		}
		return true;
	}
	if (cfg->serve_addr != NULL || cfg->client_addr != NULL ||
	    cfg->workarounds) {
		fprintf(stderr, "drpc-bench: --two-process starts its own "
		                "servers: no --server, --client or "
		                "--workarounds\n");
		return false;
	}
	if (cfg->only != W_ALL && (cfg->only & ~tp_bits) != 0) {
		fprintf(stderr,
		    "drpc-bench: --two-process runs unary-latency, "
		    "unary-throughput, stream-throughput and bidi-latency "
		    "(each beside its raw baseline), and tls\n");
		return false;
	}
	return true;
}

static bool
parse_args(int argc, char **argv, bench_cfg *cfg)
{
	int reps = 0;

	// The options that set a flag, and those that take a string.
	const struct {
		const char *name;
		bool       *flag;
	} flags[] = {
	    {"--quick", &cfg->quick},
	    {"--json", &cfg->json},
	    {"--workarounds", &cfg->workarounds},
	    {"--two-process", &cfg->two_process},
	};
	const struct {
		const char  *name;
		const char **value;
	} strings[] = {
	    {"--server", &cfg->serve_addr},
	    {"--client", &cfg->client_addr},
	    {"--grpc-peer", &cfg->grpc_peer},
	    {"--tls-cert", &cfg->tls_cert},
	    {"--tls-key", &cfg->tls_key},
	};

	memset(cfg, 0, sizeof(*cfg));
	cfg->only          = W_ALL;
	cfg->handler_stack = (size_t) 64 << 10;
	for (int i = 1; i < argc; i++) {
		const char  *a    = argv[i];
		const char  *val  = i + 1 < argc ? argv[i + 1] : NULL;
		bool        *flag = NULL;
		const char **str  = NULL;
		size_t       v;

		for (size_t k = 0; k < sizeof(flags) / sizeof(*flags); k++) {
			flag = strcmp(a, flags[k].name) == 0 ? flags[k].flag
			                                     : flag;
		}
		for (size_t k = 0; k < sizeof(strings) / sizeof(*strings);
		     k++) {
			str = strcmp(a, strings[k].name) == 0 ? strings[k].value
			                                      : str;
		}
		if (flag != NULL) {
			*flag = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage_text(stdout);
			exit(0);
		} else if (val == NULL) {
			fprintf(stderr,
			    "drpc-bench: unknown option or missing "
			    "value: %s\n",
			    a);
			return false;
		} else if (str != NULL) {
			*str = val;
			i++;
		} else if (strcmp(a, "--parent-pid") == 0) {
			if (!parse_size(val, &v) || v < 2 || v > INT32_MAX) {
				fprintf(
				    stderr, "drpc-bench: --parent-pid PID\n");
				return false;
			}
			cfg->parent_pid = (long) v;
			i++;
		} else if (strcmp(a, "--only") == 0) {
			if (!parse_only(val, &cfg->only)) {
				return false;
			}
			i++;
		} else if (strcmp(a, "--reps") == 0) {
			if (!parse_size(val, &v) || v < 1 ||
			    v > BENCH_MAX_REPS) {
				fprintf(stderr, "drpc-bench: --reps 1 to %d\n",
				    BENCH_MAX_REPS);
				return false;
			}
			reps = (int) v;
			i++;
		} else if (strcmp(a, "--handler-stack") == 0) {
			if (!parse_size(val, &v) || v < 16) {
				fprintf(stderr, "drpc-bench: --handler-stack "
				                "KiB, at least 16\n");
				return false;
			}
			cfg->handler_stack = v << 10;
			i++;
		} else if (strcmp(a, "--idle-workers") == 0) {
			if (!parse_size(val, &cfg->idle_workers)) {
				fprintf(
				    stderr, "drpc-bench: --idle-workers N\n");
				return false;
			}
			i++;
		} else {
			fprintf(stderr, "drpc-bench: unknown option %s\n", a);
			return false;
		}
	}
	if (cfg->serve_addr != NULL && cfg->client_addr != NULL) {
		fprintf(stderr, "drpc-bench: --server and --client exclude "
		                "each other\n");
		return false;
	}
	if (!check_two_process(cfg)) {
		return false;
	}
	cfg->reps = reps != 0 ? reps : cfg->quick ? 1 : 3;
	// --quick: small counts, not for comparison.
	cfg->lat_calls       = cfg->quick ? 2000 : 20000;
	cfg->tput_ns         = cfg->quick ? 200 * NS_PER_MS : 5 * NS_PER_S;
	cfg->stream_ns       = cfg->quick ? 150 * NS_PER_MS : 2 * NS_PER_S;
	cfg->scale_counts[0] = cfg->quick ? 100 : 1000;
	cfg->scale_counts[1] = cfg->quick ? 1000 : 10000;
	cfg->flow_total      = cfg->quick ? FLOW_TOTAL_QUICK : FLOW_TOTAL;
	return true;
}

bool
bench_connect(bench *b)
{
	drpc_conn  *c;
	server_info si;
	bool        ok;

	if (!split_tcp_addr(b->addr, b->host, sizeof(b->host), b->raw_port,
	        sizeof(b->raw_port))) {
		fprintf(stderr, "drpc-bench: %s: expected tcp://host:port\n",
		    b->addr);
		return false;
	}
	if (!bench_dial(b, "setup", &c)) {
		return false;
	}
	ok = bench_info(c, &si);
	drpc_conn_destroy(c);
	if (ok) {
		snprintf(b->raw_port, sizeof(b->raw_port), "%u", si.raw_port);
		if (si.tls_port != 0) {
			snprintf(b->tls.addr, sizeof(b->tls.addr),
			    "tls://%s:%u", b->host, si.tls_port);
		}
		b->srv_idle_workers  = si.idle_workers;
		b->srv_handler_stack = si.handler_stack;
	}
	return ok;
}

int
main(int argc, char **argv)
{
	static bench     b; // large (the results); zeroed
	bench_server     bs;
	struct sigaction sa;
	bool             local;
	int              err;
	int              status;

	if (!parse_args(argc, argv, &b.cfg)) {
		usage_text(stderr);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		fprintf(stderr, "drpc-bench: sigaction: %s\n", strerror(errno));
		return 1;
	}
	if (b.cfg.serve_addr != NULL) {
		return run_server(&b.cfg);
	}
	if ((b.cfg.only & W_TLS) != 0 && !tls_setup(&b.tls)) {
		tls_teardown(&b.tls);
		return 1;
	}
	if (b.cfg.two_process) {
		status = run_two_process(&b);
		tls_teardown(&b.tls);
		return status;
	}
	local = b.cfg.client_addr == NULL;
	memset(&bs, 0, sizeof(bs));
	if (local) {
		drpc_tls_config *tls = NULL;
		drpc_err         rv  = DRPC_ENOMEM;

		if (b.tls.client == NULL ||
		    (tls = tls_server_config(&b.tls, &b.cfg)) != NULL) {
			rv = bench_server_start(
			    &bs, &b.cfg, "tcp://127.0.0.1:0", tls);
		}
		drpc_tls_config_destroy(tls); // the server holds its own
		if (rv != DRPC_OK) {
			bench_server_stop(&bs);
			tls_teardown(&b.tls);
			return 1;
		}
		b.addr      = bs.addr;
		b.addr_icpt = bs.addr_icpt;
		b.mux       = bs.mux;
	} else {
		b.addr   = b.cfg.client_addr;
		b.remote = true;
	}
	if ((err = wd_start(&b.wd)) != 0) {
		fprintf(stderr, "drpc-bench: watchdog: %s\n", strerror(err));
		status = 1;
	} else {
		if (bench_connect(&b)) {
			run_all(&b);
			table_sort(&b.tab);
			if (b.cfg.json) {
				print_json(&b);
			} else {
				print_table(&b);
			}
			status = b.failed != 0 ? 1 : 0;
		} else {
			status = 1;
		}
		wd_stop(&b.wd);
	}
	if (local) {
		bench_server_stop(&bs);
	}
	tls_teardown(&b.tls);
	return status;
}
