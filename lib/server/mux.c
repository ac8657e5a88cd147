// drpc_mux: method name -> handler. A sorted array searched by binary
// search; registration happens before serving, lookups are read-only.
#include <stdlib.h>
#include <string.h>

#include "server/mux.h"

struct drpc_mux {
	drpc__mux_entry *entries; // sorted by name
	size_t           n;
	size_t           cap;
};

drpc_err
drpc_mux_create(drpc_mux **mp)
{
	if (mp == NULL) {
		return DRPC_EINVAL;
	}
	if ((*mp = calloc(1, sizeof(**mp))) == NULL) {
		return DRPC_ENOMEM;
	}
	return DRPC_OK;
}

static int
mux_cmp(const void *key, size_t key_len, const drpc__mux_entry *e)
{
	size_t n = key_len < e->name_len ? key_len : e->name_len;
	int    c = n == 0 ? 0 : memcmp(key, e->name, n);

	if (c != 0) {
		return c;
	}
	return (key_len > e->name_len) - (key_len < e->name_len);
}

// mux_find returns the index of name, or where it would go (*found false).
static size_t
mux_find(const drpc_mux *m, const void *name, size_t len, bool *found)
{
	size_t lo = 0;
	size_t hi = m->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int    c   = mux_cmp(name, len, &m->entries[mid]);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0) {
			hi = mid;
		} else {
			lo = mid + 1;
		}
	}
	return lo;
}

drpc_err
drpc_mux_register(
    drpc_mux *m, const char *method, drpc_handler_fn fn, void *user)
{
	size_t len;
	size_t at;
	bool   found;
	char  *name;

	// Clients send "/pkg.Service/Method": a name without the leading
	// slash could never be called.
	if (m == NULL || method == NULL || fn == NULL || method[0] != '/' ||
	    method[1] == '\0') {
		return DRPC_EINVAL;
	}
	len = strlen(method);
	at  = mux_find(m, method, len, &found);
	if (found) {
		return DRPC_EEXIST;
	}
	if (m->n == m->cap) {
		size_t           cap = m->cap == 0 ? 8 : m->cap * 2;
		drpc__mux_entry *e   = realloc(m->entries, cap * sizeof(*e));

		if (e == NULL) {
			return DRPC_ENOMEM;
		}
		m->entries = e;
		m->cap     = cap;
	}
	if ((name = malloc(len + 1)) == NULL) {
		return DRPC_ENOMEM;
	}
	memcpy(name, method, len + 1);
	memmove(&m->entries[at + 1], &m->entries[at],
	    (m->n - at) * sizeof(*m->entries));
	m->entries[at] = (drpc__mux_entry) {name, len, fn, user};
	m->n++;
	return DRPC_OK;
}

const drpc__mux_entry *
drpc__mux_lookup(const drpc_mux *m, const void *name, size_t len)
{
	bool   found;
	size_t at = mux_find(m, name, len, &found);

	return found ? &m->entries[at] : NULL;
}

void
drpc_mux_destroy(drpc_mux *m)
{
	if (m == NULL) {
		return;
	}
	for (size_t i = 0; i < m->n; i++) {
		free(m->entries[i].name);
	}
	free(m->entries);
	free(m);
}
