// The server's interceptor chain and per-RPC stats (intercept.h).
//
// Design notes. A chain runs on the handler's worker thread: each step
// calls one interceptor with a drpc_next of its own on the stack, whose
// drpc_next_handle runs the next step, and the last step the handler. No
// allocation, no lock. Stats begin on the connection's reader thread when
// an invoke arrives (so a call refused there, unknown or over a limit,
// has its begin and end too) and end on the worker once the RPC's last
// packet went out, or on the reader for a refused one.
#include <stdlib.h>
#include <string.h>

#include <drpc/conninfo.h>
#include <drpc/peer.h>

#include "common/next.h"
#include "server/intercept.h"
#include "stream/observe.h"

drpc_err
drpc__srv_icpt_create(drpc__srv_icpt **out, const drpc_server_opts *o)
{
	*out = NULL;
	if (o->ninterceptors > 0 && o->interceptors == NULL) {
		return DRPC_EINVAL;
	}
	for (size_t i = 0; i < o->ninterceptors; i++) {
		if (o->interceptors[i].fn == NULL) {
			return DRPC_EINVAL;
		}
	}
	return drpc__chain_create(out, o->interceptors, o->ninterceptors,
	    sizeof(*o->interceptors), o->stats);
}

void
drpc__srv_icpt_free(drpc__srv_icpt *ic)
{
	drpc__chain_free(ic);
}

drpc_err
drpc__srv_icpt_begin(const drpc__srv_icpt *ic, drpc__stream *s)
{
	drpc_peer  peer = {0};
	drpc__obs *o;
	drpc_err   rv;

	if (!ic->has_stats) {
		return DRPC_OK;
	}
	if ((rv = drpc__obs_create(&o)) != DRPC_OK) {
		return rv;
	}
	(void) drpc_stream_peer(s, &peer); // "" if it cannot say
	rv = drpc__obs_begin(o, &ic->stats, drpc_stream_method(s), false,
	    drpc_stream_conn_id(s), peer.addr);
	drpc_peer_reset(&peer);
	if (rv != DRPC_OK) {
		drpc__obs_free(o);
		return rv;
	}
	drpc__stream_set_obs(s, o);
	return DRPC_OK;
}

// srv_step runs the interceptor nx->i, or the handler past the last.
static drpc_err
srv_step(const drpc_next *nx)
{
	drpc_next next = *nx;

	if (nx->i == nx->n) {
		return nx->fn(nx->s, nx->user);
	}
	next.i++;
	next.called = false;
	return nx->sv[nx->i].fn(nx->s, &next, nx->sv[nx->i].arg);
}

drpc_err
drpc__srv_icpt_run(const drpc__srv_icpt *ic, drpc__stream *s,
    drpc_handler_fn fn, void *user)
{
	drpc_next root = {
	    .n = ic->n, .sv = ic->v, .s = s, .fn = fn, .user = user};

	return srv_step(&root);
}

drpc_err
drpc_next_handle(drpc_next *next, drpc_stream *s)
{
	if (next == NULL || s == NULL || next->client || s != next->s) {
		return DRPC_EINVAL;
	}
	if (next->called) {
		return DRPC_ESTATE;
	}
	next->called = true;
	return srv_step(next);
}

void
drpc__srv_rpc_done(drpc__stream *s, drpc_err rv)
{
	drpc__obs  *o = drpc__stream_obs(s);
	drpc_status st = {0};
	uint64_t    code;
	const char *msg;

	if (o == NULL) {
		return;
	}
	// The status as server.c's server_fail sent it (drpc/server.h).
	if (drpc__stream_error_override(s, &code, &msg)) {
		st.code = code >= 1 && code <= 16 ? (drpc_err) code : DRPC_EREMOTE;
		st.remote_code = code;
		st.message     = (char *) (uintptr_t) msg;
	} else if (rv >= DRPC_ECANCELED && rv <= DRPC_EUNAUTH) {
		st.code        = rv;
		st.remote_code = (uint64_t) rv;
		st.message     = (char *) (uintptr_t) drpc_strerror(rv);
	} else if (rv != DRPC_OK) {
		st.code        = rv; // the library's own: the client got 13
		st.remote_code = DRPC_EINTERNAL;
		st.message = (char *) (uintptr_t) drpc_strerror(DRPC_EINTERNAL);
	}
	drpc__obs_end(o, s, &st);
}

void
drpc__srv_rpc_refused(drpc__stream *s, drpc_err code, const char *text)
{
	drpc__obs  *o = drpc__stream_obs(s);
	drpc_status st = {.code = code, .remote_code = (uint64_t) code};

	if (o == NULL) {
		return;
	}
	st.message = (char *) (uintptr_t) text;
	drpc__obs_end(o, s, &st);
}
