// A server program as a child process (childproc.h).
#include "childproc.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "testutil.h"

bool
child_find_in_path(const char *name, char *out, size_t cap)
{
	const char *path = getenv("PATH");

	while (path != NULL && *path != '\0') {
		size_t n = strcspn(path, ":");

		if (snprintf(out, cap, "%.*s/%s", (int) n, path, name) <
		        (int) cap &&
		    access(out, X_OK) == 0) {
			return true;
		}
		path += n + (path[n] == ':');
	}
	return false;
}

// child_exec is the child's side of the fork: only async-signal-safe
// calls until exec.
static void
child_exec(char *const *argv, int out, int null, pid_t parent, int maxfd)
{
	(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) {
		_exit(127); // the parent died before prctl: die too
	}
	if (dup2(null, 0) < 0 || dup2(out, 1) < 0) {
		_exit(127);
	}
	for (int fd = 3; fd < maxfd; fd++) {
		(void) close(fd);
	}
	execv(argv[0], argv);
	_exit(127);
}

void
child_start(child_proc *c, char *const *argv)
{
	int           pipefd[2];
	int           null;
	struct rlimit rl;
	pid_t         parent = getpid();

	ck_assert_msg(access(argv[0], X_OK) == 0,
	    "%s: not found (make builds it with the tests)", argv[0]);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_int_ge(null = open("/dev/null", O_RDONLY), 0);
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		child_exec(argv, pipefd[1], null, parent,
		    rl.rlim_cur > 65536 ? 65536 : (int) rl.rlim_cur);
	}
	close(pipefd[1]);
	close(null);
	c->out = pipefd[0];
}

bool
child_read_line(const child_proc *c, char *line, size_t cap)
{
	int64_t end = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	size_t  len = 0;

	line[0] = '\0';
	while (len + 1 < cap && strchr(line, '\n') == NULL) {
		struct pollfd p    = {c->out, POLLIN, 0};
		int64_t       left = end - drpc_now_ns();
		ssize_t       n;

		if (left <= 0) {
			return false;
		}
		if (poll(&p, 1, (int) (left / 1000000 + 1)) <= 0) {
			continue;
		}
		if ((n = read(c->out, line + len, cap - 1 - len)) < 0 &&
		    errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false; // the child ended
		}
		len += (size_t) n;
		line[len] = '\0';
	}
	return strchr(line, '\n') != NULL;
}

int
child_stop(child_proc *c)
{
	int64_t end = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	char    buf[256];
	int     status;
	bool    ended = false;

	(void) kill(c->pid, SIGTERM);
	while (!ended && drpc_now_ns() < end) {
		struct pollfd p    = {c->out, POLLIN, 0};
		int64_t       left = end - drpc_now_ns();

		if (poll(&p, 1, (int) (left / 1000000 + 1)) > 0) {
			ssize_t n = read(c->out, buf, sizeof(buf));

			ended = n == 0 || (n < 0 && errno != EINTR);
		}
	}
	if (!ended) {
		(void) kill(c->pid, SIGKILL);
	}
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
	}
	close(c->out);
	c->pid = 0;
	return ended && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
