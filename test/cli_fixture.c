// The cli suites' fixture (cli_fixture.h).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "cli_fixture.h"
#include "echo.drpc.h"
#include "echo_service.h"
#include "edge_names.drpc.h"
#include "edge_nested.drpc.h"
#ifdef DRPC_HAVE_INTEROP_GEN
#include "interop.drpc.h"
#endif
#include "testutil.h"

extern char **environ;


static void
rec_add(cli_fx *fx, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t         n = strlen(fx->rec);

	for (size_t i = 0; i < len && n + 4 < REC_MAX; i++) {
		snprintf(fx->rec + n, 3, "%02x", p[i]);
		n += 2;
	}
	if (n + 2 < REC_MAX) {
		fx->rec[n++] = '|';
		fx->rec[n]   = '\0';
	}
}

// take receives one request and records it; DRPC_EOF at the end.
static drpc_err
take(drpc_stream *s, cli_fx *fx, void **data, size_t *len)
{
	drpc_err rv = drpc_stream_recv(s, data, len);

	if (rv == DRPC_OK) {
		pthread_mutex_lock(&fx->mu);
		rec_add(fx, *data, *len);
		pthread_mutex_unlock(&fx->mu);
	}
	return rv;
}

static void
entered(cli_fx *fx, drpc_stream *s)
{
	const char *v;
	size_t      n;

	pthread_mutex_lock(&fx->mu);
	fx->invokes++;
	if (drpc_stream_md_get(s, "x-trace", &v, &n) == DRPC_OK) {
		snprintf(fx->md, sizeof(fx->md), "%s", v);
	}
	pthread_mutex_unlock(&fx->mu);
}

// Unary and Mapping/Echo: echo the bytes; a Msg "fail" gets NotFound, a
// Msg "block" waits until the call's context ends (its deadline).
static drpc_err
h_unary(drpc_stream *s, void *user)
{
	cli_fx        *fx   = user;
	void          *data = NULL;
	size_t         len  = 0;
	const uint8_t *pl;
	size_t         pl_len;
	drpc_err       rv;

	entered(fx, s);
	if ((rv = take(s, fx, &data, &len)) != DRPC_OK) {
		return rv;
	}
	if (echo_msg_decode(data, len, &pl, &pl_len) == DRPC_OK &&
	    pl_len == 4 && memcmp(pl, "fail", 4) == 0) {
		drpc_free(data);
		return drpc_stream_set_error(s, 5, "no such thing");
	}
	if (echo_msg_decode(data, len, &pl, &pl_len) == DRPC_OK &&
	    pl_len == 5 && memcmp(pl, "block", 5) == 0) {
		drpc_free(data);
		return drpc_ctx_wait(drpc_stream_ctx(s), 0);
	}
	rv = drpc_stream_send_last(s, data, len);
	drpc_free(data);
	return rv;
}

// ServerStream: CountRequest{count} (count < 10) -> Msg "0" .. "count-1".
static drpc_err
h_server_stream(drpc_stream *s, void *user)
{
	cli_fx  *fx    = user;
	void    *data  = NULL;
	size_t   len   = 0;
	unsigned count = 0;
	drpc_err rv;

	entered(fx, s);
	if ((rv = take(s, fx, &data, &len)) != DRPC_OK) {
		return rv;
	}
	if (len == 2 && ((uint8_t *) data)[0] == 0x08) {
		count = ((uint8_t *) data)[1];
	}
	drpc_free(data);
	for (unsigned i = 0; i < count && i < 10; i++) {
		uint8_t m[3] = {0x0a, 0x01, (uint8_t) ('0' + i)};

		if ((rv = drpc_stream_send(s, m, sizeof(m))) != DRPC_OK) {
			return rv;
		}
	}
	return DRPC_OK;
}

// ClientStream: Summary{count, bytes} of the Msgs received.
static drpc_err
h_client_stream(drpc_stream *s, void *user)
{
	cli_fx  *fx = user;
	unsigned n  = 0;
	unsigned b  = 0;
	drpc_err rv;
	uint8_t  sum[4];

	entered(fx, s);
	for (;;) {
		void          *data = NULL;
		size_t         len  = 0;
		const uint8_t *pl;
		size_t         pl_len = 0;

		if ((rv = take(s, fx, &data, &len)) == DRPC_EOF) {
			break;
		}
		if (rv != DRPC_OK) {
			return rv;
		}
		echo_msg_decode(data, len, &pl, &pl_len);
		drpc_free(data);
		n++;
		b += (unsigned) pl_len;
	}
	sum[0] = 0x08;
	sum[1] = (uint8_t) n;
	sum[2] = 0x10;
	sum[3] = (uint8_t) b;
	return drpc_stream_send_last(s, sum, sizeof(sum));
}

// Bidi: echo each message as it comes.
static drpc_err
h_bidi(drpc_stream *s, void *user)
{
	cli_fx  *fx = user;
	drpc_err rv;

	entered(fx, s);
	for (;;) {
		void  *data = NULL;
		size_t len  = 0;

		if ((rv = take(s, fx, &data, &len)) == DRPC_EOF) {
			return DRPC_OK;
		}
		if (rv != DRPC_OK) {
			return rv;
		}
		rv = drpc_stream_send(s, data, len);
		drpc_free(data);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
}

// fx_init sets up the mux (handlers, and reflection if asked); fx_serve
// starts the server. Tests may register more handlers in between.
void
fx_init(cli_fx *fx, bool reflection)
{
	memset(fx, 0, sizeof(*fx));
	pthread_mutex_init(&fx->mu, NULL);
	ck_assert_int_eq(drpc_mux_create(&fx->mux), DRPC_OK);
	ck_assert_int_eq(drpc_mux_register(fx->mux,
	                     TEST__ECHO__ECHO_SERVICE__UNARY__METHOD, h_unary, fx),
	    DRPC_OK);
	ck_assert_int_eq(drpc_mux_register(fx->mux,
	                     TEST__ECHO__ECHO_SERVICE__SERVER_STREAM__METHOD,
	                     h_server_stream, fx),
	    DRPC_OK);
	ck_assert_int_eq(drpc_mux_register(fx->mux,
	                     TEST__ECHO__ECHO_SERVICE__CLIENT_STREAM__METHOD,
	                     h_client_stream, fx),
	    DRPC_OK);
	ck_assert_int_eq(drpc_mux_register(fx->mux,
	                     TEST__ECHO__ECHO_SERVICE__BIDI__METHOD, h_bidi, fx),
	    DRPC_OK);
	ck_assert_int_eq(drpc_mux_register(fx->mux, "/cli.mapping.Mapping/Echo",
	                     h_unary, fx),
	    DRPC_OK);
	if (reflection) {
		ck_assert_int_eq(drpc_reflect_create(&fx->refl), DRPC_OK);
		ck_assert_int_eq(drpc_reflect_add(fx->refl,
		                     drpc_gen_echo_2eproto_reflect()),
		    DRPC_OK);
		ck_assert_int_eq(drpc_reflect_add(fx->refl,
		                     drpc_gen_edge_5fnested_2eproto_reflect()),
		    DRPC_OK);
		ck_assert_int_eq(drpc_reflect_add(fx->refl,
		                     drpc_gen_edge_5fnames_2eproto_reflect()),
		    DRPC_OK);
#ifdef DRPC_HAVE_INTEROP_GEN
		ck_assert_int_eq(drpc_reflect_add(fx->refl,
		                     drpc_gen_interop_2eproto_reflect()),
		    DRPC_OK);
#endif
		ck_assert_int_eq(
		    drpc_reflect_register(fx->refl, fx->mux), DRPC_OK);
	}
}

void
fx_serve(cli_fx *fx)
{
	ck_assert_int_eq(drpc_server_create(&fx->srv, fx->mux, NULL), DRPC_OK);
	ck_assert_int_eq(
	    drpc_server_listen(fx->srv, "tcp://127.0.0.1:0"), DRPC_OK);
	ck_assert_int_eq(
	    drpc_server_addr(fx->srv, fx->addr, sizeof(fx->addr)), DRPC_OK);
}

void
fx_register(cli_fx *fx, const char *method, drpc_handler_fn fn)
{
	ck_assert_msg(drpc_mux_register(fx->mux, method, fn, NULL) == DRPC_OK,
	    "register %s", method);
}

void
fx_start(cli_fx *fx, bool reflection)
{
	fx_init(fx, reflection);
	fx_serve(fx);
}

void
fx_stop(cli_fx *fx)
{
	drpc_server_destroy(fx->srv);
	drpc_mux_destroy(fx->mux);
	drpc_reflect_destroy(fx->refl);
	pthread_mutex_destroy(&fx->mu);
}

void
fx_finish(cli_fx *fx, int invokes)
{
	ck_assert_msg(fx_invokes(fx) == invokes, "%d handlers entered, want %d",
	    fx_invokes(fx), invokes);
	fx_stop(fx);
}

int
fx_invokes(cli_fx *fx)
{
	int n;

	pthread_mutex_lock(&fx->mu);
	n = fx->invokes;
	pthread_mutex_unlock(&fx->mu);
	return n;
}

// fx_seen copies field (rec or md, the handlers' under mu) into seen.
static const char *
fx_seen(cli_fx *fx, const char *field)
{
	pthread_mutex_lock(&fx->mu);
	snprintf(fx->seen, sizeof(fx->seen), "%s", field);
	pthread_mutex_unlock(&fx->mu);
	return fx->seen;
}

const char *
fx_rec(cli_fx *fx)
{
	return fx_seen(fx, fx->rec);
}

const char *
fx_md(cli_fx *fx)
{
	return fx_seen(fx, fx->md);
}

void
fx_rec_reset(cli_fx *fx)
{
	pthread_mutex_lock(&fx->mu);
	fx->rec[0] = '\0';
	pthread_mutex_unlock(&fx->mu);
}

// read_into reads file fd (from the start) into buf, NUL-terminated.
void
read_into(int fd, char *buf, size_t cap)
{
	size_t  n = 0;
	ssize_t got;

	lseek(fd, 0, SEEK_SET);
	while (n + 1 < cap && (got = read(fd, buf + n, cap - 1 - n)) > 0) {
		n += (size_t) got;
	}
	buf[n] = '\0';
}

int
temp_file(void)
{
	char path[] = "/tmp/drpc-cli-XXXXXX";
	int  fd     = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	return fd;
}

// pb_string writes field (length-delimited) holding str, under 128 bytes.
static size_t
pb_string(uint8_t *p, unsigned field, const char *str)
{
	size_t n = strlen(str);

	p[0] = (uint8_t) (field << 3 | 2);
	p[1] = (uint8_t) n;
	memcpy(p + 2, str, n);
	return 2 + n;
}

size_t
fd_file(uint8_t *out, const char *name, const char *pkg, const char *dep,
    const char *svc)
{
	size_t n = 2;

	n += pb_string(out + n, 1, name);
	n += pb_string(out + n, 2, pkg);
	if (dep != NULL) {
		n += pb_string(out + n, 3, dep);
	}
	if (svc != NULL) {
		out[n]     = 0x32; // service, field 6: ServiceDescriptorProto
		out[n + 1] = (uint8_t) (2 + strlen(svc));
		n += 2;
		n += pb_string(out + n, 1, svc);
	}
	out[0] = 0x0a;
	out[1] = (uint8_t) (n - 2);
	return n;
}

void
write_temp(
    char *path, size_t cap, const char *tag, const void *data, size_t len)
{
	int fd;

	ck_assert_int_lt(
	    snprintf(path, cap, "/tmp/drpc-cli-%s-XXXXXX", tag), (int) cap);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t) len);
	close(fd);
}

size_t
cli_valgrind_argv(const char **argv)
{
	static const char *const vg[] = {"valgrind", "--quiet",
	    "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
	    "--errors-for-leak-kinds=definite,indirect,possible",
	    "--error-exitcode=99"};

	if (getenv("DRPC_CLI_VALGRIND") == NULL) {
		return 0;
	}
	memcpy(argv, vg, sizeof(vg));
	return TU_LEN(vg);
}

void
cli_argv(const char **argv, size_t cap, va_list ap)
{
	const char *args[CLI_MAX_ARGS + 1];
	size_t      n = 0;

	for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
		ck_assert_uint_lt(n, CLI_MAX_ARGS);
		args[n++] = a;
	}
	args[n] = NULL;
	cli_argv_list(argv, cap, args);
}

void
cli_argv_list(const char **argv, size_t cap, const char *const *args)
{
	size_t n = cli_valgrind_argv(argv);

	argv[n++] = DRPC_CLI_BIN;
	for (; *args != NULL; args++) {
		ck_assert_uint_lt(n, cap - 1);
		argv[n++] = *args;
	}
	argv[n] = NULL;
}

int
cli_wait(pid_t pid, const char *err)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		ck_assert_int_eq(errno, EINTR);
	}
	ck_assert_msg(!WIFEXITED(status) || WEXITSTATUS(status) != 99,
	    "valgrind found errors in the tool: %s", err);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
run_tool(cli_fx *fx, const char *in, ...)
{
	const char *args[CLI_MAX_ARGS + 1];
	size_t      n = 0;
	va_list     ap;

	va_start(ap, in);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
		ck_assert_uint_lt(n, CLI_MAX_ARGS);
		args[n++] = a;
	}
	va_end(ap);
	args[n] = NULL;
	return run_tool_list(fx, in, args);
}

int
run_tool_list(cli_fx *fx, const char *in, const char *const *args)
{
	const char *argv[CLI_MAX_ARGS + 8];
	int         fds[3];
	pid_t       pid;
	siginfo_t   info;

	posix_spawn_file_actions_t fa;

	cli_argv_list(argv, CLI_MAX_ARGS + 8, args);
	for (int i = 0; i < 3; i++) {
		fds[i] = temp_file();
	}
	if (in != NULL) {
		ck_assert_int_eq(
		    write(fds[0], in, strlen(in)), (ssize_t) strlen(in));
		lseek(fds[0], 0, SEEK_SET);
	}
	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 3; i++) {
		posix_spawn_file_actions_adddup2(&fa, fds[i], i);
	}
	ck_assert_int_eq(posix_spawnp(&pid, argv[0], &fa, NULL,
	                     (char *const *) argv, environ),
	    0);
	posix_spawn_file_actions_destroy(&fa);
	// The files are complete once the tool ended (cli_wait reaps it).
	while (waitid(P_PID, (id_t) pid, &info, WEXITED | WNOWAIT) < 0) {
		ck_assert_int_eq(errno, EINTR);
	}
	read_into(fds[1], fx->out, sizeof(fx->out));
	read_into(fds[2], fx->err, sizeof(fx->err));
	for (int i = 0; i < 3; i++) {
		close(fds[i]);
	}
	return cli_wait(pid, fx->err);
}

// one_line: the tool's stderr is one line starting "drpc: " and holding
// want.
void
one_line(const cli_fx *fx, const char *want)
{
	const char *nl = strchr(fx->err, '\n');

	ck_assert_msg(strncmp(fx->err, "drpc: ", 6) == 0, "stderr: %s", fx->err);
	ck_assert_msg(nl != NULL && nl[1] == '\0', "not one line: %s", fx->err);
	ck_assert_msg(strstr(fx->err, want) != NULL, "stderr: %s (want %s)",
	    fx->err, want);
}

// run_name writes "#i: ARGS..." into buf, for a failed check's message.
static const char *
run_name(char *buf, size_t cap, size_t i, const cli_run *r)
{
	size_t n = (size_t) snprintf(buf, cap, "#%zu:", i);

	for (size_t k = 0; k < TU_LEN(r->args) && r->args[k] != NULL && n < cap;
	     k++) {
		n += (size_t) snprintf(buf + n, cap - n, " %.40s", r->args[k]);
	}
	return buf;
}

void
expect_runs(cli_fx *fx, const cli_run *runs, size_t n)
{
	char name[512];

	for (size_t i = 0; i < n; i++) {
		const cli_run *r = &runs[i];
		int            status;

		run_name(name, sizeof(name), i, r);
		// The arguments end with a NULL within the row's array.
		ck_assert_msg(r->args[TU_LEN(r->args) - 1] == NULL,
		    "%s: over %zu arguments", name, TU_LEN(r->args) - 1);
		if (r->rec != NULL) {
			fx_rec_reset(fx);
		}
		status = run_tool_list(fx, r->in, r->args);
		ck_assert_msg(status == r->status,
		    "%s: exit status %d, want %d; stderr: %s", name, status,
		    r->status, fx->err);
		if (r->out != NULL) {
			ck_assert_msg(strcmp(fx->out, r->out) == 0,
			    "%s: stdout \"%s\", want \"%s\"", name, fx->out,
			    r->out);
		}
		if (r->err != NULL) {
			ck_assert_msg(strcmp(fx->err, r->err) == 0,
			    "%s: stderr \"%s\", want \"%s\"", name, fx->err,
			    r->err);
		}
		if (r->line != NULL) {
			// one_line's checks, naming the run.
			const char *nl = strchr(fx->err, '\n');

			ck_assert_msg(strncmp(fx->err, "drpc: ", 6) == 0 &&
			                  nl != NULL && nl[1] == '\0' &&
			                  strstr(fx->err, r->line) != NULL,
			    "%s: stderr \"%s\", want one line \"drpc: "
			    "...%s...\"",
			    name, fx->err, r->line);
		}
		for (size_t k = 0; k < TU_LEN(r->has) && r->has[k] != NULL;
		     k++) {
			ck_assert_msg(strstr(fx->out, r->has[k]) != NULL,
			    "%s: stdout \"%s\" lacks \"%s\"", name, fx->out,
			    r->has[k]);
		}
		if (r->rec != NULL) {
			ck_assert_msg(strcmp(fx_rec(fx), r->rec) == 0,
			    "%s: recorded %s, want %s", name, fx->seen, r->rec);
		}
	}
}
