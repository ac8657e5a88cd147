// Counts read from /proc (procfs.h).
#include "procfs.h"

#include <dirent.h>
#include <pthread.h>

size_t
tu_proc_entries(const char *path, bool *ok)
{
	DIR           *d = opendir(path);
	struct dirent *e;
	size_t         n = 0;

	if (d == NULL) {
		*ok = false;
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

static void *
noop(void *arg)
{
	return arg;
}

size_t
tu_proc_threads(bool *ok)
{
	pthread_t t;

	if (pthread_create(&t, NULL, noop, NULL) != 0 ||
	    pthread_join(t, NULL) != 0) {
		*ok = false;
	}
	return tu_proc_entries("/proc/self/task", ok);
}

size_t
tu_proc_fds(bool *ok)
{
	size_t n = tu_proc_entries("/proc/self/fd", ok);

	return n > 0 ? n - 1 : 0; // opendir's own fd
}
