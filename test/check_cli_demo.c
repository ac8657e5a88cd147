// The cli suite against `drpc-demo serve` (cmd/drpc-demo/main.c), the
// server of docs/cli.md's walk-through: a child process serving
// demo.Greeter and reflection of demo.proto on an ephemeral port. The
// tool lists and describes the demo's service by reflection and makes
// one call of each kind; then the server stops on SIGTERM and must exit
// with status 0 (a sanitizer's report, or memcheck's under make
// valgrind, would make it fail).
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "childproc.h"
#include "cli_fixture.h"
#include "testutil.h"
#include "tu_rows.h"

// demo_child is a running `drpc-demo serve`: the child, and the address
// its first line named.
typedef struct demo_child {
	child_proc proc;
	char       addr[128];
} demo_child;

// demo_start runs `drpc-demo serve tcp://127.0.0.1:0` (under memcheck if
// DRPC_CLI_VALGRIND) and waits for its line naming the address.
static void
demo_start(demo_child *d)
{
	char        valgrind[PATH_MAX];
	const char *argv[16];
	size_t      argc = cli_valgrind_argv(argv);
	char        line[256];
	const char *at;

	memset(d, 0, sizeof(*d));
	if (argc > 0) {
		ck_assert_msg(
		    child_find_in_path("valgrind", valgrind, sizeof(valgrind)),
		    "valgrind is not in PATH");
		argv[0] = valgrind;
	}
	argv[argc++] = DRPC_DEMO_BIN;
	argv[argc++] = "serve";
	argv[argc++] = "tcp://127.0.0.1:0";
	argv[argc]   = NULL;
	ck_assert_msg(access(DRPC_DEMO_BIN, X_OK) == 0,
	    "%s: not found (make builds it with the tests)", DRPC_DEMO_BIN);
	child_start(&d->proc, (char *const *) argv);
	if (!child_read_line(&d->proc, line, sizeof(line))) {
		int status = child_stop(&d->proc);

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
	{
		const cli_run runs[] = {
		    // Reflection: the demo's one service (and not reflection's
		    // own).
		    {.args   = {"list", d.addr},
		        .out = "demo.Greeter\n"
		               "  /demo.Greeter/Hello  unary  "
		               "demo.HelloRequest -> "
		               "demo.HelloReply\n"
		               "  /demo.Greeter/Count  server-streaming  "
		               "demo.CountRequest -> demo.Number\n"
		               "  /demo.Greeter/Add  client-streaming  "
		               "demo.Number "
		               "-> demo.Total\n"
		               "  /demo.Greeter/Chat  bidi  demo.Line -> "
		               "demo.Line\n",
		        .err = ""},
		    {.args   = {"describe", d.addr, "demo.Total"},
		        .out = "demo.Total is a message:\n"
		               "message Total {\n"
		               "  int64 sum = 1;\n"
		               "  int32 count = 2;\n"
		               "}\n"},
		    {.args   = {"describe", d.addr, "/demo.Greeter/Chat"},
		        .out = "demo.Greeter.Chat is a bidi method:\n"
		               "rpc Chat(stream .demo.Line) returns (stream "
		               ".demo.Line);\n"},
		    {.args = {"describe", d.addr, "demo.CountRequest.delay_ms"},
		        .out = "demo.CountRequest.delay_ms is a field of "
		               "demo.CountRequest:\n"
		               "int32 delay_ms = 2;\n"},
		    // One call of each kind, answered by the tour's handlers.
		    {.args   = {"call", d.addr, "/demo.Greeter/Hello", "-d",
		           "{\"name\":\"ada\"}"},
		        .out = "{\"message\":\"hello, ada\"}\n"},
		    {.args   = {"call", d.addr, "/demo.Greeter/Count", "-d",
		           "{\"to\":3}"},
		        .out = "{\"value\":\"1\"}\n{\"value\":\"2\"}\n"
		               "{\"value\":\"3\"}\n"},
		    {.in      = "{\"value\":\"2\"}\n{\"value\":40}\n",
		        .args = {"call", d.addr, "/demo.Greeter/Add", "-d",
		            "@-"},
		        .out  = "{\"sum\":\"42\",\"count\":2}\n"},
		    {.in      = "{\"text\":\"hi\"}\n{\"text\":\"bye\"}\n",
		        .args = {"call", d.addr, "/demo.Greeter/Chat", "-d",
		            "@-"},
		        .out  = "{\"text\":\"you said \\\"hi\\\"\"}\n"
		                "{\"text\":\"you said \\\"bye\\\"\"}\n",
		        .err  = ""},
		    // A deadline: the first number comes after a minute, the
		    // deadline long before.
		    {.args      = {"call", d.addr, "/demo.Greeter/Count", "-d",
		              "{\"to\":2,\"delayMs\":60000}", "--timeout", "100ms"},
		        .status = 1,
		        .line   = "DeadlineExceeded (4)",
		        .out    = ""},
		};

		expect_runs(&fx, runs, TU_LEN(runs));
	}
	ck_assert_int_eq(child_stop(&d.proc), 0);
}
END_TEST

// Each run of the tool starts libprotobuf; under valgrind, seconds.
TU_ROWS(cli_demo_tests, TU_TEST("demo", test_cli_demo_serve, .timeout = 60))
