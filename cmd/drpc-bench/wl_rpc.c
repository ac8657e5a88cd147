// drpc-bench's libdrpc workloads over one connection: unary latency,
// unary throughput (N callers sharing a connection), stream throughput
// (server and client streams) and bidi ping-pong latency; and the client
// helpers every workload uses (dialing, reporting failures, recording).
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>

#include "bench.h"

const size_t      stream_sizes[STREAM_NSIZES] = {16, 4096, (size_t) 1 << 20};
const char *const stream_size_names[STREAM_NSIZES] = {"16B", "4KiB", "1MiB"};
const char *const stream_size_text[STREAM_NSIZES]  = {"16 B", "4 KiB", "1 MiB"};

static const size_t tput_callers[] = {1, 8, 32, 128};

void
report_call(const char *what, drpc_err rv, const drpc_status *st)
{
	const char *msg = st != NULL && st->message != NULL ? st->message : "";

	fprintf(stderr, "drpc-bench: %s: %s (%s)%s%s\n", what,
	    drpc_strerror(rv), drpc_err_name(rv), *msg != '\0' ? ": " : "",
	    msg);
}

// report_stream reports a failed stream operation with the stream's
// status (the peer's error text, if it sent one).
void
report_stream(const char *what, drpc_stream *s, drpc_err rv)
{
	drpc_status st = {0};

	if (s != NULL) {
		(void) drpc_stream_status(s, &st);
	}
	report_call(what, rv, &st);
	drpc_status_reset(&st);
}

// dial_to dials addr with opts (NULL: the defaults).
bool
dial_to(const char *wl, const char *addr, const drpc_conn_opts *opts,
    drpc_conn **cp)
{
	drpc_err rv = drpc_dial(cp, addr, opts);

	if (rv != DRPC_OK) {
		fprintf(stderr, "drpc-bench: %s: dial %s: %s\n", wl, addr,
		    drpc_strerror(rv));
		*cp = NULL;
		return false;
	}
	return true;
}

bool
bench_dial(const bench *b, const char *wl, drpc_conn **cp)
{
	return dial_to(wl, b->addr, NULL, cp);
}

// ask_server calls the bench server's method (an empty request) on c; its
// reply in *reply (drpc_free it). A failure is reported as what's.
static bool
ask_server(drpc_conn *c, const char *method, const char *what, void **reply,
    size_t *len)
{
	drpc_status st = {0};
	drpc_err    rv;

	rv = drpc_invoke(c, NULL, method, "", 0, NULL, reply, len, &st);
	if (rv != DRPC_OK) {
		report_call(what, rv, &st);
		drpc_status_reset(&st);
		return false;
	}
	return true;
}

// bench_info asks the server about itself.
bool
bench_info(drpc_conn *c, server_info *si)
{
	void  *reply;
	size_t len;
	char   text[256];

	if (!ask_server(c, M_INFO, "info call", &reply, &len)) {
		return false;
	}
	snprintf(text, sizeof(text), "%.*s", (int) len,
	    reply != NULL ? (const char *) reply : "");
	drpc_free(reply);
	if (sscanf(text,
	        "rss_kib=%ld threads=%ld raw_port=%u idle_workers=%zu "
	        "handler_stack=%zu heap_kib=%ld tls_port=%u",
	        &si->rss_kib, &si->threads, &si->raw_port, &si->idle_workers,
	        &si->handler_stack, &si->heap_kib, &si->tls_port) != 7) {
		fprintf(stderr, "drpc-bench: info: unexpected reply \"%s\"\n",
		    text);
		return false;
	}
	return true;
}

// drpc_srv_usage asks the DRPC server at the other end of c for its usage.
static bool
drpc_srv_usage(drpc_conn *c, usage *u)
{
	void  *reply;
	size_t len;

	if (!ask_server(c, M_USAGE, "server usage call", &reply, &len)) {
		return false;
	}
	if (len != USAGE_WIRE_LEN) {
		fprintf(stderr,
		    "drpc-bench: server usage: a %zu-byte reply, expected %d\n",
		    len, USAGE_WIRE_LEN);
		drpc_free(reply);
		return false;
	}
	*u = usage_decode(reply);
	drpc_free(reply);
	return true;
}

// srv_usage asks the server for its usage: through c, or the raw server
// when c is NULL.
static bool
srv_usage(const bench *b, drpc_conn *c, usage *u)
{
	return c != NULL ? drpc_srv_usage(c, u) : raw_srv_usage(b, u);
}

bool
mark_begin(bench *b, drpc_conn *c, cost_mark *m)
{
	m->srv_ok = b->cfg.two_process;
	if (m->srv_ok && !srv_usage(b, c, &m->srv)) {
		return false;
	}
	m->self = usage_now();
	return true;
}

bool
mark_end(bench *b, drpc_conn *c, cost_mark *m)
{
	m->self   = usage_now();
	m->srv_ok = b->cfg.two_process;
	return !m->srv_ok || srv_usage(b, c, &m->srv);
}

aux
aux_between(const cost_mark *m0, const cost_mark *m1, double ops)
{
	aux a = aux_per_op(m0->self, m1->self, ops);

	if (m0->srv_ok && m1->srv_ok) {
		aux_add_server(&a, m0->srv, m1->srv, ops);
	}
	return a;
}

// unary_one makes one echo call and checks the reply.
static bool
unary_one(drpc_conn *c, const char *wl, const uint8_t *req, size_t i)
{
	void       *reply;
	size_t      len;
	drpc_status st = {0};
	char        what[96];
	drpc_err    rv;

	rv = drpc_invoke(
	    c, NULL, M_UNARY, req, BENCH_SMALL, NULL, &reply, &len, &st);
	if (rv != DRPC_OK) {
		snprintf(what, sizeof(what), "%s: call %zu", wl, i);
		report_call(what, rv, &st);
		drpc_status_reset(&st);
		return false;
	}
	if (len != BENCH_SMALL || memcmp(reply, req, len) != 0) {
		fprintf(stderr,
		    "drpc-bench: %s: call %zu: wrong reply (%zu "
		    "bytes)\n",
		    wl, i, len);
		drpc_free(reply);
		return false;
	}
	drpc_free(reply);
	return true;
}

// unary_calls makes n calls; lat (may be NULL) gets each one's duration.
bool
unary_calls(
    drpc_conn *c, const char *wl, const uint8_t *req, size_t n, int64_t *lat)
{
	for (size_t i = 0; i < n; i++) {
		int64_t t0 = now_ns();

		if (!unary_one(c, wl, req, i)) {
			return false;
		}
		if (lat != NULL) {
			lat[i] = now_ns() - t0;
		}
	}
	return true;
}

// record_latency records the median and p99 of n sorted samples.
void
record_latency(bench *b, const char *prefix, const char *wl, const char *what,
    const char *ratio_prefix, int64_t *lat, size_t n, const aux *a)
{
	char id[64];
	char label[64];
	char ref[64];

	qsort(lat, n, sizeof(*lat), cmp_i64);
	snprintf(id, sizeof(id), "%s.median_us", prefix);
	snprintf(label, sizeof(label), "%s: median µs", what);
	snprintf(ref, sizeof(ref), "%s.median_us", ratio_prefix);
	table_put(&b->tab, id, wl, label, ratio_prefix != NULL ? ref : NULL,
	    lat_median_us(lat, n), a);
	snprintf(id, sizeof(id), "%s.p99_us", prefix);
	snprintf(label, sizeof(label), "%s: p99 µs", what);
	snprintf(ref, sizeof(ref), "%s.p99_us", ratio_prefix);
	table_put(&b->tab, id, wl, label, ratio_prefix != NULL ? ref : NULL,
	    lat_p99_us(lat, n), NULL);
}

int64_t
latency_budget(const bench *b)
{
	// 2 ms a round trip is 40 times what this machine needs.
	return 20 * NS_PER_S + (int64_t) b->cfg.lat_calls * 2 * NS_PER_MS;
}

// noop_client_icpt is the interceptor rows' client interceptor: it only
// passes the call on.
static drpc_err
noop_client_icpt(drpc_client_call *c, drpc_next *next, void *arg)
{
	(void) arg;
	return drpc_next_call(next, c);
}

drpc_conn_opts
bench_noop_client_opts(void)
{
	static const drpc_client_interceptor noop[] = {{noop_client_icpt, NULL}};
	drpc_conn_opts o = {0};

	o.interceptors  = noop;
	o.ninterceptors = 1;
	return o;
}

// unary_latency_on measures unary latency against addr: plainly, or with
// a no-op interceptor on each side (icpt: addr is the interceptor server).
static bool
unary_latency_on(bench *b, const char *addr, bool icpt)
{
	const char    *wl = "unary-latency";
	size_t         n  = b->cfg.lat_calls;
	drpc_conn_opts co = bench_noop_client_opts();
	int64_t    *lat;
	drpc_conn  *c;
	uint8_t     req[BENCH_SMALL];
	cost_mark   m0 = {0};
	cost_mark   m1 = {0};
	bool        ok;
	aux         a;

	fill_pattern(req, sizeof(req));
	if ((lat = malloc(n * sizeof(*lat))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if (!dial_to(wl, addr, icpt ? &co : NULL, &c)) {
		free(lat);
		return false;
	}
	wd_arm_conn(&b->wd, wl, latency_budget(b), c);
	ok = unary_calls(c, wl, req, BENCH_WARMUP, NULL) &&
	     mark_begin(b, c, &m0);
	if (ok) {
		ok = unary_calls(c, wl, req, n, lat) && mark_end(b, c, &m1);
	}
	ok = !wd_disarm(&b->wd) && ok;
	drpc_conn_destroy(c);
	if (ok) {
		a = aux_between(&m0, &m1, (double) n);
		record_latency(b, icpt ? "unary.latency.icpt" : "unary.latency",
		    wl, icpt ? "16 B, no-op interceptors" : "16 B",
		    icpt ? "unary.latency" : "raw.pingpong", lat, n, &a);
	}
	free(lat);
	return ok;
}

bool
wl_unary_latency(bench *b)
{
	// With interceptors only in process (the server's own second
	// listener); its ratio is to the plain row (issue 18: within 3%).
	return unary_latency_on(b, b->addr, false) &&
	       (b->addr_icpt == NULL ||
	           unary_latency_on(b, b->addr_icpt, true));
}

// Unary throughput: N callers on one connection.

int
tput_clock_init(tput_clock *k)
{
	memset(k, 0, sizeof(*k));
	atomic_init(&k->abort, false);
	return gate_init(&k->start);
}

bool
tput_going(tput_clock *k)
{
	return !atomic_load_explicit(&k->abort, memory_order_relaxed) &&
	       now_ns() < k->stop_ns;
}

void
tput_abort(tput_clock *k)
{
	atomic_store(&k->abort, true);
}

bool
tput_work(tput_clock *k, bool (*one)(void *arg), void *arg, uint64_t *n)
{
	gate_wait(&k->start);
	while (tput_going(k)) {
		if (!one(arg)) {
			tput_abort(k);
			return false;
		}
		(*n)++;
	}
	return true;
}

bool
tput_go(
    bench *b, drpc_conn *c, tput_clock *k, bool ok, cost_mark *m0, int64_t *t0)
{
	ok = ok && mark_begin(b, c, m0);
	if (!ok) {
		// The workers that started stop at once.
		tput_abort(k);
	}
	*t0        = now_ns();
	k->stop_ns = *t0 + b->cfg.tput_ns;
	gate_open(&k->start);
	return ok;
}

typedef struct tput_shared {
	drpc_conn *c;
	tput_clock clock;
} tput_shared;

typedef struct tput_worker {
	tput_shared *sh;
	pthread_t    t;
	uint64_t     calls;
	bool         failed;
} tput_worker;

typedef struct tput_call {
	drpc_conn *c;
	uint8_t    req[BENCH_SMALL];
	uint64_t  *calls;
} tput_call;

static bool
tput_one(void *arg)
{
	tput_call *k = arg;

	return unary_one(k->c, "unary-throughput", k->req, (size_t) *k->calls);
}

static void *
tput_main(void *arg)
{
	tput_worker *w = arg;
	tput_call    k = {.c = w->sh->c, .calls = &w->calls};

	fill_pattern(k.req, sizeof(k.req));
	w->failed = !tput_work(&w->sh->clock, tput_one, &k, &w->calls);
	return NULL;
}

// tput_dial gives the throughput run its handle: a connection, or the
// handle of a channel over the same server (*ch, destroyed by the caller).
static bool
tput_dial(bench *b, const char *wl, drpc_channel **ch, drpc_conn **cp,
    bool icpt)
{
	drpc_channel_opts o  = {0};
	drpc_conn_opts    co = bench_noop_client_opts();
	drpc_cause        why;

	if (icpt) {
		return dial_to(wl, b->addr_icpt, &co, cp);
	}
	if (ch == NULL) {
		return bench_dial(b, wl, cp);
	}
	o.eager = true;
	if (drpc_channel_create(ch, b->addr, &o, &why) != DRPC_OK ||
	    drpc_channel_wait_ready(*ch, now_ns() + 10 * NS_PER_S) != DRPC_OK) {
		if (*ch != NULL) {
			(void) drpc_channel_cause(*ch, &why);
			drpc_channel_destroy(*ch);
		}
		fprintf(stderr, "drpc-bench: %s: channel to %s: %s\n", wl,
		    b->addr, why.text);
		return false;
	}
	*cp = drpc_channel_conn(*ch);
	return true;
}

static void
tput_hangup(drpc_channel *ch, drpc_conn *c)
{
	if (ch != NULL) {
		drpc_channel_destroy(ch);
	} else {
		drpc_conn_destroy(c);
	}
}

bool
tput_run(bench *b, size_t nthreads)
{
	return tput_run_on(b, nthreads, false);
}

static bool tput_run_with(
    bench *b, size_t nthreads, bool channel, bool icpt);

bool
tput_run_on(bench *b, size_t nthreads, bool channel)
{
	return tput_run_with(b, nthreads, channel, false);
}

// tput_run_with is tput_run_on, or (icpt) against the interceptor server
// with a no-op client interceptor.
static bool
tput_run_with(bench *b, size_t nthreads, bool channel, bool icpt)
{
	const char  *wl = "unary-throughput";
	drpc_channel *ch = NULL;
	tput_shared  sh;
	tput_worker *w;
	size_t       started = 0;
	uint64_t     calls   = 0;
	int64_t      t0;
	int64_t      t1;
	uint8_t      req[BENCH_SMALL];
	cost_mark    m0 = {0};
	cost_mark    m1 = {0};
	bool         ok = true;
	int          err;

	fill_pattern(req, sizeof(req));
	memset(&sh, 0, sizeof(sh));
	if ((w = calloc(nthreads, sizeof(*w))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if (!tput_dial(b, wl, channel ? &ch : NULL, &sh.c, icpt)) {
		free(w);
		return false;
	}
	if ((err = tput_clock_init(&sh.clock)) != 0) {
		fprintf(
		    stderr, "drpc-bench: %s: gate: %s\n", wl, strerror(err));
		tput_hangup(ch, sh.c);
		free(w);
		return false;
	}
	wd_arm_conn(&b->wd, wl, b->cfg.tput_ns + 30 * NS_PER_S, sh.c);
	ok = unary_calls(sh.c, wl, req, BENCH_WARMUP, NULL);
	for (; ok && started < nthreads; started++) {
		w[started].sh = &sh;
		if ((err = start_thread(
		         &w[started].t, tput_main, &w[started])) != 0) {
			fprintf(stderr,
			    "drpc-bench: %s: starting caller %zu: %s\n", wl,
			    started + 1, strerror(err));
			ok = false;
			break;
		}
	}
	ok = tput_go(b, sh.c, &sh.clock, ok, &m0, &t0);
	for (size_t i = 0; i < started; i++) {
		pthread_join(w[i].t, NULL);
		calls += w[i].calls;
		ok = ok && !w[i].failed;
	}
	t1 = now_ns();
	ok = ok && mark_end(b, sh.c, &m1);
	ok = !wd_disarm(&b->wd) && ok;
	gate_fini(&sh.clock.start);
	tput_hangup(ch, sh.c);
	free(w);
	if (ok) {
		char id[64];
		char label[64];
		aux  a = aux_between(&m0, &m1, (double) calls);

		char ref[64];

		snprintf(id, sizeof(id), "unary.tput.%zu%s.calls_s", nthreads,
		    channel ? ".channel" : icpt ? ".icpt" : "");
		snprintf(label, sizeof(label), "%zu caller%s%s: calls/s",
		    nthreads, nthreads == 1 ? "" : "s",
		    channel ? ", one channel"
		    : icpt  ? ", no-op interceptors"
			    : "");
		snprintf(ref, sizeof(ref), "unary.tput.%zu.calls_s", nthreads);
		table_put(&b->tab, id, wl, label,
		    icpt ? ref : "raw.pingpong32.rt_s",
		    (double) calls * 1e9 / (double) (t1 - t0), &a);
	}
	return ok;
}

bool
wl_unary_throughput(bench *b)
{
	for (size_t i = 0; i < sizeof(tput_callers) / sizeof(*tput_callers);
	     i++) {
		if (!tput_run(b, tput_callers[i])) {
			return false;
		}
	}
	// The same 32 callers through a channel over the same server: what
	// the channel costs (issue 16: under 5%); and with a no-op
	// interceptor on each side (issue 18: within 3%), in process only.
	return tput_run_on(b, 32, true) &&
	       (b->addr_icpt == NULL || tput_run_with(b, 32, false, true));
}

// Stream throughput.

// stream_down receives size-byte messages from the server for the
// configured time: (msgs, elapsed).
bool
stream_down(
    bench *b, drpc_conn *c, size_t size, uint64_t *msgs, int64_t *elapsed)
{
	const char  *wl = "stream-throughput (server stream)";
	drpc_stream *s;
	uint8_t      req[8];
	const void  *m;
	size_t       len;
	int64_t      t0;
	drpc_err     rv;

	put_u32(req, (uint32_t) size);
	put_u32(req + 4, (uint32_t) (b->cfg.stream_ns / NS_PER_MS));
	*msgs = 0;
	t0    = now_ns();
	if ((rv = drpc_stream_open(&s, c, NULL, M_DOWNLOAD, NULL)) != DRPC_OK) {
		report_call(wl, rv, NULL);
		return false;
	}
	if ((rv = drpc_stream_send(s, req, sizeof(req))) != DRPC_OK ||
	    (rv = drpc_stream_close_send(s)) != DRPC_OK) {
		report_stream(wl, s, rv);
		drpc_stream_destroy(s);
		return false;
	}
	while ((rv = drpc_stream_recv_view(s, &m, &len)) == DRPC_OK) {
		bool good = len == size;

		drpc_stream_recv_done(s);
		if (!good) {
			fprintf(stderr,
			    "drpc-bench: %s: a %zu-byte message, expected "
			    "%zu\n",
			    wl, len, size);
			drpc_stream_destroy(s);
			return false;
		}
		(*msgs)++;
	}
	*elapsed = now_ns() - t0;
	if (rv != DRPC_EOF) {
		report_stream(wl, s, rv);
		drpc_stream_destroy(s);
		return false;
	}
	drpc_stream_destroy(s);
	return true;
}

// stream_up_ack reads the handler's acknowledgement of the first message.
drpc_err
stream_up_ack(drpc_stream *s)
{
	const void *m;
	size_t      len;
	drpc_err    rv;

	if ((rv = drpc_stream_recv_view(s, &m, &len)) == DRPC_OK) {
		drpc_stream_recv_done(s);
	}
	return rv;
}

// stream_up sends size-byte messages for the configured time, then
// checks the server's count: (msgs, elapsed until the count arrived).
// With --workarounds it waits for the handler's acknowledgement of the
// first message before it streams the rest (see h_upload); otherwise it
// reads the acknowledgement at the end.
bool
stream_up(bench *b, drpc_conn *c, size_t size, uint64_t *msgs, int64_t *elapsed)
{
	const char  *wl = "stream-throughput (client stream)";
	drpc_stream *s;
	uint8_t     *msg;
	const void  *m;
	size_t       len;
	int64_t      t0;
	int64_t      stop;
	drpc_err     rv;
	bool         ok = false;

	if ((msg = malloc(size)) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	fill_pattern(msg, size);
	*msgs = 0;
	t0    = now_ns();
	stop  = t0 + b->cfg.stream_ns;
	if ((rv = drpc_stream_open(&s, c, NULL, M_UPLOAD, NULL)) != DRPC_OK) {
		report_call(wl, rv, NULL);
		free(msg);
		return false;
	}
	do {
		if ((rv = drpc_stream_send(s, msg, size)) != DRPC_OK) {
			report_stream(wl, s, rv);
			goto out;
		}
		(*msgs)++;
		if (*msgs == 1 && b->cfg.workarounds &&
		    (rv = stream_up_ack(s)) != DRPC_OK) {
			report_stream(wl, s, rv);
			goto out;
		}
	} while (now_ns() < stop);
	if ((rv = drpc_stream_close_send(s)) != DRPC_OK ||
	    (!b->cfg.workarounds && (rv = stream_up_ack(s)) != DRPC_OK) ||
	    (rv = drpc_stream_recv_view(s, &m, &len)) != DRPC_OK) {
		report_stream(wl, s, rv);
		goto out;
	}
	*elapsed = now_ns() - t0;
	if (len != 16 || get_u64(m) != *msgs ||
	    get_u64((const uint8_t *) m + 8) != *msgs * size) {
		fprintf(stderr,
		    "drpc-bench: %s: the server counted differently from the "
		    "%" PRIu64 " messages sent\n",
		    wl, *msgs);
		drpc_stream_recv_done(s);
		goto out;
	}
	drpc_stream_recv_done(s);
	ok = true;
out:
	if (!ok && !b->cfg.workarounds) {
		fprintf(stderr,
		    "drpc-bench: %s: a server before e37f44c hands a new "
		    "stream to a handler only before its next read and "
		    "blocks first when the stream's ring fills; measure "
		    "one with --workarounds (docs/benchmarks.md)\n",
		    wl);
	}
	drpc_stream_destroy(s);
	free(msg);
	return ok;
}

void
record_stream(bench *b, const char *prefix, const char *wl, const char *dir,
    size_t k, uint64_t msgs, int64_t elapsed, const aux *a)
{
	char   id[64];
	char   label[64];
	char   ref[64];
	double secs = (double) elapsed / 1e9;

	snprintf(id, sizeof(id), "%s.%s.mb_s", prefix, stream_size_names[k]);
	snprintf(label, sizeof(label), "%s%s: MB/s", dir, stream_size_text[k]);
	snprintf(ref, sizeof(ref), "raw.stream.%s.mb_s", stream_size_names[k]);
	table_put(&b->tab, id, wl, label,
	    strncmp(prefix, "raw.", 4) == 0 ? NULL : ref,
	    (double) msgs * (double) stream_sizes[k] / 1e6 / secs, a);
	snprintf(id, sizeof(id), "%s.%s.msgs_s", prefix, stream_size_names[k]);
	snprintf(
	    label, sizeof(label), "%s%s: msgs/s", dir, stream_size_text[k]);
	snprintf(
	    ref, sizeof(ref), "raw.stream.%s.msgs_s", stream_size_names[k]);
	table_put(&b->tab, id, wl, label,
	    strncmp(prefix, "raw.", 4) == 0 ? NULL : ref, (double) msgs / secs,
	    NULL);
}

bool
stream_case(bench *b, bool up, size_t k)
{
	const char *wl      = "stream-throughput";
	uint64_t    msgs    = 0;
	int64_t     elapsed = 0;
	cost_mark   m0      = {0};
	cost_mark   m1      = {0};
	drpc_conn  *c;
	bool        ok;
	aux         a;

	if (!bench_dial(b, wl, &c)) {
		return false;
	}
	wd_arm_conn(&b->wd, wl, b->cfg.stream_ns + 30 * NS_PER_S, c);
	ok = mark_begin(b, c, &m0) &&
	     (up ? stream_up(b, c, stream_sizes[k], &msgs, &elapsed)
	         : stream_down(b, c, stream_sizes[k], &msgs, &elapsed)) &&
	     mark_end(b, c, &m1);
	ok = !wd_disarm(&b->wd) && ok;
	drpc_conn_destroy(c);
	if (!ok) {
		return false;
	}
	a = aux_between(&m0, &m1, (double) msgs);
	record_stream(b, up ? "stream.client" : "stream.server", wl,
	    up ? "client stream " : "server stream ", k, msgs, elapsed, &a);
	return true;
}

bool
wl_stream_throughput(bench *b)
{
	for (int up = 0; up < 2; up++) {
		for (size_t k = 0; k < STREAM_NSIZES; k++) {
			if (!stream_case(b, up == 1, k)) {
				return false;
			}
		}
	}
	return true;
}

// Bidirectional ping-pong on one stream.

static bool
bidi_round_trips(drpc_stream *s, const uint8_t *msg, size_t n, int64_t *lat)
{
	const void *m;
	size_t      len;
	char        what[64];
	drpc_err    rv;

	for (size_t i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		bool    good;

		if ((rv = drpc_stream_send(s, msg, BENCH_SMALL)) != DRPC_OK ||
		    (rv = drpc_stream_recv_view(s, &m, &len)) != DRPC_OK) {
			snprintf(what, sizeof(what),
			    "bidi-latency: round trip %zu", i);
			report_stream(what, s, rv);
			return false;
		}
		good = len == BENCH_SMALL && memcmp(m, msg, len) == 0;
		drpc_stream_recv_done(s);
		if (!good) {
			fprintf(stderr,
			    "drpc-bench: bidi-latency: round trip "
			    "%zu: wrong reply\n",
			    i);
			return false;
		}
		if (lat != NULL) {
			lat[i] = now_ns() - t0;
		}
	}
	return true;
}

bool
wl_bidi_latency(bench *b)
{
	const char  *wl = "bidi-latency";
	size_t       n  = b->cfg.lat_calls;
	drpc_conn   *c;
	drpc_stream *s = NULL;
	int64_t     *lat;
	uint8_t      msg[BENCH_SMALL];
	const void  *m;
	size_t       len;
	cost_mark    m0 = {0};
	cost_mark    m1 = {0};
	drpc_err     rv;
	bool         ok = false;

	fill_pattern(msg, sizeof(msg));
	if ((lat = malloc(n * sizeof(*lat))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if (!bench_dial(b, wl, &c)) {
		free(lat);
		return false;
	}
	wd_arm_conn(&b->wd, wl, latency_budget(b), c);
	if ((rv = drpc_stream_open(&s, c, NULL, M_BIDI, NULL)) != DRPC_OK) {
		report_call(wl, rv, NULL);
		s = NULL;
	} else if (bidi_round_trips(s, msg, BENCH_WARMUP, NULL) &&
	           mark_begin(b, c, &m0)) {
		ok = bidi_round_trips(s, msg, n, lat) && mark_end(b, c, &m1);
	}
	if (ok && ((rv = drpc_stream_close_send(s)) != DRPC_OK ||
	              (rv = drpc_stream_recv_view(s, &m, &len)) != DRPC_EOF)) {
		if (rv == DRPC_OK) {
			drpc_stream_recv_done(s);
		}
		report_stream("bidi-latency: end of stream", s, rv);
		ok = false;
	}
	drpc_stream_destroy(s);
	ok = !wd_disarm(&b->wd) && ok;
	drpc_conn_destroy(c);
	if (ok) {
		aux a = aux_between(&m0, &m1, (double) n);

		record_latency(b, "bidi.latency", wl, "16 B on one stream",
		    "raw.pingpong", lat, n, &a);
	}
	free(lat);
	return ok;
}
