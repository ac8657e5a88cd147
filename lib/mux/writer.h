// drpc__writer: the connection's shared writer and its drain thread.
//
// Design notes (docs/design.md §4). Streams encode whole frames into the
// writer's active buffer under its mutex (a memcpy). Whoever holds the
// write token (`writing`) swaps the active buffer with the spare (double
// buffering) and writes the spare with one writev while others keep
// appending to the new active buffer; frames appended during a write are
// coalesced into the next one, so batching is natural.
//
// Who writes. A sender that appends on a latency path (a call's invoke,
// the first Message after a receive that waited, a stream's last packet),
// while its connection has at most two streams open, and finds the token
// free takes it and writes itself, without ever
// blocking: one non-blocking writev (drpc__transport_try_writev) after it
// has released its own locks (drpc__writer_flush). If the transport takes
// only part, or cannot be written that way (not a socket), or fails, the
// rest is the drain thread's: it finishes the spare first, then goes on
// with the active buffer. A Message of 64 KiB or more takes the direct
// path (drain.c): its sender waits for the token (cancellably, with its
// deadline), then writes what is buffered and its own frames straight from
// its memory, waiting for the transport to take them in slices of at most
// 100 ms. Every other append (a burst's Messages, control and terminal
// packets from the reader, cancels) wakes the drain thread, which writes
// with blocking writevs until the buffers are empty. The drain thread is
// woken only when it sleeps and nobody else will write what is buffered,
// so a busy connection costs no wake-ups, and a request-reply costs none
// at all.
//
// Order: one token, and the spare always written to its end before the
// next swap, so bytes reach the transport in the order they were
// appended: frames never reorder, whoever writes them. A flushing sender
// writes at most twice for others (WRITER_FLUSH_ROUNDS) and never blocks;
// only a direct sender holds the token while the transport is full, and
// one waiting for it gives up on its deadline or a cancel.
//
// Bounded: appenders of Invoke, InvokeMetadata and Message packets wait
// while the active buffer holds room bytes or more (unless it is empty, so
// one packet larger than that still goes out, frame by frame); room is
// limit, or 256 KiB on a socket, whose own buffer gives the depth. The
// message bytes pending are therefore at most 2 * room + one split frame
// per waiting appender. Terminal and control packets (Cancel, Close,
// CloseSend, Error, window updates, hellos, pings and goaways) never wait: they are what
// unblocks a stuck peer, and some come from threads that must not block.
// They count against the limit all the same (a Message waits while they
// fill it), and once limit bytes of them wait unwritten the writer has a
// backlog (drpc__writer_backlog): the connection's reader, which makes
// most of them (replies to what it reads), stops reading until it clears
// (drpc__writer_wait_backlog). Messages alone never make a backlog, so
// two peers sending each other bulk data both keep reading.
//
// Shutdown has two phases: drpc__writer_stop never blocks (it marks the
// writer stopped and wakes everyone); drpc__writer_join waits for the drain
// thread, which exits only once no sender holds the token (a stopped
// writer gives it to nobody new), so nothing writes to the transport after
// the join. A write failure makes the drain thread stop the writer itself
// (a sender's failure is handed to it in late_err) and then call
// on_error, which may call stop again (a no-op) without ever waiting on
// the thread that calls it. A graceful stop writes what is already
// buffered before the thread exits.
//
// Lock order: stream mu before writer mu. Never held across transport I/O.
#ifndef DRPC_MUX_WRITER_H
#define DRPC_MUX_WRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/buf.h"
#include "transport/transport.h"
#include "wire/packet.h"

// drpc__wstate is a stream's sending state as the writer sees it. Every
// field is guarded by the writer's mu (abort is also read without it).
//
// Flow control (docs/design.md §9): credit is what the peer still lets
// this stream send, counted like the receiver counts (a Message's body
// plus msg_cost). It is kept from the stream's start, gated or not; once
// gated (the peer has the extension), a Message starts only while the
// credit is positive, and then goes out whole, so the credit may go
// negative (an overdraw of less than one message): the next Message waits
// until grants repay it. Any credit is usable, however small, so credit
// that blocked senders hold can never starve the receiver's budget.
// Other kinds are never gated.
typedef struct drpc__wstate {
	uint64_t       stream_id;
	uint64_t       next_msg_id; // next message id this side sends
	bool           known;       // the peer knows the stream (invoke sent)
	bool           closed;      // a terminal packet went out: nothing more
	atomic_bool    abort;       // set by cancel: stop a multi-frame packet
	bool           gated;       // sends wait for credit
	int64_t        credit;      // may be negative (an overdraw)
	uint64_t       peer_window; // the peer's window, once known
	uint64_t       msg_cost;    // charge per Message
	uint64_t       msgs;        // Messages charged so far
	uint64_t       gate_gen;    // generation of the figures applied
	size_t         credit_waiters; // senders asleep on credit_cv
	pthread_cond_t credit_cv;      // with the writer's mu
} drpc__wstate;

// drpc__wstate_init prepares ws for stream_id; msg_cost is the charge
// per Message assumed until the peer says otherwise.
void drpc__wstate_init(drpc__wstate *ws, uint64_t stream_id, bool known,
    uint64_t msg_cost);
void drpc__wstate_fini(drpc__wstate *ws);

typedef struct drpc__writer {
	// Immutable after drpc__writer_start.
	drpc_transport *tr;
	bool            self_write; // senders may write (a socket)
	size_t          room; // Messages wait past this: limit, or at most
			      // 256 KiB on a socket
	size_t          limit;
	size_t          split;
	void (*on_error)(void *arg, drpc_err err);
	void     *arg;
	pthread_t thread;
	// Test hook: called each time a sender is about to sleep for room
	// (with mu held), or a direct sender for the transport to take more
	// (without). It must not block or take locks.
	void (*wait_hook)(void *arg);
	void *wait_hook_arg;
	// timed: senders measure their sleeps (set before start, when the
	// connection has conn hooks: drpc_conn_stats); the sums are guarded
	// by mu: asleep for flow-control credit, and for room (in the
	// writer, or a direct sender's in the socket).
	bool    timed;
	int64_t flow_blocked_ns;
	int64_t room_blocked_ns;

	pthread_mutex_t mu;
	pthread_cond_t  drain_cv; // the drain thread waits here
	pthread_cond_t  space_cv; // appenders wait here for room
	pthread_cond_t  back_cv;  // the backlog waiter waits here
	// backlog: the terminal and control bytes not yet written reached
	// limit. Set and cleared under mu; read without it as a hint.
	atomic_bool backlog;
	// Guarded by mu:
	drpc__buf active;      // frames waiting to be written
	drpc__buf spare;       // being written by the drain thread
	bool      idle;        // the drain thread sleeps on drain_cv
	bool      writing;     // the write token: its holder writes spare
	size_t    spare_off;   // bytes of spare written (a partial write)
	size_t    flushers;    // senders that owe a drpc__writer_flush
	size_t    direct_waiters; // direct senders waiting for the token
	drpc_err  late_err;    // a sender's write failed: the drain thread
			       // reports it
	bool      stopped;     // no more appends; the thread exits
	bool      graceful;    // write what is buffered before exiting
	drpc_err  stop_err;    // why it stopped
	size_t    waiters;     // appenders sleeping on space_cv
	uint64_t  writes;      // writev calls so far (for tests and stats)
	uint64_t  drain_writes; // ...of them by the drain thread
	uint64_t  drain_wakes;  // signals that woke the drain thread
	uint64_t  flush_writes; // ...by senders paying a flush
	uint64_t  handoffs;     // flushes that used up their rounds with
	                        // bytes left over (drpc__writer_flush)
	uint64_t  direct_bytes; // frame bytes written from senders' memory
	int64_t   wrote_ns;    // when the last writev completed (0: none)
	bool      back_waiting; // a thread sleeps on back_cv
	size_t    active_unheld; // terminal/control bytes in active
	size_t    spare_unheld;  // ...and in spare
	bool      exited;      // the drain thread has finished
	// Connection-level flow control (docs/design.md §9), like a
	// stream's credit but shared by every stream: gated once the peer
	// announced a connection window.
	bool           conn_gated;
	int64_t        conn_credit;
	size_t         conn_waiters; // senders asleep on conn_cv
	pthread_cond_t conn_cv;
} drpc__writer;

// drpc__writer_start starts the drain thread writing to tr. limit and split
// 0 mean the defaults (4 MiB, 64 KiB). on_error(arg, err) is called from the
// drain thread if a write fails.
drpc_err drpc__writer_start(drpc__writer *w, drpc_transport *tr,
    size_t limit, size_t split, size_t stack_size, uint64_t id,
    void (*on_error)(void *, drpc_err), void *arg);

// Flags of drpc__writer_send.
#define DRPC__WS_TERMINAL 1u // the last packet is the stream's final one
#define DRPC__WS_FLUSH    2u // the caller writes it itself (see below)

// drpc__writer_send appends the n packets of ws's stream (their stream and
// message ids are filled in here, from ws) as one unit where they fit: no
// frame of any packet of this stream can land between them, so an Invoke
// sent with its InvokeMetadata is atomic with respect to a Cancel.
// DRPC__WS_TERMINAL marks the last packet as the stream's final one
// (ws->closed); a terminal packet for a stream the peer never heard of is
// not written. With DRPC__WS_FLUSH, a DRPC_OK return means the caller owes
// one drpc__writer_flush, to be called as soon as it has released its own
// locks (and before it blocks on anything); without, the drain thread
// writes the packets.
// Blocks while the buffer is full, until room, deadline_ns (0 = none),
// ws->abort, or stop. Errors: the stop error (DRPC_ECLOSED, ...),
// DRPC_ESTATE if ws is already closed, DRPC_ECANCELED on abort (the packet
// may have been partly sent; the peer drops a partial packet; once abort is
// set only a terminal packet is taken),
// DRPC_ETIMEDOUT, DRPC_ENOMEM.
drpc_err drpc__writer_send(drpc__writer *w, drpc__wstate *ws,
    drpc__packet *pkts, size_t n, unsigned flags, int64_t deadline_ns);

// drpc__writer_flush pays the flush a DRPC__WS_FLUSH send owes: if nobody
// is writing, it writes what is buffered itself, with one non-blocking
// writev (two if others appended meanwhile); whatever the transport does
// not take at once is left to the drain thread. Never blocks on I/O.
void drpc__writer_flush(drpc__writer *w);

// drpc__writer_send_prefix appends the first must packets without waiting
// for room, then as many of the rest as fit without waiting; *sent is how
// many went in (the caller sends the others with drpc__writer_send). Used
// for the invoke sequence, which a client appends under its connection's
// ordering lock so stream ids reach the wire in increasing order, and which
// must therefore never sleep. flush is as DRPC__WS_FLUSH.
drpc_err drpc__writer_send_prefix(drpc__writer *w, drpc__wstate *ws,
    drpc__packet *pkts, size_t n, size_t must, bool flush, size_t *sent);

// drpc__writer_cancel ends ws's writing with a Cancel packet: it sets
// ws->abort (a multi-frame message in progress stops at a frame boundary;
// the peer drops the partial packet), appends the Cancel at once without
// waiting for room, and wakes a sender of ws blocked for room or for the
// write token (a large Message's, drain.c). If the peer never heard of
// the stream nothing is written. A no-op once ws is closed.
void drpc__writer_cancel(drpc__writer *w, drpc__wstate *ws);

// drpc__writer_wake sets ws->abort and wakes a sender of ws blocked for
// room or for the write token (its stream ended), without writing anything.
void drpc__writer_wake(drpc__writer *w, drpc__wstate *ws);

// drpc__writer_gate turns on ws's credit gate: the peer's window is
// window bytes (its initial credit, added to what ws has already counted)
// and it charges msg_cost per Message. A no-op if already gated, except
// that a window or charge the peer declares later replaces the assumed one.
// gen orders the figures: ones older than those applied (a smaller gen,
// from a caller that copied them before the peer's hello arrived) are
// ignored, whatever order the calls come in.
void drpc__writer_gate(drpc__writer *w, drpc__wstate *ws, uint64_t window,
    uint64_t msg_cost, uint64_t gen);

// drpc__writer_conn_gate turns on the connection's credit gate with the
// peer's connection window; drpc__writer_conn_credit adds a stream-0
// grant.
void drpc__writer_conn_gate(drpc__writer *w, uint64_t window);
void drpc__writer_conn_credit(drpc__writer *w, uint64_t delta);

// drpc__writer_credit adds delta (a grant from the peer) to ws's credit
// and wakes a sender waiting for it.
void drpc__writer_credit(drpc__writer *w, drpc__wstate *ws, uint64_t delta);

// drpc__writer_control appends one control frame (a window update or a
// hello) without waiting for room. With ws, the frame takes ws's next
// message id (a hello is part of the stream's sequence), even after ws
// closed; without, message id 0 (a window update). Errors: the stop
// error, DRPC_ENOMEM.
drpc_err drpc__writer_control(drpc__writer *w, drpc__wstate *ws,
    uint64_t stream_id, uint8_t kind, const uint8_t *body, size_t len);

// drpc__writer_window_update appends a window update of delta for
// stream_id (0: the connection), nothing if delta is 0. Best effort: if
// the connection is gone, nobody needs the credit.
void drpc__writer_window_update(
    drpc__writer *w, uint64_t stream_id, uint64_t delta);

// drpc__writer_backlog tells, without locking, whether w may have a
// backlog: limit bytes or more of terminal and control packets not yet
// written.
bool drpc__writer_backlog(drpc__writer *w);

// drpc__writer_retained is what w's two buffers hold allocated (for
// tests: at most 2 x 256 KiB once the drain thread sleeps).
size_t drpc__writer_retained(drpc__writer *w);

// drpc__writer_stats is who wrote what so far (for tests and stats).
typedef struct drpc__writer_stats {
	uint64_t writes;       // writev calls
	uint64_t drain_writes; // by the drain thread
	uint64_t drain_wakes;  // signals that woke the drain thread (not
			       // counting a stop, nor spurious wake-ups)
	uint64_t flush_writes; // by senders paying a flush
	uint64_t direct_bytes; // frame bytes written from senders' memory
	// handoffs: flushes that wrote their rounds for others and still
	// left bytes (appended meanwhile by senders who found the token
	// taken) to the drain thread: the one way a call's packets reach it.
	uint64_t handoffs;
} drpc__writer_stats;

void drpc__writer_get_stats(drpc__writer *w, drpc__writer_stats *st);

// drpc__writer_unwritten is the number of bytes not yet written.
size_t drpc__writer_unwritten(drpc__writer *w);

// drpc__writer_wait_backlog waits while w has a backlog: until those
// bytes drop below limit (DRPC_OK), w stops (DRPC_OK: the
// connection is ending anyway), or no write has completed for timeout_ns
// (> 0; 0 waits without a bound): DRPC_ETIMEDOUT, with *unwritten the
// bytes still waiting.
drpc_err drpc__writer_wait_backlog(
    drpc__writer *w, int64_t timeout_ns, size_t *unwritten);

// drpc__writer_stop stops w with err (first call wins). Never blocks. If
// graceful, frames already buffered are still written before the thread
// exits; otherwise they are dropped.
void drpc__writer_stop(drpc__writer *w, drpc_err err, bool graceful);

// drpc__writer_wait_exit waits until the drain thread has exited or the
// monotonic deadline_ns passes; returns DRPC_ETIMEDOUT in the latter case.
drpc_err drpc__writer_wait_exit(drpc__writer *w, int64_t deadline_ns);

// drpc__writer_join joins the drain thread (after a stop). Sends fail with
// the stop error from then on, until drpc__writer_fini.
void drpc__writer_join(drpc__writer *w);

// drpc__writer_fini frees the buffers and synchronisation objects, once no
// stream can call into w any more.
void drpc__writer_fini(drpc__writer *w);

#endif // DRPC_MUX_WRITER_H
