// drpc-bench's watchdog. Every workload runs under it with a time
// budget: past the budget it closes the workload's connections and shuts
// its sockets down, so every blocked call fails and the workload aborts
// with a message (and kills the child process it runs, if any); if the
// workload still has not returned WD_GRACE_NS later the process exits
// with status 3, after its exit hook (two-process mode: stop the
// servers).
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

// wd_fire_locked ends the workload's I/O: blocked calls fail at once.
static void
wd_fire_locked(watchdog *wd)
{
	fprintf(stderr,
	    "drpc-bench: %s: still running past its time budget; closing "
	    "its connections\n",
	    wd->what);
	wd->fired = true;
	for (size_t i = 0; i < wd->nconns; i++) {
		drpc_conn_close(wd->conns[i]);
	}
	for (size_t i = 0; i < wd->nfds; i++) {
		(void) shutdown(wd->fds[i], SHUT_RDWR);
	}
	if (wd->pid > 0) {
		(void) kill(wd->pid, SIGKILL);
	}
	wd->deadline_ns = now_ns() + WD_GRACE_NS;
}

static void *
wd_main(void *arg)
{
	watchdog *wd = arg;

	pthread_mutex_lock(&wd->mu);
	while (!wd->quit) {
		struct timespec ts;
		int64_t         dl = wd->deadline_ns;

		if (dl == 0) {
			pthread_cond_wait(&wd->cv, &wd->mu);
			continue;
		}
		if (now_ns() < dl) {
			ts.tv_sec  = (time_t) (dl / NS_PER_S);
			ts.tv_nsec = (long) (dl % NS_PER_S);
			(void) pthread_cond_timedwait(&wd->cv, &wd->mu, &ts);
			continue;
		}
		if (!wd->fired) {
			wd_fire_locked(wd);
			continue;
		}
		fprintf(stderr,
		    "drpc-bench: %s: did not end 15 s after its connections "
		    "were closed; exiting\n",
		    wd->what);
		if (wd->on_exit != NULL) {
			wd->on_exit(wd->on_exit_arg);
		}
		_exit(3);
	}
	pthread_mutex_unlock(&wd->mu);
	return NULL;
}

int
wd_start(watchdog *wd)
{
	pthread_condattr_t attr;
	int                rv;

	memset(wd, 0, sizeof(*wd));
	if ((rv = pthread_mutex_init(&wd->mu, NULL)) != 0) {
		return rv;
	}
	if ((rv = pthread_condattr_init(&attr)) != 0) {
		return rv;
	}
	rv = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rv == 0) {
		rv = pthread_cond_init(&wd->cv, &attr);
	}
	pthread_condattr_destroy(&attr);
	if (rv != 0) {
		return rv;
	}
	return start_thread(&wd->t, wd_main, wd);
}

void
wd_stop(watchdog *wd)
{
	pthread_mutex_lock(&wd->mu);
	wd->quit = true;
	pthread_cond_signal(&wd->cv);
	pthread_mutex_unlock(&wd->mu);
	pthread_join(wd->t, NULL);
	pthread_cond_destroy(&wd->cv);
	pthread_mutex_destroy(&wd->mu);
}

void
wd_arm(watchdog *wd, const char *what, int64_t budget_ns)
{
	pthread_mutex_lock(&wd->mu);
	snprintf(wd->what, sizeof(wd->what), "%s", what);
	wd->deadline_ns = now_ns() + budget_ns;
	wd->fired       = false;
	wd->nconns      = 0;
	wd->nfds        = 0;
	wd->pid         = 0;
	pthread_cond_signal(&wd->cv);
	pthread_mutex_unlock(&wd->mu);
}

void
wd_watch_conn(watchdog *wd, drpc_conn *c)
{
	pthread_mutex_lock(&wd->mu);
	if (wd->nconns < WD_MAX_CONNS) {
		wd->conns[wd->nconns++] = c;
	}
	pthread_mutex_unlock(&wd->mu);
}

void
wd_arm_conn(watchdog *wd, const char *what, int64_t budget_ns, drpc_conn *c)
{
	wd_arm(wd, what, budget_ns);
	wd_watch_conn(wd, c);
}

void
wd_watch_fd(watchdog *wd, int fd)
{
	pthread_mutex_lock(&wd->mu);
	if (wd->nfds < WD_MAX_FDS) {
		wd->fds[wd->nfds++] = fd;
	}
	pthread_mutex_unlock(&wd->mu);
}

void
wd_watch_pid(watchdog *wd, pid_t pid)
{
	pthread_mutex_lock(&wd->mu);
	wd->pid = pid;
	pthread_mutex_unlock(&wd->mu);
}

void
wd_on_exit(watchdog *wd, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&wd->mu);
	wd->on_exit     = fn;
	wd->on_exit_arg = arg;
	pthread_mutex_unlock(&wd->mu);
}

// wd_disarm ends the watch (it must come before the watched connections
// and sockets are destroyed) and tells whether the watchdog fired.
bool
wd_disarm(watchdog *wd)
{
	bool fired;

	pthread_mutex_lock(&wd->mu);
	fired           = wd->fired;
	wd->deadline_ns = 0;
	wd->fired       = false;
	wd->nconns      = 0;
	wd->nfds        = 0;
	wd->pid         = 0;
	pthread_mutex_unlock(&wd->mu);
	return fired;
}
