// drpc__conn: one transport carrying many concurrent streams.
//
// Threads per connection: one reader (the only reader of the transport and
// the single authority on its health) and one drain thread (the writer's,
// the only writer). Calls and handlers run on the users' own threads.
//
// Termination: every connection-scoped failure (read error or EOF, a
// malformed frame, a protocol violation, a failed write, an explicit close)
// goes through one idempotent terminate: record the cause, stop the writer,
// shut the transport down (unblocking the reader and a writev in flight),
// then end every registered stream synchronously. Stream-scoped events
// (Error, Close, CloseSend, Cancel, a local cancel) end only their stream.
#ifndef DRPC_CONN_CONN_H
#define DRPC_CONN_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/conninfo.h>
#include <drpc/ctx.h>
#include <drpc/error.h>
#include <drpc/flow.h>
#include <drpc/multiplex.h>
#include <drpc/peer.h>
#include <drpc/transport.h>

#include "stream/stream.h"
#include "wire/metadata.h"

typedef struct drpc__conn drpc__conn;

// drpc__invoke_info describes a new RPC a server connection received.
typedef struct drpc__invoke_info {
	uint64_t       stream_id;
	const uint8_t *name; // valid during the callback only
	size_t         name_len;
	drpc__md       md; // owned by the callee of on_invoke
	// before_goaway_ack: the peer announced DRPC__HELLO_CTRL and had
	// not acknowledged a GOAWAY when this invoke arrived, so it may have
	// written it before it learnt that the server is stopping: a server
	// draining its connections serves it (docs/protocol.md §14.3).
	bool before_goaway_ack;
} drpc__invoke_info;

typedef struct drpc__conn_opts {
	bool    is_server;
	size_t  max_msg_size;     // 0: 4 MiB; larger frames/packets are fatal
	size_t  split_size;       // 0: 64 KiB per frame
	size_t  writer_limit;     // 0: 4 MiB buffered before senders wait
	size_t  ring_slots;       // 0: 256 received messages per stream
	// max_streams: 0 unlimited. Server: invokes past it get an Error
	// (ResourceExhausted). Client: opens past it wait their turn,
	// cancellably (1 = one stream at a time).
	size_t  max_streams;
	// max_pending: 0: 1024 half-received invokes at most. Their bytes
	// are bounded too: 64 KiB each, 1 MiB in all (docs/design.md §4).
	size_t  max_pending;
	size_t  stack_size;       // 0: 128 KiB for the reader and drain
	int64_t close_timeout_ms; // 0: 1000; flush bound on close
	// write_timeout_ms, the stall timeout: while writer_limit bytes of
	// terminal and control packets wait to be written the reader stops
	// reading; if no write completes for this long meanwhile, the peer
	// is taken to have stopped reading and the connection ends
	// (DRPC_ETIMEDOUT). Likewise when, without flow control, the reader
	// waits this long for room in a stream's full ring. 0: 30000;
	// negative: never.
	int64_t write_timeout_ms;
	// id: the connection's id (drpc/conninfo.h); 0: drawn at create
	// (drpc__conn_new_id). Its low bits name the threads: drpc-rd-<n>.
	uint64_t id;
	// conn_hooks: open/close hooks (drpc/conninfo.h), copied; NULL: none.
	const drpc_conn_hooks *conn_hooks;
	// Flow control (docs/design.md §9): the mode, our receive window per
	// stream (0: 1 MiB) and per connection (0: 16 MiB).
	drpc_flow_mode flow;
	uint64_t       stream_window;
	uint64_t       conn_window;
	// Multiplexing (drpc/multiplex.h): a client's mode; a server answers
	// hellos unless it is DRPC_MULTIPLEX_OFF.
	drpc_multiplex_mode multiplex;
	// migrate (server): the input must start with drpcmigrate's header
	// (transport/migrate.h), which the reader thread takes before the
	// first frame; with migrate_optional, one that does not is served
	// as it is. A connection that does not start with it when it must
	// ends with DRPC_EPROTO and the cause in words.
	bool migrate;
	bool migrate_optional;

	// Test hook: see drpc__writer.wait_hook.
	void (*send_wait_hook)(void *arg);
	void *send_wait_hook_arg;
	// Test hooks (hook_arg is theirs; no lock held unless stated).
	// open_hook: a client stream was registered with flow control in
	// force and is about to apply the figures it copied (open_mu held).
	// hello_hook (client): the reader took the server's answer and is
	// about to apply it; flow_on_hook: the reader applied a hello or an
	// answer to every registered stream. flush_hook: a close is about to
	// wait for its flush until deadline_ns.
	void (*open_hook)(void *arg);
	void (*hello_hook)(void *arg);
	void (*flow_on_hook)(void *arg);
	void (*flush_hook)(void *arg, int64_t deadline_ns);
	// ring_wait_hook: the reader is about to wait for room in a stream's
	// full ring or in the connection's memory account (no flow control). backlog_hook: it is about to stop
	// reading until the writer's backlog of unwritten bytes clears.
	void (*ring_wait_hook)(void *arg);
	void (*backlog_hook)(void *arg, size_t unwritten);
	void *hook_arg;

	// Liveness (docs/protocol.md §14, drpc__conn_keepalive): pings go
	// only to a peer that announced DRPC__HELLO_CTRL. ping_interval_ns:
	// 0, no pings from this side (the reader still answers the peer's);
	// ping_timeout_ns: how long a ping may go unanswered, with nothing
	// else read either (0: 20 s when pinging).
	int64_t ping_interval_ns;
	int64_t ping_timeout_ns;
	// on_goaway (client, may be NULL): on_goaway(arg) is called once,
	// on the reader thread, after a GOAWAY was taken: opens are already
	// refused and the GOAWAY ACK is appended. It must not block.
	void (*on_goaway)(void *arg);
	// on_goaway_acked (server, may be NULL): on_goaway_acked(arg) is
	// called once, on the reader thread, when the peer's GOAWAY ACK was
	// read (every Invoke the peer wrote before it has been handed to
	// on_invoke). It must not block.
	void (*on_goaway_acked)(void *arg);
	// Test hook (hook_arg): ctrl_hook runs on the reader thread for each
	// conforming control frame of a peer with the extension (kind
	// DRPC__KIND_PING ... _GOAWAY_ACK, wire/control.h), before it is
	// acted on. It may block: the reader waits for it (a test holds a
	// GOAWAY back this way while it opens a stream).
	void (*ctrl_hook)(void *arg, unsigned kind);

	// Server only, both called on the reader thread. invoke_ctx makes
	// the context of a new RPC (NULL: no memory, the RPC is refused);
	// on_invoke receives the new stream's handle (release it with drpc__stream_destroy) and
	// info->md. on_invoke must not block: it hands the RPC to a thread.
	drpc_ctx *(*invoke_ctx)(void *arg, const drpc__invoke_info *info);
	void (*on_invoke)(void *arg, drpc__stream *s, drpc__invoke_info *info);
	// on_end, if set, is called once when the connection ends (from the
	// thread that ended it: the reader, the drain thread, or a closer).
	void (*on_end)(void *arg, const drpc_cause *cause);
	void *arg;
} drpc__conn_opts;

// drpc__conn_new_id draws a connection id: 64 random bits, nonzero
// (drpc/conninfo.h). Any thread.
uint64_t drpc__conn_new_id(void);

// drpc__conn_id is c's id. Any thread.
uint64_t drpc__conn_id(const drpc__conn *c);

// drpc__conn_thread_id is the part of an id that names threads
// (drpc-rd-<n>: a thread name holds 15 characters).
#define drpc__conn_thread_id(id) ((id) & 0xfffff)

// drpc__conn_create starts a connection over tr. On DRPC_OK the
// connection owns tr; on error tr still belongs to the caller.
drpc_err drpc__conn_create(
    drpc__conn **cp, drpc_transport *tr, const drpc__conn_opts *opts);

// drpc__conn_open starts a client RPC: checks ctx first (a done context
// fails at once, before a stream id is taken or anything is written),
// registers a stream with the next id, links it to ctx, and writes the
// invoke sequence atomically. *sp is the caller's handle
// (drpc__stream_destroy). Errors: the context's error, DRPC_EUNAVAIL
// (connection ended: drpc__conn_cause says why; or the server sent
// GOAWAY: drpc__conn_draining, drpc__conn_drain_cause), DRPC_ERESOURCE,
// DRPC_ENOMEM.
drpc_err drpc__conn_open(drpc__conn *c, drpc_ctx *ctx,
    const drpc__stream_invoke *inv, drpc__stream **sp);

// drpc__conn_peer fills out (zeroed first; left empty on error) with a
// copy of the peer c recorded (include/drpc/peer.h). Any thread; takes
// only the connection's mu. Errors: DRPC_ENOMEM.
drpc_err drpc__conn_peer(drpc__conn *c, drpc_peer *out);

// drpc__conn_err is DRPC_OK while the connection is up, else the cause
// that ended it (DRPC_ECLOSED for a clean close or peer EOF).
drpc_err drpc__conn_err(drpc__conn *c);

// drpc__conn_cause is drpc__conn_err, and fills out (may be NULL) with the
// code and the cause in words (empty while the connection is up).
drpc_err drpc__conn_cause(drpc__conn *c, drpc_cause *out);

// drpc__conn_wait blocks until the connection has ended, or until the
// monotonic deadline_ns (0 = none); returns the cause, or DRPC_ETIMEDOUT.
drpc_err drpc__conn_wait(drpc__conn *c, int64_t deadline_ns);

// drpc__conn_active is the number of registered streams.
size_t drpc__conn_active(drpc__conn *c);

// drpc__conn_idle tells a server's timeouts whether a whole frame has
// arrived (*framed) and since when no stream has been registered
// (*idle_since, drpc__now_ns() time: the connection's creation at first;
// 0 while a stream is). It takes only the connection's mu, a leaf lock.
void drpc__conn_idle(drpc__conn *c, bool *framed, int64_t *idle_since);

// drpc__conn_abort ends c now for the cause code and text (copied), as a
// failure ends it: the writer stops without flushing, the transport is
// shut down, every stream ends, and on_end runs on the calling thread.
// It never waits for the connection's threads (drpc__conn_destroy joins
// them). A connection that has ended already keeps its first cause. Not
// from on_end.
void drpc__conn_abort(drpc__conn *c, drpc_err code, const char *text);

// drpc__conn_cancel_streams cancels every stream registered on c with why
// (drpc__stream_cancel: a Cancel goes out, blocked operations return why).
// A channel being destroyed ends its calls with DRPC_ECANCELED this way.
void drpc__conn_cancel_streams(drpc__conn *c, drpc_err why);

// drpc__conn_send_waiters is the number of senders blocked because the
// writer's buffer is full (for tests and statistics).
size_t drpc__conn_send_waiters(drpc__conn *c);

// drpc__conn_flow_active tells whether flow control is in force: the
// mode is on, or it is automatic and the peer answered (or sent) a hello.
bool drpc__conn_flow_active(drpc__conn *c);

// drpc__conn_flow_held is what the connection's streams hold of the
// peer's messages, queued or being assembled (docs/design.md §9).
uint64_t drpc__conn_flow_held(drpc__conn *c);

// drpc__conn_mem_held is what the connection holds in memory of the
// peer's packets: queued messages (each its length + 64) and half-built
// packets, whatever the flow mode; at most conn_window + max_msg_size +
// 64 (docs/design.md §8).
int64_t drpc__conn_mem_held(drpc__conn *c);

// drpc__conn_write_stats is who wrote what on the connection so far (for
// tests and stats: drain thread, flushing senders, direct bytes).
void drpc__conn_write_stats(drpc__conn *c, drpc__writer_stats *st);

// drpc__conn_out_retained is what the connection's writer holds allocated
// (for tests).
size_t drpc__conn_out_retained(drpc__conn *c);

// drpc__conn_close flushes what is buffered (up to close_timeout_ms), ends
// the connection and every stream on it, joins both threads and closes the
// transport. Safe to call more than once; not from the reader thread.
void drpc__conn_close(drpc__conn *c);

// drpc__conn_close_start begins a graceful close without blocking: the
// writer takes nothing more and flushes what it holds. A server shutting
// many connections down starts them all, then finishes each with
// drpc__conn_close_by under one shared deadline.
void drpc__conn_close_start(drpc__conn *c);

// drpc__conn_close_by is drpc__conn_close with the flush bounded by the
// monotonic deadline_ns instead of close_timeout_ms.
void drpc__conn_close_by(drpc__conn *c, int64_t deadline_ns);

// Liveness and drain (docs/protocol.md §14, lib/conn/ctrl.c).

// drpc__conn_ctrl_ok tells whether the peer announced DRPC__HELLO_CTRL
// (in its hello, or in the answer to ours): only then do pings and
// GOAWAYs go out. Lock-free; false until the hellos were exchanged.
bool drpc__conn_ctrl_ok(drpc__conn *c);

// drpc__conn_keepalive does c's liveness work as of now_ns (drpc__now_ns()
// time) and says when it wants to be called next. Call it from an owner
// thread (never the reader or the drain thread), as often as it likes,
// from several threads at once if need be. It sends a PING when
// ping_interval_ns has passed since anything was last read from the peer
// and no ping is outstanding; it ends the connection (drpc__conn_abort,
// DRPC_EUNAVAIL, "peer did not answer a ping within N ms") once a ping
// has been outstanding for ping_timeout_ns with nothing at all read from
// the peer meanwhile (time this side's reader spends not reading, waiting
// for room, does not count). Returns the time at which it next has
// something to do (while a PING is outstanding, at most an interval on:
// its ACK is nobody's event); 0 for never: no ping_interval_ns, the
// connection ended, or the peer is known not to have the extension. While
// that is not known yet (a client whose hello is unanswered, a server
// before any hello), it asks to be called again an interval later. Never
// blocks on the peer.
int64_t drpc__conn_keepalive(drpc__conn *c, int64_t now_ns);

// drpc__conn_draining tells whether a client connection took a GOAWAY:
// it opens no more streams (drpc__conn_open fails with DRPC_EUNAVAIL)
// while those in flight go on. Lock-free.
bool drpc__conn_draining(drpc__conn *c);

// drpc__conn_drain_cause fills out (may be NULL) with why an open on a
// draining connection failed and returns DRPC_EUNAVAIL; DRPC_OK (out
// cleared) if c is not draining. (An ended connection's cause is
// drpc__conn_cause's.)
drpc_err drpc__conn_drain_cause(drpc__conn *c, drpc_cause *out);

// drpc__conn_goaway (server) sends the peer a GOAWAY if it announced
// DRPC__HELLO_CTRL; if the hellos have not been exchanged yet, the
// reader sends it as soon as they are, should the peer announce it.
// Idempotent; never blocks. Takes only the connection's leaf locks (the
// writer's mu), so a server may call it under its own lock.
void drpc__conn_goaway(drpc__conn *c);

// drpc__conn_goaway_pending (server) tells whether a GOAWAY went out and
// its ACK has not been read, on a connection that has not ended. Takes
// only the connection's mu, a leaf lock.
bool drpc__conn_goaway_pending(drpc__conn *c);

// drpc__conn_ctrl_stats is what c did with control frames so far (for
// tests and statistics).
typedef struct drpc__conn_ctrl_stats {
	uint64_t pings_sent;     // PINGs this side sent
	uint64_t acks_taken;     // ...and the ACKs that answered them
	uint64_t pings_answered; // the peer's PINGs this side ACKed
	bool     goaway;         // client: a GOAWAY was taken; server: sent
	bool     goaway_acked;   // server: its ACK was read
} drpc__conn_ctrl_stats;

void drpc__conn_ctrl_stats_get(drpc__conn *c, drpc__conn_ctrl_stats *st);

// drpc__conn_destroy closes c and drops the creator's reference; the
// memory goes when the last stream handle is released too.
void drpc__conn_destroy(drpc__conn *c);

#endif // DRPC_CONN_CONN_H
