#include <stdio.h>
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

// The entries array is sized for the entries present, not for the body's
// length: two entries with 30,000-byte values take two entries and their
// bytes (before: room for len / 6 + 1 entries, about 10,000).
START_TEST(test_md_sized_for_entries)
{
	static char    big[2][30001];
	drpc__md_entry in[2];
	drpc__buf      b = {0};
	drpc__md       md;

	for (size_t i = 0; i < 2; i++) {
		memset(big[i], (int) ('a' + i), sizeof(big[i]) - 1);
		in[i] = entry(i == 0 ? "k0" : "k1", big[i]);
	}
	DRPC_CHECK_OK(drpc__md_append(&b, in, 2));
	DRPC_CHECK_OK(drpc__md_decode(b.data, b.len, &md));
	ck_assert_uint_eq(md.n, 2);
	ck_assert_uint_eq(md.cap, 2);
	check_entry(&md, "k1", big[1]);
	ck_assert_uint_eq(drpc__md_cost(&md),
	    2 * sizeof(drpc__md_entry) + 2 * (2 + 30000 + 2));
	drpc__md_fini(&md);
	drpc__buf_fini(&b);
}
END_TEST

// 100,000 distinct tiny entries all decode, into exactly 100,000 entries;
// 100,000 repeats of one key end in one entry, their room given back.
START_TEST(test_md_many_tiny_entries_sized)
{
	const size_t count = 100000;
	drpc__buf    b     = {0};
	drpc__md     md;
	char         key[24];
	size_t       bad = 0;

	for (size_t i = 0; i < count; i++) {
		drpc__md_entry e;

		snprintf(key, sizeof(key), "%05zu", i);
		e = entry(key, "");
		DRPC_CHECK_OK(drpc__md_append(&b, &e, 1));
	}
	DRPC_CHECK_OK(drpc__md_decode(b.data, b.len, &md));
	ck_assert_uint_eq(md.n, count);
	ck_assert_uint_eq(md.cap, count);
	for (size_t i = 0; i < count; i++) {
		snprintf(key, sizeof(key), "%05zu", i);
		bad += drpc__md_get(&md, key, 5) == NULL ? 1 : 0;
		if (i > 1000) {
			i += 997; // a sample: drpc__md_get is a linear search
		}
	}
	ck_assert_uint_eq(bad, 0);
	drpc__md_fini(&md);
	b.len = 0;
	for (size_t i = 0; i < count; i++) {
		drpc__md_entry e = entry("k", "v");

		DRPC_CHECK_OK(drpc__md_append(&b, &e, 1));
	}
	DRPC_CHECK_OK(drpc__md_decode(b.data, b.len, &md));
	ck_assert_uint_eq(md.n, 1);
	ck_assert_uint_eq(md.cap, 1);
	ck_assert_uint_eq(drpc__md_cost(&md), sizeof(drpc__md_entry) + 4);
	drpc__md_fini(&md);
	drpc__buf_fini(&b);
}
END_TEST

// drpc__md_decode_max refuses a body whose decoded map would cost more
// than the limit, before allocating anything: 1,000 tiny entries (6,000
// bytes on the wire) cost 1,000 entries and 2,000 bytes of store. A body
// that is malformed is still DRPC_EMETADATA.
START_TEST(test_md_decode_max)
{
	const size_t cost = 1000 * sizeof(drpc__md_entry) + 2000;
	drpc__buf    b    = {0};
	drpc__md     md;
	uint8_t      bad[8];
	size_t       n = tu_hex("0a 06 0a 01 6b 12 01", bad, sizeof(bad));

	for (size_t i = 0; i < 1000; i++) {
		drpc__md_entry e = entry("", "");

		DRPC_CHECK_OK(drpc__md_append(&b, &e, 1));
	}
	ck_assert_uint_eq(b.len, 6000);
	DRPC_CHECK_ERR(drpc__md_decode_max(b.data, b.len, cost - 1, &md),
	    DRPC_ETOOBIG);
	ck_assert_ptr_null(md.entries);
	ck_assert_ptr_null(md.store);
	ck_assert_uint_eq(md.cap, 0);
	DRPC_CHECK_OK(drpc__md_decode_max(b.data, b.len, cost, &md));
	ck_assert_uint_eq(md.n, 1);
	ck_assert_uint_le(drpc__md_cost(&md), cost);
	drpc__md_fini(&md);
	DRPC_CHECK_ERR(drpc__md_decode_max(bad, n, 1, &md), DRPC_EMETADATA);
	drpc__buf_fini(&b);
}
END_TEST

TU_SUITE(metadata,
    TU_TEST("codec", test_md_examples),
    TU_TEST("codec", test_md_roundtrip_empty_values),
    TU_TEST("codec", test_md_duplicate_last_wins),
    TU_TEST("codec", test_md_empty_body),
    TU_TEST("hostile", test_md_bad_bodies,
        .loops = (int) TU_LEN(bad_bodies), .timeout = 20),
    TU_TEST("hostile", test_md_many_entries),
    TU_TEST("hostile", test_md_sized_for_entries),
    TU_TEST("hostile", test_md_many_tiny_entries_sized),
    TU_TEST("hostile", test_md_decode_max))
