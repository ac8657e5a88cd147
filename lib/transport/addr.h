// Addresses: "tcp://host:port" (host: a name, IPv4, or [IPv6]) and
// "unix:///path". Dialing with a timeout, and listening.
#ifndef DRPC_TRANSPORT_ADDR_H
#define DRPC_TRANSPORT_ADDR_H

#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

// drpc__dial connects to addr within timeout_ms (0: 10 s) and returns a
// connected, blocking socket with TCP_NODELAY set for TCP.
// Errors: DRPC_EINVAL (malformed address), DRPC_EUNAVAIL (refused,
// unreachable, unknown host), DRPC_ETIMEDOUT.
drpc_err drpc__dial(const char *addr, int64_t timeout_ms, int *fdp);

// drpc__listen binds and listens on addr. A unix path that exists as a
// stale socket is replaced. Errors: DRPC_EINVAL, DRPC_EUNAVAIL.
drpc_err drpc__listen(const char *addr, int *fdp);

// drpc__local_addr writes the address fd is bound to, in the same URL
// form (the real port for a TCP listener bound to port 0).
drpc_err drpc__local_addr(int fd, char *buf, size_t cap);

// drpc__set_nodelay turns Nagle off on a TCP socket (no-op otherwise).
void drpc__set_nodelay(int fd);

#endif // DRPC_TRANSPORT_ADDR_H
