// The example cmd/example-observe, run end to end as a user runs it (issue
// 18, item 7): its server in a child process on loopback TCP, its client
// and its health watcher in two more. The test checks what the example
// claims: the access log has one line per RPC with the right status, peer,
// connection and message counts; the Prometheus text parses and its counts
// equal the calls the client made (messages, payload bytes, connections);
// the call without the token got Unauthenticated (16); health answered
// SERVING, and a Watch saw NOT_SERVING once SIGTERM began the graceful
// shutdown. The children are built in the same variant as this suite, so
// the sanitizer runs check the example's locking and memory too.
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "suites.h"
#include "testutil.h"

#define OBS_TOKEN "t0ken"

// What the client (cmd/example-observe/client.c) and the watcher do, per
// method and final code: calls, and per call the messages and payload
// bytes the server received and sent (the protobuf encodings of its
// requests and replies).
typedef struct obs_row {
	const char *method, *code;
	int         calls, msgs_in, msgs_out, bytes_in, bytes_out;
} obs_row;

static const obs_row obs_rows[] = {
    {"/demo.Greeter/Hello", "OK", 3, 1, 1, 10, 10}, // name "observer"
    {"/demo.Greeter/Hello", "Unauthenticated", 1, 0, 0, 0, 0},
    {"/demo.Greeter/Count", "OK", 3, 1, 3, 2, 6},  // to 3; 1, 2, 3
    {"/demo.Greeter/Add", "OK", 3, 4, 1, 8, 4},    // 1..4; sum 10, count 4
    {"/demo.Greeter/Chat", "OK", 3, 2, 2, 12, 12}, // "ping" twice
    {"/grpc.health.v1.Health/Check", "OK", 1, 1, 1, 0, 2},
    {"/grpc.health.v1.Health/Watch", "OK", 1, 1, 2, 0, 4}, // SERVING, NOT_
};
#define OBS_ROWS  (sizeof(obs_rows) / sizeof(obs_rows[0]))
#define OBS_CALLS 15 // the sum of calls above
#define OBS_CONNS 3  // the client's two, the watcher's

// Children.

typedef struct obs_child {
	pid_t  pid;
	int    out;      // its stdout (a pipe), or -1
	char   buf[512]; // what was read of it and not yet taken as a line
	size_t have;
} obs_child;

static void
obs_exe(char *out, size_t cap)
{
	char    exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	ck_assert_ptr_nonnull(strrchr(exe, '/'));
	*strrchr(exe, '/') = '\0';
	ck_assert_int_lt(
	    snprintf(out, cap, "%s/../bin/example-observe", exe), (int) cap);
	ck_assert_msg(access(out, X_OK) == 0,
	    "%s: not found (make builds it with the tests)", out);
}

// obs_spawn runs example-observe with argv (argv[0] set here); its stdout
// goes to a pipe (out_path NULL) or to out_path, its stderr to err_path.
static void
obs_spawn(obs_child *c, char **argv, const char *out_path, const char *err_path)
{
	static char path[PATH_MAX + 32];
	int         pipefd[2] = {-1, -1};
	int         in, out, err;
	pid_t       parent = getpid();

	obs_exe(path, sizeof(path));
	argv[0] = path;
	memset(c, 0, sizeof(*c));
	ck_assert_int_ge(in = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
	ck_assert_int_ge(err = open(err_path,
	                     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
	    0);
	if (out_path == NULL) {
		ck_assert_int_eq(pipe(pipefd), 0);
		fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
		fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
		out = pipefd[1];
	} else {
		ck_assert_int_ge(
		    out = open(out_path,
		        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
		    0);
	}
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) { // async-signal-safe calls only, until exec
		(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || dup2(in, 0) < 0 ||
		    dup2(out, 1) < 0 || dup2(err, 2) < 0) {
			_exit(127);
		}
		execv(path, argv);
		_exit(127);
	}
	close(in);
	close(out);
	close(err);
	c->out = pipefd[0];
}

// obs_line reads the child's next stdout line (without its newline) into
// line; false if it ended or wrote none within the wait bound.
static bool
obs_line(obs_child *c, char *line, size_t cap)
{
	int64_t deadline = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);

	for (;;) {
		char         *nl  = memchr(c->buf, '\n', c->have);
		struct pollfd pfd = {c->out, POLLIN, 0};
		ssize_t       n;

		if (nl != NULL) {
			size_t len = (size_t) (nl - c->buf);

			snprintf(line, cap, "%.*s", (int) len, c->buf);
			c->have -= len + 1;
			memmove(c->buf, nl + 1, c->have);
			return true;
		}
		if (c->have == sizeof(c->buf) || drpc_now_ns() >= deadline) {
			return false;
		}
		if (poll(&pfd, 1, 100) <= 0) {
			continue;
		}
		if ((n = read(c->out, c->buf + c->have,
		         sizeof(c->buf) - c->have)) <= 0) {
			return false;
		}
		c->have += (size_t) n;
	}
}

// obs_exit waits (within the bound) for the child to exit and returns its
// exit status; -1 if it was killed or had to be.
static int
obs_exit(obs_child *c)
{
	int64_t deadline = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	int     status;

	while (waitpid(c->pid, &status, WNOHANG) == 0) {
		if (drpc_now_ns() >= deadline) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &status, 0);
			break;
		}
		struct timespec ts = {0, 10000000}; // a poll interval
		nanosleep(&ts, NULL);
	}
	if (c->out >= 0) {
		close(c->out);
		c->out = -1;
	}
	return WIFEXITED(status) && !WIFSIGNALED(status) ? WEXITSTATUS(status)
	                                                 : -1;
}

// The Prometheus text exposition format, as much of it as the example
// writes: "# TYPE name kind" before a family's samples, then samples
// `name{label="value",...} number`.

typedef struct obs_sample {
	char   name[64], labels[192];
	double value;
} obs_sample;

typedef struct obs_metrics {
	obs_sample s[512];
	size_t     n;
	char       families[16][64];
	size_t     nfamilies;
} obs_metrics;

static bool
obs_name_ok(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (!(ch == '_' || ch == ':' || (ch >= 'a' && ch <= 'z') ||
		        (ch >= 'A' && ch <= 'Z') ||
		        (i > 0 && ch >= '0' && ch <= '9'))) {
			return false;
		}
	}
	return len > 0;
}

// obs_labels_ok checks {k="v",k="v"} (p at '{', len to the '}' included).
static bool
obs_labels_ok(const char *p, size_t len)
{
	size_t i = 1;

	while (i < len - 1) {
		size_t k = strcspn(p + i, "=");

		if (!obs_name_ok(p + i, k) || p[i + k + 1] != '"') {
			return false;
		}
		i += k + 2;
		while (i < len - 1 && p[i] != '"') {
			i += p[i] == '\\' ? 2 : 1;
		}
		if (i >= len - 1 || (p[i + 1] != ',' && i + 1 != len - 1)) {
			return false;
		}
		i += 2;
	}
	return len >= 2 && p[len - 1] == '}';
}

// obs_parse parses text into m; on a malformed line it fails the test
// naming it.
static void
obs_parse(obs_metrics *m, char *text)
{
	memset(m, 0, sizeof(*m));
	for (char *line = strtok(text, "\n"); line != NULL;
	     line       = strtok(NULL, "\n")) {
		char        fam[64], kind[32], *end;
		const char *sp = strchr(line, ' ');
		size_t      nl;
		obs_sample *s = &m->s[m->n];

		if (line[0] == '#') {
			ck_assert_msg(
			    sscanf(line, "# TYPE %63s %31s", fam, kind) == 2 &&
			        (strcmp(kind, "counter") == 0 ||
			            strcmp(kind, "gauge") == 0 ||
			            strcmp(kind, "histogram") == 0),
			    "metrics: bad comment line: %s", line);
			ck_assert_uint_lt(m->nfamilies, 16);
			snprintf(m->families[m->nfamilies++], 64, "%s", fam);
			continue;
		}
		ck_assert_msg(sp != NULL, "metrics: no value: %s", line);
		nl = strcspn(line, "{ ");
		ck_assert_msg(obs_name_ok(line, nl) && nl < sizeof(s->name),
		    "metrics: bad name: %s", line);
		ck_assert_msg(line[nl] == ' ' || obs_labels_ok(line + nl,
		                                     (size_t) (sp - line) - nl),
		    "metrics: bad labels: %s", line);
		ck_assert_msg(
		    m->nfamilies > 0 &&
		        strncmp(line, m->families[m->nfamilies - 1],
		            strlen(m->families[m->nfamilies - 1])) == 0,
		    "metrics: a sample outside its family (no TYPE): %s", line);
		ck_assert_uint_lt(m->n, 512);
		snprintf(s->name, sizeof(s->name), "%.*s", (int) nl, line);
		snprintf(s->labels, sizeof(s->labels), "%.*s",
		    (int) (sp - line - (ptrdiff_t) nl), line + nl);
		errno    = 0;
		s->value = strtod(sp + 1, &end);
		ck_assert_msg(errno == 0 && end != sp + 1 && *end == '\0',
		    "metrics: bad value: %s", line);
		m->n++;
	}
	ck_assert_uint_gt(m->n, 0);
}

// obs_get is the value of the sample name{labels} (labels "" for none);
// -1 if there is none.
static double
obs_get(const obs_metrics *m, const char *name, const char *labels)
{
	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->s[i].name, name) == 0 &&
		    strcmp(m->s[i].labels, labels) == 0) {
			return m->s[i].value;
		}
	}
	return -1;
}

static double
obs_sum(const obs_metrics *m, const char *name)
{
	double sum = 0;

	for (size_t i = 0; i < m->n; i++) {
		sum += strcmp(m->s[i].name, name) == 0 ? m->s[i].value : 0;
	}
	return sum;
}

static void
obs_read_metrics(obs_metrics *m, const char *path)
{
	size_t len;
	char  *text = (char *) tu_read_file(path, &len);

	text = realloc(text, len + 1);
	ck_assert_ptr_nonnull(text);
	text[len] = '\0';
	obs_parse(m, text);
	free(text);
}

// obs_check_direction checks the message and byte counts of method's
// direction ("in" or "out") against the sums of obs_rows.
static void
obs_check_direction(const obs_metrics *m, const char *method,
    const char *direction, int msgs, int bytes)
{
	char labels[192];

	snprintf(labels, sizeof(labels), "{method=\"%s\",direction=\"%s\"}",
	    method, direction);
	ck_assert_msg(obs_get(m, "drpc_messages_total", labels) == msgs,
	    "drpc_messages_total%s: %g, want %d", labels,
	    obs_get(m, "drpc_messages_total", labels), msgs);
	ck_assert_msg(obs_get(m, "drpc_bytes_total", labels) == bytes,
	    "drpc_bytes_total%s: %g, want %d", labels,
	    obs_get(m, "drpc_bytes_total", labels), bytes);
}

// obs_check_metrics checks the final metrics against obs_rows.
static void
obs_check_metrics(const obs_metrics *m)
{
	char labels[192];

	ck_assert_double_eq(obs_sum(m, "drpc_rpcs_total"), OBS_CALLS);
	for (size_t i = 0; i < OBS_ROWS; i++) {
		const obs_row *r     = &obs_rows[i];
		int            calls = 0, in = 0, out = 0, bin = 0, bout = 0;

		snprintf(labels, sizeof(labels), "{method=\"%s\",code=\"%s\"}",
		    r->method, r->code);
		ck_assert_msg(obs_get(m, "drpc_rpcs_total", labels) == r->calls,
		    "drpc_rpcs_total%s: %g, want %d", labels,
		    obs_get(m, "drpc_rpcs_total", labels), r->calls);
		for (size_t j = 0; j < OBS_ROWS; j++) { // every code of method
			if (strcmp(obs_rows[j].method, r->method) == 0) {
				calls += obs_rows[j].calls;
				in += obs_rows[j].calls * obs_rows[j].msgs_in;
				out += obs_rows[j].calls * obs_rows[j].msgs_out;
				bin += obs_rows[j].calls * obs_rows[j].bytes_in;
				bout +=
				    obs_rows[j].calls * obs_rows[j].bytes_out;
			}
		}
		snprintf(labels, sizeof(labels), "{method=\"%s\"}", r->method);
		ck_assert_double_eq(
		    obs_get(m, "drpc_rpc_latency_seconds_count", labels),
		    calls);
		ck_assert_double_ge(
		    obs_get(m, "drpc_rpc_latency_seconds_sum", labels), 0);
		snprintf(labels, sizeof(labels), "{method=\"%s\",le=\"+Inf\"}",
		    r->method);
		ck_assert_double_eq(
		    obs_get(m, "drpc_rpc_latency_seconds_bucket", labels),
		    calls);
		obs_check_direction(m, r->method, "in", in, bin);
		obs_check_direction(m, r->method, "out", out, bout);
	}
	ck_assert_double_eq(
	    obs_get(m, "drpc_connections_total", ""), OBS_CONNS);
	ck_assert_double_eq(obs_get(m, "drpc_connections_open", ""), 0);
}

// obs_check_log checks the server's stderr: an access line per RPC, with
// the counts of obs_rows, and one warning, for the refused call; nothing
// else (a sanitizer's report would show here) but warnings about how a
// connection ended.
static void
obs_check_log(const char *path)
{
	size_t len;
	char  *text           = (char *) tu_read_file(path, &len);
	int    seen[OBS_ROWS] = {0}, lines = 0, warnings = 0;
	char   authed[17] = "", other[3][17];
	int    nother     = 0;

	text = realloc(text, len + 1);
	ck_assert_ptr_nonnull(text);
	text[len] = '\0';
	for (char *line = strtok(text, "\n"); line != NULL;
	     line       = strtok(NULL, "\n")) {
		char               when[32], method[128], peer[128], conn[17];
		char               code[32];
		long long          us;
		unsigned long long in, out;
		size_t             i;

		if (strncmp(line, "drpc: server connection ended: ", 31) == 0) {
			continue; // a client's close may race with the
			          // server's last frames (a reset): no fault
		}
		if (strncmp(line, "drpc: ", 6) == 0) {
			ck_assert_msg(
			    strstr(line, "/demo.Greeter/Hello failed: "
			                 "code 16") != NULL,
			    "unexpected warning: %s", line);
			warnings++;
			continue;
		}
		ck_assert_msg(
		    sscanf(line,
		        "access %31s %127s peer=%127s conn=%16[0-9a-f] "
		        "code=%31s latency_us=%lld in=%llu out=%llu",
		        when, method, peer, conn, code, &us, &in, &out) == 8,
		    "server stderr: unexpected line: %s", line);
		ck_assert_uint_eq(strlen(conn), 16);
		ck_assert_msg(strncmp(peer, "tcp://127.0.0.1:", 16) == 0,
		    "peer %s", peer);
		ck_assert_int_ge(us, 0);
		for (i = 0; i < OBS_ROWS; i++) {
			if (strcmp(obs_rows[i].method, method) == 0 &&
			    strcmp(obs_rows[i].code, code) == 0) {
				break;
			}
		}
		ck_assert_msg(i < OBS_ROWS, "an RPC not made: %s", line);
		ck_assert_msg(
		    in == (unsigned long long) obs_rows[i].msgs_in &&
		        out == (unsigned long long) obs_rows[i].msgs_out,
		    "wrong counts: %s", line);
		seen[i]++;
		lines++;
		// The client's authorised calls share a connection; the refused
		// one and the Watch came on two others.
		if (strcmp(code, "OK") == 0 &&
		    strstr(method, "Watch") == NULL) {
			if (authed[0] == '\0') {
				memcpy(authed, conn, sizeof(authed));
			}
			ck_assert_str_eq(conn, authed);
		} else {
			ck_assert_int_lt(nother, 2);
			memcpy(other[nother++], conn, sizeof(authed));
		}
	}
	free(text);
	for (size_t i = 0; i < OBS_ROWS; i++) {
		ck_assert_msg(seen[i] == obs_rows[i].calls,
		    "access log: %d lines of %s %s, want %d", seen[i],
		    obs_rows[i].method, obs_rows[i].code, obs_rows[i].calls);
	}
	ck_assert_int_eq(lines, OBS_CALLS);
	ck_assert_int_eq(warnings, 1);
	ck_assert_int_eq(nother, 2);
	ck_assert_str_ne(other[0], other[1]);
	ck_assert_str_ne(other[0], authed);
	ck_assert_str_ne(other[1], authed);
}

static bool
obs_file_has(const char *path, const char *want)
{
	size_t len;
	char  *text = (char *) tu_read_file(path, &len);
	bool   found;

	text = realloc(text, len + 1);
	ck_assert_ptr_nonnull(text);
	text[len] = '\0';
	found     = strstr(text, want) != NULL;
	free(text);
	return found;
}

// obs_show copies a child's output file to stderr, to explain a failure.
static void
obs_show(const char *path)
{
	size_t len;
	char  *text = (char *) tu_read_file(path, &len);

	fprintf(stderr, "---- %s\n%.*s", path, (int) len, text);
	free(text);
}

START_TEST(test_observe_example)
{
	char         dir[] = "/tmp/drpc-observe-XXXXXX", p[6][PATH_MAX];
	char         line[256], addr[160];
	obs_child    srv, watcher, client;
	obs_metrics *m = malloc(sizeof(*m));
	struct stat  st;
	int64_t      deadline;

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	const char *names[6] = {"metrics.prom", "server.err", "watch.err",
	    "client.out", "client.err", "metrics.prom.tmp"};
	for (int i = 0; i < 6; i++) {
		snprintf(p[i], sizeof(p[i]), "%s/%s", dir, names[i]);
	}

	// The server, on a port of its choosing.
	char *sargv[] = {NULL, (char *) "--token", (char *) OBS_TOKEN,
	    (char *) "--metrics-file", p[0], (char *) "tcp://127.0.0.1:0",
	    NULL};
	obs_spawn(&srv, sargv, NULL, p[1]);
	ck_assert_msg(
	    obs_line(&srv, line, sizeof(line)) &&
	        sscanf(line, "example-observe: serving on %159s", addr) == 1,
	    "the server printed no address: \"%s\"", line);

	// A watcher: SERVING first.
	char *wargv[] = {NULL, (char *) "--watch", addr, NULL};
	obs_spawn(&watcher, wargv, NULL, p[2]);
	ck_assert_msg(obs_line(&watcher, line, sizeof(line)), "no status");
	ck_assert_str_eq(line, "health: SERVING");

	// The client checks its own calls (exit 0) and says what it got.
	char *cargv[] = {NULL, (char *) "--client", addr, (char *) "--token",
	    (char *) OBS_TOKEN, NULL};
	obs_spawn(&client, cargv, p[3], p[4]);
	if (obs_exit(&client) != 0) {
		obs_show(p[3]);
		obs_show(p[4]);
		obs_show(p[1]);
		ck_abort_msg("the client failed (its output and the server's "
		             "stderr are above)");
	}
	ck_assert(
	    obs_file_has(p[3], "Hello, Count, Add, Chat, 3 calls each: ok\n"
	                       "health: SERVING\n"
	                       "Hello without the token: DRPC_EUNAUTH "
	                       "(code 16, \"missing or wrong token\")\n"));

	// SIGUSR1: the metrics appear. Every connection has opened by now
	// (each was served), and the Watch, still running, has not ended.
	ck_assert_int_ne(stat(p[0], &st), 0);
	ck_assert_int_eq(kill(srv.pid, SIGUSR1), 0);
	deadline = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	while (stat(p[0], &st) != 0 && drpc_now_ns() < deadline) {
		struct timespec ts = {0, 10000000}; // a poll interval
		nanosleep(&ts, NULL);
	}
	obs_read_metrics(m, p[0]);
	ck_assert_double_eq(
	    obs_get(m, "drpc_connections_total", ""), OBS_CONNS);
	ck_assert_double_eq(obs_get(m, "drpc_rpcs_total",
	                        "{method=\"/grpc.health.v1.Health/Watch\","
	                        "code=\"OK\"}"),
	    -1);

	// SIGTERM: the graceful shutdown flips health, the Watch sees it and
	// ends normally, the server exits 0 after the final dump.
	ck_assert_int_eq(kill(srv.pid, SIGTERM), 0);
	ck_assert_msg(obs_line(&watcher, line, sizeof(line)), "no 2nd status");
	ck_assert_str_eq(line, "health: NOT_SERVING");
	ck_assert_msg(obs_line(&watcher, line, sizeof(line)), "no end");
	ck_assert_str_eq(line, "watch ended: DRPC_EOF");
	ck_assert_int_eq(obs_exit(&watcher), 0);
	if (obs_exit(&srv) != 0) {
		obs_show(p[1]);
		ck_abort_msg("the server failed (its stderr is above)");
	}

	obs_read_metrics(m, p[0]);
	obs_check_metrics(m);
	obs_check_log(p[1]);
	ck_assert_int_ne(stat(p[5], &st), 0); // renamed, never left behind
	for (int i = 0; i < 5; i++) {
		unlink(p[i]);
	}
	rmdir(dir);
	free(m);
}
END_TEST

TU_SUITE(observe,
    TU_TEST("example", test_observe_example, .timeout = 60))
