// drpc__flow: the receive side of flow control (docs/design.md §9).
//
// Per stream, four byte counts define everything:
//   W  the window: how far ahead of the application the peer may send,
//   L  the credit given so far (W, the implicit initial credit, plus every
//      grant sent),
//   R  what the peer has sent (each Message's body plus the per-message
//      charge the peer was asked for),
//   C  what the application has consumed.
// The peer may send while R < L. The stream's exposure, the memory the
// peer can make us hold for it, is X = max(L, R) - C: what is queued or
// being assembled (R - C) plus the credit not yet used (L - R). Grants
// restore L to C + W, so a stream's exposure stays at most W, or one
// message more when the peer overdraws (a message larger than its credit
// is sent whole: see mux/writer.h).
//
// The connection's budget caps the sum of exposures: a grant is sent only
// while the sum stays at or below the budget; a stream that wants credit
// and finds the budget spent waits in a FIFO of starved streams, served
// when another stream's exposure drops. A new stream's initial window is
// implicit on the wire and cannot be refused, so the sum is at most
// max(budget, streams x W) plus overdraws.
//
// Locking: a drpc__flow_rx is guarded by its stream's mutex, except its
// starved-list fields, guarded by the budget's mu (a leaf: taken under a
// stream's mutex, never the other way round). exposed is atomic.
#ifndef DRPC_FLOW_FLOW_H
#define DRPC_FLOW_FLOW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Defaults (public: drpc_conn_opts, drpc_server_opts).
#define DRPC__FLOW_WINDOW   ((uint64_t) 1 << 20)  // per stream
#define DRPC__FLOW_BUDGET   ((uint64_t) 64 << 20) // per connection
#define DRPC__FLOW_MSG_COST 64 // per Message, asked of libdrpc peers

typedef struct drpc__flow_rx drpc__flow_rx;

typedef struct drpc__flow_budget {
	int64_t         limit; // immutable
	atomic_llong    exposed;
	pthread_mutex_t mu;
	// Guarded by mu:
	drpc__flow_rx *head, *tail; // starved streams, oldest first
	atomic_size_t  nstarved;    // written under mu, read without
} drpc__flow_budget;

struct drpc__flow_rx {
	// Guarded by the stream's mutex.
	uint64_t window;   // W
	uint64_t msg_cost; // charge per Message the peer was asked for
	uint64_t limit;    // L
	uint64_t received; // R
	uint64_t consumed; // C
	int64_t  charged;  // the exposure counted in the budget
	bool     active;   // grants go out (the peer has the extension)
	bool     ended;    // released from the budget for good
	// Guarded by the budget's mu.
	bool           starved;
	drpc__flow_rx *prev, *next;
	void          *owner; // the stream, for whoever serves the FIFO
};

void drpc__flow_budget_init(drpc__flow_budget *b, uint64_t limit);
void drpc__flow_budget_fini(drpc__flow_budget *b);

// drpc__flow_rx_init starts a stream's accounting: L = W, R = C = 0, and
// its exposure W counted in the budget.
void drpc__flow_rx_init(drpc__flow_budget *b, drpc__flow_rx *rx,
    uint64_t window, uint64_t msg_cost, void *owner);

// drpc__flow_rx_received counts a Message of len bytes from the peer.
void drpc__flow_rx_received(drpc__flow_budget *b, drpc__flow_rx *rx,
    size_t len);

// drpc__flow_rx_consumed counts a Message of len bytes the application
// has finished with. Returns true if the budget has starved streams that
// may now be served (drpc__flow_budget_pop).
bool drpc__flow_rx_consumed(drpc__flow_budget *b, drpc__flow_rx *rx,
    size_t len);

// drpc__flow_rx_grant is the delta to send in a window update now, or 0:
// a grant goes out once the application has freed a quarter of the
// window, or everything queued; it is taken from the budget, and a stream
// the budget cannot serve joins the starved FIFO. Only while active.
uint64_t drpc__flow_rx_grant(drpc__flow_budget *b, drpc__flow_rx *rx);

// drpc__flow_rx_end releases the stream's exposure (its queue is gone)
// and leaves the FIFO. Returns true if starved streams may now be served.
bool drpc__flow_rx_end(drpc__flow_budget *b, drpc__flow_rx *rx);

// drpc__flow_rx_queued is R - C: bytes queued or assembled, not consumed.
uint64_t drpc__flow_rx_queued(const drpc__flow_rx *rx);

// drpc__flow_budget_pop takes the oldest starved stream off the FIFO if
// the budget has room, and returns its owner, on which hold(owner) was
// called under the budget's lock; NULL if none or no room.
void *drpc__flow_budget_pop(drpc__flow_budget *b, void (*hold)(void *));

// drpc__flow_budget_exposed is the current sum of exposures.
int64_t drpc__flow_budget_exposed(drpc__flow_budget *b);

#endif // DRPC_FLOW_FLOW_H
