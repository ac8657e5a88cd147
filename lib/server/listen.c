// Listeners: a thread per listening socket accepts connections and hands
// each to drpc_server_serve_fd, until shutdown.
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cause.h"
#include "common/log.h"
#include "platform/thread.h"
#include "server/server_impl.h"
#include "transport/addr.h"

// An accept that fails for want of a resource (EMFILE when the process's
// descriptors run out), or for any reason but the connection's own, is
// retried after a pause that starts at ACCEPT_PAUSE_MIN_NS and doubles up
// to ACCEPT_PAUSE_MAX_NS while it keeps failing: the listener never gives
// up, nor spins. Shutdown ends a pause at once.
#define ACCEPT_PAUSE_MIN_NS 5000000ll
#define ACCEPT_PAUSE_MAX_NS 1000000000ll

// accept_conn_error tells the errors of one pending connection (reset
// before it was accepted, or a network error Linux passes on): the next
// accept may well succeed, and each takes a connection off the queue.
static bool
accept_conn_error(int err)
{
	switch (err) {
	case EINTR:
	case ECONNABORTED:
	case EPROTO:
	case EPERM: // a firewall rule refused this connection
	case ENETDOWN:
	case ENETUNREACH:
	case EHOSTDOWN:
	case EHOSTUNREACH:
	case ETIMEDOUT:
		return true;
	default:
		return false;
	}
}

static const char *
accept_errno_name(int err)
{
	switch (err) {
	case EMFILE:
		return "EMFILE";
	case ENFILE:
		return "ENFILE";
	case ENOBUFS:
		return "ENOBUFS";
	case ENOMEM:
		return "ENOMEM";
	default:
		return "errno";
	}
}

// accept_pause waits ns, or until shutdown begins; false if it has.
static bool
accept_pause(drpc_server *srv, int64_t ns)
{
	int64_t until = drpc__deadline_in_ns(ns);
	bool    stopping;

	drpc__mutex_lock(&srv->mu);
	while (!srv->stopping && drpc__cond_wait_until(&srv->accept_cv,
	                             &srv->mu, until) == DRPC_OK) {
	}
	stopping = srv->stopping;
	drpc__mutex_unlock(&srv->mu);
	return !stopping;
}

static bool
accept_stopping(drpc_server *srv)
{
	bool stopping;

	drpc__mutex_lock(&srv->mu);
	stopping = srv->stopping;
	drpc__mutex_unlock(&srv->mu);
	return stopping;
}

static void *
accept_main(void *arg)
{
	srv_listener *l      = arg;
	drpc_server  *srv    = l->srv;
	int64_t       pause  = 0; // ns; 0 while accepts succeed
	int64_t       since  = 0; // when they began to fail
	uint64_t      failed = 0; // accepts failed since
	int           last   = 0; // the errno logged last
	int           fd;
	int           err;
	char          text[128];

	for (;;) {
		fd = accept(l->fd, NULL, NULL);
		if (fd < 0) {
			err = errno;
			if (accept_stopping(srv)) {
				break; // shut down: EINVAL
			}
			if (accept_conn_error(err)) {
				continue;
			}
			if (failed++ == 0 || err != last) {
				// Once an episode (or when the error changes):
				// a busy server fails thousands of times.
				drpc__logf(srv->opts.log, srv->opts.log_arg,
				    DRPC_LOG_WARN,
				    "drpc: accept on %s failed: %s (%s %d); "
				    "accepting pauses, retried from %lld ms up "
				    "to every %lld ms",
				    l->name,
				    drpc__errno_text(err, text, sizeof(text)),
				    accept_errno_name(err), err,
				    ACCEPT_PAUSE_MIN_NS / 1000000,
				    ACCEPT_PAUSE_MAX_NS / 1000000);
				last  = err;
				since = failed == 1 ? drpc__now_ns() : since;
			}
			pause = pause == 0 ? ACCEPT_PAUSE_MIN_NS
			        : pause >= ACCEPT_PAUSE_MAX_NS / 2
			            ? ACCEPT_PAUSE_MAX_NS
			            : pause * 2;
			if (!accept_pause(srv, pause)) {
				break;
			}
			continue;
		}
		if (failed > 0) {
			drpc__logf(srv->opts.log, srv->opts.log_arg,
			    DRPC_LOG_WARN,
			    "drpc: accepting on %s again, after %" PRIu64
			    " failed accepts in %lld ms",
			    l->name, failed,
			    (long long) ((drpc__now_ns() - since) / 1000000));
			failed = 0;
			pause  = 0;
			last   = 0;
		}
		drpc__set_nodelay(fd);
		drpc__set_keepalive(fd, srv->opts.tcp_keepalive_ms);
		drpc_err rv = drpc_server_serve_fd(srv, fd);
		if (rv != DRPC_OK) {
			char peer[128];

			if (drpc__peer_addr(fd, peer, sizeof(peer)) != DRPC_OK) {
				(void) snprintf(peer, sizeof(peer), "unknown");
			}
			drpc__logf(srv->opts.log, srv->opts.log_arg,
			    DRPC_LOG_WARN,
			    "drpc: refusing a connection on %s: %s; peer %s",
			    l->name, drpc_strerror(rv), peer);
			close(fd);
		}
	}
	return NULL;
}

// listen_scheme names a TCP listener of a TLS server (drpc_server_opts.tls:
// all its connections are TLS) "tls://", the scheme a client dials it by.
static void
listen_scheme(const drpc_server *srv, char *name)
{
	if (srv->opts.tls != NULL && strncmp(name, "tcp://", 6) == 0) {
		memcpy(name, "tls", 3);
	}
}

// server_listen_why explains a listen refused after the bind.
static const char *
server_listen_why(drpc_err rv)
{
	switch (rv) {
	case DRPC_ESTATE:
		return "the server is shutting down";
	case DRPC_ERESOURCE:
		return "the server has as many listeners as it takes";
	default:
		return "the accept thread did not start";
	}
}

drpc_err
drpc_server_listen_cause(drpc_server *srv, const char *addr, drpc_cause *cause)
{
	srv_listener *l;
	drpc_err      rv;
	int           fd;
	char          buf[DRPC__CAUSE_ADDR_MAX + 1];

	if (srv == NULL || addr == NULL) {
		drpc_cause_clear(cause);
		return drpc__cause_set(cause, DRPC_EINVAL, "listen: no %s",
		    srv == NULL ? "server" : "address");
	}
	if (drpc__addr_is_tls(addr) && srv->opts.tls == NULL) {
		drpc_cause_clear(cause);
		return drpc__cause_set(cause, DRPC_EINVAL,
		    "listen %s: a tls:// address needs drpc_server_opts.tls",
		    drpc__cause_addr(addr, buf));
	}
	if ((rv = drpc__listen_cause(addr, &fd, cause)) != DRPC_OK) {
		return rv;
	}
	drpc__mutex_lock(&srv->mu);
	if (srv->stopping || srv->nlisteners == SERVER_MAX_LISTENERS) {
		rv = srv->stopping ? DRPC_ESTATE : DRPC_ERESOURCE;
	} else {
		l      = &srv->listeners[srv->nlisteners];
		l->srv = srv;
		l->fd  = fd;
		if (drpc__local_addr(fd, l->name, sizeof(l->name)) != DRPC_OK) {
			(void) snprintf(l->name, sizeof(l->name), "%s",
			    drpc__cause_addr(addr, buf));
		}
		listen_scheme(srv, l->name);
		rv = drpc__thread_start(&l->t, "drpc-acc", srv->nlisteners,
		    srv->opts.thread_stack, accept_main, l);
		if (rv == DRPC_OK) {
			srv->nlisteners++;
			(void) drpc__local_addr(
			    fd, srv->addr, sizeof(srv->addr));
			listen_scheme(srv, srv->addr);
		}
	}
	drpc__mutex_unlock(&srv->mu);
	if (rv != DRPC_OK) {
		close(fd);
		(void) drpc__cause_set(cause, rv, "listen %s: %s",
		    drpc__cause_addr(addr, buf), server_listen_why(rv));
	}
	return rv;
}

drpc_err
drpc_server_listen(drpc_server *srv, const char *addr)
{
	return drpc_server_listen_cause(srv, addr, NULL);
}

drpc_err
drpc_server_addr(drpc_server *srv, char *buf, size_t cap)
{
	drpc_err rv = DRPC_ESTATE;

	drpc__mutex_lock(&srv->mu);
	if (srv->addr[0] != '\0' && strlen(srv->addr) < cap) {
		strcpy(buf, srv->addr);
		rv = DRPC_OK;
	}
	drpc__mutex_unlock(&srv->mu);
	return rv;
}

void
drpc__server_stop_listeners(drpc_server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		(void) shutdown(srv->listeners[i].fd, SHUT_RDWR);
		drpc__thread_join(srv->listeners[i].t);
		close(srv->listeners[i].fd);
	}
	srv->nlisteners = 0;
}
