// Resource limits under abuse: a peer that opens far more streams than the
// server allows, and connections opened and dropped by the thousand. The
// server must refuse the excess with ResourceExhausted, keep serving other
// connections, keep its memory bounded, and leave no thread or fd behind.
//
// The raw peer speaks bytes: Invoke frames are encoded with the wire layer
// (control byte 0x03 = Invoke, done; docs/protocol.md §3) and the server's
// replies are read with the frame reader.
//
// Set DRPC_TEST_VERBOSE to print the measurements (counts, RSS).
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include <drpc/drpc.h>

#include "common/buf.h"
#include "connutil.h"
#include "fixture.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"
#include "transport/addr.h"
#include "wire/errbody.h"
#include "wire/frame.h"
#include "wire/reader.h"

#define HOLD_METHOD "/t.S/Hold"
#define ECHO_METHOD TF_ECHO
#define WAIT_NS     tu_bound_ns(30 * 1000000000ll)

// The stream flood: FLOOD_STREAMS invokes against a limit of FLOOD_LIMIT
// per connection, written FLOOD_CHUNK at a time.
#define FLOOD_STREAMS 100000
#define FLOOD_LIMIT   1000
#define FLOOD_CHUNK   1000
#define FLOOD_STACK   ((size_t) 64 << 10)
// Bound on the RSS growth while 1000 handlers (64 KiB stacks) hold their
// streams and 99,000 invokes are refused. Measured in a release build:
// about +10 MiB.
#define FLOOD_RSS_MIB 200

// The churn: CHURN_ROUNDS rounds of CHURN_CONNS connections.
#define CHURN_ROUNDS 5
#define CHURN_CONNS  200
// Bound on the RSS growth from the end of round 1 to the end of any later
// round. Measured in a release build: +4 MiB after 5 rounds, flat from
// round 15 on (the allocator's arenas settling, not a leak).
#define CHURN_RSS_MIB 16

// ASan and TSan keep megabytes per thread (TSan about 1 MiB, so 1000
// handlers are 1 GiB of RSS) and ASan keeps freed memory in a 256 MiB
// quarantine: their RSS measures the runtime, not the library. Under them
// the bounds apply to the heap the program holds (measured: +1.5 MiB in
// the flood, the same to the byte after every churn round). Under
// valgrind neither is measurable; its leak check stands in.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LIM_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LIM_SANITIZER 1
#endif
#endif
#ifdef LIM_SANITIZER
#define FLOOD_MEM_MIB 32
#define CHURN_MEM_MIB 1
#else
#define FLOOD_MEM_MIB FLOOD_RSS_MIB
#define CHURN_MEM_MIB CHURN_RSS_MIB
#endif

static bool
verbose(void)
{
	return getenv("DRPC_TEST_VERBOSE") != NULL;
}

// Handlers. A held stream's handler blocks until the stream ends; the
// counters let the test thread wait for them (handlers never ck_assert).

typedef struct holds {
	tu_sync sync;
	// Guarded by sync:
	size_t   started;
	size_t   ended;
	drpc_err last; // what ended the last handler's recv loop
} holds;

static drpc_err
h_hold(drpc_stream *s, void *user)
{
	holds   *h = user;
	void    *data;
	size_t   len;
	drpc_err rv;

	tu_sync_add(&h->sync, &h->started, 1);
	while ((rv = drpc_stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc_free(data);
	}
	tu_sync_lock(&h->sync);
	h->ended++;
	h->last = rv;
	tu_sync_unlock_broadcast(&h->sync);
	return rv;
}

// holds_wait waits until *count (guarded by h->sync) reaches n or WAIT_NS
// pass, and returns it.
static size_t
holds_wait(holds *h, const size_t *count, size_t n)
{
	return tu_sync_wait(&h->sync, count, n, 30 * 1000000000ll);
}

// The server under test: the fixture's (fixture.h), with Hold.
typedef struct lim_server {
	tf    t;
	holds h;
} lim_server;

static void
lim_start(lim_server *ls, const drpc_server_opts *o)
{
	tf_method hold = {HOLD_METHOD, h_hold, &ls->h};
	tf_opts   to   = {.server = o, .methods = &hold, .nmethods = 1};

	memset(&ls->h, 0, sizeof(ls->h));
	tu_sync_init(&ls->h.sync);
	tf_server_start(&ls->t, &to);
}

static void
lim_stop(lim_server *ls)
{
	tf_stop(&ls->t);
	tu_sync_fini(&ls->h.sync);
}

// Measurements.

#ifdef LIM_SANITIZER
// From the sanitizer runtime (<sanitizer/allocator_interface.h>, which
// gcc 12 does not ship): bytes the program has allocated and not freed.
size_t __sanitizer_get_current_allocated_bytes(void);

#define MEM_WHAT "heap in use"

static size_t
mem_kib(void)
{
	return __sanitizer_get_current_allocated_bytes() / 1024;
}
#else
#define MEM_WHAT "RSS"

static size_t
mem_kib(void)
{
	FILE  *f = fopen("/proc/self/status", "r");
	char   line[256];
	size_t kib = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %zu kB", &kib) == 1) {
			break;
		}
	}
	fclose(f);
	ck_assert_uint_gt(kib, 0);
	return kib;
}
#endif

static bool
mem_measurable(void)
{
	return RUNNING_ON_VALGRIND == 0;
}

// wait_counts waits until the process has exactly threads threads and fds
// open fds. The kernel unlists a joined thread a moment after pthread_join
// returns, and the server's reaper destroys ended connections on its own
// thread, so the counts are re-read (yielding, no sleep) for up to WAIT_NS.
static void
wait_counts(size_t threads, size_t fds)
{
	int64_t deadline = drpc__now_ns() + WAIT_NS;

	while ((tu_threads() != threads || tu_fds() != fds) &&
	       drpc__now_ns() < deadline) {
		sched_yield();
	}
	ck_assert_uint_eq(tu_threads(), threads);
	ck_assert_uint_eq(tu_fds(), fds);
}

static void
unary_ok(drpc_conn *c, int i)
{
	char   req[32];
	int    n = snprintf(req, sizeof(req), "call-%d", i);
	void  *reply;
	size_t len;

	DRPC_CHECK_OK(drpc_invoke(
	    c, NULL, ECHO_METHOD, req, (size_t) n, NULL, &reply, &len, NULL));
	ck_assert_uint_eq(len, (size_t) n);
	ck_assert_mem_eq(reply, req, len);
	drpc_free(reply);
}

// The raw flooding peer.

typedef struct flood {
	int                fd;
	drpc__frame_reader fr;
	drpc__buf          out;
	uint8_t           *seen; // per stream id: refused already
	size_t             refused;
} flood;

// flood_write sends Invoke frames for stream ids first .. first+count-1.
static void
flood_write(flood *f, uint64_t first, uint64_t count)
{
	f->out.len = 0;
	for (uint64_t id = first; id < first + count; id++) {
		drpc__frame fr = {
		    .stream_id  = id,
		    .message_id = 1,
		    .data       = (const uint8_t *) HOLD_METHOD,
		    .len        = strlen(HOLD_METHOD),
		    .kind       = DRPC__KIND_INVOKE,
		    .done       = true,
		};

		DRPC_CHECK_OK(drpc__frame_append(&f->out, &fr));
	}
	for (size_t off = 0; off < f->out.len;) {
		ssize_t n = send(
		    f->fd, f->out.data + off, f->out.len - off, MSG_NOSIGNAL);

		ck_assert_int_gt(n, 0);
		off += (size_t) n;
	}
}

// flood_refusals reads count frames, each an Error with code 8 for a
// stream past the limit that was not refused before.
static void
flood_refusals(flood *f, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		drpc__frame    fr;
		uint64_t       code;
		const uint8_t *msg;
		size_t         msg_len;

		DRPC_CHECK_OK(drpc__frame_reader_next(&f->fr, &fr));
		ck_assert_msg(fr.kind == DRPC__KIND_ERROR && fr.done,
		    "stream %llu: a %s frame, want a whole Error",
		    (unsigned long long) fr.stream_id,
		    drpc__kind_name(fr.kind));
		ck_assert_msg(fr.stream_id > FLOOD_LIMIT &&
		                  fr.stream_id <= FLOOD_STREAMS &&
		                  !f->seen[fr.stream_id],
		    "Error for stream %llu (accepted, repeated or unknown)",
		    (unsigned long long) fr.stream_id);
		ck_assert(drpc__errbody_parse(
		    fr.data, fr.len, &code, &msg, &msg_len));
		ck_assert_uint_eq(code, 8); // ResourceExhausted
		f->seen[fr.stream_id] = 1;
		f->refused++;
	}
}

static void
flood_open(flood *f, const char *addr)
{
	memset(f, 0, sizeof(*f));
	DRPC_CHECK_OK(drpc__dial(addr, 0, &f->fd));
	drpc__frame_reader_init(&f->fr, tf_read_fd, &f->fd, 0);
	f->seen = calloc(FLOOD_STREAMS + 1, 1);
	ck_assert_ptr_nonnull(f->seen);
}

static void
flood_close(flood *f)
{
	close(f->fd);
	drpc__frame_reader_fini(&f->fr);
	drpc__buf_fini(&f->out);
	free(f->seen);
}

// A peer opening 100,000 streams on one connection gets exactly 1000
// (max_streams) and an Error with ResourceExhausted for each of the rest,
// while a second connection keeps completing unary calls and the RSS stays
// bounded. Closing the flooding connection ends the 1000 held handlers;
// then every thread and fd is gone.
START_TEST(test_limits_stream_flood)
{
	// The unary connection is dialled before the flood and first used
	// after 1000 handlers started, which takes longer than the default
	// handshake timeout under a loaded sanitizer: it is not under test.
	drpc_server_opts o = {.max_streams = FLOOD_LIMIT,
	    .handler_stack = FLOOD_STACK, .handshake_timeout_ms = -1};
	size_t     threads0 = tu_threads();
	size_t     fds0     = tu_fds();
	size_t     mem0     = mem_kib();
	size_t     mem_max  = mem0;
	int        calls    = 0;
	lim_server ls;
	drpc_conn *c;
	flood      f;

	lim_start(&ls, &o);
	DRPC_CHECK_OK(drpc_dial(&c, ls.t.addr, NULL));
	flood_open(&f, ls.t.addr);
	flood_write(&f, 1, FLOOD_LIMIT);
	ck_assert_uint_eq(
	    holds_wait(&ls.h, &ls.h.started, FLOOD_LIMIT), FLOOD_LIMIT);
	unary_ok(c, calls++);
	for (uint64_t id = FLOOD_LIMIT + 1; id <= FLOOD_STREAMS;
	     id += FLOOD_CHUNK) {
		// The unary call runs while the server refuses the chunk.
		flood_write(&f, id, FLOOD_CHUNK);
		unary_ok(c, calls++);
		flood_refusals(&f, FLOOD_CHUNK);
		if ((id / FLOOD_CHUNK) % 10 == 0) {
			size_t mem = mem_kib();

			mem_max = mem > mem_max ? mem : mem_max;
		}
	}
	ck_assert_uint_eq(f.refused, FLOOD_STREAMS - FLOOD_LIMIT);
	ck_assert_uint_eq(tu_sync_get(&ls.h.sync, &ls.h.started), FLOOD_LIMIT);
	ck_assert_uint_eq(tu_sync_get(&ls.h.sync, &ls.h.ended), 0);
	unary_ok(c, calls++);
	if (mem_kib() > mem_max) {
		mem_max = mem_kib();
	}
	if (verbose()) {
		fprintf(stderr,
		    "limits: flood: %zu accepted, %zu refused with code 8, "
		    "%d unary calls alongside, " MEM_WHAT " %zu -> max %zu "
		    "KiB (+%zu KiB, bound %d MiB%s)\n",
		    tu_sync_get(&ls.h.sync, &ls.h.started), f.refused, calls,
		    mem0, mem_max, mem_max - mem0, FLOOD_MEM_MIB,
		    mem_measurable() ? "" : ", not checked under valgrind");
	}
	ck_assert_msg(
	    !mem_measurable() || mem_max < mem0 + (size_t) FLOOD_MEM_MIB * 1024,
	    MEM_WHAT " grew by %zu KiB", mem_max - mem0);
	flood_close(&f); // the server cancels the 1000 held streams
	ck_assert_uint_eq(
	    holds_wait(&ls.h, &ls.h.ended, FLOOD_LIMIT), FLOOD_LIMIT);
	ck_assert_int_eq(ls.h.last, DRPC_ECANCELED);
	drpc_conn_destroy(c);
	lim_stop(&ls);
	wait_counts(threads0, fds0);
}
END_TEST

// 1000 connections opened and dropped, in 5 rounds of 200, leave no
// residue: after each round the thread and fd counts are back to the
// baseline and the RSS does not keep growing.
static void
churn_round(lim_server *ls, int round)
{
	drpc_conn *c[CHURN_CONNS];

	for (int i = 0; i < CHURN_CONNS; i++) {
		DRPC_CHECK_OK(drpc_dial(&c[i], ls->t.addr, NULL));
	}
	for (int i = 0; i < CHURN_CONNS; i++) {
		unary_ok(c[i], round * CHURN_CONNS + i);
	}
	for (int i = 0; i < CHURN_CONNS; i++) {
		DRPC_CHECK_OK(drpc_conn_err(c[i]));
		drpc_conn_destroy(c[i]);
	}
}

START_TEST(test_limits_conn_churn)
{
	// One idle handler thread stays between calls (idle_workers), so the
	// resting state is exact: the server's own threads plus that one. A
	// round's connections wait their turn to send a first frame, which
	// on a loaded TSan run takes longer than the default handshake
	// timeout (10 s): no handshake timeout here (test/README.md, rule 8).
	drpc_server_opts o = {.idle_workers = 1, .handshake_timeout_ms = -1};
	lim_server       ls;
	drpc_conn       *c;
	size_t           threads;
	size_t           fds;
	size_t           mem[CHURN_ROUNDS];

	lim_start(&ls, &o);
	threads = tu_threads() + 1; // + the idle worker the warm-up leaves
	fds     = tu_fds();
	DRPC_CHECK_OK(drpc_dial(&c, ls.t.addr, NULL));
	unary_ok(c, -1);
	drpc_conn_destroy(c);
	wait_counts(threads, fds);
	for (int r = 0; r < CHURN_ROUNDS; r++) {
		churn_round(&ls, r);
		wait_counts(threads, fds);
		mem[r] = mem_kib();
		if (verbose()) {
			fprintf(stderr,
			    "limits: churn round %d: %zu threads, %zu "
			    "fds, " MEM_WHAT " %zu KiB\n",
			    r + 1, threads, fds, mem[r]);
		}
	}
	for (int r = 1; r < CHURN_ROUNDS; r++) {
		ck_assert_msg(
		    !mem_measurable() ||
		        mem[r] < mem[0] + (size_t) CHURN_MEM_MIB * 1024,
		    MEM_WHAT " after round %d: %zu KiB, after round 1: %zu KiB",
		    r + 1, mem[r], mem[0]);
	}
	lim_stop(&ls);
}
END_TEST

TU_SUITE(limits,
    TU_TEST("abuse", test_limits_stream_flood, .timeout = 120),
    TU_TEST("abuse", test_limits_conn_churn))
