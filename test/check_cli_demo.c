// The cli suite against `drpc-demo serve` (cmd/drpc-demo/main.c), the
// server of docs/cli.md's walk-through: a child process serving
// demo.Greeter and reflection of demo.proto on an ephemeral port. The
// tool lists and describes the demo's service by reflection and makes
// one call of each kind; then the server stops on SIGTERM and must exit
// with status 0 (a sanitizer's report, or memcheck's under make
// valgrind, would make it fail).
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "cli_fixture.h"
#include "connutil.h"
#include "testutil.h"

// demo_child is a running `drpc-demo serve`: its pid, the read end of
// its stdout, and the address its first line named.
typedef struct demo_child {
	pid_t pid;
	int   out;
	char  addr[128];
} demo_child;

// find_in_path puts the path of program name (from $PATH) in out; false
// if there is none.
static bool
find_in_path(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");

	while (path != NULL && *path != '\0') {
		size_t n = strcspn(path, ":");

		if (snprintf(out, cap, "%.*s/%s", (int) n, path, name) <
		        (int) cap &&
		    access(out, X_OK) == 0) {
			return true;
		}
		path += n + (path[n] == ':');
	}
	return false;
}

// demo_exec is the child's side of the fork: only async-signal-safe
// calls until exec. It dies with its parent, reads nothing, writes its
// stdout into the pipe and keeps no other fd of the test process (its
// stderr stays the test's, for a sanitizer's or memcheck's report).
static void
demo_exec(char *const *argv, int out, int null, pid_t parent, int maxfd)
{
	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) {
		_exit(127); // the parent died before prctl: die too
	}
	if (dup2(null, 0) < 0 || dup2(out, 1) < 0) {
		_exit(127);
	}
	for (int fd = 3; fd < maxfd; fd++) {
		(void) close(fd);
	}
	execv(argv[0], argv);
	_exit(127);
}

// demo_read_line reads the child's first line into line, within the wait
// bound; false if it never came (the child ended, or the bound passed).
static bool
demo_read_line(const demo_child *d, char *line, size_t cap)
{
	int64_t end = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	size_t  len = 0;

	line[0] = '\0';
	while (len + 1 < cap && strchr(line, '\n') == NULL) {
		struct pollfd p    = {d->out, POLLIN, 0};
		int64_t       left = end - drpc_now_ns();
		ssize_t       n;

		if (left <= 0) {
			return false;
		}
		if (poll(&p, 1, (int) (left / 1000000 + 1)) <= 0) {
			continue;
		}
		if ((n = read(d->out, line + len, cap - 1 - len)) < 0 &&
		    errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false; // the child ended
		}
		len += (size_t) n;
		line[len] = '\0';
	}
	return strchr(line, '\n') != NULL;
}

// demo_stop sends SIGTERM, waits (within the bound) for the child to end,
// which closes its stdout, and reaps it. Returns its exit status, -1 if
// it died of a signal or had to be killed.
static int
demo_stop(demo_child *d)
{
	int64_t end = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	char    buf[256];
	int     status;
	bool    ended = false;

	(void) kill(d->pid, SIGTERM);
	while (!ended && drpc_now_ns() < end) {
		struct pollfd p = {d->out, POLLIN, 0};
		int64_t       left = end - drpc_now_ns();

		if (poll(&p, 1, (int) (left / 1000000 + 1)) > 0) {
			ssize_t n = read(d->out, buf, sizeof(buf));

			ended = n == 0 || (n < 0 && errno != EINTR);
		}
	}
	if (!ended) {
		(void) kill(d->pid, SIGKILL);
	}
	while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR) {
	}
	close(d->out);
	d->pid = 0;
	return ended && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// demo_start runs `drpc-demo serve tcp://127.0.0.1:0` (under memcheck if
// DRPC_CLI_VALGRIND) and waits for its line naming the address.
static void
demo_start(demo_child *d)
{
	char          valgrind[PATH_MAX];
	char         *argv[16];
	size_t        argc = 0;
	int           pipefd[2];
	int           null;
	char          line[256];
	const char   *at;
	struct rlimit rl;
	pid_t         parent = getpid();

	memset(d, 0, sizeof(*d));
	if (getenv("DRPC_CLI_VALGRIND") != NULL) {
		ck_assert_msg(find_in_path("valgrind", valgrind, sizeof(valgrind)),
		    "valgrind is not in PATH");
		argv[argc++] = valgrind;
		argv[argc++] = (char *) "--quiet";
		argv[argc++] = (char *) "--leak-check=full";
		argv[argc++] =
		    (char *) "--show-leak-kinds=definite,indirect,possible";
		argv[argc++] =
		    (char *) "--errors-for-leak-kinds=definite,indirect,possible";
		argv[argc++] = (char *) "--error-exitcode=99";
	}
	argv[argc++] = (char *) DRPC_DEMO_BIN;
	argv[argc++] = (char *) "serve";
	argv[argc++] = (char *) "tcp://127.0.0.1:0";
	argv[argc]   = NULL;
	ck_assert_msg(access(DRPC_DEMO_BIN, X_OK) == 0,
	    "%s: not found (make builds it with the tests)", DRPC_DEMO_BIN);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_int_ge(null = open("/dev/null", O_RDONLY), 0);
	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		demo_exec(argv, pipefd[1], null, parent,
		    rl.rlim_cur > 65536 ? 65536 : (int) rl.rlim_cur);
	}
	close(pipefd[1]);
	close(null);
	d->out = pipefd[0];
	if (!demo_read_line(d, line, sizeof(line))) {
		int status = demo_stop(d);

		ck_abort_msg("drpc-demo serve printed no address (\"%s\"; exit "
		             "status %d)",
		    line, status);
	}
	at = strstr(line, " on tcp://127.0.0.1:");
	ck_assert_msg(strncmp(line, "drpc-demo: serving demo.Greeter", 31) ==
	                      0 &&
	                  at != NULL,
	    "unexpected first line: %s", line);
	at += 4;
	ck_assert_uint_lt(strcspn(at, "\n"), sizeof(d->addr));
	memcpy(d->addr, at, strcspn(at, "\n"));
}

START_TEST(test_cli_demo_serve)
{
	demo_child d;
	cli_fx     fx;

	memset(&fx, 0, sizeof(fx));
	demo_start(&d);
	// Reflection: the demo's one service (and not reflection's own).
	ck_assert_int_eq(run_tool(&fx, NULL, "list", d.addr, NULL), 0);
	ck_assert_str_eq(fx.out,
	    "demo.Greeter\n"
	    "  /demo.Greeter/Hello  unary  demo.HelloRequest -> "
	    "demo.HelloReply\n"
	    "  /demo.Greeter/Count  server-streaming  demo.CountRequest -> "
	    "demo.Number\n"
	    "  /demo.Greeter/Add  client-streaming  demo.Number -> demo.Total\n"
	    "  /demo.Greeter/Chat  bidi  demo.Line -> demo.Line\n");
	ck_assert_str_eq(fx.err, "");
	ck_assert_int_eq(
	    run_tool(&fx, NULL, "describe", d.addr, "demo.Total", NULL), 0);
	ck_assert_str_eq(fx.out, "demo.Total is a message:\n"
	                         "message Total {\n"
	                         "  int64 sum = 1;\n"
	                         "  int32 count = 2;\n"
	                         "}\n");
	ck_assert_int_eq(run_tool(&fx, NULL, "describe", d.addr,
	                     "/demo.Greeter/Chat", NULL),
	    0);
	ck_assert_str_eq(fx.out, "demo.Greeter.Chat is a bidi method:\n"
	                         "rpc Chat(stream .demo.Line) returns (stream "
	                         ".demo.Line);\n");
	ck_assert_int_eq(run_tool(&fx, NULL, "describe", d.addr,
	                     "demo.CountRequest.delay_ms", NULL),
	    0);
	ck_assert_str_eq(fx.out, "demo.CountRequest.delay_ms is a field of "
	                         "demo.CountRequest:\n"
	                         "int32 delay_ms = 2;\n");

	// One call of each kind, answered by the tour's handlers.
	ck_assert_int_eq(run_tool(&fx, NULL, "call", d.addr,
	                     "/demo.Greeter/Hello", "-d", "{\"name\":\"ada\"}",
	                     NULL),
	    0);
	ck_assert_str_eq(fx.out, "{\"message\":\"hello, ada\"}\n");
	ck_assert_int_eq(run_tool(&fx, NULL, "call", d.addr,
	                     "/demo.Greeter/Count", "-d", "{\"to\":3}", NULL),
	    0);
	ck_assert_str_eq(
	    fx.out, "{\"value\":\"1\"}\n{\"value\":\"2\"}\n{\"value\":\"3\"}\n");
	ck_assert_int_eq(run_tool(&fx, "{\"value\":\"2\"}\n{\"value\":40}\n",
	                     "call", d.addr, "/demo.Greeter/Add", "-d", "@-",
	                     NULL),
	    0);
	ck_assert_str_eq(fx.out, "{\"sum\":\"42\",\"count\":2}\n");
	ck_assert_int_eq(run_tool(&fx, "{\"text\":\"hi\"}\n{\"text\":\"bye\"}\n",
	                     "call", d.addr, "/demo.Greeter/Chat", "-d", "@-",
	                     NULL),
	    0);
	ck_assert_str_eq(fx.out, "{\"text\":\"you said \\\"hi\\\"\"}\n"
	                         "{\"text\":\"you said \\\"bye\\\"\"}\n");
	ck_assert_str_eq(fx.err, "");
	// A deadline: the first number comes after a minute, the deadline
	// long before.
	ck_assert_int_eq(run_tool(&fx, NULL, "call", d.addr,
	                     "/demo.Greeter/Count", "-d",
	                     "{\"to\":2,\"delayMs\":60000}", "--timeout", "100ms",
	                     NULL),
	    1);
	one_line(&fx, "DeadlineExceeded (4)");
	ck_assert_str_eq(fx.out, "");
	ck_assert_int_eq(demo_stop(&d), 0);
}
END_TEST

void
cli_demo_tcases(Suite *s)
{
	TCase *demo = tcase_create("demo");

	tcase_add_test(demo, test_cli_demo_serve);
	// Each run of the tool starts libprotobuf; under valgrind, seconds.
	tcase_set_timeout(demo, 60);
	suite_add_tcase(s, demo);
}
