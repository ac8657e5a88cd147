// More of the cli suite (cli_fixture.h): a bidi call that interleaves
// over pipes, reflection of fields, the reflection service's own errors
// as such, usage errors in one line, libprotobuf kept quiet,
// drpc_reflect_add all or nothing, descriptors without default json_name,
// the plugin's escaping of file names, and drpc dump.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "cg.h"
#include "cli_fixture.h"
#include "testutil.h"
#include "tu_rows.h"

extern char **environ;

// pipe_write writes all of s to fd without dying of SIGPIPE (the tool may
// have ended): SIGPIPE is blocked on this thread, and one it raised is
// taken before unblocking. False if the write failed.
static bool
pipe_write(int fd, const char *s)
{
	sigset_t        pipe_set;
	sigset_t        old;
	struct timespec zero = {0, 0};
	size_t          len  = strlen(s);
	size_t          done = 0;
	bool            ok   = true;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	while (done < len) {
		ssize_t n = write(fd, s + done, len - done);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			ok = false;
			while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
			       errno == EINTR) {
			}
			break;
		}
		done += (size_t) n;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ok;
}

// read_line reads fd (non-blocking) into buf (*len bytes so far) until
// it holds a whole line, within the wait bound; false at the end of the
// stream or the bound.
static bool
read_line(int fd, char *buf, size_t cap, size_t *len)
{
	int64_t end = drpc_now_ns() + tu_bound_ns(10000000000LL);

	while (memchr(buf, '\n', *len) == NULL) {
		struct pollfd p    = {fd, POLLIN, 0};
		int64_t       left = end - drpc_now_ns();
		ssize_t       n;

		if (left <= 0 || *len + 1 >= cap) {
			return false;
		}
		if (poll(&p, 1, (int) (left / 1000000 + 1)) < 0 &&
		    errno != EINTR) {
			return false;
		}
		n = read(fd, buf + *len, cap - 1 - *len);
		if (n == 0) {
			return false;
		}
		if (n > 0) {
			*len += (size_t) n;
			buf[*len] = '\0';
		}
	}
	return true;
}

// take_line moves the first line of buf (without its newline) into out.
static void
take_line(char *buf, size_t *len, char *out, size_t cap)
{
	char  *nl = memchr(buf, '\n', *len);
	size_t n  = (size_t) (nl - buf);

	snprintf(out, cap, "%.*s", (int) n, buf);
	memmove(buf, nl + 1, *len - n - 1);
	*len -= n + 1;
	buf[*len] = '\0';
}

static void
rec_copy(cli_fx *fx, char *out, size_t cap)
{
	snprintf(out, cap, "%s", fx_rec(fx));
}

// spawn_piped starts the tool with its stdin and stdout pipes (*in_w to
// write, *out_r non-blocking to read) and its stderr into err_fd.
static void
spawn_piped(pid_t *pid, int *in_w, int *out_r, int err_fd, ...)
{
	const char *argv[48];
	va_list     ap;
	int         in[2];
	int         out[2];

	posix_spawn_file_actions_t fa;

	va_start(ap, err_fd);
	cli_argv(argv, 48, ap);
	va_end(ap);
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(pipe(out), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	posix_spawn_file_actions_addclose(&fa, in[1]);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	ck_assert_int_eq(posix_spawnp(pid, argv[0], &fa, NULL,
	                     (char *const *) argv, environ),
	    0);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	*in_w  = in[1];
	*out_r = out[0];
}

// A bidi call reading stdin interleaves: the tool's stdin is a pipe, and
// each line is written only once the echo of the one before came back on
// its stdout. A tool that read all its input before sending (or printed
// only at the end) never answers the first line, and the test fails at
// the wait's bound.
START_TEST(test_cli_bidi_interleaves)
{
	static const char *const lines[][2] = {
	    {"{\"payload\":\"YQ==\"}\n", "0a0161|"},
	    {"\n{}\n", "0a0161||"},
	    {"{\"payload\":\"YmI=\"}\n", "0a0161||0a026262|"},
	};
	static const char *const echoes[] = {
	    "{\"payload\":\"YQ==\"}", "{}", "{\"payload\":\"YmI=\"}"};
	cli_fx    fx;
	char      buf[4096];
	char      line[4096]   = "";
	char      rec[REC_MAX] = "";
	size_t    len          = 0;
	int       in_w;
	int       out_r;
	int       err_fd = temp_file();
	pid_t     pid;
	bool      ok     = true;
	int       got_at = -1;
	int       status;
	siginfo_t info;

	fx_start(&fx, true);
	spawn_piped(&pid, &in_w, &out_r, err_fd, "call", fx.addr,
	    "/test.echo.EchoService/Bidi", "-d", "@-", NULL);
	buf[0] = '\0';
	for (int i = 0; i < 3 && ok; i++) {
		ok = pipe_write(in_w, lines[i][0]) &&
		     read_line(out_r, buf, sizeof(buf), &len);
		if (ok) {
			take_line(buf, &len, line, sizeof(line));
			rec_copy(&fx, rec, sizeof(rec));
			ok = strcmp(line, echoes[i]) == 0 &&
			     strcmp(rec, lines[i][1]) == 0;
		}
		got_at = ok ? i : got_at;
	}
	close(in_w);
	// The end: nothing more on stdout, then the tool exits 0.
	if (ok) {
		ok = !read_line(out_r, buf, sizeof(buf), &len) && len == 0;
	}
	close(out_r);
	while (waitid(P_PID, (id_t) pid, &info, WEXITED | WNOWAIT) < 0) {
		ck_assert_int_eq(errno, EINTR);
	}
	read_into(err_fd, fx.err, sizeof(fx.err));
	status = cli_wait(pid, fx.err);
	close(err_fd);
	ck_assert_msg(ok, "after %d echoes: line \"%s\", recorded %s, left %s",
	    got_at + 1, line, rec, buf);
	ck_assert_int_eq(status, 0);
	ck_assert_str_eq(fx.err, "");
	fx_finish(&fx, 1);
}
END_TEST

// A field, by reflection: the tool asks for the symbol, then its parent
// (which the server knows); the descriptor shows no default json_name.
START_TEST(test_cli_describe_field_by_reflection)
{
	cli_fx        fx;
	const cli_run runs[] = {
	    {.args   = {"describe", fx.addr, "test.echo.Msg.payload"},
	        .out = "test.echo.Msg.payload is a field of test.echo.Msg:\n"
	               "bytes payload = 1;\n"},
	    {.args = {"describe", fx.addr, ".a.b.c.Outer.Inner.text"},
	        .has =
	            {"is a field of a.b.c.Outer.Inner:\nstring text = 1;\n"}},
	    // Messages print without [json_name = ...] on every field.
	    {.args   = {"describe", fx.addr, "test.echo.types.Summary"},
	        .has = {"  int64 bytes = 2;\n"}},
	    {.args      = {"describe", fx.addr, "test.echo.Msg.nope"},
	        .status = 2,
	        .line   = "test.echo.Msg.nope"},
	    // An enum value, from a .proto (after fx_stop).
	    {.args = {"describe", "cli.mapping.GREEN", "--proto", MAPPING_PROTO,
	         "-I", CLI_DIR},
	        .has = {"is a value of enum cli.mapping.Color:\nGREEN = 2;\n"}},
	};

	fx_start(&fx, true);
	expect_runs(&fx, runs, 3);
	ck_assert_msg(strstr(fx.out, "json_name") == NULL, "%s", fx.out);
	expect_runs(&fx, runs + 3, 1);
	fx_finish(&fx, 0);
	expect_runs(&fx, runs + 4, 1);
}
END_TEST

// The reflection service's own refusal (a name over 4,096 bytes) is
// reported as such, not as a server without reflection.
START_TEST(test_cli_reflect_refusal)
{
	cli_fx fx;
	char  *name = malloc(5001);

	ck_assert_ptr_nonnull(name);
	memset(name, 'a', 5000);
	name[5000] = '\0';
	fx_start(&fx, true);
	ck_assert_int_eq(
	    run_tool(&fx, NULL, "describe", fx.addr, name, NULL), 2);
	free(name);
	one_line(&fx, "refused");
	ck_assert_msg(strstr(fx.err, "InvalidArgument (3): name longer than "
	                             "4096 bytes") != NULL &&
	                  strstr(fx.err, "does not answer reflection") == NULL,
	    "%s", fx.err);
	fx_stop(&fx);
}
END_TEST

// A bad invocation: one line naming what is wrong, then "try 'drpc
// --help'"; status 2. --help prints the usage on stdout.
START_TEST(test_cli_usage_errors)
{
	static const cli_run runs[] = {
	    {.args      = {NULL},
	        .status = 2,
	        .line   = "no command; try 'drpc --help'"},
	    {.args      = {"frob"},
	        .status = 2,
	        .line   = "unknown command \"frob\"; try 'drpc --help'"},
	    {.args      = {"call", "--bogus"},
	        .status = 2,
	        .line   = "unknown option --bogus; try 'drpc --help'"},
	    {.args      = {"call", "127.0.0.1:1"},
	        .status = 2,
	        .line   = "call: expected ADDR /pkg.Service/Method; try"},
	    {.args      = {"call", "127.0.0.1:1", "/a/b", "--timeout"},
	        .status = 2,
	        .line   = "--timeout needs a value; try 'drpc --help'",
	        .out    = ""},
	    {.args = {"--help"}, .err = ""},
	    {.args = {"call", "127.0.0.1:1", "--help"}},
	};
	cli_fx fx;

	memset(&fx, 0, sizeof(fx));
	expect_runs(&fx, runs, 5);
	for (size_t i = 5; i < TU_LEN(runs); i++) {
		expect_runs(&fx, runs + i, 1);
		ck_assert_msg(
		    strncmp(fx.out, "usage:\n", 7) == 0, "%s", fx.out);
	}
}
END_TEST

// An error of a whole .proto file (no line): "file: message".
START_TEST(test_cli_proto_file_error)
{
	static const cli_run run = {
	    .args   = {"list", "--proto", "nope.proto", "-I", CLI_DIR},
	    .status = 2,
	    .err    = "drpc: nope.proto: File not found.\n"};
	cli_fx fx;

	memset(&fx, 0, sizeof(fx));
	expect_runs(&fx, &run, 1);
}
END_TEST

// libprotobuf prints nothing of its own: two files of a descriptor set
// that define one symbol make its database log an error, which the tool
// says in its own line instead.
START_TEST(test_cli_protobuf_quiet)
{
	// FileDescriptorSet{file{name:"a.proto" package:"x" service{name:
	// "S"}} file{name:"b.proto" package:"x" service{name:"S"}}}.
	uint8_t              set[128];
	size_t               n = fd_file(set, "a.proto", "x", NULL, "S");
	char                 path[64];
	cli_fx               fx;
	const cli_run        run = {.args = {"list", "--descriptor-set", path},
	           .status                = 2,
	           .line = "b.proto conflicts with another file"};

	n += fd_file(set + n, "b.proto", "x", NULL, "S");
	write_temp(path, sizeof(path), "set", set, n);
	memset(&fx, 0, sizeof(fx));
	expect_runs(&fx, &run, 1);
	unlink(path);
}
END_TEST

// drpc_reflect_add is all or nothing: a file whose second import is bad
// leaves its first import unadded.
static const drpc_reflect_file        rb_good   = {.name = "rb_good.proto",
             .descriptor     = "\x0a\x0drb_good.proto",
             .descriptor_len = 15};
static const drpc_reflect_file        rb_bad    = {.name = "rb_bad.proto"};
static const drpc_reflect_file *const rb_deps[] = {&rb_good, &rb_bad};
static const drpc_reflect_file        rb_root   = {.name = "rb_root.proto",
             .descriptor     = "\x0a\x0drb_root.proto",
             .descriptor_len = 15,
             .deps           = rb_deps,
             .n_deps         = 2};

START_TEST(test_cli_reflect_add_all_or_nothing)
{
	cli_fx      fx;
	drpc_conn  *c;
	void       *reply = NULL;
	size_t      len   = 0;
	drpc_status st    = {0};

	fx_init(&fx, false);
	ck_assert_int_eq(drpc_reflect_create(&fx.refl), DRPC_OK);
	ck_assert_int_eq(drpc_reflect_add(fx.refl, &rb_root), DRPC_EINVAL);
	ck_assert_int_eq(drpc_reflect_register(fx.refl, fx.mux), DRPC_OK);
	fx_serve(&fx);
	ck_assert_int_eq(drpc_dial(&c, fx.addr, NULL), DRPC_OK);
	ck_assert_int_eq(
	    drpc_invoke(c, NULL, DRPC_REFLECT_FILE_BY_FILENAME,
	        "\x0a\x0drb_good.proto", 15, NULL, &reply, &len, &st),
	    DRPC_ENOTFOUND);
	ck_assert_str_eq(st.message, "file not found: rb_good.proto");
	drpc_status_reset(&st);
	drpc_conn_destroy(c);
	fx_stop(&fx);
}
END_TEST

// The plugin writes file names as escaped C string literals.
START_TEST(test_cli_c_string)
{
	static const char *const cases[][2] = {
	    {"dir/a.proto", "\"dir/a.proto\""},
	    {"we\"ird\\.proto", "\"we\\\"ird\\\\.proto\""},
	    {"?\?=.proto", "\"\\?\\?=.proto\""},
	    {"a\nb\x7f\xff", "\"a\\012b\\177\\377\""},
	    {"\x01"
	     "7",
	        "\"\\0017\""},
	    {"", "\"\""},
	};
	cg_arena a = {0};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_str_eq(cg_c_string(&a, cases[i][0]), cases[i][1]);
	}
	ck_assert(!a.failed);
	cg_arena_fini(&a);
}
END_TEST

// drpc dump is drpc-dump's decoder (cmd/drpc-dump/dump.c), under its
// own name: frames and packets of a file and of stdin, a truncated frame
// (status 1), a usage error (status 2).
START_TEST(test_cli_dump)
{
	// Invoke "/a/b", Message {08 01}, CloseSend: stream 1.
	static const uint8_t bytes[] = {0x03, 0x01, 0x01, 0x04, '/', 'a', '/',
	    'b', 0x05, 0x01, 0x02, 0x02, 0x08, 0x01, 0x0d, 0x01, 0x03, 0x00};
	static const char frames[] =
	    "       0  frame  Invoke         stream=1 msg=1 done=1 ctl=0 "
	    "len=4\n"
	    "          packet Invoke         stream=1 msg=1 ctl=0 len=4  rpc "
	    "\"/a/b\"\n";
	static const char usage[] = "drpc dump: unknown option '--nope'\n"
	                            "usage: drpc dump [options] [FILE...]\n";
	char              path[64];
	char              want[1024];
	cli_fx            fx;

	memset(&fx, 0, sizeof(fx));
	write_temp(path, sizeof(path), "dump", bytes, sizeof(bytes));
	ck_assert_int_eq(run_tool(&fx, NULL, "dump", path, NULL), 0);
	unlink(path);
	snprintf(want, sizeof(want),
	    "%s"
	    "       8  frame  Message        stream=1 msg=2 done=1 ctl=0 "
	    "len=2\n"
	    "          packet Message        stream=1 msg=2 ctl=0 len=2  "
	    "binary:\n"
	    "            0000  08 01                                         "
	    "   |..|\n"
	    "      14  frame  CloseSend      stream=1 msg=3 done=1 ctl=0 "
	    "len=0\n"
	    "          packet CloseSend      stream=1 msg=3 ctl=0 len=0  (no "
	    "body)\n"
	    "%s: 3 frames, 3 packets, 1 stream, 18 bytes\n",
	    frames, path);
	ck_assert_str_eq(fx.out, want);
	ck_assert_str_eq(fx.err, "");
	// From stdin, cut in the second frame's header.
	ck_assert_int_eq(
	    run_tool(&fx, "\x03\x01\x01\x04/a/b\x03", "dump", NULL), 1);
	ck_assert_str_eq(fx.out, frames);
	ck_assert_str_eq(fx.err, "drpc dump: <stdin>: offset 8: input ended "
	                         "in the middle of a frame\n");
	ck_assert_int_eq(run_tool(&fx, NULL, "dump", "--nope", NULL), 2);
	ck_assert_msg(strncmp(fx.err, usage, sizeof(usage) - 1) == 0, "%s",
	    fx.err);
}
END_TEST

TU_ROWS(cli_more_tests,
    TU_TEST("more", test_cli_bidi_interleaves, .timeout = 60),
    TU_TEST("more", test_cli_describe_field_by_reflection),
    TU_TEST("more", test_cli_reflect_refusal),
    TU_TEST("more", test_cli_usage_errors),
    TU_TEST("more", test_cli_proto_file_error),
    TU_TEST("more", test_cli_protobuf_quiet),
    TU_TEST("more", test_cli_reflect_add_all_or_nothing),
    TU_TEST("more", test_cli_c_string), TU_TEST("more", test_cli_dump))
