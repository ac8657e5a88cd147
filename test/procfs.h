// Counts read from /proc, for the Check suites (resources.h) and for
// drpc-stress (which links no Check): plain results, no assertions.
#ifndef DRPC_TEST_PROCFS_H
#define DRPC_TEST_PROCFS_H

#include <stdbool.h>
#include <stddef.h>

// tu_proc_entries counts the entries of a /proc folder (names not
// beginning with '.'); *ok turns false if it cannot be read.
size_t tu_proc_entries(const char *path, bool *ok);

// tu_proc_threads counts this process's threads. It first starts and
// joins a thread, so that a sanitizer's helper thread (started with the
// process's first pthread_create) is always counted; *ok turns false if
// it cannot, or cannot read /proc/self/task.
size_t tu_proc_threads(bool *ok);

// tu_proc_fds counts this process's open fds (not the one it reads
// /proc/self/fd through); *ok turns false if it cannot read them.
size_t tu_proc_fds(bool *ok);

#endif // DRPC_TEST_PROCFS_H
