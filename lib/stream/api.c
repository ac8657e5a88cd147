// The public stream calls (include/drpc/stream.h): thin wrappers over the
// internal stream, mapping its results to the public status
// (drpc__stream_public_err, which words a lost connection's cause).
//
// Locks: drpc_stream_status reads cancel_err, terminated and recv_err
// under s->mu; the peer's Error is read through drpc__stream_remote_err
// (under s->mu). The server's per-RPC fields (method, md, err_*) are the
// handler's thread's and read without a lock; the owner's peer and cause
// functions take the connection's locks with no stream lock held.
//
// Callers: application threads, under include/drpc/stream.h's rules (one
// sending and one receiving thread at a time; cancel and close from any
// thread); the client and server layers for the status mapping.
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cause.h"
#include "ctx/ctx.h"
#include "platform/thread.h"
#include "stream/observe.h"
#include "stream/ring.h"
#include "stream/stream_impl.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"

void
drpc_status_reset(drpc_status *st)
{
	if (st != NULL) {
		free(st->message);
		memset(st, 0, sizeof(*st));
	}
}

drpc_err
drpc_stream_send(drpc_stream *s, const void *data, size_t len)
{
	if (s == NULL || (data == NULL && len > 0)) {
		return DRPC_EINVAL;
	}
	return drpc__stream_send(s, data, len);
}

drpc_err
drpc_stream_send_last(drpc_stream *s, const void *data, size_t len)
{
	if (s == NULL || (data == NULL && len > 0)) {
		return DRPC_EINVAL;
	}
	return drpc__stream_send_last(s, data, len);
}

drpc_err
drpc_stream_recv_view(drpc_stream *s, const void **data, size_t *len)
{
	const uint8_t *p;
	drpc_err       rv;

	if (s == NULL || data == NULL || len == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = drpc__stream_recv(s, &p, len)) != DRPC_OK) {
		return drpc__stream_public_err(s, rv, NULL);
	}
	*data = p;
	return DRPC_OK;
}

void
drpc_stream_recv_done(drpc_stream *s)
{
	drpc__stream_recv_done(s);
}

drpc_err
drpc_stream_recv(drpc_stream *s, void **data, size_t *len)
{
	const void *view;
	size_t      n;
	drpc_err    rv;

	if (data == NULL || len == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = drpc_stream_recv_view(s, &view, &n)) != DRPC_OK) {
		return rv;
	}
	*data = NULL;
	if (n > 0 && (*data = malloc(n)) == NULL) {
		drpc__stream_recv_done(s);
		return DRPC_ENOMEM;
	}
	if (n > 0) {
		memcpy(*data, view, n);
	}
	*len = n;
	drpc__stream_recv_done(s);
	return DRPC_OK;
}

drpc_err
drpc_stream_close_send(drpc_stream *s)
{
	return s == NULL ? DRPC_EINVAL : drpc__stream_close_send(s);
}

drpc_err
drpc_stream_close(drpc_stream *s)
{
	return s == NULL ? DRPC_EINVAL : drpc__stream_close(s);
}

void
drpc_stream_cancel(drpc_stream *s)
{
	if (s != NULL) {
		drpc__stream_cancel(s, DRPC_ECANCELED);
	}
}

drpc_err
drpc_stream_status(drpc_stream *s, drpc_status *st)
{
	drpc_err rv;

	if (s == NULL || st == NULL) {
		return DRPC_EINVAL;
	}
	drpc__mutex_lock(&s->mu);
	rv = s->cancel_err != DRPC_OK ? s->cancel_err
	    : s->terminated           ? s->recv_err
				      : DRPC_OK;
	drpc__mutex_unlock(&s->mu);
	if (rv == DRPC_OK) {
		return DRPC_ESTATE;
	}
	(void) drpc__stream_public_err(s, rv, st);
	return DRPC_OK;
}

void
drpc_stream_destroy(drpc_stream *s)
{
	if (s != NULL && s->obs != NULL) {
		drpc__stream_obs_end_client(s, DRPC_OK); // the RPC ends here
	}
	drpc__stream_destroy(s);
}

const char *
drpc_stream_method(const drpc_stream *s)
{
	return s->method != NULL ? s->method : "";
}

drpc_err
drpc_stream_peer(const drpc_stream *s, drpc_peer *out)
{
	if (out != NULL) {
		drpc_peer_reset(out);
	}
	if (s == NULL || out == NULL) {
		return DRPC_EINVAL;
	}
	if (s->owner.peer == NULL) {
		return DRPC_OK; // a stream of no connection: nobody known
	}
	return s->owner.peer(s->owner.owner, out);
}

drpc_ctx *
drpc_stream_ctx(const drpc_stream *s)
{
	return s->ctx;
}

drpc_err
drpc_stream_md_get(const drpc_stream *s, const char *key, const char **value,
    size_t *len)
{
	const drpc__md_entry *e = drpc__md_get(&s->md, key, strlen(key));

	if (e == NULL) {
		return DRPC_ENOTFOUND;
	}
	*value = (const char *) e->val;
	*len   = e->val_len;
	return DRPC_OK;
}

size_t
drpc_stream_md_count(const drpc_stream *s)
{
	return s->md.n;
}

drpc_md_pair
drpc_stream_md_at(const drpc_stream *s, size_t i)
{
	drpc_md_pair p = {0};

	if (i < s->md.n) {
		p.key       = (const char *) s->md.entries[i].key;
		p.key_len   = s->md.entries[i].key_len;
		p.value     = (const char *) s->md.entries[i].val;
		p.value_len = s->md.entries[i].val_len;
	}
	return p;
}

drpc_err
drpc_stream_set_error(drpc_stream *s, uint64_t code, const char *message)
{
	char *copy = NULL;

	if (s == NULL) {
		return DRPC_EINVAL;
	}
	if (message != NULL) {
		size_t n = strlen(message);

		if ((copy = malloc(n + 1)) == NULL) {
			return DRPC_ENOMEM;
		}
		memcpy(copy, message, n + 1);
	}
	free(s->err_msg);
	s->err_set  = true;
	s->err_code = code;
	s->err_msg  = copy;
	return DRPC_OK;
}

void
drpc_free(void *p)
{
	free(p);
}

drpc_md_pair
drpc_md_str(const char *key, const char *value)
{
	drpc_md_pair p = {key, strlen(key), value, strlen(value)};

	return p;
}

// stream_lost_text words a client's Unavailable that is its connection's
// end: the code's text and the connection's cause, in why. False if the
// connection is up (or the stream's owner cannot say).
static bool
stream_lost_text(drpc__stream *s, drpc_err rv, drpc_cause *why)
{
	drpc_cause c = {0};

	if (rv != DRPC_EUNAVAIL ||
	    s->owner.cause == NULL ||
	    s->owner.cause(s->owner.owner, &c) == DRPC_OK || c.text[0] == '\0') {
		return false;
	}
	(void) drpc__cause_set(why, rv, "%s: the connection ended: %s",
	    drpc_strerror(rv), c.text);
	return true;
}

drpc_err
drpc__stream_public_err(drpc__stream *s, drpc_err rv, drpc_status *st)
{
	uint64_t    code = 0;
	const char *msg  = NULL;
	size_t      len  = 0;
	drpc_cause  why  = {0};
	bool        remote;

	remote = rv == DRPC_EREMOTE &&
	    drpc__stream_remote_err(s, &code, &msg, &len) == DRPC_OK;
	if (remote && code >= 1 && code <= 16) {
		rv = (drpc_err) code;
	}
	if (st != NULL) {
		drpc_status_reset(st);
		st->code        = rv;
		st->remote      = remote;
		st->remote_code = code;
		if (!remote) {
			msg = drpc_strerror(rv);
			len = strlen(msg);
			if (stream_lost_text(s, rv, &why)) {
				msg = why.text;
				len = strlen(msg);
			}
		}
		if ((st->message = malloc(len + 1)) != NULL) {
			memcpy(st->message, msg, len);
			st->message[len] = '\0';
		}
	}
	return rv;
}
