#include <stdbool.h>
#include <stdlib.h>

#include "common/idmap.h"

static size_t
idmap_hash(uint64_t id, size_t cap)
{
	// Fibonacci hashing spreads sequential stream ids.
	return (size_t) ((id * 0x9E3779B97F4A7C15ull) >> 32) & (cap - 1);
}

void *
drpc__idmap_get(const drpc__idmap *m, uint64_t id)
{
	if (m->n == 0 || id == 0) {
		return NULL; // 0 marks an empty slot: it is never a key
	}
	for (size_t i = idmap_hash(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].id == id) {
			return m->slots[i].val;
		}
		if (m->slots[i].id == 0) {
			return NULL;
		}
	}
}

static void
idmap_insert(drpc__idmap_slot *slots, size_t cap, uint64_t id, void *val)
{
	size_t i = idmap_hash(id, cap);

	while (slots[i].id != 0) {
		i = (i + 1) & (cap - 1);
	}
	slots[i].id  = id;
	slots[i].val = val;
}

static drpc_err
idmap_grow(drpc__idmap *m)
{
	size_t            cap = m->cap == 0 ? 16 : m->cap * 2;
	drpc__idmap_slot *slots = calloc(cap, sizeof(*slots));

	if (slots == NULL) {
		return DRPC_ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].id != 0) {
			idmap_insert(slots, cap, m->slots[i].id, m->slots[i].val);
		}
	}
	free(m->slots);
	m->slots = slots;
	m->cap   = cap;
	return DRPC_OK;
}

drpc_err
drpc__idmap_put(drpc__idmap *m, uint64_t id, void *val)
{
	drpc_err rv;

	// Keep the load at or under 1/2.
	if ((m->n + 1) * 2 > m->cap && (rv = idmap_grow(m)) != DRPC_OK) {
		return rv;
	}
	idmap_insert(m->slots, m->cap, id, val);
	m->n++;
	return DRPC_OK;
}

// idmap_remove_at empties slot i and shifts later probes back into place.
static void
idmap_remove_at(drpc__idmap *m, size_t i)
{
	size_t mask = m->cap - 1;
	size_t j    = i;

	for (;;) {
		j = (j + 1) & mask;
		if (m->slots[j].id == 0) {
			break;
		}
		size_t home = idmap_hash(m->slots[j].id, m->cap);
		// Move j back to i unless its home lies cyclically in (i, j].
		bool stays = i <= j ? (home > i && home <= j)
				    : (home > i || home <= j);
		if (!stays) {
			m->slots[i] = m->slots[j];
			i           = j;
		}
	}
	m->slots[i].id  = 0;
	m->slots[i].val = NULL;
	m->n--;
}

void *
drpc__idmap_del(drpc__idmap *m, uint64_t id)
{
	if (m->n == 0 || id == 0) {
		return NULL; // 0 marks an empty slot: it is never a key
	}
	for (size_t i = idmap_hash(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].id == id) {
			void *val = m->slots[i].val;

			idmap_remove_at(m, i);
			return val;
		}
		if (m->slots[i].id == 0) {
			return NULL;
		}
	}
}

void *
drpc__idmap_take_any(drpc__idmap *m)
{
	for (size_t i = 0; m->n > 0 && i < m->cap; i++) {
		if (m->slots[i].id != 0) {
			return drpc__idmap_del(m, m->slots[i].id);
		}
	}
	return NULL;
}

void
drpc__idmap_fini(drpc__idmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}
