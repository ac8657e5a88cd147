// drpc-bench's child processes (--two-process): starting a child with its
// standard output on a pipe, reading what it prints, stopping and
// reaping it; and the signal thread, which on SIGINT, SIGTERM or SIGHUP
// stops and reaps every child before the process exits.
//
// Design notes. procs_start blocks those signals (and SIGUSR1, which
// stops the signal thread) in the calling thread before any other thread
// exists, so every later thread inherits the mask and only the signal
// thread's sigwait receives them. Children get an empty mask and the
// default dispositions back (posix_spawn attributes), and are passed
// --parent-pid so that the kernel signals them if this process dies
// without stopping them (SIGKILL). The registry is guarded by mu: a child
// is registered under mu in the same critical section that spawns it, so
// the signal thread never misses one. Who reaps: the thread that waits
// for a child (procs_wait, procs_end), or procs_kill_all when the process
// is about to exit; whichever comes first marks it reaped.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

extern char **environ; // POSIX; unistd.h declares it only for _GNU_SOURCE

#define PROCS_POLL_NS  (10 * NS_PER_MS)
#define PROCS_GRACE_NS (3 * NS_PER_S)

static void
nap_ns(int64_t ns)
{
	struct timespec ts = {(time_t) (ns / NS_PER_S), (long) (ns % NS_PER_S)};

	(void) nanosleep(&ts, NULL);
}

// procs_find_locked is the child pid, or NULL.
static proc_child *
procs_find_locked(procs *ps, pid_t pid)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->kids[i].pid == pid) {
			return &ps->kids[i];
		}
	}
	return NULL;
}

// procs_reaped_locked records that k is gone, with its wait status.
static void
procs_reaped_locked(proc_child *k, int status)
{
	k->reaped = true;
	k->status = status;
	if (k->out >= 0) {
		close(k->out);
		k->out = -1;
	}
}

// procs_try_reap_locked reaps k if it has exited: true if it is gone.
static bool
procs_try_reap_locked(proc_child *k)
{
	int   status = 0;
	pid_t r;

	if (k->reaped) {
		return true;
	}
	do {
		r = waitpid(k->pid, &status, WNOHANG);
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		return false;
	}
	// r < 0 (ECHILD): another thread reaped it between our looks.
	procs_reaped_locked(k, r > 0 ? status : 0);
	return true;
}

// procs_end_locked stops k: SIGTERM, grace_ns to exit, then SIGKILL.
static void
procs_end_locked(proc_child *k, int64_t grace_ns)
{
	int64_t stop = now_ns() + grace_ns;
	int     status;

	if (procs_try_reap_locked(k)) {
		return;
	}
	(void) kill(k->pid, SIGTERM);
	while (!procs_try_reap_locked(k)) {
		if (now_ns() >= stop) {
			fprintf(stderr,
			    "drpc-bench: %s (pid %ld) did not stop within "
			    "%.0f s of SIGTERM; killing it\n",
			    k->name, (long) k->pid, (double) grace_ns / 1e9);
			(void) kill(k->pid, SIGKILL);
			while (
			    waitpid(k->pid, &status, 0) < 0 && errno == EINTR) {
			}
			procs_reaped_locked(k, status);
			return;
		}
		nap_ns(PROCS_POLL_NS);
	}
}

void
procs_kill_all(void *arg)
{
	procs *ps = arg;

	// Newest first: a client before the servers it talks to.
	pthread_mutex_lock(&ps->mu);
	for (size_t i = ps->n; i > 0; i--) {
		procs_end_locked(&ps->kids[i - 1], PROCS_GRACE_NS);
	}
	pthread_mutex_unlock(&ps->mu);
}

static void *
procs_sig_main(void *arg)
{
	procs *ps = arg;

	for (;;) {
		int  sig = 0;
		bool quit;

		if (sigwait(&ps->sigs, &sig) != 0) {
			continue;
		}
		pthread_mutex_lock(&ps->mu);
		quit = ps->quit;
		pthread_mutex_unlock(&ps->mu);
		if (sig == SIGUSR1) {
			if (quit) {
				return NULL;
			}
			continue;
		}
		fprintf(stderr,
		    "\ndrpc-bench: signal %d: stopping the servers and "
		    "exiting\n",
		    sig);
		procs_kill_all(ps);
		_exit(128 + sig);
	}
}

int
procs_start(procs *ps)
{
	int err;

	memset(ps, 0, sizeof(*ps));
	sigemptyset(&ps->sigs);
	sigaddset(&ps->sigs, SIGINT);
	sigaddset(&ps->sigs, SIGTERM);
	sigaddset(&ps->sigs, SIGHUP);
	sigaddset(&ps->sigs, SIGUSR1);
	if ((err = pthread_sigmask(SIG_BLOCK, &ps->sigs, NULL)) != 0) {
		return err;
	}
	if ((err = pthread_mutex_init(&ps->mu, NULL)) != 0) {
		return err;
	}
	if ((err = start_thread(&ps->sig, procs_sig_main, ps)) != 0) {
		pthread_mutex_destroy(&ps->mu);
		return err;
	}
	return 0;
}

void
procs_stop(procs *ps)
{
	procs_kill_all(ps);
	pthread_mutex_lock(&ps->mu);
	ps->quit = true;
	pthread_mutex_unlock(&ps->mu);
	(void) pthread_kill(ps->sig, SIGUSR1);
	pthread_join(ps->sig, NULL);
	pthread_mutex_destroy(&ps->mu);
}

// spawn_attrs prepares what a child starts with: stdout on the pipe's
// write end, no signal blocked, the signals we handle at their defaults.
static int
spawn_attrs(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at, int out)
{
	sigset_t none;
	sigset_t dfl;
	int      err;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGUSR1);
	sigaddset(&dfl, SIGPIPE);
	if ((err = posix_spawn_file_actions_init(fa)) != 0) {
		return err;
	}
	if ((err = posix_spawnattr_init(at)) != 0) {
		posix_spawn_file_actions_destroy(fa);
		return err;
	}
	if ((err = posix_spawn_file_actions_adddup2(fa, out, STDOUT_FILENO)) ||
	    (err = posix_spawnattr_setsigmask(at, &none)) ||
	    (err = posix_spawnattr_setsigdefault(at, &dfl)) ||
	    (err = posix_spawnattr_setflags(at,
	         (short) (POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)))) {
		posix_spawnattr_destroy(at);
		posix_spawn_file_actions_destroy(fa);
	}
	return err;
}

// pipe_cloexec makes a pipe neither end of which a child inherits (the
// write end reaches the child only through the dup2 to its stdout).
static int
pipe_cloexec(int p[2])
{
	if (pipe(p) != 0) {
		return errno;
	}
	if (fcntl(p[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(p[1], F_SETFD, FD_CLOEXEC) != 0) {
		int err = errno;

		close(p[0]);
		close(p[1]);
		return err;
	}
	return 0;
}

bool
procs_spawn(
    procs *ps, const char *name, char *const argv[], pid_t *pidp, int *outp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t          at;
	proc_child                *k;
	int                        p[2];
	int                        err;

	if ((err = pipe_cloexec(p)) != 0) {
		fprintf(
		    stderr, "drpc-bench: %s: pipe: %s\n", name, strerror(err));
		return false;
	}
	if ((err = spawn_attrs(&fa, &at, p[1])) != 0) {
		fprintf(stderr, "drpc-bench: %s: posix_spawn attributes: %s\n",
		    name, strerror(err));
		close(p[0]);
		close(p[1]);
		return false;
	}
	pthread_mutex_lock(&ps->mu);
	if (ps->n == PROCS_MAX) {
		// Reuse the slot of a child already reaped.
		size_t i = 0;

		while (i < ps->n && !ps->kids[i].reaped) {
			i++;
		}
		err = i < ps->n ? 0 : EAGAIN;
		if (err == 0) {
			ps->kids[i] = ps->kids[--ps->n];
		}
	}
	if (err == 0) {
		err = posix_spawn(pidp, argv[0], &fa, &at, argv, environ);
	}
	if (err == 0) {
		k = &ps->kids[ps->n++];
		memset(k, 0, sizeof(*k));
		k->pid = *pidp;
		k->out = p[0];
		snprintf(k->name, sizeof(k->name), "%s", name);
	}
	pthread_mutex_unlock(&ps->mu);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (err != 0) {
		fprintf(stderr, "drpc-bench: cannot start %s (%s): %s\n", name,
		    argv[0], strerror(err));
		close(p[0]);
		return false;
	}
	*outp = p[0];
	return true;
}

bool
procs_read_line(int fd, char *buf, size_t cap, int64_t timeout_ns)
{
	int64_t stop = now_ns() + timeout_ns;
	size_t  len  = 0;

	while (len + 1 < cap) {
		struct pollfd pfd  = {fd, POLLIN, 0};
		int64_t       left = stop - now_ns();
		ssize_t       n;

		if (left <= 0) {
			break;
		}
		if (poll(&pfd, 1, (int) (left / NS_PER_MS) + 1) <= 0) {
			continue; // EINTR or the time ran out: look again
		}
		if ((n = read(fd, buf + len, 1)) <= 0) {
			if (n < 0 && errno == EINTR) {
				continue;
			}
			break; // the child closed its stdout (exited)
		}
		if (buf[len] == '\n') {
			buf[len] = '\0';
			return true;
		}
		len++;
	}
	buf[len] = '\0';
	return false;
}

bool
procs_read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (;;) {
		char    drop[256];
		ssize_t n = len + 1 < cap ? read(fd, buf + len, cap - 1 - len)
		                          : read(fd, drop, sizeof(drop));

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			buf[len] = '\0';
			return n == 0;
		}
		if (len + 1 < cap) {
			len += (size_t) n;
		}
	}
}

void
procs_await(pid_t pid)
{
	siginfo_t info;

	while (waitid(P_PID, (id_t) pid, &info, WEXITED | WNOWAIT) != 0 &&
	       errno == EINTR) {
	}
}

int
procs_wait(procs *ps, pid_t pid)
{
	proc_child *k;
	int         status = 0;
	pid_t       r;

	do {
		r = waitpid(pid, &status, 0);
	} while (r < 0 && errno == EINTR);
	pthread_mutex_lock(&ps->mu);
	if ((k = procs_find_locked(ps, pid)) != NULL) {
		if (!k->reaped) {
			procs_reaped_locked(k, r == pid ? status : 0);
		}
		status = k->status;
	}
	pthread_mutex_unlock(&ps->mu);
	return status;
}

int
procs_end(procs *ps, pid_t pid)
{
	proc_child *k;
	int         status = 0;

	pthread_mutex_lock(&ps->mu);
	if ((k = procs_find_locked(ps, pid)) != NULL) {
		procs_end_locked(k, PROCS_GRACE_NS);
		status = k->status;
	}
	pthread_mutex_unlock(&ps->mu);
	return status;
}

void
procs_describe_status(int status, char *buf, size_t cap)
{
	if (WIFEXITED(status)) {
		snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		snprintf(buf, cap, "killed by signal %d", WTERMSIG(status));
	} else {
		snprintf(buf, cap, "wait status %d", status);
	}
}
