// Resource accounting (resources.h).
#include "resources.h"

#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "connutil.h"
#include "platform/thread.h"
#include "procfs.h"
#include "testutil.h"

size_t
tu_threads(void)
{
	bool   ok = true;
	size_t n  = tu_proc_threads(&ok);

	ck_assert_msg(ok, "cannot start a thread or read /proc/self/task");
	return n;
}

size_t
tu_fds(void)
{
	bool   ok = true;
	size_t n  = tu_proc_fds(&ok);

	ck_assert(ok);
	return n;
}

static bool
read_status(const char *path, tu_sample *s)
{
	FILE *f = fopen(path, "r");
	char  line[256];

	if (f == NULL) {
		return false;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		(void) (sscanf(line, "VmRSS: %zu kB", &s->rss_kib) == 1 ||
		        sscanf(line, "VmHWM: %zu kB", &s->hwm_kib) == 1 ||
		        sscanf(line, "Threads: %zu", &s->threads) == 1);
	}
	fclose(f);
	return s->threads > 0;
}

size_t
tu_self_rss_kib(void)
{
	tu_sample s = {0};

	ck_assert(read_status("/proc/self/status", &s));
	return s.rss_kib;
}

bool
tu_sample_read(pid_t pid, tu_sample *s)
{
	char path[64];
	bool ok = true;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if (!read_status(path, s)) {
		return false;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
	s->fds = tu_proc_entries(path, &ok);
	return ok;
}

void
tu_sample_max(tu_sample *peak, const tu_sample *s)
{
	peak->rss_kib = s->rss_kib > peak->rss_kib ? s->rss_kib : peak->rss_kib;
	peak->hwm_kib = s->hwm_kib > peak->hwm_kib ? s->hwm_kib : peak->hwm_kib;
	peak->threads = s->threads > peak->threads ? s->threads : peak->threads;
	peak->fds     = s->fds > peak->fds ? s->fds : peak->fds;
}

size_t
tu_named_threads(pid_t pid, const char *prefix)
{
	char           path[300];
	DIR           *d;
	struct dirent *e;
	size_t         n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
	if ((d = opendir(path)) == NULL) {
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		char  comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.') {
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int) pid,
		    e->d_name);
		if ((f = fopen(path, "r")) != NULL) {
			n += fgets(comm, sizeof(comm), f) != NULL &&
			     strncmp(comm, prefix, strlen(prefix)) == 0;
			fclose(f);
		}
	}
	closedir(d);
	return n;
}

tu_leak
tu_leak_start(void)
{
	return (tu_leak){tu_threads(), tu_fds()};
}

void
tu_leak_check(const tu_leak *l)
{
	int64_t deadline = drpc__now_ns() + tu_bound_ns(TU_WAIT_NS);
	size_t  n;

	while ((n = tu_threads()) != l->threads && drpc__now_ns() < deadline) {
		sched_yield();
	}
	ck_assert_uint_eq(n, l->threads);
	ck_assert_uint_eq(tu_fds(), l->fds);
}
