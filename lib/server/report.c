// How a server ends a failed or refused RPC, what it logs about RPCs and
// connections (docs/api.md, "Logging"), and the hooks run when a shutdown
// begins (drpc_server_on_shutdown).
//
// Every line names what it is about: the method, the connection's id
// ("conn <16 hex digits>", drpc/conninfo.h) and the peer's address. The
// method and a handler's message are cut at 256 bytes so that what
// follows them always fits the line (common/log.c).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/conninfo.h>
#include <drpc/peer.h>
#include <drpc/server.h>

#include "common/log.h"
#include "platform/thread.h"
#include "server/intercept.h"
#include "server/server_impl.h"

// report_peer writes s's peer address into buf ("unknown" if none).
static void
report_peer(drpc__stream *s, char *buf, size_t cap)
{
	drpc_peer p = {0};

	if (drpc_stream_peer(s, &p) == DRPC_OK && p.addr[0] != '\0') {
		(void) snprintf(buf, cap, "%s", p.addr);
	} else {
		(void) snprintf(buf, cap, "unknown");
	}
	drpc_peer_reset(&p);
}

void
drpc__server_fail(
    drpc_server *srv, drpc__stream *s, const char *method, drpc_err rv)
{
	uint64_t    code;
	const char *msg;
	bool        set = drpc__stream_error_override(s, &code, &msg);
	// gone: the RPC ended before its handler did (the client cancelled
	// it, its connection was lost, a shutdown cancelled it): the handler
	// only saw that, and nobody hears the Error. No news: DEBUG.
	bool           gone  = drpc__stream_is_terminated(s);
	drpc_log_level level = gone ? DRPC_LOG_DEBUG : DRPC_LOG_WARN;
	char           peer[128];

	drpc__stream_note_failed(s);
	if (srv->opts.log != NULL) {
		report_peer(s, peer, sizeof(peer));
	}
	if (set || (rv >= DRPC_ECANCELED && rv <= DRPC_EUNAUTH)) {
		if (!set) {
			code = (uint64_t) rv;
			msg  = drpc_strerror(rv);
		}
		drpc__logf(srv->opts.log, srv->opts.log_arg, level,
		    "drpc: %.256s failed: code %" PRIu64 " (%s): %.256s; "
		    "peer %s; conn %016" PRIx64 "%s",
		    method, code,
		    code <= DRPC_EUNAUTH ? drpc_err_name((drpc_err) code) : "?",
		    msg, peer, drpc_stream_conn_id(s),
		    gone ? "; the RPC had ended (cancelled or disconnected)" : "");
	} else {
		code = DRPC_EINTERNAL;
		msg  = drpc_strerror(DRPC_EINTERNAL);
		drpc__logf(srv->opts.log, srv->opts.log_arg, level,
		    "drpc: %.256s failed: %s (%s); the client gets Internal "
		    "(code 13); peer %s; conn %016" PRIx64 "%s",
		    method, drpc_strerror(rv), drpc_err_name(rv), peer,
		    drpc_stream_conn_id(s),
		    gone ? "; the RPC had ended (cancelled or disconnected)" : "");
	}
	(void) drpc__stream_send_error(s, code, msg, strlen(msg));
}

void
drpc__server_unknown(drpc_server *srv, drpc__stream *s)
{
	char text[400];
	char peer[128];

	drpc__stream_note_refused(s);
	(void) snprintf(text, sizeof(text),
	    "protocol error: unknown rpc: \"%s\"", drpc_stream_method(s));
	if (srv->opts.log != NULL) {
		report_peer(s, peer, sizeof(peer));
		drpc__logf(srv->opts.log, srv->opts.log_arg, DRPC_LOG_DEBUG,
		    "drpc: %.256s refused: unknown method; peer %s; "
		    "conn %016" PRIx64,
		    drpc_stream_method(s), peer, drpc_stream_conn_id(s));
	}
	(void) drpc__stream_send_error(s, DRPC_EUNIMPL, text, strlen(text));
	drpc__srv_rpc_refused(s, DRPC_EUNIMPL, text);
}

void
drpc__server_refuse(drpc_server *srv, drpc__stream *s, drpc_err rv, bool busy)
{
	const char *why    = busy ? DRPC__SERVER_BUSY : drpc_strerror(rv);
	const char *method = drpc_stream_method(s);
	char        peer[128];

	drpc__stream_note_refused(s);
	if (srv->opts.log != NULL) {
		report_peer(s, peer, sizeof(peer));
		drpc__logf(srv->opts.log, srv->opts.log_arg, DRPC_LOG_DEBUG,
		    "drpc: %.256s refused: %s; peer %s; conn %016" PRIx64,
		    method != NULL ? method : "an RPC",
		    busy ? "too many handlers running (max_handlers)" : why,
		    peer, drpc_stream_conn_id(s));
	}
	rv = rv == DRPC_EUNAVAIL ? DRPC_EUNAVAIL : DRPC_ERESOURCE;
	(void) drpc__stream_send_error(s, rv, why, strlen(why));
	drpc__srv_rpc_refused(s, rv, why);
}

// Shutdown hooks.

struct srv_shutdown_hook {
	void (*fn)(void *arg, bool graceful);
	void                     *arg;
	struct srv_shutdown_hook *next;
};

drpc_err
drpc_server_on_shutdown(
    drpc_server *srv, void (*fn)(void *arg, bool graceful), void *arg)
{
	srv_shutdown_hook *h;
	srv_shutdown_hook **pp;

	if (srv == NULL || fn == NULL) {
		return DRPC_EINVAL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		return DRPC_ENOMEM;
	}
	h->fn  = fn;
	h->arg = arg;
	drpc__mutex_lock(&srv->mu);
	if (srv->stopping) {
		drpc__mutex_unlock(&srv->mu);
		free(h);
		return DRPC_ESTATE;
	}
	for (pp = &srv->on_shutdown; *pp != NULL; pp = &(*pp)->next) {
	}
	*pp = h; // in the order added
	drpc__mutex_unlock(&srv->mu);
	return DRPC_OK;
}

void
drpc__server_run_shutdown_hooks(drpc_server *srv, bool graceful)
{
	srv_shutdown_hook *all;

	// stopping is set: nobody adds more, and this runs once.
	drpc__mutex_lock(&srv->mu);
	all = srv->on_shutdown;
	drpc__mutex_unlock(&srv->mu);
	for (srv_shutdown_hook *h = all; h != NULL; h = h->next) {
		h->fn(h->arg, graceful);
	}
}

void
drpc__server_free_shutdown_hooks(drpc_server *srv)
{
	while (srv->on_shutdown != NULL) {
		srv_shutdown_hook *next = srv->on_shutdown->next;

		free(srv->on_shutdown);
		srv->on_shutdown = next;
	}
}
