// The channel's objects, shared by channel.c (creation, destruction,
// names), backend.c (each backend's thread: dial, backoff, liveness) and
// pick.c (calls: picking a backend, waiting for one).
//
// Locking: one mutex per channel (mu) guards everything mutable below,
// for every backend and connection of the channel. It is a leaf with
// respect to the library's own locks except a connection's mu (taken by
// drpc__conn_active, itself a leaf): nothing that may end a connection,
// wait for the peer or take a context's lock runs with it held
// (drpc__conn_open, drpc_conn_destroy, drpc__conn_keepalive, dials,
// drpc__ctx_listen), because the connection's end hook and a context's
// listener take it (lock order: context mu, then channel mu).
#ifndef DRPC_CHANNEL_CHANNEL_IMPL_H
#define DRPC_CHANNEL_CHANNEL_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/channel.h>

#include "channel/channel.h"
#include "transport/addr.h"

#define CHAN_DEFAULT_BACKOFF_INITIAL_MS 1000
#define CHAN_DEFAULT_BACKOFF_MULT       1.6
#define CHAN_DEFAULT_BACKOFF_MAX_MS     120000
#define CHAN_DEFAULT_JITTER             0.2
#define CHAN_DEFAULT_PING_INTERVAL_MS   30000
#define CHAN_DEFAULT_PING_TIMEOUT_MS    20000
#define CHAN_DEFAULT_MAX_BACKENDS       64
#define CHAN_DEFAULT_DIAL_TIMEOUT_MS    10000
// CHAN_RETIRED_POLL_NS: how often a backend looks at connections it
// retired that may end without telling it (their last stream's end is
// not signalled): a removed address's connection, closed once idle.
#define CHAN_RETIRED_POLL_NS 1000000000ll

typedef struct chan_backend chan_backend;

// CHAN_CONN_RETIRED: chan_conn.users' flag for a retired connection.
#define CHAN_CONN_RETIRED 0x80000000u

// One connection of a backend, from its dial to its destruction.
typedef struct chan_conn {
	drpc_conn    *cc; // immutable once listed
	chan_backend *b;  // immutable
	// users: threads using it right now (opens, the keepalive, destroy),
	// plus CHAN_CONN_RETIRED once it is retired (set under the channel's
	// mu, never cleared). Taken only under the channel's mu (so a reap,
	// deciding under mu, never races with a new user); released anywhere,
	// and whoever releases the last one of a retired connection (one
	// atomic step tells both: the connection may be gone right after)
	// wakes the backends (chan_conn_release).
	atomic_uint users;
	// Guarded by the channel's mu:
	bool              ended;    // its end hook ran
	bool              draining; // the server sent GOAWAY, or an open
	                            // found it unusable
	bool              closed;   // closing: its backend closed it
	struct chan_conn *next;     // in b->retired
} chan_conn;

typedef enum chan_bstate {
	CHAN_B_IDLE       = 0, // not wanted: not dialing
	CHAN_B_CONNECTING = 1, // dialing, or waiting to redial
	CHAN_B_READY      = 2, // cur takes calls
} chan_bstate;

struct chan_backend {
	drpc_channel *ch;                   // immutable
	char          addr[DRPC__ADDR_MAX]; // immutable
	char          host[256]; // immutable: the target's host, for TLS
	pthread_t     t;                    // joined by destroy or a reap
	pthread_cond_t cv; // its thread waits here, under the channel's mu
	// Guarded by the channel's mu:
	chan_bstate   state;
	bool          failing;  // failed since it was last ready (or made)
	bool          removed;  // no longer resolved: its thread winds down
	bool          exited;   // its thread has returned (join it)
	unsigned      attempts; // failed attempts in a row
	// flaps: connections in a row that broke before their peer sent a
	// frame (a server that accepts and closes): each is a failed attempt.
	unsigned      flaps;
	bool          resolve;  // resolve the names before the next dial
	int64_t       retry_at; // no dial before this (drpc__now_ns time)
	chan_conn    *cur;      // READY: where calls go
	chan_conn    *retired;  // broken, draining or removed connections
	chan_backend *next;
};

struct drpc_channel {
	// Immutable after create.
	drpc_channel_opts opts;   // with every default filled in
	drpc_conn_opts    copts;  // what each connection is created with
	drpc_conn_hooks   conn_hooks; // copts.conn_hooks points here (a copy)
	char            **targets; // the comma-separated parts of the target
	size_t            ntargets;
	drpc_conn        *view;    // the call handle
	int               cancel_fd[2]; // a pipe: readable once destroy began
	int64_t           ping_interval_ns; // 0: no pings
	int64_t           ping_timeout_ns;

	// opens: threads inside drpc__channel_open or wait_ready (atomic:
	// a call takes the channel's lock once, to pick), plus one for the
	// channel itself, which destroy drops: whoever takes opens to 0 is
	// the last one out after destroy began, and sets left (under mu)
	// for destroy, touching the channel no more after that. closing_a
	// mirrors closing for the opens.
	atomic_size_t opens;
	atomic_bool   closing_a;

	pthread_mutex_t mu;
	pthread_cond_t  ready_cv; // calls waiting for a ready backend
	pthread_cond_t  done_cv;  // destroy waits for opens to leave
	// Guarded by mu:
	chan_backend       *backends;
	size_t              nbackends; // listed, removed ones included
	bool                wanted;    // dialing has begun (eager, or used)
	bool                closing;   // destroy began
	bool                cancelled; // ...and cancelled every stream
	bool                left;      // opens reached 0 (destroy may free)
	uint64_t            rr;        // round-robin cursor
	chan_backend       *chosen;    // pick-first: the backend dialed
	uint64_t            rng;       // the jitter's generator state
	drpc_cause          last;      // the last connection error
	drpc__channel_hooks hooks;
};

// channel.c
// chan_refresh resolves the targets again and brings the backend list up
// to date: new addresses get a backend (and a thread), vanished ones are
// marked removed. Called without mu.
void chan_refresh(drpc_channel *ch);
// chan_set_last records why a connection failed (mu held).
void chan_set_last_locked(drpc_channel *ch, const drpc_cause *why);
// chan_wanted_locked tells whether b should be connected now.
bool chan_wanted_locked(const drpc_channel *ch, const chan_backend *b);
// chan_start_locked marks the channel wanted and wakes the backends
// that now should dial (mu held).
void chan_start_locked(drpc_channel *ch);

// backend.c
// chan_backend_new makes a backend for addr and starts its thread.
// host: the name TLS verifies (the target's host; "" for none).
drpc_err chan_backend_new(drpc_channel *ch, const char *addr, const char *host,
    chan_backend **bp);
// chan_usable_locked: cn takes new calls.
bool chan_usable_locked(const chan_conn *cn);
// chan_conn_release drops a user of cn (mu not held; the caller is
// inside ch->opens, so the channel stays). cn may be gone once it returns.
void chan_conn_release(chan_conn *cn);
// chan_leave drops the caller's place in ch->opens (mu not held); the
// caller must not touch ch afterwards. chan_left_locked: the same, mu
// held.
void chan_leave(drpc_channel *ch);
void chan_left_locked(drpc_channel *ch);

#endif // DRPC_CHANNEL_CHANNEL_IMPL_H
