#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/errbody.h"

// Example B of the reference: code 42, "boom".
START_TEST(test_errbody_example_b)
{
	static const uint8_t want[] = {0, 0, 0, 0, 0, 0, 0, 0x2a, 'b', 'o',
	    'o', 'm'};
	drpc__buf      b = {0};
	uint64_t       code;
	const uint8_t *msg;
	size_t         msg_len;

	DRPC_CHECK_OK(drpc__errbody_append(&b, 42, "boom", 4));
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.data, want, sizeof(want));
	ck_assert(drpc__errbody_parse(b.data, b.len, &code, &msg, &msg_len));
	ck_assert_uint_eq(code, 42);
	ck_assert_uint_eq(msg_len, 4);
	ck_assert_mem_eq(msg, "boom", 4);
	drpc__buf_fini(&b);
}
END_TEST

// The full 64-bit range survives (fail_bigcode transcript's code).
START_TEST(test_errbody_big_code)
{
	drpc__buf      b = {0};
	uint64_t       code;
	const uint8_t *msg;
	size_t         msg_len;

	DRPC_CHECK_OK(drpc__errbody_append(&b, 0xDEADBEEFCAFEF00Dull, "", 0));
	ck_assert_uint_eq(b.len, 8);
	ck_assert_uint_eq(b.data[0], 0xde);
	ck_assert_uint_eq(b.data[7], 0x0d);
	ck_assert(drpc__errbody_parse(b.data, b.len, &code, &msg, &msg_len));
	ck_assert_uint_eq(code, 0xDEADBEEFCAFEF00Dull);
	ck_assert_uint_eq(msg_len, 0);
	drpc__buf_fini(&b);
}
END_TEST

// A body shorter than the code is text without a code, flagged invalid.
START_TEST(test_errbody_short)
{
	uint64_t       code = 5;
	const uint8_t *msg;
	size_t         msg_len;

	ck_assert(!drpc__errbody_parse(
	    (const uint8_t *) "oops", 4, &code, &msg, &msg_len));
	ck_assert_uint_eq(code, 0);
	ck_assert_uint_eq(msg_len, 4);
	ck_assert(!drpc__errbody_parse(NULL, 0, &code, &msg, &msg_len));
	ck_assert_uint_eq(msg_len, 0);
}
END_TEST

// check_text parses b and checks its code and that its text is want_len
// bytes: the first keep bytes of full, then marker (may be "").
static void
check_text(const drpc__buf *b, const char *full, size_t keep,
    const char *marker, size_t want_len)
{
	uint64_t       code;
	const uint8_t *msg;
	size_t         msg_len;

	ck_assert(drpc__errbody_parse(b->data, b->len, &code, &msg, &msg_len));
	ck_assert_uint_eq(code, 13);
	ck_assert_uint_eq(msg_len, want_len);
	ck_assert_uint_eq(keep + strlen(marker), want_len);
	ck_assert_mem_eq(msg, full, keep);
	ck_assert_mem_eq(msg + keep, marker, strlen(marker));
}

// A text over DRPC__ERRBODY_TEXT_MAX (16 KiB) is cut to it and ends with
// a marker giving its length; one of exactly the limit is kept whole.
START_TEST(test_errbody_text_cut)
{
	const size_t big    = (size_t) 1 << 20;
	const char  *marker = " ... (truncated from 1048576 bytes)";
	char        *text   = malloc(big);
	drpc__buf    b      = {0};
	size_t       keep   = DRPC__ERRBODY_TEXT_MAX - strlen(marker);

	ck_assert_ptr_nonnull(text);
	for (size_t i = 0; i < big; i++) {
		text[i] = (char) ('a' + i % 26);
	}
	ck_assert_uint_eq(DRPC__ERRBODY_TEXT_MAX, 16384);
	DRPC_CHECK_OK(drpc__errbody_append(&b, 13, text, big));
	check_text(&b, text, keep, marker, DRPC__ERRBODY_TEXT_MAX);
	b.len = 0;
	DRPC_CHECK_OK(
	    drpc__errbody_append(&b, 13, text, DRPC__ERRBODY_TEXT_MAX));
	check_text(&b, text, DRPC__ERRBODY_TEXT_MAX, "",
	    DRPC__ERRBODY_TEXT_MAX);
	drpc__buf_fini(&b);
	free(text);
}
END_TEST

// The cut never splits a UTF-8 character: a text of 3-byte characters
// (U+20AC, e2 82 ac) keeps whole characters before the marker, wherever
// the limit falls (_i moves it by one byte).
START_TEST(test_errbody_text_cut_utf8)
{
	const char *marker = " ... (truncated from 3000 bytes)";
	char        text[3000];
	drpc__buf   b    = {0};
	size_t      max  = 200 + (size_t) _i;
	size_t      room = max - strlen(marker);
	size_t      keep = room - room % 3;

	for (size_t i = 0; i < sizeof(text); i += 3) {
		memcpy(text + i, "\xe2\x82\xac", 3);
	}
	DRPC_CHECK_OK(
	    drpc__errbody_append_max(&b, 13, text, sizeof(text), max));
	check_text(&b, text, keep, marker, keep + strlen(marker));
	ck_assert_uint_le(keep + strlen(marker), max);
	drpc__buf_fini(&b);
}
END_TEST

// A limit smaller than the marker (a tiny peer maximum) still holds: the
// text is cut to it, without the marker.
START_TEST(test_errbody_text_cut_tiny)
{
	drpc__buf b = {0};

	DRPC_CHECK_OK(
	    drpc__errbody_append_max(&b, 13, "abcdefghijklmnop", 16, 10));
	check_text(&b, "abcdefghij", 10, "", 10);
	drpc__buf_fini(&b);
}
END_TEST

TU_SUITE(errbody,
    TU_TEST("codec", test_errbody_example_b),
    TU_TEST("codec", test_errbody_big_code),
    TU_TEST("codec", test_errbody_short),
    TU_TEST("codec", test_errbody_text_cut),
    TU_TEST("codec", test_errbody_text_cut_utf8, .loops = 3),
    TU_TEST("codec", test_errbody_text_cut_tiny))
