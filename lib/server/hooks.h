// Test hooks of the server: each runs on the thread named, with no server
// lock held unless stated, and must not call back into the server. Tests
// use them to force narrow interleavings (test/README.md); production
// code never sets them.
#ifndef DRPC_SERVER_HOOKS_H
#define DRPC_SERVER_HOOKS_H

#include <stdint.h>

#include <drpc/server.h>

typedef struct drpc__server_hooks {
	// conn_created: in drpc_server_serve_transport, after the connection
	// was created and before it is listed (the window a concurrent
	// shutdown must not miss).
	void (*conn_created)(void *arg);
	// shutdown_waits: a drpc_server_shutdown is about to wait for a
	// connection being added, or a second one for the first (called
	// with the server's mu held: it must not block).
	void (*shutdown_waits)(void *arg);
	// stopping: a drpc_server_shutdown has begun (on its thread).
	void (*stopping)(void *arg);
	// conn_flush_by: a connection's close is about to wait for its flush
	// until deadline_ns (on the closing thread).
	void (*conn_flush_by)(void *arg, int64_t deadline_ns);
	// swept: the reaper has swept the connections for their handshake
	// and idle timeouts as of now_ns (drpc__now_ns() time) and ended
	// those due (called with the server's mu held: it must not block).
	void (*swept)(void *arg, int64_t now_ns);
	// pinged: the reaper's ping pass as of now_ns is done: every
	// connection due has had its drpc__conn_keepalive (called with the
	// server's mu held: it must not block).
	void (*pinged)(void *arg, int64_t now_ns);
	// ctrl: a connection's reader took a control frame of kind
	// (drpc__conn_opts.ctrl_hook, on that reader thread; it may block).
	void (*ctrl)(void *arg, unsigned kind);
	// drained: a graceful shutdown has sent its GOAWAYs and waited for
	// them, with result rv (on the shutdown's thread, no lock held).
	void (*drained)(void *arg, drpc_err rv);
	void *arg;
} drpc__server_hooks;

// drpc__server_set_hooks installs h (copied) before s is used.
void drpc__server_set_hooks(drpc_server *s, const drpc__server_hooks *h);

#endif // DRPC_SERVER_HOOKS_H
