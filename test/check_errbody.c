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

Suite *
errbody_suite(void)
{
	Suite *s  = suite_create("errbody");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_errbody_example_b);
	tcase_add_test(tc, test_errbody_big_code);
	tcase_add_test(tc, test_errbody_short);
	suite_add_tcase(s, tc);
	return s;
}
