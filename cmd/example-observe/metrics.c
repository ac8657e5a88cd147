// example-observe's metrics: Prometheus text built from the per-RPC stats
// and connection hooks of a server (drpc/stats.h, drpc/conninfo.h).
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>

#include "observe.h"

// A status as the client saw it: library codes went out as Internal.
static const char *const code_names[17] = {"OK", "Canceled", "Unknown",
    "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
    "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
    "Unauthenticated"};

static unsigned
wire_code(drpc_err code, uint64_t remote_code)
{
	if (code == DRPC_OK) {
		return 0;
	}
	if (remote_code >= 1 && remote_code <= 16) {
		return (unsigned) remote_code;
	}
	return code >= 1 && code <= 16 ? (unsigned) code : 13;
}

const char *
observe_code_name(drpc_err code, uint64_t remote_code)
{
	return code_names[wire_code(code, remote_code)];
}

// Metrics: one lock around them all, as the callbacks run on many threads
// (connection readers, handlers, the shutdown). Clients choose the method
// names: past the table's size they count as "other", and every byte but
// [A-Za-z0-9./_] becomes '_', so no name breaks the exposition format.
#define METHODS 32
static const double le[] = {.0001, .001, .01, .1, 1}; // latency buckets, s
#define BUCKETS (sizeof(le) / sizeof(le[0]))

typedef struct metrics {
	pthread_mutex_t mu;
	struct method_stats {
		char     name[64];
		uint64_t rpcs[17];          // by code
		uint64_t msgs[2], bytes[2]; // received, sent
		uint64_t hist[BUCKETS + 1]; // by latency; the last: > le[last]
		double   latency_sum;
	} m[METHODS];
	size_t   n;
	uint64_t conns_open, conns_total;
} metrics;

static struct method_stats *
method_of(metrics *mt, const char *name) // with mu held
{
	static const char keep[] = "abcdefghijklmnopqrstuvwxyz"
	                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./_";
	char              clean[64];
	size_t            i;

	for (i = 0; name[i] != '\0' && i < sizeof(clean) - 1; i++) {
		clean[i] = strchr(keep, name[i]) != NULL ? name[i] : '_';
	}
	clean[i] = '\0';
	for (i = 0; i < mt->n; i++) {
		if (strcmp(mt->m[i].name, clean) == 0) {
			return &mt->m[i];
		}
	}
	if (mt->n >= METHODS - 1 && strcmp(clean, "other") != 0) {
		return method_of(mt, "other"); // the last entry
	}
	snprintf(mt->m[mt->n].name, sizeof(clean), "%s", clean);
	return &mt->m[mt->n++];
}

static void
on_msg(void *arg, const drpc_rpc_info *rpc, bool out, size_t len)
{
	metrics *mt = arg;

	pthread_mutex_lock(&mt->mu);
	struct method_stats *m = method_of(mt, rpc->method);
	m->msgs[out]++;
	m->bytes[out] += len;
	pthread_mutex_unlock(&mt->mu);
}

static void
on_end(void *arg, const drpc_rpc_info *rpc, const drpc_rpc_end *end)
{
	metrics *mt   = arg;
	double   secs = (double) end->latency_ns / 1e9;
	size_t   b    = 0;

	while (b < BUCKETS && secs > le[b]) {
		b++;
	}
	pthread_mutex_lock(&mt->mu);
	struct method_stats *m = method_of(mt, rpc->method);
	m->rpcs[wire_code(end->code, end->remote_code)]++;
	m->hist[b]++;
	m->latency_sum += secs;
	pthread_mutex_unlock(&mt->mu);
}

static void *
on_open(void *arg, const drpc_conn_info *ci)
{
	metrics *mt = arg;

	(void) ci;
	pthread_mutex_lock(&mt->mu);
	mt->conns_open++;
	mt->conns_total++;
	pthread_mutex_unlock(&mt->mu);
	return NULL; // the connection's user pointer (drpc_stream_conn_user)
}

static void
on_close(
    void *arg, const drpc_conn_info *ci, void *user, const drpc_conn_stats *st)
{
	metrics *mt = arg;

	(void) ci, (void) user, (void) st;
	pthread_mutex_lock(&mt->mu);
	mt->conns_open--;
	pthread_mutex_unlock(&mt->mu);
}

static void
metrics_write(metrics *mt, FILE *f)
{
	static const char *const dir[2] = {"in", "out"};
	struct method_stats     *m      = mt->m;

	pthread_mutex_lock(&mt->mu);
	fprintf(f, "# TYPE drpc_rpcs_total counter\n");
	for (size_t i = 0; i < mt->n * 17; i++) {
		if (m[i / 17].rpcs[i % 17] != 0) {
			fprintf(f,
			    "drpc_rpcs_total{method=\"%s\",code=\"%s\"} "
			    "%" PRIu64 "\n",
			    m[i / 17].name, code_names[i % 17],
			    m[i / 17].rpcs[i % 17]);
		}
	}
	fprintf(f, "# TYPE drpc_rpc_latency_seconds histogram\n");
	for (size_t i = 0; i < mt->n; i++) {
		uint64_t sum = 0;

		for (size_t b = 0; b < BUCKETS; b++) {
			sum += m[i].hist[b];
			fprintf(f,
			    "drpc_rpc_latency_seconds_bucket{method=\"%s\",le="
			    "\"%g\"} %" PRIu64 "\n",
			    m[i].name, le[b], sum);
		}
		sum += m[i].hist[BUCKETS];
		fprintf(f,
		    "drpc_rpc_latency_seconds_bucket{method=\"%s\",le=\"+Inf\"}"
		    " %" PRIu64 "\n"
		    "drpc_rpc_latency_seconds_sum{method=\"%s\"} %.6f\n"
		    "drpc_rpc_latency_seconds_count{method=\"%s\"} %" PRIu64
		    "\n",
		    m[i].name, sum, m[i].name, m[i].latency_sum, m[i].name,
		    sum);
	}
	for (int bytes = 0; bytes < 2; bytes++) { // message payloads
		const char *name =
		    bytes ? "drpc_bytes_total" : "drpc_messages_total";

		fprintf(f, "# TYPE %s counter\n", name);
		for (size_t i = 0; i < mt->n * 2; i++) {
			fprintf(f,
			    "%s{method=\"%s\",direction=\"%s\"} %" PRIu64 "\n",
			    name, m[i / 2].name, dir[i % 2],
			    bytes ? m[i / 2].bytes[i % 2]
			          : m[i / 2].msgs[i % 2]);
		}
	}
	fprintf(f,
	    "# TYPE drpc_connections_open gauge\n"
	    "drpc_connections_open %" PRIu64 "\n"
	    "# TYPE drpc_connections_total counter\n"
	    "drpc_connections_total %" PRIu64 "\n",
	    mt->conns_open, mt->conns_total);
	pthread_mutex_unlock(&mt->mu);
}

// metrics_dump writes into path through a new file renamed over it, so a
// reader never sees half of it; without a path, on stdout.
void
metrics_dump(metrics *mt, const char *path)
{
	char  tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path != NULL ? path : "");
	if (path == NULL) {
		metrics_write(mt, stdout);
		fflush(stdout);
	} else if ((f = fopen(tmp, "w")) == NULL) {
		perror(tmp);
	} else {
		metrics_write(mt, f);
		if (fclose(f) != 0 || rename(tmp, path) != 0) {
			perror(path);
		}
	}
}

metrics *
metrics_create(drpc_stats_handler *stats, drpc_conn_hooks *hooks)
{
	metrics *mt = calloc(1, sizeof(*mt));

	if (mt == NULL || pthread_mutex_init(&mt->mu, NULL) != 0) {
		free(mt);
		return NULL;
	}
	*stats = (drpc_stats_handler){NULL, on_msg, on_end, mt};
	*hooks = (drpc_conn_hooks){on_open, on_close, mt};
	return mt;
}

void
metrics_destroy(metrics *mt)
{
	pthread_mutex_destroy(&mt->mu);
	free(mt);
}
