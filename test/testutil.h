// Helpers shared by the Check suites.
#ifndef DRPC_TEST_TESTUTIL_H
#define DRPC_TEST_TESTUTIL_H

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

// DRPC_CHECK_OK fails the test with the error's name and text unless expr
// returns DRPC_OK.
#define DRPC_CHECK_OK(expr)                                                   \
	do {                                                                  \
		drpc_err drpc_rv_ = (expr);                                   \
		ck_assert_msg(drpc_rv_ == DRPC_OK, "%s: %s (%s)", #expr,      \
		    drpc_err_name(drpc_rv_), drpc_strerror(drpc_rv_));        \
	} while (0)

// DRPC_CHECK_ERR fails the test unless expr returns want.
#define DRPC_CHECK_ERR(expr, want)                                            \
	do {                                                                  \
		drpc_err drpc_rv_ = (expr);                                   \
		ck_assert_msg(drpc_rv_ == (want), "%s: got %s, want %s",      \
		    #expr, drpc_err_name(drpc_rv_), drpc_err_name(want));     \
	} while (0)

// tu_scale is CK_TIMEOUT_MULTIPLIER (at least 1): the sanitizer and
// valgrind runs set it, as Check stretches test timeouts with it.
int64_t tu_scale(void);

// tu_bound_ns is the bound on a wait for an event: base_ns times
// tu_scale(). Tests wait for events, never for time (test/README.md);
// running out of a bound means the event never came, and fails the test.
int64_t tu_bound_ns(int64_t base_ns);

// tu_wait_count waits until *count (guarded by mu, its changes
// broadcast on cv, a condition variable made by drpc__cond_init) reaches
// n, at most tu_bound_ns(bound_ns); returns the count it saw last.
size_t tu_wait_count(pthread_mutex_t *mu, pthread_cond_t *cv,
    const size_t *count, size_t n, int64_t bound_ns);

// tu_sync is the lock of a test's state block and the condition variable
// its changes are broadcast on (made by drpc__cond_init, so bounded waits
// use the monotonic clock). A suite's struct holds one beside the counters
// and flags it guards: threads change them with tu_sync_add / tu_sync_set
// (or under tu_sync_lock, then tu_sync_unlock_broadcast) and the test
// thread waits for them with tu_sync_wait / tu_sync_wait_flag.
typedef struct tu_sync {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
} tu_sync;

void tu_sync_init(tu_sync *s);
void tu_sync_fini(tu_sync *s);
void tu_sync_lock(tu_sync *s);
void tu_sync_unlock(tu_sync *s);
// tu_sync_unlock_broadcast wakes every waiter and unlocks: the end of a
// change made under tu_sync_lock.
void tu_sync_unlock_broadcast(tu_sync *s);

// tu_sync_add adds d to *counter (guarded by s) and broadcasts; returns
// the value before, so a thread counting itself in learns its index.
size_t tu_sync_add(tu_sync *s, size_t *counter, size_t d);

// tu_sync_set stores v in *flag (guarded by s) and broadcasts.
void tu_sync_set(tu_sync *s, bool *flag, bool v);

// tu_sync_get reads *counter (guarded by s).
size_t tu_sync_get(tu_sync *s, const size_t *counter);

// tu_sync_wait is tu_wait_count on s: it waits until *counter reaches n,
// at most tu_bound_ns(bound_ns), and returns the count it saw last.
size_t tu_sync_wait(
    tu_sync *s, const size_t *counter, size_t n, int64_t bound_ns);

// tu_sync_wait_flag waits until *flag is true, at most
// tu_bound_ns(bound_ns), and returns what it saw last.
bool tu_sync_wait_flag(tu_sync *s, const bool *flag, int64_t bound_ns);

// tu_shared_path returns DRPC_SHARED_DIR (or $DRPC_SHARED) joined with rel,
// in a static-free buffer the caller provides.
const char *tu_shared_path(char *out, size_t cap, const char *rel);

// tu_read_file reads a whole file into a malloc'd buffer (*len bytes).
// Returns NULL (and fails the test) if it cannot.
uint8_t *tu_read_file(const char *path, size_t *len);

// tu_hex decodes a string of hex pairs, spaces ignored, into out (cap
// bytes); returns the number of bytes.
size_t tu_hex(const char *hex, uint8_t *out, size_t cap);

// tu_test is one row of a suite's table: the test, the TCase it joins
// (made at the first row that names it; TCases join the suite in that
// order), and how it runs. Write the rows with TU_TEST, options after the
// test as designated initializers (Check's test names are variables, so
// the table is an automatic array):
//
//	const tu_test tests[] = {
//	    TU_TEST("limits", test_caps_max_handlers, .timeout = 60),
//	    TU_TEST("limits", test_caps_max_streams, .loops = 2),
//	};
//	return tu_suite("caps", tests, TU_LEN(tests));
typedef struct tu_test {
	const char  *tcase;
	const TTest *test;
	int          loops;   // 0: runs once; n: runs n times, _i = 0 .. n-1
	int          timeout; // seconds for the TCase; the largest of its rows
	                      // counts, 0 everywhere leaves Check's default
	void (*teardown)(void); // a checked teardown for the TCase; at most
	                        // one distinct per TCase
} tu_test;

#define TU_TEST(tcase_, ...) {.tcase = (tcase_), .test = __VA_ARGS__}
#define TU_LEN(a)            (sizeof(a) / sizeof((a)[0]))

// tu_suite builds the suite `name` from n rows (see tu_test). It aborts
// on a table it cannot build (too many TCases, two teardowns for one).
Suite *tu_suite(const char *name, const tu_test *tests, size_t n);

#endif // DRPC_TEST_TESTUTIL_H
