// Resource accounting for the suites: what a process holds (threads,
// fds, resident memory), read from /proc, and the leak check every
// fixture-heavy test brackets itself with.
//
//	tu_leak l = tu_leak_start();    // before any set-up
//	...                             // the test, its teardown
//	tu_leak_check(&l);              // threads and fds back where they were
//
// Another process (the hostile suites' server child) is measured with
// tu_sample_read; this one's counts with tu_threads, tu_fds and
// tu_self_rss_kib. Counting is cheap but not free (a directory read, and
// for tu_threads a thread start): poll, do not spin.
#ifndef DRPC_TEST_RESOURCES_H
#define DRPC_TEST_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

// tu_threads and tu_fds count this process's threads and open fds.
// tu_threads first starts and joins a thread, so that a sanitizer's
// helper thread (started with the first pthread_create) is always
// counted.
size_t tu_threads(void);
size_t tu_fds(void);

// tu_self_rss_kib is this process's resident memory (VmRSS), in KiB.
size_t tu_self_rss_kib(void);

// What /proc says about a process.
typedef struct tu_sample {
	size_t rss_kib; // VmRSS
	size_t hwm_kib; // VmHWM: the peak RSS so far
	size_t threads;
	size_t fds;
} tu_sample;

// tu_sample_read reads pid's status and fd count; false if pid is gone.
// tu_sample_max raises *peak to s field by field.
bool tu_sample_read(pid_t pid, tu_sample *s);
void tu_sample_max(tu_sample *peak, const tu_sample *s);

// tu_named_threads counts pid's threads whose name (comm) begins with
// prefix (the library names its handler threads drpc-h-N).
size_t tu_named_threads(pid_t pid, const char *prefix);

// The leak check: thread and fd counts before set-up, compared after
// teardown. The kernel wakes pthread_join a moment before it unlists the
// joined task, so tu_leak_check re-reads the thread count (yielding, no
// sleep) for up to the wait bound (TU_WAIT_NS, scaled) before it fails.
typedef struct tu_leak {
	size_t threads;
	size_t fds;
} tu_leak;

tu_leak tu_leak_start(void);
void    tu_leak_check(const tu_leak *l);

#endif // DRPC_TEST_RESOURCES_H
