// drpcmigrate's header on a TLS server (transport/migrate.h, docs/
// protocol.md §15): a client sends the 8 bytes in clear, before its
// ClientHello, so they are read off the socket itself, before OpenSSL
// reads anything. The transport's migrate hook (transport.c) calls this
// on the connection's reader thread and hands what was not the header to
// OpenSSL first.
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "common/cause.h"
#include "tls/tls.h"

// The raw socket, read without blocking and polled until shutdown.
typedef struct tls_raw {
	int                fd;
	const atomic_bool *shut;
	int                err; // errno of a failed recv or poll
} tls_raw;

// tls_raw_read is a drpc__read_fn over the socket: what recv gives, once
// there is something (0 at its end); DRPC_ECLOSED once shut down (whose
// shutdown(2) wakes the poll).
static drpc_err
tls_raw_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	tls_raw *r = arg;

	for (;;) {
		struct pollfd pf = {.fd = r->fd, .events = POLLIN};
		ssize_t       got;

		if (atomic_load(r->shut)) {
			return DRPC_ECLOSED;
		}
		got = recv(r->fd, buf, cap, MSG_DONTWAIT);
		if (got == 0 && atomic_load(r->shut)) {
			return DRPC_ECLOSED; // our shutdown, not the peer's close
		}
		if (got >= 0) {
			*n = (size_t) got;
			return DRPC_OK;
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			r->err = errno;
			return errno == ECONNRESET ? DRPC_ECLOSED : DRPC_EIO;
		}
		if (poll(&pf, 1, -1) < 0 && errno != EINTR) {
			r->err = errno;
			return DRPC_EIO;
		}
	}
}

drpc_err
drpc__tls_migrate(int fd, const atomic_bool *shut, const char *peer,
    bool required, uint8_t kept[DRPC__MIGRATE_HEADER_LEN], size_t *nkept,
    drpc_cause *why)
{
	tls_raw  r = {.fd = fd, .shut = shut};
	drpc_err rv;

	rv = drpc__migrate_take(tls_raw_read, &r, required, kept, nkept, why);
	if (rv != DRPC_OK && why != NULL && why->text[0] == '\0') {
		// The socket's own failure.
		char e[96];

		if (r.err == 0) {
			return drpc__cause_set(why, rv,
			    "reading drpcmigrate's header from %s: closed locally",
			    peer);
		}
		return drpc__cause_set(why, rv,
		    "reading drpcmigrate's header from %s: %s", peer,
		    drpc__errno_text(r.err, e, sizeof(e)));
	}
	return rv;
}
