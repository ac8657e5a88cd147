#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "platform/thread.h"
#include "transport/transport.h"

drpc_err
drpc_transport_create(
    drpc_transport **tp, const drpc_transport_ops *ops, void *impl)
{
	drpc_transport *t;

	if (tp == NULL || ops == NULL || ops->read == NULL ||
	    ops->writev == NULL || ops->shutdown == NULL || ops->close == NULL) {
		return DRPC_EINVAL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		return DRPC_ENOMEM;
	}
	t->ops  = *ops;
	t->impl = impl;
	*tp     = t;
	return DRPC_OK;
}

void
drpc_transport_destroy(drpc_transport *t)
{
	if (t == NULL) {
		return;
	}
	t->ops.close(t->impl);
	free(t);
}

drpc_err
drpc__transport_read(void *tr, uint8_t *buf, size_t cap, size_t *n)
{
	drpc_transport *t  = tr;
	drpc_err        rv = t->ops.read(t->impl, buf, cap, n);

	if (rv == DRPC_OK) {
		t->bytes_in += *n;
	}
	return rv;
}

// The file-descriptor transport. impl is the fd itself, boxed.

typedef struct fd_impl {
	int  fd;
	bool is_socket;
	int  read_errno;  // the last failed read's; reader thread only
	int  write_errno; // the last failed write's; whoever holds the
			  // writer's write token (mux/writer.h)
} fd_impl;

static drpc_err
fd_map_errno(int err)
{
	switch (err) {
	case ECONNRESET:
	case EPIPE:
	case ENOTCONN:
	case ESHUTDOWN:
	case EBADF:
		return DRPC_ECLOSED;
	default:
		return DRPC_EIO;
	}
}

static drpc_err
fd_read(void *impl, void *buf, size_t cap, size_t *n)
{
	fd_impl *f = impl;
	ssize_t  got;

	do {
		got = read(f->fd, buf, cap);
	} while (got < 0 && errno == EINTR);
	if (got < 0) {
		f->read_errno = errno;
		return fd_map_errno(errno);
	}
	*n = (size_t) got;
	return DRPC_OK;
}

// fd_write_some writes what it can of iov; returns bytes written or -1.
static ssize_t
fd_write_some(fd_impl *f, struct iovec *iov, size_t n)
{
	if (f->is_socket) {
		struct msghdr msg = {0};

		msg.msg_iov    = iov;
		msg.msg_iovlen = n;
		return sendmsg(f->fd, &msg, MSG_NOSIGNAL);
	}
	return writev(f->fd, iov, (int) n);
}

#define FD_IOV_MAX 64

static drpc_err
fd_writev(void *impl, const drpc_iovec *in, size_t n)
{
	fd_impl     *f = impl;
	struct iovec iov[FD_IOV_MAX];
	size_t       cnt = 0;

	for (size_t i = 0; i < n || cnt > 0;) {
		ssize_t put;

		while (i < n && cnt < FD_IOV_MAX) {
			if (in[i].len > 0) {
				iov[cnt].iov_base = (void *) (uintptr_t) in[i].base;
				iov[cnt].iov_len  = in[i].len;
				cnt++;
			}
			i++;
		}
		if (cnt == 0) {
			break;
		}
		put = fd_write_some(f, iov, cnt);
		if (put < 0 && errno == EINTR) {
			continue;
		}
		if (put < 0) {
			f->write_errno = errno;
			return fd_map_errno(errno);
		}
		// Drop the pieces written completely, trim a partial one.
		size_t done = 0;
		while (done < cnt && (size_t) put >= iov[done].iov_len) {
			put -= (ssize_t) iov[done].iov_len;
			done++;
		}
		if (done < cnt) {
			iov[done].iov_base = (uint8_t *) iov[done].iov_base + put;
			iov[done].iov_len -= (size_t) put;
		}
		for (size_t k = done; k < cnt; k++) {
			iov[k - done] = iov[k];
		}
		cnt -= done;
	}
	return DRPC_OK;
}

bool
drpc__transport_can_try(const drpc_transport *t)
{
	return t->try_writev != NULL ||
	       (t->ops.writev == fd_writev && ((fd_impl *) t->impl)->is_socket);
}

drpc_err
drpc__transport_try_writev(
    drpc_transport *t, const drpc_iovec *in, size_t n, size_t *put)
{
	fd_impl      *f = t->impl;
	struct iovec  iov[FD_IOV_MAX];
	struct msghdr msg = {0};
	size_t        cnt = 0;
	ssize_t       got;

	if (t->try_writev != NULL) {
		drpc_err rv = t->try_writev(t->impl, in, n, put);

		t->bytes_out += rv == DRPC_OK ? *put : 0;
		return rv;
	}
	for (size_t i = 0; i < n && cnt < FD_IOV_MAX; i++) {
		if (in[i].len > 0) {
			iov[cnt].iov_base = (void *) (uintptr_t) in[i].base;
			iov[cnt].iov_len  = in[i].len;
			cnt++;
		}
	}
	*put = 0;
	if (cnt == 0) {
		return DRPC_OK;
	}
	msg.msg_iov    = iov;
	msg.msg_iovlen = cnt;
	do {
		got = sendmsg(f->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (got < 0 && errno == EINTR);
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		return DRPC_OK;
	}
	if (got < 0) {
		f->write_errno = errno;
		return fd_map_errno(errno);
	}
	*put = (size_t) got;
	t->bytes_out += (uint64_t) got;
	return DRPC_OK;
}

drpc_err
drpc__transport_wait_writable(drpc_transport *t, int64_t until_ns)
{
	fd_impl      *f  = t->impl;
	struct pollfd pf = {.fd = f->fd, .events = POLLOUT};
	int           rv;

	if (t->wait_writable != NULL) {
		return t->wait_writable(t->impl, until_ns);
	}
	do {
		int ms = -1;

		if (until_ns != 0) {
			int64_t left = until_ns - drpc__now_ns();

			if (left <= 0) {
				return DRPC_ETIMEDOUT;
			}
			left = (left + 999999) / 1000000;
			ms   = left > 60000 ? 60000 : (int) left;
		}
		rv = poll(&pf, 1, ms);
	} while ((rv < 0 && errno == EINTR) ||
	    (rv == 0 && (until_ns == 0 || drpc__now_ns() < until_ns)));
	return rv == 0 ? DRPC_ETIMEDOUT : DRPC_OK;
}

static void
fd_shutdown(void *impl)
{
	fd_impl *f = impl;

	(void) shutdown(f->fd, SHUT_RDWR);
}

// drpc__transport_release_fd frees an fd transport that no connection
// took, leaving the fd open: it still belongs to the caller.
void
drpc__transport_release_fd(drpc_transport *t)
{
	if (t != NULL) {
		free(t->impl);
		free(t);
	}
}

// drpc__transport_fd is the fd of an fd transport, -1 for any other.
int
drpc__transport_fd(const drpc_transport *t)
{
	return t->ops.read == fd_read ? ((const fd_impl *) t->impl)->fd : -1;
}

int
drpc__transport_read_errno(drpc_transport *t)
{
	return t->ops.read == fd_read ? ((fd_impl *) t->impl)->read_errno : 0;
}

int
drpc__transport_write_errno(drpc_transport *t)
{
	return t->ops.writev == fd_writev ? ((fd_impl *) t->impl)->write_errno
					  : 0;
}

static void
fd_close(void *impl)
{
	fd_impl *f = impl;

	close(f->fd);
	free(f);
}

drpc_err
drpc_transport_create_fd(drpc_transport **tp, int fd)
{
	static const drpc_transport_ops ops = {
	    fd_read, fd_writev, fd_shutdown, fd_close};
	fd_impl  *f;
	int       type;
	socklen_t len = sizeof(type);
	drpc_err  rv;

	if (fd < 0) {
		return DRPC_EINVAL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		return DRPC_ENOMEM;
	}
	f->fd        = fd;
	f->is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
	if ((rv = drpc_transport_create(tp, &ops, f)) != DRPC_OK) {
		free(f);
	}
	return rv;
}
