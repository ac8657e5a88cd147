#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/packet.h"

static drpc__frame
mkframe(uint64_t sid, uint64_t mid, unsigned kind, bool done, const char *s)
{
	drpc__frame fr = {.stream_id = sid, .message_id = mid,
	    .kind = (uint8_t) kind, .done = done,
	    .data = (const uint8_t *) s, .len = strlen(s)};

	return fr;
}

// Example E of the reference: a 70000-byte Message (1,2) becomes a
// 65536-byte frame with header 04 01 02 80 80 04 and a 4464-byte frame
// with header 05 01 02 f0 22.
START_TEST(test_packet_split_example_e)
{
	uint8_t     *body = calloc(70000, 1);
	drpc__packet pkt  = {.stream_id = 1, .message_id = 2, .data = body,
	     .len = 70000, .kind = DRPC__KIND_MESSAGE};
	drpc__buf    b    = {0};
	static const uint8_t h1[] = {0x04, 0x01, 0x02, 0x80, 0x80, 0x04};
	static const uint8_t h2[] = {0x05, 0x01, 0x02, 0xf0, 0x22};

	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(drpc__packet_frames(DRPC__KIND_MESSAGE, 70000, 0), 2);
	DRPC_CHECK_OK(drpc__packet_append(&b, &pkt, 0));
	ck_assert_uint_eq(b.len, 6 + 65536 + 5 + 4464);
	ck_assert_mem_eq(b.data, h1, sizeof(h1));
	ck_assert_mem_eq(b.data + 6 + 65536, h2, sizeof(h2));
	drpc__buf_fini(&b);
	free(body);
}
END_TEST

START_TEST(test_packet_split_sizes)
{
	ck_assert_uint_eq(drpc__packet_frames(DRPC__KIND_MESSAGE, 0, 0), 1);
	ck_assert_uint_eq(drpc__packet_frames(DRPC__KIND_MESSAGE, 65536, 0), 1);
	ck_assert_uint_eq(drpc__packet_frames(DRPC__KIND_MESSAGE, 65537, 0), 2);
	ck_assert_uint_eq(drpc__packet_frames(DRPC__KIND_INVOKE, 10, 3), 4);
	ck_assert_uint_eq(
	    drpc__packet_frames(DRPC__KIND_INVOKE_METADATA, 9, 3), 3);
	// Terminal packets are one frame whatever their size.
	ck_assert_uint_eq(drpc__packet_frames(DRPC__KIND_ERROR, 200000, 0), 1);
	ck_assert_uint_eq(drpc__packet_frames(DRPC__KIND_CLOSE, 10, 3), 1);
}
END_TEST

START_TEST(test_packet_empty_body_one_frame)
{
	drpc__packet pkt = {.stream_id = 1, .message_id = 3,
	    .kind = DRPC__KIND_CLOSE_SEND};
	drpc__buf    b   = {0};

	DRPC_CHECK_OK(drpc__packet_append(&b, &pkt, 0));
	ck_assert_uint_eq(b.len, 4);
	ck_assert_mem_eq(b.data, "\x0d\x01\x03\x00", 4);
	drpc__buf_fini(&b);
}
END_TEST

// Cancel carries the control flag on the wire: 89 01 03 00 (example D).
START_TEST(test_packet_cancel_control_flag)
{
	drpc__packet pkt = {.stream_id = 1, .message_id = 3,
	    .kind = DRPC__KIND_CANCEL, .control = true};
	drpc__buf    b   = {0};

	DRPC_CHECK_OK(drpc__packet_append(&b, &pkt, 0));
	ck_assert_mem_eq(b.data, "\x89\x01\x03\x00", 4);
	drpc__buf_fini(&b);
}
END_TEST

// Split at every size from 1 to past the body, then reassemble.
START_TEST(test_packet_split_reassemble)
{
	const char  *msg = "the quick brown fox jumps over the lazy dog";
	size_t       len = strlen(msg);
	size_t       split = (size_t) _i + 1;
	drpc__packet pkt = {.stream_id = 9, .message_id = 4,
	    .data = (const uint8_t *) msg, .len = len,
	    .kind = DRPC__KIND_MESSAGE};
	drpc__buf    b   = {0};
	drpc__asm    a;
	size_t       off = 0;
	size_t       frames = 0;
	bool         complete = false;
	drpc__packet out;

	drpc__asm_init(&a, 0);
	DRPC_CHECK_OK(drpc__packet_append(&b, &pkt, split));
	while (off < b.len) {
		drpc__frame fr;
		size_t      used;

		ck_assert(!complete);
		DRPC_CHECK_OK(drpc__frame_parse(
		    b.data + off, b.len - off, 1 << 20, &fr, &used));
		ck_assert_uint_gt(used, 0);
		ck_assert_uint_le(fr.len, split);
		DRPC_CHECK_OK(drpc__asm_add(&a, &fr, &out, &complete));
		off += used;
		frames++;
	}
	ck_assert(complete);
	ck_assert_uint_eq(frames, drpc__packet_frames(2, len, split));
	ck_assert_uint_eq(out.len, len);
	ck_assert_mem_eq(out.data, msg, len);
	ck_assert_uint_eq(out.stream_id, 9);
	ck_assert_uint_eq(out.message_id, 4);
	drpc__asm_fini(&a);
	drpc__buf_fini(&b);
}
END_TEST

// Example F: frames of two streams interleave; each stream's assembler
// sees only its own frames and both packets come out whole.
START_TEST(test_packet_interleaved_streams)
{
	drpc__asm    a1;
	drpc__asm    a2;
	drpc__packet pkt;
	bool         done;
	drpc__frame  f1a = mkframe(1, 2, DRPC__KIND_MESSAGE, false, "ab");
	drpc__frame  f2a = mkframe(2, 2, DRPC__KIND_MESSAGE, false, "xy");
	drpc__frame  f1b = mkframe(1, 2, DRPC__KIND_MESSAGE, true, "c");
	drpc__frame  f2b = mkframe(2, 2, DRPC__KIND_MESSAGE, true, "z");

	drpc__asm_init(&a1, 0);
	drpc__asm_init(&a2, 0);
	DRPC_CHECK_OK(drpc__asm_add(&a1, &f1a, &pkt, &done));
	ck_assert(!done);
	DRPC_CHECK_OK(drpc__asm_add(&a2, &f2a, &pkt, &done));
	ck_assert(!done);
	DRPC_CHECK_OK(drpc__asm_add(&a1, &f1b, &pkt, &done));
	ck_assert(done);
	ck_assert_uint_eq(pkt.len, 3);
	ck_assert_mem_eq(pkt.data, "abc", 3);
	DRPC_CHECK_OK(drpc__asm_add(&a2, &f2b, &pkt, &done));
	ck_assert(done);
	ck_assert_mem_eq(pkt.data, "xyz", 3);
	drpc__asm_fini(&a1);
	drpc__asm_fini(&a2);
}
END_TEST

// Assembly scripts: frames fed to one assembler, each with the result it
// must give and, when it completes a packet, what the packet must be.

typedef struct step {
	uint64_t    sid;
	uint64_t    mid;
	unsigned    kind;
	bool        last;    // the frame's done bit
	bool        control; // the frame's control bit
	const char *body;
	drpc_err    want;
	int         done;    // 1: a packet completes; 0: not; -1: unchecked
	const char *out;     // with done 1 and not NULL: the packet's body
	uint64_t    out_mid; // with done 1 and not 0: the packet's message id
	bool        out_control; // with done 1: the packet's control flag
} step;

typedef struct script {
	const char *what;
	size_t      max; // the assembler's packet limit (0: none)
	step        steps[4];
	size_t      n;
} script;

#define K_MSG DRPC__KIND_MESSAGE
#define K_INV DRPC__KIND_INVOKE

static const script scripts[] = {
    // The same id again, or a lower one, is a protocol error.
    {"id backwards", 0,
        {{1, 3, K_MSG, true, false, "x", DRPC_OK, 1, "x", 3, false},
            {1, 3, K_MSG, true, false, "x", DRPC_EPROTO, -1, NULL, 0, false},
            {1, 2, K_MSG, true, false, "y", DRPC_EPROTO, -1, NULL, 0, false}},
        3},
    // Message id 0 is below the initial expected id 1.
    {"id zero", 0,
        {{1, 0, K_INV, true, false, "x", DRPC_EPROTO, -1, NULL, 0, false}}, 1},
    // A newer id drops a half-built packet silently; gaps are allowed.
    {"newer id replaces", 0,
        {{1, 1, K_MSG, false, false, "lost", DRPC_OK, 0, NULL, 0, false},
            {1, 5, K_MSG, false, false, "ne", DRPC_OK, 0, NULL, 0, false},
            {1, 5, K_MSG, true, false, "w", DRPC_OK, 1, "new", 5, false},
            {1, 1, K_MSG, true, false, "x", DRPC_EPROTO, -1, NULL, 0, false}},
        4},
    // A packet's frames must keep its kind.
    {"kind change", 0,
        {{1, 1, K_INV, false, false, "/a", DRPC_OK, 0, NULL, 0, false},
            {1, 1, K_MSG, true, false, "b", DRPC_EPROTO, -1, NULL, 0, false}},
        2},
    // The packet limit holds across frames: exactly max passes, max+1
    // fails.
    {"too big", 6,
        {{1, 1, K_MSG, false, false, "abcd", DRPC_OK, -1, NULL, 0, false},
            {1, 1, K_MSG, true, false, "ef", DRPC_OK, 1, "abcdef", 0, false},
            {1, 2, K_MSG, false, false, "abcd", DRPC_OK, -1, NULL, 0, false},
            {1, 2, K_MSG, true, false, "efg", DRPC_ETOOBIG, -1, NULL, 0,
                false}},
        4},
    // The packet's control flag is set if any frame has it (kind 9).
    {"control or", 0,
        {{1, 1, 9, false, true, "a", DRPC_OK, -1, NULL, 0, false},
            {1, 1, 9, true, false, "b", DRPC_OK, 1, NULL, 0, true}},
        2},
    // After message id 2^64-1 no id can follow.
    {"last id", 0,
        {{1, UINT64_MAX, K_MSG, true, false, "a", DRPC_OK, 1, NULL, 0, false},
            {1, UINT64_MAX, K_MSG, true, false, "a", DRPC_EPROTO, -1, NULL, 0,
                false}},
        2},
};

// run_step feeds one step's frame to a and checks what came of it.
static void
run_step(const script *sc, size_t i, drpc__asm *a)
{
	const step *st = &sc->steps[i];
	drpc__frame f = mkframe(st->sid, st->mid, st->kind, st->last, st->body);
	drpc__packet pkt  = {0};
	bool         done = false;
	drpc_err     rv;

	f.control = st->control;
	rv        = drpc__asm_add(a, &f, &pkt, &done);
	ck_assert_msg(rv == st->want, "%s, step %zu: %s, want %s", sc->what, i,
	    drpc_err_name(rv), drpc_err_name(st->want));
	if (st->done < 0) {
		return;
	}
	ck_assert_msg(done == (st->done == 1), "%s, step %zu: done %d",
	    sc->what, i, (int) done);
	if (!done) {
		return;
	}
	ck_assert_msg(pkt.control == st->out_control,
	    "%s, step %zu: control %d", sc->what, i, (int) pkt.control);
	ck_assert_msg(pkt.kind == st->kind, "%s, step %zu: kind %u", sc->what,
	    i, (unsigned) pkt.kind);
	ck_assert_msg(st->out_mid == 0 || pkt.message_id == st->out_mid,
	    "%s, step %zu: message id %llu", sc->what, i,
	    (unsigned long long) pkt.message_id);
	ck_assert_msg(
	    st->out == NULL || (pkt.len == strlen(st->out) &&
	                           memcmp(pkt.data, st->out, pkt.len) == 0),
	    "%s, step %zu: a packet of %zu bytes, want \"%s\"", sc->what, i,
	    pkt.len, st->out);
}

START_TEST(test_packet_assembly_script)
{
	const script *sc = &scripts[_i];
	drpc__asm     a;

	// n counts the steps: each one before it has a frame, none after.
	for (size_t i = 0; i < TU_LEN(sc->steps); i++) {
		ck_assert_msg((sc->steps[i].body != NULL) == (i < sc->n),
		    "%s: %zu steps, but step %zu", sc->what, sc->n, i);
	}
	drpc__asm_init(&a, sc->max);
	for (size_t i = 0; i < sc->n; i++) {
		run_step(sc, i, &a);
	}
	drpc__asm_fini(&a);
}
END_TEST

TU_SUITE(packet,
    TU_TEST("split", test_packet_split_example_e),
    TU_TEST("split", test_packet_split_sizes),
    TU_TEST("split", test_packet_empty_body_one_frame),
    TU_TEST("split", test_packet_cancel_control_flag),
    TU_TEST("split", test_packet_split_reassemble, .loops = 50),
    TU_TEST("assemble", test_packet_interleaved_streams),
    TU_TEST("assemble", test_packet_assembly_script,
        .loops = (int) TU_LEN(scripts)))
