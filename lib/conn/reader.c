// The reader thread (docs/design.md §4): it reads frames, takes the
// flow-control ones out (window updates, hellos), dispatches the rest to
// their streams or to invoke.c, stops while the writer has a backlog, and
// ends the connection with the first connection-scoped error it meets.
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
#include "transport/migrate.h"
#include "transport/transport.h"
#include "wire/control.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"
#include "wire/reader.h"

// reader_on_window applies a window update; one that does not conform,
// one for no registered stream, any while flow control is not in force,
// and a stream-0 one unless the peer announced a connection window, are
// dropped (never fatal: docs/protocol.md §13).
static void
reader_on_window(drpc__conn *c, const drpc__frame *f)
{
	drpc__stream *s;
	uint64_t      delta;
	bool          conn_gated;

	if (!drpc__window_update_parse(f, &delta) ||
	    !drpc__conn_flow_active(c)) {
		return;
	}
	if (f->stream_id == 0) {
		drpc__mutex_lock(&c->w.mu);
		conn_gated = c->w.conn_gated;
		drpc__mutex_unlock(&c->w.mu);
		if (conn_gated) {
			drpc__writer_conn_credit(&c->w, delta);
		}
		return;
	}
	if ((s = drpc__conn_lookup(c, f->stream_id)) == NULL) {
		return;
	}
	drpc__stream_on_window(s, delta);
	drpc__stream_rele(s);
}

// reader_on_hello handles the flow-control negotiation. A server answers
// the first conforming hello (in its stream's sequence, before anything
// it grants, so the client is on before any window update arrives) and
// turns flow control on with the client's figures; a client that sent a
// hello turns it on with the server's. Anything else is ignored.
static void
reader_on_hello(drpc__conn *c, const drpc__frame *f)
{
	drpc__hello   h;
	drpc__stream *s;
	bool          sent;
	bool          flow;

	if (!drpc__hello_parse(f, &h)) {
		return;
	}
	flow = c->opts.flow != DRPC_FLOW_OFF && (h.features & DRPC__HELLO_FLOW);
	if (c->opts.is_server) {
		uint8_t     body[DRPC__HELLO_BODY_MAX];
		drpc__hello mine;
		size_t      len;

		if (c->hello_seen || c->opts.multiplex == DRPC_MULTIPLEX_OFF) {
			return; // answered already, or playing a plain server
		}
		c->hello_seen = true;
		// Until our answer arrives a client charges its sends at its
		// own rate: a lower one could fill our slots before it learns
		// ours, so its streams get the slots of a charge of 0
		// (protocol.md §13.3). Our charge stays: after the answer
		// the client recounts at it, and waits as usual.
		c->wide_slots = h.msg_cost < c->my_cost;
		mine = (drpc__hello) {DRPC__HELLO_VERSION, c->opts.stream_window,
		    c->my_cost, c->opts.conn_window,
		    DRPC__HELLO_MUX | (flow ? DRPC__HELLO_FLOW : 0) |
			(h.features & DRPC__HELLO_CTRL)};
		len  = drpc__hello_put(body, &mine);
		if ((s = drpc__conn_lookup(c, f->stream_id)) != NULL) {
			(void) drpc__stream_send_control(
			    s, DRPC__KIND_HELLO, body, len);
			drpc__stream_rele(s);
		} else {
			(void) drpc__writer_control(&c->w, NULL, f->stream_id,
			    DRPC__KIND_HELLO, body, len);
		}
		// Settled once the answer is appended: whatever control frame
		// goes out from now on follows it (ctrl.c).
		drpc__conn_ctrl_settled(c, h.features);
		if (flow) {
			drpc__conn_flow_on(c, &h);
			c->peer_bound = c->my_cost >= DRPC__RXMEM_MSG;
		}
		return;
	}
	drpc__mutex_lock(&c->open_mu);
	sent = c->hello_sent;
	drpc__mutex_unlock(&c->open_mu);
	if (!sent || c->hello_seen) {
		return;
	}
	c->hello_seen = true; // the first answer only
	if (c->opts.hello_hook != NULL) {
		c->opts.hello_hook(c->opts.hook_arg);
	}
	drpc__conn_ctrl_settled(c, h.features);
	if (flow) {
		drpc__conn_flow_on(c, &h);
		c->peer_bound = c->my_cost >= DRPC__RXMEM_MSG;
	}
	if (c->opts.multiplex == DRPC_MULTIPLEX_AUTO) {
		// Any answer comes from a libdrpc server, which multiplexes:
		// the calls waiting their turn may all go now.
		drpc__mutex_lock(&c->mu);
		c->mux_on = true;
		drpc__cond_broadcast(&c->slot_cv);
		drpc__mutex_unlock(&c->mu);
	}
}

static drpc_err
reader_dispatch(drpc__conn *c, const drpc__frame *f)
{
	drpc__stream *s;
	drpc_err      rv;

	// Flow-control frames are taken out before any stream sees them:
	// their ids are not part of the streams' message sequences.
	if (f->kind == DRPC__KIND_WINDOW_UPDATE) {
		reader_on_window(c, f);
		return DRPC_OK;
	}
	if (f->kind == DRPC__KIND_HELLO && f->control) {
		reader_on_hello(c, f);
		return DRPC_OK;
	}
	if (drpc__ctrl_kind(f->kind) && f->control) {
		drpc__conn_on_ctrl(c, f); // pings and goaways (ctrl.c)
		return DRPC_OK;
	}
	drpc__mutex_lock(&c->mu);
	s = drpc__idmap_get(&c->streams, f->stream_id);
	if (s != NULL) {
		drpc__stream_hold(s);
	}
	drpc__mutex_unlock(&c->mu);
	if (s != NULL) {
		bool wake = false;

		rv = drpc__stream_on_frame(s, f, &wake);
		if (wake) {
			drpc__conn_defer_wake(c, s); // takes the reference
		} else {
			drpc__stream_rele(s);
		}
		return rv;
	}
	if (f->kind == DRPC__KIND_INVOKE ||
	    f->kind == DRPC__KIND_INVOKE_METADATA) {
		return drpc__conn_on_invoke_frame(c, f);
	}
	drpc__conn_drop(c, f);
	if (f->kind == DRPC__KIND_MESSAGE && c->opts.flow != DRPC_FLOW_OFF) {
		// The peer paid connection credit for it: give it back.
		uint64_t n = f->len + (f->done ? c->my_cost : 0);

		drpc__flow_conn_received(&c->fconn, n);
		drpc__writer_window_update(
		    &c->w, 0, drpc__flow_conn_consumed(&c->fconn, n));
	}
	return DRPC_OK;
}

// reader_end ends the connection with the error rv the reader stopped
// on, in the words of the layer that found it: the frame reader (a
// malformed header, the end of input), the transport (its errno), or the
// dispatch (a protocol rule, in rd_why).
static void
reader_end(drpc__conn *c, drpc_err rv)
{
	drpc_cause why = {rv, ""};
	bool       io  = false;

	if (c->fr.sticky == rv && c->fr.why.code == rv) {
		why = c->fr.why;
		io = rv == DRPC_EOF || rv == DRPC_ETRUNC || why.text[0] == '\0';
		if (why.text[0] == '\0' &&
		    !drpc__transport_why(c->tr, true, &why)) {
			drpc__conn_io_cause(&why, rv,
			    drpc__transport_read_errno(c->tr), "read");
		}
	} else if (c->rd_why.code == rv) {
		why = c->rd_why;
	}
	if (rv == DRPC_EOF) {
		why.code = DRPC_ECLOSED; // the peer closing is a clean close
	}
	if (io) {
		drpc__conn_io_end(c, &why);
	} else {
		drpc__conn_end(c, &why);
	}
}

// reader_backlog stops reading while the writer has a backlog
// (writer_limit bytes of terminal and control packets unwritten: errors
// for refused invokes, window updates, replies to what the reader reads,
// none of which wait for room): a peer that sends and never reads is
// stopped here, and one that stays stopped past the write timeout is cut
// off. Messages wait for room instead, and never make a backlog.
static drpc_err
reader_backlog(drpc__conn *c)
{
	int64_t  ms = c->opts.write_timeout_ms;
	size_t   unwritten = 0;
	drpc_err rv;

	drpc__conn_flush_ready(c); // the handlers need not wait meanwhile
	if (c->opts.backlog_hook != NULL) {
		c->opts.backlog_hook(
		    c->opts.hook_arg, drpc__writer_unwritten(&c->w));
	}
	rv = drpc__writer_wait_backlog(&c->w, c->stall_ns, &unwritten);
	if (rv != DRPC_ETIMEDOUT) {
		return DRPC_OK;
	}
	return drpc__cause_set(&c->rd_why, DRPC_ETIMEDOUT,
	    "the peer stopped reading: %zu bytes unwritten and no write "
	    "completed in %lld ms",
	    unwritten, (long long) ms);
}

// reader_migrate takes drpcmigrate's header off the input before the
// first frame (drpc__conn_opts.migrate), on this thread: a peer that
// sends part of it and stalls holds only its own connection, until the
// server's handshake timeout (no frame yet) ends it. Bytes read that
// were not the header go to the frame reader first; a transport with a
// protocol of its own (TLS) takes the header off beneath it and keeps
// them (its migrate hook).
static drpc_err
reader_migrate(drpc__conn *c)
{
	uint8_t  kept[DRPC__MIGRATE_HEADER_LEN];
	size_t   n = 0;
	drpc_err rv;

	if (c->tr->migrate != NULL) {
		rv = c->tr->migrate(
		    c->tr->impl, !c->opts.migrate_optional, &c->rd_why);
	} else {
		rv = drpc__migrate_take(c->fr.read, c->fr.arg,
		    !c->opts.migrate_optional, kept, &n, &c->rd_why);
	}
	if (rv == DRPC_OK) {
		rv = drpc__frame_reader_prime(&c->fr, kept, n);
		if (rv != DRPC_OK) {
			(void) drpc__cause_set(&c->rd_why, rv, "%s",
			    "out of memory for the read buffer");
		}
	} else if (rv == DRPC_EOF) {
		c->rd_why.code = DRPC_ECLOSED; // a close, if an early one
		rv             = DRPC_ECLOSED;
	} else if (c->rd_why.text[0] == '\0') {
		// The transport's own failure, in its words.
		drpc__conn_io_cause(&c->rd_why, rv,
		    drpc__transport_read_errno(c->tr), "read");
	}
	return rv;
}

void *
drpc__conn_reader_main(void *arg)
{
	drpc__conn *c = arg;
	drpc__frame f;
	drpc_err    rv = DRPC_OK;

	if (c->opts.migrate && (rv = reader_migrate(c)) != DRPC_OK) {
		drpc_cause why = c->rd_why;

		// A refusal is the peer's fault; an early close or a failed
		// read is the transport's (or a local close, if one began).
		if (rv == DRPC_EPROTO || rv == DRPC_ENOMEM) {
			drpc__conn_end(c, &why);
		} else {
			drpc__conn_io_end(c, &why);
		}
		return NULL;
	}
	for (;;) {
		if (drpc__writer_backlog(&c->w) &&
		    (rv = reader_backlog(c)) != DRPC_OK) {
			break;
		}
		rv = drpc__frame_reader_next(&c->fr, &f);
		if (c->peer_again && (rv == DRPC_OK || rv == DRPC_ETOOBIG)) {
			// On a server, before any stream exists.
			drpc__conn_peer_again(c);
		}
		c->rd_why.code = DRPC_OK; // words only for this frame's error
		if ((rv == DRPC_OK || rv == DRPC_ETOOBIG) &&
		    !atomic_load_explicit(&c->framed, memory_order_relaxed)) {
			atomic_store(&c->framed, true);
		}
		if (rv == DRPC_ETOOBIG) {
			rv = drpc__conn_oversize(c, &f); // its body is skipped
		} else if (rv == DRPC_OK) {
			rv = reader_dispatch(c, &f);
		}
		if (rv == DRPC_OK && c->rxmem.strikes >= DRPC__RXMEM_STRIKES) {
			rv = drpc__cause_set(&c->rd_why, DRPC_ERESOURCE,
			    "the peer sent beyond its limits again and again: "
			    "%u streams ended for it", c->rxmem.strikes);
		}
		if (rv != DRPC_OK) {
			break;
		}
	}
	reader_end(c, rv);
	drpc__conn_flush_ready(c); // their handlers see the end and return
	free(c->ready);
	c->ready = NULL;
	return NULL;
}
