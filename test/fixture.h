// The public-API fixture: a drpc_server serving a table of common test
// handlers and the test's own, over loopback TCP or TLS, a unix socket or
// socketpairs, and the clients that call it, all through the public API
// (drpc_server_*, drpc_conn_*, drpc_invoke, drpc_stream_*). A test states
// its intent in a few lines:
//
//	tf f;
//
//	tf_server_start(&f, NULL);            // TCP, default options
//	tf_dial(&f, NULL);                    // f.c
//	DRPC_CHECK_OK(tf_call(&f, TF_ECHO, "hi", NULL));
//	tf_reply_is(&f, "hi");
//	tf_stop(&f);                          // and no thread or fd leaked
//
// The server logs into the fixture (tf_logged, tf_wait_log), unless the
// test's server options set a log of their own.
// The handlers never ck_assert (test/README.md, rule 6): they count and
// signal under f->mu, and the test thread waits (tf_wait_started) and
// checks. Every wait is bounded by tu_bound_ns(TF_WAIT_NS): a failure
// bound, never a synchronisation.
#ifndef DRPC_TEST_FIXTURE_H
#define DRPC_TEST_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "server/hooks.h"
#include "testutil.h"

// TF_WAIT_NS bounds every wait of the fixture (times tu_scale()), the
// graceful shutdown of tf_stop included.
#define TF_WAIT_NS (30 * 1000000000ll)

// The default handler table, registered by tf_server_start with the
// fixture as every handler's user pointer.
//
// TF_ECHO  answers the one request it reads with the same bytes.
// TF_COUNT reads a decimal N and sends N messages "0" .. "N-1".
// TF_FAIL  reads a decimal code: 1..16 returns it as a drpc_err; above
//          16 sets it as an application error with the text "custom".
// TF_SLEEP reads a number of milliseconds, counts itself started, then
//          waits that long or until the call ends, and answers "slept".
// TF_BLOCK reads its request, counts itself started, and holds its
//          stream until tf_gate_open (or the bound passes: a failed test
//          leaves no thread behind); then answers "done".
#define TF_ECHO  "/t.S/Echo"
#define TF_COUNT "/t.S/Count"
#define TF_FAIL  "/t.S/Fail"
#define TF_SLEEP "/t.S/Sleep"
#define TF_BLOCK "/t.S/Block"

// tf_h_echo is the Echo handler, for a test that serves it under another
// name (or on a server of its own); user is unused.
drpc_err tf_h_echo(drpc_stream *s, void *user);

// tf_drop_request receives the one request of s and drops it: DRPC_OK,
// or what the receive returned (for a handler that answers something
// else).
drpc_err tf_drop_request(drpc_stream *s);

// tf_read_fd is a drpc__read_fn (wire/reader.h) over the socket *arg (an
// int), for a test that reads what a server sent frame by frame: it
// waits for bytes at most for the bound (DRPC_ETIMEDOUT), and says
// DRPC_ECLOSED for a reset connection, DRPC_EIO for another failure.
drpc_err tf_read_fd(void *arg, uint8_t *buf, size_t cap, size_t *n);

// Where the server listens.
typedef enum tf_net {
	TF_TCP = 0, // loopback TCP, a port the kernel picks
	TF_UNIX,    // a unix socket in /tmp named after the process (one
	            // such fixture at a time), removed by tf_free
	TF_TLS,     // loopback TLS: server->tls is the server's config, and
	            // tf_connect's co must carry the client's
	TF_PAIR,    // no listener: each tf_connect serves one end of a
	            // socketpair and returns a client on the other
} tf_net;

// A handler of the test's own: fn serves name with user.
typedef struct tf_method {
	const char     *name;
	drpc_handler_fn fn;
	void           *user;
} tf_method;

typedef struct tf_opts {
	tf_net                    net;
	const drpc_server_opts   *server; // NULL: defaults
	const drpc__server_hooks *hooks;  // test hooks, set before listening
	// The test's own handlers, registered after the default table and
	// before the server gets the mux (read-only from then on: see
	// drpc/server.h): nmethods rows of methods, then setup(setup_arg,
	// mux) if set, for what registers itself (a generated service).
	const tf_method *methods;
	size_t           nmethods;
	void (*setup)(void *setup_arg, drpc_mux *m);
	void *setup_arg;
} tf_opts;

#define TF_LOG_KEEP 128
#define TF_REPLY    1024

typedef struct tf {
	drpc_mux    *mux;
	drpc_server *srv;
	drpc_conn   *c;         // tf_dial's client; tf_free destroys it
	char         addr[300]; // the address to dial; "" for TF_PAIR
	char         path[128]; // TF_UNIX: the socket's file
	tf_net       net;
	tu_leak      leak; // thread and fd counts before the server started

	// The last tf_call's reply (NUL-terminated, cut to TF_REPLY - 1
	// bytes) and its whole length. The test thread's only.
	char   reply[TF_REPLY];
	size_t reply_len;

	pthread_mutex_t mu;
	pthread_cond_t  cv;
	// Guarded by mu:
	size_t started;                 // Sleep and Block handlers started
	bool   open;                    // Block handlers may return
	char   lines[TF_LOG_KEEP][320]; // the first TF_LOG_KEEP lines logged
	drpc_log_level levels[TF_LOG_KEEP];
	size_t         nlines; // lines logged in all
} tf;

// tf_server_start creates the mux with the default handler table and
// o's, the server with o->server (o may be NULL for all defaults) and
// starts it listening (but on TF_PAIR); f->addr is then its address.
// Fails the test on any error.
void tf_server_start(tf *f, const tf_opts *o);

// tf_connect returns a new client connection to the server with co (may
// be NULL): dialled, or over a socketpair on TF_PAIR.
// The caller destroys it (before tf_free, for the leak check).
drpc_conn *tf_connect(tf *f, const drpc_conn_opts *co);

// tf_serve_peer serves one end of a new socketpair and returns the
// other, for a test that plays the client byte by byte (any net). The
// caller closes it (before tf_free, for the leak check).
int tf_serve_peer(tf *f);

// tf_dial is tf_connect kept in f->c, which tf_free destroys.
drpc_conn *tf_dial(tf *f, const drpc_conn_opts *co);

// tf_call invokes method on f->c with req (a C string, NULL for an empty
// request), keeps the reply in f->reply and f->reply_len (both cleared
// on failure) and returns the call's result; st (may be NULL) gets its
// status, to be reset by the caller. tf_call_opts is tf_call with the
// call's options o (may be NULL).
drpc_err tf_call(tf *f, const char *method, const char *req, drpc_status *st);
drpc_err tf_call_opts(tf *f, const char *method, const char *req,
    const drpc_call_opts *o, drpc_status *st);

// tf_reply_is fails the test unless the last reply is exactly want (at
// most TF_REPLY - 1 bytes).
void tf_reply_is(tf *f, const char *want);

// tf_wait_started waits until n Sleep or Block handlers have started,
// failing the test if they do not within the bound.
void tf_wait_started(tf *f, size_t n);

// tf_wait_started_or_log waits until n Sleep or Block handlers have
// started or a line containing stop (may be NULL) is logged, at most for
// the bound, and returns how many have started (it never fails the test).
size_t tf_wait_started_or_log(tf *f, size_t n, const char *stop);

// tf_gate_open lets every Block handler, now and later, answer.
void tf_gate_open(tf *f);

// tf_logged tells whether a line containing text has been logged (it
// fails the test rather than say no when lines past the first
// TF_LOG_KEEP were dropped);
// tf_wait_log waits (bounded) until one has, false if none ever comes,
// and sets *level (may be NULL) to that line's level.
bool tf_logged(tf *f, const char *text);
bool tf_wait_log(tf *f, const char *text, drpc_log_level *level);

// tf_log_count is how many lines of level were logged so far (among the
// first TF_LOG_KEEP, which are kept); tf_log_line copies the i-th of them
// (from 0) into out, "" if there is none, and returns out.
size_t      tf_log_count(tf *f, drpc_log_level level);
const char *tf_log_line(
    tf *f, drpc_log_level level, size_t i, char *out, size_t cap);

// tf_stop destroys f->c, opens the gate, shuts the server down gracefully
// (every handler finishes within the bound) and frees the fixture (tf_free).
void tf_stop(tf *f);

// tf_free destroys f->c, the server (shut down already, or at once) and
// the mux, removes the unix socket, and checks that no thread or fd was
// left behind since tf_server_start.
void tf_free(tf *f);

// tf_gather lets handlers prove they run at once: each one that calls
// tf_gather_wait is inside until want of them have been inside together.
typedef struct tf_gather {
	tu_sync sync;
	int     inside; // guarded by sync: handlers inside tf_gather_wait
	int     most;   // the most ever inside at once
} tf_gather;

void tf_gather_init(tf_gather *g);
void tf_gather_fini(tf_gather *g);

// tf_gather_wait counts the calling handler inside g and waits until
// want handlers have been inside at once, at most tu_bound_ns(bound_ns)
// (the handlers never ck_assert); returns whether they have.
bool tf_gather_wait(tf_gather *g, int want, int64_t bound_ns);

#endif // DRPC_TEST_FIXTURE_H
