// The stream's internals, shared by its files; not for use outside
// lib/stream. Each file owns one concern:
//   state.c    creation, references, the context's link, destroy, and
//              termination (every end goes through it)
//   send.c     the send path: invoke, Messages, CloseSend, Close, Error
//   cancel.c   local cancel and deadlines; the Error that cuts off a send
//   credit.c   receive-side flow and memory accounting, flow control on
//   recv.c     the receive path: the reader's frames into the ring, and
//              the user's recv and recv_done out of it
//   ring.c     the receive queue itself (ring.h; no lock of its own)
//   api.c      the public drpc_stream_* calls and the status mapping
//   observe.c  interceptors' wrappers and values, per-RPC stats
//   conninfo.c the stream's view of its connection
//
// Every field below says who owns it: immutable after create, an atomic,
// one thread's, or the lock that guards it. Lock order (stream.h,
// docs/design.md §7): ctx mu -> s->mu -> w->mu, and the leaf locks
// (the owner's registry, fconn's mu, rxmem's mu) may be taken under
// s->mu.
#ifndef DRPC_STREAM_STREAM_IMPL_H
#define DRPC_STREAM_STREAM_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx/ctx.h"
#include "stream/ring.h"
#include "stream/stream.h"

struct drpc_stream {
	// Immutable after create.
	uint64_t           id;
	bool               is_client;
	size_t             max_msg_size;
	drpc_ctx          *ctx;
	bool               owns_ctx;
	int64_t            deadline_ns;
	drpc__writer      *w;
	drpc__stream_owner owner;   // its functions take their own locks
	drpc__flow_conn   *fconn;   // NULL: no flow control accounting
	drpc__rxmem       *rxmem;   // NULL: no memory accounting
	size_t             ring_slots; // the ring's bound without flow control
	int64_t            stall_ns;   // see drpc__stream_opts
	drpc__ctx_listener ctx_l;   // linked in ctx while watched (its
				    // links are the ctx's, under its mu)
	atomic_uint        refs;    // atomic
	atomic_bool        ended;   // atomic copy of terminated, for the reader
	// Messages sent since the last receive that waited (relaxed): the
	// first one is flushed by its sender (mux/writer.h), a burst is not.
	atomic_uint        sends_run;
	// on_last(on_last_arg) runs once (on_last_due, atomic), when a
	// server stream's last packet is about to go (drpc__stream_last).
	// Set before the handler starts, then immutable.
	void (*on_last)(void *arg);
	void       *on_last_arg;
	atomic_bool on_last_due;
	drpc__wstate       ws;      // guarded by w->mu
	drpc__asm          in;      // reader thread only
	uint64_t           in_held; // reader thread only: frame bytes of the
	uint64_t           in_mid;  // packet in assembly, and its message id
	uint64_t           in_mem;  // reader thread only: its bytes in rxmem
	bool               watching; // creator's thread only
	bool               adopted;  // creator's thread only: destroy ctx

	pthread_mutex_t mu;
	pthread_cond_t  cv;       // the user's threads wait here
	pthread_cond_t  space_cv; // the reader waits here for ring room
	// Guarded by mu:
	drpc__ring ring;
	bool       send_closed; // CloseSend sent (or being sent)
	bool       recv_closed; // CloseSend received
	bool       terminated;
	bool       forgotten;      // removed from the owner's registry
	drpc_err   recv_err;       // recv's answer once drained
	drpc_err   send_err;       // send's answer after termination
	drpc_err   cancel_err;     // local cancel reason, or DRPC_OK
	bool       reader_waiting; // the reader sleeps on space_cv
	bool       user_waiting;   // a user thread sleeps on cv
	drpc__flow_rx rx;        // receive-side flow control (msg_cost and
				 // window immutable: read without mu)
	size_t        borrowed_len; // body length of the message lent out
				    // (set and read by the receiving thread)
	uint64_t   remote_code;
	char      *remote_msg;
	size_t     remote_msg_len;
	bool       has_remote;

	// Server side, set before the handler runs; the handler's thread
	// only, afterwards.
	char    *method;
	drpc__md md;
	bool     err_set;
	uint64_t err_code;
	char    *err_msg;

	// obs: interceptors' wrappers and values, per-RPC stats
	// (stream/observe.h); NULL: none, the only test the hot path makes.
	// Set while nobody else uses the stream, then owned by it.
	struct drpc__obs *obs;
};

// state.c: the connection's error for this side; termination, with
// s->mu held (terminate wakes the user threads in recv, end_quiet leaves
// that to the reader, which defers it: drpc__stream_wake).
drpc_err drpc__stream_conn_err(const drpc__stream *s);
void     drpc__stream_terminate_locked(
    drpc__stream *s, drpc_err recv_err, drpc_err send_err);
void drpc__stream_end_quiet_locked(
    drpc__stream *s, drpc_err recv_err, drpc_err send_err);

// cancel.c: a handler's context told of its stream's end (no stream lock
// held); the final Error, sent at once (s->mu held).
void drpc__stream_cancel_owned_ctx(drpc__stream *s);
void drpc__stream_error_locked(
    drpc__stream *s, uint64_t code, const char *text, size_t len);

// credit.c: the memory and flow accounts (any lock but their own leaves
// held; the _locked ones with s->mu held).
void drpc__stream_conn_consumed(drpc__stream *s, uint64_t n);
void drpc__stream_mem_gone(drpc__stream *s, size_t bytes, size_t msgs);
void drpc__stream_grant_locked(drpc__stream *s);
void drpc__stream_clear_locked(drpc__stream *s);

#endif // DRPC_STREAM_STREAM_IMPL_H
