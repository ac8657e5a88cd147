// A program run as a child process that says where it serves in its
// first line (`drpc-demo serve`, `drpc-interop serve`): start it, read
// that line, stop it with SIGTERM and learn how it exited.
//
// The child dies with the test process (PR_SET_PDEATHSIG), reads
// /dev/null, writes its stdout into a pipe the test reads, keeps its
// stderr (the test's, for a sanitizer's or memcheck's report) and no
// other fd of the test process. Nothing here waits on time: every wait is
// for the child's own output or end, within tu_bound_ns(TU_WAIT_NS).
#ifndef DRPC_TEST_CHILDPROC_H
#define DRPC_TEST_CHILDPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct child_proc {
	pid_t pid; // 0 once reaped
	int   out; // the read end of its stdout
} child_proc;

// child_find_in_path puts the path of program name (from $PATH) in out;
// false if there is none.
bool child_find_in_path(const char *name, char *out, size_t cap);

// child_start forks and executes argv[0] (a path) with argv (NULL-
// terminated); ck_asserts on failure.
void child_start(child_proc *c, char *const *argv);

// child_read_line reads the child's first line into line (NUL-
// terminated), within the wait bound; false if it never came (the child
// ended, or the bound passed).
bool child_read_line(const child_proc *c, char *line, size_t cap);

// child_stop sends SIGTERM, waits (within the bound) for the child to
// end, which closes its stdout, and reaps it. Returns its exit status, -1
// if it died of a signal or had to be killed.
int child_stop(child_proc *c);

#endif // DRPC_TEST_CHILDPROC_H
