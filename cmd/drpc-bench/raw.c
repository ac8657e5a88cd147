// drpc-bench's raw TCP: tcp:// addresses, sockets, a buffered reader,
// and the raw baseline's server (an accept thread and a thread per
// connection). The raw protocol is described beside RAW_OP_ECHO in
// bench.h.
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

// split_tcp_addr splits "tcp://host:port" (host may be "[v6]").
bool
split_tcp_addr(
    const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *p = addr;
	const char *colon;
	size_t      hlen;

	if (strncmp(p, "tcp://", 6) != 0) {
		return false;
	}
	p += 6;
	if (*p == '[') {
		const char *end = strchr(p, ']');

		if (end == NULL || end[1] != ':') {
			return false;
		}
		hlen  = (size_t) (end - p - 1);
		colon = end + 1;
		p++;
	} else {
		if ((colon = strrchr(p, ':')) == NULL) {
			return false;
		}
		hlen = (size_t) (colon - p);
	}
	if (hlen == 0 || hlen >= hcap || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= pcap) {
		return false;
	}
	memcpy(host, p, hlen);
	host[hlen] = '\0';
	snprintf(port, pcap, "%s", colon + 1);
	return true;
}

static void
set_nodelay(int fd)
{
	int one = 1;

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// raw_open makes a socket of the first address of host:port that takes
// it: listening (bind, then listen) if passive, else connected. Returns 0
// or the errno of the last failure; EADDRNOTAVAIL (passive) or
// EHOSTUNREACH if host:port does not resolve, EADDRNOTAVAIL or
// ECONNREFUSED if it resolves to nothing.
static int
raw_open(const char *host, const char *port, bool passive, int *fdp)
{
	struct addrinfo  hints;
	struct addrinfo *res;
	int              fd  = -1;
	int              one = 1;
	int              err = passive ? EADDRNOTAVAIL : ECONNREFUSED;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family   = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags    = passive ? AI_PASSIVE : 0;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		return passive ? EADDRNOTAVAIL : EHOSTUNREACH;
	}
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (passive) {
			(void) setsockopt(
			    fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		}
		if (passive ? bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		                  listen(fd, 256) == 0
		            : connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			break;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		return err;
	}
	*fdp = fd;
	return 0;
}

// raw_dial connects to host:port; 0 or an errno (EAI failures: EHOSTUNREACH).
int
raw_dial(const char *host, const char *port, int *fdp)
{
	int err = raw_open(host, port, false, fdp);

	if (err == 0) {
		set_nodelay(*fdp);
	}
	return err;
}

// raw_listen listens on host, port 0; *portp gets the port chosen.
static int
raw_listen(const char *host, int *fdp, uint16_t *portp)
{
	struct sockaddr_storage ss;
	socklen_t               sl = sizeof(ss);
	int                     fd;
	int                     err = raw_open(host, "0", true, &fd);

	if (err != 0) {
		return err;
	}
	if (getsockname(fd, (struct sockaddr *) &ss, &sl) != 0) {
		err = errno;
		close(fd);
		return err;
	}
	*portp = ss.ss_family == AF_INET6
	             ? ntohs(((struct sockaddr_in6 *) &ss)->sin6_port)
	             : ntohs(((struct sockaddr_in *) &ss)->sin_port);
	*fdp   = fd;
	return 0;
}

// sock_write_all writes every byte: 0 or an errno.
int
sock_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			return errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

int
rd_init(raw_reader *rd, int fd)
{
	rd->fd  = fd;
	rd->cap = RAW_RDBUF;
	rd->pos = 0;
	rd->end = 0;
	rd->buf = malloc(rd->cap);
	return rd->buf != NULL ? 0 : ENOMEM;
}

void
rd_fini(raw_reader *rd)
{
	free(rd->buf);
	rd->buf = NULL;
}

// rd_recv reads once into the free space: 0, RAW_EOF or an errno.
static int
rd_recv(raw_reader *rd)
{
	for (;;) {
		ssize_t n =
		    recv(rd->fd, rd->buf + rd->end, rd->cap - rd->end, 0);

		if (n > 0) {
			rd->end += (size_t) n;
			return 0;
		}
		if (n == 0) {
			return RAW_EOF;
		}
		if (errno != EINTR) {
			return errno;
		}
	}
}

// rd_need makes n (<= cap) bytes available at buf + pos.
int
rd_need(raw_reader *rd, size_t n)
{
	int rv;

	if (rd->end - rd->pos >= n) {
		return 0;
	}
	if (rd->pos > 0) {
		memmove(rd->buf, rd->buf + rd->pos, rd->end - rd->pos);
		rd->end -= rd->pos;
		rd->pos = 0;
	}
	while (rd->end < n) {
		if ((rv = rd_recv(rd)) != 0) {
			return rv;
		}
	}
	return 0;
}

// rd_skip consumes n bytes (any number) without keeping them.
int
rd_skip(raw_reader *rd, size_t n)
{
	int rv;

	while (n > 0) {
		size_t avail = rd->end - rd->pos;

		if (avail == 0) {
			rd->pos = 0;
			rd->end = 0;
			if ((rv = rd_recv(rd)) != 0) {
				return rv;
			}
			continue;
		}
		avail = avail < n ? avail : n;
		rd->pos += avail;
		n -= avail;
	}
	return 0;
}

const char *
raw_strerror(int rv)
{
	return rv == RAW_EOF ? "connection closed by the peer" : strerror(rv);
}

static void
raw_serve_echo(raw_reader *rd)
{
	for (;;) {
		uint32_t len;

		if (rd_need(rd, 4) != 0) {
			return;
		}
		len = get_u32(rd->buf + rd->pos);
		if (len > rd->cap - 4 || rd_need(rd, 4 + (size_t) len) != 0) {
			return;
		}
		if (sock_write_all(
		        rd->fd, rd->buf + rd->pos, 4 + (size_t) len) != 0) {
			return;
		}
		rd->pos += 4 + (size_t) len;
	}
}

// raw_serve_send writes size-byte messages back to back for ms
// milliseconds, then the end mark. Batched, whole messages are gathered
// into writes of up to RAW_BATCH bytes (a larger message goes alone);
// else each goes in a write of its own. The messages are all alike, so
// the batch is built once.
static void
raw_serve_send(int fd, uint32_t size, uint32_t ms, bool batched)
{
	size_t   one = 4 + (size_t) size;
	size_t   k   = !batched || one >= RAW_BATCH ? 1 : RAW_BATCH / one;
	uint8_t *buf = malloc(k * one);
	uint8_t  end[4];
	int64_t  stop = now_ns() + (int64_t) ms * NS_PER_MS;

	if (buf == NULL) {
		return;
	}
	for (size_t i = 0; i < k; i++) {
		put_u32(buf + i * one, size);
		fill_pattern(buf + i * one + 4, size);
	}
	do {
		if (sock_write_all(fd, buf, k * one) != 0) {
			free(buf);
			return;
		}
	} while (now_ns() < stop);
	free(buf);
	put_u32(end, RAW_END);
	(void) sock_write_all(fd, end, sizeof(end));
}

static void *
raw_conn_main(void *arg)
{
	raw_conn  *rc = arg;
	raw_reader rd;

	if (rd_init(&rd, rc->fd) == 0 && rd_need(&rd, RAW_CMD_LEN) == 0) {
		uint32_t op   = get_u32(rd.buf);
		uint32_t size = get_u32(rd.buf + 4);
		uint32_t ms   = get_u32(rd.buf + 8);

		rd.pos = RAW_CMD_LEN;
		if (op == RAW_OP_ECHO) {
			raw_serve_echo(&rd);
		} else if (op == RAW_OP_SEND && size <= ((uint32_t) 64 << 20)) {
			raw_serve_send(rc->fd, size, ms, false);
		} else if (op == RAW_OP_SEND_BATCHED &&
		           size <= ((uint32_t) 64 << 20)) {
			raw_serve_send(rc->fd, size, ms, true);
		} else if (op == RAW_OP_USAGE) {
			uint8_t u[USAGE_WIRE_LEN];

			usage_encode(u, usage_now());
			(void) sock_write_all(rc->fd, u, sizeof(u));
		}
	}
	rd_fini(&rd);
	atomic_store(&rc->done, true);
	return NULL;
}

// raw_reap_locked joins connections whose thread has finished (all of
// them, after a shutdown, when all is set).
static void
raw_reap_locked(raw_server *rs, bool all)
{
	raw_conn **pp = &rs->conns;

	while (*pp != NULL) {
		raw_conn *rc = *pp;

		if (!all && !atomic_load(&rc->done)) {
			pp = &rc->next;
			continue;
		}
		*pp = rc->next;
		if (all) {
			(void) shutdown(rc->fd, SHUT_RDWR);
		}
		pthread_join(rc->t, NULL);
		close(rc->fd);
		free(rc);
	}
}

static void *
raw_accept_main(void *arg)
{
	raw_server *rs = arg;

	for (;;) {
		raw_conn *rc;
		int       fd = accept(rs->lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				continue;
			}
			break; // shut down
		}
		set_nodelay(fd);
		if ((rc = calloc(1, sizeof(*rc))) == NULL) {
			close(fd);
			continue;
		}
		rc->fd = fd;
		atomic_init(&rc->done, false);
		pthread_mutex_lock(&rs->mu);
		raw_reap_locked(rs, false);
		if (start_thread(&rc->t, raw_conn_main, rc) != 0) {
			fprintf(stderr, "drpc-bench: raw server: cannot start "
			                "a thread; connection refused\n");
			close(fd);
			free(rc);
		} else {
			rc->next  = rs->conns;
			rs->conns = rc;
		}
		pthread_mutex_unlock(&rs->mu);
	}
	return NULL;
}

int
raw_server_start(raw_server *rs, const char *host)
{
	int rv;

	memset(rs, 0, sizeof(*rs));
	if ((rv = raw_listen(host, &rs->lfd, &rs->port)) != 0) {
		return rv;
	}
	if ((rv = pthread_mutex_init(&rs->mu, NULL)) != 0) {
		close(rs->lfd);
		return rv;
	}
	if ((rv = start_thread(&rs->t, raw_accept_main, rs)) != 0) {
		pthread_mutex_destroy(&rs->mu);
		close(rs->lfd);
	}
	return rv;
}

void
raw_server_stop(raw_server *rs)
{
	(void) shutdown(rs->lfd, SHUT_RDWR);
	pthread_join(rs->t, NULL);
	close(rs->lfd);
	pthread_mutex_lock(&rs->mu);
	raw_reap_locked(rs, true);
	pthread_mutex_unlock(&rs->mu);
	pthread_mutex_destroy(&rs->mu);
}
