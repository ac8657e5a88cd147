#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "testutil.h"
#include "wire/metadata.h"

static drpc__md_entry
entry(const char *k, const char *v)
{
	drpc__md_entry e = {(const uint8_t *) k, strlen(k),
	    (const uint8_t *) v, strlen(v)};

	return e;
}

static void
check_entry(const drpc__md *md, const char *k, const char *v)
{
	const drpc__md_entry *e = drpc__md_get(md, k, strlen(k));

	ck_assert_msg(e != NULL, "key %s missing", k);
	ck_assert_uint_eq(e->val_len, strlen(v));
	if (e->val_len > 0) {
		ck_assert_mem_eq(e->val, v, e->val_len);
	}
}

// Examples of the reference §8, machine-checked against Go.
START_TEST(test_md_examples)
{
	uint8_t        want[32];
	size_t         n;
	drpc__buf      b  = {0};
	drpc__md_entry e1 = entry("key", "value");
	drpc__md_entry e2 = entry("k", "v");

	n = tu_hex("0a 0c 0a 03 6b 65 79 12 05 76 61 6c 75 65", want,
	    sizeof(want));
	DRPC_CHECK_OK(drpc__md_append(&b, &e1, 1));
	ck_assert_uint_eq(b.len, n);
	ck_assert_mem_eq(b.data, want, n);
	b.len = 0;
	n     = tu_hex("0a 06 0a 01 6b 12 01 76", want, sizeof(want));
	DRPC_CHECK_OK(drpc__md_append(&b, &e2, 1));
	ck_assert_uint_eq(b.len, n);
	ck_assert_mem_eq(b.data, want, n);
	drpc__buf_fini(&b);
}
END_TEST

// Empty values are written with both fields (a generic proto3 encoder
// would omit them); the round trip keeps them.
START_TEST(test_md_roundtrip_empty_values)
{
	drpc__md_entry in[] = {entry("authorization", "Bearer t0k3n"),
	    entry("empty", ""), entry("", "no key"), entry("x", "y")};
	drpc__buf      b    = {0};
	drpc__md       md;

	DRPC_CHECK_OK(drpc__md_append(&b, in, 4));
	ck_assert_mem_eq(b.data + 31, "\x0a\x09\x0a\x05" "empty\x12\x00", 11);
	DRPC_CHECK_OK(drpc__md_decode(b.data, b.len, &md));
	ck_assert_uint_eq(md.n, 4);
	check_entry(&md, "authorization", "Bearer t0k3n");
	check_entry(&md, "empty", "");
	check_entry(&md, "", "no key");
	check_entry(&md, "x", "y");
	ck_assert_ptr_null(drpc__md_get(&md, "nope", 4));
	drpc__md_fini(&md);
	drpc__buf_fini(&b);
}
END_TEST

// A repeated key: the last one wins, as with Go's map.
START_TEST(test_md_duplicate_last_wins)
{
	drpc__md_entry in[] = {entry("a", "1"), entry("b", "2"),
	    entry("a", "3")};
	drpc__buf      b    = {0};
	drpc__md       md;

	DRPC_CHECK_OK(drpc__md_append(&b, in, 3));
	DRPC_CHECK_OK(drpc__md_decode(b.data, b.len, &md));
	ck_assert_uint_eq(md.n, 2);
	check_entry(&md, "a", "3");
	check_entry(&md, "b", "2");
	drpc__md_fini(&md);
	drpc__buf_fini(&b);
}
END_TEST

START_TEST(test_md_empty_body)
{
	drpc__md md;

	DRPC_CHECK_OK(drpc__md_decode(NULL, 0, &md));
	ck_assert_uint_eq(md.n, 0);
	drpc__md_fini(&md);
}
END_TEST

// Bodies the strict decoder rejects.
static const char *const bad_bodies[] = {
    "0a",                            // entry tag without a length
    "0a 06 0a 01 6b 12 01",          // entry runs past the body
    "12 06 0a 01 6b 12 01 76",       // wrong entry tag
    "0a 03 0a 01 6b",                // value field missing
    "0a 03 12 01 76",                // key field missing
    "0a 06 12 01 76 0a 01 6b",       // value before key
    "0a 07 0a 01 6b 12 01 76 00",    // trailing byte inside the entry
    "0a 06 0a 05 6b 12 01 76",       // key length past the entry
    "0a 06 0a 01 6b 1a 01 76",       // unknown field 3
    "0a 06 0a 01 6b 12 01 76 0a",    // a second, truncated entry
    "0a ff ff ff ff ff ff ff ff ff ff 01", // overlong varint
};

START_TEST(test_md_bad_bodies)
{
	uint8_t  body[64];
	size_t   n = tu_hex(bad_bodies[_i], body, sizeof(body));
	drpc__md md;

	DRPC_CHECK_ERR(drpc__md_decode(body, n, &md), DRPC_EMETADATA);
	ck_assert_uint_eq(md.n, 0);
	ck_assert_ptr_null(md.entries);
	ck_assert_ptr_null(md.store);
}
END_TEST

// 100,000 tiny entries, all with the same key, decode quickly (the
// duplicate handling is O(n log n)).
START_TEST(test_md_many_entries)
{
	const size_t   count = 100000;
	drpc__buf      b     = {0};
	drpc__md_entry e     = entry("k", "v");
	drpc__md       md;

	for (size_t i = 0; i < count; i++) {
		DRPC_CHECK_OK(drpc__md_append(&b, &e, 1));
	}
	DRPC_CHECK_OK(drpc__md_decode(b.data, b.len, &md));
	ck_assert_uint_eq(md.n, 1);
	drpc__md_fini(&md);
	drpc__buf_fini(&b);
}
END_TEST

Suite *
metadata_suite(void)
{
	Suite *s       = suite_create("metadata");
	TCase *codec   = tcase_create("codec");
	TCase *hostile = tcase_create("hostile");

	tcase_add_test(codec, test_md_examples);
	tcase_add_test(codec, test_md_roundtrip_empty_values);
	tcase_add_test(codec, test_md_duplicate_last_wins);
	tcase_add_test(codec, test_md_empty_body);
	tcase_add_loop_test(hostile, test_md_bad_bodies, 0,
	    (int) (sizeof(bad_bodies) / sizeof(bad_bodies[0])));
	tcase_add_test(hostile, test_md_many_entries);
	tcase_set_timeout(hostile, 20);
	suite_add_tcase(s, codec);
	suite_add_tcase(s, hostile);
	return s;
}
