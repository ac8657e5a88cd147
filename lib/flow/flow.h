// drpc__flow: the receive side of flow control (docs/design.md §9).
//
// Per stream, four byte counts define everything:
//   W  the window: how far ahead of the application the peer may send,
//   L  the credit given so far (W, the implicit initial credit, plus every
//      grant sent),
//   R  what the peer has sent (each Message's body plus the per-message
//      charge the peer was asked for),
//   C  what the application has consumed.
// The peer may start a Message while R < L. Grants restore L to C + W once
// the application has freed a quarter of the window (or at once when the
// peer has used up its credit), so
// what a stream holds, R - C, stays under W plus one message (a Message
// that starts with too little credit is sent whole: an overdraw).
//
// The connection has the same four counts over every Message frame of
// every stream (a libdrpc extension: grants on stream 0, see
// docs/protocol.md §13). Bytes count as consumed at the connection level
// when the application is done with them and also when they are dropped:
// a frame of an ended stream, a stream's queue discarded at its end, a
// half-built packet abandoned. So the connection window bounds what all
// streams hold together, and idle streams' unused credit costs nothing.
//
// Locking: a drpc__flow_rx is guarded by its stream's mutex (but for its
// immutable fields). A
// drpc__flow_conn has its own mu, a leaf below the stream mutexes; the
// grant it computes is sent after mu is released.
#ifndef DRPC_FLOW_FLOW_H
#define DRPC_FLOW_FLOW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

// Defaults (public: drpc_conn_opts, drpc_server_opts).
#define DRPC__FLOW_WINDOW      ((uint64_t) 1 << 20)  // per stream
#define DRPC__FLOW_CONN_WINDOW ((uint64_t) 16 << 20) // per connection
#define DRPC__FLOW_MSG_COST    64 // per Message, asked of libdrpc peers

// drpc__flow_rx is one stream's receive window. window and msg_cost are
// immutable after init (the reader reads msg_cost without the lock); the
// rest is guarded by the stream's mutex.
typedef struct drpc__flow_rx {
	uint64_t window;   // W
	uint64_t msg_cost; // charge per Message the peer was asked for
	uint64_t limit;    // L
	uint64_t received; // R
	uint64_t consumed; // C
	bool     active;   // grants go out (the peer has flow control)
} drpc__flow_rx;

void drpc__flow_rx_init(drpc__flow_rx *rx, uint64_t window, uint64_t cost);

// drpc__flow_rx_grant is the delta to send in a window update now, or 0.
uint64_t drpc__flow_rx_grant(drpc__flow_rx *rx);

// drpc__flow_charge is what a Message of len bytes counts.
uint64_t drpc__flow_charge(const drpc__flow_rx *rx, size_t len);

// drpc__flow_conn is the connection's receive window.
typedef struct drpc__flow_conn {
	pthread_mutex_t mu;
	// Guarded by mu:
	uint64_t window;   // 0 until active
	uint64_t limit;
	uint64_t received;
	uint64_t consumed;
	bool     active; // the peer honours a connection window
} drpc__flow_conn;

void drpc__flow_conn_init(drpc__flow_conn *fc);
void drpc__flow_conn_fini(drpc__flow_conn *fc);

// drpc__flow_conn_activate starts granting on stream 0: the peer was told
// the window (in our hello) and has flow control. Returns the grant owed
// for what was consumed before (0: none), for the caller to send.
uint64_t drpc__flow_conn_activate(drpc__flow_conn *fc, uint64_t window);

// drpc__flow_conn_received counts n bytes of Message frames read.
void drpc__flow_conn_received(drpc__flow_conn *fc, uint64_t n);

// drpc__flow_conn_consumed counts n bytes gone from memory (used or
// dropped) and returns the stream-0 grant to send now, or 0.
uint64_t drpc__flow_conn_consumed(drpc__flow_conn *fc, uint64_t n);

// drpc__flow_conn_held is R - C: what the connection's streams hold.
uint64_t drpc__flow_conn_held(drpc__flow_conn *fc);

// drpc__rxmem is the memory a connection holds of what its peer sent,
// counted whatever the flow mode (docs/design.md §8): the bytes of
// half-built packets in the streams' assemblers, and every queued message
// as its length plus DRPC__RXMEM_MSG (its slot and the allocator's
// overhead). The reader thread is the only one that takes (and it checks
// drpc__rxmem_fits first, so what is held never exceeds limit); anyone
// gives back (a consumer done with a message, a queue dropped, a stream
// freed). Two counters keep the hot path cheap: taken is written by the
// reader alone (a plain store, read by others for statistics), given is
// added to atomically by the others; held is taken - given.
#define DRPC__RXMEM_MSG     64
#define DRPC__RXMEM_STRIKES 16 // streams ended for it before the connection

typedef struct drpc__rxmem {
	_Atomic int64_t taken;   // the reader thread writes it
	_Atomic int64_t given;   // anyone adds to it
	int64_t         limit;   // immutable
	unsigned        strikes; // the reader thread's: streams ended for it
	atomic_bool     waiting; // the reader sleeps in drpc__rxmem_wait
	pthread_mutex_t mu;      // with cv, for drpc__rxmem_wait
	pthread_cond_t  cv;
	bool            stopped; // guarded by mu: drpc__rxmem_stop ran
} drpc__rxmem;

void drpc__rxmem_init(drpc__rxmem *m, uint64_t limit);
void drpc__rxmem_fini(drpc__rxmem *m);

// drpc__rxmem_wait waits (reader thread) until n more bytes fit: DRPC_OK;
// or until the monotonic deadline_ns (0: none): DRPC_ETIMEDOUT; or
// drpc__rxmem_stop: DRPC_ECLOSED. Without flow control a full account
// makes the reader wait for consumers, as a full ring does.
drpc_err drpc__rxmem_wait(drpc__rxmem *m, uint64_t n, int64_t deadline_ns);

// drpc__rxmem_stop wakes a waiter for good (the connection ends).
void drpc__rxmem_stop(drpc__rxmem *m);

// drpc__rxmem_fits tells whether n more bytes stay within the limit
// (reader thread).
bool drpc__rxmem_fits(const drpc__rxmem *m, uint64_t n);

// drpc__rxmem_take counts n bytes more, or gives n back if negative
// (reader thread only).
void drpc__rxmem_take(drpc__rxmem *m, int64_t n);

// drpc__rxmem_give gives n bytes back (any thread), waking the reader if
// it waits for room.
void drpc__rxmem_give(drpc__rxmem *m, int64_t n);

// drpc__rxmem_held is what is held now.
int64_t drpc__rxmem_held(const drpc__rxmem *m);

#endif // DRPC_FLOW_FLOW_H
