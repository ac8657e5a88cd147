#include <stdint.h>
#include <stdlib.h>

#include "common/idmap.h"
#include "suites.h"
#include "testutil.h"

// Random puts, gets and deletes agree with a plain array, including id 0
// (never a key: a peer's frame for stream 0 must not disturb the map).
// The loop compares with plain ifs and stops at the first disagreement:
// a ck_assert per operation would write a Check marker each time, and
// 300,000 of them made the forked test crawl under load.
START_TEST(test_idmap_random_ops)
{
	enum { IDS = 600, OPS = 300000 };
	drpc__idmap m        = {0};
	void       *ref[IDS] = {0};
	uint32_t    seed     = 12345;
	size_t      live     = 0;
	const char *bad      = NULL; // what disagreed first
	int         it;

	for (it = 0; it < OPS && bad == NULL; it++) {
		seed = seed * 1103515245u + 12345u;
		uint64_t id = (seed >> 8) % IDS; // includes 0
		seed = seed * 1103515245u + 12345u;
		switch ((seed >> 8) % 3) {
		case 0:
			if (id != 0 && ref[id] == NULL) {
				ref[id] = &ref[id];
				if (drpc__idmap_put(&m, id, ref[id]) !=
				    DRPC_OK) {
					bad = "put failed";
				}
				live++;
			}
			break;
		case 1:
			if (drpc__idmap_del(&m, id) != ref[id]) {
				bad = "del returned the wrong value";
			}
			live -= ref[id] != NULL;
			ref[id] = NULL;
			break;
		default:
			if (drpc__idmap_get(&m, id) != ref[id]) {
				bad = "get returned the wrong value";
			}
		}
		if (bad == NULL && m.n != live) {
			bad = "the count is wrong";
		}
	}
	ck_assert_msg(bad == NULL, "operation %d: %s", it - 1, bad);
	while (drpc__idmap_take_any(&m) != NULL) {
		live--;
	}
	ck_assert_uint_eq(live, 0);
	drpc__idmap_fini(&m);
}
END_TEST

TU_SUITE(idmap,
    TU_TEST("ops", test_idmap_random_ops))
