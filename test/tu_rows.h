// Suites whose rows (tu_test, testutil.h) come from several files: each
// file gives its rows through a function of type tu_rows_fn, written
// with TU_ROWS, and the suite's function builds the suite from them all
// with tu_suite_parts.
//
//	TU_ROWS(cli_tls_tests,
//	    TU_TEST("tls", test_cli_tls, .timeout = 60),
//	    TU_TEST("tls", test_cli_mtls))
#ifndef DRPC_TEST_TU_ROWS_H
#define DRPC_TEST_TU_ROWS_H

#include <stddef.h>

#include "testutil.h"

// A tu_rows_fn copies its rows into out (room for cap rows) and returns
// how many; it aborts if they do not fit.
typedef size_t tu_rows_fn(tu_test *out, size_t cap);

// TU_ROWS defines the tu_rows_fn name giving the rows that follow.
#define TU_ROWS(name, ...)                                          \
	size_t name(tu_test *out, size_t cap)                       \
	{                                                           \
		const tu_test rows_[] = {__VA_ARGS__};              \
                                                                    \
		return tu_rows_put(out, cap, rows_, TU_LEN(rows_)); \
	}

// tu_rows_put copies the n rows to out, which has room for cap, and
// returns n; it aborts if they do not fit.
size_t tu_rows_put(tu_test *out, size_t cap, const tu_test *rows, size_t n);

// tu_suite_parts builds the suite name (tu_suite) from the rows of each of
// the n functions, in turn.
Suite *tu_suite_parts(const char *name, tu_rows_fn *const *parts, size_t n);

#endif // DRPC_TEST_TU_ROWS_H
