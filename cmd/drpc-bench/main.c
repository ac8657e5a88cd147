// drpc-bench: libdrpc's benchmarks, each printed beside a plain-TCP
// baseline measured in the same run. docs/benchmarks.md describes the
// method, the figures measured on the project's machine and the targets.
//
// Design notes. One binary plays both sides. By default a server runs in
// this process on 127.0.0.1 (an ephemeral port) and every workload dials
// it over loopback TCP; `--server ADDR` only serves (until SIGINT or
// SIGTERM) and `--client ADDR` measures against such a server in another
// process. Beside its DRPC listener the server runs a raw TCP listener
// (messages prefixed with a 4-byte big-endian length) for the baseline; a
// client learns its port, and the server's RSS and thread count, with the
// Info method. The flow workload starts a second DRPC server of its own,
// with flow control off, for its runs without it (in this process only).
//
// Repetitions run rep-major: every selected workload once, then all of
// them again, so a libdrpc figure and the raw figure it is divided by are
// measured at nearby times. Each figure is the median of the repetitions,
// printed with their spread (min-max).
//
// Every workload runs under a watchdog. Past its time budget the watchdog
// closes the workload's connections and shuts its sockets down, so every
// blocked call fails and the workload aborts with a message; if the
// workload still has not returned 15 s later the process exits (status 3).
// A workload that fails is reported and not repeated; the exit status is
// then 1.
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#define BENCH_MAX_REPS 15
#define BENCH_MAX_ROWS 128
#define BENCH_SMALL    16                   // the small payload, bytes
#define BENCH_STACK    ((size_t) 256 << 10) // stacks of our own threads
#define BENCH_WARMUP   200                  // untimed calls before a loop
#define NS_PER_S       ((int64_t) 1000000000)
#define NS_PER_MS      ((int64_t) 1000000)

#define M_UNARY    "/bench.Bench/Unary"
#define M_DOWNLOAD "/bench.Bench/Download"
#define M_UPLOAD   "/bench.Bench/Upload"
#define M_BIDI     "/bench.Bench/Bidi"
#define M_IDLE     "/bench.Bench/Idle"
#define M_STALL    "/bench.Bench/Stall"
#define M_INFO     "/bench.Bench/Info"

// The raw protocol: the client sends a 12-byte command (op, size,
// duration in ms, each a big-endian uint32), then messages flow as a
// 4-byte big-endian length and the body. RAW_OP_ECHO echoes every message;
// RAW_OP_SEND sends messages of `size` bytes back-to-back for the
// duration, one send() each, then the length RAW_END; RAW_OP_SEND_BATCHED
// does the same but gathers whole messages into 64 KiB writes.
#define RAW_OP_ECHO         1u
#define RAW_OP_SEND         2u
#define RAW_OP_SEND_BATCHED 3u
#define RAW_BATCH           ((size_t) 64 << 10)
#define RAW_END             UINT32_MAX
#define RAW_CMD_LEN         12
#define RAW_RDBUF           ((size_t) 256 << 10)
#define RAW_EOF             (-1) // a raw I/O result: the peer closed

// The server's idle_workers when 0 is given (include/drpc/server.h).
#define LIB_IDLE_WORKERS 16

#define WD_MAX_CONNS 4
#define WD_MAX_FDS   160
#define WD_GRACE_NS  (15 * NS_PER_S)

static const size_t stream_sizes[]      = {16, 4096, (size_t) 1 << 20};
static const char  *stream_size_names[] = {"16B", "4KiB", "1MiB"};
static const char  *stream_size_text[]  = {"16 B", "4 KiB", "1 MiB"};
static const size_t tput_callers[]      = {1, 8, 32, 128};

// The flow workload: 64 KiB messages (the raw baseline it is divided by
// is a stream of 64 KiB messages), 1 GiB per transfer (64 MiB --quick).
#define FLOW_MSG         ((size_t) 64 << 10)
#define FLOW_TOTAL       ((size_t) 1 << 30)
#define FLOW_TOTAL_QUICK ((size_t) 64 << 20)

// Workloads, in the order the results are printed.
enum {
	W_RAW         = 1u << 0,
	W_UNARY_LAT   = 1u << 1,
	W_UNARY_TPUT  = 1u << 2,
	W_STREAM_TPUT = 1u << 3,
	W_BIDI_LAT    = 1u << 4,
	W_SCALE       = 1u << 5,
	W_FLOW        = 1u << 6,
	W_ALL         = (1u << 7) - 1,
};

typedef struct workload_name {
	const char *name;
	unsigned    bit;
} workload_name;

static const workload_name workload_names[] = {
    {"raw-baseline", W_RAW},
    {"unary-latency", W_UNARY_LAT},
    {"unary-throughput", W_UNARY_TPUT},
    {"stream-throughput", W_STREAM_TPUT},
    {"bidi-latency", W_BIDI_LAT},
    {"streams-scale", W_SCALE},
    {"flow", W_FLOW},
};

// The order they run in within a repetition: streams-scale first, so its
// first repetition measures RSS growth in a process whose heap no other
// workload has grown (freed memory is reused, hiding growth).
static const size_t run_order[] = {5, 0, 1, 2, 3, 4, 6};

typedef struct bench_cfg {
	int         reps;
	bool        quick;
	bool        json;
	bool        workarounds; // for servers before e37f44c (two bugs)
	unsigned    only;        // W_* bits selected
	const char *serve_addr;
	const char *client_addr;
	size_t      handler_stack; // bytes
	size_t      idle_workers;  // 0: the library's default
	size_t      lat_calls;     // round trips per latency repetition
	int64_t     tput_ns;       // unary and raw 32-connection throughput
	int64_t     stream_ns;     // each stream-throughput case
	size_t      flow_total;    // bytes per flow transfer
	size_t      scale_counts[2];
} bench_cfg;

// Utilities.

static int64_t
now_ns(void)
{
	return drpc_now_ns();
}

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
	       (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t) (v >> 32));
	put_u32(p + 4, (uint32_t) v);
}

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t) get_u32(p) << 32 | get_u32(p + 4);
}

static void
fill_pattern(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t) (i * 7 + 1);
	}
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a;
	int64_t y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a;
	double y = *(const double *) b;

	return (x > y) - (x < y);
}

// lat_median_us and lat_p99_us read a sorted array of nanoseconds.
static double
lat_median_us(const int64_t *v, size_t n)
{
	int64_t m = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;

	return (double) m / 1e3;
}

static double
lat_p99_us(const int64_t *v, size_t n)
{
	size_t i = (n * 99 + 99) / 100 - 1; // ceil(0.99 n) - 1

	return (double) v[i] / 1e3;
}

// proc_file_field reads the number after field in a /proc file of
// "Name: value" lines; -1 if it cannot.
static long
proc_file_field(const char *path, const char *field)
{
	FILE  *f = fopen(path, "r");
	char   line[256];
	long   v   = -1;
	size_t len = strlen(field);

	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, len) == 0) {
			v = strtol(line + len, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

// proc_status_field reads a numeric field of /proc/self/status ("VmRSS:",
// "Threads:"); -1 if it cannot.
static long
proc_status_field(const char *field)
{
	return proc_file_field("/proc/self/status", field);
}

// meminfo_kib reads a field of /proc/meminfo in KiB, or -1.
static long
meminfo_kib(const char *field)
{
	return proc_file_field("/proc/meminfo", field);
}

// proc_status_text copies the text of a /proc/self/status field, trimmed.
static void
proc_status_text(const char *field, char *buf, size_t cap)
{
	FILE  *f = fopen("/proc/self/status", "r");
	char   line[512];
	size_t len = strlen(field);

	snprintf(buf, cap, "?");
	if (f == NULL) {
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, len) == 0) {
			char *p = line + len;

			p += strspn(p, " \t");
			p[strcspn(p, "\n")] = '\0';
			snprintf(buf, cap, "%s", p);
			break;
		}
	}
	fclose(f);
}

static long
read_long_file(const char *path)
{
	FILE *f = fopen(path, "r");
	long  v = -1;

	if (f != NULL) {
		if (fscanf(f, "%ld", &v) != 1) {
			v = -1;
		}
		fclose(f);
	}
	return v;
}

// usage is the process's CPU time and voluntary context switches (every
// thread's, including threads that have exited).
typedef struct usage {
	int64_t cpu_ns;
	long    vcs;
	long    minflt; // minor page faults
} usage;

static usage
usage_now(void)
{
	struct rusage ru;
	usage         u = {0, 0, 0};

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		u.cpu_ns = ((int64_t) ru.ru_utime.tv_sec +
		               (int64_t) ru.ru_stime.tv_sec) *
		               NS_PER_S +
		           ((int64_t) ru.ru_utime.tv_usec +
		               (int64_t) ru.ru_stime.tv_usec) *
		               1000;
		u.vcs    = ru.ru_nvcsw;
		u.minflt = ru.ru_minflt;
	}
	return u;
}

// aux is what a figure cost per operation: voluntary context switches
// and CPU microseconds, over the whole process (client and server when
// they share it).
typedef struct aux {
	double vcs;
	double cpu_us;
	double flt;
} aux;

static aux
aux_per_op(usage u0, usage u1, double ops)
{
	aux a = {-1, -1, -1};

	if (ops > 0) {
		a.vcs    = (double) (u1.vcs - u0.vcs) / ops;
		a.cpu_us = (double) (u1.cpu_ns - u0.cpu_ns) / 1e3 / ops;
		a.flt    = (double) (u1.minflt - u0.minflt) / ops;
	}
	return a;
}

// machine_busy_ns is the CPU time every CPU of the machine spent running
// processes (/proc/stat: user, nice, system, steal), or -1. With
// usage_now() it tells how much CPU other processes took during a run:
// figures measured beside a busy neighbour are noise. Interrupt and
// softirq time are left out: loopback TCP is processed there and is
// mostly our own traffic, charged to no process.
static int64_t
machine_busy_ns(void)
{
	FILE              *f    = fopen("/proc/stat", "r");
	unsigned long long v[8] = {0};
	long               hz   = sysconf(_SC_CLK_TCK);
	int                n;

	if (f == NULL) {
		return -1;
	}
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8 || hz <= 0) {
		return -1;
	}
	// user nice system idle iowait irq softirq steal
	return (int64_t) (v[0] + v[1] + v[2] + v[7]) * (NS_PER_S / hz);
}

static int
start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int            rv;

	if ((rv = pthread_attr_init(&attr)) != 0) {
		return rv;
	}
	rv = pthread_attr_setstacksize(&attr, BENCH_STACK);
	if (rv == 0) {
		rv = pthread_create(t, &attr, fn, arg);
	}
	pthread_attr_destroy(&attr);
	return rv;
}

// gate holds threads until the measurement starts. It needs no count
// (unlike pthread_barrier), so a thread that failed to start cannot hang
// the others.
typedef struct gate {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	bool            open; // guarded by mu
} gate;

static int
gate_init(gate *g)
{
	int rv;

	g->open = false;
	if ((rv = pthread_mutex_init(&g->mu, NULL)) != 0) {
		return rv;
	}
	if ((rv = pthread_cond_init(&g->cv, NULL)) != 0) {
		pthread_mutex_destroy(&g->mu);
	}
	return rv;
}

static void
gate_fini(gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

static void
gate_wait(gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->open) {
		pthread_cond_wait(&g->cv, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
}

static void
gate_open(gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

// Results.

typedef struct bench_row {
	char   id[64];       // machine name: "unary.latency.median_us"
	char   workload[24]; // "unary-latency"
	char   what[48];     // for people: "16 B: median µs"
	char   ratio_to[64]; // id of the row it is divided by, or ""
	double v[BENCH_MAX_REPS];
	double vcs[BENCH_MAX_REPS];
	double cpu[BENCH_MAX_REPS];
	double flt[BENCH_MAX_REPS];
	int    n;
	int    naux;
} bench_row;

typedef struct bench_table {
	bench_row rows[BENCH_MAX_ROWS];
	size_t    order[BENCH_MAX_ROWS]; // rows by workload, see table_sort
	size_t    n;
} bench_table;

static bench_row *
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
static void
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
		r->vcs[r->naux] = a->vcs;
		r->cpu[r->naux] = a->cpu_us;
		r->flt[r->naux] = a->flt;
		r->naux++;
	}
	r->n++;
}

static double
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

static double
min_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++) {
		m = v[i] < m ? v[i] : m;
	}
	return m;
}

static double
max_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++) {
		m = v[i] > m ? v[i] : m;
	}
	return m;
}

// table_median gives the median of a figure; false if it was not measured.
static bool
table_median(bench_table *t, const char *id, double *m)
{
	bench_row *r = table_find(t, id);

	if (r == NULL || r->n == 0) {
		return false;
	}
	*m = median_of(r->v, r->n);
	return true;
}

// The watchdog.

typedef struct watchdog {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	pthread_t       t;
	// Guarded by mu:
	char       what[64];
	int64_t    deadline_ns; // 0: disarmed
	bool       fired;
	bool       quit;
	drpc_conn *conns[WD_MAX_CONNS];
	size_t     nconns;
	int        fds[WD_MAX_FDS];
	size_t     nfds;
} watchdog;

// wd_fire_locked ends the workload's I/O: blocked calls fail at once.
static void
wd_fire_locked(watchdog *wd)
{
	fprintf(stderr,
	    "drpc-bench: %s: still running past its time budget; closing "
	    "its connections\n",
	    wd->what);
	wd->fired = true;
	for (size_t i = 0; i < wd->nconns; i++) {
		drpc_conn_close(wd->conns[i]);
	}
	for (size_t i = 0; i < wd->nfds; i++) {
		(void) shutdown(wd->fds[i], SHUT_RDWR);
	}
	wd->deadline_ns = now_ns() + WD_GRACE_NS;
}

static void *
wd_main(void *arg)
{
	watchdog *wd = arg;

	pthread_mutex_lock(&wd->mu);
	while (!wd->quit) {
		struct timespec ts;
		int64_t         dl = wd->deadline_ns;

		if (dl == 0) {
			pthread_cond_wait(&wd->cv, &wd->mu);
			continue;
		}
		if (now_ns() < dl) {
			ts.tv_sec  = (time_t) (dl / NS_PER_S);
			ts.tv_nsec = (long) (dl % NS_PER_S);
			(void) pthread_cond_timedwait(&wd->cv, &wd->mu, &ts);
			continue;
		}
		if (!wd->fired) {
			wd_fire_locked(wd);
			continue;
		}
		fprintf(stderr,
		    "drpc-bench: %s: did not end 15 s after its connections "
		    "were closed; exiting\n",
		    wd->what);
		_exit(3);
	}
	pthread_mutex_unlock(&wd->mu);
	return NULL;
}

static int
wd_start(watchdog *wd)
{
	pthread_condattr_t attr;
	int                rv;

	memset(wd, 0, sizeof(*wd));
	if ((rv = pthread_mutex_init(&wd->mu, NULL)) != 0) {
		return rv;
	}
	if ((rv = pthread_condattr_init(&attr)) != 0) {
		return rv;
	}
	rv = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rv == 0) {
		rv = pthread_cond_init(&wd->cv, &attr);
	}
	pthread_condattr_destroy(&attr);
	if (rv != 0) {
		return rv;
	}
	return start_thread(&wd->t, wd_main, wd);
}

static void
wd_stop(watchdog *wd)
{
	pthread_mutex_lock(&wd->mu);
	wd->quit = true;
	pthread_cond_signal(&wd->cv);
	pthread_mutex_unlock(&wd->mu);
	pthread_join(wd->t, NULL);
	pthread_cond_destroy(&wd->cv);
	pthread_mutex_destroy(&wd->mu);
}

static void
wd_arm(watchdog *wd, const char *what, int64_t budget_ns)
{
	pthread_mutex_lock(&wd->mu);
	snprintf(wd->what, sizeof(wd->what), "%s", what);
	wd->deadline_ns = now_ns() + budget_ns;
	wd->fired       = false;
	wd->nconns      = 0;
	wd->nfds        = 0;
	pthread_cond_signal(&wd->cv);
	pthread_mutex_unlock(&wd->mu);
}

static void
wd_watch_conn(watchdog *wd, drpc_conn *c)
{
	pthread_mutex_lock(&wd->mu);
	if (wd->nconns < WD_MAX_CONNS) {
		wd->conns[wd->nconns++] = c;
	}
	pthread_mutex_unlock(&wd->mu);
}

static void
wd_watch_fd(watchdog *wd, int fd)
{
	pthread_mutex_lock(&wd->mu);
	if (wd->nfds < WD_MAX_FDS) {
		wd->fds[wd->nfds++] = fd;
	}
	pthread_mutex_unlock(&wd->mu);
}

// wd_disarm ends the watch (it must come before the watched connections
// and sockets are destroyed) and tells whether the watchdog fired.
static bool
wd_disarm(watchdog *wd)
{
	bool fired;

	pthread_mutex_lock(&wd->mu);
	fired           = wd->fired;
	wd->deadline_ns = 0;
	wd->fired       = false;
	wd->nconns      = 0;
	wd->nfds        = 0;
	pthread_mutex_unlock(&wd->mu);
	return fired;
}

// Addresses and raw sockets.

// split_tcp_addr splits "tcp://host:port" (host may be "[v6]").
static bool
split_tcp_addr(
    const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *p = addr;
	const char *colon;
	size_t      hlen;

	if (strncmp(p, "tcp://", 6) != 0) {
		return false;
	}
	p += 6;
	if (*p == '[') {
		const char *end = strchr(p, ']');

		if (end == NULL || end[1] != ':') {
			return false;
		}
		hlen  = (size_t) (end - p - 1);
		colon = end + 1;
		p++;
	} else {
		if ((colon = strrchr(p, ':')) == NULL) {
			return false;
		}
		hlen = (size_t) (colon - p);
	}
	if (hlen == 0 || hlen >= hcap || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= pcap) {
		return false;
	}
	memcpy(host, p, hlen);
	host[hlen] = '\0';
	snprintf(port, pcap, "%s", colon + 1);
	return true;
}

static void
set_nodelay(int fd)
{
	int one = 1;

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// raw_dial connects to host:port; 0 or an errno (EAI failures: EHOSTUNREACH).
static int
raw_dial(const char *host, const char *port, int *fdp)
{
	struct addrinfo  hints;
	struct addrinfo *res;
	int              fd = -1;
	int              err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		return EHOSTUNREACH;
	}
	err = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			break;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		return err;
	}
	set_nodelay(fd);
	*fdp = fd;
	return 0;
}

// raw_listen listens on host, port 0; *portp gets the port chosen.
static int
raw_listen(const char *host, int *fdp, uint16_t *portp)
{
	struct addrinfo         hints;
	struct addrinfo        *res;
	struct sockaddr_storage ss;
	socklen_t               sl  = sizeof(ss);
	int                     fd  = -1;
	int                     one = 1;
	int                     err = EADDRNOTAVAIL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags    = AI_PASSIVE;
	if (getaddrinfo(host, "0", &hints, &res) != 0) {
		return EADDRNOTAVAIL;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		(void) setsockopt(
		    fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 256) == 0) {
			break;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		return err;
	}
	if (getsockname(fd, (struct sockaddr *) &ss, &sl) != 0) {
		err = errno;
		close(fd);
		return err;
	}
	*portp = ss.ss_family == AF_INET6
	             ? ntohs(((struct sockaddr_in6 *) &ss)->sin6_port)
	             : ntohs(((struct sockaddr_in *) &ss)->sin_port);
	*fdp   = fd;
	return 0;
}

// sock_write_all writes every byte: 0 or an errno.
static int
sock_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

// raw_reader buffers a socket's input: one recv reads whatever is there.
typedef struct raw_reader {
	int      fd;
	uint8_t *buf;
	size_t   cap;
	size_t   pos;
	size_t   end;
} raw_reader;

static int
rd_init(raw_reader *rd, int fd)
{
	rd->fd  = fd;
	rd->cap = RAW_RDBUF;
	rd->pos = 0;
	rd->end = 0;
	rd->buf = malloc(rd->cap);
	return rd->buf != NULL ? 0 : ENOMEM;
}

static void
rd_fini(raw_reader *rd)
{
	free(rd->buf);
	rd->buf = NULL;
}

// rd_recv reads once into the free space: 0, RAW_EOF or an errno.
static int
rd_recv(raw_reader *rd)
{
	for (;;) {
		ssize_t n =
		    recv(rd->fd, rd->buf + rd->end, rd->cap - rd->end, 0);

		if (n > 0) {
			rd->end += (size_t) n;
			return 0;
		}
		if (n == 0) {
			return RAW_EOF;
		}
		if (errno != EINTR) {
			return errno;
		}
	}
}

// rd_need makes n (<= cap) bytes available at buf + pos.
static int
rd_need(raw_reader *rd, size_t n)
{
	int rv;

	if (rd->end - rd->pos >= n) {
		return 0;
	}
	if (rd->pos > 0) {
		memmove(rd->buf, rd->buf + rd->pos, rd->end - rd->pos);
		rd->end -= rd->pos;
		rd->pos = 0;
	}
	while (rd->end < n) {
		if ((rv = rd_recv(rd)) != 0) {
			return rv;
		}
	}
	return 0;
}

// rd_skip consumes n bytes (any number) without keeping them.
static int
rd_skip(raw_reader *rd, size_t n)
{
	int rv;

	while (n > 0) {
		size_t avail = rd->end - rd->pos;

		if (avail == 0) {
			rd->pos = 0;
			rd->end = 0;
			if ((rv = rd_recv(rd)) != 0) {
				return rv;
			}
			continue;
		}
		avail = avail < n ? avail : n;
		rd->pos += avail;
		n -= avail;
	}
	return 0;
}

static const char *
raw_strerror(int rv)
{
	return rv == RAW_EOF ? "connection closed by the peer" : strerror(rv);
}

// The raw server: an accept thread and a thread per connection.

typedef struct raw_conn {
	int              fd;
	pthread_t        t;
	atomic_bool      done;
	struct raw_conn *next;
} raw_conn;

typedef struct raw_server {
	int             lfd;
	uint16_t        port;
	pthread_t       t;
	pthread_mutex_t mu;
	raw_conn       *conns; // guarded by mu
} raw_server;

static void
raw_serve_echo(raw_reader *rd)
{
	for (;;) {
		uint32_t len;

		if (rd_need(rd, 4) != 0) {
			return;
		}
		len = get_u32(rd->buf + rd->pos);
		if (len > rd->cap - 4 || rd_need(rd, 4 + (size_t) len) != 0) {
			return;
		}
		if (sock_write_all(
		        rd->fd, rd->buf + rd->pos, 4 + (size_t) len) != 0) {
			return;
		}
		rd->pos += 4 + (size_t) len;
	}
}

static void
raw_serve_send(int fd, uint32_t size, uint32_t ms)
{
	uint8_t *msg = malloc(4 + (size_t) size);
	uint8_t  end[4];
	int64_t  stop = now_ns() + (int64_t) ms * NS_PER_MS;

	if (msg == NULL) {
		return;
	}
	put_u32(msg, size);
	fill_pattern(msg + 4, size);
	do {
		if (sock_write_all(fd, msg, 4 + (size_t) size) != 0) {
			free(msg);
			return;
		}
	} while (now_ns() < stop);
	free(msg);
	put_u32(end, RAW_END);
	(void) sock_write_all(fd, end, sizeof(end));
}

// raw_serve_send_batched is raw_serve_send with whole messages gathered
// into writes of up to RAW_BATCH bytes (a larger message goes alone). The
// messages are all alike, so the batch is built once.
static void
raw_serve_send_batched(int fd, uint32_t size, uint32_t ms)
{
	size_t   one = 4 + (size_t) size;
	size_t   k   = one >= RAW_BATCH ? 1 : RAW_BATCH / one;
	uint8_t *buf = malloc(k * one);
	uint8_t  end[4];
	int64_t  stop = now_ns() + (int64_t) ms * NS_PER_MS;

	if (buf == NULL) {
		return;
	}
	for (size_t i = 0; i < k; i++) {
		put_u32(buf + i * one, size);
		fill_pattern(buf + i * one + 4, size);
	}
	do {
		if (sock_write_all(fd, buf, k * one) != 0) {
			free(buf);
			return;
		}
	} while (now_ns() < stop);
	free(buf);
	put_u32(end, RAW_END);
	(void) sock_write_all(fd, end, sizeof(end));
}

static void *
raw_conn_main(void *arg)
{
	raw_conn  *rc = arg;
	raw_reader rd;

	if (rd_init(&rd, rc->fd) == 0 && rd_need(&rd, RAW_CMD_LEN) == 0) {
		uint32_t op   = get_u32(rd.buf);
		uint32_t size = get_u32(rd.buf + 4);
		uint32_t ms   = get_u32(rd.buf + 8);

		rd.pos = RAW_CMD_LEN;
		if (op == RAW_OP_ECHO) {
			raw_serve_echo(&rd);
		} else if (op == RAW_OP_SEND && size <= ((uint32_t) 64 << 20)) {
			raw_serve_send(rc->fd, size, ms);
		} else if (op == RAW_OP_SEND_BATCHED &&
		           size <= ((uint32_t) 64 << 20)) {
			raw_serve_send_batched(rc->fd, size, ms);
		}
	}
	rd_fini(&rd);
	atomic_store(&rc->done, true);
	return NULL;
}

// raw_reap_locked joins connections whose thread has finished (all of
// them, after a shutdown, when all is set).
static void
raw_reap_locked(raw_server *rs, bool all)
{
	raw_conn **pp = &rs->conns;

	while (*pp != NULL) {
		raw_conn *rc = *pp;

		if (!all && !atomic_load(&rc->done)) {
			pp = &rc->next;
			continue;
		}
		*pp = rc->next;
		if (all) {
			(void) shutdown(rc->fd, SHUT_RDWR);
		}
		pthread_join(rc->t, NULL);
		close(rc->fd);
		free(rc);
	}
}

static void *
raw_accept_main(void *arg)
{
	raw_server *rs = arg;

	for (;;) {
		raw_conn *rc;
		int       fd = accept(rs->lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			break; // shut down
		}
		set_nodelay(fd);
		if ((rc = calloc(1, sizeof(*rc))) == NULL) {
			close(fd);
			continue;
		}
		rc->fd = fd;
		atomic_init(&rc->done, false);
		pthread_mutex_lock(&rs->mu);
		raw_reap_locked(rs, false);
		if (start_thread(&rc->t, raw_conn_main, rc) != 0) {
			fprintf(stderr, "drpc-bench: raw server: cannot start "
			                "a thread; connection refused\n");
			close(fd);
			free(rc);
		} else {
			rc->next  = rs->conns;
			rs->conns = rc;
		}
		pthread_mutex_unlock(&rs->mu);
	}
	return NULL;
}

static int
raw_server_start(raw_server *rs, const char *host)
{
	int rv;

	memset(rs, 0, sizeof(*rs));
	if ((rv = raw_listen(host, &rs->lfd, &rs->port)) != 0) {
		return rv;
	}
	if ((rv = pthread_mutex_init(&rs->mu, NULL)) != 0) {
		close(rs->lfd);
		return rv;
	}
	if ((rv = start_thread(&rs->t, raw_accept_main, rs)) != 0) {
		pthread_mutex_destroy(&rs->mu);
		close(rs->lfd);
	}
	return rv;
}

static void
raw_server_stop(raw_server *rs)
{
	(void) shutdown(rs->lfd, SHUT_RDWR);
	pthread_join(rs->t, NULL);
	close(rs->lfd);
	pthread_mutex_lock(&rs->mu);
	raw_reap_locked(rs, true);
	pthread_mutex_unlock(&rs->mu);
	pthread_mutex_destroy(&rs->mu);
}

// The DRPC server's handlers.

typedef struct bench_server {
	drpc_mux    *mux;
	drpc_server *srv;
	raw_server   raw;
	bool         raw_up;
	size_t       idle_workers; // the pool's effective setting
	size_t       handler_stack;
	char         addr[300];
} bench_server;

// h_unary echoes the request.
static drpc_err
h_unary(drpc_stream *s, void *user)
{
	const void *req;
	size_t      len;
	drpc_err    rv;

	(void) user;
	if ((rv = drpc_stream_recv_view(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	rv = drpc_stream_send_last(s, len > 0 ? req : "", len);
	drpc_stream_recv_done(s);
	return rv;
}

// h_download: the request is (size, ms); messages of size bytes go back
// to back for ms milliseconds.
static drpc_err
h_download(drpc_stream *s, void *user)
{
	const void *req;
	size_t      len;
	uint32_t    size;
	uint32_t    ms;
	uint8_t    *msg;
	int64_t     stop;
	drpc_err    rv;

	(void) user;
	if ((rv = drpc_stream_recv_view(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	if (len != 8) {
		drpc_stream_recv_done(s);
		return DRPC_EINVAL;
	}
	size = get_u32(req);
	ms   = get_u32((const uint8_t *) req + 4);
	drpc_stream_recv_done(s);
	if (size == 0 || size > ((uint32_t) 4 << 20)) {
		return DRPC_EINVAL;
	}
	if ((msg = malloc(size)) == NULL) {
		return DRPC_ENOMEM;
	}
	fill_pattern(msg, size);
	stop = now_ns() + (int64_t) ms * NS_PER_MS;
	do {
		rv = drpc_stream_send(s, msg, size);
	} while (rv == DRPC_OK && now_ns() < stop);
	free(msg);
	return rv;
}

// h_upload counts what the client sends and answers (messages, bytes).
// It acknowledges the first message at once, so that a client run with
// --workarounds can wait until a handler runs before it streams: before
// e37f44c the reader handed a new stream to a handler only before its
// next read, and blocked first if the stream's ring filled
// (docs/benchmarks.md).
static drpc_err
h_upload(drpc_stream *s, void *user)
{
	const void *m;
	size_t      len;
	uint64_t    msgs  = 0;
	uint64_t    bytes = 0;
	uint8_t     reply[16];
	drpc_err    rv;

	(void) user;
	while ((rv = drpc_stream_recv_view(s, &m, &len)) == DRPC_OK) {
		msgs++;
		bytes += len;
		drpc_stream_recv_done(s);
		if (msgs == 1) {
			fill_pattern(reply, sizeof(reply));
			if ((rv = drpc_stream_send(s, reply, sizeof(reply))) !=
			    DRPC_OK) {
				return rv;
			}
		}
	}
	if (rv != DRPC_EOF) {
		return rv;
	}
	put_u64(reply, msgs);
	put_u64(reply + 8, bytes);
	return drpc_stream_send(s, reply, sizeof(reply));
}

// h_bidi echoes every message until the client closes its side.
static drpc_err
h_bidi(drpc_stream *s, void *user)
{
	const void *m;
	size_t      len;
	drpc_err    rv;

	(void) user;
	while ((rv = drpc_stream_recv_view(s, &m, &len)) == DRPC_OK) {
		rv = drpc_stream_send(s, len > 0 ? m : "", len);
		drpc_stream_recv_done(s);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// h_idle acknowledges the request, then blocks in recv until the client
// ends the stream: an open, idle server-streaming call.
static drpc_err
h_idle(drpc_stream *s, void *user)
{
	const void *m;
	size_t      len;
	uint8_t     ack[BENCH_SMALL];
	drpc_err    rv;

	(void) user;
	if ((rv = drpc_stream_recv_view(s, &m, &len)) != DRPC_OK) {
		return rv;
	}
	drpc_stream_recv_done(s);
	fill_pattern(ack, sizeof(ack));
	if ((rv = drpc_stream_send(s, ack, sizeof(ack))) != DRPC_OK) {
		return rv;
	}
	while ((rv = drpc_stream_recv_view(s, &m, &len)) == DRPC_OK) {
		drpc_stream_recv_done(s);
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// h_stall never reads: it waits until the client cancels the stream or
// the connection ends (the flow workload's stalled stream).
static drpc_err
h_stall(drpc_stream *s, void *user)
{
	(void) user;
	return drpc_ctx_wait(drpc_stream_ctx(s), 0);
}

// h_info answers "rss_kib=R threads=T raw_port=P idle_workers=I
// handler_stack=S" about the server.
static drpc_err
h_info(drpc_stream *s, void *user)
{
	const bench_server *bs = user;
	const void         *m;
	size_t              len;
	char                text[192];
	int                 n;
	drpc_err            rv;

	if ((rv = drpc_stream_recv_view(s, &m, &len)) != DRPC_OK) {
		return rv;
	}
	drpc_stream_recv_done(s);
	n = snprintf(text, sizeof(text),
	    "rss_kib=%ld threads=%ld raw_port=%u idle_workers=%zu "
	    "handler_stack=%zu",
	    proc_status_field("VmRSS:"), proc_status_field("Threads:"),
	    (unsigned) bs->raw.port, bs->idle_workers, bs->handler_stack);
	return drpc_stream_send(s, text, (size_t) n);
}

// bench_server_opts is the options of the bench's servers: those of the
// command line, and the flow control mode given.
static drpc_server_opts
bench_server_opts(const bench_cfg *cfg, drpc_flow_mode flow)
{
	drpc_server_opts o = {0};

	o.handler_stack = cfg->handler_stack;
	o.idle_workers  = cfg->idle_workers;
	o.flow          = flow;
	// streams-scale holds 10,000 idle streams (and handlers) on one
	// connection: past the server's default caps (256 streams per
	// connection, 1024 handlers), which guard servers facing clients
	// they do not control.
	o.max_streams  = SIZE_MAX;
	o.max_handlers = SIZE_MAX;
	return o;
}

static drpc_err
bench_server_start(bench_server *bs, const bench_cfg *cfg, const char *addr)
{
	drpc_server_opts o = bench_server_opts(cfg, DRPC_FLOW_AUTO);
	char             host[256];
	char             port[16];
	drpc_err         rv;
	int              err;

	memset(bs, 0, sizeof(*bs));
	bs->idle_workers =
	    cfg->idle_workers != 0 ? cfg->idle_workers : LIB_IDLE_WORKERS;
	bs->handler_stack = cfg->handler_stack;
	if ((rv = drpc_mux_create(&bs->mux)) != DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_UNARY, h_unary, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_DOWNLOAD, h_download, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_UPLOAD, h_upload, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_BIDI, h_bidi, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_IDLE, h_idle, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_STALL, h_stall, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_INFO, h_info, bs)) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: mux: %s\n", drpc_strerror(rv));
		return rv;
	}
	if ((rv = drpc_server_create(&bs->srv, bs->mux, &o)) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: server: %s\n", drpc_strerror(rv));
		return rv;
	}
	if ((rv = drpc_server_listen(bs->srv, addr)) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: listen %s: %s\n", addr,
		    drpc_strerror(rv));
		return rv;
	}
	if ((rv = drpc_server_addr(bs->srv, bs->addr, sizeof(bs->addr))) !=
	    DRPC_OK) {
		fprintf(stderr, "drpc-bench: server address: %s\n",
		    drpc_strerror(rv));
		return rv;
	}
	if (!split_tcp_addr(bs->addr, host, sizeof(host), port, sizeof(port))) {
		fprintf(stderr,
		    "drpc-bench: %s: the raw baseline needs a tcp:// address\n",
		    bs->addr);
		return DRPC_EINVAL;
	}
	if ((err = raw_server_start(&bs->raw, host)) != 0) {
		fprintf(stderr, "drpc-bench: raw listener on %s: %s\n", host,
		    strerror(err));
		return DRPC_EUNAVAIL;
	}
	bs->raw_up = true;
	return DRPC_OK;
}

// server_stop shuts srv down (NULL is a no-op) and frees it.
static void
server_stop(drpc_server *srv)
{
	drpc_err rv;

	if (srv == NULL) {
		return;
	}
	rv = drpc_server_shutdown(srv, drpc_now_ns() + 2 * NS_PER_S);
	if (rv != DRPC_OK) {
		fprintf(stderr, "drpc-bench: server shutdown: %s\n",
		    drpc_strerror(rv));
	}
	drpc_server_destroy(srv);
}

static void
bench_server_stop(bench_server *bs)
{
	server_stop(bs->srv);
	if (bs->raw_up) {
		raw_server_stop(&bs->raw);
	}
	drpc_mux_destroy(bs->mux);
}

// The client side.

typedef struct bench {
	bench_cfg   cfg;
	const char *addr;      // the DRPC server the workloads dial
	char        host[256]; // the raw server's host and port
	char        raw_port[16];
	bool        remote;           // the server is another process
	drpc_mux   *mux;              // the local server's (NULL: remote)
	int         rep;              // the repetition running, from 0
	int64_t     run_ns;           // the whole run: wall time,
	int64_t     run_busy_ns;      // every CPU's busy time,
	int64_t     run_own_ns;       // this process's CPU time
	size_t      srv_idle_workers; // as the server reports them
	size_t      srv_handler_stack;
	unsigned    failed; // W_* bits of workloads that failed
	watchdog    wd;
	bench_table tab;
} bench;

static void
report_call(const char *what, drpc_err rv, const drpc_status *st)
{
	const char *msg = st != NULL && st->message != NULL ? st->message : "";

	fprintf(stderr, "drpc-bench: %s: %s (%s)%s%s\n", what,
	    drpc_strerror(rv), drpc_err_name(rv), *msg != '\0' ? ": " : "",
	    msg);
}

// report_stream reports a failed stream operation with the stream's
// status (the peer's error text, if it sent one).
static void
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
static bool
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

static bool
bench_dial(const bench *b, const char *wl, drpc_conn **cp)
{
	return dial_to(wl, b->addr, NULL, cp);
}

typedef struct server_info {
	long     rss_kib;
	long     threads;
	unsigned raw_port;
	size_t   idle_workers;
	size_t   handler_stack;
} server_info;

// bench_info asks the server about itself.
static bool
bench_info(drpc_conn *c, server_info *si)
{
	void       *reply;
	size_t      len;
	char        text[192];
	drpc_status st = {0};
	drpc_err    rv;

	rv = drpc_invoke(c, NULL, M_INFO, "", 0, NULL, &reply, &len, &st);
	if (rv != DRPC_OK) {
		report_call("info call", rv, &st);
		drpc_status_reset(&st);
		return false;
	}
	snprintf(text, sizeof(text), "%.*s", (int) len,
	    reply != NULL ? (const char *) reply : "");
	drpc_free(reply);
	if (sscanf(text,
	        "rss_kib=%ld threads=%ld raw_port=%u idle_workers=%zu "
	        "handler_stack=%zu",
	        &si->rss_kib, &si->threads, &si->raw_port, &si->idle_workers,
	        &si->handler_stack) != 5) {
		fprintf(stderr, "drpc-bench: info: unexpected reply \"%s\"\n",
		    text);
		return false;
	}
	return true;
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
static bool
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
static void
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

static int64_t
latency_budget(const bench *b)
{
	// 2 ms a round trip is 40 times what this machine needs.
	return 20 * NS_PER_S + (int64_t) b->cfg.lat_calls * 2 * NS_PER_MS;
}

static bool
wl_unary_latency(bench *b)
{
	const char *wl = "unary-latency";
	size_t      n  = b->cfg.lat_calls;
	int64_t    *lat;
	drpc_conn  *c;
	uint8_t     req[BENCH_SMALL];
	usage       u0;
	usage       u1 = {0, 0, 0};
	bool        ok;
	aux         a;

	fill_pattern(req, sizeof(req));
	if ((lat = malloc(n * sizeof(*lat))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if (!bench_dial(b, wl, &c)) {
		free(lat);
		return false;
	}
	wd_arm(&b->wd, wl, latency_budget(b));
	wd_watch_conn(&b->wd, c);
	u0 = usage_now();
	ok = unary_calls(c, wl, req, BENCH_WARMUP, NULL);
	if (ok) {
		u0 = usage_now();
		ok = unary_calls(c, wl, req, n, lat);
		u1 = usage_now();
	}
	ok = !wd_disarm(&b->wd) && ok;
	drpc_conn_destroy(c);
	if (ok) {
		a = aux_per_op(u0, u1, (double) n);
		record_latency(
		    b, "unary.latency", wl, "16 B", "raw.pingpong", lat, n, &a);
	}
	free(lat);
	return ok;
}

// Unary throughput: N callers on one connection.

typedef struct tput_shared {
	drpc_conn  *c;
	gate        start;
	int64_t     stop_ns; // set before the gate opens
	atomic_bool abort;
} tput_shared;

typedef struct tput_worker {
	tput_shared *sh;
	pthread_t    t;
	uint64_t     calls;
	bool         failed;
} tput_worker;

static void *
tput_main(void *arg)
{
	tput_worker *w  = arg;
	tput_shared *sh = w->sh;
	uint8_t      req[BENCH_SMALL];

	fill_pattern(req, sizeof(req));
	gate_wait(&sh->start);
	while (!atomic_load_explicit(&sh->abort, memory_order_relaxed) &&
	       now_ns() < sh->stop_ns) {
		if (!unary_one(
		        sh->c, "unary-throughput", req, (size_t) w->calls)) {
			w->failed = true;
			atomic_store(&sh->abort, true);
			break;
		}
		w->calls++;
	}
	return NULL;
}

static bool
tput_run(bench *b, size_t nthreads)
{
	const char  *wl = "unary-throughput";
	tput_shared  sh;
	tput_worker *w;
	size_t       started = 0;
	uint64_t     calls   = 0;
	int64_t      t0;
	int64_t      t1;
	uint8_t      req[BENCH_SMALL];
	usage        u0;
	usage        u1;
	bool         ok = true;
	int          err;

	fill_pattern(req, sizeof(req));
	memset(&sh, 0, sizeof(sh));
	atomic_init(&sh.abort, false);
	if ((w = calloc(nthreads, sizeof(*w))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if (!bench_dial(b, wl, &sh.c)) {
		free(w);
		return false;
	}
	if ((err = gate_init(&sh.start)) != 0) {
		fprintf(
		    stderr, "drpc-bench: %s: gate: %s\n", wl, strerror(err));
		drpc_conn_destroy(sh.c);
		free(w);
		return false;
	}
	wd_arm(&b->wd, wl, b->cfg.tput_ns + 30 * NS_PER_S);
	wd_watch_conn(&b->wd, sh.c);
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
	if (!ok) {
		// The callers that started stop at once.
		atomic_store(&sh.abort, true);
	}
	u0         = usage_now();
	t0         = now_ns();
	sh.stop_ns = t0 + b->cfg.tput_ns;
	gate_open(&sh.start);
	for (size_t i = 0; i < started; i++) {
		pthread_join(w[i].t, NULL);
		calls += w[i].calls;
		ok = ok && !w[i].failed;
	}
	t1 = now_ns();
	u1 = usage_now();
	ok = !wd_disarm(&b->wd) && ok;
	gate_fini(&sh.start);
	drpc_conn_destroy(sh.c);
	free(w);
	if (ok) {
		char id[64];
		char label[64];
		aux  a = aux_per_op(u0, u1, (double) calls);

		snprintf(id, sizeof(id), "unary.tput.%zu.calls_s", nthreads);
		snprintf(label, sizeof(label), "%zu caller%s: calls/s",
		    nthreads, nthreads == 1 ? "" : "s");
		table_put(&b->tab, id, wl, label, "raw.pingpong32.rt_s",
		    (double) calls * 1e9 / (double) (t1 - t0), &a);
	}
	return ok;
}

static bool
wl_unary_throughput(bench *b)
{
	for (size_t i = 0; i < sizeof(tput_callers) / sizeof(*tput_callers);
	     i++) {
		if (!tput_run(b, tput_callers[i])) {
			return false;
		}
	}
	return true;
}

// Stream throughput.

// stream_down receives size-byte messages from the server for the
// configured time: (msgs, elapsed).
static bool
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
static drpc_err
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
static bool
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

static void
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

static bool
wl_stream_throughput(bench *b)
{
	const char *wl = "stream-throughput";
	size_t      nk = sizeof(stream_sizes) / sizeof(*stream_sizes);

	for (int up = 0; up < 2; up++) {
		for (size_t k = 0; k < nk; k++) {
			drpc_conn *c;
			uint64_t   msgs    = 0;
			int64_t    elapsed = 0;
			usage      u0;
			usage      u1;
			bool       ok;
			aux        a;

			if (!bench_dial(b, wl, &c)) {
				return false;
			}
			wd_arm(&b->wd, wl, b->cfg.stream_ns + 30 * NS_PER_S);
			wd_watch_conn(&b->wd, c);
			u0 = usage_now();
			ok = up ? stream_up(
			              b, c, stream_sizes[k], &msgs, &elapsed)
			        : stream_down(
			              b, c, stream_sizes[k], &msgs, &elapsed);
			u1 = usage_now();
			ok = !wd_disarm(&b->wd) && ok;
			drpc_conn_destroy(c);
			if (!ok) {
				return false;
			}
			a = aux_per_op(u0, u1, (double) msgs);
			record_stream(b, up ? "stream.client" : "stream.server",
			    wl, up ? "client stream " : "server stream ", k,
			    msgs, elapsed, &a);
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

static bool
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
	usage        u0;
	usage        u1 = {0, 0, 0};
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
	wd_arm(&b->wd, wl, latency_budget(b));
	wd_watch_conn(&b->wd, c);
	u0 = usage_now();
	if ((rv = drpc_stream_open(&s, c, NULL, M_BIDI, NULL)) != DRPC_OK) {
		report_call(wl, rv, NULL);
		s = NULL;
	} else if (bidi_round_trips(s, msg, BENCH_WARMUP, NULL)) {
		u0 = usage_now();
		ok = bidi_round_trips(s, msg, n, lat);
		u1 = usage_now();
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
		aux a = aux_per_op(u0, u1, (double) n);

		record_latency(b, "bidi.latency", wl, "16 B on one stream",
		    "raw.pingpong", lat, n, &a);
	}
	free(lat);
	return ok;
}

// Idle streams at scale.

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
	wd_arm(&b->wd, wl, 20 * NS_PER_S + (int64_t) n * NS_PER_MS);
	wd_watch_conn(&b->wd, c);
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

static bool
wl_streams_scale(bench *b)
{
	for (size_t i = 0; i < 2; i++) {
		if (!scale_run(b, b->cfg.scale_counts[i])) {
			return false;
		}
	}
	return true;
}

// Flow control: one client stream moves cfg.flow_total bytes in 64 KiB
// messages to the Upload handler, which reads and discards them and
// answers with its count; with flow control automatic (both ends'
// default) and off (both ends: a server of its own, with the local
// server's handlers), then automatic again beside a stream of the same
// connection whose handler never reads while a thread of ours keeps
// sending to it. The stalled case is not run with flow control off: it
// deadlocks by design (the reader stops at the stalled stream's full
// ring, and with it every stream of the connection).

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
	usage          u0        = {0, 0, 0};
	usage          u1        = {0, 0, 0};
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
	wd_arm(&b->wd, wl, 30 * NS_PER_S + (int64_t) total * 50);
	wd_watch_conn(&b->wd, c);
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

static bool
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

// The raw baseline.

static int
raw_open(const bench *b, uint32_t op, uint32_t size, uint32_t ms, int *fdp)
{
	uint8_t cmd[RAW_CMD_LEN];
	int     rv;

	if ((rv = raw_dial(b->host, b->raw_port, fdp)) != 0) {
		return rv;
	}
	put_u32(cmd, op);
	put_u32(cmd + 4, size);
	put_u32(cmd + 8, ms);
	if ((rv = sock_write_all(*fdp, cmd, sizeof(cmd))) != 0) {
		close(*fdp);
	}
	return rv;
}

// raw_pingpong makes n 16-byte round trips; lat may be NULL.
static int
raw_pingpong(raw_reader *rd, size_t n, int64_t *lat)
{
	uint8_t msg[4 + BENCH_SMALL];
	int     rv;

	put_u32(msg, BENCH_SMALL);
	fill_pattern(msg + 4, BENCH_SMALL);
	for (size_t i = 0; i < n; i++) {
		int64_t t0 = now_ns();

		if ((rv = sock_write_all(rd->fd, msg, sizeof(msg))) != 0 ||
		    (rv = rd_need(rd, sizeof(msg))) != 0) {
			return rv;
		}
		if (memcmp(rd->buf + rd->pos, msg, sizeof(msg)) != 0) {
			return EBADMSG;
		}
		rd->pos += sizeof(msg);
		if (lat != NULL) {
			lat[i] = now_ns() - t0;
		}
	}
	return 0;
}

static bool
raw_latency_run(bench *b)
{
	const char *wl = "raw-baseline";
	size_t      n  = b->cfg.lat_calls;
	int64_t    *lat;
	raw_reader  rd;
	int         fd;
	int         rv;
	usage       u0;
	usage       u1 = {0, 0, 0};

	if ((lat = malloc(n * sizeof(*lat))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if ((rv = raw_open(b, RAW_OP_ECHO, 0, 0, &fd)) != 0) {
		fprintf(stderr, "drpc-bench: %s: connect %s:%s: %s\n", wl,
		    b->host, b->raw_port, strerror(rv));
		free(lat);
		return false;
	}
	if ((rv = rd_init(&rd, fd)) == 0) {
		wd_arm(&b->wd, "raw-baseline ping-pong", latency_budget(b));
		wd_watch_fd(&b->wd, fd);
		rv = raw_pingpong(&rd, BENCH_WARMUP, NULL);
		if (rv == 0) {
			u0 = usage_now();
			rv = raw_pingpong(&rd, n, lat);
			u1 = usage_now();
		}
		if (wd_disarm(&b->wd) && rv == 0) {
			rv = ETIMEDOUT;
		}
		rd_fini(&rd);
	}
	close(fd);
	if (rv != 0) {
		fprintf(stderr, "drpc-bench: %s: ping-pong: %s\n", wl,
		    raw_strerror(rv));
		free(lat);
		return false;
	}
	aux a = aux_per_op(u0, u1, (double) n);
	record_latency(
	    b, "raw.pingpong", wl, "ping-pong 16 B", NULL, lat, n, &a);
	free(lat);
	return true;
}

// raw_stream_recv counts size-byte messages until the end marker.
static int
raw_stream_recv(raw_reader *rd, size_t size, uint64_t *msgs)
{
	int rv;

	for (;;) {
		uint32_t len;

		if ((rv = rd_need(rd, 4)) != 0) {
			return rv;
		}
		len = get_u32(rd->buf + rd->pos);
		rd->pos += 4;
		if (len == RAW_END) {
			return 0;
		}
		if (len != size) {
			return EBADMSG;
		}
		if ((rv = rd_skip(rd, len)) != 0) {
			return rv;
		}
		(*msgs)++;
	}
}

// raw_stream_one receives one stream of size-byte messages (text names
// the size) for the configured time: (msgs, elapsed, costs per message).
static bool
raw_stream_one(bench *b, bool batched, size_t size, const char *text,
    uint64_t *msgs, int64_t *elapsed, aux *a)
{
	const char *wl = "raw-baseline";
	raw_reader  rd;
	int64_t     t0 = now_ns();
	usage       u0 = usage_now();
	usage       u1;
	int         fd;
	int         rv;

	*msgs = 0;
	rv    = raw_open(b, batched ? RAW_OP_SEND_BATCHED : RAW_OP_SEND,
	       (uint32_t) size, (uint32_t) (b->cfg.stream_ns / NS_PER_MS), &fd);
	if (rv != 0) {
		fprintf(stderr, "drpc-bench: %s: connect %s:%s: %s\n", wl,
		    b->host, b->raw_port, strerror(rv));
		return false;
	}
	if ((rv = rd_init(&rd, fd)) == 0) {
		wd_arm(&b->wd, "raw-baseline stream",
		    b->cfg.stream_ns + 30 * NS_PER_S);
		wd_watch_fd(&b->wd, fd);
		rv = raw_stream_recv(&rd, size, msgs);
		if (wd_disarm(&b->wd) && rv == 0) {
			rv = ETIMEDOUT;
		}
		rd_fini(&rd);
	}
	*elapsed = now_ns() - t0;
	u1       = usage_now();
	close(fd);
	if (rv != 0) {
		fprintf(stderr, "drpc-bench: %s: stream of %s: %s\n", wl, text,
		    raw_strerror(rv));
		return false;
	}
	*a = aux_per_op(u0, u1, (double) *msgs);
	return true;
}

// raw_stream_run measures one direction: one send() per message, or
// (batched) 64 KiB writes, which only the small sizes differ by.
static bool
raw_stream_run(bench *b, bool batched)
{
	const char *wl = "raw-baseline";
	size_t      nk = sizeof(stream_sizes) / sizeof(*stream_sizes);

	for (size_t k = 0; k < nk; k++) {
		if (batched && stream_sizes[k] >= RAW_BATCH) {
			continue;
		}
		uint64_t msgs;
		int64_t  elapsed;
		aux      a;

		if (!raw_stream_one(b, batched, stream_sizes[k],
		        stream_size_text[k], &msgs, &elapsed, &a)) {
			return false;
		}
		if (batched) {
			record_stream(b, "raw.stream_batched", wl,
			    "64 KiB writes, stream ", k, msgs, elapsed, &a);
		} else {
			record_stream(b, "raw.stream", wl, "stream ", k, msgs,
			    elapsed, &a);
		}
	}
	return true;
}

// raw_flow_run measures the stream of 64 KiB messages the flow workload
// is divided by (one send() per message, which is also a 64 KiB write).
static bool
raw_flow_run(bench *b)
{
	uint64_t msgs;
	int64_t  elapsed;
	aux      a;

	if (!raw_stream_one(
	        b, false, FLOW_MSG, "64 KiB", &msgs, &elapsed, &a)) {
		return false;
	}
	table_put(&b->tab, "raw.stream.64KiB.mb_s", "raw-baseline",
	    "stream 64 KiB: MB/s", NULL,
	    (double) msgs * (double) FLOW_MSG / 1e6 / ((double) elapsed / 1e9),
	    &a);
	return true;
}

// The raw 32-connection ping-pong: the denominator of unary throughput.

#define RAW_PP_CONNS 32

typedef struct rawpp_shared {
	gate        start;
	int64_t     stop_ns; // set before the gate opens
	atomic_bool abort;
} rawpp_shared;

typedef struct rawpp_worker {
	rawpp_shared *sh;
	pthread_t     t;
	raw_reader    rd;
	uint64_t      trips;
	int           err;
} rawpp_worker;

static void *
rawpp_main(void *arg)
{
	rawpp_worker *w  = arg;
	rawpp_shared *sh = w->sh;

	gate_wait(&sh->start);
	while (!atomic_load_explicit(&sh->abort, memory_order_relaxed) &&
	       now_ns() < sh->stop_ns) {
		if ((w->err = raw_pingpong(&w->rd, 1, NULL)) != 0) {
			atomic_store(&sh->abort, true);
			break;
		}
		w->trips++;
	}
	return NULL;
}

static bool
raw_pp32_run(bench *b)
{
	const char   *wl = "raw-baseline";
	rawpp_shared  sh;
	rawpp_worker *w;
	size_t        nconn   = 0;
	size_t        started = 0;
	uint64_t      trips   = 0;
	int64_t       t0;
	int64_t       t1;
	usage         u0;
	usage         u1;
	bool          ok = true;
	int           rv;

	memset(&sh, 0, sizeof(sh));
	atomic_init(&sh.abort, false);
	if ((w = calloc(RAW_PP_CONNS, sizeof(*w))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if ((rv = gate_init(&sh.start)) != 0) {
		fprintf(stderr, "drpc-bench: %s: gate: %s\n", wl, strerror(rv));
		free(w);
		return false;
	}
	wd_arm(&b->wd, "raw-baseline 32 connections",
	    b->cfg.tput_ns + 30 * NS_PER_S);
	for (; nconn < RAW_PP_CONNS; nconn++) {
		int fd;

		w[nconn].sh = &sh;
		if ((rv = raw_open(b, RAW_OP_ECHO, 0, 0, &fd)) != 0) {
			fprintf(stderr, "drpc-bench: %s: connection %zu: %s\n",
			    wl, nconn + 1, strerror(rv));
			ok = false;
			break;
		}
		if ((rv = rd_init(&w[nconn].rd, fd)) != 0) {
			close(fd);
			ok = false;
			break;
		}
		wd_watch_fd(&b->wd, fd);
	}
	for (; ok && started < nconn; started++) {
		if ((rv = start_thread(
		         &w[started].t, rawpp_main, &w[started])) != 0) {
			fprintf(stderr, "drpc-bench: %s: thread: %s\n", wl,
			    strerror(rv));
			ok = false;
			break;
		}
	}
	if (!ok) {
		atomic_store(&sh.abort, true);
	}
	u0         = usage_now();
	t0         = now_ns();
	sh.stop_ns = t0 + b->cfg.tput_ns;
	gate_open(&sh.start);
	for (size_t i = 0; i < started; i++) {
		pthread_join(w[i].t, NULL);
		trips += w[i].trips;
		if (w[i].err != 0) {
			fprintf(stderr, "drpc-bench: %s: connection %zu: %s\n",
			    wl, i + 1, raw_strerror(w[i].err));
			ok = false;
		}
	}
	t1 = now_ns();
	u1 = usage_now();
	ok = !wd_disarm(&b->wd) && ok;
	for (size_t i = 0; i < nconn; i++) {
		close(w[i].rd.fd);
		rd_fini(&w[i].rd);
	}
	gate_fini(&sh.start);
	free(w);
	if (ok) {
		aux a = aux_per_op(u0, u1, (double) trips);

		table_put(&b->tab, "raw.pingpong32.rt_s", wl,
		    "32 conns ping-pong: trips/s", NULL,
		    (double) trips * 1e9 / (double) (t1 - t0), &a);
	}
	return ok;
}

static bool
wl_raw(bench *b, unsigned parts)
{
	if ((parts & (W_RAW | W_UNARY_LAT | W_BIDI_LAT)) != 0 &&
	    !raw_latency_run(b)) {
		return false;
	}
	if ((parts & (W_RAW | W_STREAM_TPUT)) != 0 &&
	    (!raw_stream_run(b, false) || !raw_stream_run(b, true))) {
		return false;
	}
	if ((parts & (W_RAW | W_UNARY_TPUT)) != 0 && !raw_pp32_run(b)) {
		return false;
	}
	if ((parts & (W_RAW | W_FLOW)) != 0 && !raw_flow_run(b)) {
		return false;
	}
	return true;
}

// Targets (docs/benchmarks.md): each a bound on a figure, or on its
// ratio to another figure of the same run.

typedef enum target_op { T_LE, T_LT, T_GE } target_op;

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

static bool
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
static void
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
static void
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
static void
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

static void
print_table(bench *b)
{
	host_info h;
	char      num[48];
	char      lo[48];
	char      hi[48];
	char      cell[128];

	host_info_get(b, &h);
	printf("drpc-bench: libdrpc against plain TCP, measured in the same "
	       "run\n");
	printf("  mode:     %s\n", h.mode);
	printf("  host:     %s, %ld CPUs online, CPU affinity %s (%s)\n",
	    h.kernel, h.cpus, h.affinity, h.pinned ? "pinned" : "unpinned");
	printf("  build:    %s; %d repetition%s (figure = median, spread = "
	       "min-max)%s\n",
#ifdef __OPTIMIZE__
	    "optimized",
#else
	    "NOT optimized (use build/release)",
#endif
	    b->cfg.reps, b->cfg.reps == 1 ? "" : "s",
	    b->cfg.quick ? "; --quick (small counts: not for comparison)" : "");
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
	put_col("workload", 19, false);
	put_col("figure", 42, false);
	put_col("median", 13, true);
	put_col("spread", 25, true);
	put_col("×raw", 8, true);
	put_col("vcs/op", 8, true);
	put_col("cpu µs/op", 11, true);
	put_col("flt/op", 9, true);
	putchar('\n');
	for (size_t k = 0; k < b->tab.n; k++) {
		bench_row *r = &b->tab.rows[b->tab.order[k]];
		double     ref;

		put_col(r->workload, 19, false);
		put_col(r->what, 42, false);
		fmt_num(num, sizeof(num), median_of(r->v, r->n));
		put_col(num, 13, true);
		fmt_num(lo, sizeof(lo), min_of(r->v, r->n));
		fmt_num(hi, sizeof(hi), max_of(r->v, r->n));
		snprintf(cell, sizeof(cell), "%s–%s", lo, hi);
		put_col(cell, 25, true);
		if (r->ratio_to[0] != '\0' &&
		    table_median(&b->tab, r->ratio_to, &ref) && ref != 0) {
			snprintf(cell, sizeof(cell), "%.2f",
			    median_of(r->v, r->n) / ref);
		} else {
			snprintf(cell, sizeof(cell), "%s", "");
		}
		put_col(cell, 8, true);
		if (r->naux > 0) {
			fmt_num(num, sizeof(num), median_of(r->vcs, r->naux));
			put_col(num, 8, true);
			fmt_num(num, sizeof(num), median_of(r->cpu, r->naux));
			put_col(num, 11, true);
			fmt_num(num, sizeof(num), median_of(r->flt, r->naux));
			put_col(num, 9, true);
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

static void
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

static void
json_array(const double *v, int n)
{
	putchar('[');
	for (int i = 0; i < n; i++) {
		printf("%s%.3f", i > 0 ? "," : "", v[i]);
	}
	putchar(']');
}

static void
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
			printf(
			    ", \"vcs_per_op\": %.3f, \"cpu_us_per_op\": %.3f, "
			    "\"faults_per_op\": %.3f",
			    median_of(r->vcs, r->naux),
			    median_of(r->cpu, r->naux),
			    median_of(r->flt, r->naux));
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
			switch (bit) {
			case W_RAW:
				ok = wl_raw(b, only);
				break;
			case W_UNARY_LAT:
				ok = wl_unary_latency(b);
				break;
			case W_UNARY_TPUT:
				ok = wl_unary_throughput(b);
				break;
			case W_STREAM_TPUT:
				ok = wl_stream_throughput(b);
				break;
			case W_BIDI_LAT:
				ok = wl_bidi_latency(b);
				break;
			case W_SCALE:
				ok = wl_streams_scale(b);
				break;
			case W_FLOW:
				ok = wl_flow(b);
				break;
			default:
				break;
			}
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
	    "                     flow\n"
	    "                     (the raw figures a workload is compared "
	    "with always run)\n"
	    "  --reps N           repetitions per figure (default 3; 1 with "
	    "--quick; at most %d)\n"
	    "  --quick            a fast smoke run with small counts\n"
	    "  --json             machine-readable output\n"
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
	char              *end;
	unsigned long long x;

	errno = 0;
	x     = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || x > SIZE_MAX / 1024) {
		return false;
	}
	*v = (size_t) x;
	return true;
}

static bool
parse_args(int argc, char **argv, bench_cfg *cfg)
{
	int reps = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->only          = W_ALL;
	cfg->handler_stack = (size_t) 64 << 10;
	for (int i = 1; i < argc; i++) {
		const char *a   = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		size_t      v;

		if (strcmp(a, "--quick") == 0) {
			cfg->quick = true;
		} else if (strcmp(a, "--json") == 0) {
			cfg->json = true;
		} else if (strcmp(a, "--workarounds") == 0) {
			cfg->workarounds = true;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage_text(stdout);
			exit(0);
		} else if (val == NULL) {
			fprintf(stderr,
			    "drpc-bench: unknown option or missing "
			    "value: %s\n",
			    a);
			return false;
		} else if (strcmp(a, "--server") == 0) {
			cfg->serve_addr = val;
			i++;
		} else if (strcmp(a, "--client") == 0) {
			cfg->client_addr = val;
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
	cfg->reps = reps != 0 ? reps : cfg->quick ? 1 : 3;
	if (cfg->quick) {
		cfg->lat_calls       = 2000;
		cfg->tput_ns         = 200 * NS_PER_MS;
		cfg->stream_ns       = 150 * NS_PER_MS;
		cfg->scale_counts[0] = 100;
		cfg->scale_counts[1] = 1000;
		cfg->flow_total      = FLOW_TOTAL_QUICK;
	} else {
		cfg->lat_calls       = 20000;
		cfg->tput_ns         = 5 * NS_PER_S;
		cfg->stream_ns       = 2 * NS_PER_S;
		cfg->scale_counts[0] = 1000;
		cfg->scale_counts[1] = 10000;
		cfg->flow_total      = FLOW_TOTAL;
	}
	return true;
}

static int
run_server(const bench_cfg *cfg)
{
	bench_server bs;
	sigset_t     set;
	int          sig;
	int          err;

	// Block the signals before any thread starts, so only sigwait
	// gets them.
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if ((err = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0) {
		fprintf(
		    stderr, "drpc-bench: pthread_sigmask: %s\n", strerror(err));
		return 1;
	}
	if (bench_server_start(&bs, cfg, cfg->serve_addr) != DRPC_OK) {
		bench_server_stop(&bs);
		return 1;
	}
	printf("drpc-bench: serving on %s, raw baseline on port %u "
	       "(SIGINT or SIGTERM stops)\n",
	    bs.addr, (unsigned) bs.raw.port);
	fflush(stdout);
	if ((err = sigwait(&set, &sig)) != 0) {
		fprintf(stderr, "drpc-bench: sigwait: %s\n", strerror(err));
	}
	bench_server_stop(&bs);
	printf("drpc-bench: server stopped\n");
	return 0;
}

// bench_connect finds the raw baseline of the server at b->addr.
static bool
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
	local = b.cfg.client_addr == NULL;
	if (local) {
		if (bench_server_start(&bs, &b.cfg, "tcp://127.0.0.1:0") !=
		    DRPC_OK) {
			bench_server_stop(&bs);
			return 1;
		}
		b.addr = bs.addr;
		b.mux  = bs.mux;
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
	return status;
}
