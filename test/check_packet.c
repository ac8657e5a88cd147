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

START_TEST(test_packet_id_backwards)
{
	drpc__asm    a;
	drpc__packet pkt;
	bool         done;
	drpc__frame  f3 = mkframe(1, 3, DRPC__KIND_MESSAGE, true, "x");
	drpc__frame  f2 = mkframe(1, 2, DRPC__KIND_MESSAGE, true, "y");

	drpc__asm_init(&a, 0);
	DRPC_CHECK_OK(drpc__asm_add(&a, &f3, &pkt, &done));
	ck_assert(done);
	// The same id again, or a lower one, is a protocol error.
	DRPC_CHECK_ERR(drpc__asm_add(&a, &f3, &pkt, &done), DRPC_EPROTO);
	DRPC_CHECK_ERR(drpc__asm_add(&a, &f2, &pkt, &done), DRPC_EPROTO);
	drpc__asm_fini(&a);
}
END_TEST

// Message id 0 is below the initial expected id 1.
START_TEST(test_packet_id_zero)
{
	drpc__asm    a;
	drpc__packet pkt;
	bool         done;
	drpc__frame  f0 = mkframe(1, 0, DRPC__KIND_INVOKE, true, "x");

	drpc__asm_init(&a, 0);
	DRPC_CHECK_ERR(drpc__asm_add(&a, &f0, &pkt, &done), DRPC_EPROTO);
	drpc__asm_fini(&a);
}
END_TEST

// A newer id drops a half-built packet silently; gaps are allowed.
START_TEST(test_packet_newer_id_replaces)
{
	drpc__asm    a;
	drpc__packet pkt;
	bool         done;
	drpc__frame  half  = mkframe(1, 1, DRPC__KIND_MESSAGE, false, "lost");
	drpc__frame  newer = mkframe(1, 5, DRPC__KIND_MESSAGE, false, "ne");
	drpc__frame  end   = mkframe(1, 5, DRPC__KIND_MESSAGE, true, "w");
	drpc__frame  late  = mkframe(1, 1, DRPC__KIND_MESSAGE, true, "x");

	drpc__asm_init(&a, 0);
	DRPC_CHECK_OK(drpc__asm_add(&a, &half, &pkt, &done));
	DRPC_CHECK_OK(drpc__asm_add(&a, &newer, &pkt, &done));
	ck_assert(!done);
	DRPC_CHECK_OK(drpc__asm_add(&a, &end, &pkt, &done));
	ck_assert(done);
	ck_assert_uint_eq(pkt.message_id, 5);
	ck_assert_uint_eq(pkt.len, 3);
	ck_assert_mem_eq(pkt.data, "new", 3);
	DRPC_CHECK_ERR(drpc__asm_add(&a, &late, &pkt, &done), DRPC_EPROTO);
	drpc__asm_fini(&a);
}
END_TEST

START_TEST(test_packet_kind_change)
{
	drpc__asm    a;
	drpc__packet pkt;
	bool         done;
	drpc__frame  f1 = mkframe(1, 1, DRPC__KIND_INVOKE, false, "/a");
	drpc__frame  f2 = mkframe(1, 1, DRPC__KIND_MESSAGE, true, "b");

	drpc__asm_init(&a, 0);
	DRPC_CHECK_OK(drpc__asm_add(&a, &f1, &pkt, &done));
	DRPC_CHECK_ERR(drpc__asm_add(&a, &f2, &pkt, &done), DRPC_EPROTO);
	drpc__asm_fini(&a);
}
END_TEST

// The packet limit holds across frames: exactly max passes, max+1 fails.
START_TEST(test_packet_too_big)
{
	drpc__asm    a;
	drpc__packet pkt;
	bool         done;
	drpc__frame  f1 = mkframe(1, 1, DRPC__KIND_MESSAGE, false, "abcd");
	drpc__frame  f2 = mkframe(1, 1, DRPC__KIND_MESSAGE, true, "ef");
	drpc__frame  f3 = mkframe(1, 2, DRPC__KIND_MESSAGE, false, "abcd");
	drpc__frame  f4 = mkframe(1, 2, DRPC__KIND_MESSAGE, true, "efg");

	drpc__asm_init(&a, 6);
	DRPC_CHECK_OK(drpc__asm_add(&a, &f1, &pkt, &done));
	DRPC_CHECK_OK(drpc__asm_add(&a, &f2, &pkt, &done));
	ck_assert(done);
	ck_assert_uint_eq(pkt.len, 6);
	DRPC_CHECK_OK(drpc__asm_add(&a, &f3, &pkt, &done));
	DRPC_CHECK_ERR(drpc__asm_add(&a, &f4, &pkt, &done), DRPC_ETOOBIG);
	drpc__asm_fini(&a);
}
END_TEST

// The packet's control flag is set if any frame has it.
START_TEST(test_packet_control_or)
{
	drpc__asm    a;
	drpc__packet pkt;
	bool         done;
	drpc__frame  f1 = mkframe(1, 1, 9, false, "a");
	drpc__frame  f2 = mkframe(1, 1, 9, true, "b");

	f1.control = true;
	drpc__asm_init(&a, 0);
	DRPC_CHECK_OK(drpc__asm_add(&a, &f1, &pkt, &done));
	DRPC_CHECK_OK(drpc__asm_add(&a, &f2, &pkt, &done));
	ck_assert(done);
	ck_assert(pkt.control);
	ck_assert_uint_eq(pkt.kind, 9);
	drpc__asm_fini(&a);
}
END_TEST

// After message id 2^64-1 no id can follow.
START_TEST(test_packet_last_id)
{
	drpc__asm    a;
	drpc__packet pkt;
	bool         done;
	drpc__frame  f = mkframe(1, UINT64_MAX, DRPC__KIND_MESSAGE, true, "a");

	drpc__asm_init(&a, 0);
	DRPC_CHECK_OK(drpc__asm_add(&a, &f, &pkt, &done));
	ck_assert(done);
	DRPC_CHECK_ERR(drpc__asm_add(&a, &f, &pkt, &done), DRPC_EPROTO);
	drpc__asm_fini(&a);
}
END_TEST

Suite *
packet_suite(void)
{
	const tu_test tests[] = {
	    TU_TEST("split", test_packet_split_example_e),
	    TU_TEST("split", test_packet_split_sizes),
	    TU_TEST("split", test_packet_empty_body_one_frame),
	    TU_TEST("split", test_packet_cancel_control_flag),
	    TU_TEST("split", test_packet_split_reassemble, .loops = 50),
	    TU_TEST("assemble", test_packet_interleaved_streams),
	    TU_TEST("assemble", test_packet_id_backwards),
	    TU_TEST("assemble", test_packet_id_zero),
	    TU_TEST("assemble", test_packet_newer_id_replaces),
	    TU_TEST("assemble", test_packet_kind_change),
	    TU_TEST("assemble", test_packet_too_big),
	    TU_TEST("assemble", test_packet_control_or),
	    TU_TEST("assemble", test_packet_last_id),
	};

	return tu_suite("packet", tests, TU_LEN(tests));
}
