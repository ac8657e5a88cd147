// drpc__stream: one RPC on a connection, on either side.
//
// Threads: a stream has at most one sending thread and one receiving
// thread at a time (they may differ); drpc__stream_cancel and
// drpc__stream_close are safe from any thread. The connection's reader
// thread alone calls drpc__stream_on_frame.
//
// Lock order: ctx mu -> stream mu -> writer mu. The owner's (connection's)
// registry lock is a leaf: the stream takes it under its own mu only
// through forget, when it terminates (docs/design.md §7).
//
// Lifetime: reference counted. Holders: the creator's handle (released with
// drpc__stream_destroy), the connection's registry while the stream is
// active, and the reader thread while it dispatches a frame to it.
#ifndef DRPC_STREAM_STREAM_H
#define DRPC_STREAM_STREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/ctx.h>
#include <drpc/error.h>
#include <drpc/peer.h>
#include <drpc/stream.h>

#include "flow/flow.h"
#include "mux/writer.h"
#include "wire/metadata.h"
#include "wire/packet.h"

// The public drpc_stream is this same object (include/drpc/stream.h).
typedef struct drpc_stream drpc__stream;

// drpc__conn_tag is what a stream knows of its connection for the API
// (drpc/conninfo.h, lib/stream/conninfo.c): the id (immutable), the open
// hook's user pointer (stored before the connection's first stream
// exists, immutable after), and the counts a server bumps through its
// streams, from the reader and handler threads (relaxed atomics, on
// refusal and failure paths only).
typedef struct drpc__conn_tag {
	uint64_t    id;
	void       *user;
	atomic_uint_least64_t refused;
	atomic_uint_least64_t failed;
} drpc__conn_tag;

// drpc__stream_owner is how a stream reaches its connection without
// knowing it: forget removes the stream from the registry (called once,
// when it terminates, with the stream's mutex held: it may take only a
// leaf lock and must not drop the stream's last reference); rele drops the reference the stream holds on the
// connection (called when the stream is freed).
typedef struct drpc__stream_owner {
	void (*forget)(void *owner, drpc__stream *s);
	void (*rele)(void *owner);
	// reader_waits, if set, is called on the reader thread (no lock
	// held) just before it waits for room in this stream's full ring:
	// the owner hands over any work it deferred (handlers not yet
	// started), which may be what frees the ring.
	void (*reader_waits)(void *owner);
	// peer_bound, if set, tells (on the reader thread) whether the peer
	// knows and honours our connection window: a frame past the memory
	// account then ends its stream; otherwise the reader waits for room.
	bool (*peer_bound)(void *owner);
	// open_streams, if set, tells (any thread, no lock) how many streams
	// the connection has open: a sender writes its own packets only
	// while there are few (mux/writer.h, send.c's stream_flush).
	size_t (*open_streams)(void *owner);
	// peer, if set, fills out (zeroed; include/drpc/peer.h) with a copy
	// of the connection's peer (any thread, no lock held).
	drpc_err (*peer)(void *owner, drpc_peer *out);
	// cause, if set, fills out with why the connection ended (any
	// thread, no stream lock held) and returns its code; DRPC_OK while
	// it is up. A stream that failed because its connection ended tells
	// that in its status (drpc_stream_status, a call's drpc_status).
	drpc_err (*cause)(void *owner, drpc_cause *out);
	void *owner;
	// tag: the connection's (it outlives the stream), or NULL.
	drpc__conn_tag *tag;
} drpc__stream_owner;

typedef struct drpc__stream_opts {
	uint64_t           id;
	bool               is_client;
	size_t             ring_slots;   // received messages queued at most
	size_t             max_msg_size; // largest message sent or received
	drpc_ctx          *ctx;          // may be NULL
	// owns_ctx: the stream destroys ctx when it is freed, and cancels it
	// when the peer cancels or the connection ends (server streams: the
	// handler's context reflects its stream).
	bool               owns_ctx;
	drpc__writer      *w;
	drpc__stream_owner owner;
	// Flow control (docs/design.md §9). fconn NULL: none at all.
	drpc__flow_conn   *fconn;
	// rxmem: the connection's memory account (flow/flow.h), NULL: none.
	drpc__rxmem       *rxmem;
	uint64_t           window;   // our receive window
	uint64_t           rx_cost;  // charge per Message we ask of the peer
	uint64_t           tx_cost;  // charge per Message assumed for sends
	// stall_ns: without flow control, how long the reader waits for
	// room in this stream's full ring before it gives the connection up
	// (drpc__stream_on_frame returns DRPC_ETIMEDOUT); 0: no limit.
	int64_t            stall_ns;
	// why: where drpc__stream_on_frame explains a connection-scoped
	// error in words (the reader's record; may be NULL).
	drpc_cause        *why;
} drpc__stream_opts;

// drpc__flow_figures are the flow-control figures a connection applies to
// its streams: the peer's window per stream and its charge per Message
// (what our sends pay), whether the peer's messages get the slot bound of
// a charge of 0 (wide_slots: a client that charges less than we ask until
// our answer, docs/protocol.md §13.3), and their generation (one more
// each time the connection's figures change).
typedef struct drpc__flow_figures {
	uint64_t peer_window;
	uint64_t peer_cost;
	bool     wide_slots;
	uint64_t gen;
} drpc__flow_figures;

// conninfo.c. drpc__stream_note_refused and drpc__stream_note_failed
// count s's RPC as refused or failed on its connection (any thread).
// drpc__stream_failed_locked (s's mu held: the owner's forget) tells
// whether a client stream ended failing: an Error from the peer, a
// cancel, the connection's loss; drpc__stream_failed the same, taking
// s's mu (no owner lock held).
void drpc__stream_note_refused(drpc__stream *s);
void drpc__stream_note_failed(drpc__stream *s);
bool drpc__stream_failed(drpc__stream *s);
bool drpc__stream_failed_locked(const drpc__stream *s);

// drpc__stream_flow_on turns flow control on for s once the connection
// knows the peer has it: sends wait for credit, and the receive side
// grants credit as the application consumes, never again making the
// reader wait for this stream's consumer (unless the peer ignores its
// window). Idempotent; a later call with newer figures (a larger gen)
// updates the peer's, one with older figures changes nothing.
void drpc__stream_flow_on(drpc__stream *s, const drpc__flow_figures *f);

// drpc__stream_invoked tells whether s's Invoke went to the writer.
bool drpc__stream_invoked(drpc__stream *s);

// drpc__stream_too_big ends s because the peer sent a packet over the
// maximum message size (why says which): an Error with code 8
// (ResourceExhausted) and why goes to the peer, the queue and any packet
// half built are dropped, and local calls report DRPC_ERESOURCE. The
// connection carries on. Reader thread only (the assembler is its own).
void drpc__stream_too_big(drpc__stream *s, const char *why);

// drpc__stream_on_window applies a window update (delta bytes) from the
// peer to s's credit.
void drpc__stream_on_window(drpc__stream *s, uint64_t delta);

// drpc__stream_invoke is what a client sends to start an RPC.
typedef struct drpc__stream_invoke {
	const uint8_t        *name;
	size_t                name_len;
	const drpc__md_entry *md; // may be NULL when nmd == 0
	size_t                nmd;
	const uint8_t        *msg; // first message, or NULL for none
	size_t                msg_len;
	bool                  close_send; // CloseSend right after (unary)
	// hello: a flow-control hello body to send right after the Invoke
	// (the connection's first stream), or NULL.
	const uint8_t        *hello;
	size_t                hello_len;
} drpc__stream_invoke;

// drpc__stream_send_control appends one control frame of kind (a hello
// answer) in s's message-id sequence, without waiting.
drpc_err drpc__stream_send_control(
    drpc__stream *s, uint8_t kind, const uint8_t *body, size_t len);

// drpc__stream_create makes a stream holding one reference (the caller's).
// It is not yet watching its context: see drpc__stream_watch_ctx.
drpc_err drpc__stream_create(drpc__stream **sp, const drpc__stream_opts *o);

// drpc__stream_watch_ctx links the stream to its context, so cancelling the
// context cancels the stream. If the context is already done the stream is
// cancelled at once and its reason returned.
drpc_err drpc__stream_watch_ctx(drpc__stream *s);

void drpc__stream_hold(drpc__stream *s);
void drpc__stream_rele(drpc__stream *s);

// drpc__stream_destroy releases the creator's handle: an unfinished stream
// is closed first (Close goes to the peer), the context is unlinked. s must
// not be used afterwards by the caller.
void drpc__stream_destroy(drpc__stream *s);

// drpc__stream_adopt_ctx makes a client stream own its context (a child
// made for the call's timeout_ms): drpc__stream_destroy destroys it once
// the stream no longer watches it.
void drpc__stream_adopt_ctx(drpc__stream *s);

uint64_t drpc__stream_id(const drpc__stream *s);
drpc_ctx *drpc__stream_ctx(const drpc__stream *s);

// drpc__stream_send_invoke writes the invoke sequence ([InvokeMetadata]
// Invoke [Message] [CloseSend]). InvokeMetadata and Invoke go in as one
// unit, so no Cancel can land between them. order_mu is held by the caller
// on entry and released here as soon as the Invoke is in the writer's
// buffer (it orders stream ids on the wire); nothing sleeps before that.
// Encoded metadata over the maximum message size fails with
// DRPC_ERESOURCE before anything is written.
drpc_err drpc__stream_send_invoke(drpc__stream *s,
    const drpc__stream_invoke *inv, pthread_mutex_t *order_mu);

// drpc__stream_send sends one message (copied before it returns). Blocks
// while the connection's writer is full, or while the peer's flow-control
// window (the stream's or the connection's) is used up. Errors: DRPC_ESTATE after
// close_send; DRPC_EOF if the peer ended the stream (Error or Cancel: recv
// tells why); DRPC_ECLOSED if it was closed; the cancel reason
// (DRPC_ECANCELED, DRPC_ETIMEDOUT) after a local cancel; DRPC_EUNAVAIL
// (client) or DRPC_ECANCELED (server) if the connection was lost;
// DRPC_ERESOURCE for a message over max_msg_size.
drpc_err drpc__stream_send(drpc__stream *s, const uint8_t *data, size_t len);

// drpc__stream_send_plain and drpc__stream_send_last_plain are the two
// sends without the stream's observer (stream/observe.h), which calls them.
drpc_err drpc__stream_send_plain(
    drpc__stream *s, const uint8_t *data, size_t len);
drpc_err drpc__stream_send_last_plain(
    drpc__stream *s, const uint8_t *data, size_t len);

// drpc__stream_send_last sends one message and a CloseSend as one unit
// (one write when nobody else is writing). Errors as drpc__stream_send;
// on error the sending side stays open.
drpc_err drpc__stream_send_last(
    drpc__stream *s, const uint8_t *data, size_t len);

// drpc__stream_set_on_last sets fn(arg) to run once, when the RPC's last
// packet is about to go from this (server) stream: by drpc__stream_last,
// which drpc__stream_send_last calls when the peer has finished sending,
// and the server calls when the handler returns. Set it before anyone
// else uses the stream.
void drpc__stream_set_on_last(drpc__stream *s, void (*fn)(void *), void *arg);
void drpc__stream_last(drpc__stream *s);

// drpc__stream_recv waits for the next message and lends it: *data and
// *len stay valid until drpc__stream_recv_done, which must follow every
// DRPC_OK. Ends: DRPC_EOF (the peer finished sending: a normal end),
// DRPC_EREMOTE (the peer's error: drpc__stream_remote_err), DRPC_ECANCELED
// or DRPC_ETIMEDOUT (local cancel, reported at once, or remote Cancel),
// DRPC_ECLOSED (closed locally), DRPC_EUNAVAIL / DRPC_ECANCELED (the
// connection was lost). Queued messages always come before a remote end.
drpc_err drpc__stream_recv(drpc__stream *s, const uint8_t **data, size_t *len);
void     drpc__stream_recv_done(drpc__stream *s);

// drpc__stream_close_send half-closes: no more messages from this side.
// A no-op if already done or the stream ended.
drpc_err drpc__stream_close_send(drpc__stream *s);

// drpc__stream_close ends the stream at once, sending Close (nothing if it
// already ended).
drpc_err drpc__stream_close(drpc__stream *s);

// drpc__stream_send_error ends the stream with an Error packet.
drpc_err drpc__stream_send_error(
    drpc__stream *s, uint64_t code, const char *msg, size_t msg_len);

// drpc__stream_cancel cancels the stream with why (DRPC_ECANCELED or
// DRPC_ETIMEDOUT): the Cancel goes out at once (it does not wait for a
// large message in progress, which is cut off), then every blocked
// operation wakes with why. No-op on an ended stream.
void drpc__stream_cancel(drpc__stream *s, drpc_err why);

// drpc__stream_cancel_reason is the local cancel reason, or DRPC_OK. A
// unary call reports it instead of any other error it saw.
drpc_err drpc__stream_cancel_reason(drpc__stream *s);

// drpc__stream_remote_err gives the code and text of the peer's Error
// (valid until the stream is freed). DRPC_ESTATE if there was none.
drpc_err drpc__stream_remote_err(drpc__stream *s, uint64_t *code,
    const char **msg, size_t *msg_len);

// drpc__stream_is_terminated tells whether the stream has ended.
bool drpc__stream_is_terminated(drpc__stream *s);

// Reader side. drpc__stream_on_frame feeds one frame of this stream;
// frames of an ended stream are dropped. A non-OK result is a
// connection-scoped error (protocol violation) for the caller to act on.
// If a thread waits in recv for what the frame delivered (a message, the
// end of the peer's sending), *wake is set and nobody is woken yet: the
// caller calls drpc__stream_wake(s) before it waits for anything (the
// reader gathers them until it is about to read, so that a reply and the
// CloseSend behind it in the same read wake their caller once, and the
// caller never finds the reader holding the stream's lock).
drpc_err drpc__stream_on_frame(
    drpc__stream *s, const drpc__frame *fr, bool *wake);

// drpc__stream_wake wakes the thread waiting in recv on s (see
// drpc__stream_on_frame). Takes no lock.
void drpc__stream_wake(drpc__stream *s);

// drpc__stream_conn_lost ends the stream because its connection ended.
void drpc__stream_conn_lost(drpc__stream *s);

// drpc__stream_abandon ends the stream locally without telling the peer
// (a server stream after its handler's final CloseSend: Go DRPC servers
// send nothing more either).
void drpc__stream_abandon(drpc__stream *s);

// Server side: the server layer attaches what the handler may ask for.
// drpc__stream_set_call takes the method name (copied) and md (moved).
drpc_err drpc__stream_set_call(drpc__stream *s, const uint8_t *method,
    size_t method_len, drpc__md *md);

// drpc__stream_error_override gives the code and text set with
// drpc_stream_set_error: true if one was set (text borrowed).
bool drpc__stream_error_override(
    drpc__stream *s, uint64_t *code, const char **msg);

// drpc__status_from maps a stream's recv error to the public status:
// a peer's Error with a code of 1..16 becomes that code, any other the
// DRPC_EREMOTE; fills st (may be NULL) with the details.
drpc_err drpc__stream_public_err(drpc__stream *s, drpc_err rv, drpc_status *st);

#endif // DRPC_STREAM_STREAM_H
