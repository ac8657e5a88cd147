// The TLS transport's socket BIO: OpenSSL reads and writes the socket
// through it, always under the transport's mu (lib/tls/conn.h). Writes
// gather whole records in obuf, sent when it is full or flushed, so a
// write of many records costs a send per TLS_OBUF, not per record; sends
// use MSG_NOSIGNAL, so a peer that went away never raises SIGPIPE. Reads
// take the bytes tls_migrate kept first (the start of a ClientHello it
// read looking for drpcmigrate's header), then the socket.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "tls/conn.h"

// The socket BIO. Its data is the tls_impl; called under mu.

int
drpc__tls_oflush(tls_impl *t)
{
	size_t off = 0;
	int    rv  = 0;

	while (off < t->olen) {
		ssize_t r = send(t->fd, t->obuf + off, t->olen - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r < 0) {
			rv = errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
			break;
		}
		off += (size_t) r;
	}
	if (off > 0) {
		memmove(t->obuf, t->obuf + off, t->olen - off);
		t->olen -= off;
	}
	return rv;
}

// tls_bio_write gathers records in obuf, sent when it is full or flushed:
// a write of many records costs a send per TLS_OBUF, not per record.
static int
tls_bio_write(BIO *b, const char *data, size_t len, size_t *put)
{
	tls_impl *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (t->olen + len > TLS_OBUF && drpc__tls_oflush(t) < 0) {
		return 0;
	}
	if (t->olen + len > TLS_OBUF) {
		ssize_t r;

		if (t->olen > 0) {
			BIO_set_retry_write(b); // the socket is full
			return 0;
		}
		do { // larger than the buffer: straight out
			r = send(t->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (r < 0 && errno == EINTR);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				BIO_set_retry_write(b);
			}
			return 0;
		}
		*put = (size_t) r;
		return 1;
	}
	memcpy(t->obuf + t->olen, data, len);
	t->olen += len;
	*put     = len;
	return 1;
}

static int
tls_bio_read(BIO *b, char *buf, size_t cap, size_t *got)
{
	tls_impl *t = BIO_get_data(b);
	ssize_t   r;

	if (t->pre_at < t->npre) { // before the socket's (tls_migrate)
		*got = t->npre - t->pre_at < cap ? t->npre - t->pre_at : cap;
		memcpy(buf, t->pre + t->pre_at, *got);
		t->pre_at += *got;
		return 1;
	}
	do {
		r = recv(t->fd, buf, cap, 0);
	} while (r < 0 && errno == EINTR);
	BIO_clear_retry_flags(b);
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			BIO_set_retry_read(b);
		}
		return 0;
	}
	if (r == 0) {
		t->eof = true;
		return 0;
	}
	*got = (size_t) r;
	return 1;
}

static long
tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	tls_impl *t = BIO_get_data(b);

	(void) num;
	(void) ptr;
	int       r;

	switch (cmd) {
	case BIO_CTRL_FLUSH: // after a handshake flight, an alert
		if ((r = drpc__tls_oflush(t)) > 0) {
			BIO_set_retry_write(b);
		}
		return r == 0;
	case BIO_CTRL_EOF:
		return t != NULL && t->eof;
	default:
		return 0;
	}
}

BIO_METHOD *
drpc__tls_bio_method(void)
{
	BIO_METHOD *m = BIO_meth_new(
	    BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "drpc socket");

	if (m != NULL && (BIO_meth_set_write_ex(m, tls_bio_write) != 1 ||
			     BIO_meth_set_read_ex(m, tls_bio_read) != 1 ||
			     BIO_meth_set_ctrl(m, tls_bio_ctrl) != 1)) {
		BIO_meth_free(m);
		m = NULL;
	}
	return m;
}
