// The public client API (include/drpc/conn.h, drpc_stream_open): a thin
// layer over the connection core. A unary call is one stream whose
// Invoke, request Message and CloseSend go out in one append.
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <drpc/channel.h>
#include <drpc/conn.h>

#include "channel/channel.h"
#include "client/client.h"
#include "client/intercept.h"
#include "common/cause.h"
#include "common/log.h"
#include "conn/conn.h"
#include "platform/thread.h"
#include "tls/tls.h"
#include "transport/addr.h"
#include "transport/migrate.h"
#include "transport/transport.h"

// CLIENT_DIAL_TIMEOUT_MS is drpc_conn_opts.dial_timeout_ms's default.
#define CLIENT_DIAL_TIMEOUT_MS 10000

// A drpc_conn is either a connection (c) or a channel's call handle (ch):
// exactly one is set, for good, at creation.
struct drpc_conn {
	drpc__conn        *c;  // immutable once keeper_mu is first released
	drpc_channel      *ch; // immutable; the channel owns this handle
	drpc_conn_opts     opts;
	drpc__client_hooks hooks; // immutable: a channel's backend's
	// icpt: the opts' interceptors and stats (client/intercept.h),
	// immutable; NULL when it has neither: calls pay one test.
	drpc__cli_icpt *icpt;
	uint64_t           id;    // immutable: the connection's (logs)
	// The keeper thread, with pings on and no channel to run them
	// (client_keeper_main). keeper_mu is held by the creator until c is
	// set (or the creation failed, c NULL); keeper_joined: its first
	// closer joins it (atomic).
	bool            has_keeper; // immutable
	pthread_t       keeper;
	pthread_mutex_t keeper_mu;
	atomic_bool     keeper_joined;
};

// client_ms_ns converts a positive ms option to ns (saturating); 0 else.
static int64_t
client_ms_ns(int64_t ms)
{
	if (ms <= 0) {
		return 0;
	}
	return ms > INT64_MAX / 1000000 ? INT64_MAX : ms * 1000000;
}

// client_keeper_main is the keeper thread of a connection that pings: it
// calls drpc__conn_keepalive whenever that asks to be, until the
// connection ends (docs/design.md §2).
static void *
client_keeper_main(void *arg)
{
	drpc_conn  *cc = arg;
	drpc__conn *c;
	int64_t     next;

	drpc__mutex_lock(&cc->keeper_mu); // until the creator is done
	c = cc->c;
	drpc__mutex_unlock(&cc->keeper_mu);
	if (c == NULL) {
		return NULL; // the connection did not start
	}
	while ((next = drpc__conn_keepalive(c, drpc__now_ns())) != 0) {
		(void) drpc__conn_wait(c, next);
	}
	(void) drpc__conn_wait(c, 0); // nothing more to do before the end
	return NULL;
}

// client_keeper_join joins the keeper, once (from close or destroy).
static void
client_keeper_join(drpc_conn *cc)
{
	if (cc->has_keeper && !atomic_exchange(&cc->keeper_joined, true)) {
		drpc__thread_join(cc->keeper);
	}
}

static void
client_on_end(void *arg, const drpc_cause *cause)
{
	drpc_conn *cc = arg;

	// A close, local or by the peer, is no news (DEBUG); the rest is.
	drpc__logf(cc->opts.log, cc->opts.log_arg,
	    cause->code == DRPC_ECLOSED ? DRPC_LOG_DEBUG : DRPC_LOG_WARN,
	    "drpc: connection ended: %s; conn %016" PRIx64, cause->text,
	    cc->id);
	if (cc->hooks.on_end != NULL) {
		cc->hooks.on_end(cc->hooks.arg, cause);
	}
}

static void
client_on_goaway(void *arg)
{
	drpc_conn *cc = arg;

	cc->hooks.on_goaway(cc->hooks.arg);
}

// client_migrate_header writes drpcmigrate's header on tr before anything
// else, when o asks for it (its writer has not started yet).
static drpc_err
client_migrate_header(drpc_transport *tr, const drpc_conn_opts *o)
{
	drpc_iovec v = {DRPC__MIGRATE_HEADER, DRPC__MIGRATE_HEADER_LEN};

	if (o == NULL || !o->migrate_header) {
		return DRPC_OK;
	}
	return drpc__transport_writev(tr, &v, 1);
}

// client_migrate_fd writes drpcmigrate's header straight on a socket fd
// about to carry TLS: the header goes before the handshake, in clear, as
// Go's drpcmigrate puts it (docs/protocol.md §15).
static drpc_err
client_migrate_fd(int fd, const drpc_conn_opts *o)
{
	size_t off = 0;

	if (o == NULL || !o->migrate_header) {
		return DRPC_OK;
	}
	while (off < DRPC__MIGRATE_HEADER_LEN) {
		ssize_t n = send(fd, &DRPC__MIGRATE_HEADER[off],
		    DRPC__MIGRATE_HEADER_LEN - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return DRPC_EIO;
		}
		off += (size_t) n;
	}
	return DRPC_OK;
}

drpc_err
drpc_conn_create(drpc_conn **cp, drpc_transport *tr, const drpc_conn_opts *o)
{
	drpc_err rv;

	if (cp != NULL && tr != NULL &&
	    (rv = client_migrate_header(tr, o)) != DRPC_OK) {
		return rv;
	}
	return drpc__client_create(cp, tr, o, NULL);
}

drpc_err
drpc__client_create(drpc_conn **cp, drpc_transport *tr,
    const drpc_conn_opts *o, const drpc__client_hooks *h)
{
	drpc_conn      *cc;
	drpc__conn_opts co = {0};
	drpc_err        rv;

	if (cp == NULL || tr == NULL ||
	    (o != NULL && ((unsigned) o->flow > DRPC_FLOW_OFF ||
			      (unsigned) o->multiplex > DRPC_MULTIPLEX_OFF))) {
		return DRPC_EINVAL;
	}
	if ((cc = calloc(1, sizeof(*cc))) == NULL) {
		return DRPC_ENOMEM;
	}
	if ((rv = drpc__cli_icpt_create(&cc->icpt, o)) != DRPC_OK) {
		free(cc);
		return rv;
	}
	if (o != NULL) {
		cc->opts     = *o;
		cc->opts.tls = NULL; // the dial's: its transport holds it
	}
	if (h != NULL) {
		cc->hooks = *h;
	}
	co.max_msg_size = cc->opts.max_msg_size;
	co.split_size   = cc->opts.split_size;
	co.writer_limit = cc->opts.writer_limit;
	co.write_timeout_ms = cc->opts.write_timeout_ms;
	co.ring_slots   = cc->opts.ring_slots;
	co.max_streams  = cc->opts.max_streams;
	co.multiplex    = cc->opts.one_stream ? DRPC_MULTIPLEX_OFF
					      : cc->opts.multiplex;
	co.stack_size   = cc->opts.thread_stack;
	co.flow          = cc->opts.flow;
	co.stream_window = cc->opts.stream_window;
	co.conn_window   = cc->opts.conn_window;
	co.id           = drpc__conn_new_id();
	cc->id          = co.id;
	co.conn_hooks   = cc->opts.conn_hooks;
	co.on_end       = client_on_end;
	co.arg          = cc;
	co.ping_interval_ns = client_ms_ns(cc->opts.ping_interval_ms);
	co.ping_timeout_ns  = client_ms_ns(cc->opts.ping_timeout_ms);
	co.on_goaway        = cc->hooks.on_goaway != NULL ? client_on_goaway
							  : NULL;
	drpc__mutex_init(&cc->keeper_mu);
	atomic_init(&cc->keeper_joined, false);
	// The keeper starts first (it waits for keeper_mu), so a thread
	// that cannot start fails the call while tr is still the caller's.
	drpc__mutex_lock(&cc->keeper_mu);
	if (co.ping_interval_ns > 0 && !cc->hooks.keepalive) {
		rv = drpc__thread_start(&cc->keeper, "drpc-ka",
		    drpc__conn_thread_id(co.id),
		    cc->opts.thread_stack, client_keeper_main, cc);
		if (rv != DRPC_OK) {
			drpc__mutex_unlock(&cc->keeper_mu);
			goto fail;
		}
		cc->has_keeper = true;
	}
	rv = drpc__conn_create(&cc->c, tr, &co);
	drpc__mutex_unlock(&cc->keeper_mu);
	if (rv != DRPC_OK) {
		client_keeper_join(cc); // it finds no connection and returns
		goto fail;
	}
	*cp = cc;
	return DRPC_OK;

fail:
	drpc__mutex_fini(&cc->keeper_mu);
	drpc__cli_icpt_free(cc->icpt);
	free(cc);
	return rv;
}

drpc_err
drpc_conn_create_fd(drpc_conn **cp, int fd, const drpc_conn_opts *o)
{
	return drpc__client_create_fd(cp, fd, o, NULL);
}

drpc_err
drpc__client_create_fd(drpc_conn **cp, int fd, const drpc_conn_opts *o,
    const drpc__client_hooks *h)
{
	drpc_transport *tr;
	drpc_err        rv;

	if (o != NULL && o->tls != NULL) {
		// TLS on the caller's socket: the handshake within the dial
		// timeout, the name verified only if the config has one.
		int64_t ms = o->dial_timeout_ms > 0 ? o->dial_timeout_ms
						    : CLIENT_DIAL_TIMEOUT_MS;

		if (cp == NULL) {
			return DRPC_EINVAL;
		}
		if ((rv = client_migrate_fd(fd, o)) != DRPC_OK ||
		    (rv = drpc_transport_create_tls(&tr, fd, o->tls, NULL,
			 drpc__deadline_in_ms(ms), NULL)) != DRPC_OK) {
			return rv;
		}
		if ((rv = drpc__client_create(cp, tr, o, h)) != DRPC_OK) {
			drpc__transport_release_tls(tr); // fd: the caller's
		}
		return rv;
	}
	if ((rv = drpc_transport_create_fd(&tr, fd)) != DRPC_OK) {
		return rv;
	}
	// (No header for a call bound to fail: cp NULL.)
	rv = cp == NULL ? DRPC_EINVAL : client_migrate_header(tr, o);
	if (rv == DRPC_OK) {
		rv = drpc__client_create(cp, tr, o, h);
	}
	if (rv != DRPC_OK) {
		drpc__transport_release_fd(tr); // the fd stays the caller's
	}
	return rv;
}

drpc_err
drpc__client_start_tls(drpc_conn **cp, int fd, const char *addr,
    const char *name, const drpc_conn_opts *o, int64_t deadline_ns,
    const drpc__client_hooks *h, drpc_cause *cause)
{
	char            buf[DRPC__CAUSE_ADDR_MAX + 1];
	drpc_transport *tr;
	drpc_cause      why;
	drpc_err        rv;

	if ((rv = client_migrate_fd(fd, o)) != DRPC_OK) {
		return drpc__cause_set(cause, rv,
		    "dial %s: writing drpcmigrate's header failed",
		    drpc__cause_addr(addr, buf));
	}
	rv = drpc_transport_create_tls(&tr, fd, o->tls, name, deadline_ns, &why);
	if (rv != DRPC_OK) {
		// why says "tls handshake with <the socket's peer>: ...".
		return drpc__cause_set(cause, rv, "dial %s: %s",
		    drpc__cause_addr(addr, buf), why.text);
	}
	// The header went in clear above: not through drpc_conn_create.
	if ((rv = drpc__client_create(cp, tr, o, h)) != DRPC_OK) {
		drpc__transport_release_tls(tr); // the fd: the caller's
		return drpc__cause_set(cause, rv,
		    "dial %s: connected, but the connection did not start: %s",
		    drpc__cause_addr(addr, buf), drpc_strerror(rv));
	}
	return DRPC_OK;
}

// client_dial_tls dials addr, then handshakes with the rest of the dial
// timeout, verifying the address's host unless the config names another.
static drpc_err
client_dial_tls(drpc_conn **cp, const char *addr, const drpc_conn_opts *o,
    drpc_cause *cause)
{
	char        host[256];
	int64_t     ms = o->dial_timeout_ms > 0 ? o->dial_timeout_ms
					        : CLIENT_DIAL_TIMEOUT_MS;
	int64_t     deadline = drpc__deadline_in_ms(ms);
	const char *name     = NULL;
	int         fd;
	drpc_err    rv;

	rv = drpc__dial_with(addr, ms, o->tcp_keepalive_ms, -1, &fd, cause);
	if (rv != DRPC_OK) {
		return rv;
	}
	if (o->tls->server_name == NULL &&
	    drpc__addr_host(addr, host, sizeof(host)) == DRPC_OK) {
		name = host;
	}
	rv = drpc__client_start_tls(cp, fd, addr, name, o, deadline, NULL, cause);
	if (rv != DRPC_OK) {
		close(fd);
	}
	return rv;
}

drpc_err
drpc_dial_cause(drpc_conn **cp, const char *addr, const drpc_conn_opts *o,
    drpc_cause *cause)
{
	char     buf[DRPC__CAUSE_ADDR_MAX + 1];
	int      fd;
	drpc_err rv;

	if (cp == NULL || addr == NULL) {
		drpc_cause_clear(cause);
		return drpc__cause_set(cause, DRPC_EINVAL, "dial: no %s",
		    cp == NULL ? "connection pointer" : "address");
	}
	if (o != NULL && o->tls != NULL) {
		return client_dial_tls(cp, addr, o, cause);
	}
	if (drpc__addr_is_tls(addr)) {
		drpc_cause_clear(cause);
		return drpc__cause_set(cause, DRPC_EINVAL,
		    "dial %s: a tls:// address needs drpc_conn_opts.tls",
		    drpc__cause_addr(addr, buf));
	}
	rv = drpc__dial_with(addr, o != NULL ? o->dial_timeout_ms : 0,
	    o != NULL ? o->tcp_keepalive_ms : 0, -1, &fd, cause);
	if (rv != DRPC_OK) {
		return rv;
	}
	if ((rv = drpc_conn_create_fd(cp, fd, o)) != DRPC_OK) {
		close(fd);
		return drpc__cause_set(cause, rv,
		    "dial %s: connected, but the connection did not start: %s",
		    drpc__cause_addr(addr, buf), drpc_strerror(rv));
	}
	return DRPC_OK;
}

drpc_err
drpc_dial(drpc_conn **cp, const char *addr, const drpc_conn_opts *o)
{
	return drpc_dial_cause(cp, addr, o, NULL);
}

drpc_err
drpc__client_view(drpc_conn **cp, drpc_channel *ch, const drpc_conn_opts *o)
{
	drpc_conn *cc = calloc(1, sizeof(*cc));
	drpc_err   rv;

	if (cc == NULL) {
		return DRPC_ENOMEM;
	}
	if ((rv = drpc__cli_icpt_create(&cc->icpt, o)) != DRPC_OK) {
		free(cc);
		return rv;
	}
	cc->ch   = ch;
	cc->opts = *o;
	*cp      = cc;
	return DRPC_OK;
}

void
drpc__client_view_free(drpc_conn *c)
{
	if (c != NULL) {
		drpc__cli_icpt_free(c->icpt);
		free(c);
	}
}

drpc__conn *
drpc__client_core(drpc_conn *c)
{
	return c->c;
}

uint64_t
drpc__client_id(const drpc_conn *c)
{
	return c->ch != NULL ? 0 : c->id;
}

drpc_err
drpc_conn_peer(drpc_conn *c, drpc_peer *out)
{
	if (out != NULL) {
		drpc_peer_reset(out);
	}
	if (c == NULL || out == NULL || c->ch != NULL) {
		return DRPC_EINVAL; // a channel's handle has no one peer
	}
	return drpc__conn_peer(c->c, out);
}

drpc_err
drpc_conn_err(drpc_conn *c)
{
	drpc_err rv;

	if (c != NULL && c->ch != NULL) {
		return drpc__channel_err(c->ch, NULL);
	}
	if (c == NULL) {
		return DRPC_EINVAL;
	}
	// Up but draining (the server said GOAWAY): it takes no new call.
	if ((rv = drpc__conn_err(c->c)) == DRPC_OK) {
		rv = drpc__conn_drain_cause(c->c, NULL);
	}
	return rv;
}

drpc_err
drpc_conn_cause(drpc_conn *c, drpc_cause *cause)
{
	if (c == NULL) {
		drpc_cause_clear(cause);
		return drpc__cause_set(cause, DRPC_EINVAL, "no connection");
	}
	if (c->ch != NULL) {
		return drpc__channel_err(c->ch, cause);
	}
	if (drpc__conn_cause(c->c, cause) == DRPC_OK) {
		return drpc__conn_drain_cause(c->c, cause);
	}
	return drpc__conn_cause(c->c, cause);
}

void
drpc_conn_close(drpc_conn *c)
{
	if (c != NULL && c->ch == NULL) { // a channel's handle: the channel's
		drpc__conn_close(c->c);
		client_keeper_join(c); // it sees the end and returns
	}
}

void
drpc_conn_destroy(drpc_conn *c)
{
	if (c == NULL || c->ch != NULL) { // a channel's handle: the channel's
		return;
	}
	drpc__conn_close(c->c);
	client_keeper_join(c);
	drpc__conn_destroy(c->c);
	drpc__mutex_fini(&c->keeper_mu);
	drpc__cli_icpt_free(c->icpt);
	free(c);
}

// client_md builds the wire metadata: the caller's pairs, plus the
// deadline entry when ctx has one. *out is malloc'd (or NULL).
static drpc_err
client_md(const drpc_conn *c, drpc_ctx *ctx, const drpc_call_opts *o,
    char *tbuf, size_t tcap, drpc__md_entry **out, size_t *n)
{
	size_t          nmd = o != NULL ? o->nmd : 0;
	int64_t         dl  = c->opts.omit_deadline ? 0 : drpc_ctx_deadline(ctx);
	drpc__md_entry *e;

	*out = NULL;
	*n   = 0;
	if (nmd == 0 && dl == 0) {
		return DRPC_OK;
	}
	if ((e = calloc(nmd + 1, sizeof(*e))) == NULL) {
		return DRPC_ENOMEM;
	}
	for (size_t i = 0; i < nmd; i++) {
		e[i] = (drpc__md_entry) {(const uint8_t *) o->md[i].key,
		    o->md[i].key_len, (const uint8_t *) o->md[i].value,
		    o->md[i].value_len};
	}
	if (dl != 0) {
		int64_t left = dl - drpc_now_ns();
		int     len  = snprintf(tbuf, tcap, "%" PRId64,
			      left > 0 ? left : 1);

		e[nmd++] = (drpc__md_entry) {
		    (const uint8_t *) DRPC_MD_TIMEOUT_KEY,
		    strlen(DRPC_MD_TIMEOUT_KEY), (const uint8_t *) tbuf,
		    (size_t) len};
	}
	*out = e;
	*n   = nmd;
	return DRPC_OK;
}

// client_lost words an open that found c's connection gone (Unavailable)
// in why, with the connection's cause, as a stream that loses its
// connection says in its status (stream/api.c); why is left alone while
// the connection is up (a drain: a GOAWAY).
static void
client_lost(drpc_conn *c, drpc_cause *why)
{
	drpc_cause cc = {0};

	if (why != NULL && drpc__conn_cause(c->c, &cc) != DRPC_OK &&
	    cc.text[0] != '\0') {
		(void) drpc__cause_set(why, DRPC_EUNAVAIL,
		    "%s: the connection ended: %s",
		    drpc_strerror(DRPC_EUNAVAIL), cc.text);
	}
}

// client_open_ctx opens a stream with an optional first message.
static drpc_err
client_open_ctx(drpc_conn *c, drpc_ctx *ctx, const char *method,
    const drpc_call_opts *o, const void *msg, size_t len, bool unary,
    drpc__stream **sp, drpc_cause *why)
{
	char                tbuf[32];
	drpc__md_entry     *md;
	drpc__stream_invoke inv = {0};
	drpc_err            rv;

	if (c == NULL || method == NULL || sp == NULL ||
	    (o != NULL && o->nmd > 0 && o->md == NULL)) {
		return DRPC_EINVAL;
	}
	rv = client_md(c, ctx, o, tbuf, sizeof(tbuf), &md, &inv.nmd);
	if (rv != DRPC_OK) {
		return rv;
	}
	inv.name     = (const uint8_t *) method;
	inv.name_len = strlen(method);
	inv.md       = md;
	if (unary) {
		// An empty request still sends its (empty) Message.
		inv.msg        = msg != NULL ? msg : (const uint8_t *) "";
		inv.msg_len    = len;
		inv.close_send = true;
	}
	if (c->ch != NULL) {
		rv = drpc__channel_open(c->ch, ctx, &inv,
		    o != NULL && o->wait_for_ready, sp, why);
	} else {
		rv = drpc__conn_open(c->c, ctx, &inv, sp);
		if (rv == DRPC_EUNAVAIL) {
			client_lost(c, why); // the call's status says why
		}
	}
	free(md);
	return rv;
}

// client_open is client_open_ctx with the call's timeout_ms, if any: a
// child of ctx with that deadline, owned by the stream (so it travels to
// the server as any deadline does, and the earlier of the two applies).
static drpc_err
client_open(drpc_conn *c, drpc_ctx *ctx, const char *method,
    const drpc_call_opts *o, const void *msg, size_t len, bool unary,
    drpc__stream **sp, drpc_cause *why)
{
	drpc_ctx *call;
	drpc_err  rv;

	if (o == NULL || o->timeout_ms == 0) {
		return client_open_ctx(
		    c, ctx, method, o, msg, len, unary, sp, why);
	}
	if ((rv = drpc_ctx_create_timeout(&call, ctx, o->timeout_ms)) !=
	    DRPC_OK) {
		return rv;
	}
	rv = client_open_ctx(c, call, method, o, msg, len, unary, sp, why);
	if (rv != DRPC_OK) {
		drpc_ctx_destroy(call);
		return rv;
	}
	drpc__stream_adopt_ctx(*sp);
	return DRPC_OK;
}

drpc_err
drpc__client_open(drpc_stream **sp, drpc_conn *c, drpc_ctx *ctx,
    const char *method, const void *req, size_t req_len, bool request,
    const drpc_call_opts *opts, drpc__obs *obs)
{
	drpc__stream *s = NULL;
	drpc_err      rv;

	if (sp == NULL) {
		return DRPC_EINVAL;
	}
	rv = client_open(c, ctx, method, opts, req, req_len, request, &s, NULL);
	if (rv == DRPC_OK && obs != NULL) {
		drpc__stream_set_obs(s, obs);
		if (request) {
			drpc__obs_count(obs, true, req_len);
		}
	}
	if (rv == DRPC_OK || request) {
		*sp = rv == DRPC_OK ? s : NULL;
	}
	return rv;
}

drpc_err
drpc_stream_open_request(drpc_stream **sp, drpc_conn *c, drpc_ctx *ctx,
    const char *method, const void *req, size_t req_len,
    const drpc_call_opts *opts)
{
	if (sp == NULL || (req == NULL && req_len > 0)) {
		return DRPC_EINVAL;
	}
	if (c != NULL && c->icpt != NULL) {
		return drpc__cli_icpt_open(
		    sp, c, c->icpt, ctx, method, req, req_len, true, opts);
	}
	return drpc__client_open(
	    sp, c, ctx, method, req, req_len, true, opts, NULL);
}

drpc_err
drpc_stream_open(drpc_stream **sp, drpc_conn *c, drpc_ctx *ctx,
    const char *method, const drpc_call_opts *opts)
{
	if (c != NULL && c->icpt != NULL && sp != NULL) {
		return drpc__cli_icpt_open(
		    sp, c, c->icpt, ctx, method, NULL, 0, false, opts);
	}
	return drpc__client_open(sp, c, ctx, method, NULL, 0, false, opts, NULL);
}

// client_unary_reply reads the one reply, then ends the stream as Go DRPC
// does: a Close goes out unless the server's CloseSend already ended it.
static drpc_err
client_unary_reply(drpc__stream *s, void **reply, size_t *reply_len)
{
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;

	if ((rv = drpc__stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	*reply = NULL;
	if (len > 0 && (*reply = malloc(len)) == NULL) {
		rv = DRPC_ENOMEM;
	} else if (len > 0) {
		memcpy(*reply, data, len);
	}
	*reply_len = len;
	drpc__stream_recv_done(s);
	(void) drpc__stream_close(s);
	return rv;
}

drpc_err
drpc_invoke(drpc_conn *c, drpc_ctx *ctx, const char *method, const void *req,
    size_t req_len, const drpc_call_opts *opts, void **reply,
    size_t *reply_len, drpc_status *st)
{
	if (c != NULL && c->icpt != NULL && reply != NULL &&
	    reply_len != NULL && (req != NULL || req_len == 0)) {
		return drpc__cli_icpt_invoke(c, c->icpt, ctx, method, req,
		    req_len, opts, reply, reply_len, st);
	}
	return drpc__client_invoke(c, ctx, method, req, req_len, opts, reply,
	    reply_len, st, NULL);
}

drpc_err
drpc__client_invoke(drpc_conn *c, drpc_ctx *ctx, const char *method,
    const void *req, size_t req_len, const drpc_call_opts *opts,
    void **reply, size_t *reply_len, drpc_status *st, drpc__obs *obs)
{
	drpc__stream *s   = NULL;
	drpc_cause    why = {0};
	drpc_err      rv;

	if (reply == NULL || reply_len == NULL || (req == NULL && req_len > 0)) {
		return DRPC_EINVAL;
	}
	rv = client_open(c, ctx, method, opts, req, req_len, true, &s, &why);
	if (rv == DRPC_OK && obs != NULL) {
		drpc__stream_set_obs(s, obs); // lent for the call
		drpc__obs_learn_peer(obs, s); // a channel's backend
		drpc__obs_count(obs, true, req_len);
	}
	if (rv == DRPC_OK) {
		rv = client_unary_reply(s, reply, reply_len);
	}
	if (rv != DRPC_OK && s != NULL) {
		// A cancelled call reports the cancel, whatever it saw.
		drpc_err cancel = drpc__stream_cancel_reason(s);

		rv = cancel != DRPC_OK ? cancel
				       : drpc__stream_public_err(s, rv, st);
	}
	if (rv != DRPC_OK && st != NULL && st->code != rv) {
		// A channel that refused the call says why (its last
		// connection error), a connection that had ended its cause;
		// otherwise the code's own words.
		const char *text = s == NULL && why.code == rv && why.text[0]
		    ? why.text
		    : drpc_strerror(rv);

		drpc_status_reset(st);
		st->code = rv;
		if ((st->message = malloc(strlen(text) + 1)) != NULL) {
			strcpy(st->message, text);
		}
	}
	if (s != NULL && obs != NULL) {
		drpc__stream_set_obs(s, NULL); // the caller's again
	}
	drpc__stream_destroy(s);
	return rv;
}
