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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "suites.h"
#include "testutil.h"
#include "transport/addr.h"

#define FORMS "accepted: tcp://host:port, tcp://[v6]:port, unix:///path"

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
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s",
	    addr + strlen("unix://"));
	ck_assert_int_eq(bind(fd, (struct sockaddr *) &sun, sizeof(sun)), 0);
	if (listening) {
		ck_assert_int_eq(listen(fd, 8), 0);
	}
	return fd;
}

// A dial (or listen) that fails, and what its cause must say.
static void
dial_fails(const char *addr, const drpc_conn_opts *o, drpc_err code,
    const char *want)
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
	close(unix_socket(tmp_addr(&d, "stale.sock", addr, sizeof(addr)),
	    false));
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
	drpc_mux    *m;
	drpc_server *s;
	drpc_conn   *c;
	drpc_cause   why;
	char         addr[300];

	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_OK(drpc_server_create(&s, m, NULL));
	DRPC_CHECK_OK(drpc_server_listen(s, "tcp://127.0.0.1:0"));
	DRPC_CHECK_OK(drpc_server_addr(s, addr, sizeof(addr)));
	cause_dirty(&why);
	DRPC_CHECK_OK(drpc_dial_cause(&c, addr, NULL, &why));
	cause_cleared(&why);
	drpc_conn_destroy(c);
	drpc_server_destroy(s);
	drpc_mux_destroy(m);
	// NULL arguments are explained too.
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
	listen_fails(addr, DRPC_EEXIST, "address in use (a server listens on it)");
	close(fd);
	snprintf(path, sizeof(path), "%s/file", d.path);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	listen_fails(tmp_addr(&d, "file", addr, sizeof(addr)), DRPC_EEXIST,
	    "address in use (a file that is not a socket)");
	close(unix_socket(tmp_addr(&d, "stale.sock", addr, sizeof(addr)),
	    false));
	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_OK(drpc_server_create(&s, m, NULL));
	DRPC_CHECK_OK(drpc_server_listen(s, addr));
	drpc_server_destroy(s);
	drpc_mux_destroy(m);
	tmp_remove(&d, names, 3);
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

Suite *
causes_suite(void)
{
	Suite *s    = suite_create("causes");
	TCase *addr = tcase_create("address");
	TCase *dial = tcase_create("dial");
	TCase *lst  = tcase_create("listen");

	tcase_add_loop_test(addr, test_causes_bad_address, 0,
	    (int) (sizeof(bad_addrs) / sizeof(bad_addrs[0])));
	tcase_add_test(addr, test_causes_listen_port_zero);
	tcase_add_test(dial, test_causes_dial_refused);
	tcase_add_test(dial, test_causes_dial_no_unix_socket);
	tcase_add_test(dial, test_causes_dial_dns);
	tcase_add_test(dial, test_causes_dial_timeout);
	tcase_add_test(dial, test_causes_dial_ok_clears);
	tcase_add_test(dial, test_causes_permission_denied);
	tcase_add_test(lst, test_causes_listen_in_use);
	tcase_add_test(lst, test_causes_listen_unix_in_use);
	tcase_add_test(lst, test_causes_listen_no_dir);
	suite_add_tcase(s, addr);
	suite_add_tcase(s, dial);
	suite_add_tcase(s, lst);
	return s;
}
