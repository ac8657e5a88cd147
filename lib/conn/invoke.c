// The reader thread's handling of new server streams (docs/design.md §4,
// "Invokes"): invoke sequences still arriving wait in the pending table,
// bounded in count (max_pending) and bytes (CONN_INVOKE_MAX each,
// CONN_PENDING_MAX together); a complete one becomes a registered stream
// before the next frame is read, and is handed to on_invoke in batches
// (the ready queue) when the reader is about to wait. Invokes the server
// will not take are refused with an Error, the connection carrying on.
// Everything here runs on the reader thread and uses its state alone,
// but for the registry (under conn.mu) and the writer.
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cause.h"
#include "common/idmap.h"
#include "common/idwin.h"
#include "conn/conn_impl.h"
#include "ctx/ctx.h"
#include "mux/writer.h"
#include "platform/thread.h"
#include "transport/transport.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"
#include "wire/reader.h"

void
drpc__conn_pending_free(pending_invoke *p)
{
	if (p == NULL) {
		return;
	}
	drpc__asm_fini(&p->asm_);
	drpc__md_fini(&p->md);
	free(p);
}

// pending_charge makes cost what p holds, in the connection's total too.
static void
pending_charge(drpc__conn *c, pending_invoke *p, size_t cost)
{
	c->pending_bytes = c->pending_bytes - p->cost + cost;
	p->cost          = cost;
}

// reader_pending_drop forgets the half-received invoke of id, if any.
static void
reader_pending_drop(drpc__conn *c, uint64_t id)
{
	pending_invoke *p = drpc__idmap_del(&c->pending, id);

	if (p != NULL) {
		pending_charge(c, p, 0);
		drpc__conn_pending_free(p);
	}
}

// reader_invoke_why words why the invoke of stream id is refused: it
// would cost more than I (per_invoke), or take the connection's pending
// invokes past P.
static void
reader_invoke_why(
    drpc__conn *c, uint64_t id, bool per_invoke, char *why, size_t n)
{
	if (per_invoke) {
		(void) snprintf(why, n,
		    "an invoke on stream %llu over the %zu-byte invoke limit",
		    (unsigned long long) id, c->invoke_max);
	} else {
		(void) snprintf(why, n,
		    "an invoke on stream %llu refused: half-received invokes "
		    "over the %zu-byte limit",
		    (unsigned long long) id, c->pending_max);
	}
}

// reader_invoke_over tells whether p (NULL: a new invoke) would break a
// limit once it costs cost bytes, and if so words why.
static bool
reader_invoke_over(drpc__conn *c, const pending_invoke *p, uint64_t id,
    size_t cost, char *why, size_t n)
{
	size_t others = c->pending_bytes - (p != NULL ? p->cost : 0);

	if (cost <= c->invoke_max && cost <= c->pending_max - others) {
		return false;
	}
	reader_invoke_why(c, id, cost > c->invoke_max, why, n);
	return true;
}

// reader_refuse answers an invoke the server will not take with an Error
// (code ResourceExhausted), without creating a stream.
static void
reader_refuse(drpc__conn *c, uint64_t id, const char *why)
{
	drpc__wstate ws = {.stream_id = id, .next_msg_id = 1, .known = true};
	drpc__buf    body = {0};
	drpc__packet pkt  = {.kind = DRPC__KIND_ERROR};

	atomic_init(&ws.abort, false);
	// An RPC started and refused (drpc_conn_stats), never registered.
	drpc__mutex_lock(&c->mu);
	c->st_opened++;
	drpc__mutex_unlock(&c->mu);
	atomic_fetch_add_explicit(&c->tag.refused, 1, memory_order_relaxed);
	if (drpc__errbody_append(&body, DRPC_ERESOURCE, why, strlen(why)) ==
	    DRPC_OK) {
		pkt.data = body.data;
		pkt.len  = body.len;
		(void) drpc__writer_send(
		    &c->w, &ws, &pkt, 1, DRPC__WS_TERMINAL, 0);
	}
	drpc__buf_fini(&body);
}

// drpc__conn_flush_ready wakes the threads whose streams got what they
// wait for, and hands every new stream to on_invoke. The reader does
// it only when it is about to wait for more bytes (or its queue is long):
// by then the request that usually follows an Invoke in the same read is
// already in the stream's ring, so the handler thread it wakes finds it
// and need not be woken a second time.
void
drpc__conn_flush_ready(void *arg)
{
	drpc__conn *c = arg;

	for (size_t i = 0; i < c->nwakes; i++) {
		drpc__stream_wake(c->wakes[i]);
		drpc__stream_rele(c->wakes[i]);
	}
	c->nwakes = 0;
	for (size_t i = 0; i < c->nready; i++) {
		ready_invoke     *r    = &c->ready[i];
		drpc__invoke_info info = {drpc__stream_id(r->s), r->name,
		    r->name_len, r->md, drpc__conn_before_goaway_ack(c)};

		c->opts.on_invoke(c->opts.arg, r->s, &info);
		free(r->name);
	}
	c->nready = 0;
}

void
drpc__conn_defer_wake(drpc__conn *c, drpc__stream *s)
{
	if (c->nwakes > 0 && c->wakes[c->nwakes - 1] == s) {
		drpc__stream_rele(s); // already due (a reply and its CloseSend)
		return;
	}
	if (c->nwakes == DRPC__CONN_WAKES) {
		drpc__conn_flush_ready(c);
	}
	c->wakes[c->nwakes++] = s;
}

// drpc__conn_ring_waits: the reader is about to wait for room in a stream's
// full ring; the handlers it has not started yet may be what frees it.
void
drpc__conn_ring_waits(void *arg)
{
	drpc__conn *c = arg;

	drpc__conn_flush_ready(c);
	if (c->opts.ring_wait_hook != NULL) {
		c->opts.ring_wait_hook(c->opts.hook_arg);
	}
}

#define READER_READY_MAX 64

static drpc_err
reader_queue_ready(drpc__conn *c, drpc__stream *s, drpc__invoke_info *info)
{
	ready_invoke *r;

	if (c->nready == READER_READY_MAX) {
		drpc__conn_flush_ready(c);
	}
	if (c->ready == NULL &&
	    (c->ready = calloc(READER_READY_MAX, sizeof(*c->ready))) == NULL) {
		goto now;
	}
	r = &c->ready[c->nready];
	if ((r->name = malloc(info->name_len + 1)) == NULL) {
		goto now;
	}
	memcpy(r->name, info->name, info->name_len);
	r->name[info->name_len] = '\0';
	r->name_len = info->name_len;
	r->s        = s;
	r->md       = info->md;
	c->nready++;
	return DRPC_OK;

now: // no memory to defer: hand it over at once
	info->before_goaway_ack = drpc__conn_before_goaway_ack(c);
	c->opts.on_invoke(c->opts.arg, s, info);
	return DRPC_OK;
}

// reader_start_stream creates and registers a server stream before the
// next frame is read, so the request that follows finds it.
static drpc_err
reader_start_stream(drpc__conn *c, uint64_t id, const uint8_t *name,
    size_t name_len, drpc__md *md)
{
	drpc__invoke_info info = {id, name, name_len, {0}, false};
	drpc__stream     *s;
	drpc_ctx         *ctx = NULL;
	drpc_err          rv;

	if (md != NULL) {
		info.md = *md; // moved
		memset(md, 0, sizeof(*md));
	}
	if (c->opts.max_streams != 0 &&
	    drpc__conn_active(c) >= c->opts.max_streams) {
		reader_refuse(c, id, "too many concurrent streams");
		drpc__md_fini(&info.md);
		return DRPC_OK;
	}
	if (c->opts.invoke_ctx != NULL &&
	    (ctx = c->opts.invoke_ctx(c->opts.arg, &info)) == NULL) {
		// No context means no way to cancel the handler (shutdown
		// does it through the context): refuse the RPC instead.
		reader_refuse(c, id, "out of memory");
		drpc__md_fini(&info.md);
		return DRPC_OK;
	}
	if ((rv = drpc__conn_new_stream(c, id, ctx, &s)) != DRPC_OK) {
		drpc__md_fini(&info.md);
		if (rv != DRPC_ENOMEM) {
			return DRPC_OK;
		}
		return drpc__cause_set(&c->rd_why, rv,
		    "out of memory for stream %llu", (unsigned long long) id);
	}
	if ((rv = drpc__stream_watch_ctx(s)) != DRPC_OK) {
		// Born cancelled (the server is shutting down): the cancel
		// already ended it; the handler still sees it and returns.
		rv = DRPC_OK;
	}
	return reader_queue_ready(c, s, &info);
}

static drpc_err reader_refuse_invoke(
    drpc__conn *c, uint64_t id, bool last, const char *why);

// reader_pending_md decodes an invoke's metadata, refusing it, before
// anything is allocated, if its decoded cost would break a limit. A second
// InvokeMetadata replaces the first (as upstream).
static drpc_err
reader_pending_md(drpc__conn *c, pending_invoke *p, const drpc__packet *pkt)
{
	size_t   room = c->pending_max - (c->pending_bytes - p->cost);
	size_t   max  = room < c->invoke_max ? room : c->invoke_max;
	char     why[160];
	drpc_err rv;

	drpc__md_fini(&p->md);
	rv = drpc__md_decode_max(pkt->data, pkt->len, max, &p->md);
	drpc__asm_trim(&p->asm_); // its body is decoded: not kept
	pending_charge(c, p, drpc__md_cost(&p->md));
	if (rv == DRPC_ETOOBIG) {
		reader_invoke_why(
		    c, pkt->stream_id, max == c->invoke_max, why, sizeof(why));
		return reader_refuse_invoke(c, pkt->stream_id, false, why);
	}
	if (rv != DRPC_OK) {
		return drpc__cause_set(&c->rd_why, rv,
		    "%s invoke metadata on stream %llu",
		    rv == DRPC_ENOMEM ? "no memory for" : "malformed",
		    (unsigned long long) pkt->stream_id);
	}
	return DRPC_OK;
}

static drpc_err
reader_pending_packet(drpc__conn *c, pending_invoke *p, const drpc__packet *pkt)
{
	drpc_err rv;

	if (pkt->kind == DRPC__KIND_INVOKE_METADATA) {
		return reader_pending_md(c, p, pkt);
	}
	rv = reader_start_stream(c, pkt->stream_id, pkt->data, pkt->len, &p->md);
	reader_pending_drop(c, pkt->stream_id);
	return rv;
}

// reader_bad_invoke explains an invoke the connection cannot take: one
// sent to a client, or one for a stream id a server took before (or one
// too far below the highest to remember: common/idwin.h).
static drpc_err
reader_bad_invoke(drpc__conn *c, const drpc__frame *f)
{
	if (!c->opts.is_server) {
		return drpc__cause_set(&c->rd_why, DRPC_EPROTO,
		    "an %s for stream %llu sent to a client",
		    drpc__kind_name(f->kind),
		    (unsigned long long) f->stream_id);
	}
	return drpc__cause_set(&c->rd_why, DRPC_EPROTO,
	    "an %s for stream %llu, an id used before on this connection",
	    drpc__kind_name(f->kind), (unsigned long long) f->stream_id);
}

static drpc_err      reader_refuse_big(drpc__conn *c, const drpc__frame *f);

// reader_pending_new adds a pending entry for a new invoke on f's stream.
static drpc_err
reader_pending_new(drpc__conn *c, const drpc__frame *f, pending_invoke **pp)
{
	pending_invoke *p;
	drpc_err        rv;

	if (c->pending.n >= c->opts.max_pending) {
		return drpc__cause_set(&c->rd_why, DRPC_ERESOURCE,
		    "more than %zu half-received invokes", c->opts.max_pending);
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		return drpc__cause_set(&c->rd_why, DRPC_ENOMEM,
		    "out of memory for a half-received invoke");
	}
	drpc__asm_init(&p->asm_, c->opts.max_msg_size);
	p->asm_.why = &c->rd_why;
	if ((rv = drpc__idmap_put(&c->pending, f->stream_id, p)) != DRPC_OK) {
		drpc__conn_pending_free(p);
		return drpc__cause_set(&c->rd_why, rv,
		    "out of memory for a half-received invoke");
	}
	*pp = p;
	return DRPC_OK;
}

// pending_wire is what p's assembler will hold once frame f is in: a
// newer message id replaces the packet in progress.
static size_t
pending_wire(const pending_invoke *p, const drpc__frame *f)
{
	const drpc__asm *a = &p->asm_;

	if (a->in_progress && a->message_id == f->message_id) {
		return a->body.len + f->len;
	}
	return f->len;
}

// reader_pending_frame feeds f to its pending entry p, refusing the invoke
// first if the bytes it would then hold break a limit (before they are
// copied).
static drpc_err
reader_pending_frame(drpc__conn *c, pending_invoke *p, const drpc__frame *f)
{
	size_t       cost = drpc__md_cost(&p->md) + pending_wire(p, f);
	drpc__packet pkt;
	bool         complete;
	char         why[160];
	drpc_err     rv;

	if (reader_invoke_over(c, p, f->stream_id, cost, why, sizeof(why))) {
		return reader_refuse_invoke(c, f->stream_id,
		    f->kind == DRPC__KIND_INVOKE && f->done, why);
	}
	rv = drpc__asm_add(&p->asm_, f, &pkt, &complete);
	if (rv == DRPC_ETOOBIG) {
		return reader_refuse_big(c, f);
	}
	if (rv != DRPC_OK) {
		return rv;
	}
	if (!complete) {
		pending_charge(c, p, cost);
		return DRPC_OK;
	}
	return reader_pending_packet(c, p, &pkt);
}

drpc_err
drpc__conn_on_invoke_frame(drpc__conn *c, const drpc__frame *f)
{
	pending_invoke *p = drpc__idmap_get(&c->pending, f->stream_id);
	char            why[160];
	drpc_err        rv;

	if (!c->opts.is_server) {
		return reader_bad_invoke(c, f); // clients never get invokes
	}
	if (p != NULL && p->refused) {
		// The rest of a refused invoke: dropped, and forgotten with
		// its last Invoke frame.
		if (f->kind == DRPC__KIND_INVOKE && f->done) {
			reader_pending_drop(c, f->stream_id);
		}
		return DRPC_OK;
	}
	if (p == NULL) {
		// A new id starts a stream in any order, but only once.
		if (drpc__idwin_taken(&c->taken, f->stream_id)) {
			return reader_bad_invoke(c, f);
		}
		drpc__idwin_take(&c->taken, f->stream_id);
	}
	if (p == NULL && f->kind == DRPC__KIND_INVOKE && f->done &&
	    f->message_id != 0) {
		if (f->len > c->invoke_max) { // a method name alone
			reader_invoke_why(c, f->stream_id, true, why, sizeof(why));
			return reader_refuse_invoke(c, f->stream_id, true, why);
		}
		return reader_start_stream(c, f->stream_id, f->data, f->len, NULL);
	}
	if (p == NULL && (rv = reader_pending_new(c, f, &p)) != DRPC_OK) {
		return rv;
	}
	return reader_pending_frame(c, p, f);
}

// reader_refuse_invoke refuses the invoke of stream id (its id already
// taken) for the reason why: an Error (ResourceExhausted) goes back; unless
// the frame at hand is its last Invoke frame (last), a pending entry
// marked refused, holding nothing, drops its other frames until then
// (max_pending bounds them as any pending invoke); the connection carries
// on.
static drpc_err
reader_refuse_invoke(drpc__conn *c, uint64_t id, bool last, const char *why)
{
	pending_invoke *p = drpc__idmap_get(&c->pending, id);
	drpc_err        rv;

	reader_refuse(c, id, why);
	if (last) {
		reader_pending_drop(c, id);
		return DRPC_OK; // nothing of it is left to come
	}
	if (p == NULL) {
		if (c->pending.n >= c->opts.max_pending) {
			return drpc__cause_set(&c->rd_why, DRPC_ERESOURCE,
			    "more than %zu half-received invokes",
			    c->opts.max_pending);
		}
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    (rv = drpc__idmap_put(&c->pending, id, p)) != DRPC_OK) {
			free(p);
			return drpc__cause_set(&c->rd_why, DRPC_ENOMEM,
			    "out of memory for a half-received invoke");
		}
	}
	pending_charge(c, p, 0);
	drpc__asm_fini(&p->asm_); // nothing more is assembled
	drpc__md_fini(&p->md);
	memset(p, 0, sizeof(*p));
	p->refused = true;
	return DRPC_OK;
}

// reader_refuse_big refuses the invoke f belongs to, over the maximum
// message size (reader_refuse_invoke).
static drpc_err
reader_refuse_big(drpc__conn *c, const drpc__frame *f)
{
	char why[160];

	(void) snprintf(why, sizeof(why),
	    "an %s on stream %llu over the %zu-byte maximum",
	    drpc__kind_name(f->kind), (unsigned long long) f->stream_id,
	    c->opts.max_msg_size);
	return reader_refuse_invoke(c, f->stream_id,
	    f->kind == DRPC__KIND_INVOKE && f->done, why);
}

// drpc__conn_oversize handles a frame over the maximum message size, whose
// body the frame reader skips without buffering it: only its stream ends,
// with ResourceExhausted both ways (as cockroachdb/drpc does); a new
// stream's invoke is refused; anything else is dropped. The connection
// carries on.
drpc_err
drpc__conn_oversize(drpc__conn *c, const drpc__frame *f)
{
	drpc__stream *s;

	if (f->kind == DRPC__KIND_MESSAGE && c->opts.flow != DRPC_FLOW_OFF) {
		// The peer paid connection credit for the frame: give it
		// back, as for any frame dropped (the count is clamped: a
		// conforming peer never sends more than its credit).
		uint64_t n = f->len > CONN_FLOW_MAX ? CONN_FLOW_MAX : f->len;

		n += f->done ? c->my_cost : 0;
		drpc__flow_conn_received(&c->fconn, n);
		drpc__writer_window_update(
		    &c->w, 0, drpc__flow_conn_consumed(&c->fconn, n));
	}
	if ((s = drpc__conn_lookup(c, f->stream_id)) != NULL) {
		char why[160];

		(void) snprintf(why, sizeof(why),
		    "a %s frame of %zu bytes on stream %llu over the %zu-byte "
		    "maximum",
		    drpc__kind_name(f->kind), f->len,
		    (unsigned long long) f->stream_id, c->opts.max_msg_size);
		drpc__stream_too_big(s, why);
		drpc__stream_rele(s);
		return DRPC_OK;
	}
	if (!c->opts.is_server || (f->kind != DRPC__KIND_INVOKE &&
				      f->kind != DRPC__KIND_INVOKE_METADATA)) {
		return DRPC_OK; // no stream of ours: dropped
	}
	pending_invoke *p = drpc__idmap_get(&c->pending, f->stream_id);

	if (p != NULL && p->refused) {
		if (f->kind == DRPC__KIND_INVOKE && f->done) {
			reader_pending_drop(c, f->stream_id);
		}
		return DRPC_OK; // refused already
	}
	if (p == NULL) {
		if (drpc__idwin_taken(&c->taken, f->stream_id)) {
			return reader_bad_invoke(c, f);
		}
		drpc__idwin_take(&c->taken, f->stream_id);
	}
	return reader_refuse_big(c, f);
}

// drpc__conn_drop handles a frame of no registered stream: dropped, except
// that a Cancel or Close also discards a half-received invoke.
void
drpc__conn_drop(drpc__conn *c, const drpc__frame *f)
{
	if (f->kind == DRPC__KIND_CANCEL || f->kind == DRPC__KIND_CLOSE) {
		reader_pending_drop(c, f->stream_id);
	}
}
