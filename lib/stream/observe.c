// Stream observers (observe.h): wrappers, values and per-RPC stats of one
// stream, and the public calls that set them (include/drpc/intercept.h).
//
// Locks: none. An observer is set up while no other thread uses its
// stream, then read only; its out counters are the sending thread's, its
// in counters and seen the receiving thread's, and its end runs once
// every other user is done (observe.h says who, for each field). s->obs
// is set the same way (drpc__stream_set_obs), and read without a lock.
//
// Callers: the stream's sending and receiving threads (send.c, recv.c:
// the obs send and recv), the client and server layers that begin and
// end an RPC, and interceptors (drpc_stream_wrap, drpc_stream_set_value)
// before they share the stream.
#include <stdlib.h>
#include <string.h>

#include <drpc/peer.h>

#include <drpc/conninfo.h>

#include "stream/observe.h"
#include "stream/stream_impl.h"

drpc_err
drpc__obs_create(drpc__obs **op)
{
	drpc__obs *o = calloc(1, sizeof(*o));

	if (o == NULL) {
		return DRPC_ENOMEM;
	}
	o->info.method    = "";
	o->info.peer_addr = o->peer;
	*op               = o;
	return DRPC_OK;
}

void
drpc__obs_free(drpc__obs *o)
{
	if (o != NULL) {
		free(o->method);
		free(o->wraps);
		free(o->vals);
		free(o);
	}
}

drpc_err
drpc__obs_begin(drpc__obs *o, const drpc_stats_handler *h,
    const char *method, bool client, uint64_t conn_id, const char *peer)
{
	size_t n = strlen(method);

	if ((o->method = malloc(n + 1)) == NULL) {
		return DRPC_ENOMEM;
	}
	memcpy(o->method, method, n + 1);
	o->handler       = *h;
	o->stats         = &o->handler;
	o->info.method   = o->method;
	o->info.client   = client;
	o->info.conn_id  = conn_id; // 0: not known yet (a client's)
	o->info.begin_ns = drpc_now_ns();
	drpc__obs_set_peer(o, peer);
	if (o->handler.begin != NULL) {
		o->handler.begin(o->handler.arg, &o->info);
	}
	return DRPC_OK;
}

void
drpc__obs_set_peer(drpc__obs *o, const char *peer)
{
	size_t n = peer != NULL ? strlen(peer) : 0;

	n = n < sizeof(o->peer) - 1 ? n : sizeof(o->peer) - 1;
	if (n > 0) {
		memcpy(o->peer, peer, n);
	}
	o->peer[n] = '\0';
}

void
drpc__obs_learn_peer(drpc__obs *o, drpc__stream *s)
{
	drpc_peer p = {0};

	if (o->info.conn_id == 0) {
		o->info.conn_id = drpc_stream_conn_id(s);
	}
	if (o->peer[0] == '\0' && drpc_stream_peer(s, &p) == DRPC_OK) {
		drpc__obs_set_peer(o, p.addr);
	}
	drpc_peer_reset(&p);
}

void
drpc__obs_count(drpc__obs *o, bool out, size_t len)
{
	if (o->stats == NULL) {
		return;
	}
	if (out) {
		o->msgs_out++;
		o->bytes_out += len;
	} else {
		o->msgs_in++;
		o->bytes_in += len;
	}
	if (o->stats->msg != NULL) {
		o->stats->msg(o->stats->arg, &o->info, out, len);
	}
}

void
drpc__obs_end(drpc__obs *o, drpc__stream *s, const drpc_status *st)
{
	drpc_rpc_end e;

	if (o->ended) {
		return;
	}
	o->ended = true;
	for (size_t i = 0; i < o->nwraps; i++) {
		if (o->wraps[i].w.end != NULL) {
			o->wraps[i].w.end(o->wraps[i].arg, s, st);
		}
	}
	if (o->stats == NULL || o->stats->end == NULL) {
		return;
	}
	e = (drpc_rpc_end) {.code = st->code,
	    .remote_code          = st->remote_code,
	    .message              = st->message,
	    .latency_ns           = drpc_now_ns() - o->info.begin_ns,
	    .msgs_in              = o->msgs_in,
	    .msgs_out             = o->msgs_out,
	    .bytes_in             = o->bytes_in,
	    .bytes_out            = o->bytes_out};
	o->stats->end(o->stats->arg, &o->info, &e);
}

drpc__obs *
drpc__stream_obs(const drpc__stream *s)
{
	return s->obs;
}

void
drpc__stream_set_obs(drpc__stream *s, drpc__obs *o)
{
	s->obs = o;
}

// stream_obs_get gives s's observer, making one if it has none.
static drpc_err
stream_obs_get(drpc__stream *s, drpc__obs **op)
{
	drpc_err rv;

	if (s->obs == NULL && (rv = drpc__obs_create(&s->obs)) != DRPC_OK) {
		return rv;
	}
	*op = s->obs;
	return DRPC_OK;
}

drpc_err
drpc__stream_obs_send(
    drpc__stream *s, const uint8_t *data, size_t len, bool last)
{
	drpc__obs *o = s->obs;
	drpc_err   rv;

	// Nearest the application first: the last added sees it first.
	for (size_t i = o->nwraps; i-- > 0;) {
		const drpc__obs_wrap *w = &o->wraps[i];

		if (w->w.send != NULL &&
		    (rv = w->w.send(w->arg, s, data, len)) != DRPC_OK) {
			return rv;
		}
	}
	rv = last ? drpc__stream_send_last_plain(s, data, len)
		  : drpc__stream_send_plain(s, data, len);
	if (rv == DRPC_OK) {
		drpc__obs_count(o, true, len);
	}
	return rv;
}

void
drpc__stream_obs_recv(
    drpc__stream *s, drpc_err rv, const uint8_t *data, size_t len)
{
	drpc__obs *o = s->obs;

	if (rv != DRPC_OK) {
		if (o->seen == DRPC_OK) {
			o->seen = rv;
		}
		return;
	}
	drpc__obs_count(o, false, len);
	for (size_t i = 0; i < o->nwraps; i++) {
		if (o->wraps[i].w.recv != NULL) {
			o->wraps[i].w.recv(o->wraps[i].arg, s, data, len);
		}
	}
}

void
drpc__stream_obs_end_client(drpc__stream *s, drpc_err code)
{
	drpc__obs  *o  = s->obs;
	drpc_status st = {0};
	drpc_err    cancel;

	if (o == NULL || o->ended) {
		return;
	}
	cancel = drpc__stream_cancel_reason(s);
	if (cancel != DRPC_OK || code != DRPC_OK) {
		(void) drpc__stream_public_err(
		    s, cancel != DRPC_OK ? cancel : code, &st);
	} else if (o->seen != DRPC_OK && o->seen != DRPC_EOF) {
		(void) drpc__stream_public_err(s, o->seen, &st);
	}
	drpc__obs_end(o, s, &st);
	drpc_status_reset(&st);
}

drpc_err
drpc_stream_wrap(drpc_stream *s, const drpc_stream_wrapper *w, void *arg)
{
	drpc__obs *o;
	drpc_err   rv;

	if (s == NULL || w == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = stream_obs_get(s, &o)) != DRPC_OK) {
		return rv;
	}
	if (o->nwraps == o->wcap) {
		size_t          cap = o->wcap == 0 ? 2 : o->wcap * 2;
		drpc__obs_wrap *v   = realloc(o->wraps, cap * sizeof(*v));

		if (v == NULL) {
			return DRPC_ENOMEM;
		}
		o->wraps = v;
		o->wcap  = cap;
	}
	o->wraps[o->nwraps++] = (drpc__obs_wrap) {*w, arg};
	return DRPC_OK;
}

drpc_err
drpc_stream_set_value(drpc_stream *s, const void *key, void *value)
{
	drpc__obs *o;
	drpc_err   rv;

	if (s == NULL || key == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = stream_obs_get(s, &o)) != DRPC_OK) {
		return rv;
	}
	for (size_t i = 0; i < o->nvals; i++) {
		if (o->vals[i].key == key) {
			o->vals[i].value = value;
			return DRPC_OK;
		}
	}
	if (o->nvals == o->vcap) {
		size_t           cap = o->vcap == 0 ? 4 : o->vcap * 2;
		drpc__obs_value *v   = realloc(o->vals, cap * sizeof(*v));

		if (v == NULL) {
			return DRPC_ENOMEM;
		}
		o->vals = v;
		o->vcap = cap;
	}
	o->vals[o->nvals++] = (drpc__obs_value) {key, value};
	return DRPC_OK;
}

void *
drpc_stream_value(const drpc_stream *s, const void *key)
{
	if (s == NULL || s->obs == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < s->obs->nvals; i++) {
		if (s->obs->vals[i].key == key) {
			return s->obs->vals[i].value;
		}
	}
	return NULL;
}
