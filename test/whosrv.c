// A server that records who called it (whosrv.h).
#include "whosrv.h"

#include <stdio.h>
#include <string.h>

#include "connutil.h"
#include "platform/thread.h"
#include "testutil.h"

static drpc_err
h_who(drpc_stream *s, void *user)
{
	who_srv  *w = user;
	drpc_peer p = {0};
	drpc_err  rv;
	void     *req;
	size_t    len;
	char      reply[sizeof(p.addr)];

	if ((rv = drpc_stream_recv(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	drpc_free(req);
	rv = drpc_stream_peer(s, &p);
	tu_sync_lock(&w->sync);
	drpc_peer_reset(&w->peer);
	w->peer    = p; // moved: w frees it
	w->peer_rv = rv;
	w->calls++;
	(void) snprintf(reply, sizeof(reply), "%s",
	    w->reply != NULL ? w->reply : w->peer.addr);
	tu_sync_unlock(&w->sync);
	return drpc_stream_send(s, reply, strlen(reply));
}

size_t
who_calls(who_srv *w)
{
	return tu_sync_get(&w->sync, &w->calls);
}

void
who_start(who_srv *w, const char *method, const char *reply,
    drpc_server_opts *o, const char *listen)
{
	drpc_server_opts def = {0};

	memset(w, 0, sizeof(*w));
	w->reply = reply;
	tu_sync_init(&w->sync);
	srv_log_init(&w->log, DRPC_LOG_WARN);
	o = o != NULL ? o : &def;
	srv_log_attach(&w->log, o);
	DRPC_CHECK_OK(drpc_mux_create(&w->mux));
	DRPC_CHECK_OK(drpc_mux_register(w->mux, method, h_who, w));
	DRPC_CHECK_OK(drpc_server_create(&w->srv, w->mux, o));
	if (listen != NULL) {
		DRPC_CHECK_OK(drpc_server_listen(w->srv, listen));
		DRPC_CHECK_OK(
		    drpc_server_addr(w->srv, w->addr, sizeof(w->addr)));
	}
}

void
who_stop(who_srv *w)
{
	drpc_server_destroy(w->srv);
	drpc_mux_destroy(w->mux);
	drpc_peer_reset(&w->peer);
	srv_log_fini(&w->log);
	tu_sync_fini(&w->sync);
}
