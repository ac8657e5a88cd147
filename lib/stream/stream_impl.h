// The stream's internals, shared by its files: stream.c (life cycle,
// sending, cancel and close), recv.c (the reader side: frames, the receive
// queue and its accounting) and api.c (the public drpc_stream_* calls).
// Not for use outside lib/stream.
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
	drpc__stream_owner owner;
	drpc__flow_conn   *fconn;   // NULL: no flow control accounting
	drpc__rxmem       *rxmem;   // NULL: no memory accounting
	size_t             ring_slots; // the ring's bound without flow control
	int64_t            stall_ns;   // see drpc__stream_opts
	drpc__ctx_listener ctx_l;   // linked in ctx while watched
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
	drpc__flow_rx rx;        // receive-side flow control
	size_t        borrowed_len; // body length of the message lent out
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

// stream.c
void     drpc__stream_cancel_owned_ctx(drpc__stream *s);
drpc_err drpc__stream_conn_err(const drpc__stream *s);
void     drpc__stream_terminate_locked(
    drpc__stream *s, drpc_err recv_err, drpc_err send_err);
// ...without waking the thread in recv: for the reader, which defers it.
void drpc__stream_end_quiet_locked(
    drpc__stream *s, drpc_err recv_err, drpc_err send_err);
void drpc__stream_conn_consumed(drpc__stream *s, uint64_t n);
void drpc__stream_mem_gone(drpc__stream *s, size_t bytes, size_t msgs);
void drpc__stream_grant_locked(drpc__stream *s);
void drpc__stream_clear_locked(drpc__stream *s);
void drpc__stream_error_locked(
    drpc__stream *s, uint64_t code, const char *text, size_t len);

#endif // DRPC_STREAM_STREAM_IMPL_H
