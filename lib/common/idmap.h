// drpc__idmap: a hash map from nonzero uint64 ids to pointers, for the
// stream registry and the pending-invoke table. Open addressing with linear
// probing and backward-shift deletion (no tombstones), so lookups stay
// short however many streams come and go. Not thread-safe: the owner's
// lock guards it.
#ifndef DRPC_COMMON_IDMAP_H
#define DRPC_COMMON_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

typedef struct drpc__idmap_slot {
	uint64_t id; // 0 = empty
	void    *val;
} drpc__idmap_slot;

typedef struct drpc__idmap {
	drpc__idmap_slot *slots;
	size_t            cap; // a power of two, or 0
	size_t            n;
} drpc__idmap;

// drpc__idmap_get returns the value of id, or NULL (always for id 0).
void *drpc__idmap_get(const drpc__idmap *m, uint64_t id);

// drpc__idmap_put adds id (nonzero, not present) with val.
// Errors: DRPC_ENOMEM.
drpc_err drpc__idmap_put(drpc__idmap *m, uint64_t id, void *val);

// drpc__idmap_del removes id and returns its value (NULL if absent, and
// for id 0, which a peer may well send).
void *drpc__idmap_del(drpc__idmap *m, uint64_t id);

// drpc__idmap_take_any removes and returns some entry's value, or NULL when
// the map is empty (for draining it).
void *drpc__idmap_take_any(drpc__idmap *m);

// drpc__idmap_fini frees the table.
void drpc__idmap_fini(drpc__idmap *m);

#endif // DRPC_COMMON_IDMAP_H
