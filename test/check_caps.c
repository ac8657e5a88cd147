// Server-wide caps (issue 14): the accept loop outlives the process's
// descriptors running out; max_handlers bounds the handlers of the whole
// server; max_streams has a default; connections that never send a whole
// frame, or that stay without a stream, are closed.
//
// Nothing here waits for time: a test waits for the event itself (a log
// line, the end of input on a raw socket, a handler's start) or, to show
// that something did NOT happen by a time, for the server's reaper to
// report a sweep past that time (the swept hook, lib/server/hooks.h). A
// test whose timeout could pass before its connection even got going (a
// stalled thread) runs again with twice the time (test/README.md, rule 5).
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "common/buf.h"
#include "fixture.h"
#include "platform/thread.h"
#include "server/hooks.h"
#include "suites.h"
#include "testutil.h"
#include "transport/addr.h"
#include "wire/errbody.h"
#include "wire/frame.h"
#include "wire/reader.h"

#define WAIT_NS tu_bound_ns(10 * 1000000000ll)
#define ECHO    TF_ECHO
#define BLOCK   TF_BLOCK
// The first timeout a timing test tries, doubled (at most TRIES times)
// while its precondition fails.
#define FIRST_MS 200
#define TRIES    7

// The server under test (fixture.h: its log kept, Block handlers
// counted and held until the gate opens), with its reaper's sweeps
// observed.

typedef struct caps {
	tf      t;
	int64_t swept; // the last sweep's time, 0 for none; guarded by t.mu
} caps;

// caps_swept runs on the reaper with the server's mu held: it only takes
// the fixture's own lock.
static void
caps_swept(void *arg, int64_t now_ns)
{
	caps *f = arg;

	drpc__mutex_lock(&f->t.mu);
	f->swept = now_ns;
	drpc__cond_broadcast(&f->t.cv);
	drpc__mutex_unlock(&f->t.mu);
}

static void
caps_start(caps *f, const drpc_server_opts *o)
{
	drpc__server_hooks h  = {.swept = caps_swept, .arg = f};
	tf_opts            to = {.server = o, .hooks = &h};

	f->swept = 0;
	tf_server_start(&f->t, &to);
}

// caps_wait_swept waits until the reaper has swept as of t or later.
static bool
caps_wait_swept(caps *f, int64_t t)
{
	int64_t dl = drpc_now_ns() + WAIT_NS;
	bool    done;

	drpc__mutex_lock(&f->t.mu);
	while (!(done = f->swept >= t) &&
	       drpc__cond_wait_until(&f->t.cv, &f->t.mu, dl) == DRPC_OK) {
	}
	drpc__mutex_unlock(&f->t.mu);
	return done;
}

// A raw peer on a socket: the test writes frames byte for byte and reads
// what the server sends, each read bounded by WAIT_NS.

typedef struct raw {
	int                fd;
	drpc__frame_reader fr;
} raw;

static void
raw_dial(raw *r, const char *addr)
{
	DRPC_CHECK_OK(drpc__dial(addr, 0, &r->fd));
	drpc__frame_reader_init(&r->fr, tf_read_fd, &r->fd, 0);
}

static void
raw_close(raw *r)
{
	close(r->fd);
	drpc__frame_reader_fini(&r->fr);
}

// raw_write tells whether the bytes went out (not if the server closed
// the connection already).
static bool
raw_write(raw *r, const void *bytes, size_t n)
{
	return send(r->fd, bytes, n, MSG_NOSIGNAL) == (ssize_t) n;
}

// raw_frame writes one whole frame (done set).
static bool
raw_frame(raw *r, uint8_t kind, uint64_t sid, uint64_t mid, const char *body)
{
	drpc__buf   b  = {0};
	drpc__frame fr = {
	    .stream_id  = sid,
	    .message_id = mid,
	    .data       = (const uint8_t *) body,
	    .len        = strlen(body),
	    .kind       = kind,
	    .done       = true,
	};

	bool ok;

	DRPC_CHECK_OK(drpc__frame_append(&b, &fr));
	ok = raw_write(r, b.data, b.len);
	drpc__buf_fini(&b);
	return ok;
}

// raw_next reads the next frame: DRPC_OK, or how the input ended
// (DRPC_EOF, DRPC_ECLOSED for a reset, DRPC_ETIMEDOUT past WAIT_NS).
static drpc_err
raw_next(raw *r, drpc__frame *f)
{
	return drpc__frame_reader_next(&r->fr, f);
}

// raw_ended reads until the server closes the connection, and tells
// whether it did (within WAIT_NS of the last byte).
static bool
raw_ended(raw *r)
{
	drpc__frame f;
	drpc_err    rv;

	while ((rv = raw_next(r, &f)) == DRPC_OK) {
	}
	return rv == DRPC_EOF || rv == DRPC_ECLOSED || rv == DRPC_ETRUNC;
}

// raw_open_now tells whether the server has not closed the connection:
// nothing to read, or bytes but no end (a FIN the kernel has delivered).
static bool
raw_open_now(raw *r)
{
	struct pollfd pfd = {r->fd, POLLIN, 0};
	char          c;

	if (poll(&pfd, 1, 0) == 0) {
		return true;
	}
	return recv(r->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

// raw_echo makes an Echo call on stream sid and reads its answer: false
// if the connection ended first (the test's precondition failed).
static bool
raw_echo(raw *r, uint64_t sid)
{
	drpc__frame f;

	if (!raw_frame(r, DRPC__KIND_INVOKE, sid, 1, ECHO) ||
	    !raw_frame(r, DRPC__KIND_MESSAGE, sid, 2, "ping") ||
	    !raw_frame(r, DRPC__KIND_CLOSE_SEND, sid, 3, "") ||
	    raw_next(r, &f) != DRPC_OK) {
		return false;
	}
	ck_assert_uint_eq(f.kind, DRPC__KIND_MESSAGE);
	ck_assert_uint_eq(f.len, 4);
	ck_assert_mem_eq(f.data, "ping", 4);
	if (raw_next(r, &f) != DRPC_OK) {
		return false;
	}
	ck_assert_uint_eq(f.kind, DRPC__KIND_CLOSE_SEND);
	return true;
}

static const char *
handshake_text(int64_t ms, char *buf, size_t cap)
{
	snprintf(
	    buf, cap, "no frame within %lld ms of connecting", (long long) ms);
	return buf;
}

static const char *
idle_text(int64_t ms, char *buf, size_t cap)
{
	snprintf(buf, cap, "idle: no stream for %lld ms", (long long) ms);
	return buf;
}

// caps_raw_open starts the server with o and connects the raw peer r to
// it; caps_raw_close closes r, then stops the server.
static void
caps_raw_open(caps *f, const drpc_server_opts *o, raw *r)
{
	caps_start(f, o);
	raw_dial(r, f->t.addr);
}

static void
caps_raw_close(caps *f, raw *r)
{
	raw_close(r);
	tf_stop(&f->t);
}

// caps_retry runs try with FIRST_MS, then twice the time while its
// precondition fails (it returns false), at most TRIES more times.
static void
caps_retry(bool (*try)(int64_t ms))
{
	int64_t ms = FIRST_MS;

	for (int i = 0; !try(ms); i++, ms *= 2) {
		ck_assert_int_lt(i, TRIES);
	}
}

// Handshake timeout.

// A connection that sends nothing (_i 0), or only part of a frame header
// (_i 1: the control byte and a stream id, no message id nor length), is
// closed once its handshake timeout passes, and the server logs why.
START_TEST(test_caps_handshake_closes)
{
	drpc_server_opts o = {
	    .handshake_timeout_ms = FIRST_MS, .idle_timeout_ms = -1};
	static const uint8_t half[] = {0x03, 0x01};
	caps                 f;
	raw                  r;
	char                 want[96];

	caps_raw_open(&f, &o, &r);
	if (_i == 1) {
		(void) raw_write(&r, half, sizeof(half)); // unless closed yet
	}
	ck_assert_msg(raw_ended(&r), "the connection is still open");
	ck_assert(tf_wait_log(
	    &f.t, handshake_text(FIRST_MS, want, sizeof(want)), NULL));
	ck_assert(tf_logged(&f.t, "server connection ended: no frame within"));
	caps_raw_close(&f, &r);
}
END_TEST

// try_handshake_met: a connection whose first frame (an Echo call) came
// in time stays open past its handshake timeout: the reaper sweeps past
// the time it would have been due, and it is still open with nothing
// logged. False if the connection ended before its call was answered
// (a stalled thread: the precondition failed).
static bool
try_handshake_met(int64_t ms)
{
	drpc_server_opts o = {
	    .handshake_timeout_ms = ms, .idle_timeout_ms = -1};
	caps    f;
	raw     r;
	int64_t t;
	bool    ok;

	caps_raw_open(&f, &o, &r);
	ok = raw_echo(&r, 1);
	if (ok) {
		// Served before now, so due (if it were) before now + ms.
		t = drpc_now_ns() + ms * 1000000;
		ck_assert(caps_wait_swept(&f, t));
		ck_assert_msg(raw_open_now(&r), "closed after its first frame");
		ck_assert(!tf_logged(&f.t, "server connection ended"));
		ck_assert(raw_echo(&r, 2)); // and it still serves
	}
	caps_raw_close(&f, &r);
	return ok;
}

START_TEST(test_caps_handshake_met)
{
	caps_retry(try_handshake_met);
}
END_TEST

// Idle timeout.

// try_idle_closes: a connection whose one call has ended is closed once
// it has had no stream for the idle timeout, and the server logs why.
static bool
try_idle_closes(int64_t ms)
{
	drpc_server_opts o = {
	    .handshake_timeout_ms = -1, .idle_timeout_ms = ms};
	caps f;
	raw  r;
	char want[96];
	bool ok;

	caps_raw_open(&f, &o, &r);
	ok = raw_echo(&r, 1);
	if (ok) {
		ck_assert_msg(
		    raw_ended(&r), "the idle connection is still open");
		ck_assert(
		    tf_wait_log(&f.t, idle_text(ms, want, sizeof(want)), NULL));
	}
	caps_raw_close(&f, &r);
	return ok;
}

START_TEST(test_caps_idle_closes)
{
	caps_retry(try_idle_closes);
}
END_TEST

// A connection that never sent a frame is idle too: with no handshake
// timeout, the idle timeout closes it.
START_TEST(test_caps_idle_without_handshake)
{
	drpc_server_opts o = {
	    .handshake_timeout_ms = -1, .idle_timeout_ms = FIRST_MS};
	caps f;
	raw  r;
	char want[96];

	caps_raw_open(&f, &o, &r);
	ck_assert_msg(raw_ended(&r), "the connection is still open");
	ck_assert(
	    tf_wait_log(&f.t, idle_text(FIRST_MS, want, sizeof(want)), NULL));
	caps_raw_close(&f, &r);
}
END_TEST

// try_idle_busy: a connection whose stream is held by a running handler
// is not idle, however long the handler runs: the reaper sweeps past the
// time it would have been due, and the call then completes. False if the
// connection ended before the handler started.
static bool
try_idle_busy(int64_t ms)
{
	drpc_server_opts o = {
	    .handshake_timeout_ms = ms, .idle_timeout_ms = ms};
	caps         f;
	drpc_conn   *c;
	drpc_stream *s = NULL;
	void        *data;
	size_t       len;
	int64_t      t;
	bool         ok;

	caps_start(&f, &o);
	DRPC_CHECK_OK(drpc_dial(&c, f.t.addr, NULL));
	// Each step fails only if the connection ended already.
	ok = drpc_stream_open(&s, c, NULL, BLOCK, NULL) == DRPC_OK;
	ok = ok && drpc_stream_send(s, "x", 1) == DRPC_OK &&
	     tf_wait_started_or_log(&f.t, 1, "server connection ended") == 1;
	if (ok) {
		// Idle (if it were) since before now, so due before now + ms.
		t = drpc_now_ns() + ms * 1000000;
		ck_assert(caps_wait_swept(&f, t));
		ck_assert(!tf_logged(&f.t, "server connection ended"));
		DRPC_CHECK_OK(drpc_conn_err(c));
		tf_gate_open(&f.t);
		DRPC_CHECK_OK(drpc_stream_recv(s, &data, &len));
		ck_assert_uint_eq(len, 4);
		ck_assert_mem_eq(data, "done", 4);
		drpc_free(data);
		DRPC_CHECK_ERR(drpc_stream_recv(s, &data, &len), DRPC_EOF);
	}
	if (s != NULL) {
		drpc_stream_destroy(s);
	}
	drpc_conn_destroy(c);
	tf_stop(&f.t);
	return ok;
}

START_TEST(test_caps_idle_busy)
{
	caps_retry(try_idle_busy);
}
END_TEST

// max_handlers.

// With max_handlers 2 and two handlers running on one connection, an
// invoke on another connection, and one on the same, gets
// ResourceExhausted at once; both connections carry on, and once the
// handlers return, calls are served again (the place is free before the
// client sees its call end, so calls one after another never hit it).
START_TEST(test_caps_max_handlers)
{
	drpc_server_opts o = {.max_handlers = 2};
	caps             f;
	drpc_conn       *a;
	drpc_conn       *b;
	drpc_stream     *s[2];
	drpc_status      st = {0};
	void            *data;
	size_t           len;

	caps_start(&f, &o);
	DRPC_CHECK_OK(drpc_dial(&a, f.t.addr, NULL));
	DRPC_CHECK_OK(drpc_dial(&b, f.t.addr, NULL));
	for (int i = 0; i < 2; i++) {
		DRPC_CHECK_OK(drpc_stream_open(&s[i], a, NULL, BLOCK, NULL));
		DRPC_CHECK_OK(drpc_stream_send(s[i], "x", 1));
	}
	ck_assert_uint_eq(tf_wait_started_or_log(&f.t, 2, NULL), 2);
	for (int i = 0; i < 2; i++) {
		DRPC_CHECK_ERR(drpc_invoke(i == 0 ? b : a, NULL, ECHO, "y", 1,
		                   NULL, &data, &len, &st),
		    DRPC_ERESOURCE);
		ck_assert(st.remote);
		ck_assert_uint_eq(st.remote_code, 8);
		ck_assert_ptr_nonnull(strstr(st.message, "max_handlers"));
		drpc_status_reset(&st);
	}
	// An unknown method needs no handler: it is answered at once, by
	// its name, even with every handler place taken.
	DRPC_CHECK_ERR(drpc_invoke(b, NULL, "/nope.Svc/Missing", "y", 1, NULL,
	                   &data, &len, &st),
	    DRPC_EUNIMPL);
	ck_assert_ptr_nonnull(strstr(st.message, "unknown rpc"));
	drpc_status_reset(&st);
	tf_gate_open(&f.t);
	for (int i = 0; i < 2; i++) {
		DRPC_CHECK_OK(drpc_stream_recv(s[i], &data, &len));
		drpc_free(data);
		// The end comes after the handler has returned.
		DRPC_CHECK_ERR(drpc_stream_recv(s[i], &data, &len), DRPC_EOF);
		drpc_stream_destroy(s[i]);
	}
	// Each call is read to its end, which the server sends after the
	// handler returned: a unary invoke returns at the reply, and Echo
	// replies with drpc_stream_send, so its place could still be taken.
	for (int i = 0; i < 20; i++) {
		drpc_stream *e;

		DRPC_CHECK_OK(drpc_stream_open_request(
		    &e, i % 2 == 0 ? a : b, NULL, ECHO, "z", 1, NULL));
		DRPC_CHECK_OK(drpc_stream_recv(e, &data, &len));
		ck_assert_uint_eq(len, 1);
		drpc_free(data);
		DRPC_CHECK_ERR(drpc_stream_recv(e, &data, &len), DRPC_EOF);
		drpc_stream_destroy(e);
	}
	DRPC_CHECK_OK(drpc_conn_err(a));
	DRPC_CHECK_OK(drpc_conn_err(b));
	drpc_conn_destroy(a);
	drpc_conn_destroy(b);
	tf_stop(&f.t);
}
END_TEST

// max_streams: by default (_i 0) a connection holds 256 streams at once
// and the 257th gets ResourceExhausted; SIZE_MAX (_i 1) is no limit.
// (The client's own max_streams, 0, is no limit.)
#define STREAMS_OPEN 257

START_TEST(test_caps_max_streams)
{
	drpc_server_opts o    = {.max_streams = _i == 0 ? 0 : SIZE_MAX,
	       .handler_stack                 = (size_t) 64 << 10};
	size_t           want = _i == 0 ? 256 : STREAMS_OPEN;
	caps             f;
	drpc_conn       *c;
	drpc_stream    **s  = calloc(STREAMS_OPEN, sizeof(*s));
	drpc_status      st = {0};
	void            *data;
	size_t           len;

	ck_assert_ptr_nonnull(s);
	caps_start(&f, &o);
	DRPC_CHECK_OK(drpc_dial(&c, f.t.addr, NULL));
	for (size_t i = 0; i < STREAMS_OPEN; i++) {
		DRPC_CHECK_OK(drpc_stream_open(&s[i], c, NULL, BLOCK, NULL));
		DRPC_CHECK_OK(drpc_stream_send(s[i], "x", 1));
	}
	ck_assert_uint_eq(tf_wait_started_or_log(&f.t, want, NULL), want);
	if (_i == 0) {
		DRPC_CHECK_ERR(
		    drpc_stream_recv(s[256], &data, &len), DRPC_ERESOURCE);
		DRPC_CHECK_OK(drpc_stream_status(s[256], &st));
		ck_assert_uint_eq(st.remote_code, 8);
		drpc_status_reset(&st);
	}
	tf_gate_open(&f.t);
	for (size_t i = 0; i < want; i++) {
		DRPC_CHECK_OK(drpc_stream_recv(s[i], &data, &len));
		drpc_free(data);
	}
	for (size_t i = 0; i < STREAMS_OPEN; i++) {
		drpc_stream_destroy(s[i]);
	}
	free(s);
	DRPC_CHECK_OK(drpc_conn_err(c));
	drpc_conn_destroy(c);
	tf_stop(&f.t);
}
END_TEST

// The accept loop against EMFILE. A server in a child process, with its
// descriptor limit lowered to a few above what it has open, is flooded
// with connections past the limit: it logs that accepting pauses. Then
// the flood ends and a normal client is served (_i 0), or the server
// shuts down while it is paused (_i 1).

#define FLOOD_CONNS 64 // well past the few the child can accept
#define FD_SPARE    4  // descriptors the child has left

// child_log forwards every line about accepting to the parent.
static void
child_log(void *arg, drpc_log_level level, const char *msg)
{
	int  fd = *(int *) arg;
	char line[512];
	int  n;

	(void) level;
	if (strstr(msg, "accept") != NULL) {
		n = snprintf(line, sizeof(line), "%s\n", msg);
		(void) !write(fd, line, (size_t) n);
	}
}

// fd_limit is the descriptor limit that leaves n numbers free: EMFILE
// comes when every number below the limit is taken (those above it that
// are open stay usable).
static rlim_t
fd_limit(int n)
{
	int fd = 0;

	for (; n > 0; fd++) {
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
			n--;
		}
	}
	return (rlim_t) fd;
}

// emfile_child serves Echo with its limit lowered, tells the parent its
// address ("addr ADDR"), and shuts down when the parent writes to cmd or
// closes it. It never uses Check (it is a forked child): its exit status
// says how it went.
static int
emfile_child(int out, int cmd)
{
	drpc_server_opts o = {.log = child_log, .log_arg = &out};
	struct rlimit    rl;
	drpc_mux        *mux;
	drpc_server     *srv;
	char             addr[300];
	char             line[340];
	char             c;
	int              n;

	(void) fcntl(out, F_SETFL, O_NONBLOCK); // never block on the log
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return 10;
	}
	rl.rlim_cur = fd_limit(FD_SPARE);
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return 11;
	}
	if (drpc_mux_create(&mux) != DRPC_OK ||
	    drpc_mux_register(mux, ECHO, tf_h_echo, NULL) != DRPC_OK ||
	    drpc_server_create(&srv, mux, &o) != DRPC_OK) {
		return 12;
	}
	if (drpc_server_listen(srv, "tcp://127.0.0.1:0") != DRPC_OK ||
	    drpc_server_addr(srv, addr, sizeof(addr)) != DRPC_OK) {
		return 13;
	}
	n = snprintf(line, sizeof(line), "addr %s\n", addr);
	if (write(out, line, (size_t) n) != n) {
		return 14;
	}
	(void) !read(cmd, &c, 1);
	(void) drpc_server_shutdown(srv, drpc_now_ns() + 1000000000);
	drpc_server_destroy(srv);
	drpc_mux_destroy(mux);
	return 0;
}

// A reader of the child's lines, each wait bounded by WAIT_NS.
typedef struct lines {
	int    fd;
	char   buf[8192];
	size_t len;
} lines;

// lines_wait reads lines until one contains text (copied to out, if not
// NULL) and tells whether one came.
static bool
lines_wait(lines *l, const char *text, char *out, size_t cap)
{
	int64_t dl = drpc_now_ns() + WAIT_NS;

	for (;;) {
		char *nl;

		while ((nl = memchr(l->buf, '\n', l->len)) != NULL) {
			size_t n     = (size_t) (nl - l->buf) + 1;
			bool   found = false;

			*nl = '\0';
			if (strstr(l->buf, text) != NULL) {
				found = true;
				if (out != NULL && cap > 0) {
					size_t k =
					    n - 1 < cap - 1 ? n - 1 : cap - 1;

					memcpy(out, l->buf, k);
					out[k] = '\0';
				}
			}
			memmove(l->buf, l->buf + n, l->len - n);
			l->len -= n;
			if (found) {
				return true;
			}
		}
		struct pollfd pfd  = {l->fd, POLLIN, 0};
		int64_t       left = (dl - drpc_now_ns()) / 1000000;
		ssize_t       got;

		if (left <= 0 || l->len == sizeof(l->buf) ||
		    poll(&pfd, 1, (int) left) != 1 ||
		    (got = read(l->fd, l->buf + l->len,
		         sizeof(l->buf) - l->len)) <= 0) {
			return false;
		}
		l->len += (size_t) got;
	}
}

// child_exit waits (polling, within WAIT_NS) for pid to exit and returns
// its exit status, or -1 (after killing it) if it does not exit.
static int
child_exit(pid_t pid)
{
	int64_t         dl   = drpc_now_ns() + WAIT_NS;
	struct timespec tick = {0, 10000000}; // the poll's interval
	int             status;

	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (drpc_now_ns() > dl) {
			kill(pid, SIGKILL);
			(void) waitpid(pid, &status, 0);
			return -1;
		}
		nanosleep(&tick, NULL);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_caps_accept_emfile)
{
	int        out[2];
	int        cmd[2];
	int        flood[FLOOD_CONNS];
	lines      l = {0};
	char       line[512];
	char      *addr;
	pid_t      pid;
	bool       paused;
	bool       resumed = true;
	drpc_err   rv      = DRPC_OK;
	drpc_conn *c;
	drpc_ctx  *ctx;
	void      *reply;
	size_t     len;

	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(cmd), 0);
	if ((pid = fork()) == 0) {
		close(out[0]);
		close(cmd[1]);
		_exit(emfile_child(out[1], cmd[0]));
	}
	ck_assert_int_gt(pid, 0);
	close(out[1]);
	close(cmd[0]);
	l.fd = out[0];
	ck_assert_msg(lines_wait(&l, "addr ", line, sizeof(line)),
	    "the child did not start (exit status %d)", child_exit(pid));
	addr = line + strlen("addr ");
	for (int i = 0; i < FLOOD_CONNS; i++) {
		DRPC_CHECK_OK(drpc__dial(addr, 0, &flood[i]));
	}
	paused = lines_wait(&l, "accepting pauses", NULL, 0);
	if (_i == 0) {
		for (int i = 0; i < FLOOD_CONNS; i++) {
			close(flood[i]);
		}
		// The call is the event: served once accepting resumes.
		DRPC_CHECK_OK(drpc_dial(&c, addr, NULL));
		DRPC_CHECK_OK(drpc_ctx_create_deadline(
		    &ctx, NULL, drpc_now_ns() + WAIT_NS));
		rv = drpc_invoke(
		    c, ctx, ECHO, "hi", 2, NULL, &reply, &len, NULL);
		if (rv == DRPC_OK) {
			drpc_free(reply);
			resumed = lines_wait(&l, "again, after", NULL, 0);
		}
		drpc_ctx_destroy(ctx);
		drpc_conn_destroy(c);
	}
	ck_assert_int_eq(write(cmd[1], "q", 1), 1); // shut down (paused, _i 1)
	ck_assert_int_eq(child_exit(pid), 0);
	if (_i == 1) {
		for (int i = 0; i < FLOOD_CONNS; i++) {
			close(flood[i]);
		}
	}
	close(cmd[1]);
	close(out[0]);
	ck_assert_msg(
	    rv == DRPC_OK, "not served after the flood: %s", drpc_err_name(rv));
	ck_assert_msg(paused, "no \"accepting pauses\" line");
	ck_assert_msg(resumed, "no \"accepting ... again\" line");
}
END_TEST

TU_SUITE(caps,
    TU_TEST("timeouts", test_caps_handshake_closes, .loops = 2, .timeout = 60),
    TU_TEST("timeouts", test_caps_handshake_met),
    TU_TEST("timeouts", test_caps_idle_closes),
    TU_TEST("timeouts", test_caps_idle_without_handshake),
    TU_TEST("timeouts", test_caps_idle_busy),
    TU_TEST("limits", test_caps_max_handlers, .timeout = 60),
    TU_TEST("limits", test_caps_max_streams, .loops = 2),
    TU_TEST("accept", test_caps_accept_emfile, .loops = 2, .timeout = 60))
