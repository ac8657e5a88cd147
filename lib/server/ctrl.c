// The server's side of liveness and drain (docs/protocol.md §14,
// docs/design.md §2): the reaper's ping pass over the listed connections,
// and the GOAWAY phase of a graceful shutdown.
//
// Lock order as in server.c: the connections' functions called here with
// the server's mu held (drpc__conn_goaway, drpc__conn_goaway_pending) take
// only leaf locks of the connection; drpc__conn_keepalive, which may end a
// connection (its on_end takes the server's mu), is called without it.
#include <stdint.h>

#include "conn/conn.h"
#include "platform/thread.h"
#include "server/hooks.h"
#include "server/server_impl.h"

static int64_t
ctrl_add_sat(int64_t t, int64_t ns)
{
	return ns > INT64_MAX - t ? INT64_MAX : t + ns;
}

// The ping pass. Nobody wakes the reaper for a new connection: it is due
// a whole interval after it was served, and the reaper passes at least
// once an interval, so its next pass always comes in time (as for the
// timeouts, server.c). While pinging is set the reaper walks the list
// without the lock between connections: only it unlinks connections
// (server_close_conns waits for the pass to end), and one listed
// meanwhile goes in at the head, behind the walk.
void
drpc__server_ping_locked(drpc_server *srv, int64_t now)
{
	int64_t first = ctrl_add_sat(now, srv->ping_ns);
	int64_t least = ctrl_add_sat(now, srv->ping_ns / 64);

	srv->pinging = true;
	for (srv_conn *sc = srv->conns; sc != NULL; sc = sc->next) {
		int64_t at;

		if (sc->ended) {
			continue;
		}
		if (sc->ka_at > now) {
			first = sc->ka_at < first ? sc->ka_at : first;
			continue;
		}
		drpc__mutex_unlock(&srv->mu);
		at = drpc__conn_keepalive(sc->c, now);
		drpc__mutex_lock(&srv->mu);
		sc->ka_at = at == 0 ? INT64_MAX : at;
		first     = sc->ka_at < first ? sc->ka_at : first;
	}
	srv->pinging = false;
	drpc__cond_broadcast(&srv->done_cv);
	// Connections due close together go in one pass, a little late.
	srv->ping_next = first > least ? first : least;
	if (srv->hooks.pinged != NULL) {
		srv->hooks.pinged(srv->hooks.arg, now);
	}
}

void
drpc__server_on_goaway_acked(void *arg)
{
	srv_conn    *sc  = arg;
	drpc_server *srv = sc->srv;

	drpc__mutex_lock(&srv->mu);
	drpc__cond_broadcast(&srv->done_cv);
	drpc__mutex_unlock(&srv->mu);
}

// ctrl_pending_locked tells whether a listed connection has a GOAWAY
// unacknowledged.
static bool
ctrl_pending_locked(const drpc_server *srv)
{
	for (const srv_conn *sc = srv->conns; sc != NULL; sc = sc->next) {
		if (!sc->ended && drpc__conn_goaway_pending(sc->c)) {
			return true;
		}
	}
	return false;
}

// The connections being added are waited for first, so each gets its
// GOAWAY. One whose client's hello has not arrived yet gets it as soon as
// it does, if the client has the extension (drpc__conn_goaway); the wait
// below sees it pending from then on. The waits end when a connection
// acknowledges (drpc__server_on_goaway_acked) or ends (server_on_end).
drpc_err
drpc__server_drain(drpc_server *srv, int64_t deadline_ns)
{
	drpc_err rv = DRPC_OK;

	drpc__mutex_lock(&srv->mu);
	drpc__server_wait_adding_locked(srv);
	for (srv_conn *sc = srv->conns; sc != NULL; sc = sc->next) {
		if (!sc->ended) {
			drpc__conn_goaway(sc->c);
		}
	}
	while (rv == DRPC_OK && ctrl_pending_locked(srv)) {
		rv =
		    drpc__cond_wait_until(&srv->done_cv, &srv->mu, deadline_ns);
	}
	rv            = ctrl_pending_locked(srv) ? DRPC_ETIMEDOUT : DRPC_OK;
	srv->draining = false; // from now on every new RPC is refused
	drpc__mutex_unlock(&srv->mu);
	if (srv->hooks.drained != NULL) {
		srv->hooks.drained(srv->hooks.arg, rv);
	}
	return rv;
}
