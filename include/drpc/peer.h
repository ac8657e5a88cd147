// Peer identity: who is at the other end of a connection. A server
// handler asks about its client (drpc_stream_peer), a client about the
// server it reached (drpc_conn_peer, or drpc_stream_peer on a call).
//
// The connection records its peer once, when it starts: the address of a
// socket's other end, and what a transport that knows more (TLS) tells
// (docs/api.md, "Peer identity"). A TLS server connection learns the
// client's certificate in its handshake, which runs on the connection's
// first read; every stream of it was opened after that, so a handler
// always sees the certificate.
//
// Thread safety: every function may be called from any thread; each
// drpc_peer filled is the caller's own copy.
#ifndef DRPC_PEER_H
#define DRPC_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>
#include <drpc/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

// drpc_peer describes a connection's peer. Zero it before the first use
// (`drpc_peer p = {0};`); the functions below fill it, and drpc_peer_reset
// frees what they allocated.
typedef struct drpc_peer {
	// addr: the peer's address in URL form, "tcp://1.2.3.4:5678",
	// "tcp://[::1]:5678", "unix:///path" (for a unix client, which
	// has no name of its own: the socket it connected to); "" if
	// unknown (a user transport that does not say).
	char     addr[128];
	bool     tls;      // the connection is TLS
	bool     verified; // a peer certificate was presented and verified
	char    *subject;  // its subject, one line (RFC 2253), or NULL
	char   **sans;     // subjectAltNames: "DNS:x", "IP:1.2.3.4", "URI:..."
	size_t   nsans;    // (nsans of them; NULL when none)
	uint8_t *der;      // the whole certificate, DER, or NULL
	size_t   der_len;
} drpc_peer;

// drpc_stream_peer fills *out (reset first: anything it held is freed)
// with the peer of s's connection: on a server stream (a handler's) the
// client, on a client stream the server, on a channel's call the backend
// that carries it. It stays valid after the connection ended. Errors:
// DRPC_EINVAL (NULL argument), DRPC_ENOMEM (*out is left empty).
DRPC_API drpc_err drpc_stream_peer(const drpc_stream *s, drpc_peer *out);

// drpc_conn_peer fills *out (reset first) with the server c reached.
// A channel's handle (drpc_channel_conn) has no one peer: DRPC_EINVAL,
// *out left empty; ask drpc_stream_peer of a call's stream instead.
// Errors: DRPC_EINVAL, DRPC_ENOMEM.
DRPC_API drpc_err drpc_conn_peer(drpc_conn *c, drpc_peer *out);

// drpc_peer_reset frees what p owns and zeroes it. NULL is a no-op.
DRPC_API void drpc_peer_reset(drpc_peer *p);

#ifdef __cplusplus
}
#endif

#endif // DRPC_PEER_H
