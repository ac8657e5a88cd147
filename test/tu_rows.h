// Suites whose rows (tu_test, testutil.h) come from several files: each
// file gives its rows through a function that copies them out with
// tu_rows_put, and the suite's own function joins them into one table
// for tu_suite.
#ifndef DRPC_TEST_TU_ROWS_H
#define DRPC_TEST_TU_ROWS_H

#include <stddef.h>

#include "testutil.h"

// tu_rows_put copies the n rows to out, which has room for cap, and
// returns n; it aborts if they do not fit.
size_t tu_rows_put(tu_test *out, size_t cap, const tu_test *rows, size_t n);

#endif // DRPC_TEST_TU_ROWS_H
