// Interop with Go DRPC through its golden transcripts
// (../shared/interop/README.md section 5.2 and section 5.3), over socketpairs.
//
// Server side: a drpc_server running the interop Echo service (echo_service.c)
// serves one end; the test is the client on the other and replays
// NAME.client.bin in the order NAME.seq gives, waiting for the server's
// packets where the recording did. What the server sent must equal
// NAME.server.bin byte for byte, or at least packet for packet (only
// unknown_rpc's Error may carry another code and text).
//
// Client side: a scripted server thread replays NAME.server.bin following
// NAME.seq while the C client makes the scenario's calls through the public
// API. What the client sent must equal NAME.client.bin packet for packet,
// except for what README section 5.3 allows: a missing trailing Close after a
// unary reply, metadata entries in another order, other frame boundaries for
// packets over 64 KiB. One more difference is allowed, and only where the
// calls have a deadline (sleep_cancel): libdrpc propagates a context's
// deadline as an InvokeMetadata packet holding the single entry
// "drpc-timeout-ns" (include/drpc/metadata.h), which upstream does not
// send, so that stream's later message ids are one higher than recorded.
// The recorded client gave up after a 100 ms deadline; ours has a long
// one (CANCEL_DEADLINE_MS) and its call is cancelled by the scripted
// server when the recording has the client's Cancel next: the same bytes,
// at a moment that does not depend on timing.
// Likewise, in the automatic flow mode the connection's first Invoke is
// followed by a flow-control hello (docs/protocol.md §13), which a plain
// peer ignores and which takes one message id of its stream.
//
// Timeouts here are failures, never synchronisation: every wait is for a
// specific event (bytes, a packet count, end of file, an observer
// callback), bounded by io_timeout_ms().
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "echo_service.h"
#include "flow/flow.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"
#include "wire/flowctl.h"
#include "wire/frame.h"
#include "wire/metadata.h"
#include "wire/packet.h"

#define MAX_NAMES   64
#define MAX_EVENTS  128
#define MAX_PKTS    128
#define MAX_STREAMS 16
#define MAX_SID     64 // stream ids the comparisons track

// SLEEP_MS is what the tests ask Sleep for: an interrupted Sleep ends
// with an error, one that was not ends with DRPC_OK after SLEEP_MS.
#define SLEEP_MS 5000

// CANCEL_DEADLINE_MS is sleep_cancel's deadline: sent as the deadline
// entry, never reached (the scripted server has the call cancelled).
#define CANCEL_DEADLINE_MS (3600 * 1000)

// UPSTREAM_SPLIT is the largest frame body upstream writes.
#define UPSTREAM_SPLIT ((size_t) 64 << 10)

#define NS_PER_MS 1000000LL

// io_timeout_ms bounds every wait for the peer or a handler (TU_WAIT_NS,
// scaled); running out is a failure.
static int
io_timeout_ms(void)
{
	return (int) (tu_bound_ns(TU_WAIT_NS) / NS_PER_MS);
}

// Transcript names.

typedef struct names {
	char   v[MAX_NAMES][64];
	size_t n;
} names;

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

// list_transcripts fills nm with the sorted scenario names (one per .seq
// file); 0 if the directory cannot be read. It never fails a test, so the
// suite can call it while it is being built.
static size_t
list_transcripts(names *nm)
{
	char           dir[512];
	DIR           *d;
	struct dirent *e;

	nm->n = 0;
	d = opendir(tu_shared_path(dir, sizeof(dir), "interop/transcripts"));
	if (d == NULL) {
		return 0;
	}
	while ((e = readdir(d)) != NULL && nm->n < MAX_NAMES) {
		size_t len = strlen(e->d_name);

		if (len > 4 && len - 4 < sizeof(nm->v[0]) &&
		    strcmp(e->d_name + len - 4, ".seq") == 0) {
			memcpy(nm->v[nm->n], e->d_name, len - 4);
			nm->v[nm->n++][len - 4] = '\0';
		}
	}
	closedir(d);
	qsort(nm->v, nm->n, sizeof(nm->v[0]), name_cmp);
	return nm->n;
}

// Scripts: a transcript's two .bin files and its .seq events.

typedef struct ev {
	char     dir; // 'C' (client) or 'S' (server)
	bool     eof; // "C EOF" / "S EOF"
	size_t   off;
	size_t   len;
	unsigned kind;
	uint64_t sid;
	uint64_t mid;
	bool     done;
} ev;

typedef struct script {
	char     name[64];
	uint8_t *cbin;
	size_t   clen;
	uint8_t *sbin;
	size_t   slen;
	ev       ev[MAX_EVENTS];
	size_t   nev;
} script;

static uint8_t *
script_bin(const char *name, const char *dir, size_t *len)
{
	char rel[256];
	char path[1024];

	snprintf(rel, sizeof(rel), "interop/transcripts/%s.%s.bin", name, dir);
	return tu_read_file(tu_shared_path(path, sizeof(path), rel), len);
}

static unsigned
kind_by_name(const char *name)
{
	for (unsigned k = 1; k <= DRPC__KIND_LAST; k++) {
		if (strcmp(drpc__kind_name(k), name) == 0) {
			return k;
		}
	}
	return 0;
}

// script_line parses one .seq line into sc's next event.
static void
script_line(script *sc, const char *line)
{
	ev   e = {0};
	char kind[32];
	int  done;

	ck_assert_uint_lt(sc->nev, MAX_EVENTS);
	if (strcmp(line + 1, " EOF") == 0) {
		e.dir = line[0];
		e.eof = true;
	} else {
		ck_assert_msg(
		    sscanf(line, "%c %zu %zu %31s %" SCNu64 " %" SCNu64 " %d",
		        &e.dir, &e.off, &e.len, kind, &e.sid, &e.mid,
		        &done) == 7,
		    "%s.seq: bad line '%s'", sc->name, line);
		e.kind = kind_by_name(kind);
		e.done = done != 0;
		ck_assert_msg(e.kind != 0, "%s.seq: kind %s", sc->name, kind);
		ck_assert(e.off <= (e.dir == 'C' ? sc->clen : sc->slen));
		ck_assert(
		    e.len <= (e.dir == 'C' ? sc->clen : sc->slen) - e.off);
	}
	ck_assert_msg(
	    e.dir == 'C' || e.dir == 'S', "%s.seq: '%s'", sc->name, line);
	sc->ev[sc->nev++] = e;
}

static script *
script_load(const char *name)
{
	script *sc = calloc(1, sizeof(*sc));
	char    rel[256];
	char    path[1024];
	char    line[256];
	FILE   *f;

	ck_assert_ptr_nonnull(sc);
	snprintf(sc->name, sizeof(sc->name), "%s", name);
	sc->cbin = script_bin(name, "client", &sc->clen);
	sc->sbin = script_bin(name, "server", &sc->slen);
	snprintf(rel, sizeof(rel), "interop/transcripts/%s.seq", name);
	f = fopen(tu_shared_path(path, sizeof(path), rel), "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '#' && line[0] != '\0') {
			script_line(sc, line);
		}
	}
	fclose(f);
	return sc;
}

static void
script_free(script *sc)
{
	free(sc->cbin);
	free(sc->sbin);
	free(sc);
}

// Packet logs: bytes received, parsed into frames and packets as they
// come. Used by helper threads too, so nothing here calls ck_assert: the
// first anomaly is recorded in err instead.

typedef struct tpkt {
	unsigned kind;
	bool     control;
	uint64_t sid;
	uint64_t mid;
	uint8_t *body; // malloc'd; NULL if len is 0
	size_t   len;
	size_t   frames; // how many frames carried it
} tpkt;

typedef struct sasm {
	uint64_t  sid;
	drpc__asm a;
	size_t    frames; // of the packet being assembled
} sasm;

typedef struct pktlog {
	drpc__buf raw;  // every byte received, in order
	size_t    used; // bytes of raw parsed into whole frames
	sasm      asms[MAX_STREAMS];
	size_t    nasm;
	tpkt      pkts[MAX_PKTS];
	size_t    n;
	bool      eof;
	char      err[256]; // first anomaly; "" if none
} pktlog;

static void pktlog_note(pktlog *pl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pktlog_note(pktlog *pl, const char *fmt, ...)
{
	va_list ap;

	if (pl->err[0] != '\0') {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(pl->err, sizeof(pl->err), fmt, ap);
	va_end(ap);
}

static pktlog *
pktlog_create(void)
{
	return calloc(1, sizeof(pktlog));
}

static void
pktlog_destroy(pktlog *pl)
{
	if (pl == NULL) {
		return;
	}
	for (size_t i = 0; i < pl->nasm; i++) {
		drpc__asm_fini(&pl->asms[i].a);
	}
	for (size_t i = 0; i < pl->n; i++) {
		free(pl->pkts[i].body);
	}
	drpc__buf_fini(&pl->raw);
	free(pl);
}

static sasm *
pktlog_asm(pktlog *pl, uint64_t sid)
{
	for (size_t i = 0; i < pl->nasm; i++) {
		if (pl->asms[i].sid == sid) {
			return &pl->asms[i];
		}
	}
	if (pl->nasm == MAX_STREAMS) {
		return NULL;
	}
	pl->asms[pl->nasm].sid = sid;
	drpc__asm_init(&pl->asms[pl->nasm].a, 0);
	return &pl->asms[pl->nasm++];
}

static void
pktlog_add(pktlog *pl, const drpc__packet *pkt, size_t frames)
{
	tpkt *t;

	if (pl->n == MAX_PKTS) {
		pktlog_note(pl, "more than %d packets", MAX_PKTS);
		return;
	}
	t  = &pl->pkts[pl->n++];
	*t = (tpkt){pkt->kind, pkt->control, pkt->stream_id, pkt->message_id,
	    NULL, pkt->len, frames};
	if (pkt->len > 0 && (t->body = malloc(pkt->len)) == NULL) {
		pktlog_note(pl, "out of memory");
		return;
	}
	if (pkt->len > 0) {
		memcpy(t->body, pkt->data, pkt->len);
	}
}

// pktlog_frame assembles one frame that started at offset off.
static void
pktlog_frame(pktlog *pl, const drpc__frame *fr, size_t off)
{
	sasm        *sa = pktlog_asm(pl, fr->stream_id);
	drpc__packet pkt;
	bool         complete;
	drpc_err     rv;

	if (sa == NULL) {
		pktlog_note(pl, "more than %d streams", MAX_STREAMS);
		return;
	}
	if (sa->a.in_progress && sa->a.message_id != fr->message_id) {
		pktlog_note(pl,
		    "offset %zu: stream %" PRIu64 " message %" PRIu64
		    " starts while message %" PRIu64 " is unfinished",
		    off, fr->stream_id, fr->message_id, sa->a.message_id);
		return;
	}
	rv = drpc__asm_add(&sa->a, fr, &pkt, &complete);
	if (rv != DRPC_OK) {
		pktlog_note(pl, "offset %zu: stream %" PRIu64 ": %s", off,
		    fr->stream_id, drpc_err_name(rv));
		return;
	}
	sa->frames++;
	if (complete) {
		pktlog_add(pl, &pkt, sa->frames);
		sa->frames = 0;
	}
}

// pktlog_parse consumes every whole frame received so far. Headers must be
// canonical (minimal varints), as upstream writes them: comparing packets
// would not see an over-long varint.
static void
pktlog_parse(pktlog *pl)
{
	while (pl->err[0] == '\0' && pl->used < pl->raw.len) {
		const uint8_t *p = pl->raw.data + pl->used;
		uint8_t        hdr[DRPC__FRAME_HEADER_MAX];
		drpc__frame    fr;
		size_t         used;
		drpc_err       rv;

		rv = drpc__frame_parse(p, pl->raw.len - pl->used,
		    DRPC__DEFAULT_MAX_SIZE, &fr, &used);
		if (rv != DRPC_OK) {
			pktlog_note(pl, "offset %zu: bad frame: %s", pl->used,
			    drpc_err_name(rv));
		}
		if (rv != DRPC_OK || used == 0) {
			return;
		}
		size_t hlen = drpc__frame_header_put(hdr, &fr);
		if (hlen != used - fr.len || memcmp(hdr, p, hlen) != 0) {
			pktlog_note(pl,
			    "offset %zu: non-canonical frame header", pl->used);
		}
		pktlog_frame(pl, &fr, pl->used);
		pl->used += used;
	}
}

static void
pktlog_feed(pktlog *pl, const uint8_t *data, size_t n)
{
	if (drpc__buf_append(&pl->raw, data, n) != DRPC_OK) {
		pktlog_note(pl, "out of memory");
		return;
	}
	pktlog_parse(pl);
}

// pktlog_from parses a whole recording (main thread only).
static pktlog *
pktlog_from(const script *sc, const uint8_t *bin, size_t len)
{
	pktlog *pl = pktlog_create();

	ck_assert_ptr_nonnull(pl);
	if (len > 0) {
		pktlog_feed(pl, bin, len);
	}
	pl->eof = true;
	ck_assert_msg(
	    pl->err[0] == '\0', "%s: recording: %s", sc->name, pl->err);
	ck_assert_uint_eq(pl->used, len);
	return pl;
}

// Packet descriptions for failure messages.

typedef struct text {
	char   s[400];
	size_t n;
} text;

static void text_add(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
text_add(text *t, const char *fmt, ...)
{
	va_list ap;
	int     n;

	if (t->n >= sizeof(t->s) - 1) {
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(t->s + t->n, sizeof(t->s) - t->n, fmt, ap);
	va_end(ap);
	if (n > 0) {
		t->n += (size_t) n;
	}
	if (t->n > sizeof(t->s) - 1) {
		t->n = sizeof(t->s) - 1;
	}
}

// pkt_desc renders a packet as Kind(stream, message, flags, body...).
static const char *
pkt_desc(const tpkt *p, text *t)
{
	t->n    = 0;
	t->s[0] = '\0';
	if (p == NULL) {
		return "(nothing)";
	}
	text_add(t, "%s(stream %" PRIu64 ", message %" PRIu64 "%s, %zu bytes",
	    drpc__kind_name(p->kind), p->sid, p->mid,
	    p->control ? ", control" : "", p->len);
	if (p->len > 0) {
		text_add(t, ": \"");
	}
	for (size_t i = 0; i < p->len && i < 32; i++) {
		uint8_t c = p->body[i];

		text_add(t,
		    c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? "%c"
		                                                   : "\\x%02x",
		    c);
	}
	text_add(t, "%s)", p->len > 32 ? "\"..." : p->len > 0 ? "\"" : "");
	return t->s;
}

static bool
pkt_same_body(const tpkt *a, const tpkt *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->body, b->body, a->len) == 0);
}

// pkt_same compares kind, stream id, message id, control flag and body.
static bool
pkt_same(const tpkt *a, const tpkt *b)
{
	return a->kind == b->kind && a->sid == b->sid && a->mid == b->mid &&
	       a->control == b->control && pkt_same_body(a, b);
}

// I/O with the peer, bounded by io_timeout_ms(). No ck_assert: the helpers
// report why they failed in why.

typedef enum io_res { IO_DATA, IO_EOF, IO_TIMEOUT, IO_ERROR } io_res;

static int
ms_left(int64_t deadline_ns)
{
	int64_t left = (deadline_ns - drpc_now_ns()) / NS_PER_MS;
	int64_t cap  = io_timeout_ms();

	return left < 0 ? 0 : (int) (left > cap ? cap : left);
}

// io_read reads what fd has (waiting up to timeout_ms) into pl.
static io_res
io_read(int fd, pktlog *pl, int timeout_ms)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	uint8_t       buf[16384];
	ssize_t       n;
	int           rc;

	do {
		rc = poll(&pfd, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	if (rc <= 0) {
		return rc == 0 ? IO_TIMEOUT : IO_ERROR;
	}
	do {
		n = read(fd, buf, sizeof(buf));
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		pl->eof = n == 0;
		return n == 0 ? IO_EOF : IO_ERROR;
	}
	pktlog_feed(pl, buf, (size_t) n);
	return IO_DATA;
}

// io_write writes all n bytes; 0, or the errno of the failure.
static int
io_write(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			return w < 0 ? errno : EIO;
		}
		p += w;
		n -= (size_t) w;
	}
	return 0;
}

typedef size_t (*pkt_counter)(const pktlog *pl);

static size_t
count_all(const pktlog *pl)
{
	return pl->n;
}

// read_step reads once more into pl, within deadline: true on data or the
// end of the stream; false on an error (why says which) or at the
// deadline (*late, the caller words it).
static bool
read_step(
    int fd, pktlog *pl, int64_t deadline, bool *late, char *why, size_t cap)
{
	switch (io_read(fd, pl, ms_left(deadline))) {
	case IO_DATA:
	case IO_EOF:
		return true;
	case IO_TIMEOUT:
		*late = true;
		return false;
	case IO_ERROR:
	default:
		snprintf(why, cap, "read: %s", strerror(errno));
		return false;
	}
}

// wait_packets reads until count(pl) reaches want.
static bool
wait_packets(
    int fd, pktlog *pl, pkt_counter count, size_t want, char *why, size_t cap)
{
	int64_t deadline = drpc_now_ns() + io_timeout_ms() * NS_PER_MS;
	bool    late     = false;

	while (count(pl) < want && pl->err[0] == '\0') {
		if (pl->eof) {
			snprintf(why, cap,
			    "the peer closed the connection after %zu of %zu "
			    "packets",
			    count(pl), want);
			return false;
		}
		if (!read_step(fd, pl, deadline, &late, why, cap)) {
			if (late) {
				snprintf(why, cap,
				    "timed out (%d ms) waiting for packet %zu; "
				    "%zu arrived",
				    io_timeout_ms(), want, count(pl));
			}
			return false;
		}
	}
	if (pl->err[0] != '\0') {
		snprintf(why, cap, "bad input: %.200s", pl->err);
		return false;
	}
	return true;
}

// wait_eof reads (and records) everything until the peer closes.
static bool
wait_eof(int fd, pktlog *pl, char *why, size_t cap)
{
	int64_t deadline = drpc_now_ns() + io_timeout_ms() * NS_PER_MS;
	bool    late     = false;

	while (!pl->eof) {
		if (!read_step(fd, pl, deadline, &late, why, cap)) {
			if (late) {
				snprintf(why, cap,
				    "the peer did not close the connection "
				    "within %d ms",
				    io_timeout_ms());
			}
			return false;
		}
	}
	return true;
}

// Resource accounting. The kernel wakes pthread_join a moment before it
// unlists the joined task from /proc/self/task, so tu_threads() can count
// a thread that has already been joined, its own helper included.

// thread_count is the least of a few readings.
static size_t
thread_count(void)
{
	size_t n = tu_threads();

	for (int i = 0; i < 4; i++) {
		size_t m;

		sched_yield();
		m = tu_threads();
		n = m < n ? m : n;
	}
	return n;
}

// check_no_leak compares with the counts taken before the test, re-reading
// the thread count (yielding) until it matches or io_timeout_ms() pass.
static void
check_no_leak(size_t threads, size_t fds)
{
	int64_t deadline = drpc_now_ns() + io_timeout_ms() * NS_PER_MS;
	size_t  n;

	while ((n = tu_threads()) != threads && drpc_now_ns() < deadline) {
		sched_yield();
	}
	ck_assert_uint_eq(n, threads);
	ck_assert_uint_eq(tu_fds(), fds);
}

// Server side (README section 5.2).

// sleep_obs watches the Sleep handler through echo_observer.
typedef struct sleep_obs {
	echo_observer eo;
	tu_sync       sync;
	size_t        started; // guarded by sync
	size_t        done;
	drpc_err      why;        // of the last Sleep that ended
	int64_t       started_ns; // when the first Sleep began
} sleep_obs;

static void
obs_started(void *arg)
{
	sleep_obs *o   = arg;
	int64_t    now = drpc_now_ns();

	tu_sync_lock(&o->sync);
	if (o->started++ == 0) {
		o->started_ns = now;
	}
	tu_sync_unlock_broadcast(&o->sync);
}

static void
obs_done(void *arg, drpc_err why)
{
	sleep_obs *o = arg;

	tu_sync_lock(&o->sync);
	o->done++;
	o->why = why;
	tu_sync_unlock_broadcast(&o->sync);
}

static void
obs_init(sleep_obs *o)
{
	memset(o, 0, sizeof(*o));
	o->eo = (echo_observer){obs_started, obs_done, o};
	tu_sync_init(&o->sync);
}

// obs_wait waits until *counter (a field of o) reaches want, or
// io_timeout_ms() pass; returns whether it did.
static bool
obs_wait(sleep_obs *o, const size_t *counter, size_t want)
{
	return tu_sync_wait(&o->sync, counter, want, TU_WAIT_NS) >= want;
}

// srv_walk is the test playing the client of NAME.seq.
typedef struct srv_walk {
	const script *sc;
	int           fd;
	pktlog       *got; // what the server sent
	sleep_obs    *obs;
	bool          sleeps;    // the client calls Sleep
	bool          cancelled; // the cancel point was reached
	size_t        pend_off;  // client bytes to write: [off, off + len)
	size_t        pend_len;
	size_t        want; // server packets the script has waited for
	char          why[256];
} srv_walk;

static void
srv_flush(srv_walk *w)
{
	int err = io_write(w->fd, w->sc->cbin + w->pend_off, w->pend_len);

	ck_assert_msg(err == 0, "%s: write: %s", w->sc->name, strerror(err));
	w->pend_off += w->pend_len;
	w->pend_len = 0;
}

// srv_cancel_point is reached just before the client cancels its Sleep
// (a Cancel, or closing the connection): it first waits for the handler
// to be really sleeping, so the test shows the server interrupts it.
static void
srv_cancel_point(srv_walk *w)
{
	if (!w->sleeps || w->cancelled) {
		return;
	}
	srv_flush(w);
	ck_assert_msg(obs_wait(w->obs, &w->obs->started, 1),
	    "%s: the Sleep handler did not start within %d ms", w->sc->name,
	    io_timeout_ms());
	w->cancelled = true;
}

static void
srv_client_bytes(srv_walk *w, const ev *e)
{
	if (e->kind == DRPC__KIND_CANCEL) {
		srv_cancel_point(w);
	}
	if (w->pend_len > 0 && w->pend_off + w->pend_len != e->off) {
		srv_flush(w);
	}
	if (w->pend_len == 0) {
		w->pend_off = e->off;
	}
	w->pend_len += e->len;
}

static void
srv_step(srv_walk *w, const ev *e, size_t line)
{
	const char *name = w->sc->name;
	bool        ok   = true;

	if (e->dir == 'C' && !e->eof) {
		srv_client_bytes(w, e);
		return;
	}
	srv_flush(w);
	if (e->dir == 'S' && !e->eof && e->done) {
		ok = wait_packets(w->fd, w->got, count_all, ++w->want, w->why,
		    sizeof(w->why));
	} else if (e->dir == 'C') {
		srv_cancel_point(w);
		// Best effort: a server that closed after an Error or a
		// Cancel has usually done so by now.
		(void) io_read(w->fd, w->got, 0);
		ck_assert_msg(!w->got->eof,
		    "%s: the server closed the connection before the client "
		    "did",
		    name);
		ck_assert_int_eq(shutdown(w->fd, SHUT_WR), 0);
	} else if (e->dir == 'S' && e->eof) {
		ok = wait_eof(w->fd, w->got, w->why, sizeof(w->why));
	}
	ck_assert_msg(ok, "%s: .seq event %zu: %s", name, line, w->why);
}

// script_calls_sleep tells whether the client invokes Sleep.
static bool
script_calls_sleep(const script *sc)
{
	pktlog *pl    = pktlog_from(sc, sc->cbin, sc->clen);
	bool    found = false;

	for (size_t i = 0; i < pl->n; i++) {
		const tpkt *p = &pl->pkts[i];

		found |= p->kind == DRPC__KIND_INVOKE &&
		         p->len == strlen("/interop.Echo/Sleep") &&
		         memcmp(p->body, "/interop.Echo/Sleep", p->len) == 0;
	}
	pktlog_destroy(pl);
	return found;
}

// srv_check_cancelled: the Sleep handler, sleeping when the client
// cancelled, was interrupted (it ended with an error, where one that was
// not ends with DRPC_OK after SLEEP_MS), and nothing was sent on the
// Sleep's stream (the first: both Sleep transcripts begin so).
static void
srv_check_cancelled(srv_walk *w)
{
	text t;

	ck_assert_msg(w->cancelled, "%s: no cancel point", w->sc->name);
	ck_assert_msg(obs_wait(w->obs, &w->obs->done, 1),
	    "%s: the Sleep handler was still running %d ms after the cancel",
	    w->sc->name, io_timeout_ms());
	tu_sync_lock(&w->obs->sync);
	drpc_err why = w->obs->why;
	tu_sync_unlock(&w->obs->sync);
	ck_assert_msg(
	    why != DRPC_OK, "%s: Sleep was not interrupted", w->sc->name);
	for (size_t i = 0; i < w->got->n; i++) {
		ck_assert_msg(w->got->pkts[i].sid != 1,
		    "%s: the server sent %s on the cancelled stream",
		    w->sc->name, pkt_desc(&w->got->pkts[i], &t));
	}
}

// srv_pkt_check compares server packet i; in unknown_rpc, stream 1's
// Error may have any code and text (README section 5.2).
static void
srv_pkt_check(const script *sc, size_t i, const tpkt *want, const tpkt *got)
{
	text tw;
	text tg;
	bool lenient = strcmp(sc->name, "unknown_rpc") == 0 &&
	               want->kind == DRPC__KIND_ERROR && want->sid == 1;

	if (lenient) {
		ck_assert_msg(
		    got->kind == want->kind && got->sid == want->sid &&
		        got->mid == want->mid &&
		        got->control == want->control && got->len >= 8,
		    "%s: server packet %zu: got %s, want an Error like %s",
		    sc->name, i, pkt_desc(got, &tg), pkt_desc(want, &tw));
		return;
	}
	ck_assert_msg(pkt_same(got, want),
	    "%s: server packet %zu: got %s, want %s", sc->name, i,
	    pkt_desc(got, &tg), pkt_desc(want, &tw));
}

// srv_compare: byte-identical, or the same packets (README section 5.2).
static void
srv_compare(const script *sc, const pktlog *got)
{
	pktlog *want = pktlog_from(sc, sc->sbin, sc->slen);
	text    t;

	ck_assert_msg(
	    got->err[0] == '\0', "%s: server output: %s", sc->name, got->err);
	ck_assert_msg(got->used == got->raw.len,
	    "%s: the server's output ends inside a frame (%zu bytes)", sc->name,
	    got->raw.len - got->used);
	if (got->raw.len != sc->slen ||
	    (sc->slen > 0 && memcmp(got->raw.data, sc->sbin, sc->slen) != 0)) {
		for (size_t i = 0; i < got->n || i < want->n; i++) {
			ck_assert_msg(i < got->n,
			    "%s: server packet %zu missing: want %s", sc->name,
			    i, pkt_desc(&want->pkts[i], &t));
			ck_assert_msg(i < want->n,
			    "%s: extra server packet %zu: %s", sc->name, i,
			    pkt_desc(&got->pkts[i], &t));
			srv_pkt_check(sc, i, &want->pkts[i], &got->pkts[i]);
		}
	}
	pktlog_destroy(want);
}

// With interceptors (icpt): every transcript runs again with a no-op
// interceptor on each side that wraps each stream with a pass-through
// wrapper, and no-op stats: the bytes on the wire must not change.
static drpc_err
noop_send(void *arg, drpc_stream *s, const void *data, size_t len)
{
	(void) arg;
	(void) s;
	(void) data;
	(void) len;
	return DRPC_OK;
}

static const drpc_stream_wrapper noop_wrapper = {noop_send, NULL, NULL};

static drpc_err
noop_server_icpt(drpc_stream *s, drpc_next *next, void *arg)
{
	drpc_err rv = drpc_stream_wrap(s, &noop_wrapper, arg);

	return rv != DRPC_OK ? rv : drpc_next_handle(next, s);
}

static drpc_err
noop_client_icpt(drpc_client_call *c, drpc_next *next, void *arg)
{
	drpc_err rv = drpc_next_call(next, c);

	if (rv == DRPC_OK && drpc_client_call_stream(c) != NULL) {
		rv = drpc_stream_wrap(drpc_client_call_stream(c), &noop_wrapper, arg);
	}
	return rv;
}

static void
noop_msg(void *arg, const drpc_rpc_info *rpc, bool out, size_t len)
{
	(void) arg;
	(void) rpc;
	(void) out;
	(void) len;
}

static const drpc_server_interceptor noop_sv[]    = {{noop_server_icpt, NULL}};
static const drpc_client_interceptor noop_cv[]    = {{noop_client_icpt, NULL}};
static const drpc_stats_handler      noop_stats = {NULL, noop_msg, NULL, NULL};

static void
run_server_scenario(const char *name, bool icpt)
{
	drpc_server_opts so = {0};
	size_t       threads = thread_count();
	size_t       fds     = tu_fds();
	script      *sc      = script_load(name);
	srv_walk     w       = {.sc = sc, .got = pktlog_create()};
	sleep_obs    obs;
	drpc_mux    *mux;
	drpc_server *srv;
	int          sv[2];

	ck_assert_ptr_nonnull(w.got);
	obs_init(&obs);
	w.obs    = &obs;
	w.sleeps = script_calls_sleep(sc);
	DRPC_CHECK_OK(drpc_mux_create(&mux));
	DRPC_CHECK_OK(echo_register_observed(mux, &obs.eo));
	if (icpt) {
		so.interceptors  = noop_sv;
		so.ninterceptors = 1;
		so.stats         = &noop_stats;
	}
	DRPC_CHECK_OK(drpc_server_create(&srv, mux, &so));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	DRPC_CHECK_OK(drpc_server_serve_fd(srv, sv[1]));
	w.fd = sv[0];
	for (size_t i = 0; i < sc->nev; i++) {
		srv_step(&w, &sc->ev[i], i);
	}
	srv_flush(&w);
	if (w.sleeps) {
		srv_check_cancelled(&w);
	}
	srv_compare(sc, w.got);
	close(sv[0]);
	drpc_server_destroy(srv);
	drpc_mux_destroy(mux);
	tu_sync_fini(&obs.sync);
	pktlog_destroy(w.got);
	script_free(sc);
	check_no_leak(threads, fds);
}

START_TEST(test_interop_server)
{
	names nm;

	ck_assert_uint_gt(list_transcripts(&nm), (size_t) _i);
	run_server_scenario(nm.v[_i], false);
}
END_TEST

START_TEST(test_interop_server_icpt)
{
	names nm;

	ck_assert_uint_gt(list_transcripts(&nm), (size_t) _i);
	run_server_scenario(nm.v[_i], true);
}
END_TEST

START_TEST(test_interop_transcripts_present)
{
	names nm;

	ck_assert_uint_eq(list_transcripts(&nm), 16);
}
END_TEST

// Client side (README section 5.3).

// outcome records the first failed expectation of a client scenario; it
// runs while the scripted server's thread is alive, so it does not
// ck_assert (a failure would leave that thread behind in CK_FORK=no).
// cancel is the context of the scenario's call that the scripted server
// cancels (sleep_cancel's), with a CANCEL_DEADLINE_MS deadline.
typedef struct outcome {
	bool      failed;
	char      why[400];
	drpc_ctx *cancel;
} outcome;

static bool expect(outcome *o, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
expect(outcome *o, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok || o->failed) {
		return ok;
	}
	o->failed = true;
	va_start(ap, fmt);
	vsnprintf(o->why, sizeof(o->why), fmt, ap);
	va_end(ap);
	return false;
}

// expect_payload checks that got (len bytes) is a Msg with payload want.
static bool
expect_payload(outcome *o, const char *what, const void *got, size_t len,
    const void *want, size_t want_len)
{
	const uint8_t *p;
	size_t         n;

	if (!expect(o, echo_msg_decode(got, len, &p, &n) == DRPC_OK,
	        "%s: the reply is not a Msg", what)) {
		return false;
	}
	return expect(o, n == want_len && (n == 0 || memcmp(p, want, n) == 0),
	    "%s: reply payload \"%.*s\" (%zu bytes), want \"%.*s\" (%zu)", what,
	    (int) (n < 40 ? n : 40), p != NULL ? (const char *) p : "", n,
	    (int) (want_len < 40 ? want_len : 40),
	    want != NULL ? (const char *) want : "", want_len);
}

// call_raw invokes method with req and checks the result: want_rv, and
// for a failure the remote code and text; for success the reply payload.
typedef struct call {
	const char           *method;
	const uint8_t        *req;
	size_t                req_len;
	const drpc_call_opts *opts;
	drpc_ctx             *ctx;
	drpc_err              want_rv;
	uint64_t              want_code; // for a remote error
	const char           *want_text; // remote text; NULL: not checked
	const void           *want;      // reply payload
	size_t                want_len;
} call;

static void
call_check(outcome *o, drpc_conn *c, const call *k)
{
	void       *reply = NULL;
	size_t      len   = 0;
	drpc_status st    = {0};
	drpc_err    rv;

	rv = drpc_invoke(c, k->ctx, k->method, k->req, k->req_len, k->opts,
	    &reply, &len, &st);
	if (expect(o, rv == k->want_rv, "%s: %s (%s), want %s", k->method,
	        drpc_err_name(rv), st.message != NULL ? st.message : "",
	        drpc_err_name(k->want_rv)) &&
	    rv == DRPC_OK) {
		(void) expect_payload(
		    o, k->method, reply, len, k->want, k->want_len);
	} else if (rv == k->want_rv && k->want_text != NULL) {
		(void) expect(o,
		    st.remote && st.remote_code == k->want_code &&
		        st.message != NULL &&
		        strcmp(st.message, k->want_text) == 0,
		    "%s: remote error %" PRIu64 " \"%s\", want %" PRIu64
		    " \"%s\"",
		    k->method, st.remote_code,
		    st.message != NULL ? st.message : "", k->want_code,
		    k->want_text);
	}
	drpc_free(reply);
	drpc_status_reset(&st);
}

// call_encoded makes call k with the request req (req_len bytes, encoded
// as enc says: out of memory unless DRPC_OK), then frees req.
static void
call_encoded(outcome *o, drpc_conn *c, drpc_err enc, uint8_t *req,
    size_t req_len, call k)
{
	if (!expect(o, enc == DRPC_OK, "out of memory")) {
		return;
	}
	k.req     = req;
	k.req_len = req_len;
	call_check(o, c, &k);
	free(req);
}

// unary calls Unary(payload) and checks the echo.
static void
unary(outcome *o, drpc_conn *c, const void *payload, size_t len)
{
	uint8_t *req     = NULL;
	size_t   req_len = 0;
	drpc_err enc     = echo_msg_encode(payload, len, &req, &req_len);

	call_encoded(o, c, enc, req, req_len,
	    (call){.method = "/interop.Echo/Unary",
	        .want      = payload,
	        .want_len  = len});
}

static void
unary_str(outcome *o, drpc_conn *c, const char *s)
{
	unary(o, c, s, strlen(s));
}

// fail_call calls Fail(code, text): the call returns want_rv.
static void
fail_call(
    outcome *o, drpc_conn *c, uint64_t code, const char *msg, drpc_err want_rv)
{
	uint8_t *req     = NULL;
	size_t   req_len = 0;
	drpc_err enc     = echo_fail_req_encode(code, msg, &req, &req_len);

	call_encoded(o, c, enc, req, req_len,
	    (call){.method = "/interop.Echo/Fail",
	        .want_rv   = want_rv,
	        .want_code = code,
	        .want_text = msg});
}

// recv_msg receives one message of s and checks its payload.
static bool
recv_msg(outcome *o, drpc_stream *s, const char *what, const void *want,
    size_t want_len)
{
	void    *data = NULL;
	size_t   len  = 0;
	drpc_err rv   = drpc_stream_recv(s, &data, &len);
	bool     ok;

	ok =
	    expect(o, rv == DRPC_OK, "%s: recv: %s", what, drpc_err_name(rv)) &&
	    expect_payload(o, what, data, len, want, want_len);
	drpc_free(data);
	return ok;
}

static void
recv_eof(outcome *o, drpc_stream *s, const char *what)
{
	void    *data = NULL;
	size_t   len  = 0;
	drpc_err rv   = drpc_stream_recv(s, &data, &len);

	(void) expect(o, rv == DRPC_EOF, "%s: recv: %s, want DRPC_EOF", what,
	    drpc_err_name(rv));
	drpc_free(data);
}

static bool
send_msg(outcome *o, drpc_stream *s, const char *what, const char *payload)
{
	uint8_t *body;
	size_t   len;
	drpc_err rv;

	if (!expect(o,
	        echo_msg_encode(payload, strlen(payload), &body, &len) ==
	            DRPC_OK,
	        "out of memory")) {
		return false;
	}
	rv = drpc_stream_send(s, body, len);
	free(body);
	return expect(
	    o, rv == DRPC_OK, "%s: send: %s", what, drpc_err_name(rv));
}

// open_stream opens method; NULL (recorded in o) on failure.
static drpc_stream *
open_stream(outcome *o, drpc_conn *c, const char *method)
{
	drpc_stream *s  = NULL;
	drpc_err     rv = drpc_stream_open(&s, c, NULL, method, NULL);

	(void) expect(
	    o, rv == DRPC_OK, "%s: open: %s", method, drpc_err_name(rv));
	return rv == DRPC_OK ? s : NULL;
}

// server_stream: ServerStream(count, size) gives count patterned Msgs.
static void
server_stream(outcome *o, drpc_conn *c, int32_t count, int32_t size)
{
	const char  *what = "ServerStream";
	drpc_stream *s    = open_stream(o, c, "/interop.Echo/ServerStream");
	uint8_t      req[ECHO_REQ_MAX];
	uint8_t     *want = malloc(size > 0 ? (size_t) size : 1);
	size_t       len  = echo_stream_req_put(req, count, size);
	bool         ok   = s != NULL && expect(o, want != NULL, "no memory");

	for (int32_t i = 0; ok && i < size; i++) {
		want[i] = (uint8_t) (i % 251);
	}
	ok = ok && expect(o, drpc_stream_send(s, req, len) == DRPC_OK,
	               "%s: send", what);
	ok = ok && expect(o, drpc_stream_close_send(s) == DRPC_OK,
	               "%s: close_send", what);
	for (int32_t i = 0; ok && i < count; i++) {
		ok = recv_msg(o, s, what, want, (size_t) size);
	}
	if (ok) {
		recv_eof(o, s, what);
	}
	free(want);
	drpc_stream_destroy(s);
}

// stream_end, if all went well so far (ok), closes s's sending side,
// receives want (if not NULL: a client stream's one reply) and expects the
// end of the stream; then it destroys s.
static void
stream_end(
    outcome *o, drpc_stream *s, const char *what, bool ok, const char *want)
{
	ok = ok && expect(o, drpc_stream_close_send(s) == DRPC_OK,
	               "%s: close_send", what);
	ok = ok && (want == NULL || recv_msg(o, s, what, want, strlen(want)));
	if (ok) {
		recv_eof(o, s, what);
	}
	drpc_stream_destroy(s);
}

// client_stream sends parts, then expects their concatenation.
static void
client_stream(outcome *o, drpc_conn *c, const char *const *parts, size_t n,
    const char *want)
{
	const char  *what = "ClientStream";
	drpc_stream *s    = open_stream(o, c, "/interop.Echo/ClientStream");
	bool         ok   = s != NULL;

	for (size_t i = 0; ok && i < n; i++) {
		ok = send_msg(o, s, what, parts[i]);
	}
	stream_end(o, s, what, ok, want);
}

// bidi sends each part and waits for its echo before the next.
static void
bidi(outcome *o, drpc_conn *c, const char *const *parts, size_t n)
{
	const char  *what = "Bidi";
	drpc_stream *s    = open_stream(o, c, "/interop.Echo/Bidi");
	bool         ok   = s != NULL;

	for (size_t i = 0; ok && i < n; i++) {
		ok = send_msg(o, s, what, parts[i]) &&
		     recv_msg(o, s, what, parts[i], strlen(parts[i]));
	}
	stream_end(o, s, what, ok, NULL);
}

// metadata calls Metadata(Msg{}) with md and expects the sorted lines.
static void
metadata(outcome *o, drpc_conn *c, const drpc_md_pair *md, size_t n,
    const char *want)
{
	drpc_call_opts opts = {.md = md, .nmd = n};

	call_check(o, c,
	    &(call){.method = "/interop.Echo/Metadata",
	        .req        = (const uint8_t *) "",
	        .opts       = &opts,
	        .want       = want,
	        .want_len   = strlen(want)});
}

// The scenarios: each transcript's calls, as its .txt describes them.

static void
cs_unary_small(drpc_conn *c, outcome *o)
{
	unary_str(o, c, "hello, drpc");
}

static void
cs_unary_empty(drpc_conn *c, outcome *o)
{
	unary(o, c, NULL, 0);
}

static void
cs_unary_64k(drpc_conn *c, outcome *o)
{
	uint8_t *p = malloc(65536);

	if (expect(o, p != NULL, "out of memory")) {
		for (size_t i = 0; i < 65536; i++) {
			p[i] = (uint8_t) (i % 251);
		}
		unary(o, c, p, 65536);
	}
	free(p);
}

static void
cs_server_stream_0(drpc_conn *c, outcome *o)
{
	server_stream(o, c, 0, 16);
}

static void
cs_server_stream_1(drpc_conn *c, outcome *o)
{
	server_stream(o, c, 1, 0);
}

static void
cs_server_stream_3(drpc_conn *c, outcome *o)
{
	server_stream(o, c, 3, 300);
}

static void
cs_client_stream(drpc_conn *c, outcome *o)
{
	static const char *const parts[] = {"a", "bb", "ccc"};

	client_stream(o, c, parts, 3, "abbccc");
}

static void
cs_client_stream_empty(drpc_conn *c, outcome *o)
{
	client_stream(o, c, NULL, 0, "");
}

static void
cs_bidi(drpc_conn *c, outcome *o)
{
	static const char *const parts[] = {"one", "two", "three"};

	bidi(o, c, parts, 3);
}

// A code above 16 is no gRPC status: drpc_invoke says DRPC_EREMOTE.
static void
cs_fail(drpc_conn *c, outcome *o)
{
	fail_call(o, c, 42, "boom", DRPC_EREMOTE);
}

static void
cs_fail_bigcode(drpc_conn *c, outcome *o)
{
	fail_call(o, c, 0xDEADBEEFCAFEF00Dull, "big code", DRPC_EREMOTE);
}

static void
cs_metadata(drpc_conn *c, outcome *o)
{
	drpc_md_pair md[] = {drpc_md_str("authorization", "Bearer t0k3n"),
	    drpc_md_str("empty", ""), drpc_md_str("x-request-id", "req-0001")};

	metadata(o, c, md, 3,
	    "authorization=Bearer t0k3n\nempty=\nx-request-id=req-0001\n");
}

// sleep_cancel: our client cancels softly (a Cancel packet, the
// connection kept), as this transcript's upstream client did. The call's
// context (o->cancel) is cancelled by the scripted server once it has the
// whole call, where the recording has the client's Cancel.
static void
cs_sleep_cancel(drpc_conn *c, outcome *o)
{
	uint8_t req[ECHO_REQ_MAX];
	size_t  len = echo_sleep_req_put(req, SLEEP_MS);

	call_check(o, c,
	    &(call){.method = "/interop.Echo/Sleep",
	        .req        = req,
	        .req_len    = len,
	        .ctx        = o->cancel,
	        .want_rv    = DRPC_ECANCELED});
	unary_str(o, c, "after cancel");
}

static void
cs_unknown_rpc(drpc_conn *c, outcome *o)
{
	static const uint8_t req[] = {0x0a, 0x01, 'x'}; // Msg{"x"}

	call_check(o, c,
	    &(call){.method = "/interop.Echo/NoSuchMethod",
	        .req        = req,
	        .req_len    = sizeof(req),
	        .want_rv    = DRPC_EREMOTE,
	        .want_code  = 0,
	        .want_text  = "protocol error: unknown rpc: "
	                      "\"/interop.Echo/NoSuchMethod\""});
	unary_str(o, c, "after unknown rpc");
}

static void
cs_multi_call(drpc_conn *c, outcome *o)
{
	static const char *const cparts[] = {"x", "yz"};
	static const char *const bparts[] = {"ping", "pong"};
	drpc_md_pair             md[]     = {drpc_md_str("k", "v")};

	unary_str(o, c, "first");
	unary(o, c, NULL, 0);
	server_stream(o, c, 2, 5);
	client_stream(o, c, cparts, 2, "xyz");
	bidi(o, c, bparts, 2);
	fail_call(o, c, 7, "seven", DRPC_EPERM); // 7, a gRPC code, is returned
	metadata(o, c, md, 1, "k=v\n");
	unary_str(o, c, "last");
}

typedef struct client_case {
	const char *name;
	void (*run)(drpc_conn *c, outcome *o);
	bool deadline; // the calls have a deadline (see the file comment)
} client_case;

// Every transcript but sleep_hard_cancel: libdrpc's client cancels
// softly (a Cancel packet) and keeps the connection; it never closes the
// connection to cancel a call, as upstream's default client does.
static const client_case client_cases[] = {
    {"bidi", cs_bidi, false},
    {"client_stream", cs_client_stream, false},
    {"client_stream_empty", cs_client_stream_empty, false},
    {"fail", cs_fail, false},
    {"fail_bigcode", cs_fail_bigcode, false},
    {"metadata", cs_metadata, false},
    {"multi_call", cs_multi_call, false},
    {"server_stream_0", cs_server_stream_0, false},
    {"server_stream_1", cs_server_stream_1, false},
    {"server_stream_3", cs_server_stream_3, false},
    {"sleep_cancel", cs_sleep_cancel, true},
    {"unary_64k", cs_unary_64k, false},
    {"unary_empty", cs_unary_empty, false},
    {"unary_small", cs_unary_small, false},
    {"unknown_rpc", cs_unknown_rpc, false},
};

#define N_CLIENT_CASES (sizeof(client_cases) / sizeof(client_cases[0]))

// The deadline entry: an InvokeMetadata holding only drpc-timeout-ns.
// Decoding allocates, so this is safe on the peer's thread too.
static bool
is_deadline_md(const tpkt *p, uint64_t *ns)
{
	drpc__md md   = {0};
	bool     only = false;
	char     num[24];

	if (p->kind != DRPC__KIND_INVOKE_METADATA ||
	    drpc__md_decode(p->body, p->len, &md) != DRPC_OK) {
		return false;
	}
	if (md.n == 1 && md.entries[0].key_len == strlen(DRPC_MD_TIMEOUT_KEY) &&
	    memcmp(md.entries[0].key, DRPC_MD_TIMEOUT_KEY,
	        md.entries[0].key_len) == 0) {
		only = true;
		if (ns != NULL && md.entries[0].val_len < sizeof(num)) {
			memcpy(num, md.entries[0].val, md.entries[0].val_len);
			num[md.entries[0].val_len] = '\0';
			*ns                        = strtoull(num, NULL, 10);
		}
	}
	drpc__md_fini(&md);
	return only;
}

// count_client counts what the scripted server waits for: every packet
// but Close (optional) and the deadline's InvokeMetadata (not recorded).
static size_t
count_client(const pktlog *pl)
{
	size_t n = 0;

	for (size_t i = 0; i < pl->n; i++) {
		n += pl->pkts[i].kind != DRPC__KIND_CLOSE &&
		     !is_deadline_md(&pl->pkts[i], NULL);
	}
	return n;
}

// peer is the scripted server, on a thread of its own. cancel, if set,
// is cancelled the first time the recording has a client Cancel next.
typedef struct peer {
	const script *sc;
	int           fd;
	pktlog       *got;         // what the client sent
	drpc_ctx     *cancel;
	bool          client_gone; // a write found the client closed
	bool          failed;
	char          why[300];
} peer;

// peer_write writes a piece of server.bin. A client that has already
// closed the connection makes the write fail: that is no failure of the
// peer, as upstream's client too may finish a unary call, and close, before
// the server's CloseSend arrives. Whatever the client still owed, the
// waits for its packets report.
static bool
peer_write(peer *p, const ev *e, char *why, size_t cap)
{
	int err = p->client_gone
	              ? EPIPE
	              : io_write(p->fd, p->sc->sbin + e->off, e->len);

	if (err == EPIPE || err == ECONNRESET) {
		p->client_gone = true;
		return true;
	}
	if (err != 0) {
		snprintf(why, cap, "write: %s", strerror(err));
	}
	return err == 0;
}

static bool
peer_step(peer *p, const ev *e, size_t *want)
{
	char why[256] = "";
	bool ok       = true;

	if (e->dir == 'S' && !e->eof) {
		ok = peer_write(p, e, why, sizeof(why));
	} else if (e->dir == 'C' && !e->eof && e->done &&
	           e->kind != DRPC__KIND_CLOSE) {
		if (e->kind == DRPC__KIND_CANCEL && p->cancel != NULL) {
			drpc_ctx_cancel(p->cancel); // the client's cue
			p->cancel = NULL;
		}
		ok = wait_packets(
		    p->fd, p->got, count_client, ++*want, why, sizeof(why));
	} else if (e->dir == 'C' && e->eof) {
		ok = wait_eof(p->fd, p->got, why, sizeof(why));
	} else if (e->dir == 'S' && e->eof) {
		close(p->fd);
		p->fd = -1;
	}
	if (!ok) {
		snprintf(p->why, sizeof(p->why), "at %c %zu %zu: %s", e->dir,
		    e->off, e->len, why);
	}
	return ok;
}

static void *
peer_main(void *arg)
{
	peer  *p    = arg;
	size_t want = 0;

	for (size_t i = 0; i < p->sc->nev && !p->failed; i++) {
		p->failed = !peer_step(p, &p->sc->ev[i], &want);
	}
	if (p->fd >= 0) {
		close(p->fd); // after a failure: the client's calls end
		p->fd = -1;
	}
	return NULL;
}

// Comparing the client's packets with the recording.

typedef struct cli_cmp {
	const script *sc;
	bool          deadline;
	bool          hello;          // the client sends a flow-control hello
	uint64_t      shift[MAX_SID]; // message id offset per stream
	size_t        deadline_mds;
	size_t        hellos;
} cli_cmp;

static bool
md_has(const drpc__md *md, const drpc__md_entry *e)
{
	const drpc__md_entry *f = drpc__md_get(md, e->key, e->key_len);

	return f != NULL && f->val_len == e->val_len &&
	       (f->val_len == 0 || memcmp(f->val, e->val, f->val_len) == 0);
}

// cli_md_check: the same pairs, in any order (README section 5.3).
static void
cli_md_check(const cli_cmp *k, size_t j, const tpkt *want, const tpkt *got)
{
	drpc__md wm = {0};
	drpc__md gm = {0};
	text     t;
	size_t   extra = 0;

	DRPC_CHECK_OK(drpc__md_decode(want->body, want->len, &wm));
	ck_assert_msg(drpc__md_decode(got->body, got->len, &gm) == DRPC_OK,
	    "%s: client packet %zu: bad metadata %s", k->sc->name, j,
	    pkt_desc(got, &t));
	if (k->deadline && drpc__md_get(&gm, DRPC_MD_TIMEOUT_KEY,
	                       strlen(DRPC_MD_TIMEOUT_KEY)) != NULL) {
		extra = 1;
	}
	ck_assert_msg(gm.n == wm.n + extra,
	    "%s: client packet %zu: %zu metadata pairs, want %zu", k->sc->name,
	    j, gm.n, wm.n);
	for (size_t i = 0; i < wm.n; i++) {
		ck_assert_msg(md_has(&gm, &wm.entries[i]),
		    "%s: client packet %zu: pair %.*s missing or different",
		    k->sc->name, j, (int) wm.entries[i].key_len,
		    (const char *) wm.entries[i].key);
	}
	drpc__md_fini(&wm);
	drpc__md_fini(&gm);
}

static void
cli_pkt_check(const cli_cmp *k, size_t j, const tpkt *want, const tpkt *got)
{
	uint64_t shift = want->sid < MAX_SID ? k->shift[want->sid] : 0;
	text     tw;
	text     tg;

	ck_assert_msg(got->kind == want->kind && got->sid == want->sid &&
	                  got->mid == want->mid + shift &&
	                  got->control == want->control,
	    "%s: client packet %zu: got %s, want %s%s", k->sc->name, j,
	    pkt_desc(got, &tg), pkt_desc(want, &tw),
	    shift != 0 ? " (message ids shifted: deadline metadata or "
	                 "flow-control hello)"
	               : "");
	if (want->kind == DRPC__KIND_INVOKE_METADATA) {
		cli_md_check(k, j, want, got);
	} else {
		ck_assert_msg(pkt_same_body(got, want),
		    "%s: client packet %zu: got %s, want %s", k->sc->name, j,
		    pkt_desc(got, &tg), pkt_desc(want, &tw));
	}
	ck_assert_msg(want->len > UPSTREAM_SPLIT || got->frames == want->frames,
	    "%s: client packet %zu (%zu bytes) came in %zu frames, want %zu",
	    k->sc->name, j, got->len, got->frames, want->frames);
}

// cli_deadline_md accepts the deadline's InvokeMetadata where the calls
// have a deadline: message 1 of its stream, a positive number of
// nanoseconds no larger than CANCEL_DEADLINE_MS, once per scenario.
static void
cli_deadline_md(cli_cmp *k, size_t j, const tpkt *got, uint64_t ns)
{
	text t;

	ck_assert_msg(k->deadline,
	    "%s: client packet %zu: %s is not in the recording, and no call "
	    "here has a deadline",
	    k->sc->name, j, pkt_desc(got, &t));
	ck_assert_msg(
	    got->mid == 1 && got->sid < MAX_SID && k->deadline_mds == 0,
	    "%s: client packet %zu: unexpected %s", k->sc->name, j,
	    pkt_desc(got, &t));
	ck_assert_msg(ns > 0 && ns <= CANCEL_DEADLINE_MS * (uint64_t) NS_PER_MS,
	    "%s: %s is %" PRIu64 " ns", k->sc->name, DRPC_MD_TIMEOUT_KEY, ns);
	k->shift[got->sid]++;
	k->deadline_mds++;
}

// cli_hello accepts the flow-control hello (docs/protocol.md §13) of a
// client in automatic mode: once per connection, on its first stream,
// right after that stream's Invoke, a conforming version-1 body announcing
// the default window; it takes one message id of that stream.
static void
cli_hello(cli_cmp *k, size_t j, const tpkt *got, const tpkt *prev)
{
	drpc__frame f = {.stream_id = got->sid, .message_id = got->mid,
	    .data = got->body, .len = got->len, .kind = (uint8_t) got->kind,
	    .control = got->control, .done = true};
	drpc__hello h;
	text        t;

	ck_assert_msg(k->hello && k->hellos == 0 && got->sid < MAX_SID,
	    "%s: client packet %zu: unexpected %s", k->sc->name, j,
	    pkt_desc(got, &t));
	ck_assert_msg(prev != NULL && prev->kind == DRPC__KIND_INVOKE &&
	                  prev->sid == got->sid && prev->mid + 1 == got->mid,
	    "%s: client packet %zu: the hello does not follow its Invoke",
	    k->sc->name, j);
	ck_assert_msg(got->frames == 1 && drpc__hello_parse(&f, &h) &&
	                  h.version == DRPC__HELLO_VERSION &&
	                  h.window == DRPC__FLOW_WINDOW,
	    "%s: client packet %zu: bad hello %s", k->sc->name, j,
	    pkt_desc(got, &t));
	k->shift[got->sid]++;
	k->hellos++;
}

static void
cli_compare(const script *sc, const pktlog *got, bool deadline, bool hello)
{
	pktlog *want = pktlog_from(sc, sc->cbin, sc->clen);
	cli_cmp k    = {.sc = sc, .deadline = deadline, .hello = hello};
	size_t  i    = 0;
	size_t  j    = 0;
	text    t;

	ck_assert_msg(
	    got->err[0] == '\0', "%s: client output: %s", sc->name, got->err);
	ck_assert_msg(got->used == got->raw.len,
	    "%s: the client's output ends inside a frame", sc->name);
	while (i < want->n || j < got->n) {
		const tpkt *w  = i < want->n ? &want->pkts[i] : NULL;
		const tpkt *g  = j < got->n ? &got->pkts[j] : NULL;
		uint64_t    ns = 0;

		if (g != NULL && g->kind == DRPC__KIND_HELLO && g->control) {
			cli_hello(&k, j, g, j > 0 ? &got->pkts[j - 1] : NULL);
			j++;
			continue;
		}
		if (g != NULL && is_deadline_md(g, &ns) &&
		    (w == NULL || w->kind != DRPC__KIND_INVOKE_METADATA ||
		        w->sid != g->sid)) {
			cli_deadline_md(&k, j++, g, ns);
			continue;
		}
		if (w != NULL && w->kind == DRPC__KIND_CLOSE &&
		    (g == NULL || g->kind != DRPC__KIND_CLOSE ||
		        g->sid != w->sid)) {
			i++; // the optional trailing Close, not sent
			continue;
		}
		ck_assert_msg(g != NULL,
		    "%s: client packet %zu missing: want %s", sc->name, j,
		    pkt_desc(w, &t));
		ck_assert_msg(w != NULL, "%s: extra client packet %zu: %s",
		    sc->name, j, pkt_desc(g, &t));
		cli_pkt_check(&k, j++, w, g);
		i++;
	}
	pktlog_destroy(want);
}

// run_client_scenario runs one scenario; modes 0 and 1 (multiplexed and
// one-stream) are in the automatic flow mode, whose hello the comparison
// allows; mode 2 is one-stream with flow control off and without the
// deadline entry, so every scenario, sleep_cancel included, must match
// the recording packet for packet.
static void
run_client_scenario(const client_case *cc, int mode, bool icpt)
{
	size_t         threads = thread_count();
	size_t         fds     = tu_fds();
	script        *sc      = script_load(cc->name);
	drpc_conn_opts co      = {.one_stream = mode >= 1,
		 .omit_deadline = mode == 2,
		 .flow = mode == 2 ? DRPC_FLOW_OFF : DRPC_FLOW_AUTO};
	peer           p       = {.sc = sc, .got = pktlog_create()};
	outcome        o       = {0};
	drpc_conn     *c;
	pthread_t      t;
	int            sv[2];

	ck_assert_ptr_nonnull(p.got);
	if (icpt) {
		co.interceptors  = noop_cv;
		co.ninterceptors = 1;
		co.stats         = &noop_stats;
	}
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p.fd = sv[1];
	DRPC_CHECK_OK(
	    drpc_ctx_create_timeout(&o.cancel, NULL, CANCEL_DEADLINE_MS));
	p.cancel = o.cancel;
	DRPC_CHECK_OK(drpc_conn_create_fd(&c, sv[0], &co));
	DRPC_CHECK_OK(drpc__thread_start(&t, "t-peer", 0, 0, peer_main, &p));
	cc->run(c, &o);
	drpc_conn_destroy(c); // the client's EOF
	drpc__thread_join(t);
	drpc_ctx_destroy(o.cancel);
	ck_assert_msg(!p.failed, "%s: scripted server: %s", sc->name, p.why);
	ck_assert_msg(!o.failed, "%s: client: %s", sc->name, o.why);
	cli_compare(sc, p.got, cc->deadline && mode != 2, mode != 2);
	pktlog_destroy(p.got);
	script_free(sc);
	check_no_leak(threads, fds);
}

// Every client scenario in the default multiplexed mode, in one-stream
// mode, and in one-stream mode without deadline propagation: the
// configuration for upstream Go DRPC servers, which gives its exact bytes.
START_TEST(test_interop_client)
{
	run_client_scenario(&client_cases[_i / 3], _i % 3, false);
}
END_TEST

// With interceptors, in the default mode and the exact-bytes mode.
START_TEST(test_interop_client_icpt)
{
	run_client_scenario(&client_cases[_i / 2], _i % 2 == 0 ? 0 : 2, true);
}
END_TEST

// Every transcript has a client scenario, except sleep_hard_cancel.
START_TEST(test_interop_client_cases_cover)
{
	names nm;

	ck_assert_uint_gt(list_transcripts(&nm), 0);
	for (size_t i = 0; i < nm.n; i++) {
		bool found = strcmp(nm.v[i], "sleep_hard_cancel") == 0;

		for (size_t j = 0; j < N_CLIENT_CASES; j++) {
			found |= strcmp(nm.v[i], client_cases[j].name) == 0;
		}
		ck_assert_msg(found, "no client scenario for %s", nm.v[i]);
	}
}
END_TEST

// The Echo codec, against the transcripts and on edge cases.

// codec_request re-encodes a request to method from its decoded fields
// into a malloc'd buffer (Msg for every method but three).
static void
codec_request(const char *method, const tpkt *p, uint8_t **out, size_t *len)
{
	int32_t        a;
	int32_t        b;
	uint64_t       code;
	const uint8_t *m;
	size_t         n;
	char           msg[256];

	*out = malloc(ECHO_REQ_MAX);
	ck_assert_ptr_nonnull(*out);
	if (strcmp(method, "/interop.Echo/ServerStream") == 0) {
		DRPC_CHECK_OK(echo_stream_req_decode(p->body, p->len, &a, &b));
		*len = echo_stream_req_put(*out, a, b);
	} else if (strcmp(method, "/interop.Echo/Sleep") == 0) {
		DRPC_CHECK_OK(echo_sleep_req_decode(p->body, p->len, &a));
		*len = echo_sleep_req_put(*out, a);
	} else if (strcmp(method, "/interop.Echo/Fail") == 0) {
		DRPC_CHECK_OK(
		    echo_fail_req_decode(p->body, p->len, &code, &m, &n));
		ck_assert_uint_lt(n, sizeof(msg));
		memcpy(msg, m, n);
		msg[n] = '\0';
		free(*out);
		DRPC_CHECK_OK(echo_fail_req_encode(code, msg, out, len));
	} else {
		DRPC_CHECK_OK(echo_msg_decode(p->body, p->len, &m, &n));
		free(*out);
		DRPC_CHECK_OK(echo_msg_encode(m, n, out, len));
	}
}

// codec_check_dir decodes and re-encodes every Message of one direction:
// the result must be the recorded body (canonical proto3, as Go's).
static void
codec_check_dir(const script *sc, const uint8_t *bin, size_t len, bool client)
{
	pktlog *pl = pktlog_from(sc, bin, len);
	char    method[MAX_SID][64];
	text    t;

	memset(method, 0, sizeof(method));
	for (size_t i = 0; i < pl->n; i++) {
		const tpkt *p = &pl->pkts[i];
		uint8_t    *enc;
		size_t      enc_len;

		ck_assert_uint_lt(p->sid, MAX_SID);
		if (p->kind == DRPC__KIND_INVOKE) {
			ck_assert_uint_lt(p->len, sizeof(method[0]));
			memcpy(method[p->sid], p->body, p->len);
		}
		if (p->kind != DRPC__KIND_MESSAGE) {
			continue;
		}
		codec_request(client ? method[p->sid] : "", p, &enc, &enc_len);
		ck_assert_msg(
		    enc_len == p->len &&
		        (enc_len == 0 || memcmp(enc, p->body, enc_len) == 0),
		    "%s: %s re-encodes "
		    "differently",
		    sc->name, pkt_desc(p, &t));
		free(enc);
	}
	pktlog_destroy(pl);
}

START_TEST(test_interop_codec_golden)
{
	names nm;

	ck_assert_uint_gt(list_transcripts(&nm), 0);
	for (size_t i = 0; i < nm.n; i++) {
		script *sc = script_load(nm.v[i]);

		codec_check_dir(sc, sc->cbin, sc->clen, true);
		codec_check_dir(sc, sc->sbin, sc->slen, false);
		script_free(sc);
	}
}
END_TEST

// Negative int32 values take 10-byte varints; defaults are left out.
START_TEST(test_interop_codec_int32)
{
	static const uint8_t neg[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0x01, 0x10, 0x05};
	// count = 2^32 + 5: an int32 keeps the low 32 bits, as Go's does.
	static const uint8_t wide[] = {0x08, 0x85, 0x80, 0x80, 0x80, 0x10};
	uint8_t              out[ECHO_REQ_MAX];
	int32_t              count;
	int32_t              size;

	ck_assert_uint_eq(echo_stream_req_put(out, -1, 5), sizeof(neg));
	ck_assert_mem_eq(out, neg, sizeof(neg));
	DRPC_CHECK_OK(echo_stream_req_decode(neg, sizeof(neg), &count, &size));
	ck_assert_int_eq(count, -1);
	ck_assert_int_eq(size, 5);
	DRPC_CHECK_OK(
	    echo_stream_req_decode(wide, sizeof(wide), &count, &size));
	ck_assert_int_eq(count, 5);
	ck_assert_int_eq(size, 0);
	ck_assert_uint_eq(echo_stream_req_put(out, 0, 0), 0);
	ck_assert_uint_eq(echo_sleep_req_put(out, INT32_MIN), 11);
	DRPC_CHECK_OK(echo_sleep_req_decode(out, 11, &count));
	ck_assert_int_eq(count, INT32_MIN);
	ck_assert_uint_eq(echo_sleep_req_put(out, 5000), 3);
	ck_assert_mem_eq(out, "\x08\x88\x27", 3);
}
END_TEST

// Unknown fields and fields of another wire type are skipped, the last
// occurrence wins; malformed input is refused.
START_TEST(test_interop_codec_decode)
{
	static const uint8_t mixed[] = {0x0a, 0x01, 'a', 0x10, 0x05, 0x1d, 1, 2,
	    3, 4, 0x21, 1, 2, 3, 4, 5, 6, 7, 8, 0x08, 0x07, 0x0a, 0x02, 'b',
	    'c'};
	static const struct {
		uint8_t b[14];
		size_t  n;
	} bad[] = {
	    {{0x0a, 0x05, 'a'}, 3}, // length past the end
	    {{0x0a}, 1},            // no length
	    {{0x00, 0x01}, 2},      // field number 0
	    {{0x0b, 0x0c}, 2},      // a group
	    {{0x0e, 0x00}, 2},      // wire type 6
	    {{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
	        11}, // 65 bits
	    {{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80,
	         0x01},
	        12},                 // 11 bytes
	    {{0x15, 0x01, 0x02}, 3}, // fixed32 cut short
	};
	const uint8_t *p;
	size_t         n;
	uint8_t       *enc;

	DRPC_CHECK_OK(echo_msg_decode(mixed, sizeof(mixed), &p, &n));
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(p, "bc", 2);
	DRPC_CHECK_OK(echo_msg_decode(mixed + 3, 16, &p, &n));
	ck_assert_ptr_null(p); // only fields of other numbers or types
	ck_assert_uint_eq(n, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		DRPC_CHECK_ERR(
		    echo_msg_decode(bad[i].b, bad[i].n, &p, &n), DRPC_EPROTO);
	}
	DRPC_CHECK_OK(echo_msg_encode(NULL, 0, &enc, &n));
	ck_assert_uint_eq(n, 0); // proto3: an empty payload is no bytes
	free(enc);
}
END_TEST

// The service's own behaviour, beyond the transcripts, through a C client
// and server joined by a socketpair.

typedef struct svc {
	sleep_obs    obs;
	drpc_mux    *mux;
	drpc_server *srv;
	drpc_conn   *c;
	size_t       threads;
	size_t       fds;
} svc;

static void
svc_open(svc *v)
{
	int sv[2];

	v->threads = thread_count();
	v->fds     = tu_fds();
	obs_init(&v->obs);
	DRPC_CHECK_OK(drpc_mux_create(&v->mux));
	DRPC_CHECK_OK(echo_register_observed(v->mux, &v->obs.eo));
	DRPC_CHECK_OK(drpc_server_create(&v->srv, v->mux, NULL));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	DRPC_CHECK_OK(drpc_server_serve_fd(v->srv, sv[1]));
	DRPC_CHECK_OK(drpc_conn_create_fd(&v->c, sv[0], NULL));
}

static void
svc_close(svc *v)
{
	drpc_conn_destroy(v->c);
	drpc_server_destroy(v->srv);
	drpc_mux_destroy(v->mux);
	tu_sync_fini(&v->obs.sync);
	check_no_leak(v->threads, v->fds);
}

// Negative count, size or millis fail with code 3; Sleep(0) sleeps not.
START_TEST(test_interop_service_arguments)
{
	static const char *const m_stream = "/interop.Echo/ServerStream";
	static const char *const m_sleep  = "/interop.Echo/Sleep";
	svc                      v;
	outcome                  o = {0};
	uint8_t                  r[3][ECHO_REQ_MAX];
	size_t                   n[3];

	svc_open(&v);
	n[0] = echo_stream_req_put(r[0], -1, 5);
	n[1] = echo_stream_req_put(r[1], 1, -5);
	n[2] = echo_sleep_req_put(r[2], -1);
	for (int i = 0; i < 3; i++) {
		call_check(&o, v.c,
		    &(call){.method = i < 2 ? m_stream : m_sleep,
		        .req        = r[i],
		        .req_len    = n[i],
		        .want_rv    = DRPC_EINVAL,
		        .want_code  = ECHO_CODE_INVALID_ARGUMENT,
		        .want_text  = i < 2 ? "negative count or size"
		                            : "negative millis"});
	}
	n[0] = echo_sleep_req_put(r[0], 0);
	call_check(&o, v.c,
	    &(call){.method = m_sleep,
	        .req        = r[0],
	        .req_len    = n[0],
	        .want       = "slept",
	        .want_len   = 5});
	fail_call(&o, v.c, 0, "no code", DRPC_EREMOTE);
	ck_assert_msg(!o.failed, "%s", o.why);
	svc_close(&v);
}
END_TEST

// A request that is no protobuf fails as Go's does (code 0, protobuf's
// text) and the connection goes on; a non-canonical one is answered in
// canonical form.
START_TEST(test_interop_service_bad_requests)
{
	static const uint8_t bad[] = {0x0a, 0x05, 'a'};
	static const uint8_t dup[] = {
	    0x0a, 0x01, 'a', 0x10, 0x01, 0x0a, 0x02, 'b', 'c'};
	svc     v;
	outcome o = {0};

	svc_open(&v);
	call_check(&o, v.c,
	    &(call){.method = "/interop.Echo/Unary",
	        .req        = bad,
	        .req_len    = sizeof(bad),
	        .want_rv    = DRPC_EREMOTE,
	        .want_code  = 0,
	        .want_text  = "proto: cannot parse invalid wire-format data"});
	call_check(&o, v.c,
	    &(call){.method = "/interop.Echo/Unary",
	        .req        = dup,
	        .req_len    = sizeof(dup),
	        .want       = "bc",
	        .want_len   = 2});
	unary_str(&o, v.c, "still here");
	ck_assert_msg(!o.failed, "%s", o.why);
	svc_close(&v);
}
END_TEST

// Metadata lists the pairs sorted by key, without the deadline entry the
// library adds for a context with a deadline; none gives an empty reply.
START_TEST(test_interop_service_metadata)
{
	drpc_md_pair md[] = {drpc_md_str("zeta", "last"),
	    drpc_md_str("a", "first"), drpc_md_str("ab", "")};
	svc          v;
	outcome      o = {0};
	drpc_ctx    *ctx;

	svc_open(&v);
	DRPC_CHECK_OK(drpc_ctx_create_timeout(&ctx, NULL, 3600 * 1000));
	call_check(&o, v.c,
	    &(call){.method = "/interop.Echo/Metadata",
	        .req        = (const uint8_t *) "",
	        .ctx        = ctx,
	        .opts       = &(drpc_call_opts){.md = md, .nmd = 3},
	        .want       = "a=first\nab=\nzeta=last\n",
	        .want_len   = 22});
	metadata(&o, v.c, NULL, 0, "");
	drpc_ctx_destroy(ctx);
	ck_assert_msg(!o.failed, "%s", o.why);
	svc_close(&v);
}
END_TEST

// A Sleep whose client gives up (deadline) is interrupted on the server:
// it ends with an error, early, where one that was not ends with DRPC_OK
// after SLEEP_MS. Whichever side's deadline fires first ends it: the
// client's (its Cancel) or the server's copy; the client reports
// DRPC_ETIMEDOUT, or DRPC_ECANCELED (the service's answer to its own
// deadline) if that came before the client's deadline woke it. The
// handler must have begun sleeping before the deadline, else nothing was
// interrupted: a round whose threads stalled past the deadline first is
// run again with twice the time.
static bool
sleep_deadline_round(int64_t ms)
{
	svc       v;
	uint8_t   r[ECHO_REQ_MAX];
	size_t    n     = echo_sleep_req_put(r, SLEEP_MS);
	void     *reply = NULL;
	size_t    len;
	drpc_ctx *ctx;
	int64_t   dl;
	drpc_err  rv;
	bool      slept;
	drpc_err  why = DRPC_OK;

	svc_open(&v);
	DRPC_CHECK_OK(drpc_ctx_create_timeout(&ctx, NULL, ms));
	dl = drpc_ctx_deadline(ctx);
	rv = drpc_invoke(
	    v.c, ctx, "/interop.Echo/Sleep", r, n, NULL, &reply, &len, NULL);
	drpc_free(reply);
	drpc_ctx_destroy(ctx);
	ck_assert_msg(rv == DRPC_ETIMEDOUT || rv == DRPC_ECANCELED,
	    "Sleep: %s, want DRPC_ETIMEDOUT or DRPC_ECANCELED",
	    drpc_err_name(rv));
	tu_sync_lock(&v.obs.sync);
	slept = v.obs.started > 0 && v.obs.started_ns < dl;
	tu_sync_unlock(&v.obs.sync);
	if (slept) {
		ck_assert(obs_wait(&v.obs, &v.obs.done, 1));
		tu_sync_lock(&v.obs.sync);
		why = v.obs.why;
		tu_sync_unlock(&v.obs.sync);
	}
	svc_close(&v);
	ck_assert_msg(
	    !slept || why != DRPC_OK, "the Sleep was not interrupted");
	return slept;
}

START_TEST(test_interop_service_sleep_deadline)
{
	int64_t ms = 50;

	while (!sleep_deadline_round(ms)) {
		ck_assert_msg(
		    ms < io_timeout_ms(), "the Sleep handler never began "
		                          "before the client's deadline");
		ms *= 2;
	}
}
END_TEST

Suite *
interop_suite(void)
{
	names nm;
	int   n_transcripts = (int) list_transcripts(&nm);
	// Each TCase's timeout is 60 s.
	const tu_test rows[] = {
	    TU_TEST("server", test_interop_transcripts_present, .timeout = 60),
	    TU_TEST("server", test_interop_server, .loops = n_transcripts),
	    TU_TEST("client", test_interop_client_cases_cover, .timeout = 60),
	    TU_TEST("client", test_interop_client,
	        .loops = (int) (3 * N_CLIENT_CASES)),
	    TU_TEST("codec", test_interop_codec_golden, .timeout = 60),
	    TU_TEST("codec", test_interop_codec_int32),
	    TU_TEST("codec", test_interop_codec_decode),
	    TU_TEST("service", test_interop_service_arguments, .timeout = 60),
	    TU_TEST("service", test_interop_service_bad_requests),
	    TU_TEST("service", test_interop_service_metadata),
	    TU_TEST("service", test_interop_service_sleep_deadline),
	    TU_TEST(
	        "intercept", test_interop_server_icpt, .loops = n_transcripts),
	    TU_TEST("intercept", test_interop_client_icpt,
	        .loops = (int) (2 * N_CLIENT_CASES), .timeout = 60),
	};
	tu_test tests[TU_LEN(rows)];
	size_t  n = 0;

	// The directory is read again by each test, which fails loudly if
	// it has gone; here a missing directory just adds no loop tests.
	for (size_t i = 0; i < TU_LEN(rows); i++) {
		bool per_transcript = rows[i].test == test_interop_server ||
		                      rows[i].test == test_interop_server_icpt;

		if (n_transcripts > 0 || !per_transcript) {
			tests[n++] = rows[i];
		}
	}
	return tu_suite("interop", tests, n);
}
