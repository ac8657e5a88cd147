// Addresses: "tcp://host:port" (host: a name, IPv4, or [IPv6]),
// "tls://host:port" (TCP, with TLS on top: lib/tls/) and "unix:///path". Dialing with a timeout, and listening.
//
// Each call that can fail for a reason worth telling fills a drpc_cause
// (which may be NULL), so the caller can say why in words; the codes are
// in the comments and the texts in docs/api.md §9.
#ifndef DRPC_TRANSPORT_ADDR_H
#define DRPC_TRANSPORT_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

// drpc__dial_cause connects to addr within timeout_ms (0: 10 s) and
// returns a connected, blocking socket with TCP_NODELAY and the default
// TCP keepalive (drpc__set_keepalive) set for TCP.
// Errors: DRPC_EINVAL (malformed address, a port outside 1-65535, no
// host), DRPC_EUNAVAIL (refused, unreachable, no such unix socket, name
// resolution failed), DRPC_EPERM, DRPC_ETIMEDOUT, DRPC_ERESOURCE (no
// descriptor left). cause (may be NULL) is cleared on success.
drpc_err drpc__dial_cause(
    const char *addr, int64_t timeout_ms, int *fdp, drpc_cause *cause);

// drpc__dial_with is drpc__dial_cause with the TCP keepalive's idle time
// keepalive_ms as drpc__set_keepalive takes it (0: the default, 60 s;
// negative: no keepalive), and which gives up, with DRPC_ECANCELED ("dial
// ...: canceled"), as soon as cancel_fd (-1: none) is readable. Name
// resolution is not interrupted.
drpc_err drpc__dial_with(const char *addr, int64_t timeout_ms,
    int64_t keepalive_ms, int cancel_fd, int *fdp, drpc_cause *cause);

// drpc__addr_check validates addr as drpc__dial_cause would, without
// resolving or connecting anything. DRPC_EINVAL with the cause if bad.
drpc_err drpc__addr_check(const char *addr, drpc_cause *cause);

// DRPC__ADDR_MAX bounds an address in URL form: "unix://" and a 107-byte
// path, or a numeric TCP address.
#define DRPC__ADDR_MAX    120
#define DRPC__RESOLVE_MAX 256

// drpc__addr_list is a list of addresses in URL form.
typedef struct drpc__addr_list {
	size_t n;
	char   addr[DRPC__RESOLVE_MAX][DRPC__ADDR_MAX];
} drpc__addr_list;

// drpc__resolve appends to out every address addr stands for, numeric
// and in URL form ("tcp://10.0.0.1:7070", "tcp://[::1]:7070"; a unix
// address as it is), skipping ones out has already, and at most max in
// all. Errors: DRPC_EINVAL (malformed), DRPC_EUNAVAIL (resolution failed,
// nothing usable), with the cause in words; out keeps what it had.
drpc_err drpc__resolve(
    const char *addr, drpc__addr_list *out, size_t max, drpc_cause *cause);

// drpc__dial is drpc__dial_cause without a cause.
drpc_err drpc__dial(const char *addr, int64_t timeout_ms, int *fdp);

// drpc__listen_cause binds and listens on addr (port 0: any free port).
// A unix socket file no server accepts on (left by an earlier run) is
// replaced. Errors: DRPC_EINVAL, DRPC_EEXIST (address in use, a live unix
// socket, a file that is not a socket), DRPC_EPERM, DRPC_EUNAVAIL (no
// such directory, address not available, name resolution failed),
// DRPC_ERESOURCE. cause (may be NULL) is cleared on success.
drpc_err drpc__listen_cause(const char *addr, int *fdp, drpc_cause *cause);

// drpc__listen is drpc__listen_cause without a cause.
drpc_err drpc__listen(const char *addr, int *fdp);

// drpc__local_addr writes the address fd is bound to, in the same URL
// form (the real port for a TCP listener bound to port 0).
drpc_err drpc__local_addr(int fd, char *buf, size_t cap);

// drpc__peer_addr writes the address of fd's peer in URL form; for an
// unnamed unix peer, the socket it connected to. DRPC_EINVAL if unknown.
drpc_err drpc__peer_addr(int fd, char *buf, size_t cap);

// drpc__addr_is_tls tells whether addr's scheme is "tls://".
bool drpc__addr_is_tls(const char *addr);

// drpc__addr_host writes the host of a TCP or TLS address ("localhost",
// "127.0.0.1", "::1" without its brackets) into buf. DRPC_EINVAL for a
// malformed or unix address, or one whose host does not fit.
drpc_err drpc__addr_host(const char *addr, char *buf, size_t cap);

// drpc__set_nodelay turns Nagle off on a TCP socket (no-op otherwise).
void drpc__set_nodelay(int fd);

// DRPC__KEEPALIVE_IDLE_MS, _INTVL_MS and _CNT are the TCP keepalive's
// defaults: the first probe after 60 s without traffic, then one every
// 10 s, and the connection fails after 3 unanswered ones.
#define DRPC__KEEPALIVE_IDLE_MS  60000
#define DRPC__KEEPALIVE_INTVL_MS 10000
#define DRPC__KEEPALIVE_CNT      3

// drpc__set_keepalive turns TCP keepalive on for a TCP socket (no-op
// otherwise): SO_KEEPALIVE, with the first probe after idle_ms without
// traffic (0: DRPC__KEEPALIVE_IDLE_MS; rounded up to whole seconds),
// probes every DRPC__KEEPALIVE_INTVL_MS (or idle_ms if shorter), and
// DRPC__KEEPALIVE_CNT probes unanswered ending the connection. A
// negative idle_ms turns keepalive off. Best effort: a system that
// refuses an option keeps its own.
void drpc__set_keepalive(int fd, int64_t idle_ms);

#endif // DRPC_TRANSPORT_ADDR_H
