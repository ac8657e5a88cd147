#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform/thread.h"
#include "transport/addr.h"

#define TCP_PREFIX  "tcp://"
#define UNIX_PREFIX "unix://"

// addr_split_hostport splits "host:port" or "[v6]:port".
static drpc_err
addr_split_hostport(const char *s, char *host, size_t cap, char *port,
    size_t pcap)
{
	const char *colon;
	size_t      hlen;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':') {
			return DRPC_EINVAL;
		}
		hlen  = (size_t) (end - s - 1);
		s     = s + 1;
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			return DRPC_EINVAL;
		}
		hlen = (size_t) (colon - s);
	}
	if (hlen >= cap || strlen(colon + 1) >= pcap || colon[1] == '\0') {
		return DRPC_EINVAL;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	strcpy(port, colon + 1);
	for (const char *p = port; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			return DRPC_EINVAL;
		}
	}
	return DRPC_OK;
}

static drpc_err
addr_unix(const char *addr, struct sockaddr_un *sun)
{
	const char *path = addr + strlen(UNIX_PREFIX);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun->sun_path)) {
		return DRPC_EINVAL;
	}
	strcpy(sun->sun_path, path);
	return DRPC_OK;
}

static drpc_err
addr_resolve(const char *addr, int ai_flags, struct addrinfo **res)
{
	struct addrinfo hints = {0};
	char            host[256];
	char            port[16];
	drpc_err        rv;

	if (strncmp(addr, TCP_PREFIX, strlen(TCP_PREFIX)) != 0) {
		return DRPC_EINVAL;
	}
	rv = addr_split_hostport(addr + strlen(TCP_PREFIX), host,
	    sizeof(host), port, sizeof(port));
	if (rv != DRPC_OK) {
		return rv;
	}
	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags    = ai_flags;
	if (getaddrinfo(host[0] == '\0' ? NULL : host, port, &hints, res) != 0) {
		return DRPC_EUNAVAIL;
	}
	return DRPC_OK;
}

void
drpc__set_nodelay(int fd)
{
	int one = 1;

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// addr_connect connects fd to sa, giving up at the monotonic deadline.
static drpc_err
addr_connect(int fd, const struct sockaddr *sa, socklen_t len, int64_t dl)
{
	int       flags = fcntl(fd, F_GETFL);
	int       err   = 0;
	socklen_t elen  = sizeof(err);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		return DRPC_EUNAVAIL;
	}
	if (connect(fd, sa, len) < 0) {
		struct pollfd pfd = {fd, POLLOUT, 0};
		int64_t       left;

		if (errno != EINPROGRESS) {
			return DRPC_EUNAVAIL;
		}
		do {
			left = (dl - drpc__now_ns()) / 1000000;
			if (left <= 0) {
				return DRPC_ETIMEDOUT;
			}
			if (left > INT_MAX) {
				left = INT_MAX; // poll again after 24 days
			}
		} while (poll(&pfd, 1, (int) left) < 0 && errno == EINTR);
		if ((pfd.revents & (POLLOUT | POLLERR | POLLHUP)) == 0) {
			return DRPC_ETIMEDOUT;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
		    err != 0) {
			return DRPC_EUNAVAIL;
		}
	}
	return fcntl(fd, F_SETFL, flags) < 0 ? DRPC_EUNAVAIL : DRPC_OK;
}

static drpc_err
dial_unix(const char *addr, int64_t dl, int *fdp)
{
	struct sockaddr_un sun;
	drpc_err           rv;
	int                fd;

	if ((rv = addr_unix(addr, &sun)) != DRPC_OK) {
		return rv;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		return DRPC_ERESOURCE;
	}
	rv = addr_connect(fd, (struct sockaddr *) &sun, sizeof(sun), dl);
	if (rv != DRPC_OK) {
		close(fd);
		return rv;
	}
	*fdp = fd;
	return DRPC_OK;
}

static drpc_err
dial_tcp(const char *addr, int64_t dl, int *fdp)
{
	struct addrinfo *res;
	drpc_err         rv = DRPC_EUNAVAIL;

	if ((rv = addr_resolve(addr, 0, &res)) != DRPC_OK) {
		return rv;
	}
	rv = DRPC_EUNAVAIL;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);

		if (fd < 0) {
			continue;
		}
		rv = addr_connect(fd, ai->ai_addr, ai->ai_addrlen, dl);
		if (rv == DRPC_OK) {
			drpc__set_nodelay(fd);
			*fdp = fd;
			break;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rv;
}

drpc_err
drpc__dial(const char *addr, int64_t timeout_ms, int *fdp)
{
	int64_t dl;

	if (addr == NULL || fdp == NULL) {
		return DRPC_EINVAL;
	}
	dl = drpc__deadline_in_ms(timeout_ms > 0 ? timeout_ms : 10000);
	if (strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0) {
		return dial_unix(addr, dl, fdp);
	}
	return dial_tcp(addr, dl, fdp);
}

static drpc_err
listen_unix(const char *addr, int *fdp)
{
	struct sockaddr_un sun;
	struct stat        st;
	drpc_err           rv;
	int                fd;

	if ((rv = addr_unix(addr, &sun)) != DRPC_OK) {
		return rv;
	}
	if (lstat(sun.sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		unlink(sun.sun_path); // a stale socket from an earlier run
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		return DRPC_ERESOURCE;
	}
	if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0 ||
	    listen(fd, 128) < 0) {
		close(fd);
		return DRPC_EUNAVAIL;
	}
	*fdp = fd;
	return DRPC_OK;
}

static drpc_err
listen_tcp(const char *addr, int *fdp)
{
	struct addrinfo *res;
	drpc_err         rv;
	int              one = 1;

	if ((rv = addr_resolve(addr, AI_PASSIVE, &res)) != DRPC_OK) {
		return rv;
	}
	rv = DRPC_EUNAVAIL;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);

		if (fd < 0) {
			continue;
		}
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1024) == 0) {
			*fdp = fd;
			rv   = DRPC_OK;
			break;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return rv;
}

drpc_err
drpc__listen(const char *addr, int *fdp)
{
	if (addr == NULL || fdp == NULL) {
		return DRPC_EINVAL;
	}
	if (strncmp(addr, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0) {
		return listen_unix(addr, fdp);
	}
	return listen_tcp(addr, fdp);
}

drpc_err
drpc__local_addr(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t               len = sizeof(ss);
	char                    host[INET6_ADDRSTRLEN];
	int                     n;

	if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0) {
		return DRPC_EINVAL;
	}
	if (ss.ss_family == AF_UNIX) {
		n = snprintf(buf, cap, "unix://%s",
		    ((struct sockaddr_un *) &ss)->sun_path);
	} else if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *) &ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		n = snprintf(buf, cap, "tcp://%s:%u", host, ntohs(in->sin_port));
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		n = snprintf(buf, cap, "tcp://[%s]:%u", host,
		    ntohs(in6->sin6_port));
	}
	return n > 0 && (size_t) n < cap ? DRPC_OK : DRPC_EINVAL;
}
