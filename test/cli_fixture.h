// The cli suites' fixture (test/check_cli*.c): a server of
// test/proto/echo.proto's EchoService from raw handlers that record every
// request byte for byte, cli.mapping.Mapping (an echo, for the proto3
// JSON mapping cases of test/cli/mapping.proto) and, if asked,
// reflection; and runs of the built tool (DRPC_CLI_BIN) as a child
// process.
//
// With DRPC_CLI_VALGRIND set (make valgrind sets it), every run of the
// tool is under valgrind's memcheck, leaks included: its status 99 is a
// memcheck error.
#ifndef DRPC_TEST_CLI_FIXTURE_H
#define DRPC_TEST_CLI_FIXTURE_H

#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <drpc/drpc.h>

#include "testutil.h"

#define REC_MAX 8192
#define OUT_MAX 16384

// The fixture: a server and what its handlers saw.
typedef struct cli_fx {
	drpc_mux       *mux;
	drpc_server    *srv;
	drpc_reflect   *refl;
	char            addr[128];
	pthread_mutex_t mu;
	int             invokes;       // handlers entered
	char            rec[REC_MAX];  // every request, hex, "|" after each
	char            md[256];       // the x-trace metadata of the last call
	char            seen[REC_MAX]; // fx_rec's and fx_md's copy (test's)
	char            out[OUT_MAX];  // the tool's stdout, of the last run
	char            err[OUT_MAX];  // and stderr
} cli_fx;

#define MAPPING_PROTO DRPC_SOURCE_DIR "/test/cli/mapping.proto"
#define CLI_DIR       DRPC_SOURCE_DIR "/test/cli"

// fx_init sets up the mux (handlers, and reflection if asked); fx_serve
// starts the server. Tests may register more handlers in between.
void fx_init(cli_fx *fx, bool reflection);
void fx_serve(cli_fx *fx);
void fx_start(cli_fx *fx, bool reflection); // fx_init, fx_serve
// fx_register registers fn (user NULL) for method; fails the test if it
// cannot.
void fx_register(cli_fx *fx, const char *method, drpc_handler_fn fn);
void fx_stop(cli_fx *fx);
// fx_finish checks that the handlers were entered invokes times (0: no
// call reached the server), then stops the server (fx_stop).
void fx_finish(cli_fx *fx, int invokes);
int  fx_invokes(cli_fx *fx); // handlers entered so far
// fx_rec and fx_md copy rec or md under the lock (the handlers write them
// on their threads) into fx->seen and return it; fx_rec_reset empties rec.
const char *fx_rec(cli_fx *fx);
const char *fx_md(cli_fx *fx);
void        fx_rec_reset(cli_fx *fx);

// read_into reads file fd (from the start) into buf, NUL-terminated.
void read_into(int fd, char *buf, size_t cap);

// temp_file: an unlinked temporary file, open for reading and writing.
int temp_file(void);

// The most arguments one run of the tool takes.
#define CLI_MAX_ARGS 40

// fd_file writes into out a FileDescriptorProto as field 1 of what holds
// it (a FileDescriptorSet's file, a reflection answer's
// file_descriptor_proto): named name, of package pkg, importing dep and
// defining service svc (each none if NULL). Every string, and the whole,
// under 128 bytes. Returns its length.
size_t fd_file(uint8_t *out, const char *name, const char *pkg, const char *dep,
    const char *svc);

// write_temp writes len bytes to a new file /tmp/drpc-cli-TAG-XXXXXX; its
// path in path (cap bytes; the caller unlinks it).
void write_temp(
    char *path, size_t cap, const char *tag, const void *data, size_t len);

// cli_valgrind_argv puts valgrind's command line (memcheck, leaks are
// errors, status 99) at the start of argv (room for 6) if
// DRPC_CLI_VALGRIND is set, and returns how many it put (0 if not set).
size_t cli_valgrind_argv(const char **argv);

// cli_argv fills argv (cap entries, NULL-terminated) with the tool's
// command line (under valgrind if DRPC_CLI_VALGRIND) and the arguments
// of ap, up to a NULL; cli_argv_list takes them from args, up to a NULL.
void cli_argv(const char **argv, size_t cap, va_list ap);
void cli_argv_list(const char **argv, size_t cap, const char *const *args);

// cli_wait waits for the tool to end; its exit status (-1 if it died of
// a signal; a failed check if valgrind found errors, stderr in err).
int cli_wait(pid_t pid, const char *err);

// run_tool runs the tool with the arguments (NULL-terminated) and in as
// its stdin; its output lands in fx->out and fx->err. Returns its exit
// status (-1 if it died of a signal).
int run_tool(cli_fx *fx, const char *in, ...);
// run_tool_list is run_tool with the arguments in args, up to a NULL.
int run_tool_list(cli_fx *fx, const char *in, const char *const *args);

// one_line: the tool's stderr is one line starting "drpc: " and holding
// want.
void one_line(const cli_fx *fx, const char *want);

// cli_run is one run of the tool and what it must do: its stdin (NULL:
// none), its arguments (up to a NULL: at most 15), its exit status and,
// each only where given, its stdout exactly, its stderr exactly, its
// stderr as one line holding line (one_line's checks), its stdout holding
// each of has, and the requests the server recorded during the run
// exactly (fx_rec; rec is emptied first). fx's server is needed for rec
// only.
typedef struct cli_run {
	const char *in;
	const char *args[16];
	int         status;
	const char *out;
	const char *err;
	const char *line;
	const char *has[3];
	const char *rec;
} cli_run;

// expect_runs makes the n runs in turn and checks each; a failed check
// names the run by its index and arguments.
void expect_runs(cli_fx *fx, const cli_run *runs, size_t n);

// The rows (tu_test) of check_cli_more.c's test cases, of
// check_cli_demo.c's (drpc-demo serve) and of check_cli_tls.c's (the tool
// over TLS), for the cli suite: each copies its rows into out (room for
// cap) and returns how many.
size_t cli_more_tests(tu_test *out, size_t cap);
size_t cli_demo_tests(tu_test *out, size_t cap);
size_t cli_tls_tests(tu_test *out, size_t cap);

#endif // DRPC_TEST_CLI_FIXTURE_H
