// Causes: every failure a user can meet explains itself in a drpc_cause
// (the code and a text naming the cause), over real loopback TCP and unix
// sockets. Each test asserts the code and a piece of the text, never a
// duration: it waits for the event it provokes. Addresses are loopback
// and unix sockets only; the name resolution test asks the local resolver
// about a name under the reserved .invalid domain.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "fixture.h"
#include "suites.h"
#include "testutil.h"
#include "transport/addr.h"
#include "wire/varint.h"

#define FORMS \
	"accepted: tcp://host:port, tcp://[v6]:port, tls://host:port, unix:///path"

// cause_is checks that rv and the cause agree on code, and that the text
// contains want.
static void
cause_is(drpc_err rv, const drpc_cause *c, drpc_err code, const char *want)
{
	ck_assert_msg(rv == code && c->code == code,
	    "returned %s, cause %s (\"%s\"), want %s", drpc_err_name(rv),
	    drpc_err_name(c->code), c->text, drpc_err_name(code));
	ck_assert_msg(strstr(c->text, want) != NULL,
	    "cause text \"%s\" lacks \"%s\"", c->text, want);
}

// cause_dirty fills c with garbage, to see that a call clears it.
static void
cause_dirty(drpc_cause *c)
{
	c->code = DRPC_EUNKNOWN;
	memset(c->text, 'x', sizeof(c->text) - 1);
	c->text[sizeof(c->text) - 1] = '\0';
}

static void
cause_cleared(const drpc_cause *c)
{
	ck_assert_int_eq(c->code, DRPC_OK);
	ck_assert_str_eq(c->text, "");
}

// A private directory under /tmp for unix sockets.
typedef struct tmpdir {
	char path[64];
} tmpdir;

static void
tmp_make(tmpdir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/drpc-causes-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->path));
}

// tmp_addr writes "unix://<dir>/<name>" into out.
static const char *
tmp_addr(const tmpdir *d, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "unix://%s/%s", d->path, name);
	return out;
}

// tmp_remove deletes the names given (if there), then the directory.
static void
tmp_remove(const tmpdir *d, const char *const *names, size_t n)
{
	char path[128];

	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", d->path, names[i]);
		(void) unlink(path);
	}
	ck_assert_int_eq(rmdir(d->path), 0);
}

// tcp_socket makes a loopback TCP socket bound to a free port; listening
// if backlog >= 0. Writes "tcp://127.0.0.1:<port>" into addr.
static int
tcp_socket(int backlog, char *addr, size_t cap)
{
	struct sockaddr_in a   = {.sin_family = AF_INET};
	socklen_t          len = sizeof(a);
	int                fd  = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	if (backlog >= 0) {
		ck_assert_int_eq(listen(fd, backlog), 0);
	}
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &a, &len), 0);
	snprintf(addr, cap, "tcp://127.0.0.1:%u", ntohs(a.sin_port));
	return fd;
}

// unix_socket makes a unix socket bound to path; listening if listening.
static int
unix_socket(const char *addr, bool listening)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int                fd  = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(
	    sun.sun_path, sizeof(sun.sun_path), "%s", addr + strlen("unix://"));
	ck_assert_int_eq(bind(fd, (struct sockaddr *) &sun, sizeof(sun)), 0);
	if (listening) {
		ck_assert_int_eq(listen(fd, 8), 0);
	}
	return fd;
}

// A dial (or listen) that fails, and what its cause must say.
static void
dial_fails(
    const char *addr, const drpc_conn_opts *o, drpc_err code, const char *want)
{
	drpc_conn *c = NULL;
	drpc_cause why;

	cause_dirty(&why);
	cause_is(drpc_dial_cause(&c, addr, o, &why), &why, code, want);
	ck_assert_ptr_null(c);
}

static void
listen_fails(const char *addr, drpc_err code, const char *want)
{
	drpc_mux    *m;
	drpc_server *s;
	drpc_cause   why;

	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_OK(drpc_server_create(&s, m, NULL));
	cause_dirty(&why);
	cause_is(drpc_server_listen_cause(s, addr, &why), &why, code, want);
	// The plain call agrees on the code.
	DRPC_CHECK_ERR(drpc_server_listen(s, addr), code);
	drpc_server_destroy(s);
	drpc_mux_destroy(m);
}

// Addresses: each malformed one is InvalidArgument, names what is wrong
// and shows the accepted forms; nothing is resolved or connected.

typedef struct bad_addr {
	bool        listen;
	const char *addr;
	const char *why;
} bad_addr;

static const bad_addr bad_addrs[] = {
    {false, "tcp://127.0.0.1:0", "port 0 is out of range 1-65535"},
    {false, "tcp://127.0.0.1:65536", "port 65536 is out of range 1-65535"},
    {false, "tcp://127.0.0.1:99999", "port 99999 is out of range 1-65535"},
    {true, "tcp://127.0.0.1:99999", "port 99999 is out of range 0-65535"},
    {true, "tcp://127.0.0.1:65536", "port 65536 is out of range 0-65535"},
    {false, "tcp://127.0.0.1", "missing port"},
    {true, "tcp://127.0.0.1", "missing port"},
    {false, "tcp://127.0.0.1:", "missing port"},
    {false, "tcp://[::1]", "missing port"},
    {false, "tcp://[::1:80", "'[' without ']'"},
    {false, "tcp://127.0.0.1:8x", "port \"8x\" is not a number"},
    {false, "tcp://127.0.0.1:-1", "port \"-1\" is not a number"},
    {false, "tcp://:80", "missing host"},
    {false, "udp://127.0.0.1:80", "unknown scheme \"udp\""},
    {true, "http://localhost:80", "unknown scheme \"http\""},
    {false, "127.0.0.1:80", "no scheme"},
    {true, "nonsense", "no scheme"},
    {false, "unix://", "missing path"},
    {true, "unix://", "missing path"},
    {false,
        "unix:///tmp/0123456789012345678901234567890123456789012345678901"
        "234567890123456789012345678901234567890123456789.sock",
        "path longer than 107 bytes"},
};

START_TEST(test_causes_bad_address)
{
	const bad_addr *b = &bad_addrs[_i];

	if (b->listen) {
		listen_fails(b->addr, DRPC_EINVAL, b->why);
		listen_fails(b->addr, DRPC_EINVAL, FORMS);
	} else {
		dial_fails(b->addr, NULL, DRPC_EINVAL, b->why);
		dial_fails(b->addr, NULL, DRPC_EINVAL, FORMS);
	}
}
END_TEST

// "tcp://host:99999" used to serve on port 34463 (99999 mod 65536): a
// listen on port 0 (any) still works, and says where it listens.
START_TEST(test_causes_listen_port_zero)
{
	drpc_mux    *m;
	drpc_server *s;
	drpc_cause   why;
	char         addr[300];

	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_OK(drpc_server_create(&s, m, NULL));
	cause_dirty(&why);
	DRPC_CHECK_OK(drpc_server_listen_cause(s, "tcp://127.0.0.1:0", &why));
	cause_cleared(&why);
	DRPC_CHECK_OK(drpc_server_addr(s, addr, sizeof(addr)));
	ck_assert_str_ne(addr, "tcp://127.0.0.1:0");
	drpc_server_destroy(s);
	drpc_mux_destroy(m);
}
END_TEST

// Dialing.

// A loopback port with a socket bound but not listening refuses.
START_TEST(test_causes_dial_refused)
{
	char addr[64];
	int  fd = tcp_socket(-1, addr, sizeof(addr));

	dial_fails(addr, NULL, DRPC_EUNAVAIL, "connection refused");
	dial_fails(addr, NULL, DRPC_EUNAVAIL, addr);
	close(fd);
}
END_TEST

START_TEST(test_causes_dial_no_unix_socket)
{
	static const char *const names[] = {"stale.sock"};
	tmpdir                   d;
	char                     addr[128];

	tmp_make(&d);
	dial_fails(tmp_addr(&d, "none.sock", addr, sizeof(addr)), NULL,
	    DRPC_EUNAVAIL, "no such unix socket");
	dial_fails("unix:///nonexistent-drpc-dir/x.sock", NULL, DRPC_EUNAVAIL,
	    "dial unix:///nonexistent-drpc-dir/x.sock: no such unix socket");
	// A socket file nobody listens on (a server that died) refuses.
	close(
	    unix_socket(tmp_addr(&d, "stale.sock", addr, sizeof(addr)), false));
	dial_fails(addr, NULL, DRPC_EUNAVAIL,
	    "connection refused (no server listens on the socket)");
	tmp_remove(&d, names, 1);
}
END_TEST

// The resolver's answer for a name under .invalid (RFC 6761: never
// exists). Whatever the resolver says (no such name, or no resolver at
// all), the text says resolution failed and for which name.
START_TEST(test_causes_dial_dns)
{
	dial_fails("tcp://no-such-host.invalid:1", NULL, DRPC_EUNAVAIL,
	    "name resolution failed for \"no-such-host.invalid\": ");
}
END_TEST

// A listener whose accept queue is full (backlog 0, one connection not
// accepted) drops further SYNs, so a dial waits its whole timeout. The
// test asserts the outcome, not how long it took.
START_TEST(test_causes_dial_timeout)
{
	drpc_conn_opts o = {.dial_timeout_ms = 100};
	char           addr[64];
	char           want[128];
	int            lfd = tcp_socket(0, addr, sizeof(addr));
	int            fd;

	DRPC_CHECK_OK(drpc__dial(addr, 0, &fd)); // fills the queue
	snprintf(want, sizeof(want), "dial %s: timed out after 100 ms", addr);
	dial_fails(addr, &o, DRPC_ETIMEDOUT, want);
	close(fd);
	close(lfd);
}
END_TEST

START_TEST(test_causes_dial_ok_clears)
{
	tf          f;
	drpc_conn  *c;
	drpc_cause  why;
	const char *addr = f.addr;

	tf_server_start(&f, NULL);
	cause_dirty(&why);
	DRPC_CHECK_OK(drpc_dial_cause(&c, addr, NULL, &why));
	cause_cleared(&why);
	drpc_conn_destroy(c);
	tf_free(&f);
	// NULL arguments are explained too (f.addr is still the address).
	cause_is(drpc_dial_cause(NULL, addr, NULL, &why), &why, DRPC_EINVAL,
	    "dial: no connection pointer");
	cause_is(drpc_dial_cause(&c, NULL, NULL, &why), &why, DRPC_EINVAL,
	    "dial: no address");
}
END_TEST

// Listening.

START_TEST(test_causes_listen_in_use)
{
	char addr[64];
	int  fd = tcp_socket(1, addr, sizeof(addr));

	listen_fails(addr, DRPC_EEXIST, "address in use");
	close(fd);
}
END_TEST

// A unix socket a server accepts on is in use; so is a path holding a
// file that is not a socket; a socket file left by a dead server is
// replaced.
START_TEST(test_causes_listen_unix_in_use)
{
	static const char *const names[] = {"live.sock", "file", "stale.sock"};
	tmpdir                   d;
	char                     addr[128];
	char                     path[128];
	drpc_mux                *m;
	drpc_server             *s;
	int                      fd;

	tmp_make(&d);
	fd = unix_socket(tmp_addr(&d, "live.sock", addr, sizeof(addr)), true);
	listen_fails(
	    addr, DRPC_EEXIST, "address in use (a server listens on it)");
	close(fd);
	snprintf(path, sizeof(path), "%s/file", d.path);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	listen_fails(tmp_addr(&d, "file", addr, sizeof(addr)), DRPC_EEXIST,
	    "address in use (a file that is not a socket)");
	close(
	    unix_socket(tmp_addr(&d, "stale.sock", addr, sizeof(addr)), false));
	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_OK(drpc_server_create(&s, m, NULL));
	DRPC_CHECK_OK(drpc_server_listen(s, addr));
	drpc_server_destroy(s);
	drpc_mux_destroy(m);
	tmp_remove(&d, names, 3);
}
END_TEST

// A host name of 256 bytes is refused before any resolution.
START_TEST(test_causes_host_too_long)
{
	char addr[320];

	memcpy(addr, "tcp://", 6);
	memset(addr + 6, 'h', 256);
	memcpy(addr + 6 + 256, ":80", 4);
	dial_fails(addr, NULL, DRPC_EINVAL, "host name too long");
	// The address in the text is cut, the reason kept.
	dial_fails(addr, NULL, DRPC_EINVAL, "hhh...\": host name too long");
}
END_TEST

// A server takes 8 listeners; one more, or one after shutdown, is
// refused after the bind, and says so.
START_TEST(test_causes_listen_refused)
{
	drpc_mux    *m;
	drpc_server *s;
	drpc_cause   why;

	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_OK(drpc_server_create(&s, m, NULL));
	for (int i = 0; i < 8; i++) {
		DRPC_CHECK_OK(drpc_server_listen(s, "tcp://127.0.0.1:0"));
	}
	cause_is(drpc_server_listen_cause(s, "tcp://127.0.0.1:0", &why), &why,
	    DRPC_ERESOURCE,
	    "listen tcp://127.0.0.1:0: the server has as many listeners as it "
	    "takes");
	DRPC_CHECK_OK(drpc_server_shutdown(s, 0));
	cause_is(drpc_server_listen_cause(s, "tcp://127.0.0.1:0", &why), &why,
	    DRPC_ESTATE, "listen tcp://127.0.0.1:0: the server is shutting down");
	cause_is(drpc_server_listen_cause(s, NULL, &why), &why, DRPC_EINVAL,
	    "listen: no address");
	drpc_server_destroy(s);
	drpc_mux_destroy(m);
}
END_TEST

START_TEST(test_causes_listen_no_dir)
{
	tmpdir d;
	char   addr[128];

	tmp_make(&d);
	listen_fails(tmp_addr(&d, "missing/x.sock", addr, sizeof(addr)),
	    DRPC_EUNAVAIL, "no such directory for the unix socket");
	tmp_remove(&d, NULL, 0);
}
END_TEST

// Permission denied, to dial and to listen: a unix socket in a directory
// its user may not enter. We run as root, who may enter anything, so a
// child process becomes nobody first; it sends both causes back over a
// pipe and exits without touching Check.
static void
perm_child(int out, const char *sock, const char *other)
{
	drpc_conn *c = NULL;
	drpc_cause why[2];
	int        fd;

	memset(why, 0, sizeof(why)); // every byte goes down the pipe
	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
		_exit(2);
	}
	(void) drpc_dial_cause(&c, sock, NULL, &why[0]);
	// Listening through the transport layer drpc_server_listen_cause
	// uses: a server would start threads in a forked child.
	if (drpc__listen_cause(other, &fd, &why[1]) == DRPC_OK) {
		close(fd);
	}
	_exit(write(out, why, sizeof(why)) == (ssize_t) sizeof(why) ? 0 : 3);
}

START_TEST(test_causes_permission_denied)
{
	static const char *const names[] = {"s.sock"};
	tmpdir                   d;
	char                     sock[128];
	char                     other[128];
	drpc_cause               why[2];
	int                      p[2];
	int                      lfd;
	int                      status;
	pid_t                    pid;

	tmp_make(&d);
	lfd = unix_socket(tmp_addr(&d, "s.sock", sock, sizeof(sock)), true);
	tmp_addr(&d, "other.sock", other, sizeof(other));
	ck_assert_int_eq(chmod(d.path, 0), 0);
	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		perm_child(p[1], sock, other);
	}
	ck_assert_int_gt(pid, 0);
	close(p[1]);
	ck_assert_int_eq(read(p[0], why, sizeof(why)), (ssize_t) sizeof(why));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(p[0]);
	close(lfd);
	ck_assert_int_eq(chmod(d.path, 0700), 0);
	tmp_remove(&d, names, 1);
	cause_is(why[0].code, &why[0], DRPC_EPERM, "permission denied");
	cause_is(why[0].code, &why[0], DRPC_EPERM, sock);
	cause_is(why[1].code, &why[1], DRPC_EPERM, "permission denied");
	cause_is(why[1].code, &why[1], DRPC_EPERM, "listen unix://");
}
END_TEST

// Connections that end. A log hook hears the end ("drpc: connection
// ended: ..." at DEBUG for a close, WARN otherwise): the tests wait for
// that line, then read the cause.

typedef struct end_log {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	bool            seen; // guarded by mu
	drpc_log_level  level;
	char            line[512];
} end_log;

#define END_LOG_INIT                                                        \
	{                                                                   \
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, \
		    DRPC_LOG_DEBUG, ""                                      \
	}

static void
end_log_fn(void *arg, drpc_log_level level, const char *msg)
{
	end_log *l = arg;

	if (strstr(msg, "connection ended: ") == NULL) {
		return;
	}
	pthread_mutex_lock(&l->mu);
	if (!l->seen) {
		l->seen  = true;
		l->level = level;
		snprintf(l->line, sizeof(l->line), "%s", msg);
		pthread_cond_broadcast(&l->cv);
	}
	pthread_mutex_unlock(&l->mu);
}

// end_log_wait waits for the line (Check's timeout bounds the wait).
static void
end_log_wait(end_log *l)
{
	pthread_mutex_lock(&l->mu);
	while (!l->seen) {
		pthread_cond_wait(&l->cv, &l->mu);
	}
	pthread_mutex_unlock(&l->mu);
}

// conn_ends checks a client connection's cause once it has ended, and
// that drpc_conn_err and the log line agree with it.
static void
conn_ends(drpc_conn *c, end_log *l, drpc_err code, const char *want)
{
	drpc_cause why;
	char       line[512];

	end_log_wait(l);
	cause_dirty(&why);
	cause_is(drpc_conn_cause(c, &why), &why, code, want);
	DRPC_CHECK_ERR(drpc_conn_err(c), code);
	// The cause, then the connection's id (drpc/conninfo.h).
	snprintf(line, sizeof(line), "drpc: connection ended: %s; conn ",
	    why.text);
	ck_assert_msg(strncmp(l->line, line, strlen(line)) == 0 &&
	                  strlen(l->line) == strlen(line) + 16,
	    "log \"%s\", want \"%s<16 hex digits>\"", l->line, line);
	ck_assert_int_eq(
	    l->level, code == DRPC_ECLOSED ? DRPC_LOG_DEBUG : DRPC_LOG_WARN);
}

// conn_open_fd makes a client connection over fd, flow control off (a
// plain peer: nothing is written before the first call) and logging to l.
static drpc_conn *
conn_open_fd(int fd, end_log *l)
{
	drpc_conn_opts o = {
	    .flow = DRPC_FLOW_OFF, .log = end_log_fn, .log_arg = l};
	drpc_conn *c;
	drpc_cause why;

	DRPC_CHECK_OK(drpc_conn_create_fd(&c, fd, &o));
	// Up: no cause, and a dirty record comes back cleared.
	cause_dirty(&why);
	DRPC_CHECK_OK(drpc_conn_cause(c, &why));
	cause_cleared(&why);
	return c;
}

START_TEST(test_causes_conn_peer_eof)
{
	end_log    l = END_LOG_INIT;
	drpc_conn *c;
	int        sv[2];

	tu_tcp_pair(sv);
	c = conn_open_fd(sv[0], &l);
	close(sv[1]); // nothing unread: a FIN
	conn_ends(c, &l, DRPC_ECLOSED, "peer closed the connection (EOF)");
	drpc_conn_destroy(c);
}
END_TEST

// SO_LINGER with a zero timeout makes close send a reset.
START_TEST(test_causes_conn_peer_reset)
{
	end_log       l  = END_LOG_INIT;
	struct linger lg = {1, 0};
	drpc_conn    *c;
	int           sv[2];

	tu_tcp_pair(sv);
	c = conn_open_fd(sv[0], &l);
	ck_assert_int_eq(
	    setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(sv[1]);
	conn_ends(c, &l, DRPC_ECLOSED,
	    "peer reset the connection (read): Connection reset by peer");
	drpc_conn_destroy(c);
}
END_TEST

START_TEST(test_causes_conn_closed_locally)
{
	end_log    l = END_LOG_INIT;
	drpc_conn *c;
	drpc_cause why;
	int        sv[2];

	tu_tcp_pair(sv);
	c = conn_open_fd(sv[0], &l);
	drpc_conn_close(c);
	conn_ends(c, &l, DRPC_ECLOSED, "closed locally");
	drpc_conn_destroy(c);
	close(sv[1]);
	cause_is(
	    drpc_conn_cause(NULL, &why), &why, DRPC_EINVAL, "no connection");
}
END_TEST

// A write that fails with an errno says so, with strerror's text. The
// connection's own socket is shut for writing first, so the drain
// thread's first write (the Invoke) fails with EPIPE.
START_TEST(test_causes_conn_write_fails)
{
	end_log      l = END_LOG_INIT;
	drpc_conn   *c;
	drpc_stream *s = NULL;
	int          sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(shutdown(sv[0], SHUT_WR), 0);
	c = conn_open_fd(sv[0], &l);
	if (drpc_stream_open(&s, c, NULL, "/c.S/M", NULL) != DRPC_OK) {
		s = NULL; // the write may fail before the open returns
	}
	conn_ends(c, &l, DRPC_ECLOSED,
	    "peer closed or reset the connection (write): Broken pipe");
	drpc_stream_destroy(s);
	drpc_conn_destroy(c);
	close(sv[1]);
}
END_TEST

// A user transport whose read fails: no errno to quote, so the code's
// text says what failed.
static drpc_err
eio_read(void *impl, void *buf, size_t cap, size_t *n)
{
	(void) impl;
	(void) buf;
	(void) cap;
	(void) n;
	return DRPC_EIO;
}

static drpc_err
ok_writev(void *impl, const drpc_iovec *iov, size_t n)
{
	(void) impl;
	(void) iov;
	(void) n;
	return DRPC_OK;
}

static void
noop(void *impl)
{
	(void) impl;
}

START_TEST(test_causes_conn_read_fails)
{
	static const drpc_transport_ops ops = {eio_read, ok_writev, noop, noop};
	drpc_conn_opts  o = {.flow = DRPC_FLOW_OFF, .log = end_log_fn};
	end_log         l = END_LOG_INIT;
	drpc_transport *tr;
	drpc_conn      *c;

	o.log_arg = &l;
	DRPC_CHECK_OK(drpc_transport_create(&tr, &ops, NULL));
	DRPC_CHECK_OK(drpc_conn_create(&c, tr, &o));
	conn_ends(c, &l, DRPC_EIO, "read failed: transport I/O error");
	drpc_conn_destroy(c);
}
END_TEST

// Protocol violations, fed by a raw peer (test/connutil.h) to a client
// connection with stream 1 open, or to a server connection. Each ends
// the connection with its code and names the rule.

typedef struct violation {
	const char *what;
	bool        server;
	size_t      max;    // max_msg_size; 0: the default (4 MiB)
	const char *hex;    // what the raw peer sends
	bool        hangup; // then it shuts its sending side
	drpc_err    code;
	const char *text;
} violation;

// Frames: control byte (kind << 1 | done), stream id, message id, length,
// body. "03 03 01 06 2f 63 2e 53 2f 4d" is Invoke (3,1) "/c.S/M".
#define INVOKE3 "03 03 01 06 2f 63 2e 53 2f 4d "

static const violation violations[] = {
    {"message id backwards", true, 0, INVOKE3 "05 03 07 01 61 05 03 05 01 62",
        false, DRPC_EPROTO,
        "message id went backwards on stream 3 (5 after 7)"},
    {"malformed varint", false, 0, "05 ff ff ff ff ff ff ff ff ff ff ff", false,
        DRPC_EVARINT, "malformed varint"},
    // Message (1,2) "a" without done, then CloseSend (1,2).
    {"kind change", false, 0, "04 01 02 01 61 0d 01 02 00", false, DRPC_EPROTO,
        "kind change inside a packet on stream 1"},
    {"unknown kind", false, 0, "13 01 01 00", false, DRPC_EKIND,
        "unknown packet kind 9 without the control flag on stream 1"},
    {"invoke for an active stream", true, 0,
        INVOKE3 "03 03 02 06 2f 63 2e 53 2f 4d", false, DRPC_EPROTO,
        "an Invoke for active stream 3"},
    {"invoke metadata for an active stream", true, 0,
        INVOKE3 "0f 03 02 00", false, DRPC_EPROTO,
        "an InvokeMetadata for active stream 3"},
    {"invoke to a client", false, 0, "03 05 01 06 2f 63 2e 53 2f 4d", false,
        DRPC_EPROTO, "an Invoke for stream 5 sent to a client"},
    // Invoke 3, Cancel (3,2), Invoke 3 again.
    {"invoke reusing an id", true, 0, INVOKE3 "09 03 02 00 " INVOKE3, false,
        DRPC_EPROTO, "an Invoke for stream 3"},
    // InvokeMetadata (1,1) whose body is no metadata.
    {"malformed metadata", true, 0, "0f 01 01 01 ff", false, DRPC_EMETADATA,
        "malformed invoke metadata on stream 1"},
    // Message (1,1) of 10 bytes, 2 of them sent.
    {"truncated frame", false, 0, "05 01 01 0a 61 62", true, DRPC_ETRUNC,
        "peer closed the connection in the middle of a frame (6 bytes of "
        "it received)"},
};

// The server streams the violations start, held until the end so that
// they stay active.
typedef struct held {
	pthread_mutex_t mu;
	drpc__stream   *s[8]; // guarded by mu
	size_t          n;
} held;

static void
held_on_invoke(void *arg, drpc__stream *s, drpc__invoke_info *info)
{
	held *h = arg;

	drpc__md_fini(&info->md);
	pthread_mutex_lock(&h->mu);
	if (h->n < 8) {
		h->s[h->n++] = s;
		s            = NULL;
	}
	pthread_mutex_unlock(&h->mu);
	drpc__stream_destroy(s);
}

static void
raw_open_role(tu_raw *r, bool server, size_t max, held *h)
{
	drpc__conn_opts o = {.is_server = server,
	    .max_msg_size               = max,
	    .on_invoke                  = held_on_invoke,
	    .arg                        = h};

	tu_raw_open(r, &o);
}

// raw_ends waits for the raw peer's connection to end and checks why.
static void
raw_ends(tu_raw *r, drpc_err code, const char *want)
{
	drpc_cause why;

	tu_wait_conn_err(r->conn);
	cause_dirty(&why);
	cause_is(drpc__conn_cause(r->conn, &why), &why, code, want);
}

static void
raw_close_held(tu_raw *r, held *h)
{
	tu_raw_close(r); // joins the reader: no more on_invoke
	for (size_t i = 0; i < h->n; i++) {
		drpc__stream_destroy(h->s[i]);
	}
	pthread_mutex_destroy(&h->mu);
}

START_TEST(test_causes_protocol_violation)
{
	const violation *v = &violations[_i];
	held             h = {.mu = PTHREAD_MUTEX_INITIALIZER};
	drpc__stream    *s = NULL;
	tu_raw           r;

	raw_open_role(&r, v->server, v->max, &h);
	if (!v->server) {
		DRPC_CHECK_OK(
		    tu_open(r.conn, NULL, "/c.S/M", NULL, 0, false, &s));
	}
	tu_raw_hex(&r, v->hex);
	if (v->hangup) {
		ck_assert_int_eq(shutdown(r.fd, SHUT_WR), 0);
	}
	raw_ends(&r, v->code, v->text);
	drpc__stream_destroy(s);
	raw_close_held(&r, &h);
}
END_TEST

// A server keeps at most 1024 invokes whose frames are still arriving:
// 1025 Invoke frames without done, for streams 1 to 1025, end it.
START_TEST(test_causes_too_many_pending)
{
	held     h = {.mu = PTHREAD_MUTEX_INITIALIZER};
	tu_raw   r;
	uint8_t *buf = malloc(1025 * 8);
	size_t   n   = 0;

	ck_assert_ptr_nonnull(buf);
	raw_open_role(&r, true, 0, &h);
	for (uint64_t id = 1; id <= 1025; id++) {
		buf[n++] = 0x02; // Invoke, not done
		n += (size_t) (drpc__varint_put(buf + n, id) - (buf + n));
		memcpy(buf + n, "\x01\x01x", 3);
		n += 3;
	}
	tu_raw_write(&r, buf, n);
	raw_ends(&r, DRPC_ERESOURCE, "more than 1024 half-received invokes");
	raw_close_held(&r, &h);
	free(buf);
}
END_TEST

// The server's log line names the cause and the peer: a raw client
// breaks the protocol over loopback TCP, then over a unix socket.
static void
server_log_names_peer(const char *listen)
{
	static const uint8_t garbage[] = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x00};
	end_log              l         = END_LOG_INIT;
	drpc_server_opts     so        = {.log = end_log_fn, .log_arg = &l};
	drpc_mux            *m;
	drpc_server         *s;
	char                 addr[300];
	char                 want[400];
	int                  fd;

	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_OK(drpc_server_create(&s, m, &so));
	DRPC_CHECK_OK(drpc_server_listen(s, listen));
	DRPC_CHECK_OK(drpc_server_addr(s, addr, sizeof(addr)));
	DRPC_CHECK_OK(drpc__dial(addr, 0, &fd));
	if (strncmp(addr, "tcp://", 6) == 0) {
		DRPC_CHECK_OK(drpc__local_addr(fd, addr, sizeof(addr)));
	}
	ck_assert_int_eq(
	    write(fd, garbage, sizeof(garbage)), (ssize_t) sizeof(garbage));
	end_log_wait(&l);
	snprintf(want, sizeof(want), "; peer %s", addr);
	ck_assert_msg(
	    strncmp(l.line, "drpc: server connection ended: malformed varint",
	        47) == 0 &&
	        strstr(l.line, want) != NULL,
	    "log \"%s\" lacks the cause or \"%s\"", l.line, want);
	ck_assert_int_eq(l.level, DRPC_LOG_WARN);
	close(fd);
	drpc_server_destroy(s);
	drpc_mux_destroy(m);
}

START_TEST(test_causes_server_log)
{
	static const char *const names[] = {"s.sock"};
	tmpdir                   d;
	char                     addr[128];

	server_log_names_peer("tcp://127.0.0.1:0");
	tmp_make(&d);
	server_log_names_peer(tmp_addr(&d, "s.sock", addr, sizeof(addr)));
	tmp_remove(&d, names, 1);
}
END_TEST

TU_SUITE(causes,
    TU_TEST("address", test_causes_bad_address,
        .loops = (int) TU_LEN(bad_addrs)),
    TU_TEST("address", test_causes_listen_port_zero),
    TU_TEST("dial", test_causes_dial_refused),
    TU_TEST("dial", test_causes_dial_no_unix_socket),
    TU_TEST("dial", test_causes_dial_dns),
    TU_TEST("dial", test_causes_dial_timeout),
    TU_TEST("dial", test_causes_dial_ok_clears),
    TU_TEST("dial", test_causes_permission_denied),
    TU_TEST("listen", test_causes_listen_in_use),
    TU_TEST("listen", test_causes_listen_unix_in_use),
    TU_TEST("listen", test_causes_listen_no_dir),
    TU_TEST("listen", test_causes_listen_refused),
    TU_TEST("address", test_causes_host_too_long),
    TU_TEST("connection", test_causes_conn_peer_eof, .timeout = 30),
    TU_TEST("connection", test_causes_conn_peer_reset),
    TU_TEST("connection", test_causes_conn_closed_locally),
    TU_TEST("connection", test_causes_conn_write_fails),
    TU_TEST("connection", test_causes_conn_read_fails),
    TU_TEST("connection", test_causes_protocol_violation,
        .loops = (int) TU_LEN(violations)),
    TU_TEST("connection", test_causes_too_many_pending),
    TU_TEST("connection", test_causes_server_log))
