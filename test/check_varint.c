#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/varint.h"

// Encodings from docs/protocol.md §2 (the reference's machine-checked table).
static const struct {
	uint64_t    value;
	const char *hex;
} examples[] = {
    {0, "00"},
    {1, "01"},
    {19, "13"},
    {127, "7f"},
    {128, "80 01"},
    {300, "ac 02"},
    {4464, "f0 22"},
    {16383, "ff 7f"},
    {16384, "80 80 01"},
    {65536, "80 80 04"},
    {4194304, "80 80 80 02"},
    {UINT64_MAX, "ff ff ff ff ff ff ff ff ff 01"},
};

START_TEST(test_varint_examples)
{
	uint8_t  want[16];
	uint8_t  got[16];
	size_t   n    = tu_hex(examples[_i].hex, want, sizeof(want));
	uint8_t *end  = drpc__varint_put(got, examples[_i].value);
	uint64_t v    = 0;
	size_t   used = 0;

	ck_assert_uint_eq((size_t) (end - got), n);
	ck_assert_mem_eq(got, want, n);
	ck_assert_uint_eq(drpc__varint_size(examples[_i].value), n);
	DRPC_CHECK_OK(drpc__varint_read(want, n, &v, &used));
	ck_assert_uint_eq(used, n);
	ck_assert_uint_eq(v, examples[_i].value);
}
END_TEST

START_TEST(test_varint_roundtrip_every_width)
{
	for (unsigned bits = 0; bits <= 64; bits++) {
		uint64_t v = bits == 64 ? UINT64_MAX
		    : bits == 0         ? 0
					: ((uint64_t) 1 << bits) - 1;
		uint8_t  buf[DRPC__VARINT_MAX];
		uint64_t got  = 0;
		size_t   used = 0;
		size_t   n    = (size_t) (drpc__varint_put(buf, v) - buf);

		ck_assert_uint_eq(n, drpc__varint_size(v));
		ck_assert_uint_eq(n, bits == 0 ? 1 : (bits + 6) / 7);
		DRPC_CHECK_OK(drpc__varint_read(buf, n, &got, &used));
		ck_assert_uint_eq(got, v);
		ck_assert_uint_eq(used, n);
	}
}
END_TEST

// Every proper prefix of a varint asks for more bytes.
START_TEST(test_varint_prefix_needs_more)
{
	uint8_t  buf[DRPC__VARINT_MAX];
	size_t   n = (size_t) (drpc__varint_put(buf, UINT64_MAX) - buf);
	uint64_t v;
	size_t   used = 99;

	for (size_t len = 0; len < n; len++) {
		DRPC_CHECK_OK(drpc__varint_read(buf, len, &v, &used));
		ck_assert_uint_eq(used, 0);
	}
}
END_TEST

START_TEST(test_varint_non_minimal_accepted)
{
	uint8_t  buf[] = {0x80, 0x00};
	uint64_t v     = 7;
	size_t   used;

	DRPC_CHECK_OK(drpc__varint_read(buf, sizeof(buf), &v, &used));
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_eq(used, 2);
}
END_TEST

// 11 bytes, or a 10th byte that still has the continuation bit.
START_TEST(test_varint_too_long)
{
	uint8_t  buf[11];
	uint64_t v;
	size_t   used;

	memset(buf, 0x80, sizeof(buf));
	buf[10] = 0x01;
	DRPC_CHECK_ERR(drpc__varint_read(buf, sizeof(buf), &v, &used),
	    DRPC_EVARINT);
	DRPC_CHECK_ERR(drpc__varint_read(buf, 10, &v, &used), DRPC_EVARINT);
}
END_TEST

// A 10th byte above 01 would overflow 64 bits.
START_TEST(test_varint_overflow)
{
	uint8_t  buf[10];
	uint64_t v;
	size_t   used;

	memset(buf, 0xff, 9);
	buf[9] = 0x7f;
	DRPC_CHECK_ERR(drpc__varint_read(buf, 10, &v, &used), DRPC_EVARINT);
	buf[9] = 0x02;
	DRPC_CHECK_ERR(drpc__varint_read(buf, 10, &v, &used), DRPC_EVARINT);
}
END_TEST

TU_SUITE(varint,
    TU_TEST("codec", test_varint_examples, .loops = (int) TU_LEN(examples)),
    TU_TEST("codec", test_varint_roundtrip_every_width),
    TU_TEST("codec", test_varint_prefix_needs_more),
    TU_TEST("codec", test_varint_non_minimal_accepted),
    TU_TEST("hostile", test_varint_too_long),
    TU_TEST("hostile", test_varint_overflow))
