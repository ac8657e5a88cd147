// example-observe: what every service needs around its handlers, on the
// Greeter of cmd/drpc-demo/demo.proto (generated stubs; docs/api.md §12-§15).
//   example-observe --token T [--metrics-file PATH] [ADDR]   serves with
//     - an auth interceptor: Unauthenticated (16) without the metadata
//       "authorization: Bearer T"; the health service is exempt;
//     - an access-log interceptor: one line per RPC on stderr;
//     - metrics from the per-RPC stats and connection hooks, in Prometheus
//       text format on SIGUSR1 and at exit (into PATH, else on stdout);
//     - the health service: NOT_SERVING once SIGTERM or SIGINT begins the
//       graceful shutdown.
//   example-observe --client ADDR --token T   calls of every kind, health,
//     and one call without the token
//   example-observe --watch ADDR   prints the server's health until it ends
// This file is the server; metrics.c makes the metrics, client.c the client.
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <drpc/health.h>

#include "demo.drpc.h"
#include "observe.h"

// The service: Hello echoes the name, Count streams 1..to, Add sums a
// stream, Chat echoes every line.
static drpc_err
hello(void *u, drpc_stream *s, const Demo__HelloRequest *req,
    Demo__HelloReply *reply)
{
	(void) u, (void) s;
	reply->message = req->name;
	return DRPC_OK;
}

static drpc_err
count(void *u, drpc_stream *s, const Demo__CountRequest *req)
{
	Demo__Number n  = DEMO__NUMBER__INIT;
	drpc_err     rv = DRPC_OK;

	(void) u;
	for (n.value = 1; n.value <= req->to && rv == DRPC_OK; n.value++) {
		rv = demo__greeter__count__server_send(s, &n);
	}
	return rv;
}

static drpc_err
add(void *u, drpc_stream *s, Demo__Total *reply)
{
	Demo__Number *n;
	drpc_err      rv;

	(void) u;
	while ((rv = demo__greeter__add__server_recv(s, &n)) == DRPC_OK) {
		reply->sum += n->value;
		reply->count++;
		protobuf_c_message_free_unpacked(&n->base, NULL);
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

static drpc_err
chat(void *u, drpc_stream *s)
{
	Demo__Line *line;
	drpc_err    rv;

	(void) u;
	while ((rv = demo__greeter__chat__server_recv(s, &line)) == DRPC_OK) {
		rv = demo__greeter__chat__server_send(s, line);
		protobuf_c_message_free_unpacked(&line->base, NULL);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// auth: arg is "Bearer <token>", compared in constant time.
static drpc_err
auth(drpc_stream *s, drpc_next *next, void *arg)
{
	const char *method = drpc_stream_method(s);
	const char *want   = arg, *got;
	size_t      n      = strlen(want), len;
	unsigned    diff   = 0;

	if (strcmp(method, DRPC_HEALTH_CHECK) == 0 ||
	    strcmp(method, DRPC_HEALTH_WATCH) == 0) {
		return drpc_next_handle(next, s);
	}
	if (drpc_stream_md_get(s, "authorization", &got, &len) != DRPC_OK ||
	    len != n) {
		diff = 1;
	} else {
		for (size_t i = 0; i < n; i++) { // no early exit
			diff |=
			    (unsigned char) got[i] ^ (unsigned char) want[i];
		}
	}
	if (diff != 0) {
		drpc_stream_set_error(
		    s, DRPC_EUNAUTH, "missing or wrong token");
		return DRPC_EUNAUTH; // the handler never runs
	}
	return drpc_next_handle(next, s);
}

// The access log: the interceptor wraps the stream to count its messages;
// the wrapper's end, once the final status went out, prints and frees.
typedef struct access_rec {
	int64_t  start_ns;
	uint64_t n[2]; // messages received, sent
	char     method[128], peer[128];
} access_rec;

static drpc_err
access_send(void *arg, drpc_stream *s, const void *data, size_t len)
{
	(void) s, (void) data, (void) len;
	((access_rec *) arg)->n[1]++; // (a send may still fail after this)
	return DRPC_OK;               // anything else would refuse it
}

static void
access_recv(void *arg, drpc_stream *s, const void *data, size_t len)
{
	(void) s, (void) data, (void) len;
	((access_rec *) arg)->n[0]++;
}

static void
access_end(void *arg, drpc_stream *s, const drpc_status *st)
{
	access_rec *a = arg;
	char        when[32];
	time_t      now = time(NULL);
	struct tm   tm;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	fprintf(stderr, // one call per line: lines of many threads never mix
	    "access %s %s peer=%s conn=%016" PRIx64
	    " code=%s latency_us=%" PRId64 " in=%" PRIu64 " out=%" PRIu64 "\n",
	    when, a->method, a->peer, drpc_stream_conn_id(s),
	    observe_code_name(st->code, st->remote_code),
	    (drpc_now_ns() - a->start_ns) / 1000, a->n[0], a->n[1]);
	free(a);
}

static drpc_err
access_log(drpc_stream *s, drpc_next *next, void *arg)
{
	static const drpc_stream_wrapper w = {
	    access_send, access_recv, access_end};
	access_rec *a = calloc(1, sizeof(*a));
	drpc_peer   p = {0};

	(void) arg;
	if (a == NULL) {
		return DRPC_ENOMEM;
	}
	a->start_ns = drpc_now_ns();
	snprintf(a->method, sizeof(a->method), "%s", drpc_stream_method(s));
	if (drpc_stream_peer(s, &p) == DRPC_OK) {
		snprintf(a->peer, sizeof(a->peer), "%s", p.addr);
		drpc_peer_reset(&p);
	}
	if (drpc_stream_wrap(s, &w, a) != DRPC_OK) {
		free(a); // not wrapped: end will not run
	}
	return drpc_next_handle(next, s);
}

static void
log_warnings(void *arg, drpc_log_level level, const char *msg)
{
	(void) arg;
	if (level >= DRPC_LOG_WARN) { // "drpc: /demo.Greeter/Hello failed: ..."
		fprintf(stderr, "%s\n", msg);
	}
}

static int
serve(const char *addr, const char *bearer, const char *metrics_file)
{
	static const Demo__Greeter_Server greeter = {
	    .hello = hello, .count = count, .add = add, .chat = chat};
	drpc_stats_handler stats;
	drpc_conn_hooks    hooks;
	metrics           *mt = metrics_create(&stats, &hooks);
	// The access log is the outermost: it sees the calls auth refuses.
	drpc_server_interceptor chain[] = {
	    {access_log, NULL}, {auth, (void *) bearer}};
	drpc_server_opts so = {0};
	drpc_health     *health;
	drpc_mux        *mux;
	drpc_server     *srv;
	char             bound[256];
	sigset_t         set;
	int              sig;

	so.interceptors  = chain;
	so.ninterceptors = 2;
	so.stats         = &stats;
	so.conn_hooks    = &hooks;
	so.log           = log_warnings;
	// Block the signals before any thread starts: only sigwait gets them.
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (mt == NULL || drpc_mux_create(&mux) != DRPC_OK ||
	    demo__greeter__register(mux, &greeter) != DRPC_OK ||
	    drpc_health_create(&health) != DRPC_OK ||
	    drpc_health_register(health, mux) != DRPC_OK ||
	    drpc_server_create(&srv, mux, &so) != DRPC_OK ||
	    drpc_health_attach(health, srv) != DRPC_OK ||
	    drpc_server_listen(srv, addr) != DRPC_OK) {
		fprintf(stderr, "example-observe: cannot serve on %s\n", addr);
		return 1;
	}
	drpc_server_addr(srv, bound, sizeof(bound));
	printf("example-observe: serving on %s\n", bound);
	fflush(stdout);
	while (sigwait(&set, &sig) == 0 && sig == SIGUSR1) {
		metrics_dump(mt, metrics_file);
	}
	// Health turns NOT_SERVING at once; calls in flight get 2 s more.
	drpc_server_shutdown(srv, drpc_now_ns() + 2000000000);
	drpc_server_destroy(srv); // every stats end and close hook has run
	drpc_health_destroy(health);
	drpc_mux_destroy(mux);
	metrics_dump(mt, metrics_file);
	metrics_destroy(mt);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *addr = "tcp://127.0.0.1:7070", *token = NULL, *mfile = NULL;
	const char *client = NULL, *watch = NULL;
	char        bearer[256];

	for (int i = 1; i < argc; i++) {
		const char **opt = strcmp(argv[i], "--token") == 0 ? &token
		                   : strcmp(argv[i], "--metrics-file") == 0
		                       ? &mfile
		                   : strcmp(argv[i], "--client") == 0 ? &client
		                   : strcmp(argv[i], "--watch") == 0  ? &watch
		                                                      : NULL;

		if (opt != NULL && i + 1 < argc) {
			*opt = argv[++i];
		} else if (argv[i][0] != '-') {
			addr = argv[i];
		} else {
			watch = token = NULL; // usage
			break;
		}
	}
	if (watch != NULL) {
		return observe_watch(watch);
	}
	if (token == NULL) {
		fprintf(stderr,
		    "usage: example-observe --token T [--metrics-file PATH] "
		    "[ADDR]\n"
		    "       example-observe --client ADDR --token T\n"
		    "       example-observe --watch ADDR\n");
		return 2;
	}
	if (snprintf(bearer, sizeof(bearer), "Bearer %s", token) >=
	    (int) sizeof(bearer)) {
		fprintf(stderr, "example-observe: the token is too long\n");
		return 2;
	}
	return client != NULL ? observe_client(client, bearer)
	                      : serve(addr, bearer, mfile);
}
