// Rows of a suite from several files (tu_rows.h).
#include "tu_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
tu_rows_put(tu_test *out, size_t cap, const tu_test *rows, size_t n)
{
	if (n > cap) {
		fprintf(
		    stderr, "tu_rows_put: %zu rows, room for %zu\n", n, cap);
		abort();
	}
	memcpy(out, rows, n * sizeof(*rows));
	return n;
}

#define TU_ROWS_MAX 128

Suite *
tu_suite_parts(const char *name, tu_rows_fn *const *parts, size_t n)
{
	tu_test rows[TU_ROWS_MAX];
	size_t  len = 0;

	for (size_t i = 0; i < n; i++) {
		len += parts[i](rows + len, TU_ROWS_MAX - len);
	}
	return tu_suite(name, rows, len);
}
