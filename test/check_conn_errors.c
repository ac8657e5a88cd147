// The error classification of the multiplexed connection (the seed's "Error
// classification"; drpc-protocol.md §16.4, §10, §11): a connection-scoped
// failure ends every stream on the connection and closes the transport; a
// stream-scoped event ends only its stream, and another stream on the same
// connection keeps working. Every test also checks that no thread or fd
// outlives it.
//
// Frames in the hex strings are commented with their origin: the control
// byte table of drpc-protocol.md §2.1 (03 Invoke, 04/05 Message, 0d
// CloseSend, 0f InvokeMetadata, 89 Cancel), then stream id, message id and
// length varints, then the body. "2f 74" is the RPC name "/t".
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connutil.h"
#include "wire/errbody.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"

#define MAX_STREAMS 8
#define WAIT_NS     tu_bound_ns(TU_WAIT_NS)

static const uint8_t *
u8(const char *s)
{
	return (const uint8_t *) s;
}

// Helpers used on the test thread.

static void
sends_fail(drpc__stream **s, size_t n, drpc_err want)
{
	for (size_t i = 0; i < n; i++) {
		DRPC_CHECK_ERR(drpc__stream_send(s[i], u8("x"), 1), want);
	}
}

static void
streams_destroy(drpc__stream **s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		drpc__stream_destroy(s[i]);
	}
}

static void
recv_end(drpc__stream *s, drpc_err want)
{
	const uint8_t *data;
	size_t         len;

	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), want);
}

static void
echo_once(drpc__stream *s, const char *text)
{
	DRPC_CHECK_OK(drpc__stream_send(s, u8(text), strlen(text)));
	tu_recv_is(s, text);
}

// The raw peer's side.

// raw_invoke sends a one-frame Invoke (id, 1) "/t": 03 id 01 02 2f 74.
static void
raw_invoke(tu_raw *r, uint8_t id)
{
	const uint8_t f[] = {0x03, id, 0x01, 0x02, 0x2f, 0x74};

	tu_raw_write(r, f, sizeof(f));
}

// A server conn whose on_invoke stores each new stream for the test.

typedef struct box {
	tu_sync sync;
	// Guarded by sync:
	drpc__stream *s[MAX_STREAMS];
	size_t        n;
	size_t        overflow; // streams beyond MAX_STREAMS (released)
} box;

static void
box_on_invoke(void *arg, drpc__stream *s, drpc__invoke_info *info)
{
	box *b    = arg;
	bool keep = false;

	drpc__md_fini(&info->md);
	tu_sync_lock(&b->sync);
	if (b->n < MAX_STREAMS) {
		b->s[b->n++] = s;
		keep         = true;
	} else {
		b->overflow++;
	}
	tu_sync_unlock_broadcast(&b->sync);
	if (!keep) {
		drpc__stream_destroy(s);
	}
}

// box_wait waits until the server got its n-th stream and returns it.
static drpc__stream *
box_wait(box *b, size_t n)
{
	drpc__stream *s = NULL;

	if (tu_sync_wait(&b->sync, &b->n, n, TU_WAIT_NS) >= n) {
		s = b->s[n - 1]; // written before n was, never again
	}
	ck_assert_msg(s != NULL, "server stream %zu never arrived", n);
	return s;
}

static size_t
box_count(box *b)
{
	size_t n;

	tu_sync_lock(&b->sync);
	n = b->n + b->overflow;
	tu_sync_unlock(&b->sync);
	return n;
}

// box_fini releases every stored stream handle.
static void
box_fini(box *b)
{
	streams_destroy(b->s, b->n);
	tu_sync_fini(&b->sync);
}

static void
srv_open(tu_raw *r, box *b, size_t max_msg_size)
{
	drpc__conn_opts o = {
	    .is_server    = true,
	    .on_invoke    = box_on_invoke,
	    .arg          = b,
	    .max_msg_size = max_msg_size,
	};

	memset(b, 0, sizeof(*b));
	tu_sync_init(&b->sync);
	tu_raw_open(r, &o);
}

// srv_done checks that the server conn r is still up, then closes it,
// releases b's streams and checks for leaks.
static void
srv_done(tu_raw *r, box *b, const tu_leak *l)
{
	DRPC_CHECK_OK(drpc__conn_err(r->conn));
	box_fini(b);
	tu_raw_close(r);
	tu_leak_check(l);
}

// srv_setup opens a server conn and invokes streams 1..n from the raw peer.
static void
srv_setup(tu_raw *r, box *b, size_t max_msg_size, drpc__stream **s, size_t n)
{
	srv_open(r, b, max_msg_size);
	for (size_t i = 0; i < n; i++) {
		raw_invoke(r, (uint8_t) (i + 1));
		s[i] = box_wait(b, i + 1);
		ck_assert_uint_eq(drpc__stream_id(s[i]), i + 1);
	}
}

// cli_setup opens a client conn with n streams; the raw peer reads their
// Invokes, which proves they exist.
static void
cli_setup(tu_raw *r, size_t max_msg_size, drpc__stream **s, size_t n)
{
	drpc__conn_opts o = {.max_msg_size = max_msg_size};

	tu_raw_open(r, &o);
	for (size_t i = 0; i < n; i++) {
		DRPC_CHECK_OK(
		    tu_open(r->conn, NULL, "/t", NULL, 0, false, &s[i]));
	}
	for (size_t i = 0; i < n; i++) {
		rp_expect_packet(&r->peer, DRPC__KIND_INVOKE, i + 1, 1, "/t");
	}
}

// Connection-scoped failures triggered by bytes from a raw peer.

typedef struct fatal_case {
	const char *what;
	bool        server; // the conn under test is a server
	size_t      max_msg_size;
	const char *hex;    // sent by the peer once streams 1 and 2 exist
	bool        hangup; // then the peer shuts its sending side down
	drpc_err    want;   // the connection's cause
} fatal_case;

// run_fatal: two streams blocked in recv, the peer sends fc->hex; the conn
// must end with fc->want, every stream with the connection-lost status
// (client DRPC_EUNAVAIL, server DRPC_ECANCELED), and the transport closed.
static void
run_fatal(const fatal_case *fc)
{
	tu_leak          l    = tu_leak_start();
	drpc_err      lost = fc->server ? DRPC_ECANCELED : DRPC_EUNAVAIL;
	drpc__stream *s[2];
	drpc__stream *extra;
	tu_recv_group    g;
	tu_raw        r;
	box           b;
	drpc_err      cause;

	if (fc->server) {
		srv_setup(&r, &b, fc->max_msg_size, s, 2);
	} else {
		cli_setup(&r, fc->max_msg_size, s, 2);
	}
	tu_recvs_start(&g, s, 2, tu_recv_internal);
	tu_raw_hex(&r, fc->hex);
	if (fc->hangup) {
		ck_assert_int_eq(shutdown(r.fd, SHUT_WR), 0);
	}
	cause = tu_wait_conn_err(r.conn);
	ck_assert_msg(cause == fc->want, "%s: cause %s, want %s", fc->what,
	    drpc_err_name(cause), drpc_err_name(fc->want));
	tu_recvs_join(&g, lost);
	sends_fail(s, 2, lost);
	ck_assert_uint_eq(drpc__conn_active(r.conn), 0);
	rp_expect_eof(&r.peer);
	if (fc->server) {
		box_fini(&b);
	} else {
		DRPC_CHECK_ERR(
		    tu_open(r.conn, NULL, "/t", NULL, 0, false, &extra),
		    DRPC_EUNAVAIL);
		streams_destroy(s, 2);
	}
	tu_raw_close(&r);
	tu_leak_check(&l);
}

// Row 1: the transport reports end of input (the peer hung up) while three
// client streams block in recv: each gets DRPC_EUNAVAIL, the cause is
// DRPC_ECLOSED. _i: 0 the peer shuts down its sending side, 1 it closes.
START_TEST(test_conn_errors_peer_eof)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *s[3];
	drpc__stream *extra;
	tu_recv_group    g;
	tu_raw        r;

	cli_setup(&r, 0, s, 3);
	tu_recvs_start(&g, s, 3, tu_recv_internal);
	if (_i == 0) {
		ck_assert_int_eq(shutdown(r.fd, SHUT_WR), 0);
	} else {
		ck_assert_int_eq(close(r.fd), 0);
	}
	DRPC_CHECK_ERR(tu_wait_conn_err(r.conn), DRPC_ECLOSED);
	tu_recvs_join(&g, DRPC_EUNAVAIL);
	sends_fail(s, 3, DRPC_EUNAVAIL);
	ck_assert_uint_eq(drpc__conn_active(r.conn), 0);
	DRPC_CHECK_ERR(
	    tu_open(r.conn, NULL, "/t", NULL, 0, false, &extra), DRPC_EUNAVAIL);
	streams_destroy(s, 3);
	if (_i == 0) {
		rp_expect_eof(&r.peer);
		tu_raw_close(&r);
	} else { // the fd is closed already
		drpc__conn_destroy(r.conn);
		drpc__frame_reader_fini(&r.fr);
	}
	tu_leak_check(&l);
}
END_TEST

// Row 1, the peer vanishing mid-frame: 2 of a Message's 5 body bytes
// (05 01 01 05 61 62), then end of input.
static const fatal_case eof_mid_cases[] = {
    {"end of input inside a frame", false, 0, "05 01 01 05 61 62", true,
        DRPC_ETRUNC},
};

START_TEST(test_conn_errors_peer_eof_mid_frame)
{
	run_fatal(&eof_mid_cases[_i]);
}
END_TEST

// Row 2: a malformed frame header. 10 continuation bytes then 00 make an
// 11-byte stream id varint; a 10th length byte of 02 overflows 64 bits.
static const fatal_case varint_cases[] = {
    {"11-byte varint, client", false, 0,
        "05 80 80 80 80 80 80 80 80 80 80 00 01 00", false, DRPC_EVARINT},
    {"11-byte varint, server", true, 0,
        "05 80 80 80 80 80 80 80 80 80 80 00 02 00", false, DRPC_EVARINT},
    {"overflowing 10-byte varint, server", true, 0,
        "05 01 02 80 80 80 80 80 80 80 80 80 02", false, DRPC_EVARINT},
};

START_TEST(test_conn_errors_varint)
{
	run_fatal(&varint_cases[_i]);
}
END_TEST

// Row 3, now stream-scoped: a Message over max_msg_size (1024) ends only
// its stream. The frame's body is skipped without being buffered; an
// Error with code 8 (ResourceExhausted) naming the cause goes back; the
// local recv reports DRPC_ERESOURCE; stream 2 and the connection carry on.
// _i: 0 a 1025-byte frame (81 08, its body then sent), 1 two 600-byte
// frames of one packet (each fits, the packet does not), 2 a frame
// declaring 2^63 bytes (80 x9 01: the rest of the input is its body, so
// only the stream's end is checked). Client and server conns alike.
typedef struct big_case {
	const char *what;
	size_t      body;  // body bytes sent after the header(s)
	const char *hdr;   // the first frame's flags byte and length: its
	const char *len;   // header is "hdr 01 <message id> len"
	const char *hdr2;  // the second frame's flags byte, or NULL
	bool        alive; // the connection can be shown to carry on
	const char *text;  // the Error's text
} big_case;

static const big_case big_cases[] = {
    {"1025-byte frame", 1025, "05", "81 08", NULL, true,
        "a Message frame of 1025 bytes on stream 1 over the 1024-byte "
        "maximum"},
    {"1200-byte packet", 600, "04", "d8 04", "05", true,
        "a Message packet on stream 1 over the 1024-byte maximum"},
    {"2^63-byte frame", 0, "05", "80 80 80 80 80 80 80 80 80 01", NULL,
        false,
        "a Message frame of 9223372036854775808 bytes on stream 1 over "
        "the 1024-byte maximum"},
};

static void
run_too_big(const big_case *bc, bool server)
{
	tu_leak       l = tu_leak_start();
	drpc__stream *s[2];
	tu_raw        r;
	box           b;
	char          hex[96];
	const char   *mid = server ? "02" : "01"; // after the Invoke (1, 1)
	uint8_t      *body = malloc(bc->body + 1);
	drpc__frame   f;
	uint64_t      code = 0;
	const uint8_t *text;
	size_t         text_len = 0;

	ck_assert_ptr_nonnull(body);
	memset(body, 'z', bc->body + 1);
	if (server) {
		srv_setup(&r, &b, 1024, s, 2);
	} else {
		cli_setup(&r, 1024, s, 2);
	}
	snprintf(hex, sizeof(hex), "%s 01 %s %s", bc->hdr, mid, bc->len);
	tu_raw_hex(&r, hex);
	tu_raw_write(&r, body, bc->body);
	if (bc->hdr2 != NULL) {
		snprintf(hex, sizeof(hex), "%s 01 %s %s", bc->hdr2, mid, bc->len);
		tu_raw_hex(&r, hex);
		tu_raw_write(&r, body, bc->body);
	}
	// The Error goes back on stream 1 with code 8 and the cause.
	do {
		DRPC_CHECK_OK(tu_raw_next(&r, &f));
	} while (f.kind != DRPC__KIND_ERROR);
	ck_assert_uint_eq(f.stream_id, 1);
	ck_assert(drpc__errbody_parse(f.data, f.len, &code, &text, &text_len));
	ck_assert_uint_eq(code, 8);
	ck_assert_msg(text_len == strlen(bc->text) &&
		memcmp(text, bc->text, text_len) == 0,
	    "%s: Error text \"%.*s\"", bc->what, (int) text_len, text);
	recv_end(s[0], DRPC_ERESOURCE);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	if (bc->alive) {
		// Stream 2 still gets its messages: Message (2, k) "k".
		tu_raw_hex(&r, server ? "05 02 02 01 6b" : "05 02 01 01 6b");
		tu_recv_is(s[1], "k");
		DRPC_CHECK_OK(drpc__conn_err(r.conn));
	}
	if (server) {
		tu_raw_close(&r);
		box_fini(&b);
	} else {
		streams_destroy(s, 2);
		tu_raw_close(&r);
	}
	free(body);
	tu_leak_check(&l);
}

START_TEST(test_conn_errors_too_big)
{
	run_too_big(&big_cases[_i], false);
}
END_TEST

START_TEST(test_conn_errors_too_big_server)
{
	run_too_big(&big_cases[_i], true);
}
END_TEST

// Row 3, the boundary: a body of exactly max_msg_size is delivered, and a
// local send over it fails for that call only.
START_TEST(test_conn_errors_max_size_ok)
{
	tu_leak          l = tu_leak_start();
	uint8_t       buf[5 + 1025];
	drpc__stream *s;
	tu_raw        r;

	cli_setup(&r, 1024, &s, 1);
	memcpy(buf, "\x05\x01\x01\x80\x08", 5); // Message (1,1), 1024 bytes
	memset(buf + 5, 'm', 1024);
	tu_raw_write(&r, buf, 5 + 1024);
	buf[5 + 1024] = 0;
	tu_recv_is(s, (const char *) buf + 5);
	DRPC_CHECK_ERR(drpc__stream_send(s, buf, 1025), DRPC_ERESOURCE);
	DRPC_CHECK_OK(drpc__stream_send(s, u8("ok"), 2));
	rp_expect_packet(&r.peer, DRPC__KIND_MESSAGE, 1, 2, "ok");
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	drpc__stream_destroy(s);
	tu_raw_close(&r);
	tu_leak_check(&l);
}
END_TEST

// Row 4: assembly errors on active server stream 1 (Invoke was (1,1)).
// Message (1,3) then (1,2): the id went backwards. A non-final Message
// frame (1,2) then a final Invoke frame (1,2): the kind changed. For new
// stream 3, InvokeMetadata (3,2) then Invoke (3,1): backwards in its
// pending invoke.
static const fatal_case assembly_cases[] = {
    {"message id backwards", true, 0, "05 01 03 01 61 05 01 02 01 62", false,
        DRPC_EPROTO},
    {"kind change inside a packet", true, 0, "04 01 02 01 61 03 01 02 01 62",
        false, DRPC_EPROTO},
    {"message id backwards in a pending invoke", true, 0,
        "0f 03 02 00 03 03 01 02 2f 74", false, DRPC_EPROTO},
};

START_TEST(test_conn_errors_assembly)
{
	run_fatal(&assembly_cases[_i]);
}
END_TEST

// Row 5: InvokeMetadata for new stream 3 whose body is not a metadata map:
// a wrong tag (ff), or an entry claiming 5 bytes with none left (0a 05).
static const fatal_case metadata_cases[] = {
    {"metadata with a bad tag", true, 0, "0f 03 01 01 ff", false,
        DRPC_EMETADATA},
    {"metadata entry past the end", true, 0, "0f 03 01 02 0a 05", false,
        DRPC_EMETADATA},
};

START_TEST(test_conn_errors_bad_metadata)
{
	run_fatal(&metadata_cases[_i]);
}
END_TEST

// Row 6: protocol errors. Invoke (1,2) or InvokeMetadata (1,2) {"k": "v"}
// on active stream 1; kind 9 without the control flag (13); an Invoke sent
// to a client.
static const fatal_case protocol_cases[] = {
    {"Invoke on an active stream", true, 0, "03 01 02 02 2f 74", false,
        DRPC_EPROTO},
    {"InvokeMetadata on an active stream", true, 0,
        "0f 01 02 08 0a 06 0a 01 6b 12 01 76", false, DRPC_EPROTO},
    {"unknown kind 9, no control flag, server", true, 0, "13 01 02 00", false,
        DRPC_EKIND},
    {"unknown kind 9, no control flag, client", false, 0, "13 01 01 00", false,
        DRPC_EKIND},
    {"Invoke to a client", false, 0, "03 01 01 02 2f 74", false, DRPC_EPROTO},
    {"Invoke for a new stream to a client", false, 0, "03 05 01 02 2f 74",
        false, DRPC_EPROTO},
};

START_TEST(test_conn_errors_protocol)
{
	run_fatal(&protocol_cases[_i]);
}
END_TEST

// Row 6, the control flag rule: unknown kinds with the control flag (kind
// 9 as 93, kind 0 with a body as 81) are ignored; the stream keeps working.
START_TEST(test_conn_errors_unknown_control_ignored)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *s;
	tu_raw        r;
	box           b;

	srv_setup(&r, &b, 0, &s, 1);
	tu_raw_hex(&r, "93 01 02 00 81 01 03 02 aa bb 05 01 04 01 61");
	tu_recv_is(s, "a");
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	ck_assert(!drpc__stream_is_terminated(s));
	DRPC_CHECK_OK(drpc__stream_send(s, u8("r"), 1));
	rp_expect_packet(&r.peer, DRPC__KIND_MESSAGE, 1, 1, "r");
	srv_done(&r, &b, &l);
}
END_TEST

// Handlers for the client/server pair tests, dispatched by RPC name. They
// never call ck_assert: results go into hstate, checked by the test thread.

typedef struct hstate {
	tu_sync sync;
	// Guarded by sync:
	size_t   signals;              // handler milestones reached
	size_t   waits;                // "/t/Wait" handlers done
	drpc_err wait_rv[MAX_STREAMS]; // how their recv ended
	char     after[16];            // what "/t/Three" got after CloseSend
	size_t   after_len;
	drpc_err after_end; // how its recv loop ended
} hstate;

static void
hs_signal(hstate *h)
{
	tu_sync_add(&h->sync, &h->signals, 1);
}

// hs_wait waits until *counter (a field of h) reaches n.
static void
hs_wait(hstate *h, const size_t *counter, size_t n)
{
	ck_assert_uint_ge(tu_sync_wait(&h->sync, counter, n, TU_WAIT_NS), n);
}

static drpc_err
h_echo(drpc__stream *s)
{
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;

	while ((rv = drpc__stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc_err sent = drpc__stream_send(s, data, len);

		drpc__stream_recv_done(s);
		if (sent != DRPC_OK) {
			return sent;
		}
	}
	return rv == DRPC_EOF ? drpc__stream_close_send(s) : rv;
}

// h_wait blocks in recv until the stream ends and records how.
static drpc_err
h_wait(hstate *h, drpc__stream *s)
{
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;

	while ((rv = drpc__stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc__stream_recv_done(s);
	}
	tu_sync_lock(&h->sync);
	if (h->waits < MAX_STREAMS) {
		h->wait_rv[h->waits] = rv;
	}
	h->waits++;
	tu_sync_unlock_broadcast(&h->sync);
	return DRPC_OK;
}

static drpc_err
h_send_n(drpc__stream *s, size_t n)
{
	char     msg[3] = "m0";
	drpc_err rv     = DRPC_OK;

	for (size_t i = 0; i < n && rv == DRPC_OK; i++) {
		msg[1] = (char) ('0' + i);
		rv     = drpc__stream_send(s, u8(msg), 2);
	}
	return rv;
}

// h_three sends m0 m1 m2 and CloseSend, signals, then records what the
// client still sends.
static drpc_err
h_three(hstate *h, drpc__stream *s)
{
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;

	if ((rv = h_send_n(s, 3)) != DRPC_OK ||
	    (rv = drpc__stream_close_send(s)) != DRPC_OK) {
		return rv;
	}
	hs_signal(h);
	while ((rv = drpc__stream_recv(s, &data, &len)) == DRPC_OK) {
		tu_sync_lock(&h->sync);
		if (len <= sizeof(h->after) - h->after_len) {
			memcpy(h->after + h->after_len, data, len);
			h->after_len += len;
		}
		tu_sync_unlock(&h->sync);
		drpc__stream_recv_done(s);
	}
	tu_sync_lock(&h->sync);
	h->after_end = rv;
	tu_sync_unlock(&h->sync);
	hs_signal(h);
	return DRPC_OK;
}

// h_two_err sends m0 m1, then the Error 7 "bad", then signals.
static drpc_err
h_two_err(hstate *h, drpc__stream *s)
{
	drpc_err rv;

	if ((rv = h_send_n(s, 2)) != DRPC_OK ||
	    (rv = drpc__stream_send_error(s, 7, "bad", 3)) != DRPC_OK) {
		return rv;
	}
	hs_signal(h);
	return DRPC_OK;
}

static drpc_err
h_dispatch(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	hstate *h = arg;

	(void) md;
	if (strcmp(name, "/t/Echo") == 0) {
		return h_echo(s);
	}
	if (strcmp(name, "/t/Boom") == 0) {
		return drpc__stream_send_error(s, 42, "boom", 4);
	}
	if (strcmp(name, "/t/Close") == 0) {
		return drpc__stream_close(s);
	}
	if (strcmp(name, "/t/Three") == 0) {
		return h_three(h, s);
	}
	if (strcmp(name, "/t/TwoErr") == 0) {
		return h_two_err(h, s);
	}
	if (strcmp(name, "/t/Wait") == 0) {
		return h_wait(h, s);
	}
	return DRPC_ENOTFOUND;
}

static void
pair_open(tu_pair *p, hstate *h)
{
	memset(h, 0, sizeof(*h));
	tu_sync_init(&h->sync);
	tu_pair_open(p, h_dispatch, h, NULL, NULL);
}

// pair_close tears the pair down; want is the last handler error expected.
static void
pair_close(tu_pair *p, hstate *h, drpc_err want)
{
	tu_pair_close(p);
	ck_assert_msg(p->last_handler_err == want, "handler: %s, want %s",
	    drpc_err_name(p->last_handler_err), drpc_err_name(want));
	tu_sync_fini(&h->sync);
}

// open_echo opens an echo stream and proves it works.
static drpc__stream *
open_echo(tu_pair *p, const char *text)
{
	drpc__stream *s;

	DRPC_CHECK_OK(tu_open(p->cli, NULL, "/t/Echo", NULL, 0, false, &s));
	echo_once(s, text);
	return s;
}

// other_stream_ok checks that both conns are up and that stream a still
// echoes, then ends a normally.
static void
other_stream_ok(tu_pair *p, drpc__stream *a)
{
	DRPC_CHECK_OK(drpc__conn_err(p->cli));
	DRPC_CHECK_OK(drpc__conn_err(p->srv));
	echo_once(a, "after");
	DRPC_CHECK_OK(drpc__stream_close_send(a));
	recv_end(a, DRPC_EOF);
	drpc__stream_destroy(a);
	DRPC_CHECK_OK(drpc__conn_err(p->cli));
	DRPC_CHECK_OK(drpc__conn_err(p->srv));
}

// A stream-scoped row: a pair, its handlers' state, a (an echo stream
// opened first: the neighbour that must keep working) and b, the stream
// under test; ctx, if not NULL, b's context.
typedef struct row {
	tu_leak       l;
	tu_pair       p;
	hstate        h;
	drpc__stream *a;
	drpc__stream *b;
	drpc_ctx     *ctx;
} row;

// row_open starts the leak check and the pair, opens a (echoing
// "before") and, unless method is NULL, b on method.
static void
row_open(row *w, const char *method)
{
	memset(w, 0, sizeof(*w));
	w->l = tu_leak_start();
	pair_open(&w->p, &w->h);
	w->a = open_echo(&w->p, "before");
	if (method != NULL) {
		DRPC_CHECK_OK(
		    tu_open(w->p.cli, NULL, method, NULL, 0, false, &w->b));
	}
}

// row_queued opens the row with b on method, whose handler sends n
// messages "m0", "m1" ... and more, then signals: a's echo after the
// signal comes back after them, so they are queued; b receives the n.
static void
row_queued(row *w, const char *method, int n)
{
	row_open(w, method);
	hs_wait(&w->h, &w->h.signals, 1);
	echo_once(w->a, "sync");
	for (int i = 0; i < n; i++) {
		char m[16];

		snprintf(m, sizeof(m), "m%d", i);
		tu_recv_is(w->b, m);
	}
}

// row_block waits for b's handler (and a's) to start, then starts a
// thread blocked in recv on b (g's).
static void
row_block(row *w, tu_recv_group *g)
{
	tu_pair_wait_started(&w->p, 2);
	tu_recvs_start(g, &w->b, 1, tu_recv_internal);
}

// handler_saw checks that b's handler, blocked in recv, got want, and
// that one stream (a) is active on the client.
static void
handler_saw(row *w, drpc_err want)
{
	hs_wait(&w->h, &w->h.waits, 1);
	DRPC_CHECK_ERR(w->h.wait_rv[0], want);
	ck_assert_uint_eq(drpc__conn_active(w->p.cli), 1);
}

// remote_err_is checks the Error s received: its code and text.
static void
remote_err_is(drpc__stream *s, uint64_t want_code, const char *want)
{
	uint64_t    code;
	const char *msg;
	size_t      len;

	DRPC_CHECK_OK(drpc__stream_remote_err(s, &code, &msg, &len));
	ck_assert_uint_eq(code, want_code);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_mem_eq(msg, want, len);
}

// row_close checks that a is the one stream active on the client and
// still works (other_stream_ok), then destroys b (and ctx), closes the
// pair (both conns up) and checks for leaks.
static void
row_close(row *w)
{
	ck_assert_uint_eq(drpc__conn_active(w->p.cli), 1);
	other_stream_ok(&w->p, w->a);
	drpc__stream_destroy(w->b);
	if (w->ctx != NULL) {
		drpc_ctx_destroy(w->ctx);
	}
	pair_close(&w->p, &w->h, DRPC_OK);
	tu_leak_check(&w->l);
}

// Row 7: drpc__conn_close on a client whose streams block in recv: they
// get DRPC_EUNAVAIL, the cause is DRPC_ECLOSED; the server's handlers see
// DRPC_ECANCELED when the server conn learns of the hang-up.
START_TEST(test_conn_errors_close)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *s[3];
	drpc__stream *extra;
	tu_recv_group    g;
	tu_pair       p;
	hstate        h;

	pair_open(&p, &h);
	for (size_t i = 0; i < 3; i++) {
		DRPC_CHECK_OK(
		    tu_open(p.cli, NULL, "/t/Wait", NULL, 0, false, &s[i]));
	}
	tu_pair_wait_started(&p, 3);
	tu_recvs_start(&g, s, 3, tu_recv_internal);
	drpc__conn_close(p.cli);
	DRPC_CHECK_ERR(drpc__conn_err(p.cli), DRPC_ECLOSED);
	tu_recvs_join(&g, DRPC_EUNAVAIL);
	sends_fail(s, 3, DRPC_EUNAVAIL);
	ck_assert_uint_eq(drpc__conn_active(p.cli), 0);
	DRPC_CHECK_ERR(tu_open(p.cli, NULL, "/t/Wait", NULL, 0, false, &extra),
	    DRPC_EUNAVAIL);
	DRPC_CHECK_ERR(tu_wait_conn_err(p.srv), DRPC_ECLOSED);
	hs_wait(&h, &h.waits, 3);
	for (size_t i = 0; i < 3; i++) {
		DRPC_CHECK_ERR(h.wait_rv[i], DRPC_ECANCELED);
	}
	streams_destroy(s, 3);
	pair_close(&p, &h, DRPC_OK);
	tu_leak_check(&l);
}
END_TEST

// A user transport whose writev fails with DRPC_EIO from call fail_from
// on, and blocks while the test holds its gate closed. It reads and writes
// one end of a socketpair (the raw peer has the other), so read blocks
// until shutdown or the peer writes.

typedef struct ftr {
	int     fd;
	tu_sync sync;
	// Guarded by sync:
	unsigned calls;     // writev calls so far
	unsigned fail_from; // calls from this index on fail
	bool     shut;      // shutdown was called
	bool     gated;     // writev waits while set (and not shut)
	bool     in_gate;   // the drain thread waits at the gate
} ftr;

static void
ftr_set_gate(ftr *t, bool gated)
{
	tu_sync_set(&t->sync, &t->gated, gated);
}

// ftr_wait_in_gate waits until the drain thread is blocked at the gate.
static void
ftr_wait_in_gate(ftr *t)
{
	ck_assert_msg(tu_sync_wait_flag(&t->sync, &t->in_gate, TU_WAIT_NS),
	    "the drain thread never reached the gate");
}

static drpc_err
ftr_read(void *impl, void *buf, size_t cap, size_t *n)
{
	ftr *t = impl;

	return tu_fd_read(t->fd, buf, cap, n, DRPC_EIO);
}

static drpc_err
ftr_writev(void *impl, const drpc_iovec *iov, size_t n)
{
	ftr *t = impl;
	bool fail;
	bool shut;

	tu_sync_lock(&t->sync);
	fail = t->calls >= t->fail_from;
	t->calls++;
	while (t->gated && !t->shut) {
		t->in_gate = true;
		drpc__cond_broadcast(&t->sync.cv);
		drpc__cond_wait(&t->sync.cv, &t->sync.mu);
	}
	t->in_gate = false;
	shut       = t->shut;
	tu_sync_unlock(&t->sync);
	if (fail) {
		return DRPC_EIO;
	}
	if (shut) {
		return DRPC_ECLOSED; // as the fd transport maps EPIPE
	}
	return tu_fd_writev(t->fd, iov, n, DRPC_EIO);
}

static void
ftr_shutdown(void *impl)
{
	ftr *t = impl;

	tu_sync_set(&t->sync, &t->shut, true);
	(void) shutdown(t->fd, SHUT_RDWR);
}

static void
ftr_close(void *impl)
{
	ftr *t = impl;

	close(t->fd);
	tu_sync_fini(&t->sync);
	free(t);
}

// ftr_open makes a client conn over an ftr transport, with r as its raw
// peer. *tp stays valid until the conn is destroyed.
static void
ftr_open(tu_raw *r, ftr **tp, const drpc__conn_opts *o)
{
	static const drpc_transport_ops ops = {
	    ftr_read, ftr_writev, ftr_shutdown, ftr_close};
	drpc_transport *tr;
	ftr            *t = calloc(1, sizeof(*t));
	int             sv[2];
	drpc__conn_opts plain;

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	t->fd        = sv[0];
	t->fail_from = UINT_MAX;
	tu_sync_init(&t->sync);
	DRPC_CHECK_OK(drpc_transport_create(&tr, &ops, t));
	memset(r, 0, sizeof(*r));
	DRPC_CHECK_OK(drpc__conn_create(&r->conn, tr, tu_plain(o, &plain)));
	rp_init(&r->peer, sv[1]);
	*tp = t;
}

// Row 8: the drain thread's writev fails. Three streams exist (their
// Invokes were written), two block in recv; a send on the third makes the
// next writev fail: the cause is DRPC_EIO, the transport is shut down,
// every stream reports DRPC_EUNAVAIL, and nothing more is written.
START_TEST(test_conn_errors_write_fail)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *s[3];
	tu_recv_group    g;
	tu_raw        r;
	ftr          *t;
	unsigned      fail_from;

	ftr_open(&r, &t, &(drpc__conn_opts){0});
	for (size_t i = 0; i < 3; i++) {
		DRPC_CHECK_OK(
		    tu_open(r.conn, NULL, "/t", NULL, 0, false, &s[i]));
		rp_expect_packet(&r.peer, DRPC__KIND_INVOKE, i + 1, 1, "/t");
	}
	tu_sync_lock(&t->sync);
	fail_from = t->fail_from = t->calls; // every write from now on fails
	tu_sync_unlock(&t->sync);
	tu_recvs_start(&g, s, 2, tu_recv_internal);
	DRPC_CHECK_OK(drpc__stream_send(s[2], u8("x"), 1)); // only buffered
	DRPC_CHECK_ERR(tu_wait_conn_err(r.conn), DRPC_EIO);
	tu_recvs_join(&g, DRPC_EUNAVAIL);
	recv_end(s[2], DRPC_EUNAVAIL);
	sends_fail(s, 3, DRPC_EUNAVAIL);
	ck_assert_uint_eq(drpc__conn_active(r.conn), 0);
	tu_sync_lock(&t->sync);
	ck_assert(t->shut);
	ck_assert_uint_eq(t->calls, fail_from + 1);
	tu_sync_unlock(&t->sync);
	rp_expect_eof(&r.peer);
	streams_destroy(s, 3);
	tu_raw_close(&r);
	tu_leak_check(&l);
}
END_TEST

// A thread sending 1 KiB messages on one stream until a send fails.

typedef struct send_job {
	drpc__stream   *s;
	pthread_t       t;
	tu_sync         sync;
	// Guarded by sync:
	size_t   attempts; // sends started
	bool     done;
	drpc_err rv; // the failed send's result
} send_job;

static void *
send_main(void *arg)
{
	send_job *j         = arg;
	uint8_t   msg[1024] = {0};
	drpc_err  rv;

	do {
		tu_sync_add(&j->sync, &j->attempts, 1);
		rv = drpc__stream_send(j->s, msg, sizeof(msg));
	} while (rv == DRPC_OK);
	tu_sync_lock(&j->sync);
	j->done = true;
	j->rv   = rv;
	tu_sync_unlock_broadcast(&j->sync);
	return NULL;
}

// send_wait waits up to WAIT_NS until the job has started n sends (or, with
// n == 0, until it is done); returns whether that happened.
static bool
send_wait(send_job *j, size_t n)
{
	if (n == 0) {
		return tu_sync_wait_flag(&j->sync, &j->done, TU_WAIT_NS);
	}
	return tu_sync_wait(&j->sync, &j->attempts, n, TU_WAIT_NS) >= n;
}

// Client stream 1 ends while its sender waits for room in a full writer.
// The peer ends it with Cancel (89 01 01 00), Error 42 "boom" (07 01 01 0c
// ...) or Close (0b 01 01 00); or another thread closes it locally
// (drpc__stream_close, "safe from any thread") or cancels it
// (drpc__stream_cancel, the control case). The waiting send must return
// what a send after that end returns (stream.h: DRPC_EOF after the peer's
// Error or Cancel, DRPC_ECLOSED after a Close, the reason after a local
// cancel) instead of waiting for room that may never come.
typedef enum wake_how { WAKE_PEER, WAKE_CLOSE, WAKE_CANCEL } wake_how;

typedef struct wake_case {
	wake_how    how;
	const char *hex;     // WAKE_PEER: what the peer sends
	drpc_err    recv_rv; // the stream's recv after the end
	drpc_err    send_rv; // the waiting send's result
} wake_case;

static const wake_case wake_cases[] = {
    {WAKE_PEER, "89 01 01 00", DRPC_ECANCELED, DRPC_EOF},
    {WAKE_PEER, "07 01 01 0c 00 00 00 00 00 00 00 2a 62 6f 6f 6d", DRPC_EREMOTE,
        DRPC_EOF},
    {WAKE_PEER, "0b 01 01 00", DRPC_EOF, DRPC_ECLOSED},
    {WAKE_CLOSE, NULL, DRPC_ECLOSED, DRPC_ECLOSED},
    {WAKE_CANCEL, NULL, DRPC_ECANCELED, DRPC_ECANCELED},
};

// The writer limit is 1024 and the gate holds the drain thread inside
// writev: the first message goes to the drain thread, the second fills the
// buffer, the third waits for room (attempt 3 started means the first two
// are in). The stream then ends while the sender waits; the other stream
// (2) stays registered and the conn up.
typedef struct wake_result {
	bool     woken;   // the waiting send returned within WAIT_NS
	bool     ended;   // the stream had ended by then
	drpc_err send_rv; // how the send loop ended
	drpc_err recv_rv; // the stream's recv afterwards
	drpc_err cause;   // drpc__conn_err afterwards
	size_t   active;  // streams still registered
} wake_result;

// wake_run runs one case and cleans up before anything is asserted, so a
// failure leaves no thread or memory behind (CK_FORK=no, valgrind).
static void
wake_run(const wake_case *wc, wake_result *res)
{
	drpc__stream  *s[2];
	send_job       j = {0};
	tu_raw         r;
	ftr           *t;
	const uint8_t *data;
	size_t         len;

	ftr_open(&r, &t, &(drpc__conn_opts){.writer_limit = 1024});
	for (size_t i = 0; i < 2; i++) {
		DRPC_CHECK_OK(
		    tu_open(r.conn, NULL, "/t", NULL, 0, false, &s[i]));
		rp_expect_packet(&r.peer, DRPC__KIND_INVOKE, i + 1, 1, "/t");
	}
	ftr_set_gate(t, true);
	j.s = s[0];
	tu_sync_init(&j.sync);
	DRPC_CHECK_OK(drpc__thread_start(&j.t, "t-send", 0, 0, send_main, &j));
	ftr_wait_in_gate(t);
	ck_assert(send_wait(&j, 3));
	if (wc->how == WAKE_PEER) {
		tu_raw_hex(&r, wc->hex);
	} else if (wc->how == WAKE_CLOSE) {
		DRPC_CHECK_OK(drpc__stream_close(s[0]));
	} else {
		drpc__stream_cancel(s[0], DRPC_ECANCELED);
	}
	res->woken = send_wait(&j, 0);
	res->ended = drpc__stream_is_terminated(s[0]);
	ftr_set_gate(t, false); // lets a send still waiting finish anyway
	drpc__thread_join(j.t);
	res->send_rv = j.rv;
	res->recv_rv = drpc__stream_recv(s[0], &data, &len);
	res->cause   = drpc__conn_err(r.conn);
	res->active  = drpc__conn_active(r.conn);
	tu_sync_fini(&j.sync);
	streams_destroy(s, 2);
	tu_raw_close(&r);
}

START_TEST(test_conn_errors_end_wakes_blocked_sender)
{
	const wake_case *wc = &wake_cases[_i];
	tu_leak             l  = tu_leak_start();
	wake_result      res;

	wake_run(wc, &res);
	tu_leak_check(&l);
	ck_assert_msg(res.woken,
	    "stream %s, but the send waiting for room was not woken (still "
	    "blocked after %lld s; it returned %s once the writer drained)",
	    res.ended ? "ended" : "NOT ended",
	    (long long) (WAIT_NS / 1000000000), drpc_err_name(res.send_rv));
	DRPC_CHECK_ERR(res.send_rv, wc->send_rv);
	DRPC_CHECK_ERR(res.recv_rv, wc->recv_rv);
	DRPC_CHECK_OK(res.cause);
	ck_assert_uint_eq(res.active, 1);
}
END_TEST

// Row 7, with the drain thread stuck in writev (the gate stays closed) and
// a sender waiting for room: drpc__conn_close gives up flushing after
// close_timeout_ms (50), shuts the transport down and returns; the cause is
// DRPC_ECLOSED, the waiting send and a blocked recv get DRPC_EUNAVAIL.
START_TEST(test_conn_errors_close_drain_blocked)
{
	tu_leak            l = tu_leak_start();
	drpc__conn_opts o = {.writer_limit = 1024, .close_timeout_ms = 50};
	drpc__stream   *s[2];
	send_job        j = {0};
	tu_recv_group      g;
	tu_raw          r;
	ftr            *t;

	ftr_open(&r, &t, &o);
	for (size_t i = 0; i < 2; i++) {
		DRPC_CHECK_OK(
		    tu_open(r.conn, NULL, "/t", NULL, 0, false, &s[i]));
		rp_expect_packet(&r.peer, DRPC__KIND_INVOKE, i + 1, 1, "/t");
	}
	ftr_set_gate(t, true);
	j.s = s[0];
	tu_sync_init(&j.sync);
	DRPC_CHECK_OK(drpc__thread_start(&j.t, "t-send", 0, 0, send_main, &j));
	ftr_wait_in_gate(t);
	ck_assert(send_wait(&j, 3));
	tu_recvs_start(&g, &s[1], 1, tu_recv_internal);
	drpc__conn_close(r.conn);
	DRPC_CHECK_ERR(drpc__conn_err(r.conn), DRPC_ECLOSED);
	tu_recvs_join(&g, DRPC_EUNAVAIL);
	drpc__thread_join(j.t);
	DRPC_CHECK_ERR(j.rv, DRPC_EUNAVAIL);
	recv_end(s[0], DRPC_EUNAVAIL);
	tu_sync_fini(&j.sync);
	streams_destroy(s, 2);
	tu_raw_close(&r);
	tu_leak_check(&l);
}
END_TEST

// Row 7, with the reader stuck: ring_slots 1, the test holds message "a"
// borrowed, so the reader waits for room to queue "b". drpc__conn_close
// must wake it and return; the stream then reports DRPC_EUNAVAIL.
START_TEST(test_conn_errors_close_reader_blocked)
{
	tu_leak            l = tu_leak_start();
	drpc__conn_opts o = {.ring_slots = 1};
	drpc__stream   *s;
	const uint8_t  *data;
	size_t          len;
	tu_raw          r;

	tu_raw_open(&r, &o);
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t", NULL, 0, false, &s));
	rp_expect_packet(&r.peer, DRPC__KIND_INVOKE, 1, 1, "/t");
	tu_raw_hex(&r, "05 01 01 01 61 05 01 02 01 62 05 01 03 01 63");
	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, 1);
	ck_assert_mem_eq(data, "a", 1);
	drpc__conn_close(r.conn);
	DRPC_CHECK_ERR(drpc__conn_err(r.conn), DRPC_ECLOSED);
	drpc__stream_recv_done(s);
	recv_end(s, DRPC_EUNAVAIL);
	drpc__stream_destroy(s);
	tu_raw_close(&r);
	tu_leak_check(&l);
}
END_TEST

// Stream-scoped events: only one stream ends, the other (an echo stream
// opened first) keeps working, and neither conn terminates.

// Row 9: the handler fails with Error 42 "boom".
START_TEST(test_conn_errors_handler_error)
{
	row w;

	row_open(&w, "/t/Boom");
	recv_end(w.b, DRPC_EREMOTE);
	remote_err_is(w.b, 42, "boom");
	DRPC_CHECK_ERR(drpc__stream_send(w.b, u8("x"), 1), DRPC_EOF);
	recv_end(w.b, DRPC_EREMOTE);
	ck_assert(drpc__stream_is_terminated(w.b));
	ck_assert(!drpc__stream_is_terminated(w.a));
	row_close(&w);
}
END_TEST

// Row 10: the server closes the stream: recv gives DRPC_EOF, send
// DRPC_ECLOSED.
START_TEST(test_conn_errors_remote_close)
{
	uint64_t    code;
	const char *msg;
	size_t      msg_len;
	row         w;

	row_open(&w, "/t/Close");
	recv_end(w.b, DRPC_EOF);
	DRPC_CHECK_ERR(drpc__stream_send(w.b, u8("x"), 1), DRPC_ECLOSED);
	recv_end(w.b, DRPC_EOF);
	DRPC_CHECK_ERR(
	    drpc__stream_remote_err(w.b, &code, &msg, &msg_len), DRPC_ESTATE);
	ck_assert(drpc__stream_is_terminated(w.b));
	row_close(&w);
}
END_TEST

// Row 11: the server sends m0 m1 m2 and CloseSend. The echo on stream a
// after the handler's signal is written by the server after those four
// packets, so when its reply is back they are queued at the client: recv
// gives the three messages, then DRPC_EOF. The client can still send.
START_TEST(test_conn_errors_remote_close_send)
{
	row w;

	row_queued(&w, "/t/Three", 3);
	recv_end(w.b, DRPC_EOF);
	recv_end(w.b, DRPC_EOF);
	ck_assert(!drpc__stream_is_terminated(w.b)); // only half-closed
	ck_assert_uint_eq(drpc__conn_active(w.p.cli), 2);
	DRPC_CHECK_OK(drpc__stream_send(w.b, u8("after"), 5));
	DRPC_CHECK_OK(drpc__stream_close_send(w.b));
	ck_assert(drpc__stream_is_terminated(w.b)); // both sides closed
	ck_assert_uint_eq(drpc__conn_active(w.p.cli), 1);
	hs_wait(&w.h, &w.h.signals, 2);
	ck_assert_uint_eq(w.h.after_len, 5);
	ck_assert_mem_eq(w.h.after, "after", 5);
	DRPC_CHECK_ERR(w.h.after_end, DRPC_EOF);
	row_close(&w);
}
END_TEST

// Row 12: the client cancels a stream whose handler blocks in recv: the
// client's blocked recv returns DRPC_ECANCELED, so does a later one at
// once, and the Cancel ends the handler's recv with DRPC_ECANCELED.
START_TEST(test_conn_errors_remote_cancel)
{
	tu_recv_group g;
	row           w;

	row_open(&w, "/t/Wait");
	row_block(&w, &g);
	drpc__stream_cancel(w.b, DRPC_ECANCELED);
	tu_recvs_join(&g, DRPC_ECANCELED);
	recv_end(w.b, DRPC_ECANCELED);
	DRPC_CHECK_ERR(drpc__stream_send(w.b, u8("x"), 1), DRPC_ECANCELED);
	DRPC_CHECK_ERR(drpc__stream_cancel_reason(w.b), DRPC_ECANCELED);
	handler_saw(&w, DRPC_ECANCELED);
	row_close(&w);
}
END_TEST

// Row 13: the server sends m0 m1 then Error 7 "bad": both messages come
// out before DRPC_EREMOTE (queued first, as in row 11).
START_TEST(test_conn_errors_remote_error_queued)
{
	row w;

	row_queued(&w, "/t/TwoErr", 2);
	recv_end(w.b, DRPC_EREMOTE);
	remote_err_is(w.b, 7, "bad");
	DRPC_CHECK_ERR(drpc__stream_send(w.b, u8("x"), 1), DRPC_EOF);
	row_close(&w);
}
END_TEST

// Row 14: the stream's context ends while another thread blocks in recv:
// recv gives the context's error, the Cancel reaches the handler
// (DRPC_ECANCELED), the conn stays up and a new stream opened afterwards
// echoes. _i 0: the test thread cancels the context (DRPC_ECANCELED);
// _i 1: its 300 ms deadline passes (DRPC_ETIMEDOUT), the event under test
// (tu_open_timeout: the open itself never meets the deadline).
START_TEST(test_conn_errors_ctx_cancel)
{
	drpc_err      why = _i == 0 ? DRPC_ECANCELED : DRPC_ETIMEDOUT;
	drpc__stream *c;
	tu_recv_group g;
	row           w;

	row_open(&w, NULL);
	if (_i == 0) {
		DRPC_CHECK_OK(drpc_ctx_create(&w.ctx, NULL));
		DRPC_CHECK_OK(
		    tu_open(w.p.cli, w.ctx, "/t/Wait", NULL, 0, false, &w.b));
	} else {
		DRPC_CHECK_OK(tu_open_timeout(
		    w.p.cli, 300, &w.ctx, "/t/Wait", NULL, 0, false, &w.b));
	}
	row_block(&w, &g);
	if (_i == 0) {
		drpc_ctx_cancel(w.ctx);
	}
	tu_recvs_join(&g, why);
	DRPC_CHECK_ERR(drpc__stream_cancel_reason(w.b), why);
	DRPC_CHECK_ERR(drpc__stream_send(w.b, u8("x"), 1), why);
	handler_saw(&w, DRPC_ECANCELED);
	c = open_echo(&w.p, "new stream");
	other_stream_ok(&w.p, c);
	row_close(&w);
}
END_TEST

// A local Close while another thread blocks in recv on the stream: recv
// gives DRPC_ECLOSED, the handler's recv sees the Close as DRPC_EOF.
START_TEST(test_conn_errors_local_close)
{
	tu_recv_group g;
	row           w;

	row_open(&w, "/t/Wait");
	row_block(&w, &g);
	DRPC_CHECK_OK(drpc__stream_close(w.b));
	tu_recvs_join(&g, DRPC_ECLOSED);
	DRPC_CHECK_ERR(drpc__stream_send(w.b, u8("x"), 1), DRPC_ECLOSED);
	handler_saw(&w, DRPC_EOF);
	row_close(&w);
}
END_TEST

// An Error whose body is shorter than the 8-byte code (07 01 01 02 68 69):
// stream 1 ends with DRPC_EREMOTE, code 0 and the body "hi" as its text
// (drpc-protocol.md §7.3); stream 2 still gets its Message (05 02 01 01
// 61).
START_TEST(test_conn_errors_short_error_body)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *s[2];
	uint64_t      code;
	const char   *msg;
	size_t        msg_len;
	tu_raw        r;

	cli_setup(&r, 0, s, 2);
	tu_raw_hex(&r, "07 01 01 02 68 69");
	recv_end(s[0], DRPC_EREMOTE);
	DRPC_CHECK_OK(drpc__stream_remote_err(s[0], &code, &msg, &msg_len));
	ck_assert_uint_eq(code, 0);
	ck_assert_uint_eq(msg_len, 2);
	ck_assert_mem_eq(msg, "hi", 2);
	DRPC_CHECK_ERR(drpc__stream_send(s[0], u8("x"), 1), DRPC_EOF);
	tu_raw_hex(&r, "05 02 01 01 61");
	tu_recv_is(s[1], "a");
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	ck_assert_uint_eq(drpc__conn_active(r.conn), 1);
	streams_destroy(s, 2);
	tu_raw_close(&r);
	tu_leak_check(&l);
}
END_TEST

// Row 15: sends after the connection's writer stopped (the conn was
// closed, then destroyed while the stream handle lives on) fail with
// DRPC_EUNAVAIL and crash nothing; the no-op ends stay no-ops.
START_TEST(test_conn_errors_send_after_stop)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *a;
	tu_pair       p;
	hstate        h;

	pair_open(&p, &h);
	a = open_echo(&p, "before");
	drpc__conn_close(p.cli);
	DRPC_CHECK_ERR(drpc__stream_send(a, u8("x"), 1), DRPC_EUNAVAIL);
	recv_end(a, DRPC_EUNAVAIL);
	DRPC_CHECK_OK(drpc__stream_close_send(a));
	DRPC_CHECK_OK(drpc__stream_close(a));
	DRPC_CHECK_ERR(drpc__stream_send(a, u8("x"), 1), DRPC_EUNAVAIL);
	DRPC_CHECK_ERR(tu_wait_conn_err(p.srv), DRPC_ECLOSED);
	// The echo handler's recv ends with the server's conn-lost status.
	pair_close(&p, &h, DRPC_ECANCELED);
	DRPC_CHECK_ERR(drpc__stream_send(a, u8("x"), 1), DRPC_EUNAVAIL);
	recv_end(a, DRPC_EUNAVAIL);
	drpc__stream_destroy(a); // frees the conn too: its last reference
	tu_leak_check(&l);
}
END_TEST

// Frames the server drops.

// A Cancel for a stream that never existed (89 07 01 00) is dropped, and
// so is a packet of unknown kind 9 without the control flag (13 09 01 00)
// for one; a normal invoke on stream 1 with a Message (05 01 02 01 61)
// still works.
START_TEST(test_conn_errors_cancel_unknown_stream)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *s;
	tu_raw        r;
	box           b;

	srv_open(&r, &b, 0);
	tu_raw_hex(&r, "89 07 01 00 13 09 01 00");
	raw_invoke(&r, 1);
	tu_raw_hex(&r, "05 01 02 01 61");
	s = box_wait(&b, 1);
	tu_recv_is(s, "a");
	DRPC_CHECK_OK(drpc__stream_send(s, u8("r"), 1));
	rp_expect_packet(&r.peer, DRPC__KIND_MESSAGE, 1, 1, "r");
	ck_assert_uint_eq(box_count(&b), 1);
	srv_done(&r, &b, &l);
}
END_TEST

// A Message for stream 5, which the server never saw invoked (05 05 01 01
// 61), is dropped; stream 1 is unaffected and stream 5 can still be
// invoked afterwards.
START_TEST(test_conn_errors_unknown_stream_server)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *s[2];
	tu_raw        r;
	box           b;

	srv_setup(&r, &b, 0, s, 1);
	tu_raw_hex(&r, "05 05 01 01 61 05 01 02 01 62");
	tu_recv_is(s[0], "b");
	raw_invoke(&r, 5);
	tu_raw_hex(&r, "05 05 02 01 63");
	s[1] = box_wait(&b, 2);
	ck_assert_uint_eq(drpc__stream_id(s[1]), 5);
	tu_recv_is(s[1], "c");
	srv_done(&r, &b, &l);
}
END_TEST

// A Message for stream 9, which the client never opened (05 09 01 01 61),
// is dropped; stream 1 is unaffected. Once stream 1 is closed (Close (1,2)
// goes out), a late Message for it (05 01 02 01 63) is dropped too, and
// stream 2 opened afterwards gets its own (05 02 01 01 64).
START_TEST(test_conn_errors_unknown_stream_client)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *s;
	tu_raw        r;

	cli_setup(&r, 0, &s, 1);
	tu_raw_hex(&r, "05 09 01 01 61 05 01 01 01 62");
	tu_recv_is(s, "b");
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	drpc__stream_destroy(s);
	rp_expect_packet(&r.peer, DRPC__KIND_CLOSE, 1, 2, "");
	tu_raw_hex(&r, "05 01 02 01 63");
	DRPC_CHECK_OK(tu_open(r.conn, NULL, "/t", NULL, 0, false, &s));
	rp_expect_packet(&r.peer, DRPC__KIND_INVOKE, 2, 1, "/t");
	tu_raw_hex(&r, "05 02 01 01 64");
	tu_recv_is(s, "d");
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	drpc__stream_destroy(s);
	tu_raw_close(&r);
	tu_leak_check(&l);
}
END_TEST

// A second CloseSend from the peer (0d 01 02 00, 0d 01 03 00) is harmless,
// and so is a third one after the stream ended (0d 01 04 00). Invoking the
// next stream and waiting for it proves the reader got past them.
START_TEST(test_conn_errors_double_close_send)
{
	tu_leak          l = tu_leak_start();
	drpc__stream *s;
	tu_raw        r;
	box           b;

	srv_setup(&r, &b, 0, &s, 1);
	tu_raw_hex(&r, "0d 01 02 00 0d 01 03 00");
	raw_invoke(&r, 3);
	(void) box_wait(&b, 2);
	DRPC_CHECK_OK(drpc__conn_err(r.conn));
	recv_end(s, DRPC_EOF);
	recv_end(s, DRPC_EOF);
	DRPC_CHECK_OK(drpc__stream_send(s, u8("r"), 1));
	rp_expect_packet(&r.peer, DRPC__KIND_MESSAGE, 1, 1, "r");
	DRPC_CHECK_OK(drpc__stream_close_send(s));
	rp_expect_packet(&r.peer, DRPC__KIND_CLOSE_SEND, 1, 2, "");
	ck_assert(drpc__stream_is_terminated(s));
	ck_assert_uint_eq(drpc__conn_active(r.conn), 1);
	tu_raw_hex(&r, "0d 01 04 00");
	raw_invoke(&r, 5);
	(void) box_wait(&b, 3);
	srv_done(&r, &b, &l);
}
END_TEST

#define NCASES(a) ((int) (sizeof(a) / sizeof((a)[0])))

TU_SUITE(conn_errors,
    TU_TEST("connection", test_conn_errors_peer_eof, .loops = 2, .timeout = 30),
    TU_TEST("connection", test_conn_errors_peer_eof_mid_frame,
        .loops = NCASES(eof_mid_cases)),
    TU_TEST("connection", test_conn_errors_varint,
        .loops = NCASES(varint_cases)),
    TU_TEST("connection", test_conn_errors_too_big, .loops = NCASES(big_cases)),
    TU_TEST("connection", test_conn_errors_too_big_server,
        .loops = NCASES(big_cases)),
    TU_TEST("connection", test_conn_errors_max_size_ok),
    TU_TEST("connection", test_conn_errors_assembly,
        .loops = NCASES(assembly_cases)),
    TU_TEST("connection", test_conn_errors_bad_metadata,
        .loops = NCASES(metadata_cases)),
    TU_TEST("connection", test_conn_errors_protocol,
        .loops = NCASES(protocol_cases)),
    TU_TEST("connection", test_conn_errors_unknown_control_ignored),
    TU_TEST("connection", test_conn_errors_close),
    TU_TEST("connection", test_conn_errors_close_drain_blocked),
    TU_TEST("connection", test_conn_errors_close_reader_blocked),
    TU_TEST("connection", test_conn_errors_write_fail),
    TU_TEST("stream", test_conn_errors_handler_error, .timeout = 30),
    TU_TEST("stream", test_conn_errors_remote_close),
    TU_TEST("stream", test_conn_errors_remote_close_send),
    TU_TEST("stream", test_conn_errors_remote_cancel),
    TU_TEST("stream", test_conn_errors_remote_error_queued),
    TU_TEST("stream", test_conn_errors_ctx_cancel, .loops = 2),
    TU_TEST("stream", test_conn_errors_local_close),
    TU_TEST("stream", test_conn_errors_short_error_body),
    TU_TEST("stream", test_conn_errors_end_wakes_blocked_sender,
        .loops = NCASES(wake_cases)),
    TU_TEST("stream", test_conn_errors_send_after_stop),
    TU_TEST("dropped", test_conn_errors_cancel_unknown_stream, .timeout = 30),
    TU_TEST("dropped", test_conn_errors_unknown_stream_server),
    TU_TEST("dropped", test_conn_errors_unknown_stream_client),
    TU_TEST("dropped", test_conn_errors_double_close_send))
