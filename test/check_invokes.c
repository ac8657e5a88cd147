// Half-received invokes are bounded in bytes (issue 14): one invoke (its
// method name and metadata, counted as decoded) may cost at most I =
// 64 KiB, all of a connection's together at most P = 1 MiB. An invoke
// past either is refused with an Error of code 8 (ResourceExhausted) whose
// text names the limit, and the connection carries on. And an Error we
// send carries at most T = 16 KiB of text, a longer one cut with a marker.
//
// The peer is raw: the test writes frames byte for byte to a real server
// (drpc_server_serve_fd) and reads every frame it answers.
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "fixture.h"
#include "suites.h"
#include "testutil.h"
#include "wire/errbody.h"
#include "wire/metadata.h"
#include "wire/reader.h"

#define INV_I ((size_t) 64 << 10)
#define INV_P ((size_t) 1 << 20)

// h_fail fails with the text user points to (code 13).
static drpc_err
h_fail(drpc_stream *s, void *user)
{
	drpc_err rv = drpc_stream_set_error(s, 13, user);

	return rv == DRPC_OK ? DRPC_EINTERNAL : rv;
}

// A server on one end of a socketpair, the raw peer on the other.
typedef struct inv {
	tf                 f;
	int                fd;
	drpc__frame_reader fr;
} inv;

static void
inv_open(inv *t)
{
	tf_method echo = {"/t/Echo", tf_h_echo, NULL};
	tf_opts   o    = {.net = TF_PAIR, .methods = &echo, .nmethods = 1};

	tf_server_start(&t->f, &o);
	t->fd = tf_serve_peer(&t->f);
	drpc__frame_reader_init(&t->fr, tf_read_fd, &t->fd, 0);
}

static void
inv_close(inv *t)
{
	drpc__frame_reader_fini(&t->fr);
	close(t->fd);
	tf_free(&t->f);
}

static void
inv_write(inv *t, const void *bytes, size_t n)
{
	ck_assert_int_eq(send(t->fd, bytes, n, MSG_NOSIGNAL), (ssize_t) n);
}

// inv_send writes one frame (done as given) of kind.
static void
inv_send(inv *t, uint8_t kind, uint64_t sid, uint64_t mid, bool done,
    const void *body, size_t len)
{
	drpc__buf   b = {0};
	drpc__frame f = {.stream_id = sid, .message_id = mid, .data = body,
	    .len = len, .kind = kind, .done = done};

	DRPC_CHECK_OK(drpc__frame_append(&b, &f));
	inv_write(t, b.data, b.len);
	drpc__buf_fini(&b);
}

// inv_call sends the rest of a unary call to /t/Echo on sid from message
// id mid on: the Invoke, the request "s<sid>", a CloseSend.
static void
inv_call(inv *t, uint64_t sid, uint64_t mid)
{
	char msg[24];
	int  n = snprintf(msg, sizeof(msg), "s%llu", (unsigned long long) sid);

	inv_send(t, DRPC__KIND_INVOKE, sid, mid, true, "/t/Echo", 7);
	inv_send(t, DRPC__KIND_MESSAGE, sid, mid + 1, true, msg, (size_t) n);
	inv_send(t, DRPC__KIND_CLOSE_SEND, sid, mid + 2, true, NULL, 0);
}

// What the server answered, frame by frame, until every awaited reply.
typedef struct answers {
	size_t   errors;     // Error frames
	size_t   bad_errors; // ...not as expected (code, text, stream)
	size_t   replies;    // Messages that echo their stream's request
	size_t   others;     // any Message or Error on another stream
	uint64_t first_bad;  // the stream of the first unexpected frame
} answers;

// want_error tells whether an Error on sid is expected, and with what text
typedef bool (*want_error_fn)(uint64_t sid, char *text, size_t cap);

static void
answers_note_error(answers *a, const drpc__frame *f, want_error_fn want)
{
	char           text[200];
	uint64_t       code;
	const uint8_t *msg;
	size_t         len;

	a->errors++;
	if (!want(f->stream_id, text, sizeof(text)) ||
	    !drpc__errbody_parse(f->data, f->len, &code, &msg, &len) ||
	    code != 8 || len != strlen(text) || memcmp(msg, text, len) != 0) {
		a->bad_errors++;
		a->first_bad = a->first_bad != 0 ? a->first_bad : f->stream_id;
	}
}

// inv_answers reads what the server sends until it has echoed the
// requests of the n streams in calls (no frame is waited for beyond
// them), noting every Error with want.
static answers
inv_answers(inv *t, const uint64_t *calls, size_t n, want_error_fn want)
{
	answers     a = {0};
	drpc__frame f;
	char        msg[24];

	while (a.replies < n) {
		drpc_err rv = drpc__frame_reader_next(&t->fr, &f);

		if (rv != DRPC_OK) {
			// Plain checks above: no ck_assert per frame (rule 7).
			ck_abort_msg("reading the server's answers: %s, with "
				     "%zu of %zu replies",
			    drpc_err_name(rv), a.replies, n);
		}
		if (f.kind == DRPC__KIND_ERROR) {
			answers_note_error(&a, &f, want);
			continue;
		}
		if (f.kind != DRPC__KIND_MESSAGE) {
			continue; // CloseSend, flow control
		}
		snprintf(msg, sizeof(msg), "s%llu",
		    (unsigned long long) f.stream_id);
		for (size_t i = 0; i < n; i++) {
			if (calls[i] == f.stream_id && f.len == strlen(msg) &&
			    memcmp(f.data, msg, f.len) == 0) {
				a.replies++;
				msg[0] = '\0'; // counted
			}
		}
		if (msg[0] != '\0') {
			a.others++;
			a.first_bad = a.first_bad != 0 ? a.first_bad
						       : f.stream_id;
		}
	}
	return a;
}

// answers_are checks that the server refused errors invokes as expected
// and sent nothing else unexpected.
static void
answers_are(const answers *a, size_t errors)
{
	ck_assert_uint_eq(a->errors, errors);
	ck_assert_msg(a->bad_errors == 0 && a->others == 0,
	    "%zu unexpected Errors, %zu other messages (stream %llu first)",
	    a->bad_errors, a->others, (unsigned long long) a->first_bad);
}

// md_body makes an InvokeMetadata body of n entries: keys "%05zu", values
// of val_len bytes.
static void
md_body(drpc__buf *b, size_t n, size_t val_len)
{
	char *val = calloc(1, val_len + 1);
	char  key[24];

	ck_assert_ptr_nonnull(val);
	memset(val, 'v', val_len);
	for (size_t i = 0; i < n; i++) {
		drpc_md_pair   p;
		drpc__md_entry e;

		snprintf(key, sizeof(key), "%05zu", i);
		p = drpc_md_str(key, val);
		e = (drpc__md_entry) {(const uint8_t *) p.key, p.key_len,
		    (const uint8_t *) p.value, p.value_len};
		DRPC_CHECK_OK(drpc__md_append(b, &e, 1));
	}
	free(val);
}

// The P test: each metadata body holds one entry of a 60,000-byte value,
// so each invoke is under I, and PEND_FIT of them fit in P.
#define PEND_INVOKES 1000
#define PEND_VALUE   60000
#define PEND_COST    (sizeof(drpc__md_entry) + 5 + PEND_VALUE + 2)
#define PEND_FIT     (INV_P / PEND_COST)

static bool
want_pending_error(uint64_t sid, char *text, size_t cap)
{
	snprintf(text, cap,
	    "an invoke on stream %llu refused: half-received invokes over "
	    "the 1048576-byte limit",
	    (unsigned long long) sid);
	return sid > PEND_FIT && sid <= PEND_INVOKES;
}

// 1000 InvokeMetadata packets of about 60 KB that never get their Invoke:
// the first PEND_FIT (17) fit in P and are held; every later one is
// refused (code 8, the limit named); the refused ones' Invokes are
// dropped; and the connection still serves a held invoke completed now
// and a new call.
START_TEST(test_invokes_pending_bytes_bounded)
{
	inv            t;
	drpc__buf      body    = {0};
	drpc__buf      frame   = {0};
	const uint64_t calls[] = {1, PEND_INVOKES + 1};
	uint64_t       sent    = 0;
	answers        a;

	ck_assert_uint_eq(PEND_FIT, 17);
	md_body(&body, 1, PEND_VALUE);
	inv_open(&t);
	for (uint64_t sid = 1; sid <= PEND_INVOKES && sent == sid - 1; sid++) {
		drpc__frame f = {.stream_id = sid, .message_id = 1,
		    .data = body.data, .len = body.len,
		    .kind = DRPC__KIND_INVOKE_METADATA, .done = true};

		frame.len = 0;
		if (drpc__frame_append(&frame, &f) == DRPC_OK &&
		    send(t.fd, frame.data, frame.len, MSG_NOSIGNAL) ==
			(ssize_t) frame.len) {
			sent++; // no ck_assert per frame (rule 7)
		}
	}
	ck_assert_uint_eq(sent, PEND_INVOKES);
	// A refused stream's Invoke and request are dropped; stream 1, held,
	// completes its call; a new stream makes one.
	inv_call(&t, PEND_INVOKES, 2);
	inv_call(&t, 1, 2);
	inv_call(&t, PEND_INVOKES + 1, 1);
	a = inv_answers(&t, calls, 2, want_pending_error);
	answers_are(&a, PEND_INVOKES - PEND_FIT);
	inv_close(&t);
	drpc__buf_fini(&frame);
	drpc__buf_fini(&body);
}
END_TEST

static bool
want_invoke_error(uint64_t sid, char *text, size_t cap)
{
	snprintf(text, cap,
	    "an invoke on stream %llu over the 65536-byte invoke limit",
	    (unsigned long long) sid);
	return sid == 1;
}

// An invoke over I on stream 1, then a good call on stream 3: stream 1
// gets an Error (code 8, the limit named), the rest of its invoke and its
// request are dropped, and stream 3 is served. _i: 0 a 70 KiB
// InvokeMetadata in one frame, 1 the same in two frames of 35 KiB (the
// second refused before it is copied), 2 a 70 KiB method name.
START_TEST(test_invokes_over_invoke_limit)
{
	inv            t;
	drpc__buf      body    = {0};
	const uint64_t calls[] = {3};
	size_t         half;
	answers        a;

	md_body(&body, 1, 70 * 1024);
	half = body.len / 2;
	inv_open(&t);
	if (_i == 0) {
		inv_send(&t, DRPC__KIND_INVOKE_METADATA, 1, 1, true, body.data,
		    body.len);
	} else if (_i == 1) {
		inv_send(&t, DRPC__KIND_INVOKE_METADATA, 1, 1, false,
		    body.data, half);
		inv_send(&t, DRPC__KIND_INVOKE_METADATA, 1, 1, true,
		    body.data + half, body.len - half);
	} else {
		memset(body.data, 'x', body.len);
		inv_send(&t, DRPC__KIND_INVOKE, 1, 1, true, body.data,
		    body.len);
	}
	if (_i != 2) {
		inv_call(&t, 1, 2);
	}
	inv_call(&t, 3, 1);
	a = inv_answers(&t, calls, 1, want_invoke_error);
	answers_are(&a, 1);
	inv_close(&t);
	drpc__buf_fini(&body);
}
END_TEST

// Metadata of many tiny entries is counted as decoded: _i 0, 4,000
// entries (44,000 bytes on the wire, 156,000 decoded) are refused before
// they are decoded, while stream 3 is served; _i 1, 1,500 of them (58,500
// decoded) are taken, and stream 1 is served too.
START_TEST(test_invokes_tiny_entries)
{
	const size_t   n       = _i == 0 ? 4000 : 1500;
	const size_t   refused = _i == 0 ? 1 : 0;
	const uint64_t calls[] = {3, 1};
	inv            t;
	drpc__buf      body = {0};
	answers        a;

	md_body(&body, n, 0);
	ck_assert_uint_lt(body.len, INV_I);
	ck_assert((n * (sizeof(drpc__md_entry) + 7) > INV_I) == (_i == 0));
	inv_open(&t);
	inv_send(&t, DRPC__KIND_INVOKE_METADATA, 1, 1, true, body.data,
	    body.len);
	inv_call(&t, 1, 2);
	inv_call(&t, 3, 1);
	a = inv_answers(&t, calls, _i == 0 ? 1 : 2, want_invoke_error);
	answers_are(&a, refused);
	inv_close(&t);
	drpc__buf_fini(&body);
}
END_TEST

// A handler that fails with a 1 MiB message: the client gets its code and
// a text of at most 16 KiB that ends with the marker saying it was cut.
START_TEST(test_invokes_error_text_cut)
{
	const size_t   big    = (size_t) 1 << 20;
	const char    *marker = " ... (truncated from 1048576 bytes)";
	char          *text   = malloc(big + 1);
	drpc_status    st     = {0};
	tf_method      fail   = {"/t/Fail", h_fail, text};
	tf_opts        o = {.net = TF_PAIR, .methods = &fail, .nmethods = 1};
	tf             f;
	drpc_conn     *c;
	void          *rep = NULL;
	size_t         len = 0;
	size_t         got;

	ck_assert_ptr_nonnull(text);
	memset(text, 'e', big);
	text[big] = '\0';
	tf_server_start(&f, &o);
	c = tf_dial(&f, NULL);
	DRPC_CHECK_ERR(
	    drpc_invoke(c, NULL, "/t/Fail", "x", 1, NULL, &rep, &len, &st),
	    DRPC_EINTERNAL); // gRPC code 13
	ck_assert(st.remote);
	ck_assert_uint_eq(st.remote_code, 13);
	ck_assert_ptr_nonnull(st.message);
	got = strlen(st.message);
	ck_assert_uint_le(got, 16384);
	ck_assert_uint_gt(got, strlen(marker));
	ck_assert_str_eq(st.message + got - strlen(marker), marker);
	ck_assert_mem_eq(st.message, text, got - strlen(marker));
	drpc_status_reset(&st);
	tf_free(&f);
	free(text);
}
END_TEST

TU_SUITE(invokes,
    TU_TEST("limits", test_invokes_pending_bytes_bounded, .timeout = 30),
    TU_TEST("limits", test_invokes_over_invoke_limit, .loops = 3),
    TU_TEST("limits", test_invokes_tiny_entries, .loops = 2),
    TU_TEST("limits", test_invokes_error_text_cut))
