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

START_TEST(test_cli_unary_by_reflection)
{
	cli_fx fx;

	fx_start(&fx, true);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", "-d",
	                     "{\"payload\": \"aGk=\"}", "-H", "x-trace: t-1",
	                     NULL),
	    0);
	ck_assert_str_eq(fx.out, "{\"payload\":\"aGk=\"}\n");
	ck_assert_str_eq(fx.err, "");
	ck_assert_str_eq(fx_rec(&fx), "0a026869|");
	ck_assert_str_eq(fx_md(&fx), "t-1");
	fx_stop(&fx);
}
END_TEST

START_TEST(test_cli_server_stream)
{
	cli_fx fx;

	fx_start(&fx, true);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/ServerStream", "-d",
	                     "{\"count\": 3}", NULL),
	    0);
	ck_assert_str_eq(fx.out, "{\"payload\":\"MA==\"}\n{\"payload\":\"MQ==\"}\n"
	                         "{\"payload\":\"Mg==\"}\n");
	ck_assert_str_eq(fx_rec(&fx), "0803|");
	fx_stop(&fx);
}
END_TEST

START_TEST(test_cli_client_stream)
{
	cli_fx fx;

	fx_start(&fx, true);
	// Summary's int64 fields print as strings (proto3 JSON).
	ck_assert_int_eq(run_tool(&fx,
	                     "{\"payload\":\"YQ==\"}\n\n{\"payload\":\"YmI=\"}\n",
	                     "call", fx.addr,
	                     "/test.echo.EchoService/ClientStream", "-d", "@-",
	                     NULL),
	    0);
	ck_assert_str_eq(fx.out, "{\"count\":\"2\",\"bytes\":\"3\"}\n");
	ck_assert_str_eq(fx_rec(&fx), "0a0161|0a026262|");
	fx_stop(&fx);
}
END_TEST

START_TEST(test_cli_bidi)
{
	cli_fx fx;

	fx_start(&fx, true);
	ck_assert_int_eq(run_tool(&fx,
	                     "{\"payload\":\"YQ==\"}\n{}\n{\"payload\":\"YmI=\"}",
	                     "call", fx.addr, "/test.echo.EchoService/Bidi",
	                     "-d", "@-", NULL),
	    0);
	ck_assert_str_eq(
	    fx.out, "{\"payload\":\"YQ==\"}\n{}\n{\"payload\":\"YmI=\"}\n");
	ck_assert_str_eq(fx_rec(&fx), "0a0161||0a026262|");
	// The same from -d, parsed before the call.
	fx_rec_reset(&fx);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Bidi", "-d",
	                     "{\"payload\":\"YQ==\"}\n{\"payload\":\"Yg==\"}",
	                     "--one-stream", NULL),
	    0);
	ck_assert_str_eq(fx.out, "{\"payload\":\"YQ==\"}\n{\"payload\":\"Yg==\"}\n");
	ck_assert_str_eq(fx_rec(&fx), "0a0161|0a0162|");
	fx_stop(&fx);
}
END_TEST

// The proto3 JSON mapping, both ways, with --proto (and the file's
// well-known-type imports from the system's include directory).
START_TEST(test_cli_json_mapping)
{
	static const char in[] =
	    "{\"big_number\":\"-5\",\"unsignedBig\":\"18446744073709551615\","
	    "\"rawBytes\":\"AQID\",\"color\":\"GREEN\","
	    "\"when\":\"1970-01-01T00:00:01.500Z\",\"howLong\":\"1.5s\","
	    "\"extra\":{\"k\":true},\"maybe\":7,\"tags\":[\"a\"],"
	    "\"inner\":{\"textValue\":\"x\"}}";
	cli_fx fx;

	fx_start(&fx, false);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/cli.mapping.Mapping/Echo", "--proto",
	                     MAPPING_PROTO, "-I", CLI_DIR, "-d", in, NULL),
	    0);
	// As `protoc --encode=cli.mapping.All` encodes the same values.
	ck_assert_str_eq(fx_rec(&fx),
	    "08fbffffffffffffffff0110ffffffffffffffffff011a0301020320022a08080110"
	    "80cab5ee01320808011080cab5ee013a090a070a016b1202200142020807"
	    "4a016152030a0178|");
	ck_assert_str_eq(fx.out,
	    "{\"bigNumber\":\"-5\",\"unsignedBig\":\"18446744073709551615\","
	    "\"rawBytes\":\"AQID\",\"color\":\"GREEN\","
	    "\"when\":\"1970-01-01T00:00:01.500Z\",\"howLong\":\"1.500s\","
	    "\"extra\":{\"k\":true},\"maybe\":7,\"tags\":[\"a\"],"
	    "\"inner\":{\"textValue\":\"x\"}}\n");
	// Enums also by number; defaults printed on request.
	fx_rec_reset(&fx);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/cli.mapping.Mapping/Echo", "--proto",
	                     MAPPING_PROTO, "-I", CLI_DIR, "-d", "{\"color\":1}",
	                     "--emit-defaults", NULL),
	    0);
	ck_assert_str_eq(fx_rec(&fx), "2001|");
	ck_assert_msg(strstr(fx.out, "\"color\":\"RED\"") != NULL &&
	                  strstr(fx.out, "\"bigNumber\":\"0\"") != NULL,
	    "%s", fx.out);
	fx_stop(&fx);
}
END_TEST

START_TEST(test_cli_list_describe)
{
	cli_fx fx;

	fx_start(&fx, true);
	ck_assert_int_eq(run_tool(&fx, NULL, "list", fx.addr, NULL), 0);
	ck_assert_msg(strstr(fx.out, "test.echo.EchoService\n") == fx.out,
	    "%s", fx.out);
	ck_assert_msg(strstr(fx.out, "  /test.echo.EchoService/Bidi  bidi  "
	                             "test.echo.Msg -> test.echo.Msg\n") != NULL,
	    "%s", fx.out);
	ck_assert_msg(strstr(fx.out, "  /test.echo.EchoService/ClientStream  "
	                             "client-streaming  test.echo.Msg -> "
	                             "test.echo.types.Summary\n") != NULL,
	    "%s", fx.out);
	ck_assert_msg(strstr(fx.out, "\na.b.c.Nested\n") != NULL &&
	                  strstr(fx.out, "\n  /a.b.c.Nested/Watch  "
	                                 "server-streaming  a.b.c.Outer -> "
	                                 "a.b.c.Outer.Inner\n") != NULL,
	    "%s", fx.out);
	ck_assert_msg(strstr(fx.out, "\nnames.snake_case_service\n") != NULL,
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

	// An imported file's message, a nested one, a method.
	ck_assert_int_eq(run_tool(&fx, NULL, "describe", fx.addr,
	                     "test.echo.types.Summary", NULL),
	    0);
	ck_assert_msg(strstr(fx.out, "test.echo.types.Summary is a message:\n"
	                             "message Summary {\n") == fx.out,
	    "%s", fx.out);
	ck_assert_msg(strstr(fx.out, "  int64 bytes = 2") != NULL, "%s", fx.out);
	ck_assert_int_eq(run_tool(&fx, NULL, "describe", fx.addr,
	                     "a.b.c.Outer.Inner", NULL),
	    0);
	ck_assert_msg(strstr(fx.out, "string text = 1") != NULL, "%s", fx.out);
	ck_assert_int_eq(run_tool(&fx, NULL, "describe", fx.addr,
	                     "/a.b.c.Nested/Watch", NULL),
	    0);
	ck_assert_msg(strstr(fx.out, "server-streaming method") != NULL &&
	                  strstr(fx.out, "rpc Watch(.a.b.c.Outer) returns "
	                                 "(stream .a.b.c.Outer.Inner)") != NULL,
	    "%s", fx.out);
	// edge_names.proto imports protobuf-c.proto, which imports
	// descriptor.proto: every one comes over, or the pool cannot build.
	ck_assert_int_eq(
	    run_tool(&fx, NULL, "describe", fx.addr, "names.Server", NULL), 0);
	ck_assert_msg(strstr(fx.out, "rpc get_HTTP2(") != NULL, "%s", fx.out);
	ck_assert_int_eq(run_tool(&fx, NULL, "describe", fx.addr,
	                     "test.echo.Nothing", NULL),
	    2);
	one_line(&fx, "test.echo.Nothing");
	ck_assert_int_eq(fx_invokes(&fx), 0);
	fx_stop(&fx);
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
	cli_fx fx;

	fx_start(&fx, true);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", "-d",
	                     "{\"payload\":\"ZmFpbA==\"}", NULL),
	    1);
	ck_assert_str_eq(fx.err, "drpc: NotFound (5): no such thing\n");
	ck_assert_str_eq(fx.out, "");
	// A deadline: the handler waits for the call's context to end.
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", "-d",
	                     "{\"payload\":\"YmxvY2s=\"}", "--timeout", "50ms",
	                     NULL),
	    1);
	one_line(&fx, "DeadlineExceeded (4)");
	fx_stop(&fx);
	// Nobody there.
	snprintf(fx.addr, sizeof(fx.addr), "unix:///tmp/drpc-cli-none-%d",
	    (int) getpid());
	ck_assert_int_eq(run_tool(&fx, NULL, "list", fx.addr, NULL), 3);
	one_line(&fx, "drpc-cli-none");
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
	cli_fx fx;

	fx_start(&fx, true);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
		                     cases[i].method, "-d", cases[i].data, NULL),
		    2);
		one_line(&fx, cases[i].want);
	}
	// A bad line on stdin, in a client stream: parsed before the call.
	ck_assert_int_eq(run_tool(&fx, "{}\n{]\n", "call", fx.addr,
	                     "/test.echo.EchoService/ClientStream", "-d", "@-",
	                     NULL),
	    2);
	one_line(&fx, "request line 2");
	// A .proto that does not parse: file, line and column.
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/cli.broken.X/Y", "--proto",
	                     CLI_DIR "/broken.proto", "-I", CLI_DIR, NULL),
	    2);
	one_line(&fx, "broken.proto:6:");
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", "--timeout", "5x",
	                     NULL),
	    2);
	ck_assert_msg(strstr(fx.err, "unknown unit") != NULL, "%s", fx.err);
	ck_assert_int_eq(fx_invokes(&fx), 0);
	fx_stop(&fx);
}
END_TEST

// A server without reflection: a clear message asking for --proto; with
// it, the call works.
START_TEST(test_cli_no_reflection)
{
	cli_fx fx;

	fx_start(&fx, false);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", NULL),
	    2);
	one_line(&fx, "does not answer reflection");
	ck_assert_msg(strstr(fx.err, "--proto") != NULL, "%s", fx.err);
	ck_assert_int_eq(run_tool(&fx, NULL, "list", fx.addr, NULL), 2);
	one_line(&fx, "does not answer reflection");
	ck_assert_int_eq(fx_invokes(&fx), 0);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", "--proto",
	                     DRPC_SOURCE_DIR "/test/proto/echo.proto", "-I",
	                     DRPC_SOURCE_DIR "/test/proto", NULL),
	    0);
	ck_assert_str_eq(fx.out, "{}\n");
	ck_assert_str_eq(fx_rec(&fx), "|");
	fx_stop(&fx);
}
END_TEST

// A reflection service that waits for the call's deadline: the deadline
// of --timeout ends the lookup, which is a deadline (status 1), not a
// server without reflection (status 2).
static drpc_err
h_refl_block(drpc_stream *s, void *user)
{
	void  *data = NULL;
	size_t len  = 0;

	(void) user;
	if (drpc_stream_recv(s, &data, &len) == DRPC_OK) {
		drpc_free(data);
	}
	return drpc_ctx_wait(drpc_stream_ctx(s), 0);
}

START_TEST(test_cli_reflect_deadline)
{
	cli_fx fx;

	fx_init(&fx, false);
	ck_assert_int_eq(drpc_mux_register(fx.mux,
	                     DRPC_REFLECT_FILE_CONTAINING_SYMBOL, h_refl_block,
	                     NULL),
	    DRPC_OK);
	ck_assert_int_eq(drpc_mux_register(fx.mux, DRPC_REFLECT_LIST_SERVICES,
	                     h_refl_block, NULL),
	    DRPC_OK);
	fx_serve(&fx);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", "--timeout", "50ms",
	                     NULL),
	    1);
	one_line(&fx, "DeadlineExceeded (4)");
	ck_assert_msg(strstr(fx.err, "does not answer reflection") == NULL,
	    "%s", fx.err);
	ck_assert_int_eq(run_tool(&fx, NULL, "list", fx.addr, "--timeout",
	                     "50ms", NULL),
	    1);
	one_line(&fx, "DeadlineExceeded (4)");
	ck_assert_int_eq(fx_invokes(&fx), 0);
	fx_stop(&fx);
}
END_TEST

// -d @FILE that cannot be read (a directory opens, but reads fail): a bad
// input, not an empty request.
START_TEST(test_cli_data_unreadable)
{
	cli_fx fx;

	fx_start(&fx, true);
	ck_assert_int_eq(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", "-d", "@" CLI_DIR,
	                     NULL),
	    2);
	one_line(&fx, "cannot read");
	ck_assert_str_eq(fx.out, "");
	ck_assert_int_eq(fx_invokes(&fx), 0);
	fx_stop(&fx);
}
END_TEST

// A hostile (or broken) reflection service: file fN.proto imports
// f(N+1).proto, without end. The tool must give up with a clear line,
// not follow the chain until its stack overflows.
static size_t
put_string(uint8_t *p, unsigned field, const char *str)
{
	size_t n = strlen(str);
	size_t o = 0;

	p[o++] = (uint8_t) (field << 3 | 2);
	p[o++] = (uint8_t) n; // every string here is under 128 bytes
	memcpy(p + o, str, n);
	return o + n;
}

// chain_reply answers FileDescriptorProto fN.proto (package x, importing
// f(N+1).proto; f0.proto also defines service Svc) as one field 1.
static drpc_err
chain_reply(drpc_stream *s, unsigned long i)
{
	char    name[32];
	char    dep[32];
	uint8_t fd[128];
	uint8_t out[160];
	size_t  n = 0;

	snprintf(name, sizeof(name), "f%lu.proto", i);
	snprintf(dep, sizeof(dep), "f%lu.proto", i + 1);
	n += put_string(fd + n, 1, name);
	n += put_string(fd + n, 2, "x");
	n += put_string(fd + n, 3, dep);
	if (i == 0) {
		uint8_t svc[8];
		size_t  k = put_string(svc, 1, "Svc");

		fd[n++] = 0x32; // service, field 6
		fd[n++] = (uint8_t) k;
		memcpy(fd + n, svc, k);
		n += k;
	}
	out[0] = 0x0a;
	out[1] = (uint8_t) n;
	memcpy(out + 2, fd, n);
	return drpc_stream_send_last(s, out, n + 2);
}

static drpc_err
h_chain_symbol(drpc_stream *s, void *user)
{
	void  *data = NULL;
	size_t len  = 0;

	(void) user;
	if (drpc_stream_recv(s, &data, &len) == DRPC_OK) {
		drpc_free(data);
	}
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
	cli_fx fx;

	fx_init(&fx, false);
	ck_assert_int_eq(drpc_mux_register(fx.mux,
	                     DRPC_REFLECT_FILE_CONTAINING_SYMBOL, h_chain_symbol,
	                     NULL),
	    DRPC_OK);
	ck_assert_int_eq(drpc_mux_register(fx.mux, DRPC_REFLECT_FILE_BY_FILENAME,
	                     h_chain_file, NULL),
	    DRPC_OK);
	fx_serve(&fx);
	ck_assert_int_eq(
	    run_tool(&fx, NULL, "describe", fx.addr, "x.Svc", NULL), 2);
	one_line(&fx, "more than");
	fx_stop(&fx);
}
END_TEST

// write_set writes len bytes to a new file; its path in path (unlink it).
static void
write_set(char *path, const void *data, size_t len)
{
	int fd;

	strcpy(path, "/tmp/drpc-cli-set-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t) len);
	close(fd);
}

// Descriptor sets concatenated (`cat a.pb b.pb`, which protobuf reads as
// one set) repeat the files both import: the same file twice is no
// error; two different files of one name are, in one line.
START_TEST(test_cli_descriptor_set_duplicates)
{
	// FileDescriptorSet{file{name:"a.proto" package:"x" service{name:
	// "S"}}} twice; then with a second a.proto of package "y".
	static const uint8_t same[] = {0x0a, 0x11, 0x0a, 0x07, 'a', '.', 'p',
	    'r', 'o', 't', 'o', 0x12, 0x01, 'x', 0x32, 0x03, 0x0a, 0x01, 'S',
	    0x0a, 0x11, 0x0a, 0x07, 'a', '.', 'p', 'r', 'o', 't', 'o', 0x12,
	    0x01, 'x', 0x32, 0x03, 0x0a, 0x01, 'S'};
	static const uint8_t other[] = {0x0a, 0x11, 0x0a, 0x07, 'a', '.', 'p',
	    'r', 'o', 't', 'o', 0x12, 0x01, 'x', 0x32, 0x03, 0x0a, 0x01, 'S',
	    0x0a, 0x0c, 0x0a, 0x07, 'a', '.', 'p', 'r', 'o', 't', 'o', 0x12,
	    0x01, 'y'};
	char   path[64];
	cli_fx fx;

	memset(&fx, 0, sizeof(fx));
	write_set(path, same, sizeof(same));
	ck_assert_int_eq(
	    run_tool(&fx, NULL, "list", "--descriptor-set", path, NULL), 0);
	ck_assert_str_eq(fx.out, "x.S\n");
	ck_assert_str_eq(fx.err, "");
	unlink(path);
	write_set(path, other, sizeof(other));
	ck_assert_int_eq(
	    run_tool(&fx, NULL, "list", "--descriptor-set", path, NULL), 2);
	one_line(&fx, "a.proto");
	unlink(path);
}
END_TEST

Suite *
cli_suite(void)
{
	Suite *s     = suite_create("cli");
	TCase *calls = tcase_create("calls");
	TCase *refl  = tcase_create("reflection");
	TCase *bad   = tcase_create("bad_input");

	tcase_add_test(calls, test_cli_unary_by_reflection);
	tcase_add_test(calls, test_cli_server_stream);
	tcase_add_test(calls, test_cli_client_stream);
	tcase_add_test(calls, test_cli_bidi);
	tcase_add_test(calls, test_cli_json_mapping);
	tcase_add_test(refl, test_cli_list_describe);
	tcase_add_test(refl, test_cli_reflect_wire);
	tcase_add_test(refl, test_cli_no_reflection);
	tcase_add_test(bad, test_cli_errors);
	tcase_add_test(bad, test_cli_bad_input);
	tcase_add_test(bad, test_cli_data_unreadable);
	tcase_add_test(bad, test_cli_descriptor_set_duplicates);
	tcase_add_test(refl, test_cli_reflect_deadline);
	tcase_add_test(refl, test_cli_reflect_endless_imports);
	// Each run of the tool starts libprotobuf; under valgrind, seconds.
	tcase_set_timeout(calls, 60);
	tcase_set_timeout(refl, 60);
	tcase_set_timeout(bad, 60);
	suite_add_tcase(s, calls);
	suite_add_tcase(s, refl);
	suite_add_tcase(s, bad);
	cli_more_tcases(s);
	cli_demo_tcases(s);
	cli_tls_tcases(s);
	return s;
}
