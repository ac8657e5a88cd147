// The client's interceptor chain and per-RPC stats (intercept.h).
//
// Design notes. A call with interceptors or stats is a drpc_client_call
// on the caller's stack: the stats begin, then the chain runs, each step
// calling one interceptor with a drpc_next of its own, and the last step
// makes the call itself (client.c's plain drpc__client_invoke or
// drpc__client_open) with the metadata and timeout the interceptors
// added. A unary call ends when the chain returns; a stream when it is
// destroyed (drpc_stream_destroy), or at once if the chain failed.
#include <stdlib.h>
#include <string.h>

#include <drpc/peer.h>

#include "client/intercept.h"
#include "common/next.h"
#include "stream/stream.h"

struct drpc_client_call {
	drpc_conn            *conn;
	drpc_ctx             *ctx;
	const char           *method;
	drpc_call_kind        kind;
	const drpc_call_opts *opts; // the caller's (may be NULL)
	int64_t               timeout_ms;
	drpc_md_pair         *md; // the pairs interceptors added (copies)
	size_t                nmd, mdcap;
	const void           *req;
	size_t                req_len;
	bool                  request; // a stream opened with its request
	void                **reply;
	size_t               *reply_len;
	// Once the call is made (made): its result, status (unary) or
	// stream (a streaming call that opened).
	bool         made;
	drpc_err     result;
	drpc_status  st;
	drpc_stream *s;
	drpc__obs   *obs; // stats, NULL: none; the stream's once it opened
};

drpc_err
drpc__cli_icpt_create(drpc__cli_icpt **out, const drpc_conn_opts *o)
{
	*out = NULL;
	if (o == NULL) {
		return DRPC_OK;
	}
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
drpc__cli_icpt_free(drpc__cli_icpt *ic)
{
	drpc__chain_free(ic);
}

// call_md is the metadata the call sends: the caller's pairs, then the
// interceptors' (*md malloc'd when both have some, else borrowed).
static drpc_err
call_md(const drpc_client_call *c, const drpc_md_pair **md, size_t *n,
    drpc_md_pair **owned)
{
	size_t own = c->opts != NULL ? c->opts->nmd : 0;

	*owned = NULL;
	if (own > 0 && c->opts->md == NULL) {
		return DRPC_EINVAL; // as the plain call says (client.c)
	}
	*md    = own > 0 ? c->opts->md : c->md;
	*n     = own + c->nmd;
	if (own == 0 || c->nmd == 0) {
		return DRPC_OK;
	}
	if ((*owned = malloc(*n * sizeof(**owned))) == NULL) {
		return DRPC_ENOMEM;
	}
	memcpy(*owned, c->opts->md, own * sizeof(**owned));
	memcpy(*owned + own, c->md, c->nmd * sizeof(**owned));
	*md = *owned;
	return DRPC_OK;
}

// call_make makes the call itself, at the end of the chain.
static drpc_err
call_make(drpc_client_call *c)
{
	drpc_call_opts o = {0};
	drpc_md_pair  *owned;
	drpc_err       rv;

	if (c->opts != NULL) {
		o = *c->opts;
	}
	o.timeout_ms = c->timeout_ms;
	c->made      = true;
	if ((rv = call_md(c, &o.md, &o.nmd, &owned)) != DRPC_OK) {
		// Nothing went out; the status says why, as a call's would.
		const char *text = drpc_strerror(rv);

		if ((c->st.message = malloc(strlen(text) + 1)) != NULL) {
			strcpy(c->st.message, text);
		}
		c->st.code = rv;
		return c->result = rv;
	}
	if (c->kind == DRPC_CALL_UNARY) {
		rv = drpc__client_invoke(c->conn, c->ctx, c->method, c->req,
		    c->req_len, &o, c->reply, c->reply_len, &c->st, c->obs);
	} else {
		rv = drpc__client_open(&c->s, c->conn, c->ctx, c->method,
		    c->req, c->req_len, c->request, &o, c->obs);
		if (rv == DRPC_OK && c->obs != NULL) {
			drpc__obs_learn_peer(c->obs, c->s); // a channel's
			c->obs = NULL; // the stream's now
		}
	}
	free(owned);
	return c->result = rv;
}

// call_step runs the interceptor nx->i, or the call past the last.
static drpc_err
call_step(const drpc_next *nx)
{
	drpc_next next = *nx;

	if (nx->i == nx->n) {
		return call_make(nx->call);
	}
	next.i++;
	next.called = false;
	return nx->cv[nx->i].fn(nx->call, &next, nx->cv[nx->i].arg);
}

drpc_err
drpc_next_call(drpc_next *next, drpc_client_call *c)
{
	if (next == NULL || c == NULL || !next->client || c != next->call) {
		return DRPC_EINVAL;
	}
	if (next->called) {
		return DRPC_ESTATE;
	}
	next->called = true;
	return call_step(next);
}

// call_begin begins the call's stats, if any.
static drpc_err
call_begin(drpc_client_call *c, const drpc__cli_icpt *ic)
{
	drpc_peer p = {0};
	drpc_err  rv;

	if (!ic->has_stats) {
		return DRPC_OK;
	}
	if ((rv = drpc__obs_create(&c->obs)) != DRPC_OK) {
		return rv;
	}
	(void) drpc_conn_peer(c->conn, &p); // a channel's: none yet
	rv = drpc__obs_begin(c->obs, &ic->stats, c->method, true,
	    drpc__client_id(c->conn), p.addr);
	drpc_peer_reset(&p);
	if (rv != DRPC_OK) {
		drpc__obs_free(c->obs);
		c->obs = NULL;
	}
	return rv;
}

// call_run runs the chain and settles the call's result: what the
// outermost interceptor returned, but DRPC_OK only if the call was made
// and succeeded (DRPC_ESTATE if nobody made it).
static drpc_err
call_run(drpc_client_call *c, const drpc__cli_icpt *ic)
{
	drpc_next root = {.client = true, .n = ic->n, .cv = ic->v, .call = c};
	drpc_err  rv;

	c->timeout_ms = c->opts != NULL ? c->opts->timeout_ms : 0;
	if ((rv = call_begin(c, ic)) != DRPC_OK) {
		return rv;
	}
	rv = call_step(&root);
	if (rv == DRPC_OK && !c->made) {
		rv = DRPC_ESTATE;
	} else if (rv == DRPC_OK) {
		rv = c->result;
	}
	return rv;
}

static void
call_fini(drpc_client_call *c)
{
	for (size_t i = 0; i < c->nmd; i++) {
		free((void *) (uintptr_t) c->md[i].key); // one block each
	}
	free(c->md);
	drpc_status_reset(&c->st);
	drpc__obs_free(c->obs);
}

// call_status sets st to the call's end rv: the call's own status when
// it is the call's result, else rv in words.
static void
call_status(drpc_client_call *c, drpc_err rv, drpc_status *st)
{
	const char *text = drpc_strerror(rv);

	drpc_status_reset(st);
	if (c->made && rv == c->result && c->st.code == rv) {
		*st  = c->st;
		c->st = (drpc_status) {0};
		return;
	}
	st->code = rv;
	if (rv != DRPC_OK && (st->message = malloc(strlen(text) + 1)) != NULL) {
		strcpy(st->message, text);
	}
}

drpc_err
drpc__cli_icpt_invoke(drpc_conn *c, const drpc__cli_icpt *ic,
    drpc_ctx *ctx, const char *method, const void *req, size_t req_len,
    const drpc_call_opts *opts, void **reply, size_t *reply_len,
    drpc_status *st)
{
	drpc_client_call call = {.conn = c, .ctx = ctx, .method = method,
	    .kind = DRPC_CALL_UNARY, .opts = opts, .req = req,
	    .req_len = req_len, .reply = reply, .reply_len = reply_len};
	drpc_status      end  = {0};
	drpc_err         rv;

	if (method == NULL) {
		return DRPC_EINVAL;
	}
	rv = call_run(&call, ic);
	if (rv != DRPC_OK && call.made && call.result == DRPC_OK) {
		drpc_free(*reply); // an interceptor failed the call after all
		*reply     = NULL;
		*reply_len = 0;
	}
	if (call.obs != NULL) {
		call_status(&call, rv, &end);
		drpc__obs_end(call.obs, NULL, &end);
		if (st != NULL && rv != DRPC_OK) {
			drpc_status_reset(st);
			*st = end;
			end = (drpc_status) {0};
		}
		drpc_status_reset(&end);
	} else if (st != NULL && rv != DRPC_OK) {
		call_status(&call, rv, st);
	}
	call_fini(&call);
	return rv;
}

drpc_err
drpc__cli_icpt_open(drpc_stream **sp, drpc_conn *c, const drpc__cli_icpt *ic,
    drpc_ctx *ctx, const char *method, const void *req, size_t req_len,
    bool request, const drpc_call_opts *opts)
{
	drpc_client_call call = {.conn = c, .ctx = ctx, .method = method,
	    .kind = DRPC_CALL_STREAM, .opts = opts, .req = req,
	    .req_len = req_len, .request = request};
	drpc_err         rv;

	*sp = NULL;
	if (method == NULL) {
		return DRPC_EINVAL;
	}
	rv = call_run(&call, ic);
	if (rv != DRPC_OK && call.s != NULL) {
		// Opened, then failed by an interceptor: it ends here.
		drpc__stream_obs_end_client(call.s, rv);
		drpc__stream_destroy(call.s);
		call.s = NULL;
	}
	if (rv != DRPC_OK && call.obs != NULL) {
		drpc_status end = {0};

		call_status(&call, rv, &end);
		drpc__obs_end(call.obs, NULL, &end);
		drpc_status_reset(&end);
	}
	*sp = call.s;
	call_fini(&call);
	return rv;
}

const char *
drpc_client_call_method(const drpc_client_call *c)
{
	return c != NULL ? c->method : "";
}

drpc_call_kind
drpc_client_call_kind(const drpc_client_call *c)
{
	return c != NULL ? c->kind : DRPC_CALL_UNARY;
}

drpc_err
drpc_client_call_add_md(
    drpc_client_call *c, const char *key, const char *value)
{
	size_t kl, vl;
	char  *block;

	if (c == NULL || key == NULL || value == NULL) {
		return DRPC_EINVAL;
	}
	if (c->made) {
		return DRPC_ESTATE;
	}
	if (c->nmd == c->mdcap) {
		size_t        cap = c->mdcap == 0 ? 2 : c->mdcap * 2;
		drpc_md_pair *v   = realloc(c->md, cap * sizeof(*v));

		if (v == NULL) {
			return DRPC_ENOMEM;
		}
		c->md    = v;
		c->mdcap = cap;
	}
	kl = strlen(key);
	vl = strlen(value);
	if ((block = malloc(kl + vl + 2)) == NULL) {
		return DRPC_ENOMEM;
	}
	memcpy(block, key, kl + 1);
	memcpy(block + kl + 1, value, vl + 1);
	c->md[c->nmd++] = (drpc_md_pair) {block, kl, block + kl + 1, vl};
	return DRPC_OK;
}

void
drpc_client_call_set_timeout(drpc_client_call *c, int64_t timeout_ms)
{
	if (c == NULL || c->made || timeout_ms == 0) {
		return;
	}
	if (c->timeout_ms == 0 || timeout_ms < c->timeout_ms) {
		c->timeout_ms = timeout_ms;
	}
}

drpc_stream *
drpc_client_call_stream(const drpc_client_call *c)
{
	return c != NULL ? c->s : NULL;
}

const drpc_status *
drpc_client_call_status(const drpc_client_call *c)
{
	return c != NULL && c->made && c->kind == DRPC_CALL_UNARY ? &c->st
								 : NULL;
}
