// drpc-stress: many threads hammer one server over a few shared client
// connections with every kind of call, random sizes, random deadlines and
// cancellations from another thread, and check every byte.
//
//   drpc-stress [--seconds N] [--threads N] [--conns N] [--seed S]
//
// Design notes. Every message is a 24-byte header plus a body:
//   u32 body length | u32 sequence number | u64 call tag | u64 FNV-1a hash
// (little endian; the hash covers the first 16 header bytes and the body).
// A body is a pattern generated from (tag, seq, length), so a receiver can
// regenerate and compare it, and the sequence number catches a lost,
// duplicated or reordered message within a stream. The tag is unique per
// call and also travels as invoke metadata, so the server catches a message
// delivered to the wrong stream. Both ends verify what they receive.
//
// An outcome is allowed if it is success, or for a call whose context was
// cancelled exactly DRPC_ECANCELED, or whose deadline passed exactly
// DRPC_ETIMEDOUT. Anything else (DRPC_EOF, a corrupted byte, a missing
// message) is a failure. The last line of output is "N passed, M failed";
// the exit status is 0 only if M is 0 and the shutdown was clean (server
// shutdown in time, every thread joined, thread and fd counts back to
// where they started). A watchdog ends the process with status 1 if the
// run is not over seconds + 30 s after it began.
#include <inttypes.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "platform/thread.h"
#include "procfs.h"

#define HDR_LEN       24
#define MAX_BODY      ((size_t) 256 << 10)
#define MAX_MSGS      20
#define MAX_CONNS     64
#define MAX_THREADS   1024
#define GRACE_NS      (30 * 1000000000ll)
#define MAX_REPORTS   20
#define SUMMARY_BODY  20 // u32 count, u64 body bytes, u64 digest
#define REQUEST_BODY  12 // u32 count, u64 size seed
#define TAG_KEY       "x-stress-tag"
#define FNV_OFFSET    UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME     UINT64_C(0x100000001b3)
#define NS_PER_MS     1000000ll
#define NS_PER_S      1000000000ll
#define PCT_DEADLINE  15 // calls with a 1-50 ms deadline
#define PCT_CANCEL    15 // calls cancelled by the canceller thread
#define CANCEL_MAX_MS 20 // cancel at a random point up to this late

enum kind { K_UNARY, K_DOWNLOAD, K_UPLOAD, K_BIDI, K_COUNT };
enum mode { M_PLAIN, M_DEADLINE, M_CANCEL };

static const char *const kind_name[K_COUNT] = {
    "unary", "server-stream", "client-stream", "bidi"};
static const char *const kind_method[K_COUNT] = {"/stress.Stress/Unary",
    "/stress.Stress/Download", "/stress.Stress/Upload", "/stress.Stress/Bidi"};

// Per-call steps, shown by the watchdog.
enum step { S_IDLE, S_OPEN, S_SEND, S_RECV, S_CLOSE, S_DONE };
static const char *const step_name[] = {
    "between calls", "opening", "sending", "receiving", "closing", "done"};

// Phases of the main thread, shown by the watchdog.
enum phase {
	P_SETUP,
	P_RUN,
	P_JOIN_WORKERS,
	P_STOP_CANCELLER,
	P_CLOSE_CONNS,
	P_SHUTDOWN,
	P_COUNT_THREADS,
};
static const char *const phase_name[] = {"setting up", "running calls",
    "joining the worker threads", "stopping the canceller",
    "destroying the client connections", "shutting the server down",
    "waiting for threads and fds to go"};

typedef struct kind_stats {
	uint64_t calls;
	uint64_t ok;
	uint64_t canceled;
	uint64_t deadline;
	uint64_t failed;
} kind_stats;

// Client-side counts of one worker, summed after the join.
typedef struct wstats {
	kind_stats k[K_COUNT];
	uint64_t   streams;  // streams opened (unary calls included)
	uint64_t   msgs_out; // client -> server messages sent
	uint64_t   bytes_out;
	uint64_t   msgs_in; // server -> client messages verified
	uint64_t   bytes_in;
	// Failures by kind: a corrupted, lost, duplicated or reordered
	// message; a deadline call that reported DRPC_ECANCELED; the rest.
	uint64_t fail_integrity;
	uint64_t fail_deadline_canceled;
	uint64_t fail_other;
} wstats;

// Server-side counts, updated by handlers (atomic).
typedef struct srv_stats {
	_Atomic uint64_t handlers;
	_Atomic uint64_t msgs_in;
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t msgs_out;
	_Atomic uint64_t bytes_out;
	_Atomic uint64_t corrupt;
} srv_stats;

// The canceller cancels the contexts handed to it when their time comes.
// Items live on the workers' stacks; a worker takes its item back (under
// mu) before destroying the context, so the canceller never sees a freed
// one. drpc_ctx_cancel runs with mu held: it never blocks, and no library
// thread takes mu, so mu is always the outermost lock.
typedef struct cancel_item {
	drpc_ctx           *ctx;
	int64_t             at_ns;
	bool                queued; // guarded by canceller.mu
	struct cancel_item *next;   // guarded by canceller.mu
} cancel_item;

typedef struct canceller {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	pthread_t       t;
	// Guarded by mu:
	cancel_item *head;
	bool         stop;
	uint64_t     fired;
} canceller;

typedef struct stress stress;

typedef struct worker {
	stress   *st;
	int       id;
	pthread_t t;
	uint64_t  rng;
	uint64_t  ncalls;
	uint8_t  *buf; // HDR_LEN + MAX_BODY
	wstats    s;   // this thread only until joined
	// Read by the watchdog (atomic).
	_Atomic int     kind;
	_Atomic int     step;
	_Atomic int64_t since_ns;
} worker;

struct stress {
	// Immutable once the workers start.
	int64_t      seconds;
	int          nthreads;
	int          nconns;
	uint64_t     seed;
	int64_t      start_ns; // when the watchdog's clock started
	int64_t      end_ns;   // when workers stop starting calls
	int64_t      wd_deadline;
	drpc_mux    *mux;
	drpc_server *srv;
	drpc_conn   *conns[MAX_CONNS];
	worker      *workers;

	srv_stats srv_st;
	canceller canc;

	_Atomic int      phase;
	_Atomic uint64_t passed; // running totals, for the watchdog
	_Atomic uint64_t failed;
	_Atomic int      reports;

	pthread_mutex_t wd_mu;
	pthread_cond_t  wd_cv;
	pthread_t       wd;
	bool            wd_done; // guarded by wd_mu
};

// Encoding.

// put_le writes v's n low bytes at p, little-endian; get_le reads n.
static void
put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++) {
		p[i] = (uint8_t) (v >> (8 * i));
	}
}

static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++) {
		v |= (uint64_t) p[i] << (8 * i);
	}
	return v;
}

#define put32(p, v) put_le((p), (uint32_t) (v), 4)
#define put64(p, v) put_le((p), (v), 8)
#define get32(p)    ((uint32_t) get_le((p), 4))
#define get64(p)    get_le((p), 8)

static uint64_t
splitmix(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t
fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h = (h ^ p[i]) * FNV_PRIME;
	}
	return h;
}

// rand_size is log-uniform from 1 B to 256 KiB: a power of two 2^0..2^17
// picked uniformly, then uniform in [2^b, 2^(b+1)].
static size_t
rand_size(uint64_t *rng)
{
	size_t lo = (size_t) 1 << (splitmix(rng) % 18);

	return lo + (size_t) (splitmix(rng) % (lo + 1));
}

static uint64_t
pattern_seed(uint64_t tag, uint32_t seq, size_t len)
{
	return (tag * UINT64_C(0x9e3779b97f4a7c15)) ^ ((uint64_t) seq << 32) ^
	       len;
}

static void
pattern_fill(uint8_t *p, size_t n, uint64_t seed)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		put64(p + i, splitmix(&seed));
	}
	for (uint64_t v = splitmix(&seed); i < n; i++, v >>= 8) {
		p[i] = (uint8_t) v;
	}
}

static bool
pattern_ok(const uint8_t *p, size_t n, uint64_t seed)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		if (get64(p + i) != splitmix(&seed)) {
			return false;
		}
	}
	for (uint64_t v = splitmix(&seed); i < n; i++, v >>= 8) {
		if (p[i] != (uint8_t) v) {
			return false;
		}
	}
	return true;
}

static uint64_t
msg_hash(const uint8_t *m, size_t body_len)
{
	return fnv1a(fnv1a(FNV_OFFSET, m, 16), m + HDR_LEN, body_len);
}

// msg_seal writes the header of the body already at m + HDR_LEN and
// returns the message length.
static size_t
msg_seal(uint8_t *m, size_t body_len, uint32_t seq, uint64_t tag)
{
	put32(m, (uint32_t) body_len);
	put32(m + 4, seq);
	put64(m + 8, tag);
	put64(m + 16, msg_hash(m, body_len));
	return HDR_LEN + body_len;
}

static size_t
msg_build(uint8_t *m, size_t body_len, uint32_t seq, uint64_t tag)
{
	pattern_fill(m + HDR_LEN, body_len, pattern_seed(tag, seq, body_len));
	return msg_seal(m, body_len, seq, tag);
}

// What a receiver expects of the next message.
typedef struct expect {
	uint32_t seq;
	uint64_t tag;
	size_t   body_len; // SIZE_MAX: any
	bool     pattern;  // the body is the generated pattern
} expect;

// msg_check verifies m against e; on failure it says why in why.
static bool
msg_check(const uint8_t *m, size_t len, const expect *e, char *why, size_t cap)
{
	size_t body;

	if (len < HDR_LEN || get32(m) != len - HDR_LEN) {
		snprintf(why, cap, "bad length %zu (header says %" PRIu32 ")",
		    len, len < HDR_LEN ? 0 : get32(m));
		return false;
	}
	body = len - HDR_LEN;
	if (get64(m + 16) != msg_hash(m, body)) {
		snprintf(why, cap, "checksum mismatch (seq %" PRIu32 ", %zu B)",
		    get32(m + 4), body);
		return false;
	}
	if (get64(m + 8) != e->tag) {
		snprintf(why, cap,
		    "message of another call (tag %016" PRIx64
		    ", want %016" PRIx64 ")",
		    get64(m + 8), e->tag);
		return false;
	}
	if (get32(m + 4) != e->seq) {
		snprintf(why, cap,
		    "message %" PRIu32 " where %" PRIu32
		    " was due (lost, duplicated or reordered)",
		    get32(m + 4), e->seq);
		return false;
	}
	if (e->body_len != SIZE_MAX && body != e->body_len) {
		snprintf(why, cap, "message %" PRIu32 " has %zu B, want %zu",
		    e->seq, body, e->body_len);
		return false;
	}
	if (e->pattern && !pattern_ok(m + HDR_LEN, body,
	                      pattern_seed(e->tag, e->seq, body))) {
		snprintf(
		    why, cap, "message %" PRIu32 ": body corrupted", e->seq);
		return false;
	}
	return true;
}

// report prints one failure (at most MAX_REPORTS in all).
static void
report(stress *st, const char *who, const char *what)
{
	if (atomic_fetch_add(&st->reports, 1) < MAX_REPORTS) {
		printf("FAIL %s: %s\n", who, what);
		fflush(stdout);
	}
}

// The server's handlers. user is the stress state.

static bool
srv_tag(drpc_stream *s, uint64_t *tag)
{
	const char *v;
	size_t      len;
	char        hex[17] = {0};

	if (drpc_stream_md_get(s, TAG_KEY, &v, &len) != DRPC_OK || len != 16) {
		return false;
	}
	memcpy(hex, v, 16);
	*tag = strtoull(hex, NULL, 16);
	return true;
}

static drpc_err
srv_corrupt(stress *st, drpc_stream *s, const char *why)
{
	char text[300];

	atomic_fetch_add(&st->srv_st.corrupt, 1);
	snprintf(text, sizeof(text), "%s: %s", drpc_stream_method(s), why);
	report(st, "server", text);
	(void) drpc_stream_set_error(s, DRPC_EDATALOSS, why);
	return DRPC_EDATALOSS;
}

// srv_recv receives the message e describes into a view (recv_done is the
// caller's after DRPC_OK). DRPC_EDATALOSS if it does not check out.
static drpc_err
srv_recv(
    stress *st, drpc_stream *s, const expect *e, const uint8_t **m, size_t *len)
{
	const void *data;
	char        why[200];
	drpc_err    rv;

	if ((rv = drpc_stream_recv_view(s, &data, len)) != DRPC_OK) {
		return rv;
	}
	*m = data;
	atomic_fetch_add(&st->srv_st.msgs_in, 1);
	atomic_fetch_add(&st->srv_st.bytes_in, *len);
	if (!msg_check(*m, *len, e, why, sizeof(why))) {
		drpc_stream_recv_done(s);
		return srv_corrupt(st, s, why);
	}
	return DRPC_OK;
}

static drpc_err
srv_send(stress *st, drpc_stream *s, const void *m, size_t len)
{
	drpc_err rv = drpc_stream_send(s, m, len);

	if (rv == DRPC_OK) {
		atomic_fetch_add(&st->srv_st.msgs_out, 1);
		atomic_fetch_add(&st->srv_st.bytes_out, len);
	}
	return rv;
}

// srv_begin counts the handler and reads the call's tag.
static drpc_err
srv_begin(stress *st, drpc_stream *s, uint64_t *tag)
{
	atomic_fetch_add(&st->srv_st.handlers, 1);
	if (!srv_tag(s, tag)) {
		return srv_corrupt(st, s, "no tag metadata");
	}
	return DRPC_OK;
}

// h_unary echoes the one request.
static drpc_err
h_unary(drpc_stream *s, void *user)
{
	stress        *st = user;
	expect         e  = {.body_len = SIZE_MAX, .pattern = true};
	const uint8_t *m;
	size_t         len;
	drpc_err       rv;

	if ((rv = srv_begin(st, s, &e.tag)) != DRPC_OK ||
	    (rv = srv_recv(st, s, &e, &m, &len)) != DRPC_OK) {
		return rv;
	}
	rv = srv_send(st, s, m, len);
	drpc_stream_recv_done(s);
	return rv;
}

// h_download answers a request {count, size seed} with count messages
// whose sizes come from the seed.
static drpc_err
h_download(drpc_stream *s, void *user)
{
	stress        *st = user;
	expect         e  = {.body_len = REQUEST_BODY};
	const uint8_t *m;
	size_t         len;
	uint32_t       n;
	uint64_t       rng;
	uint8_t       *out;
	drpc_err       rv;

	if ((rv = srv_begin(st, s, &e.tag)) != DRPC_OK ||
	    (rv = srv_recv(st, s, &e, &m, &len)) != DRPC_OK) {
		return rv;
	}
	n   = get32(m + HDR_LEN);
	rng = get64(m + HDR_LEN + 4);
	drpc_stream_recv_done(s);
	if (n > MAX_MSGS) {
		return srv_corrupt(st, s, "request for too many messages");
	}
	if ((out = malloc(HDR_LEN + MAX_BODY)) == NULL) {
		return DRPC_ENOMEM;
	}
	for (uint32_t i = 0; i < n && rv == DRPC_OK; i++) {
		len = msg_build(out, rand_size(&rng), i, e.tag);
		rv  = srv_send(st, s, out, len);
	}
	free(out);
	return rv;
}

// h_upload reads messages until the client's CloseSend and answers with a
// summary {count, body bytes, digest of their hashes}.
static drpc_err
h_upload(drpc_stream *s, void *user)
{
	stress        *st = user;
	expect         e  = {.body_len = SIZE_MAX, .pattern = true};
	const uint8_t *m;
	size_t         len;
	uint64_t       bytes  = 0;
	uint64_t       digest = FNV_OFFSET;
	uint8_t        out[HDR_LEN + SUMMARY_BODY];
	drpc_err       rv;

	if ((rv = srv_begin(st, s, &e.tag)) != DRPC_OK) {
		return rv;
	}
	while ((rv = srv_recv(st, s, &e, &m, &len)) == DRPC_OK) {
		bytes += len - HDR_LEN;
		digest = fnv1a(digest, m + 16, 8);
		drpc_stream_recv_done(s);
		e.seq++;
	}
	if (rv != DRPC_EOF) {
		return rv;
	}
	put32(out + HDR_LEN, e.seq);
	put64(out + HDR_LEN + 4, bytes);
	put64(out + HDR_LEN + 12, digest);
	len = msg_seal(out, SUMMARY_BODY, 0, e.tag);
	return srv_send(st, s, out, len);
}

// h_bidi echoes every message as it comes.
static drpc_err
h_bidi(drpc_stream *s, void *user)
{
	stress        *st = user;
	expect         e  = {.body_len = SIZE_MAX, .pattern = true};
	const uint8_t *m;
	size_t         len;
	drpc_err       rv;

	if ((rv = srv_begin(st, s, &e.tag)) != DRPC_OK) {
		return rv;
	}
	while ((rv = srv_recv(st, s, &e, &m, &len)) == DRPC_OK) {
		drpc_err sent = srv_send(st, s, m, len);

		drpc_stream_recv_done(s);
		if (sent != DRPC_OK) {
			return sent;
		}
		e.seq++;
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// The client side: one call.

typedef struct call {
	worker      *w;
	int          kind;
	int          mode;
	uint64_t     tag;
	drpc_conn   *conn;
	drpc_ctx    *ctx;
	drpc_md_pair md;
	char         tag_hex[17];
	drpc_err     ctx_err; // the context's state when the call ended
	bool         corrupt; // an integrity failure; why says which
	char         why[300];
} call;

static void
call_step(call *c, int step)
{
	atomic_store(&c->w->step, step);
}

static void
call_corrupt(call *c, const char *why)
{
	if (!c->corrupt) {
		c->corrupt = true;
		snprintf(c->why, sizeof(c->why), "%s", why);
	}
}

// call_reason finds out why a stream ended: after a send or close_send
// reported DRPC_EOF (the peer ended the stream), recv says why.
static drpc_err
call_reason(drpc_stream *s, drpc_err rv)
{
	void  *data;
	size_t len;

	while (rv == DRPC_EOF &&
	       (rv = drpc_stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc_free(data);
		rv = DRPC_EOF;
	}
	return rv;
}

static drpc_err
call_send(call *c, drpc_stream *s, const uint8_t *m, size_t len)
{
	drpc_err rv;

	call_step(c, S_SEND);
	if ((rv = drpc_stream_send(s, m, len)) != DRPC_OK) {
		return call_reason(s, rv);
	}
	c->w->s.msgs_out++;
	c->w->s.bytes_out += len;
	return DRPC_OK;
}

static drpc_err
call_close_send(call *c, drpc_stream *s)
{
	drpc_err rv;

	call_step(c, S_CLOSE);
	rv = drpc_stream_close_send(s);
	return rv == DRPC_OK ? rv : call_reason(s, rv);
}

// call_recv receives and verifies the message e describes. A stream that
// ends before it is an integrity failure (a lost message).
static drpc_err
call_recv(call *c, drpc_stream *s, const expect *e, uint8_t *copy)
{
	const void *data;
	size_t      len;
	char        why[200];
	drpc_err    rv;

	call_step(c, S_RECV);
	if ((rv = drpc_stream_recv_view(s, &data, &len)) != DRPC_OK) {
		if (rv == DRPC_EOF) {
			snprintf(why, sizeof(why),
			    "stream ended where message %" PRIu32 " was due",
			    e->seq);
			call_corrupt(c, why);
		}
		return rv;
	}
	c->w->s.msgs_in++;
	c->w->s.bytes_in += len;
	if (!msg_check(data, len, e, why, sizeof(why))) {
		call_corrupt(c, why);
		rv = DRPC_EDATALOSS;
	} else if (copy != NULL) {
		memcpy(copy, data, len);
	}
	drpc_stream_recv_done(s);
	return rv;
}

// call_recv_eof expects the end of the server's messages.
static drpc_err
call_recv_eof(call *c, drpc_stream *s)
{
	void    *data;
	size_t   len;
	drpc_err rv;

	call_step(c, S_RECV);
	if ((rv = drpc_stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc_free(data);
		call_corrupt(c, "a message after the last one (duplicate)");
		return DRPC_EDATALOSS;
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

static drpc_err
call_open(call *c, drpc_stream **sp)
{
	drpc_call_opts o = {.md = &c->md, .nmd = 1};
	drpc_err       rv;

	call_step(c, S_OPEN);
	rv = drpc_stream_open(sp, c->conn, c->ctx, kind_method[c->kind], &o);
	if (rv == DRPC_OK) {
		c->w->s.streams++;
	}
	return rv;
}

// call_end records the status of a failed stream and destroys it.
static drpc_err
call_end(call *c, drpc_stream *s, drpc_err rv)
{
	drpc_status st = {0};

	if (rv != DRPC_OK && !c->corrupt &&
	    drpc_stream_status(s, &st) == DRPC_OK && st.message != NULL) {
		snprintf(c->why, sizeof(c->why), "%s", st.message);
	}
	drpc_status_reset(&st);
	drpc_stream_destroy(s);
	return rv;
}

static drpc_err
do_unary(call *c)
{
	uint8_t       *m    = c->w->buf;
	size_t         body = rand_size(&c->w->rng);
	size_t         len  = msg_build(m, body, 0, c->tag);
	expect         e    = {0, c->tag, body, true};
	drpc_call_opts o    = {.md = &c->md, .nmd = 1};
	drpc_status    st   = {0};
	void          *reply;
	size_t         rlen;
	drpc_err       rv;

	call_step(c, S_RECV);
	rv = drpc_invoke(c->conn, c->ctx, kind_method[K_UNARY], m, len, &o,
	    &reply, &rlen, &st);
	c->w->s.streams++;
	if (rv != DRPC_OK) {
		snprintf(c->why, sizeof(c->why), "%s",
		    st.message != NULL ? st.message : "");
		drpc_status_reset(&st);
		return rv;
	}
	c->w->s.msgs_out++;
	c->w->s.bytes_out += len;
	c->w->s.msgs_in++;
	c->w->s.bytes_in += rlen;
	if (!msg_check(reply, rlen, &e, c->why, sizeof(c->why))) {
		c->corrupt = true;
		rv         = DRPC_EDATALOSS;
	}
	drpc_free(reply);
	return rv;
}

static drpc_err
do_download(call *c)
{
	uint8_t     *m   = c->w->buf;
	uint32_t     n   = (uint32_t) (splitmix(&c->w->rng) % (MAX_MSGS + 1));
	uint64_t     rng = splitmix(&c->w->rng);
	drpc_stream *s;
	drpc_err     rv;
	size_t       len;

	put32(m + HDR_LEN, n);
	put64(m + HDR_LEN + 4, rng);
	len = msg_seal(m, REQUEST_BODY, 0, c->tag);
	if ((rv = call_open(c, &s)) != DRPC_OK) {
		return rv;
	}
	if ((rv = call_send(c, s, m, len)) == DRPC_OK) {
		rv = call_close_send(c, s);
	}
	for (uint32_t i = 0; i < n && rv == DRPC_OK; i++) {
		expect e = {i, c->tag, rand_size(&rng), true};

		rv = call_recv(c, s, &e, NULL);
	}
	if (rv == DRPC_OK) {
		rv = call_recv_eof(c, s);
	}
	return call_end(c, s, rv);
}

// upload_check compares the server's summary with what was sent.
static drpc_err
upload_check(
    call *c, const uint8_t *sum, uint32_t n, uint64_t bytes, uint64_t digest)
{
	char why[200];

	if (get32(sum + HDR_LEN) != n || get64(sum + HDR_LEN + 4) != bytes ||
	    get64(sum + HDR_LEN + 12) != digest) {
		snprintf(why, sizeof(why),
		    "server counted %" PRIu32 " messages / %" PRIu64
		    " B, sent %" PRIu32 " / %" PRIu64 " (or digests differ)",
		    get32(sum + HDR_LEN), get64(sum + HDR_LEN + 4), n, bytes);
		call_corrupt(c, why);
		return DRPC_EDATALOSS;
	}
	return DRPC_OK;
}

static drpc_err
do_upload(call *c)
{
	uint8_t     *m     = c->w->buf;
	uint32_t     n     = (uint32_t) (splitmix(&c->w->rng) % (MAX_MSGS + 1));
	uint64_t     bytes = 0;
	uint64_t     digest = FNV_OFFSET;
	expect       e      = {0, c->tag, SUMMARY_BODY, false};
	uint8_t      sum[HDR_LEN + SUMMARY_BODY];
	drpc_stream *s;
	drpc_err     rv;

	if ((rv = call_open(c, &s)) != DRPC_OK) {
		return rv;
	}
	for (uint32_t i = 0; i < n && rv == DRPC_OK; i++) {
		size_t body = rand_size(&c->w->rng);
		size_t len  = msg_build(m, body, i, c->tag);

		bytes += body;
		digest = fnv1a(digest, m + 16, 8);
		rv     = call_send(c, s, m, len);
	}
	if (rv == DRPC_OK) {
		rv = call_close_send(c, s);
	}
	if (rv == DRPC_OK) {
		rv = call_recv(c, s, &e, sum);
	}
	if (rv == DRPC_OK) {
		rv = upload_check(c, sum, n, bytes, digest);
	}
	if (rv == DRPC_OK) {
		rv = call_recv_eof(c, s);
	}
	return call_end(c, s, rv);
}

// bidi_exchange sends n messages and checks their echoes, either in
// lockstep (send one, receive one) or pipelined (send all, then receive).
static drpc_err
bidi_exchange(call *c, drpc_stream *s, uint32_t n, bool lockstep)
{
	uint64_t rng = splitmix(&c->w->rng);
	uint64_t chk = rng;
	drpc_err rv  = DRPC_OK;

	for (uint32_t i = 0, got = 0; got < n && rv == DRPC_OK;) {
		if (i < n && (lockstep ? i == got : true)) {
			size_t len =
			    msg_build(c->w->buf, rand_size(&rng), i, c->tag);

			rv = call_send(c, s, c->w->buf, len);
			if (++i == n && rv == DRPC_OK) {
				rv = call_close_send(c, s);
			}
		} else {
			expect e = {got++, c->tag, rand_size(&chk), true};

			rv = call_recv(c, s, &e, NULL);
		}
	}
	return rv;
}

static drpc_err
do_bidi(call *c)
{
	uint32_t     n = (uint32_t) (splitmix(&c->w->rng) % (MAX_MSGS + 1));
	bool         lockstep = splitmix(&c->w->rng) % 2 == 0;
	drpc_stream *s;
	drpc_err     rv;

	if ((rv = call_open(c, &s)) != DRPC_OK) {
		return rv;
	}
	if (n == 0) {
		rv = call_close_send(c, s);
	}
	if (rv == DRPC_OK) {
		rv = bidi_exchange(c, s, n, lockstep);
	}
	if (rv == DRPC_OK) {
		rv = call_recv_eof(c, s);
	}
	return call_end(c, s, rv);
}

// The canceller.

static void *
canceller_main(void *arg)
{
	canceller *k = arg;

	drpc__mutex_lock(&k->mu);
	while (!k->stop) {
		cancel_item *first = NULL;

		for (cancel_item *i = k->head; i != NULL; i = i->next) {
			if (first == NULL || i->at_ns < first->at_ns) {
				first = i;
			}
		}
		if (first == NULL) {
			drpc__cond_wait(&k->cv, &k->mu);
		} else if (drpc__now_ns() < first->at_ns) {
			// Paces the canceller; ordering comes from mu.
			(void) drpc__cond_wait_until(
			    &k->cv, &k->mu, first->at_ns);
		} else {
			cancel_item **pp = &k->head;

			while (*pp != first) {
				pp = &(*pp)->next;
			}
			*pp           = first->next;
			first->queued = false;
			drpc_ctx_cancel(first->ctx);
			k->fired++;
		}
	}
	drpc__mutex_unlock(&k->mu);
	return NULL;
}

static void
canceller_add(canceller *k, cancel_item *i)
{
	drpc__mutex_lock(&k->mu);
	i->queued = true;
	i->next   = k->head;
	k->head   = i;
	drpc__cond_signal(&k->cv);
	drpc__mutex_unlock(&k->mu);
}

// canceller_take withdraws i if the canceller has not fired it yet.
static void
canceller_take(canceller *k, cancel_item *i)
{
	drpc__mutex_lock(&k->mu);
	if (i->queued) {
		cancel_item **pp = &k->head;

		while (*pp != i) {
			pp = &(*pp)->next;
		}
		*pp       = i->next;
		i->queued = false;
	}
	drpc__mutex_unlock(&k->mu);
}

// Workers.

static void
call_finish(call *c, drpc_err rv)
{
	worker     *w = c->w;
	kind_stats *k = &w->s.k[c->kind];
	char        who[64];
	char        what[512];

	k->calls++;
	if (!c->corrupt && rv == DRPC_OK) {
		k->ok++;
	} else if (!c->corrupt && rv == DRPC_ECANCELED && c->mode == M_CANCEL) {
		k->canceled++;
	} else if (!c->corrupt && rv == DRPC_ETIMEDOUT &&
	           c->mode == M_DEADLINE) {
		k->deadline++;
	} else {
		k->failed++;
		w->s.fail_integrity += c->corrupt;
		w->s.fail_deadline_canceled += !c->corrupt &&
		                               c->mode == M_DEADLINE &&
		                               rv == DRPC_ECANCELED;
		w->s.fail_other += !c->corrupt && !(c->mode == M_DEADLINE &&
		                                      rv == DRPC_ECANCELED);
		atomic_fetch_add(&w->st->failed, 1);
		snprintf(who, sizeof(who), "worker %d %s call %016" PRIx64,
		    w->id, kind_name[c->kind], c->tag);
		snprintf(what, sizeof(what),
		    "%s%s (%s context, which says %s): %s",
		    c->corrupt ? "integrity: " : "", drpc_err_name(rv),
		    c->mode == M_PLAIN      ? "no"
		    : c->mode == M_DEADLINE ? "a deadline"
		                            : "a cancelled",
		    drpc_err_name(c->ctx_err), c->why);
		report(w->st, who, what);
		return;
	}
	atomic_fetch_add(&w->st->passed, 1);
}

static drpc_err
call_run(call *c)
{
	switch (c->kind) {
	case K_UNARY:
		return do_unary(c);
	case K_DOWNLOAD:
		return do_download(c);
	case K_UPLOAD:
		return do_upload(c);
	default:
		return do_bidi(c);
	}
}

// call_ctx makes the call's context for its mode (NULL when plain).
static drpc_err
call_ctx(call *c, cancel_item *ci)
{
	uint64_t r = splitmix(&c->w->rng) % 100;

	c->mode = r < PCT_DEADLINE                ? M_DEADLINE
	          : r < PCT_DEADLINE + PCT_CANCEL ? M_CANCEL
	                                          : M_PLAIN;
	if (c->mode == M_DEADLINE) {
		return drpc_ctx_create_timeout(
		    &c->ctx, NULL, 1 + (int64_t) (splitmix(&c->w->rng) % 50));
	}
	if (c->mode == M_CANCEL) {
		drpc_err rv = drpc_ctx_create(&c->ctx, NULL);

		if (rv == DRPC_OK) {
			ci->ctx   = c->ctx;
			ci->at_ns = drpc_now_ns() +
			            (int64_t) (splitmix(&c->w->rng) %
			                       (CANCEL_MAX_MS * NS_PER_MS + 1));
			canceller_add(&c->w->st->canc, ci);
		}
		return rv;
	}
	return DRPC_OK;
}

static void
one_call(worker *w)
{
	stress     *st = w->st;
	call        c  = {.w = w};
	cancel_item ci = {0};
	drpc_err    rv;

	c.kind = (int) (splitmix(&w->rng) % K_COUNT);
	c.conn = st->conns[splitmix(&w->rng) % (uint64_t) st->nconns];
	c.tag = ((uint64_t) (w->id + 1) << 40) ^ (st->seed << 56) ^ ++w->ncalls;
	snprintf(c.tag_hex, sizeof(c.tag_hex), "%016" PRIx64, c.tag);
	c.md = drpc_md_str(TAG_KEY, c.tag_hex);
	atomic_store(&w->kind, c.kind);
	atomic_store(&w->since_ns, drpc_now_ns());
	if ((rv = call_ctx(&c, &ci)) == DRPC_OK) {
		rv = call_run(&c);
	}
	if (c.mode == M_CANCEL && c.ctx != NULL) {
		canceller_take(&st->canc, &ci);
	}
	c.ctx_err = drpc_ctx_err(c.ctx);
	drpc_ctx_destroy(c.ctx);
	call_step(&c, S_IDLE);
	call_finish(&c, rv);
}

static void *
worker_main(void *arg)
{
	worker *w = arg;

	while (drpc_now_ns() < w->st->end_ns) {
		one_call(w);
	}
	atomic_store(&w->step, S_DONE);
	return NULL;
}

// The watchdog.

static void
watchdog_report(stress *st)
{
	int     phase = atomic_load(&st->phase);
	int64_t now   = drpc_now_ns();

	if (phase == P_JOIN_WORKERS && now < st->end_ns) {
		phase = P_RUN; // the main thread joins as soon as they start
	}

	printf("watchdog: %lld s after the start, still %s\n",
	    (long long) ((now - st->start_ns) / NS_PER_S), phase_name[phase]);
	for (int i = 0; i < st->nthreads; i++) {
		worker *w    = &st->workers[i];
		int     step = atomic_load(&w->step);

		if (step != S_DONE) {
			printf(
			    "watchdog: worker %d %s in a %s call for %lld ms\n",
			    i, step_name[step],
			    kind_name[atomic_load(&w->kind)],
			    (long long) ((now - atomic_load(&w->since_ns)) /
			                 NS_PER_MS));
		}
	}
	printf("%" PRIu64 " passed, %" PRIu64 " failed\n",
	    atomic_load(&st->passed), atomic_load(&st->failed) + 1);
	fflush(stdout);
}

static void *
watchdog_main(void *arg)
{
	stress *st = arg;

	drpc__mutex_lock(&st->wd_mu);
	while (!st->wd_done) {
		if (drpc__cond_wait_until(&st->wd_cv, &st->wd_mu,
		        st->wd_deadline) == DRPC_ETIMEDOUT &&
		    !st->wd_done) {
			watchdog_report(st);
			_exit(
			    1); // something hangs: no orderly exit is possible
		}
	}
	drpc__mutex_unlock(&st->wd_mu);
	return NULL;
}

// Resource counts.

static size_t
count_threads(void)
{
	bool ok = true;

	return tu_proc_threads(&ok); // 0 if /proc cannot be read
}

static size_t
count_fds(void)
{
	bool ok = true;

	return tu_proc_fds(&ok);
}

// Setup and teardown.

static int
usage(void)
{
	fprintf(stderr, "usage: drpc-stress [--seconds N] [--threads N] "
	                "[--conns N] [--seed S]\n");
	return 2;
}

static int
parse_args(stress *st, int argc, char **argv)
{
	for (int i = 1; i < argc; i += 2) { // every option takes a value
		char     *end;
		long long v;

		if (i + 1 >= argc) {
			return usage();
		}
		v = strtoll(argv[i + 1], &end, 0);
		if (*end != '\0' || v < 0) {
			return usage();
		}
		if (strcmp(argv[i], "--seconds") == 0 && v > 0) {
			st->seconds = v;
		} else if (strcmp(argv[i], "--threads") == 0 && v > 0 &&
		           v <= MAX_THREADS) {
			st->nthreads = (int) v;
		} else if (strcmp(argv[i], "--conns") == 0 && v > 0 &&
		           v <= MAX_CONNS) {
			st->nconns = (int) v;
		} else if (strcmp(argv[i], "--seed") == 0) {
			st->seed = (uint64_t) v;
		} else {
			return usage();
		}
	}
	return 0;
}

static drpc_err
server_start(stress *st, char *addr, size_t cap)
{
	static const drpc_handler_fn fns[K_COUNT] = {
	    h_unary, h_download, h_upload, h_bidi};
	drpc_err rv;

	if ((rv = drpc_mux_create(&st->mux)) != DRPC_OK) {
		return rv;
	}
	for (int k = 0; k < K_COUNT; k++) {
		rv = drpc_mux_register(st->mux, kind_method[k], fns[k], st);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	if ((rv = drpc_server_create(&st->srv, st->mux, NULL)) != DRPC_OK ||
	    (rv = drpc_server_listen(st->srv, "tcp://127.0.0.1:0")) !=
	        DRPC_OK) {
		return rv;
	}
	return drpc_server_addr(st->srv, addr, cap);
}

static drpc_err
workers_start(stress *st)
{
	for (int i = 0; i < st->nthreads; i++) {
		worker  *w = &st->workers[i];
		drpc_err rv;

		w->st  = st;
		w->id  = i;
		w->rng = st->seed ^
		         ((uint64_t) (i + 1) * UINT64_C(0x2545f4914f6cdd1d));
		if ((w->buf = malloc(HDR_LEN + MAX_BODY)) == NULL) {
			return DRPC_ENOMEM;
		}
		rv = drpc__thread_start(
		    &w->t, "stress-w", (uint64_t) i, 0, worker_main, w);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return DRPC_OK;
}

static void
workers_join(stress *st, wstats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (int i = 0; i < st->nthreads; i++) {
		worker *w = &st->workers[i];

		drpc__thread_join(w->t);
		for (int k = 0; k < K_COUNT; k++) {
			sum->k[k].calls += w->s.k[k].calls;
			sum->k[k].ok += w->s.k[k].ok;
			sum->k[k].canceled += w->s.k[k].canceled;
			sum->k[k].deadline += w->s.k[k].deadline;
			sum->k[k].failed += w->s.k[k].failed;
		}
		sum->streams += w->s.streams;
		sum->msgs_out += w->s.msgs_out;
		sum->bytes_out += w->s.bytes_out;
		sum->msgs_in += w->s.msgs_in;
		sum->bytes_in += w->s.bytes_in;
		sum->fail_integrity += w->s.fail_integrity;
		sum->fail_deadline_canceled += w->s.fail_deadline_canceled;
		sum->fail_other += w->s.fail_other;
		free(w->buf);
	}
}

// wait_counts waits (bounded, yielding) until the thread and fd counts
// are back to the baseline: the kernel unlists a joined thread a moment
// after pthread_join returns.
static bool
wait_counts(size_t threads, size_t fds, size_t *now_threads, size_t *now_fds)
{
	int64_t deadline = drpc_now_ns() + 5 * NS_PER_S;

	for (;;) {
		*now_threads = count_threads();
		*now_fds     = count_fds();
		if ((*now_threads == threads && *now_fds == fds) ||
		    drpc_now_ns() >= deadline) {
			return *now_threads == threads && *now_fds == fds;
		}
		sched_yield();
	}
}

static double
mib(uint64_t bytes)
{
	return (double) bytes / (1024.0 * 1024.0);
}

static void
print_summary(stress *st, const wstats *t, uint64_t fired)
{
	kind_stats all = {0};

	printf("drpc-stress: %lld s, %d threads, %d connections, seed %" PRIu64
	       "\n",
	    (long long) st->seconds, st->nthreads, st->nconns, st->seed);
	printf("%-14s %10s %10s %10s %10s %8s\n", "kind", "calls", "ok",
	    "canceled", "deadline", "failed");
	for (int k = 0; k < K_COUNT; k++) {
		const kind_stats *s = &t->k[k];

		printf("%-14s %10" PRIu64 " %10" PRIu64 " %10" PRIu64
		       " %10" PRIu64 " %8" PRIu64 "\n",
		    kind_name[k], s->calls, s->ok, s->canceled, s->deadline,
		    s->failed);
		all.calls += s->calls;
		all.ok += s->ok;
		all.canceled += s->canceled;
		all.deadline += s->deadline;
		all.failed += s->failed;
	}
	printf("%-14s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRIu64
	       " %8" PRIu64 "\n",
	    "total", all.calls, all.ok, all.canceled, all.deadline, all.failed);
	printf("streams opened: %" PRIu64 " by clients, %" PRIu64
	       " handled by the server; %" PRIu64 " cancels fired\n",
	    t->streams, atomic_load(&st->srv_st.handlers), fired);
	printf("client -> server: %" PRIu64 " messages, %" PRIu64
	       " bytes (%.1f MiB) sent; server received %" PRIu64
	       " messages, %" PRIu64 " bytes\n",
	    t->msgs_out, t->bytes_out, mib(t->bytes_out),
	    atomic_load(&st->srv_st.msgs_in),
	    atomic_load(&st->srv_st.bytes_in));
	printf("server -> client: %" PRIu64 " messages, %" PRIu64
	       " bytes (%.1f MiB) sent; clients verified %" PRIu64
	       " messages, %" PRIu64 " bytes\n",
	    atomic_load(&st->srv_st.msgs_out),
	    atomic_load(&st->srv_st.bytes_out),
	    mib(atomic_load(&st->srv_st.bytes_out)), t->msgs_in, t->bytes_in);
	printf("failures: %" PRIu64 " integrity (client), %" PRIu64
	       " integrity (server), %" PRIu64
	       " deadline calls that reported DRPC_ECANCELED, %" PRIu64
	       " other\n",
	    t->fail_integrity, atomic_load(&st->srv_st.corrupt),
	    t->fail_deadline_canceled, t->fail_other);
}

// teardown stops everything in order; false if anything was not clean.
static bool
teardown(stress *st, wstats *sum, uint64_t *fired)
{
	bool     clean = true;
	drpc_err rv;

	atomic_store(&st->phase, P_JOIN_WORKERS);
	workers_join(st, sum);
	atomic_store(&st->phase, P_STOP_CANCELLER);
	drpc__mutex_lock(&st->canc.mu);
	st->canc.stop = true;
	drpc__cond_signal(&st->canc.cv);
	drpc__mutex_unlock(&st->canc.mu);
	drpc__thread_join(st->canc.t);
	*fired = st->canc.fired;
	if (st->canc.head != NULL) {
		printf("teardown: the canceller still holds a context\n");
		clean = false;
	}
	atomic_store(&st->phase, P_CLOSE_CONNS);
	for (int i = 0; i < st->nconns; i++) {
		if ((rv = drpc_conn_err(st->conns[i])) != DRPC_OK) {
			printf("teardown: connection %d failed: %s\n", i,
			    drpc_err_name(rv));
			clean = false;
		}
		drpc_conn_destroy(st->conns[i]);
	}
	atomic_store(&st->phase, P_SHUTDOWN);
	rv = drpc_server_shutdown(st->srv, drpc_now_ns() + 10 * NS_PER_S);
	if (rv != DRPC_OK) {
		printf("teardown: server shutdown: %s\n", drpc_err_name(rv));
		clean = false;
	}
	drpc_server_destroy(st->srv);
	drpc_mux_destroy(st->mux);
	return clean;
}

static bool
setup(stress *st)
{
	char     addr[300];
	drpc_err rv;

	if ((rv = server_start(st, addr, sizeof(addr))) != DRPC_OK) {
		printf("setup: server: %s\n", drpc_err_name(rv));
		return false;
	}
	for (int i = 0; i < st->nconns; i++) {
		if ((rv = drpc_dial(&st->conns[i], addr, NULL)) != DRPC_OK) {
			printf("setup: dial %s: %s\n", addr, drpc_err_name(rv));
			return false;
		}
	}
	rv = drpc__thread_start(
	    &st->canc.t, "stress-cancel", 0, 0, canceller_main, &st->canc);
	if (rv == DRPC_OK) {
		// end_ns is written before the phase the watchdog reads first.
		st->end_ns = drpc_now_ns() + st->seconds * NS_PER_S;
		atomic_store(&st->phase, P_RUN);
		rv = workers_start(st);
	}
	if (rv != DRPC_OK) {
		printf("setup: threads: %s\n", drpc_err_name(rv));
		return false;
	}
	return true;
}

int
main(int argc, char **argv)
{
	stress  *st = calloc(1, sizeof(*st)); // zero is a valid atomic
	wstats   sum;
	uint64_t fired = 0;
	size_t   threads0, fds0, threads1 = 0, fds1 = 0;
	bool     clean;
	uint64_t passed, failed;
	int      rc;

	if (st == NULL) {
		return 1;
	}
	st->seconds  = 20;
	st->nthreads = 64;
	st->nconns   = 4;
	st->seed     = (uint64_t) time(NULL);
	if ((rc = parse_args(st, argc, argv)) != 0 ||
	    (st->workers = calloc((size_t) st->nthreads, sizeof(worker))) ==
	        NULL) {
		free(st);
		return rc != 0 ? rc : 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	drpc__mutex_init(&st->wd_mu);
	drpc__cond_init(&st->wd_cv);
	drpc__mutex_init(&st->canc.mu);
	drpc__cond_init(&st->canc.cv);
	st->start_ns    = drpc_now_ns();
	st->wd_deadline = st->start_ns + st->seconds * NS_PER_S + GRACE_NS;
	if (drpc__thread_start(&st->wd, "stress-wd", 0, 0, watchdog_main, st) !=
	    DRPC_OK) {
		return 1;
	}
	threads0 = count_threads();
	fds0     = count_fds();
	if (!setup(st)) {
		watchdog_report(st);
		_exit(1); // what started cannot be stopped in order
	}
	clean = teardown(st, &sum, &fired);
	atomic_store(&st->phase, P_COUNT_THREADS);
	if (!wait_counts(threads0, fds0, &threads1, &fds1)) {
		printf("teardown: %zu threads and %zu fds left, had %zu and "
		       "%zu\n",
		    threads1, fds1, threads0, fds0);
		clean = false;
	}
	drpc__mutex_lock(&st->wd_mu);
	st->wd_done = true;
	drpc__cond_signal(&st->wd_cv);
	drpc__mutex_unlock(&st->wd_mu);
	drpc__thread_join(st->wd);
	print_summary(st, &sum, fired);
	printf("shutdown: %s (threads %zu -> %zu, fds %zu -> %zu)\n",
	    clean ? "clean" : "NOT clean", threads0, threads1, fds0, fds1);
	passed = atomic_load(&st->passed);
	failed = atomic_load(&st->failed) + atomic_load(&st->srv_st.corrupt);
	printf("%" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);
	drpc__cond_fini(&st->canc.cv);
	drpc__mutex_fini(&st->canc.mu);
	drpc__cond_fini(&st->wd_cv);
	drpc__mutex_fini(&st->wd_mu);
	free(st->workers);
	free(st);
	return failed == 0 && clean ? 0 : 1;
}
