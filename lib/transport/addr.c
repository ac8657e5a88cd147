// Design notes. Every failure is explained in a drpc_cause (which may be
// NULL): an address is parsed and validated in full before anything is
// resolved, so a bad one is always DRPC_EINVAL with a text that shows the
// accepted forms, and a failed connect, bind or resolution keeps the
// errno (or getaddrinfo's code) it failed with, in words. docs/api.md §9
// lists the texts.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cause.h"
#include "platform/thread.h"
#include "transport/addr.h"

#define ADDR_FORMS \
	"tcp://host:port, tcp://[v6]:port, tls://host:port, unix:///path"
#define ADDR_DEFAULT_TIMEOUT_MS 10000
// ADDR_DEADLINE is addr_connect's answer when the dial's own deadline
// passed (errno values are positive).
#define ADDR_DEADLINE (-1)
// ADDR_CANCELED is its answer when the dial's cancel_fd became readable.
#define ADDR_CANCELED (-2)

// An address taken apart: a unix path in sun, or a host and a validated
// port (digits, normalised) for getaddrinfo.
typedef struct addr_parsed {
	bool               is_unix;
	struct sockaddr_un sun;
	char               host[256];
	char               port[8];
} addr_parsed;

static drpc_err
addr_invalid(drpc_cause *cause, const char *addr, const char *why)
{
	char buf[DRPC__CAUSE_ADDR_MAX + 1];

	return drpc__cause_set(cause, DRPC_EINVAL,
	    "invalid address \"%s\": %s (accepted: " ADDR_FORMS ")",
	    drpc__cause_addr(addr, buf), why);
}

// addr_parse_port validates the port at s: digits only, 1-65535, or
// 0-65535 when listening (0: the system picks one).
static drpc_err
addr_parse_port(const char *addr, const char *s, bool listening, addr_parsed *a,
    drpc_cause *cause)
{
	unsigned long v = 0;
	char          why[64];

	if (*s == '\0') {
		return addr_invalid(cause, addr, "missing port");
	}
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			snprintf(why, sizeof(why),
			    "port \"%.16s\" is not a number", s);
			return addr_invalid(cause, addr, why);
		}
		if (v <= 65535) {
			v = v * 10 + (unsigned long) (*p - '0');
		}
	}
	if (v > 65535 || (v == 0 && !listening)) {
		snprintf(why, sizeof(why), "port %.16s is out of range %s", s,
		    listening ? "0-65535" : "1-65535");
		return addr_invalid(cause, addr, why);
	}
	snprintf(a->port, sizeof(a->port), "%lu", v);
	return DRPC_OK;
}

// addr_parse_tcp takes "host:port" or "[v6]:port" apart. The host may be
// empty only when listening (any address).
static drpc_err
addr_parse_tcp(const char *addr, const char *s, bool listening, addr_parsed *a,
    drpc_cause *cause)
{
	const char *host = s;
	const char *colon;
	size_t      hlen;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL) {
			return addr_invalid(cause, addr, "'[' without ']'");
		}
		if (end[1] != ':') {
			return addr_invalid(cause, addr, "missing port");
		}
		host  = s + 1;
		hlen  = (size_t) (end - host);
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			return addr_invalid(cause, addr, "missing port");
		}
		hlen = (size_t) (colon - s);
	}
	if (hlen >= sizeof(a->host)) {
		return addr_invalid(cause, addr, "host name too long");
	}
	if (hlen == 0 && !listening) {
		return addr_invalid(cause, addr, "missing host");
	}
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	return addr_parse_port(addr, colon + 1, listening, a, cause);
}

static drpc_err
addr_parse_unix(
    const char *addr, const char *path, addr_parsed *a, drpc_cause *cause)
{
	char why[64];

	a->is_unix        = true;
	a->sun.sun_family = AF_UNIX;
	if (path[0] == '\0') {
		return addr_invalid(cause, addr, "missing path");
	}
	if (strlen(path) >= sizeof(a->sun.sun_path)) {
		snprintf(why, sizeof(why), "path longer than %zu bytes",
		    sizeof(a->sun.sun_path) - 1);
		return addr_invalid(cause, addr, why);
	}
	strcpy(a->sun.sun_path, path);
	return DRPC_OK;
}

// addr_parse validates addr in full: "tcp://host:port", "tcp://[v6]:port"
// (or the same with "tls://", TCP too) or "unix://path" (an absolute path
// gives unix:///path).
static drpc_err
addr_parse(const char *addr, bool listening, addr_parsed *a, drpc_cause *cause)
{
	const char *sep = strstr(addr, "://");
	size_t      n;
	char        why[64];

	memset(a, 0, sizeof(*a));
	if (sep == NULL) {
		return addr_invalid(cause, addr, "no scheme");
	}
	n = (size_t) (sep - addr);
	if (n == 4 && strncmp(addr, "unix", 4) == 0) {
		return addr_parse_unix(addr, sep + 3, a, cause);
	}
	if (n == 3 && (strncmp(addr, "tcp", 3) == 0 ||
			  strncmp(addr, "tls", 3) == 0)) {
		return addr_parse_tcp(addr, sep + 3, listening, a, cause);
	}
	snprintf(why, sizeof(why), "unknown scheme \"%.*s\"",
	    (int) (n < 16 ? n : 16), addr);
	return addr_invalid(cause, addr, why);
}

static drpc_err
addr_resolve(const char *verb, const char *addr, const addr_parsed *a,
    int ai_flags, struct addrinfo **res, drpc_cause *cause)
{
	struct addrinfo hints = {0};
	char            buf[DRPC__CAUSE_ADDR_MAX + 1];
	int             rc;

	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags    = ai_flags | AI_NUMERICSERV;
	rc                = getaddrinfo(
	                   a->host[0] == '\0' ? NULL : a->host, a->port, &hints, res);
	if (rc == EAI_SYSTEM) {
		return drpc__cause_errno(cause, DRPC_EUNAVAIL, errno,
		    "%s %s: name resolution failed for \"%.64s\"", verb,
		    drpc__cause_addr(addr, buf), a->host);
	}
	if (rc != 0) {
		return drpc__cause_set(cause, DRPC_EUNAVAIL,
		    "%s %s: name resolution failed for \"%.64s\": %s", verb,
		    drpc__cause_addr(addr, buf), a->host, gai_strerror(rc));
	}
	return DRPC_OK;
}

void
drpc__set_nodelay(int fd)
{
	int one = 1;

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// addr_ms_to_s rounds ms up to whole seconds, within 1 s .. INT_MAX s.
static int
addr_ms_to_s(int64_t ms)
{
	int64_t s = ms / 1000 + (ms % 1000 != 0 ? 1 : 0);

	return s < 1 ? 1 : s > INT_MAX ? INT_MAX : (int) s;
}

void
drpc__set_keepalive(int fd, int64_t idle_ms)
{
	struct sockaddr_storage ss;
	socklen_t               len = sizeof(ss);
	int                     on  = idle_ms >= 0 ? 1 : 0;

	if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
		return; // a unix socket: nothing to probe
	}
	(void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	if (!on) {
		return;
	}
#if defined(TCP_KEEPIDLE) && defined(TCP_KEEPINTVL) && defined(TCP_KEEPCNT)
	int idle  = addr_ms_to_s(idle_ms == 0 ? DRPC__KEEPALIVE_IDLE_MS : idle_ms);
	int intvl = addr_ms_to_s(DRPC__KEEPALIVE_INTVL_MS);
	int cnt   = DRPC__KEEPALIVE_CNT;

	intvl = idle < intvl ? idle : intvl;
	(void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void) setsockopt(
	    fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
#endif
}

// addr_socket_failed explains a failed socket(): out of descriptors or
// memory is a resource limit, anything else leaves the peer unreachable.
static drpc_err
addr_socket_failed(
    drpc_cause *cause, const char *verb, const char *addr, int err)
{
	char     buf[DRPC__CAUSE_ADDR_MAX + 1];
	drpc_err code =
	    err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM
	        ? DRPC_ERESOURCE
	        : DRPC_EUNAVAIL;

	return drpc__cause_errno(cause, code, err,
	    "%s %s: cannot make a socket", verb, drpc__cause_addr(addr, buf));
}

// addr_wait_connect waits for a non-blocking connect in progress on fd
// until the monotonic deadline dl, or until cancel_fd (-1: none) is
// readable.
static int
addr_wait_connect(int fd, int64_t dl, int cancel_fd)
{
	struct pollfd pfd[2] = {{fd, POLLOUT, 0}, {cancel_fd, POLLIN, 0}};
	int           err  = 0;
	socklen_t     elen = sizeof(err);
	int64_t       left;
	int           rc;

	do {
		left = (dl - drpc__now_ns()) / 1000000;
		if (left <= 0) {
			return ADDR_DEADLINE;
		}
		if (left > INT_MAX) {
			left = INT_MAX; // poll again after 24 days
		}
	} while ((rc = poll(pfd, cancel_fd >= 0 ? 2 : 1, (int) left)) < 0 &&
	    errno == EINTR);
	if (rc < 0) {
		return errno;
	}
	if (cancel_fd >= 0 && pfd[1].revents != 0) {
		return ADDR_CANCELED;
	}
	if ((pfd[0].revents & (POLLOUT | POLLERR | POLLHUP)) == 0) {
		return ADDR_DEADLINE;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
		return errno;
	}
	return err;
}

// addr_connect connects fd to sa, giving up at the monotonic deadline dl.
// Returns 0, the errno the connect failed with, or ADDR_DEADLINE.
static int
addr_connect(int fd, const struct sockaddr *sa, socklen_t len, int64_t dl,
    int cancel_fd)
{
	int flags = fcntl(fd, F_GETFL);
	int err   = 0;

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		return errno;
	}
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS) {
			return errno;
		}
		if ((err = addr_wait_connect(fd, dl, cancel_fd)) != 0) {
			return err;
		}
	}
	return fcntl(fd, F_SETFL, flags) < 0 ? errno : 0;
}

// dial_failed explains a connect to addr that failed with err (an errno
// value or ADDR_DEADLINE).
static drpc_err
dial_failed(drpc_cause *cause, const char *addr, bool is_unix, int err,
    int64_t timeout_ms)
{
	char        buf[DRPC__CAUSE_ADDR_MAX + 1];
	const char *a = drpc__cause_addr(addr, buf);

	switch (err) {
	case ADDR_DEADLINE:
		return drpc__cause_set(cause, DRPC_ETIMEDOUT,
		    "dial %s: timed out after %lld ms", a,
		    (long long) timeout_ms);
	case ADDR_CANCELED:
		return drpc__cause_set(
		    cause, DRPC_ECANCELED, "dial %s: canceled", a);
	case ETIMEDOUT:
		return drpc__cause_set(
		    cause, DRPC_ETIMEDOUT, "dial %s: timed out", a);
	case ECONNREFUSED:
		return drpc__cause_set(cause, DRPC_EUNAVAIL,
		    "dial %s: connection refused%s", a,
		    is_unix ? " (no server listens on the socket)" : "");
	case ENOENT:
	case ENOTDIR:
		return drpc__cause_set(
		    cause, DRPC_EUNAVAIL, "dial %s: no such unix socket", a);
	case EACCES:
	case EPERM:
		return drpc__cause_set(
		    cause, DRPC_EPERM, "dial %s: permission denied", a);
	case ENETUNREACH:
		return drpc__cause_set(
		    cause, DRPC_EUNAVAIL, "dial %s: network unreachable", a);
	case EHOSTUNREACH:
		return drpc__cause_set(
		    cause, DRPC_EUNAVAIL, "dial %s: host unreachable", a);
	case EAGAIN:
		return drpc__cause_set(cause, DRPC_EUNAVAIL,
		    "dial %s: the server's listen backlog is full", a);
	default:
		return drpc__cause_errno(
		    cause, DRPC_EUNAVAIL, err, "dial %s", a);
	}
}

static drpc_err
dial_unix(const char *addr, const addr_parsed *a, int64_t dl,
    int64_t timeout_ms, int cancel_fd, int *fdp, drpc_cause *cause)
{
	int fd;
	int err;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		return addr_socket_failed(cause, "dial", addr, errno);
	}
	err = addr_connect(fd, (const struct sockaddr *) &a->sun,
	    sizeof(a->sun), dl, cancel_fd);
	if (err != 0) {
		close(fd);
		return dial_failed(cause, addr, true, err, timeout_ms);
	}
	*fdp = fd;
	return DRPC_OK;
}

// dial_tcp tries every address the host resolves to, in order; when all
// fail, the last failure is the one explained.
static drpc_err
dial_tcp(const char *addr, const addr_parsed *a, int64_t dl, int64_t timeout_ms,
    int64_t keepalive_ms, int cancel_fd, int *fdp, drpc_cause *cause)
{
	struct addrinfo *res;
	drpc_err         rv;

	if ((rv = addr_resolve("dial", addr, a, 0, &res, cause)) != DRPC_OK) {
		return rv;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		int err;

		if (fd < 0) {
			rv = addr_socket_failed(cause, "dial", addr, errno);
			continue;
		}
		err = addr_connect(
		    fd, ai->ai_addr, ai->ai_addrlen, dl, cancel_fd);
		if (err == 0) {
			drpc__set_nodelay(fd);
			drpc__set_keepalive(fd, keepalive_ms);
			*fdp = fd;
			rv   = DRPC_OK;
			break;
		}
		close(fd);
		rv = dial_failed(cause, addr, false, err, timeout_ms);
		if (err == ADDR_CANCELED) {
			break;
		}
	}
	freeaddrinfo(res);
	return rv;
}

drpc_err
drpc__dial_with(const char *addr, int64_t timeout_ms, int64_t keepalive_ms,
    int cancel_fd,
    int *fdp, drpc_cause *cause)
{
	addr_parsed a;
	drpc_err    rv;
	int64_t     dl;

	drpc_cause_clear(cause);
	if (addr == NULL || fdp == NULL) {
		return drpc__cause_set(cause, DRPC_EINVAL, "dial: no address");
	}
	if ((rv = addr_parse(addr, false, &a, cause)) != DRPC_OK) {
		return rv;
	}
	if (timeout_ms <= 0) {
		timeout_ms = ADDR_DEFAULT_TIMEOUT_MS;
	}
	dl = drpc__deadline_in_ms(timeout_ms);
	if (a.is_unix) {
		return dial_unix(addr, &a, dl, timeout_ms, cancel_fd, fdp, cause);
	}
	return dial_tcp(
	    addr, &a, dl, timeout_ms, keepalive_ms, cancel_fd, fdp, cause);
}

drpc_err
drpc__dial_cause(
    const char *addr, int64_t timeout_ms, int *fdp, drpc_cause *cause)
{
	return drpc__dial_with(addr, timeout_ms, 0, -1, fdp, cause);
}

drpc_err
drpc__dial(const char *addr, int64_t timeout_ms, int *fdp)
{
	return drpc__dial_cause(addr, timeout_ms, fdp, NULL);
}

// listen_failed explains a bind or listen on addr that failed with err.
static drpc_err
listen_failed(
    drpc_cause *cause, const char *addr, const addr_parsed *a, int err)
{
	char        buf[DRPC__CAUSE_ADDR_MAX + 1];
	const char *s = drpc__cause_addr(addr, buf);

	switch (err) {
	case EADDRINUSE:
		return drpc__cause_set(
		    cause, DRPC_EEXIST, "listen %s: address in use", s);
	case EACCES:
	case EPERM:
		return drpc__cause_set(cause, DRPC_EPERM,
		    "listen %s: permission denied%s", s,
		    a->is_unix ? ""
		               : " (ports below 1024 may need privileges)");
	case ENOENT:
	case ENOTDIR:
		return drpc__cause_set(cause, DRPC_EUNAVAIL,
		    "listen %s: no such directory for the unix socket", s);
	case EADDRNOTAVAIL:
		return drpc__cause_set(cause, DRPC_EUNAVAIL,
		    "listen %s: address not available on this host", s);
	default:
		return drpc__cause_errno(
		    cause, DRPC_EUNAVAIL, err, "listen %s", s);
	}
}

// unix_in_use tells whether a server accepts on the socket file at sun
// (a full backlog counts: the server is alive).
static bool
unix_in_use(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bool in_use;

	if (fd < 0) {
		return false;
	}
	in_use =
	    connect(fd, (const struct sockaddr *) sun, sizeof(*sun)) == 0 ||
	    errno == EAGAIN;
	close(fd);
	return in_use;
}

// listen_unix binds the socket file: one left by an earlier run (no
// server accepts on it) is replaced; a live one, or a file that is not a
// socket, is an address in use.
static drpc_err
listen_unix(const char *addr, const addr_parsed *a, int *fdp, drpc_cause *cause)
{
	char        buf[DRPC__CAUSE_ADDR_MAX + 1];
	struct stat st;
	int         fd;

	if (lstat(a->sun.sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || unix_in_use(&a->sun)) {
			return drpc__cause_set(cause, DRPC_EEXIST,
			    "listen %s: address in use (%s)",
			    drpc__cause_addr(addr, buf),
			    S_ISSOCK(st.st_mode)
			        ? "a server listens on it"
			        : "a file that is not a socket");
		}
		unlink(a->sun.sun_path); // a stale socket from an earlier run
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		return addr_socket_failed(cause, "listen", addr, errno);
	}
	if (bind(fd, (const struct sockaddr *) &a->sun, sizeof(a->sun)) < 0 ||
	    listen(fd, 128) < 0) {
		int err = errno;

		close(fd);
		return listen_failed(cause, addr, a, err);
	}
	*fdp = fd;
	return DRPC_OK;
}

static drpc_err
listen_tcp(const char *addr, const addr_parsed *a, int *fdp, drpc_cause *cause)
{
	struct addrinfo *res;
	drpc_err         rv;
	int              one = 1;

	rv = addr_resolve("listen", addr, a, AI_PASSIVE, &res, cause);
	if (rv != DRPC_OK) {
		return rv;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);

		if (fd < 0) {
			rv = addr_socket_failed(cause, "listen", addr, errno);
			continue;
		}
		(void) setsockopt(
		    fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1024) == 0) {
			*fdp = fd;
			rv   = DRPC_OK;
			break;
		}
		rv = listen_failed(cause, addr, a, errno);
		close(fd);
	}
	freeaddrinfo(res);
	return rv;
}

drpc_err
drpc__listen_cause(const char *addr, int *fdp, drpc_cause *cause)
{
	addr_parsed a;
	drpc_err    rv;

	drpc_cause_clear(cause);
	if (addr == NULL || fdp == NULL) {
		return drpc__cause_set(
		    cause, DRPC_EINVAL, "listen: no address");
	}
	if ((rv = addr_parse(addr, true, &a, cause)) != DRPC_OK) {
		return rv;
	}
	if (a.is_unix) {
		return listen_unix(addr, &a, fdp, cause);
	}
	return listen_tcp(addr, &a, fdp, cause);
}

drpc_err
drpc__listen(const char *addr, int *fdp)
{
	return drpc__listen_cause(addr, fdp, NULL);
}

// addr_format writes the socket address ss (len bytes) in URL form.
static drpc_err
addr_format(
    const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	int  n;

	if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *) ss;
		size_t off  = offsetof(struct sockaddr_un, sun_path);
		size_t plen = len > off ? strnlen(sun->sun_path, len - off) : 0;

		if (plen == 0) {
			return DRPC_EINVAL; // unnamed
		}
		n = snprintf(
		    buf, cap, "unix://%.*s", (int) plen, sun->sun_path);
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *) ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		n = snprintf(
		    buf, cap, "tcp://%s:%u", host, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *) ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		n = snprintf(
		    buf, cap, "tcp://[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		return DRPC_EINVAL;
	}
	return n > 0 && (size_t) n < cap ? DRPC_OK : DRPC_EINVAL;
}

drpc_err
drpc__local_addr(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t               len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0) {
		return DRPC_EINVAL;
	}
	return addr_format(&ss, len, buf, cap);
}

drpc_err
drpc__peer_addr(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t               len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *) &ss, &len) < 0) {
		return DRPC_EINVAL;
	}
	if (ss.ss_family == AF_UNIX &&
	    addr_format(&ss, len, buf, cap) != DRPC_OK) {
		// A unix client is unnamed: the socket it reached names it.
		return drpc__local_addr(fd, buf, cap);
	}
	return addr_format(&ss, len, buf, cap);
}

drpc_err
drpc__addr_check(const char *addr, drpc_cause *cause)
{
	addr_parsed a;

	drpc_cause_clear(cause);
	if (addr == NULL) {
		return drpc__cause_set(cause, DRPC_EINVAL, "no address");
	}
	return addr_parse(addr, false, &a, cause);
}

// resolve_add appends s to out unless it is there already (a name may
// resolve to one address twice, once per protocol family entry).
static void
resolve_add(drpc__addr_list *out, size_t max, const char *s)
{
	for (size_t i = 0; i < out->n; i++) {
		if (strcmp(out->addr[i], s) == 0) {
			return;
		}
	}
	if (out->n < max && out->n < DRPC__RESOLVE_MAX) {
		snprintf(out->addr[out->n++], DRPC__ADDR_MAX, "%s", s);
	}
}

drpc_err
drpc__resolve(
    const char *addr, drpc__addr_list *out, size_t max, drpc_cause *cause)
{
	addr_parsed      a;
	struct addrinfo *res;
	drpc_err         rv;
	bool             any = false;

	drpc_cause_clear(cause);
	if ((rv = addr_parse(addr, false, &a, cause)) != DRPC_OK) {
		return rv;
	}
	if (a.is_unix) {
		resolve_add(out, max, addr);
		return DRPC_OK;
	}
	if ((rv = addr_resolve("resolve", addr, &a, 0, &res, cause)) !=
	    DRPC_OK) {
		return rv;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		char host[INET6_ADDRSTRLEN];
		char s[DRPC__ADDR_MAX];

		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host,
			sizeof(host), NULL, 0, NI_NUMERICHOST) != 0) {
			continue;
		}
		if (ai->ai_family == AF_INET6) {
			snprintf(s, sizeof(s), "tcp://[%s]:%s", host, a.port);
		} else {
			snprintf(s, sizeof(s), "tcp://%s:%s", host, a.port);
		}
		resolve_add(out, max, s);
		any = true;
	}
	freeaddrinfo(res);
	if (!any) {
		char buf[DRPC__CAUSE_ADDR_MAX + 1];

		return drpc__cause_set(cause, DRPC_EUNAVAIL,
		    "resolve %s: no usable address",
		    drpc__cause_addr(addr, buf));
	}
	return DRPC_OK;
}

bool
drpc__addr_is_tls(const char *addr)
{
	return addr != NULL && strncmp(addr, "tls://", 6) == 0;
}

drpc_err
drpc__addr_host(const char *addr, char *buf, size_t cap)
{
	addr_parsed a;
	drpc_err    rv;

	if ((rv = addr_parse(addr, false, &a, NULL)) != DRPC_OK) {
		return rv;
	}
	if (a.is_unix || strlen(a.host) >= cap) {
		return DRPC_EINVAL;
	}
	strcpy(buf, a.host);
	return DRPC_OK;
}
