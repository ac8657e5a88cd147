// Threads, mutexes and condition variables with the project's rules baked
// in: lock failures abort (they are bugs, never runtime conditions), debug
// builds use error-checking mutexes, condition variables time out against
// CLOCK_MONOTONIC, and every thread has a name and a chosen stack size.
#ifndef DRPC_PLATFORM_THREAD_H
#define DRPC_PLATFORM_THREAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

// DRPC__ASSERT aborts with the file and line when an internal invariant is
// broken. It is never compiled out.
#define DRPC__ASSERT(cond)                                                    \
	do {                                                                  \
		if (!(cond)) {                                                \
			drpc__panic(__FILE__, __LINE__, #cond);               \
		}                                                             \
	} while (0)

_Noreturn void drpc__panic(const char *file, int line, const char *what);

void drpc__mutex_init(pthread_mutex_t *mu);
void drpc__mutex_fini(pthread_mutex_t *mu);
void drpc__mutex_lock(pthread_mutex_t *mu);
void drpc__mutex_unlock(pthread_mutex_t *mu);

// drpc__cond_init makes a condition variable whose timed waits use the
// monotonic clock.
void drpc__cond_init(pthread_cond_t *cv);
void drpc__cond_fini(pthread_cond_t *cv);
void drpc__cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu);
void drpc__cond_signal(pthread_cond_t *cv);
void drpc__cond_broadcast(pthread_cond_t *cv);

// drpc__cond_wait_until waits until signalled or the monotonic time
// deadline_ns passes (0 = no deadline). Returns DRPC_ETIMEDOUT on timeout.
drpc_err drpc__cond_wait_until(
    pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ns);

// drpc__thread_start starts fn(arg) as a joinable thread named
// "<role>-<id>" with the given stack size (0 = the system default).
drpc_err drpc__thread_start(pthread_t *t, const char *role, uint64_t id,
    size_t stack_size, void *(*fn)(void *), void *arg);

// drpc__thread_join joins t; joining oneself aborts.
void drpc__thread_join(pthread_t t);

// drpc__now_ns is CLOCK_MONOTONIC in nanoseconds.
int64_t drpc__now_ns(void);

// drpc__deadline_in_ns is the monotonic deadline ns from now, saturating
// at INT64_MAX (far beyond any wait) instead of overflowing: peers and
// callers may pass any int64_t. ns <= 0 is now. drpc__deadline_in_ms does
// the same for milliseconds.
int64_t drpc__deadline_in_ns(int64_t ns);
int64_t drpc__deadline_in_ms(int64_t ms);

#endif // DRPC_PLATFORM_THREAD_H
