#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/frame.h"

// Example A1 of the reference (recorded from Go DRPC): Invoke (1,1)
// "/interop.Echo/Unary".
static const uint8_t invoke_frame[] = {0x03, 0x01, 0x01, 0x13, '/', 'i', 'n',
    't', 'e', 'r', 'o', 'p', '.', 'E', 'c', 'h', 'o', '/', 'U', 'n', 'a', 'r',
    'y'};

// The control byte table of docs/protocol.md §3.
static const struct {
	unsigned kind;
	uint8_t  done;
	uint8_t  not_done;
	uint8_t  control;
} control_table[] = {
    {DRPC__KIND_INVOKE, 0x03, 0x02, 0x83},
    {DRPC__KIND_MESSAGE, 0x05, 0x04, 0x85},
    {DRPC__KIND_ERROR, 0x07, 0x06, 0x87},
    {DRPC__KIND_CANCEL, 0x09, 0x08, 0x89},
    {DRPC__KIND_CLOSE, 0x0b, 0x0a, 0x8b},
    {DRPC__KIND_CLOSE_SEND, 0x0d, 0x0c, 0x8d},
    {DRPC__KIND_INVOKE_METADATA, 0x0f, 0x0e, 0x8f},
};

START_TEST(test_frame_parse_invoke)
{
	drpc__frame fr;
	size_t      used;

	DRPC_CHECK_OK(drpc__frame_parse(invoke_frame, sizeof(invoke_frame),
	    DRPC__DEFAULT_MAX_SIZE, &fr, &used));
	ck_assert_uint_eq(used, sizeof(invoke_frame));
	ck_assert_uint_eq(fr.kind, DRPC__KIND_INVOKE);
	ck_assert(fr.done);
	ck_assert(!fr.control);
	ck_assert_uint_eq(fr.stream_id, 1);
	ck_assert_uint_eq(fr.message_id, 1);
	ck_assert_uint_eq(fr.len, 19);
	ck_assert_mem_eq(fr.data, "/interop.Echo/Unary", 19);
}
END_TEST

// Every proper prefix of a frame asks for more.
START_TEST(test_frame_parse_prefix_needs_more)
{
	drpc__frame fr;
	size_t      used = 99;

	DRPC_CHECK_OK(drpc__frame_parse(
	    invoke_frame, (size_t) _i, DRPC__DEFAULT_MAX_SIZE, &fr, &used));
	ck_assert_uint_eq(used, 0);
}
END_TEST

// A buffer with a frame and more: only the frame is consumed.
START_TEST(test_frame_parse_leaves_next_frame)
{
	uint8_t     buf[sizeof(invoke_frame) + 4];
	drpc__frame fr;
	size_t      used;

	memcpy(buf, invoke_frame, sizeof(invoke_frame));
	memcpy(buf + sizeof(invoke_frame), "\x0d\x01\x03\x00", 4);
	DRPC_CHECK_OK(drpc__frame_parse(
	    buf, sizeof(buf), DRPC__DEFAULT_MAX_SIZE, &fr, &used));
	ck_assert_uint_eq(used, sizeof(invoke_frame));
	DRPC_CHECK_OK(drpc__frame_parse(
	    buf + used, 4, DRPC__DEFAULT_MAX_SIZE, &fr, &used));
	ck_assert_uint_eq(used, 4);
	ck_assert_uint_eq(fr.kind, DRPC__KIND_CLOSE_SEND);
	ck_assert_uint_eq(fr.message_id, 3);
	ck_assert_uint_eq(fr.len, 0);
}
END_TEST

START_TEST(test_frame_control_byte_table)
{
	drpc__frame fr = {.stream_id = 1, .message_id = 1};
	uint8_t     out[DRPC__FRAME_HEADER_MAX];

	fr.kind = (uint8_t) control_table[_i].kind;
	fr.done = true;
	drpc__frame_header_put(out, &fr);
	ck_assert_uint_eq(out[0], control_table[_i].done);
	fr.done = false;
	drpc__frame_header_put(out, &fr);
	ck_assert_uint_eq(out[0], control_table[_i].not_done);
	fr.done    = true;
	fr.control = true;
	drpc__frame_header_put(out, &fr);
	ck_assert_uint_eq(out[0], control_table[_i].control);
}
END_TEST

// Kinds 0 and 8..63 parse at the frame layer, flags intact.
START_TEST(test_frame_unknown_kinds_parse)
{
	for (unsigned kind = 0; kind < 64; kind++) {
		uint8_t     buf[4] = {(uint8_t) (0x80 | kind << 1 | 1), 1, 1, 0};
		drpc__frame fr;
		size_t      used;

		DRPC_CHECK_OK(drpc__frame_parse(
		    buf, sizeof(buf), DRPC__DEFAULT_MAX_SIZE, &fr, &used));
		ck_assert_uint_eq(used, 4);
		ck_assert_uint_eq(fr.kind, kind);
		ck_assert(fr.control);
		ck_assert(fr.done);
		ck_assert_int_eq(drpc__kind_is_known(kind), kind >= 1 && kind <= 7);
	}
	ck_assert_str_eq(drpc__kind_name(DRPC__KIND_CLOSE_SEND), "CloseSend");
	ck_assert_str_eq(drpc__kind_name(0), "Unknown");
	ck_assert_str_eq(drpc__kind_name(8), "WindowUpdate");
	ck_assert_str_eq(drpc__kind_name(32), "Hello");
	ck_assert_str_eq(drpc__kind_name(9), "Unknown");
}
END_TEST

// Header fields of every width survive encode and parse.
START_TEST(test_frame_roundtrip_wide_ids)
{
	static const uint64_t ids[] = {0, 1, 127, 128, 1u << 20, UINT64_MAX};
	const size_t          n     = sizeof(ids) / sizeof(ids[0]);

	for (size_t i = 0; i < n; i++) {
		drpc__frame in = {.stream_id = ids[i], .message_id = ids[n - 1 - i],
		    .data = (const uint8_t *) "xyz", .len = 3, .kind = 2,
		    .done = true};
		drpc__buf   b  = {0};
		drpc__frame out;
		size_t      used;

		DRPC_CHECK_OK(drpc__frame_append(&b, &in));
		DRPC_CHECK_OK(drpc__frame_parse(
		    b.data, b.len, DRPC__DEFAULT_MAX_SIZE, &out, &used));
		ck_assert_uint_eq(used, b.len);
		ck_assert_uint_eq(out.stream_id, in.stream_id);
		ck_assert_uint_eq(out.message_id, in.message_id);
		ck_assert_uint_eq(out.len, 3);
		ck_assert_mem_eq(out.data, "xyz", 3);
		drpc__buf_fini(&b);
	}
}
END_TEST

// A frame claiming 2^63 bytes fails at once, from its header alone.
START_TEST(test_frame_huge_length)
{
	uint8_t     buf[] = {0x05, 0x01, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80,
		0x80, 0x80, 0x80, 0x80, 0x01};
	drpc__frame fr;
	size_t      used;

	DRPC_CHECK_ERR(drpc__frame_parse(
	    buf, sizeof(buf), DRPC__DEFAULT_MAX_SIZE, &fr, &used), DRPC_ETOOBIG);
}
END_TEST

// Exactly the maximum is accepted (need more); one above is rejected.
START_TEST(test_frame_length_limit)
{
	uint8_t     buf[] = {0x05, 0x01, 0x01, 0x80, 0x80, 0x80, 0x02};
	drpc__frame fr;
	size_t      used = 99;

	DRPC_CHECK_OK(drpc__frame_parse(buf, sizeof(buf), 4194304, &fr, &used));
	ck_assert_uint_eq(used, 0);
	DRPC_CHECK_ERR(drpc__frame_parse(buf, sizeof(buf), 4194303, &fr, &used),
	    DRPC_ETOOBIG);
}
END_TEST

START_TEST(test_frame_bad_varint)
{
	uint8_t     buf[16];
	drpc__frame fr;
	size_t      used;

	// The stream id, then the message id, then the length is 11 bytes.
	for (size_t field = 0; field < 3; field++) {
		memset(buf, 0, sizeof(buf));
		buf[0] = 0x05;
		memset(buf + 1 + field, 0xff, 11);
		DRPC_CHECK_ERR(drpc__frame_parse(buf, sizeof(buf),
		    DRPC__DEFAULT_MAX_SIZE, &fr, &used), DRPC_EVARINT);
	}
}
END_TEST

TU_SUITE(frame,
    TU_TEST("parse", test_frame_parse_invoke),
    TU_TEST("parse", test_frame_parse_prefix_needs_more,
        .loops = (int) sizeof(invoke_frame)),
    TU_TEST("parse", test_frame_parse_leaves_next_frame),
    TU_TEST("parse", test_frame_unknown_kinds_parse),
    TU_TEST("encode", test_frame_control_byte_table,
        .loops = (int) TU_LEN(control_table)),
    TU_TEST("encode", test_frame_roundtrip_wide_ids),
    TU_TEST("hostile", test_frame_huge_length),
    TU_TEST("hostile", test_frame_length_limit),
    TU_TEST("hostile", test_frame_bad_varint))
