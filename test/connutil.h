// Test fixtures for the connection core: a client and a server connection
// joined by a socketpair, a server that runs a test handler on a thread per
// RPC, and a connection whose peer is the test (tu_raw: its bytes are
// scripted with rawpeer.h). Resource accounting is resources.h's.
#ifndef DRPC_TEST_CONNUTIL_H
#define DRPC_TEST_CONNUTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/conn.h"
#include "rawpeer.h"
#include "resources.h"
#include "testutil.h"
#include "wire/reader.h"

// TU_WAIT_NS bounds every wait of these fixtures for an event (a handler
// starting, a frame arriving, a connection ending), times tu_scale()
// (testutil.h). It is a failure bound, never a synchronisation.
#define TU_WAIT_NS (10 * 1000000000ll)

// tu_deadline is the monotonic time TU_WAIT_NS (scaled) from now.
int64_t tu_deadline(void);

// tu_event: a count with a condition variable, a test's way to wait for
// something to happen (a hook ran, a handler started) without sleeping.
// tu_event_post counts one occurrence (it takes only the event's own
// mutex, so hooks that run under library locks may call it);
// tu_event_wait waits until n have happened, false if they never do (by
// tu_deadline()).
typedef struct tu_event {
	tu_sync sync;
	size_t  n; // guarded by sync
} tu_event;

void tu_event_init(tu_event *e);
void tu_event_fini(tu_event *e);
void tu_event_post(tu_event *e);
bool tu_event_wait(tu_event *e, int n);

// A handler runs on its own thread with the server stream; its result, if
// not DRPC_OK, is recorded in the pair's handler_errs.
typedef drpc_err (*tu_handler)(void *arg, drpc__stream *s, const char *name,
    const drpc__md *md);

#define TU_MAX_HANDLERS 4096

typedef struct tu_pair {
	drpc__conn *cli;
	drpc__conn *srv;
	tu_handler  handler;
	void       *arg;

	pthread_mutex_t mu;
	pthread_cond_t  cv;
	pthread_t       threads[TU_MAX_HANDLERS]; // guarded by mu
	size_t          nthreads;
	size_t          started;
	size_t          finished;
	drpc_err        last_handler_err;
	drpc_ctx       *last_ctx_seen_deadline; // unused by most tests
} tu_pair;

// tu_pair_open connects a client and a server conn over a socketpair.
// Either opts may be NULL for defaults.
void tu_pair_open(tu_pair *p, tu_handler h, void *arg,
    const drpc__conn_opts *cli, const drpc__conn_opts *srv);

// tu_pair_open_tcp is tu_pair_open over loopback TCP.
void tu_pair_open_tcp(tu_pair *p, tu_handler h, void *arg,
    const drpc__conn_opts *cli, const drpc__conn_opts *srv);

// tu_tcp_pair makes a connected pair of loopback TCP sockets.
void tu_tcp_pair(int sv[2]);

// tu_pair_wait_started waits until n handlers have started (TU_WAIT_NS).
void tu_pair_wait_started(tu_pair *p, size_t n);

// tu_pair_close destroys both conns and joins every handler thread.
void tu_pair_close(tu_pair *p);

// tu_server_opts fills o with a server configuration running p's handler.
void tu_server_opts(drpc__conn_opts *o, tu_pair *p);

// A raw peer: one end of a socketpair is a drpc conn, the test holds the
// other end. peer is that end as rawpeer.h scripts it (rp_send(&r.peer,
// ...), rp_expect(&r.peer, ...)); fd and fr name the same two fields (a
// union of structs with one common initial sequence), for the tests that
// set a raw peer up by hand.
typedef struct tu_raw {
	drpc__conn *conn;
	union {
		rp_peer peer;
		struct {
			int                fd;
			drpc__frame_reader fr;
		};
	};
} tu_raw;

// tu_raw_open makes r->conn from o, with flow control off unless o asks
// for it: the test plays a plain DRPC peer byte by byte, and the hello an
// automatic conn sends would only shift the message ids it expects
// (flow control against plain peers is check_flow.c's).
void tu_raw_open(tu_raw *r, const drpc__conn_opts *o);

// tu_raw_open_as is tu_raw_open keeping o's flow mode as it is (an
// automatic multiplexing mode becomes "on": see tu_raw_open_exact).
void tu_raw_open_as(tu_raw *r, const drpc__conn_opts *o);

// tu_raw_open_exact is tu_raw_open with o exactly as given.
void tu_raw_open_exact(tu_raw *r, const drpc__conn_opts *o);

// tu_plain copies o into out with an automatic flow mode turned off and an
// automatic multiplexing mode on (a raw peer never answers a hello).
const drpc__conn_opts *tu_plain(const drpc__conn_opts *o, drpc__conn_opts *out);

// tu_raw_write, _hex, _send and _next are rp_write, rp_hex, rp_send and
// rp_next (rawpeer.h) on r->peer.
void     tu_raw_write(tu_raw *r, const void *bytes, size_t n);
void     tu_raw_hex(tu_raw *r, const char *hex);
void     tu_raw_send(tu_raw *r, uint8_t kind, bool control, uint64_t sid,
        uint64_t mid, const void *body, size_t len);
drpc_err tu_raw_next(tu_raw *r, drpc__frame *f);

// tu_raw_close destroys the conn and closes the peer's end.
void tu_raw_close(tu_raw *r);

// Test transports: drpc_transport_ops over a socket that a test wraps to
// fail, stall or count on cue. tu_fd_read reads once into buf (*n bytes,
// 0 at the end), tu_fd_writev writes all of iov (MSG_NOSIGNAL); both
// retry EINTR, and return fail if the socket fails.
drpc_err tu_fd_read(int fd, void *buf, size_t cap, size_t *n, drpc_err fail);
drpc_err tu_fd_writev(int fd, const drpc_iovec *iov, size_t n, drpc_err fail);

// tu_wait_conn_err waits (up to TU_WAIT_NS) until c has terminated;
// returns why.
drpc_err tu_wait_conn_err(drpc__conn *c);

// tu_echo_all is a tu_handler that echoes every message back, then sends
// CloseSend once the client has finished sending.
drpc_err tu_echo_all(
    void *arg, drpc__stream *s, const char *name, const drpc__md *md);

// tu_recv_is receives one message on s and checks it is want.
void tu_recv_is(drpc__stream *s, const char *want);

// tu_open_simple opens a client stream for name with an optional message.
drpc_err tu_open(drpc__conn *c, drpc_ctx *ctx, const char *name,
    const void *msg, size_t len, bool close_send, drpc__stream **sp);

// tu_open_timeout is tu_open under a new context (*ctx, the caller's to
// destroy) whose deadline is ms from now. An open whose deadline has
// already passed (the thread stalled) fails at once, writing nothing; it
// is then tried again with twice the time, so that a test of what happens
// when a deadline passes never fails the open itself. It may take a
// stream id each try.
drpc_err tu_open_timeout(drpc__conn *c, int64_t ms, drpc_ctx **ctx,
    const char *name, const void *msg, size_t len, bool close_send,
    drpc__stream **sp);

// Threads blocked in recv. They never call ck_assert: each records how its
// receive loop ended (rv) and how many messages came first (msgs); the
// test thread checks after joining. recv is one receive: tu_recv_internal
// (the core's statuses) or tu_recv_public (drpc_stream_recv's).
typedef drpc_err (*tu_recv_fn)(drpc__stream *s);

drpc_err tu_recv_internal(drpc__stream *s);
drpc_err tu_recv_public(drpc__stream *s);

#define TU_MAX_RECVS 128

typedef struct tu_recv_job {
	drpc__stream      *s;
	pthread_barrier_t *bar;
	tu_recv_fn         recv;
	pthread_t          t;
	size_t             msgs;
	drpc_err           rv;
} tu_recv_job;

typedef struct tu_recv_group {
	pthread_barrier_t bar;
	tu_recv_job       jobs[TU_MAX_RECVS];
	size_t            n;
} tu_recv_group;

// tu_recvs_start starts one receiving thread per stream and returns once
// every one is about to call recv (one still on its way in gets the same
// answer, so outcomes do not depend on timing). tu_recvs_join joins them
// and checks every loop ended with want.
void tu_recvs_start(
    tu_recv_group *g, drpc__stream **s, size_t n, tu_recv_fn recv);
void tu_recvs_join(tu_recv_group *g, drpc_err want);

#endif // DRPC_TEST_CONNUTIL_H
