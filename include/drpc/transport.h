// Transports: the byte stream a DRPC connection runs over.
//
// Thread safety: a connection calls read from its reader thread only and
// writev from its drain thread only, possibly at the same time; shutdown may
// be called from any thread while the other two are blocked, and must make
// them return. close is called once, after both threads have exited.
#ifndef DRPC_TRANSPORT_H
#define DRPC_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#ifdef __cplusplus
extern "C" {
#endif

// drpc_iovec is one piece of a gathered write.
typedef struct drpc_iovec {
	const void *base;
	size_t      len;
} drpc_iovec;

// drpc_transport_ops is what a user-supplied transport implements (a TLS
// session, a pipe, an in-memory channel). impl is the pointer given to
// drpc_transport_create.
typedef struct drpc_transport_ops {
	// read blocks until at least one byte is available and reads up to
	// cap bytes into buf. *n == 0 with DRPC_OK means the peer closed its
	// sending side (end of input). Errors: DRPC_ECLOSED after shutdown,
	// DRPC_EIO (or any code) on failure.
	drpc_err (*read)(void *impl, void *buf, size_t cap, size_t *n);
	// writev writes every byte of the n pieces, or fails. It may block.
	drpc_err (*writev)(void *impl, const drpc_iovec *iov, size_t n);
	// shutdown makes blocked and later reads and writes return promptly
	// (reads with end of input or an error). It must be idempotent.
	void (*shutdown)(void *impl);
	// close releases impl. Called exactly once, by drpc_transport_destroy.
	void (*close)(void *impl);
} drpc_transport_ops;

typedef struct drpc_transport drpc_transport;

// drpc_transport_create wraps a user implementation. ops is copied; impl is
// owned by the transport from DRPC_OK on and released with ops->close.
// Errors: DRPC_EINVAL (a NULL op), DRPC_ENOMEM.
DRPC_API drpc_err drpc_transport_create(
    drpc_transport **tp, const drpc_transport_ops *ops, void *impl);

// drpc_transport_create_fd wraps a connected stream socket (TCP, unix) or
// any other file descriptor (a pipe pair is not bidirectional; use a
// socketpair). On DRPC_OK the transport owns fd and closes it in
// drpc_transport_destroy. Writes use MSG_NOSIGNAL on sockets, so a peer
// that went away never raises SIGPIPE. Errors: DRPC_EINVAL, DRPC_ENOMEM.
DRPC_API drpc_err drpc_transport_create_fd(drpc_transport **tp, int fd);

// drpc_transport_destroy closes and frees t. NULL is a no-op. Only for a
// transport that was never handed to a connection (a connection destroys
// its own).
DRPC_API void drpc_transport_destroy(drpc_transport *t);

#ifdef __cplusplus
}
#endif

#endif // DRPC_TRANSPORT_H
