#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "platform/thread.h"

void
drpc__panic(const char *file, int line, const char *what)
{
	fprintf(stderr, "libdrpc: %s:%d: assertion failed: %s\n", file, line,
	    what);
	abort();
}

static void
check(int rv, const char *what)
{
	if (rv != 0) {
		fprintf(stderr, "libdrpc: %s failed: %s\n", what, strerror(rv));
		abort();
	}
}

void
drpc__mutex_init(pthread_mutex_t *mu)
{
	pthread_mutexattr_t attr;

	check(pthread_mutexattr_init(&attr), "pthread_mutexattr_init");
#ifdef DRPC_DEBUG
	check(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK),
	    "pthread_mutexattr_settype");
#endif
	check(pthread_mutex_init(mu, &attr), "pthread_mutex_init");
	pthread_mutexattr_destroy(&attr);
}

void
drpc__mutex_fini(pthread_mutex_t *mu)
{
	check(pthread_mutex_destroy(mu), "pthread_mutex_destroy");
}

void
drpc__mutex_lock(pthread_mutex_t *mu)
{
	check(pthread_mutex_lock(mu), "pthread_mutex_lock");
}

void
drpc__mutex_unlock(pthread_mutex_t *mu)
{
	check(pthread_mutex_unlock(mu), "pthread_mutex_unlock");
}

void
drpc__cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t attr;

	check(pthread_condattr_init(&attr), "pthread_condattr_init");
	check(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC),
	    "pthread_condattr_setclock");
	check(pthread_cond_init(cv, &attr), "pthread_cond_init");
	pthread_condattr_destroy(&attr);
}

void
drpc__cond_fini(pthread_cond_t *cv)
{
	check(pthread_cond_destroy(cv), "pthread_cond_destroy");
}

void
drpc__cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu)
{
	check(pthread_cond_wait(cv, mu), "pthread_cond_wait");
}

void
drpc__cond_signal(pthread_cond_t *cv)
{
	check(pthread_cond_signal(cv), "pthread_cond_signal");
}

void
drpc__cond_broadcast(pthread_cond_t *cv)
{
	check(pthread_cond_broadcast(cv), "pthread_cond_broadcast");
}

drpc_err
drpc__cond_wait_until(
    pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ns)
{
	struct timespec ts;
	int             rv;

	if (deadline_ns <= 0 || deadline_ns == INT64_MAX) {
		drpc__cond_wait(cv, mu); // none, or saturated: as good as none
		return DRPC_OK;
	}
	ts.tv_sec  = (time_t) (deadline_ns / 1000000000);
	ts.tv_nsec = (long) (deadline_ns % 1000000000);
	rv         = pthread_cond_timedwait(cv, mu, &ts);
	if (rv == ETIMEDOUT) {
		return DRPC_ETIMEDOUT;
	}
	check(rv, "pthread_cond_timedwait");
	return DRPC_OK;
}

drpc_err
drpc__thread_start(pthread_t *t, const char *role, uint64_t id,
    size_t stack_size, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	char           name[16];
	int            rv;

	check(pthread_attr_init(&attr), "pthread_attr_init");
	if (stack_size > 0) {
		if (stack_size < (size_t) PTHREAD_STACK_MIN) {
			stack_size = (size_t) PTHREAD_STACK_MIN;
		}
		check(pthread_attr_setstacksize(&attr, stack_size),
		    "pthread_attr_setstacksize");
	}
	rv = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (rv != 0) {
		return DRPC_ERESOURCE;
	}
	snprintf(name, sizeof(name), "%s-%llu", role, (unsigned long long) id);
	(void) pthread_setname_np(*t, name);
	return DRPC_OK;
}

void
drpc__thread_join(pthread_t t)
{
	DRPC__ASSERT(!pthread_equal(t, pthread_self()));
	check(pthread_join(t, NULL), "pthread_join");
}

int64_t
drpc__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
drpc__deadline_in_ns(int64_t ns)
{
	int64_t now = drpc__now_ns();

	if (ns <= 0) {
		return now;
	}
	return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

int64_t
drpc__deadline_in_ms(int64_t ms)
{
	if (ms <= 0) {
		return drpc__now_ns();
	}
	return drpc__deadline_in_ns(
	    ms > INT64_MAX / 1000000 ? INT64_MAX : ms * 1000000);
}
