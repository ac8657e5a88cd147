// The connection's internals, shared by its files: conn.c (creation,
// the registry, client opens, close), invoke.c (the reader's handling of
// new server streams: half-received invokes, refusals, handing streams
// to on_invoke) and reader.c (the reader thread: dispatch, flow-control
// frames, backlog, end). Not for use outside lib/conn.
#ifndef DRPC_CONN_CONN_IMPL_H
#define DRPC_CONN_CONN_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cause.h"
#include "common/idmap.h"
#include "common/idwin.h"
#include "conn/conn.h"
#include "flow/flow.h"
#include "mux/writer.h"
#include "wire/flowctl.h"
#include "wire/packet.h"
#include "wire/reader.h"

#define CONN_DEFAULT_STACK   ((size_t) 128 << 10)
#define CONN_DEFAULT_PENDING 1024
#define CONN_DEFAULT_WRITE_TIMEOUT_MS 30000
#define CONN_FLOW_MAX        ((uint64_t) 1 << 48)
#define CONN_FLOW_MAX_COST   ((uint64_t) 1 << 20)
// CONN_INVOKE_MAX (I) bounds what one half-received invoke may cost, and
// CONN_PENDING_MAX (P) what all of a connection's cost together; each is
// also held to max_msg_size. The cost counts the wire bytes of the packet
// being assembled and the metadata decoded (drpc__md_cost): an invoke past
// either limit is refused with ResourceExhausted (docs/design.md §4).
#define CONN_INVOKE_MAX  ((size_t) 64 << 10)
#define CONN_PENDING_MAX ((size_t) 1 << 20)

// A server stream whose invoke sequence is still arriving.
typedef struct pending_invoke {
	drpc__asm asm_;
	drpc__md  md;
	bool      refused; // over the maximum: refused, its frames dropped
			   // until its last Invoke frame
	size_t    cost;    // what it holds, counted in conn.pending_bytes
} pending_invoke;

// DRPC__CONN_WAKES bounds the wake-ups the reader gathers before it hands
// them out (drpc__conn_flush_ready).
#define DRPC__CONN_WAKES 32

// A new server stream, registered but not yet handed to on_invoke.
typedef struct ready_invoke {
	drpc__stream *s;
	drpc__md      md;
	uint8_t      *name; // malloc'd copy
	size_t        name_len;
} ready_invoke;

struct drpc__conn {
	// Immutable after create.
	drpc__conn_opts opts;
	drpc_transport *tr;
	pthread_t       reader;
	atomic_uint     refs; // atomic
	// nstreams: streams.n, stored under mu whenever it changes, read
	// without it (a sender's hint: stream.h, open_streams).
	atomic_size_t   nstreams;
	// framed: a whole frame has arrived (set once by the reader; read by
	// a server's timeouts through drpc__conn_idle).
	atomic_bool framed;

	drpc__writer      w;       // internally locked
	drpc__flow_conn   fconn;   // internally locked
	// rxmem: what the streams hold of the peer's packets (atomic; its
	// strikes are the reader thread's), bounded by conn_window + the
	// largest message whatever the flow mode (docs/design.md §8).
	drpc__rxmem       rxmem;
	// stall_ns: write_timeout_ms in ns, 0 for none (immutable): how
	// long the reader waits for the writer's backlog, and (no flow
	// control) for room in a ring or the memory account.
	int64_t           stall_ns;
	uint64_t          my_cost; // immutable: charge per Message we ask
	uint64_t          tx_cost; // immutable: charge assumed of the peer
	size_t            invoke_max;  // immutable: I, for one pending invoke
	size_t            pending_max; // immutable: P, for all of them
	// wide_slots: the client charges its sends less than we ask until
	// our answer arrives (its hello says so): its streams get the slot
	// bound of a charge of 0 (protocol.md §13.3). Reader thread only.
	bool              wide_slots;
	// peer_bound: the peer knows and honours our connection window
	// (flow control was negotiated by hello) and pays for each message
	// at least what the memory account charges (in the "on" mode our
	// charge is 0: a conforming peer may queue empty messages the account
	// counts, so it is waited for, never refused). Reader thread only.
	bool              peer_bound;
	bool              peer_again; // reader thread only: see peer
	bool              hello_seen; // reader thread only: a hello (server)
					   // or its answer (client) was taken

	// Connection info (conninfo.c, drpc/conninfo.h). tag.id and hooks
	// are immutable; tag.user and hooked are written once, by whoever
	// calls the open hook (the creator before the threads start, or a
	// server's reader before its first stream), and read at the free.
	drpc__conn_tag  tag;
	drpc_conn_hooks hooks; // zero: none
	bool            hooked; // open was called: close is due
	int64_t         opened_ns; // immutable

	// Reader thread only.
	drpc__frame_reader fr;
	drpc_cause         rd_why;  // words for the error the reader ends on
	drpc__idmap        pending; // id -> pending_invoke
	size_t             pending_bytes; // the sum of their cost (<= P)
	drpc__idwin        taken; // server: stream ids taken (any order)
	ready_invoke      *ready; // new streams for on_invoke, in order
	size_t             nready;
	size_t             ready_cap;
	// Streams whose waiting thread is woken once the reader is about to
	// wait (drpc__stream_on_frame), each with a reference held.
	drpc__stream *wakes[DRPC__CONN_WAKES];
	size_t        nwakes;

	// Liveness and drain (ctrl.c, docs/protocol.md §14). All atomic.
	// ctrl: whether the peer has the control-frame extension
	// (CONN_CTRL_*): settled by the reader when it takes the hello (a
	// server, once its answer is appended) or the answer (a client), or
	// at create when no hello will ever be exchanged.
	atomic_int ctrl;
	// rx_wait_since: since when the reader has been blocked in read()
	// for the peer's bytes; 0 while it is not (it is handling what it
	// read, or waiting for room: the peer's silence is not measured
	// then). Stored by the reader around each read (relaxed), only
	// when ping_interval_ns is set.
	_Atomic(int64_t) rx_wait_since;
	// goaway (server): CONN_GOAWAY_*; moved forward only, by CAS.
	atomic_int goaway;
	// draining (client): a GOAWAY was taken. Stored under open_mu (so
	// an open that holds it has appended its Invoke before the GOAWAY
	// ACK goes out), read without it.
	atomic_bool draining;

	// open_mu orders client stream opens: an id is taken and its Invoke
	// appended under it, so ids reach the wire strictly increasing (as
	// servers may require). Lock order: open_mu before ctx, stream and
	// writer locks; nothing sleeps while it is held.
	pthread_mutex_t open_mu;
	uint64_t        next_id;    // guarded by open_mu
	bool            hello_sent; // guarded by open_mu (client)

	pthread_mutex_t mu;
	pthread_cond_t  term_cv; // broadcast when the connection ends
	pthread_cond_t  slot_cv; // client opens wait here under max_streams
	// Guarded by mu:
	drpc__idmap streams; // id -> stream, one reference each
	size_t      opening;      // client opens past the slot wait
	size_t      slot_waiters; // client opens sleeping on slot_cv
	bool        terminated; // terminate has begun
	bool        ended;      // ...and finished: every stream ended
	drpc_err    cause;
	char        cause_text[DRPC_CAUSE_TEXT_MAX]; // the cause in words
	bool        closed; // drpc__conn_close ran
	bool        flow_on;     // flow control is in force
	uint64_t    peer_window; // the peer's window per stream, once on
	uint64_t    peer_cost;   // the peer's charge per Message, once on
	uint64_t    flow_gen;    // one more each time the figures change
	bool        mux_on;      // client: concurrent streams allowed
	// peer: who is at the other end (drpc__transport_peer), taken at
	// create and, where the transport has a peer hook, again by the
	// reader after its first read (peer_again, reader thread only).
	drpc_peer peer;
	// idle_since: when the registry last became empty (drpc__now_ns()
	// time; the creation at first), 0 while it holds a stream.
	int64_t idle_since;
	// Pings (ctrl.c): the last PING's sequence number, when it went out
	// (0: no PING outstanding), and the counts of drpc__conn_ctrl_stats.
	uint64_t ping_seq;
	int64_t  ping_sent_ns;
	uint64_t pings_sent;
	uint64_t acks_taken;
	uint64_t pings_answered;
	// Counts for drpc_conn_stats (guarded by mu): streams registered,
	// client streams that ended failing (conn_forget, or
	// drpc__conn_end for those it takes out of the registry), when the
	// connection ended, and the transport's byte counts, taken before
	// the transport is destroyed (after the joins).
	uint64_t st_opened;
	uint64_t st_failed;
	int64_t  closed_ns;
	uint64_t bytes_in;
	uint64_t bytes_out;
};

// States of drpc__conn.ctrl and drpc__conn.goaway.
enum {
	CONN_CTRL_UNKNOWN = 0, // the hellos have not been exchanged (yet)
	CONN_CTRL_NO      = 1, // the peer does not have the extension
	CONN_CTRL_YES     = 2, // it announced DRPC__HELLO_CTRL
};
enum {
	CONN_GOAWAY_NONE   = 0,
	CONN_GOAWAY_WANTED = 1, // asked for before the hellos were exchanged
	CONN_GOAWAY_SENT   = 2,
	CONN_GOAWAY_ACKED  = 3, // the peer's GOAWAY ACK was read
};

// conn.c
drpc_err drpc__conn_new_stream(
    drpc__conn *c, uint64_t id, drpc_ctx *ctx, drpc__stream **sp);
void          drpc__conn_flow_on(drpc__conn *c, const drpc__hello *peer);
void          drpc__conn_end(drpc__conn *c, const drpc_cause *why);
void          drpc__conn_io_cause(
    drpc_cause *why, drpc_err code, int err, const char *dir);
void          drpc__conn_io_end(drpc__conn *c, drpc_cause *why);
drpc__stream *drpc__conn_lookup(drpc__conn *c, uint64_t id);
// drpc__conn_peer_again: see drpc__conn.peer (reader thread, once).
void          drpc__conn_peer_again(drpc__conn *c);

// conninfo.c
// drpc__conn_hooks_open calls the open hook, if any (once, before the
// first stream); drpc__conn_hooks_close calls the close hook if open was
// called (once, when c is freed; started false: its creation failed
// and there is no writer to ask).
void drpc__conn_hooks_open(drpc__conn *c);
void drpc__conn_hooks_close(drpc__conn *c, bool started);

// invoke.c (reader thread)
void     drpc__conn_pending_free(pending_invoke *p);
void     drpc__conn_flush_ready(void *arg);
// drpc__conn_defer_wake queues s (its reference with it) to be woken by
// the next drpc__conn_flush_ready. Reader thread only.
void drpc__conn_defer_wake(drpc__conn *c, drpc__stream *s);
void     drpc__conn_ring_waits(void *arg);
drpc_err drpc__conn_on_invoke_frame(drpc__conn *c, const drpc__frame *f);
drpc_err drpc__conn_oversize(drpc__conn *c, const drpc__frame *f);
void     drpc__conn_drop(drpc__conn *c, const drpc__frame *f);

// reader.c
void *drpc__conn_reader_main(void *arg);

// ctrl.c
// drpc__conn_ctrl_init sets the liveness and drain state up at create.
void drpc__conn_ctrl_init(drpc__conn *c);
// drpc__conn_read_timed is the frame reader's read function when pings
// are on: drpc__transport_read(c->tr), noting when it waits
// (rx_wait_since).
drpc_err drpc__conn_read_timed(void *arg, uint8_t *buf, size_t cap, size_t *n);
// drpc__conn_ctrl_settled (reader thread) records whether the peer's
// hello or answer announced DRPC__HELLO_CTRL; a server calls it once its
// answer is appended (then it sends a GOAWAY asked for meanwhile).
void drpc__conn_ctrl_settled(drpc__conn *c, uint64_t features);
// drpc__conn_on_ctrl (reader thread) takes a frame of a control kind
// with the control flag: a conforming one from a peer with the
// extension is acted on, anything else dropped.
void drpc__conn_on_ctrl(drpc__conn *c, const drpc__frame *f);
// drpc__conn_before_goaway_ack (reader thread) is the invoke_info flag of
// an invoke handed to on_invoke now.
bool drpc__conn_before_goaway_ack(drpc__conn *c);

#endif // DRPC_CONN_CONN_IMPL_H
