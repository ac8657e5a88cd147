// Internal view of a transport: the connection calls through these.
#ifndef DRPC_TRANSPORT_TRANSPORT_H
#define DRPC_TRANSPORT_TRANSPORT_H

#include <drpc/peer.h>
#include <drpc/transport.h>

struct drpc_transport {
	drpc_transport_ops ops;
	void              *impl;
	// peer, if set, fills out (zeroed) with the peer's identity: addr,
	// and for TLS the certificate's fields (allocated: drpc_peer_reset
	// frees them). NULL: the peer is what the fd says (an fd transport,
	// drpc__peer_addr) or unknown (a user transport). A connection calls
	// it on its creator's thread before its own threads start, and, if
	// it is set, once more on its reader thread as soon as the first
	// whole frame has been read (a server's TLS handshake has completed
	// by then), possibly while the drain thread writes; never at the
	// same time as read.
	drpc_err (*peer)(void *impl, drpc_peer *out);
	// why, if set, words the transport's last failure of a read
	// (write: false) in out, and returns true; false when it has no
	// words of its own (then the errno's are used). Called by the thread
	// that got the failure (the reader, or the writer's token holder).
	bool (*why)(void *impl, bool read, drpc_cause *out);
	// try_writev and wait_writable, if set, are the transport's own
	// drpc__transport_try_writev and drpc__transport_wait_writable
	// (TLS): with them it can_try. NULL: only a socket fd transport can.
	drpc_err (*try_writev)(
	    void *impl, const drpc_iovec *iov, size_t n, size_t *put);
	drpc_err (*wait_writable)(void *impl, int64_t until_ns);
	// migrate, if set, takes drpcmigrate's header (transport/migrate.h)
	// off the transport's raw input, beneath its own protocol (a TLS
	// server: off the socket, before the handshake), as
	// drpc__migrate_take would (required: not optional); bytes that
	// were not the header stay the transport's, read first. A server
	// connection with drpc__conn_opts.migrate calls it on its reader
	// thread before the first read, instead of reading the header
	// through read. Errors as drpc__migrate_take's, with out in words.
	drpc_err (*migrate)(void *impl, bool required, drpc_cause *out);
	// Bytes through drpc__transport_read (the reader thread's only) and
	// written by drpc__transport_writev/try_writev (whoever holds the
	// writer's write token, mux/writer.h), for drpc_conn_stats.
	uint64_t bytes_in;
	uint64_t bytes_out;
};

// drpc__transport_peer fills out (zeroed first; on error it is left
// empty) with t's peer: the peer hook's answer, the address of an fd
// transport's socket's peer, or nothing for a user transport. Errors:
// DRPC_ENOMEM, or the hook's.
drpc_err drpc__transport_peer(drpc_transport *t, drpc_peer *out);

// drpc__peer_copy makes dst (zeroed first) a deep copy of src. On
// DRPC_ENOMEM dst is left empty.
drpc_err drpc__peer_copy(drpc_peer *dst, const drpc_peer *src);

// drpc__transport_release_fd frees a transport made by
// drpc_transport_create_fd without closing its fd: for when handing the
// transport on failed and the fd stays the caller's.
void drpc__transport_release_fd(drpc_transport *t);

// drpc__transport_fd is the fd of a transport made by
// drpc_transport_create_fd, -1 for any other.
int drpc__transport_fd(const drpc_transport *t);

// drpc__transport_read is a drpc__read_fn (wire/reader.h) over a transport.
drpc_err drpc__transport_read(void *tr, uint8_t *buf, size_t cap, size_t *n);

// drpc__transport_read_errno and drpc__transport_write_errno give the
// errno of the last failed read (write) of a file-descriptor transport,
// for the words of a cause; 0 for any other transport. Call each from the
// thread that reads (writes), or one ordered after it by a lock.
int drpc__transport_read_errno(drpc_transport *t);
int drpc__transport_write_errno(drpc_transport *t);

// drpc__transport_why gives t's own words for its last read (write)
// failure, if it has any (the why hook).
static inline bool
drpc__transport_why(drpc_transport *t, bool read, drpc_cause *out)
{
	return t->why != NULL && t->why(t->impl, read, out);
}

static inline drpc_err
drpc__transport_writev(drpc_transport *t, const drpc_iovec *iov, size_t n)
{
	drpc_err rv = t->ops.writev(t->impl, iov, n);

	if (rv == DRPC_OK) {
		for (size_t i = 0; i < n; i++) {
			t->bytes_out += iov[i].len;
		}
	}
	return rv;
}

// drpc__transport_can_try tells whether t supports drpc__transport_try_writev
// (a file-descriptor transport over a socket, or one with the try_writev
// hook: TLS). Fixed for t's lifetime.
bool drpc__transport_can_try(const drpc_transport *t);

// drpc__transport_try_writev writes what the transport takes at once of
// iov[0..n) without ever blocking: *put is the bytes written (0 if none
// fit). Errors as for writev. Only where drpc__transport_can_try; calls
// are serialised with every other write by the caller, as writev's are.
drpc_err drpc__transport_try_writev(
    drpc_transport *t, const drpc_iovec *iov, size_t n, size_t *put);

// drpc__transport_wait_writable waits until t can take more bytes, has
// failed, or until_ns (monotonic; 0: no bound) passes (DRPC_ETIMEDOUT).
// Only where drpc__transport_can_try.
drpc_err drpc__transport_wait_writable(drpc_transport *t, int64_t until_ns);

static inline void
drpc__transport_shutdown(drpc_transport *t)
{
	t->ops.shutdown(t->impl);
}

#endif // DRPC_TRANSPORT_TRANSPORT_H
