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
