// Hostile peers (issue 14): the fixtures of test/check_hostile*.c.
//
// The server under attack is `drpc-interop serve` in a child process, so
// that its memory, threads and file descriptors can be read from /proc
// apart from the test's own. Attackers are raw sockets in the test
// process that write frames byte for byte; a well-behaved libdrpc client
// beside them must be served throughout. Every figure an attack is judged
// by is computed here, in one place, from the library's defaults and the
// per-connection formula of docs/design.md §8.
//
// Nothing here calls ck_assert from a thread other than the test's own.
#ifndef DRPC_TEST_HOSTILE_H
#define DRPC_TEST_HOSTILE_H

#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <drpc/drpc.h>

#include "common/buf.h"
#include "rawpeer.h"
#include "resources.h"
#include "testutil.h"
#include "wire/frame.h"

#define HOSTILE_KIB ((size_t) 1 << 10)
#define HOSTILE_MIB ((size_t) 1 << 20)

// The defaults every bound below derives from (include/drpc/conn.h,
// server.h; the issue-14 plan): M the largest message, W and WC the
// stream and connection windows, L the writer's limit, F the split size,
// S the streams per connection, H the handlers per server, I the largest
// invoke (name plus metadata, decoded), P all half-received invokes of a
// connection together, T the longest Error text sent.
#define HOSTILE_M  (4 * HOSTILE_MIB)
#define HOSTILE_W  (1 * HOSTILE_MIB)
#define HOSTILE_WC (16 * HOSTILE_MIB)
#define HOSTILE_L  (4 * HOSTILE_MIB)
#define HOSTILE_F  (64 * HOSTILE_KIB)
#define HOSTILE_S  ((size_t) 256)
#define HOSTILE_H  ((size_t) 1024)
#define HOSTILE_I  (64 * HOSTILE_KIB)
#define HOSTILE_P  (1 * HOSTILE_MIB)
#define HOSTILE_T  (16 * HOSTILE_KIB)

// The server's idle handler workers (drpc_server_opts.idle_workers'
// default): hostile_begin starts that many so that the thread count the
// server rests at is the same before and after any attack.
#define HOSTILE_IDLE_WORKERS 16

// The sanitizer builds run the child sanitized too: its RSS measures the
// runtime (shadow memory, quarantine, per-thread state), not the library,
// so RSS bounds apply only where neither runtime is in (valgrind runs the
// release child natively, so they apply there).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HOSTILE_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HOSTILE_SANITIZER 1
#endif
#endif
#ifdef HOSTILE_SANITIZER
#define HOSTILE_RSS_CHECKED false
#else
#define HOSTILE_RSS_CHECKED true
#endif

// hostile_conn_bound is the documented bound on what one connection may
// make the server hold, whatever its peer sends (docs/design.md §8):
// received messages, half-received invokes, the reader's buffer, outgoing
// frames, and its streams, in bytes.
size_t hostile_conn_bound(void);

// hostile_rss_bound is the RSS growth allowed while busy connections (any
// state) and idle ones (nothing in flight: at rest) are open to the
// server and handlers handler threads run: the documented bounds plus the
// slack justified in hostile.c (thread stacks, the allocator's arenas).
size_t hostile_rss_bound(size_t busy, size_t idle, size_t handlers);

// hostile_scaled is n divided by tu_scale() (the sanitizer and valgrind
// runs), but never below min: attacks stay large enough to exceed their
// bound in every build.
uint64_t hostile_scaled(uint64_t n, uint64_t min);

// hostile_raise_nofile raises this process's soft fd limit to its hard
// limit (the server child inherits it) and returns the new soft limit.
size_t hostile_raise_nofile(void);

// The server child.

typedef struct hostile_server {
	pid_t    pid;      // 0 once reaped
	int      out;      // the child's stdout, read for its address
	char     addr[96]; // "tcp://127.0.0.1:PORT"
	uint16_t port;
	int      status; // waitpid's, once reaped
} hostile_server;

// hostile_server_start runs `drpc-interop serve tcp://127.0.0.1:0` plus
// flags (NULL-terminated, may be NULL), from the build folder of this
// test binary, and reads the address it bound. The child dies with the
// test process (PR_SET_PDEATHSIG), so a failed test never leaves it.
void hostile_server_start(hostile_server *hs, const char *const *flags);

// hostile_server_alive is true while the child runs.
bool hostile_server_alive(hostile_server *hs);

// hostile_server_stop sends SIGTERM and reaps the child (SIGKILL if it
// has not exited within the wait bound); returns true if it exited by
// itself with status 0 (a sanitizer report makes it fail).
bool hostile_server_stop(hostile_server *hs);

// hostile_kill_children kills and reaps every drpc-interop child this
// process still has: the teardown of a test that failed in CK_FORK=no
// mode, where the test process lives on.
void hostile_kill_children(void);

// The well-behaved client: a libdrpc connection with default options.

typedef struct hostile_good {
	drpc_conn *c;
	int        calls;  // unary calls made
	int        served; // ...answered with the exact echo
	drpc_err   last;   // the last failure, DRPC_OK if none
} hostile_good;

void hostile_good_open(hostile_good *g, const char *addr);
// hostile_good_call makes one unary call (Unary, echoing 1 KiB) with a
// deadline of the wait bound; true if it was answered exactly.
bool hostile_good_call(hostile_good *g);
void hostile_good_close(hostile_good *g);

// One attack's run: the server, the good client, and the measurements.
typedef struct hostile_run {
	const char    *attack;
	char           params[200];
	char           outcome[240];
	hostile_server srv;
	hostile_good   good;
	tu_sample      base;      // after the warm-up
	tu_sample      peak;      // the largest figures seen during the attack
	tu_sample      after;     // once the attacker has gone
	size_t         bound_kib; // allowed RSS growth
	int64_t        start_ns;  // the attack's start (after the baseline)
	int64_t        during_ns; // hostile_during's
	int64_t        back_ns;   // the counts came back
	size_t         handlers_peak;
	bool           good_during;
	bool           good_after;
	// refusal_ok: the attack fills the server's cap on handlers, so the
	// good client's call during it may be refused with ResourceExhausted
	// (by design); it must still be served after.
	bool refusal_ok;
	bool refused_during;
	bool back; // threads and fds back to the baseline
	bool alive;
	bool clean_exit;
} hostile_run;

// hostile_begin starts the server (flags as hostile_server_start), the
// good client, warms the server up (one call, then HOSTILE_IDLE_WORKERS
// handlers at once, so its pool of idle workers is full) and takes the
// baseline.
void hostile_begin(
    hostile_run *r, const char *attack, const char *const *flags);

// hostile_describe sets what the run is judged by: r->bound_kib, the RSS
// growth allowed (bound_bytes, a hostile_rss_bound), and r->params, the
// attack's figures for the `hostile:` line (printf's fmt and arguments;
// hostile_vdescribe takes them as a va_list).
void hostile_describe(hostile_run *r, size_t bound_bytes, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hostile_vdescribe(hostile_run *r, size_t bound_bytes, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

// hostile_poll samples the server into r->peak (cheap; attacks call it as
// they go).
void hostile_poll(hostile_run *r);

// hostile_during samples the server while the attack holds what it took
// and makes a unary call on the good client.
void hostile_during(hostile_run *r);

// hostile_wait_back waits (within the wait bound) until the server's
// threads and fds are back at the baseline; false if they never are.
bool hostile_wait_back(hostile_run *r);

// hostile_finish is called once the attacker has gone: it waits for the
// server's threads and fds to return to the baseline (polling within the
// wait bound), samples, makes a last good call, checks the server is
// alive, stops it, prints the line `hostile: ...` to stderr and asserts:
// the good client served during and after, the counts back, a clean exit,
// and (outside the sanitizer builds) the peak RSS growth under
// r->bound_kib. Attack-specific outcomes are asserted by the test after.
void hostile_finish(hostile_run *r);

// Raw frames: rawpeer.h builds them (rp_frame, rp_packet and rp_unary
// with a split of HOSTILE_F, rp_hello, rp_window).

// Interop requests, encoded: Msg{payload: len bytes of fill},
// SleepRequest{millis}, FailRequest{code, message: len bytes of 'x'}.
void hostile_msg(drpc__buf *b, size_t len, uint8_t fill);
void hostile_sleep_req(drpc__buf *b, int32_t millis);
void hostile_fail_req(drpc__buf *b, uint64_t code, size_t len);

// hostile_md_entry appends one InvokeMetadata map entry (protocol.md
// §5.5): key, and a value of vlen bytes of fill.
void hostile_md_entry(drpc__buf *b, const char *key, size_t vlen, uint8_t fill);

#define HOSTILE_UNARY  "/interop.Echo/Unary"
#define HOSTILE_SLEEP  "/interop.Echo/Sleep"
#define HOSTILE_FAIL   "/interop.Echo/Fail"
#define HOSTILE_BIDI   "/interop.Echo/Bidi"
#define HOSTILE_STREAM "/interop.Echo/ServerStream"

// Raw attackers.

// What an attacker read from the server.
typedef struct hostile_stats {
	uint64_t frames;
	uint64_t errors;   // Error packets (single frames)
	uint64_t errors8;  // ...with code 8 (ResourceExhausted)
	uint64_t messages; // Message frames with done set
	uint64_t close_sends;
	uint64_t hellos;
	uint64_t windows;
	size_t   max_error_text; // longest Error text
	uint64_t bytes_in;
	uint64_t bytes_out;
} hostile_stats;

// How a pump ended.
typedef enum hostile_end {
	HOSTILE_DRAINED, // all written, and the server read it all
	HOSTILE_CLOSED,  // the server closed (or reset) the connection
	HOSTILE_STALLED, // the server stopped reading (see hostile_pump)
	HOSTILE_TIMEOUT, // none of those within the wait bound
	HOSTILE_DONE,    // hostile_pump_until: the condition held
} hostile_end;

const char *hostile_end_name(hostile_end e);

typedef struct hostile_peer hostile_peer;

// hostile_gen appends the attack's next piece to out (which the pump has
// written out entirely) and returns whether more pieces follow. Pieces
// should stay within a few MiB: the pump holds one at a time.
typedef bool (*hostile_gen)(void *arg, drpc__buf *out);

// hostile_on_frame sees every frame the server sends (f->data valid for
// the call only).
typedef void (*hostile_on_frame)(void *arg, const drpc__frame *f);

struct hostile_peer {
	int              fd;
	uint16_t         port;     // local port
	uint16_t         srv_port; // the server's
	bool             reads;    // reads what the server sends
	bool             closed;   // the server closed or reset it
	drpc__buf        out;
	size_t           out_off;
	drpc__buf        in;
	hostile_stats    st;
	hostile_on_frame on_frame;
	void            *on_frame_arg;
	hostile_run     *run; // sampled as the pump goes
};

// hostile_dial connects a plain socket to hs (blocking); it fails the
// test only if it cannot (no ck_assert per call: attacks dial by the
// thousand, test/README.md rule 7).
int hostile_dial(const hostile_server *hs);

// hostile_peer_open connects to r's server (reads: whether the pump reads
// what the server sends; a peer that does not read never does).
void hostile_peer_open(hostile_peer *p, hostile_run *r, bool reads);
// hostile_peer_close closes the socket (abortively if unread data is
// left, as a peer that vanishes does) and frees the buffers.
void hostile_peer_close(hostile_peer *p);

// hostile_peer_read reads, without waiting, what the server has sent.
void hostile_peer_read(hostile_peer *p);

// hostile_pump writes what gen produces, reading what the server sends
// if the peer reads, until everything is written and the server has read
// it all (its socket's receive queue and ours are empty: /proc/net/tcp),
// or the server closes the connection. With stop_on_stall it also ends
// once the server has stopped reading: nothing of ours has left either
// queue for a while (HOSTILE_STALL_NS, scaled) though the server's
// receive queue is not empty. A server that is merely slow can only make
// that come early, which shortens the attack (never a false failure: the
// figures and outcomes are then checked on what was sent).
hostile_end hostile_pump(
    hostile_peer *p, hostile_gen gen, void *arg, bool stop_on_stall);

// hostile_pump_until reads (and writes what is left) until cond holds
// (HOSTILE_DONE), the connection closes or the wait bound passes.
hostile_end hostile_pump_until(
    hostile_peer *p, bool (*cond)(const hostile_peer *p, void *arg), void *arg);

// hostile_wait_drained waits until the server has read everything the n
// peers (of one server) wrote, or closed them; returns how many are
// drained or closed (n unless nothing changed for the wait bound).
size_t hostile_wait_drained(hostile_peer *p, size_t n);

// hostile_send_all writes b entirely (blocking, with the wait bound);
// false if the server closed the connection first.
bool hostile_send_all(hostile_peer *p, const drpc__buf *b);

// The rows of check_hostile_conns.c (TCase "conns") and
// check_hostile_client.c (TCase "client") in hostile_suite's table: each
// writes its rows (at most HOSTILE_MAX_ROWS) at rows and returns how many.
#define HOSTILE_MAX_ROWS 16
size_t hostile_conn_tests(tu_test *rows);
size_t hostile_client_tests(tu_test *rows);

#endif // DRPC_TEST_HOSTILE_H
