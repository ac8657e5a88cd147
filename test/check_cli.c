// The drpc command-line client (cmd/drpc/, docs/cli.md) and the
// reflection service (drpc/reflect.h) it reads, over real sockets: the
// suite serves test/proto/echo.proto's EchoService (raw handlers that
// record every request byte for byte), cli.mapping.Mapping (an echo, for
// the proto3 JSON mapping cases of test/cli/mapping.proto) and, in most
// tests, reflection; then it runs the built tool (DRPC_CLI_BIN) as a
// child process with posix_spawn, its stdin from a file, its stdout and
// stderr into files, and checks what it printed, its exit status, and
// what the server received.
//
// With DRPC_CLI_VALGRIND set (make valgrind sets it), every run of the
// tool is under valgrind's memcheck, leaks included: its status 99 is a
// memcheck error.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "cli_fixture.h"
#include "echo.drpc.h"
#include "suites.h"
#include "testutil.h"
#include "tu_rows.h"

// One call of each kind, and the proto3 JSON mapping both ways with
// --proto (and the file's well-known-type imports from the system's
// include directory): a table of calls, each against a fresh server.
#define CLI_CALLS 5 // test_cli_calls's cases

START_TEST(test_cli_calls)
{
	static const char all[] =
	    "{\"big_number\":\"-5\",\"unsignedBig\":\"18446744073709551615\","
	    "\"rawBytes\":\"AQID\",\"color\":\"GREEN\","
	    "\"when\":\"1970-01-01T00:00:01.500Z\",\"howLong\":\"1.5s\","
	    "\"extra\":{\"k\":true},\"maybe\":7,\"tags\":[\"a\"],"
	    "\"inner\":{\"textValue\":\"x\"}}";
	cli_fx fx;
	// Each case: whether the server answers reflection, then its runs.
	const struct {
		bool    reflection;
		cli_run runs[2];
	} cases[] = {
	    {true, {{.args  = {"call", fx.addr, "/test.echo.EchoService/Unary",
	                  "-d", "{\"payload\": \"aGk=\"}", "-H", "x-trace: t-1"},
	               .out = "{\"payload\":\"aGk=\"}\n",
	               .err = "",
	               .rec = "0a026869|"}}},
	    {true, {{.args  = {"call", fx.addr,
	                  "/test.echo.EchoService/ServerStream", "-d",
	                  "{\"count\": 3}"},
	               .out = "{\"payload\":\"MA==\"}\n{\"payload\":\"MQ==\"}\n"
	                      "{\"payload\":\"Mg==\"}\n",
	               .rec = "0803|"}}},
	    // Summary's int64 fields print as strings (proto3 JSON).
	    {true, {{.in = "{\"payload\":\"YQ==\"}\n\n{\"payload\":\"YmI=\"}\n",
	               .args = {"call", fx.addr,
	                   "/test.echo.EchoService/ClientStream", "-d", "@-"},
	               .out  = "{\"count\":\"2\",\"bytes\":\"3\"}\n",
	               .rec  = "0a0161|0a026262|"}}},
	    // Bidi from stdin; the same from -d, parsed before the call.
	    {true,
	        {{.in = "{\"payload\":\"YQ==\"}\n{}\n{\"payload\":\"YmI=\"}",
	             .args = {"call", fx.addr, "/test.echo.EchoService/Bidi",
	                 "-d", "@-"},
	             .out =
	                 "{\"payload\":\"YQ==\"}\n{}\n{\"payload\":\"YmI=\"}\n",
	             .rec = "0a0161||0a026262|"},
	            {.args = {"call", fx.addr, "/test.echo.EchoService/Bidi",
	                 "-d", "{\"payload\":\"YQ==\"}\n{\"payload\":\"Yg==\"}",
	                 "--one-stream"},
	                .out =
	                    "{\"payload\":\"YQ==\"}\n{\"payload\":\"Yg==\"}\n",
	                .rec = "0a0161|0a0162|"}}},
	    // As `protoc --encode=cli.mapping.All` encodes the same values;
	    // then enums also by number, defaults printed on request.
	    {false,
	        {{.args = {"call", fx.addr, "/cli.mapping.Mapping/Echo",
	              "--proto", MAPPING_PROTO, "-I", CLI_DIR, "-d", all},
	             .rec =
	                 "08fbffffffffffffffff0110ffffffffffffffffff011a03010"
	                 "20320022a0808011080cab5ee01320808011080cab5ee013a"
	                 "090a070a016b12022001420208074a016152030a0178|",
	             .out =
	                 "{\"bigNumber\":\"-5\",\"unsignedBig\":"
	                 "\"18446744073709551615\",\"rawBytes\":\"AQID\","
	                 "\"color\":\"GREEN\",\"when\":"
	                 "\"1970-01-01T00:00:01.500Z\",\"howLong\":\"1.500s\","
	                 "\"extra\":{\"k\":true},\"maybe\":7,\"tags\":[\"a\"],"
	                 "\"inner\":{\"textValue\":\"x\"}}\n"},
	            {.args   = {"call", fx.addr, "/cli.mapping.Mapping/Echo",
	                   "--proto", MAPPING_PROTO, "-I", CLI_DIR, "-d",
	                   "{\"color\":1}", "--emit-defaults"},
	                .rec = "2001|",
	                .has = {"\"color\":\"RED\"", "\"bigNumber\":\"0\""}}}},
	};

	_Static_assert(TU_LEN(cases) == CLI_CALLS, "a loop per case");
	fx_start(&fx, cases[_i].reflection);
	expect_runs(&fx, cases[_i].runs, cases[_i].runs[1].args[0] ? 2 : 1);
	if (_i == 0) {
		ck_assert_str_eq(fx_md(&fx), "t-1");
	}
	fx_stop(&fx);
}
END_TEST

START_TEST(test_cli_list_describe)
{
	cli_fx        fx;
	const cli_run runs[] = {
	    {.args   = {"list", fx.addr},
	        .has = {"  /test.echo.EchoService/Bidi  bidi  test.echo.Msg -> "
	                "test.echo.Msg\n",
	            "  /test.echo.EchoService/ClientStream  client-streaming  "
	            "test.echo.Msg -> test.echo.types.Summary\n",
	            "\nnames.snake_case_service\n"}},
	    // An imported file's message, a nested one, a method.
	    {.args   = {"describe", fx.addr, "test.echo.types.Summary"},
	        .has = {"  int64 bytes = 2"}},
	    {.args   = {"describe", fx.addr, "a.b.c.Outer.Inner"},
	        .has = {"string text = 1"}},
	    {.args   = {"describe", fx.addr, "/a.b.c.Nested/Watch"},
	        .has = {"server-streaming method",
	            "rpc Watch(.a.b.c.Outer) returns (stream "
	            ".a.b.c.Outer.Inner)"}},
	    // edge_names.proto imports protobuf-c.proto, which imports
	    // descriptor.proto: every one comes over, or the pool cannot
	    // build.
	    {.args   = {"describe", fx.addr, "names.Server"},
	        .has = {"rpc get_HTTP2("}},
	    {.args      = {"describe", fx.addr, "test.echo.Nothing"},
	        .status = 2,
	        .line   = "test.echo.Nothing"},
	};

	fx_start(&fx, true);
	expect_runs(&fx, runs, 1);
	ck_assert_msg(strstr(fx.out, "test.echo.EchoService\n") == fx.out,
	    "%s", fx.out);
	ck_assert_msg(strstr(fx.out, "\na.b.c.Nested\n") != NULL &&
	                  strstr(fx.out, "\n  /a.b.c.Nested/Watch  "
	                                 "server-streaming  a.b.c.Outer -> "
	                                 "a.b.c.Outer.Inner\n") != NULL,
	    "%s", fx.out);
	ck_assert_msg(strstr(fx.out, "drpc.reflection") == NULL, "%s", fx.out);
#ifdef DRPC_HAVE_INTEROP_GEN
	ck_assert_msg(strstr(fx.out, "\ninterop.Echo\n  /interop.Echo/Unary  "
	                             "unary  interop.Msg -> interop.Msg\n") !=
	                  NULL,
	    "%s", fx.out);
	ck_assert_int_eq(run_tool(&fx, NULL, "describe", fx.addr,
	                     "interop.FailRequest", NULL),
	    0);
	ck_assert_msg(strstr(fx.out, "interop.FailRequest is a message:\n") ==
	                  fx.out,
	    "%s", fx.out);
#endif
	expect_runs(&fx, runs + 1, 1);
	ck_assert_msg(strstr(fx.out, "test.echo.types.Summary is a message:\n"
	                             "message Summary {\n") == fx.out,
	    "%s", fx.out);
	expect_runs(&fx, runs + 2, TU_LEN(runs) - 2);
	fx_finish(&fx, 0);
}
END_TEST

// The reflection service's own answers, through the C API.
START_TEST(test_cli_reflect_wire)
{
	static const uint8_t req[] = {0x0a, 0x17, 't', 'e', 's', 't', '.', 'e',
	    'c', 'h', 'o', '.', 't', 'y', 'p', 'e', 's', '.', 'S', 'u', 'm', 'm',
	    'a', 'r', 'y'};
	cli_fx      fx;
	drpc_conn  *c;
	void       *reply = NULL;
	size_t      len   = 0;
	drpc_status st    = {0};
	uint8_t     bad[] = {0x0a, 0x05, 'x'};

	fx_start(&fx, true);
	ck_assert_int_eq(drpc_dial(&c, fx.addr, NULL), DRPC_OK);
	// One file, no imports: its descriptor alone, as the generated data
	// holds it.
	ck_assert_int_eq(drpc_invoke(c, NULL, DRPC_REFLECT_FILE_CONTAINING_SYMBOL,
	                     req, sizeof(req), NULL, &reply, &len, &st),
	    DRPC_OK);
	{
		const drpc_reflect_file *f = drpc_gen_echo_2eproto_reflect();

		ck_assert_uint_eq(f->n_deps, 1);
		ck_assert_uint_eq(len, 2 + f->deps[0]->descriptor_len);
		ck_assert_int_eq(((uint8_t *) reply)[0], 0x0a);
		ck_assert_int_eq(memcmp((uint8_t *) reply + 2,
		                     f->deps[0]->descriptor,
		                     f->deps[0]->descriptor_len),
		    0);
	}
	drpc_free(reply);
	// A file with an import: the import first, then the file.
	ck_assert_int_eq(drpc_invoke(c, NULL, DRPC_REFLECT_FILE_BY_FILENAME,
	                     "\x0a\x0a" "echo.proto", 12, NULL, &reply, &len,
	                     &st),
	    DRPC_OK);
	{
		const drpc_reflect_file *f = drpc_gen_echo_2eproto_reflect();
		const uint8_t           *p = reply;
		size_t                   a = f->deps[0]->descriptor_len;

		// Both under 128 bytes... or not: lengths as varints.
		ck_assert_uint_lt(a, 128);
		ck_assert_uint_ge(f->descriptor_len, 128);
		ck_assert_uint_lt(f->descriptor_len, 16384);
		ck_assert_uint_eq(len, 2 + a + 3 + f->descriptor_len);
		ck_assert_int_eq(p[0], 0x0a);
		ck_assert_int_eq(p[1], (int) a);
		ck_assert_int_eq(
		    memcmp(p + 2, f->deps[0]->descriptor, a), 0);
		ck_assert_int_eq(p[2 + a], 0x0a);
		ck_assert_int_eq(memcmp(p + 2 + a + 3, f->descriptor,
		                     f->descriptor_len),
		    0);
	}
	drpc_free(reply);
	ck_assert_int_eq(drpc_invoke(c, NULL, DRPC_REFLECT_FILE_BY_FILENAME,
	                     "\x0a\x04none", 6, NULL, &reply, &len, &st),
	    DRPC_ENOTFOUND);
	ck_assert_str_eq(st.message, "file not found: none");
	drpc_status_reset(&st);
	ck_assert_int_eq(drpc_invoke(c, NULL, DRPC_REFLECT_LIST_SERVICES, bad,
	                     sizeof(bad), NULL, &reply, &len, &st),
	    DRPC_EINVAL);
	drpc_status_reset(&st);
	drpc_conn_destroy(c);
	fx_stop(&fx);
}
END_TEST

START_TEST(test_cli_errors)
{
	cli_fx        fx;
	const cli_run runs[] = {
	    {.args = {"call", fx.addr, "/test.echo.EchoService/Unary", "-d",
	         "{\"payload\":\"ZmFpbA==\"}"},
	        .status = 1,
	        .err    = "drpc: NotFound (5): no such thing\n",
	        .out    = ""},
	    // A deadline: the handler waits for the call's context to end.
	    {.args = {"call", fx.addr, "/test.echo.EchoService/Unary", "-d",
	         "{\"payload\":\"YmxvY2s=\"}", "--timeout", "50ms"},
	        .status = 1,
	        .line   = "DeadlineExceeded (4)"},
	    // Nobody there (after fx_stop).
	    {.args = {"list", fx.addr}, .status = 3, .line = "drpc-cli-none"},
	};

	fx_start(&fx, true);
	expect_runs(&fx, runs, 2);
	fx_stop(&fx);
	snprintf(fx.addr, sizeof(fx.addr), "unix:///tmp/drpc-cli-none-%d",
	    (int) getpid());
	expect_runs(&fx, runs + 2, 1);
}
END_TEST

// Every bad input: exit status 2, one line naming the cause, nothing
// sent.
START_TEST(test_cli_bad_input)
{
	static const struct {
		const char *method;
		const char *data;
		const char *want;
	} cases[] = {
	    {"/test.echo.EchoService/Unary", "{\"payload\":", "invalid JSON"},
	    {"/test.echo.EchoService/Unary", "{\"nope\":1}", "nope"},
	    {"/test.echo.EchoService/Unary", "{\"payload\":5}", "payload"},
	    {"/test.echo.EchoService/ServerStream", "{\"count\":\"x\"}",
	        "count"},
	    {"/test.echo.EchoService/Bidi", "{}\n{\"payload\":[]}",
	        "request line 2"},
	    {"/test.echo.EchoService/Nope", "{}",
	        "unknown method Nope in service test.echo.EchoService"},
	    {"/test.echo.Nope/Unary", "{}", "unknown service test.echo.Nope"},
	    {"test.echo.EchoService.Unary", "{}", "expected /pkg.Service/Method"},
	};
	cli_fx        fx;
	const cli_run runs[] = {
	    // A bad line on stdin, in a client stream: parsed before the
	    // call.
	    {.in      = "{}\n{]\n",
	        .args = {"call", fx.addr, "/test.echo.EchoService/ClientStream",
	            "-d", "@-"},
	        .status = 2,
	        .line   = "request line 2"},
	    // A .proto that does not parse: file, line and column.
	    {.args      = {"call", fx.addr, "/cli.broken.X/Y", "--proto",
	              CLI_DIR "/broken.proto", "-I", CLI_DIR},
	        .status = 2,
	        .line   = "broken.proto:6:"},
	};

	fx_start(&fx, true);
	for (size_t i = 0; i < TU_LEN(cases); i++) {
		const cli_run r = {.args = {"call", fx.addr, cases[i].method,
		                       "-d", cases[i].data},
		    .status              = 2,
		    .line                = cases[i].want};

		expect_runs(&fx, &r, 1);
	}
	expect_runs(&fx, runs, TU_LEN(runs));
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", "--timeout", "5x",
	                     NULL),
	    2);
	ck_assert_msg(strstr(fx.err, "unknown unit") != NULL, "%s", fx.err);
	fx_finish(&fx, 0);
}
END_TEST

// A server without reflection: a clear message asking for --proto; with
// it, the call works.
START_TEST(test_cli_no_reflection)
{
	cli_fx        fx;
	const cli_run runs[] = {
	    {.args      = {"call", fx.addr, "/test.echo.EchoService/Unary"},
	        .status = 2,
	        .line   = "does not answer reflection"},
	    {.args      = {"list", fx.addr},
	        .status = 2,
	        .line   = "does not answer reflection"},
	    {.args   = {"call", fx.addr, "/test.echo.EchoService/Unary",
	           "--proto", DRPC_SOURCE_DIR "/test/proto/echo.proto", "-I",
	           DRPC_SOURCE_DIR "/test/proto"},
	        .out = "{}\n",
	        .rec = "|"},
	};

	fx_start(&fx, false);
	expect_runs(&fx, runs, 1);
	ck_assert_msg(strstr(fx.err, "--proto") != NULL, "%s", fx.err);
	expect_runs(&fx, runs + 1, 1);
	ck_assert_int_eq(fx_invokes(&fx), 0);
	expect_runs(&fx, runs + 2, 1);
	fx_stop(&fx);
}
END_TEST

// drop_request receives the request, if any, and drops it.
static void
drop_request(drpc_stream *s)
{
	void  *data = NULL;
	size_t len  = 0;

	if (drpc_stream_recv(s, &data, &len) == DRPC_OK) {
		drpc_free(data);
	}
}

// A reflection service that waits for the call's deadline: the deadline
// of --timeout ends the lookup, which is a deadline (status 1), not a
// server without reflection (status 2).
static drpc_err
h_refl_block(drpc_stream *s, void *user)
{
	(void) user;
	drop_request(s);
	return drpc_ctx_wait(drpc_stream_ctx(s), 0);
}

START_TEST(test_cli_reflect_deadline)
{
	cli_fx        fx;
	const cli_run runs[] = {
	    {.args      = {"call", fx.addr, "/test.echo.EchoService/Unary",
	              "--timeout", "50ms"},
	        .status = 1,
	        .line   = "DeadlineExceeded (4)"},
	    {.args      = {"list", fx.addr, "--timeout", "50ms"},
	        .status = 1,
	        .line   = "DeadlineExceeded (4)"},
	};

	fx_init(&fx, false);
	fx_register(&fx, DRPC_REFLECT_FILE_CONTAINING_SYMBOL, h_refl_block);
	fx_register(&fx, DRPC_REFLECT_LIST_SERVICES, h_refl_block);
	fx_serve(&fx);
	expect_runs(&fx, runs, 1);
	ck_assert_msg(strstr(fx.err, "does not answer reflection") == NULL,
	    "%s", fx.err);
	expect_runs(&fx, runs + 1, 1);
	fx_finish(&fx, 0);
}
END_TEST

// -d @FILE that cannot be read (a directory opens, but reads fail): a bad
// input, not an empty request.
START_TEST(test_cli_data_unreadable)
{
	cli_fx        fx;
	const cli_run run = {
	    .args   = {"call", fx.addr, "/test.echo.EchoService/Unary", "-d",
	          "@" CLI_DIR},
	    .status = 2,
	    .line   = "cannot read",
	    .out    = ""};

	fx_start(&fx, true);
	expect_runs(&fx, &run, 1);
	fx_finish(&fx, 0);
}
END_TEST

// A hostile (or broken) reflection service: file fN.proto imports
// f(N+1).proto, without end. The tool must give up with a clear line,
// not follow the chain until its stack overflows.
// chain_reply answers FileDescriptorProto fN.proto (package x, importing
// f(N+1).proto; f0.proto also defines service Svc) as one field 1.
static drpc_err
chain_reply(drpc_stream *s, unsigned long i)
{
	char    name[32];
	char    dep[32];
	uint8_t out[160];

	snprintf(name, sizeof(name), "f%lu.proto", i);
	snprintf(dep, sizeof(dep), "f%lu.proto", i + 1);
	return drpc_stream_send_last(
	    s, out, fd_file(out, name, "x", dep, i == 0 ? "Svc" : NULL));
}

static drpc_err
h_chain_symbol(drpc_stream *s, void *user)
{
	(void) user;
	drop_request(s);
	return chain_reply(s, 0);
}

static drpc_err
h_chain_file(drpc_stream *s, void *user)
{
	void         *data = NULL;
	size_t        len  = 0;
	unsigned long i    = 0;
	char          num[24];

	(void) user;
	if (drpc_stream_recv(s, &data, &len) == DRPC_OK) {
		// "\x0a" len "f" digits ".proto"
		if (len > 3 && len - 3 < sizeof(num)) {
			memcpy(num, (char *) data + 3, len - 3);
			num[len - 3] = '\0';
			i            = strtoul(num, NULL, 10);
		}
		drpc_free(data);
	}
	return chain_reply(s, i);
}

START_TEST(test_cli_reflect_endless_imports)
{
	cli_fx        fx;
	const cli_run run = {.args = {"describe", fx.addr, "x.Svc"},
	    .status                = 2,
	    .line                  = "more than"};

	fx_init(&fx, false);
	fx_register(&fx, DRPC_REFLECT_FILE_CONTAINING_SYMBOL, h_chain_symbol);
	fx_register(&fx, DRPC_REFLECT_FILE_BY_FILENAME, h_chain_file);
	fx_serve(&fx);
	expect_runs(&fx, &run, 1);
	fx_stop(&fx);
}
END_TEST

// Descriptor sets concatenated (`cat a.pb b.pb`, which protobuf reads as
// one set) repeat the files both import: the same file twice is no
// error; two different files of one name are, in one line.
START_TEST(test_cli_descriptor_set_duplicates)
{
	// FileDescriptorSet{file{name:"a.proto" package:"x" service{name:
	// "S"}}} twice; then with a second a.proto of package "y".
	uint8_t              set[128];
	size_t               n = fd_file(set, "a.proto", "x", NULL, "S");
	char                 path[64];
	cli_fx               fx;
	const cli_run        runs[] = {
	           {.args   = {"list", "--descriptor-set", path},
	               .out = "x.S\n",
	               .err = ""},
	           {.args      = {"list", "--descriptor-set", path},
	               .status = 2,
	               .line   = "a.proto"},
        };

	memset(&fx, 0, sizeof(fx));
	write_temp(path, sizeof(path), "set", set,
	    n + fd_file(set + n, "a.proto", "x", NULL, "S"));
	expect_runs(&fx, runs, 1);
	unlink(path);
	write_temp(path, sizeof(path), "set", set,
	    n + fd_file(set + n, "a.proto", "y", NULL, NULL));
	expect_runs(&fx, runs + 1, 1);
	unlink(path);
}
END_TEST

// Each run of the tool starts libprotobuf; under valgrind, seconds.
static TU_ROWS(cli_tests,
    TU_TEST("calls", test_cli_calls, .loops = CLI_CALLS, .timeout = 60),
    TU_TEST("reflection", test_cli_list_describe, .timeout = 60),
    TU_TEST("reflection", test_cli_reflect_wire),
    TU_TEST("reflection", test_cli_no_reflection),
    TU_TEST("bad_input", test_cli_errors, .timeout = 60),
    TU_TEST("bad_input", test_cli_bad_input),
    TU_TEST("bad_input", test_cli_data_unreadable),
    TU_TEST("bad_input", test_cli_descriptor_set_duplicates),
    TU_TEST("reflection", test_cli_reflect_deadline),
    TU_TEST("reflection", test_cli_reflect_endless_imports))

Suite *
cli_suite(void)
{
	tu_rows_fn *const parts[] = {
	    cli_tests, cli_more_tests, cli_demo_tests, cli_tls_tests};

	return tu_suite_parts("cli", parts, TU_LEN(parts));
}
