// The client layer's internals shared with the channel (lib/channel): a
// channel's backends are ordinary client connections with hooks, and its
// call handle is a drpc_conn that routes each call through the channel.
#ifndef DRPC_CLIENT_CLIENT_H
#define DRPC_CLIENT_CLIENT_H

#include <drpc/channel.h>
#include <drpc/conn.h>

#include "conn/conn.h"

// drpc__client_hooks: what a channel learns of one of its connections.
// Both run on whichever thread ends the connection or reads the GOAWAY
// (never with a lock of the channel's held by the library): they must only
// flag and wake.
// keepalive: the owner runs drpc__conn_keepalive itself (no keeper
// thread, whatever ping_interval_ms says).
typedef struct drpc__client_hooks {
	void (*on_end)(void *arg, const drpc_cause *cause);
	void (*on_goaway)(void *arg);
	void *arg;
	bool  keepalive;
} drpc__client_hooks;

// drpc__client_create and drpc__client_create_fd are drpc_conn_create and
// drpc_conn_create_fd with hooks (h may be NULL; it is copied).
drpc_err drpc__client_create(drpc_conn **cp, drpc_transport *tr,
    const drpc_conn_opts *o, const drpc__client_hooks *h);
drpc_err drpc__client_create_fd(drpc_conn **cp, int fd,
    const drpc_conn_opts *o, const drpc__client_hooks *h);

// drpc__client_start_tls starts a TLS client connection on fd (connected;
// it stays the caller's on error): drpcmigrate's header in clear if o asks
// for it, the handshake until deadline_ns verifying name (NULL: the
// config's, else only the chain), then the connection with hooks h (may
// be NULL). addr names the peer in the cause.
drpc_err drpc__client_start_tls(drpc_conn **cp, int fd, const char *addr,
    const char *name, const drpc_conn_opts *o, int64_t deadline_ns,
    const drpc__client_hooks *h, drpc_cause *cause);

// drpc__client_core is the connection under a client handle (not a
// channel's handle).
drpc__conn *drpc__client_core(drpc_conn *c);

// drpc__client_view makes a channel's call handle, with the options its
// calls use (o is copied); drpc__client_view_free frees it.
drpc_err drpc__client_view(
    drpc_conn **cp, drpc_channel *ch, const drpc_conn_opts *o);
void drpc__client_view_free(drpc_conn *c);

#endif // DRPC_CLIENT_CLIENT_H
