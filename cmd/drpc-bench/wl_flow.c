// drpc-bench's flow workload: what flow control costs a bulk transfer
// and what it buys when a neighbouring stream stalls.
//
// One client stream moves cfg.flow_total bytes in 64 KiB
// messages to the Upload handler, which reads and discards them and
// answers with its count; with flow control automatic (both ends'
// default) and off (both ends: a server of its own, with the local
// server's handlers), then automatic again beside a stream of the same
// connection whose handler never reads while a thread of ours keeps
// sending to it. The stalled case is not run with flow control off: it
// deadlocks by design (the reader stops at the stalled stream's full
// ring, and with it every stream of the connection).
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <drpc/drpc.h>

#include "bench.h"

// flow_stall is the stalled stream and the thread sending on it.
typedef struct flow_stall {
	drpc_stream   *s;
	const uint8_t *msg; // FLOW_MSG bytes
	pthread_t      t;
	atomic_size_t  sent; // messages the library took
	atomic_bool    done; // the thread has stopped sending
	drpc_err       rv;   // why (read after the join)
} flow_stall;

static void *
stall_main(void *arg)
{
	flow_stall *st = arg;
	drpc_err    rv;

	while ((rv = drpc_stream_send(st->s, st->msg, FLOW_MSG)) == DRPC_OK) {
		atomic_fetch_add(&st->sent, 1);
	}
	st->rv = rv;
	atomic_store(&st->done, true);
	return NULL;
}

// stall_settle waits until the stalled stream's sender is blocked: it
// has sent something and its count has not moved for 50 ms (or it has
// stopped). The watchdog bounds the wait.
static void
stall_settle(flow_stall *st)
{
	size_t last  = 0;
	int    still = 0;

	while (still < 5 && !atomic_load(&st->done)) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		size_t          n  = atomic_load(&st->sent);

		still = n > 0 && n == last ? still + 1 : 0;
		last  = n;
		(void) nanosleep(&ts, NULL);
	}
}

// flow_bulk sends total bytes in FLOW_MSG-byte messages on one client
// stream, then checks the handler's count: *elapsed runs from the open
// until the count arrived.
static bool
flow_bulk(drpc_conn *c, const uint8_t *msg, size_t total, int64_t *elapsed)
{
	const char  *wl = "flow (bulk stream)";
	drpc_stream *s;
	uint64_t     n  = total / FLOW_MSG;
	int64_t      t0 = now_ns();
	const void  *m;
	size_t       len;
	drpc_err     rv;
	bool         ok = false;

	if ((rv = drpc_stream_open(&s, c, NULL, M_UPLOAD, NULL)) != DRPC_OK) {
		report_call(wl, rv, NULL);
		return false;
	}
	for (uint64_t i = 0; i < n; i++) {
		if ((rv = drpc_stream_send(s, msg, FLOW_MSG)) != DRPC_OK) {
			report_stream(wl, s, rv);
			goto out;
		}
	}
	if ((rv = drpc_stream_close_send(s)) != DRPC_OK ||
	    (rv = stream_up_ack(s)) != DRPC_OK ||
	    (rv = drpc_stream_recv_view(s, &m, &len)) != DRPC_OK) {
		report_stream(wl, s, rv);
		goto out;
	}
	*elapsed = now_ns() - t0;
	ok       = len == 16 && get_u64(m) == n &&
	     get_u64((const uint8_t *) m + 8) == n * FLOW_MSG;
	drpc_stream_recv_done(s);
	if (!ok) {
		fprintf(stderr,
		    "drpc-bench: %s: the server counted differently from the "
		    "%" PRIu64 " messages sent\n",
		    wl, n);
	}
out:
	drpc_stream_destroy(s);
	return ok;
}

// flow_run makes one transfer over a fresh connection to addr, the
// client with flow control mode (the server at addr has its own), beside
// a stalled stream if stalled; *mb_s gets its rate.
static bool
flow_run(bench *b, const char *addr, drpc_flow_mode mode, bool stalled,
    const uint8_t *msg, double *mb_s)
{
	const char    *wl    = "flow";
	size_t         total = b->cfg.flow_total;
	drpc_conn_opts o     = {0};
	drpc_conn     *c;
	flow_stall     st;
	uint8_t        req[BENCH_SMALL];
	int64_t        elapsed   = 0;
	size_t         neighbour = 0;
	usage          u0        = {0};
	usage          u1        = {0};
	bool           started   = false;
	drpc_err       rv;
	bool           ok;
	int            err;

	memset(&st, 0, sizeof(st));
	st.msg = msg;
	atomic_init(&st.sent, 0);
	atomic_init(&st.done, false);
	fill_pattern(req, sizeof(req));
	o.flow = mode;
	if (!dial_to(wl, addr, &o, &c)) {
		return false;
	}
	// At 20 MB/s, a tenth of the slowest rate seen here.
	wd_arm_conn(&b->wd, wl, 30 * NS_PER_S + (int64_t) total * 50, c);
	// The warm-up also completes the hello exchange: in automatic mode
	// flow control is on before the streams below open.
	ok = unary_calls(c, wl, req, BENCH_WARMUP, NULL);
	if (ok && stalled) {
		rv = drpc_stream_open(&st.s, c, NULL, M_STALL, NULL);
		if (rv != DRPC_OK) {
			report_call("flow (stalled stream)", rv, NULL);
			st.s = NULL;
			ok   = false;
		} else if ((err = start_thread(&st.t, stall_main, &st)) != 0) {
			fprintf(stderr, "drpc-bench: %s: thread: %s\n", wl,
			    strerror(err));
			ok = false;
		} else {
			started = true;
			stall_settle(&st);
		}
	}
	if (ok) {
		u0 = usage_now();
		ok = flow_bulk(c, msg, total, &elapsed);
		u1 = usage_now();
	}
	if (started) {
		neighbour = atomic_load(&st.sent);
		drpc_stream_cancel(st.s);
		pthread_join(st.t, NULL);
		if (ok && st.rv != DRPC_ECANCELED) {
			report_stream("flow (stalled stream)", st.s, st.rv);
			ok = false;
		}
	}
	drpc_stream_destroy(st.s);
	ok = !wd_disarm(&b->wd) && ok;
	drpc_conn_destroy(c);
	if (ok) {
		char id[64];
		char label[64];
		aux  a = aux_per_op(u0, u1, (double) (total / FLOW_MSG));

		*mb_s = (double) total / 1e6 / ((double) elapsed / 1e9);
		if (stalled) {
			snprintf(id, sizeof(id), "flow.stalled.auto.mb_s");
			snprintf(label, sizeof(label),
			    "bulk beside a stalled stream: MB/s");
		} else {
			snprintf(id, sizeof(id), "flow.bulk.%s.mb_s",
			    mode == DRPC_FLOW_OFF ? "off" : "auto");
			snprintf(label, sizeof(label),
			    "bulk, flow control %s: MB/s",
			    mode == DRPC_FLOW_OFF ? "off" : "auto");
		}
		table_put(
		    &b->tab, id, wl, label, "raw.stream.64KiB.mb_s", *mb_s, &a);
		if (stalled) {
			table_put(&b->tab, "flow.stalled.sent_kib", wl,
			    "stalled stream: KiB it got to send", NULL,
			    (double) neighbour * (double) FLOW_MSG / 1024,
			    NULL);
		}
	}
	return ok;
}

// flow_server_start starts a server with flow control off, on the local
// server's host with its handlers; the caller stops it (server_stop).
static bool
flow_server_start(const bench *b, drpc_server **sp, char *addr, size_t cap)
{
	drpc_server_opts o = bench_server_opts(&b->cfg, DRPC_FLOW_OFF);
	char             where[300];
	drpc_err         rv;

	snprintf(where, sizeof(where),
	    strchr(b->host, ':') != NULL ? "tcp://[%s]:0" : "tcp://%s:0",
	    b->host);
	if ((rv = drpc_server_create(sp, b->mux, &o)) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: flow: server: %s\n",
		    drpc_strerror(rv));
		*sp = NULL;
		return false;
	}
	if ((rv = drpc_server_listen(*sp, where)) != DRPC_OK ||
	    (rv = drpc_server_addr(*sp, addr, cap)) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: flow: listen %s: %s\n", where,
		    drpc_strerror(rv));
		return false;
	}
	return true;
}

bool
wl_flow(bench *b)
{
	const char  *wl  = "flow";
	drpc_server *off = NULL;
	char         off_addr[300];
	uint8_t     *msg;
	double       bulk_auto = 0;
	double       bulk_off  = 0;
	double       stalled   = 0;
	bool         ok;

	if ((msg = malloc(FLOW_MSG)) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	fill_pattern(msg, FLOW_MSG);
	ok = flow_run(b, b->addr, DRPC_FLOW_AUTO, false, msg, &bulk_auto);
	if (ok && b->mux != NULL) {
		ok =
		    flow_server_start(b, &off, off_addr, sizeof(off_addr)) &&
		    flow_run(b, off_addr, DRPC_FLOW_OFF, false, msg, &bulk_off);
		server_stop(off);
	} else if (ok && b->rep == 0) {
		fprintf(stderr,
		    "\ndrpc-bench: %s: flow control off needs a server with "
		    "it off too; not measured against a server in another "
		    "process\n",
		    wl);
	}
	ok = ok && flow_run(b, b->addr, DRPC_FLOW_AUTO, true, msg, &stalled);
	free(msg);
	if (ok && bulk_auto > 0) {
		table_put(&b->tab, "flow.stalled_vs_bulk", wl,
		    "beside a stalled stream ÷ alone (auto)", NULL,
		    stalled / bulk_auto, NULL);
	}
	if (ok && bulk_off > 0) {
		table_put(&b->tab, "flow.auto_vs_off", wl,
		    "bulk: flow control auto ÷ off", NULL, bulk_auto / bulk_off,
		    NULL);
	}
	return ok;
}
