// drpc-bench's common helpers: time, byte order, latency statistics,
// /proc readers, getrusage costs, threads and the start gate.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

int64_t
now_ns(void)
{
	return drpc_now_ns();
}

void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
	       (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t) (v >> 32));
	put_u32(p + 4, (uint32_t) v);
}

uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t) get_u32(p) << 32 | get_u32(p + 4);
}

void
fill_pattern(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		p[i] = (uint8_t) (i * 7 + 1);
	}
}

int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a;
	int64_t y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a;
	double y = *(const double *) b;

	return (x > y) - (x < y);
}

// lat_median_us and lat_p99_us read a sorted array of nanoseconds.
double
lat_median_us(const int64_t *v, size_t n)
{
	int64_t m = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;

	return (double) m / 1e3;
}

double
lat_p99_us(const int64_t *v, size_t n)
{
	size_t i = (n * 99 + 99) / 100 - 1; // ceil(0.99 n) - 1

	return (double) v[i] / 1e3;
}

// proc_file_field reads the number after field in a /proc file of
// "Name: value" lines; -1 if it cannot.
static long
proc_file_field(const char *path, const char *field)
{
	FILE  *f = fopen(path, "r");
	char   line[256];
	long   v   = -1;
	size_t len = strlen(field);

	if (f == NULL) {
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, len) == 0) {
			v = strtol(line + len, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

// proc_status_field reads a numeric field of /proc/self/status ("VmRSS:",
// "Threads:"); -1 if it cannot.
long
proc_status_field(const char *field)
{
	return proc_file_field("/proc/self/status", field);
}

// meminfo_kib reads a field of /proc/meminfo in KiB, or -1.
long
meminfo_kib(const char *field)
{
	return proc_file_field("/proc/meminfo", field);
}

void
proc_status_text(const char *field, char *buf, size_t cap)
{
	proc_pid_status_text(0, field, buf, cap);
}

void
proc_pid_status_text(long pid, const char *field, char *buf, size_t cap)
{
	char   path[64];
	FILE  *f;
	char   line[512];
	size_t len = strlen(field);

	if (pid > 0) {
		snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	} else {
		snprintf(path, sizeof(path), "/proc/self/status");
	}
	snprintf(buf, cap, "?");
	if ((f = fopen(path, "r")) == NULL) {
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, len) == 0) {
			char *p = line + len;

			p += strspn(p, " \t");
			p[strcspn(p, "\n")] = '\0';
			snprintf(buf, cap, "%s", p);
			break;
		}
	}
	fclose(f);
}

int64_t
proc_pid_cpu_ns(long pid)
{
	char          path[64];
	char          line[1024];
	unsigned long ut;
	unsigned long st;
	long          hz = sysconf(_SC_CLK_TCK);
	FILE         *f;
	char         *p = NULL;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL) {
		return -1;
	}
	if (fgets(line, sizeof(line), f) != NULL) {
		p = strrchr(line, ')'); // the command name may hold anything
	}
	fclose(f);
	// After the name: state ppid pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime stime (proc(5)).
	if (p == NULL || hz <= 0 ||
	    sscanf(p + 1,
	        " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
	        &st) != 2) {
		return -1;
	}
	return (int64_t) (ut + st) * (NS_PER_S / hz);
}

int64_t
children_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_CHILDREN, &ru) != 0) {
		return 0;
	}
	return ((int64_t) ru.ru_utime.tv_sec + (int64_t) ru.ru_stime.tv_sec) *
	           NS_PER_S +
	       ((int64_t) ru.ru_utime.tv_usec + (int64_t) ru.ru_stime.tv_usec) *
	           1000;
}

long
read_long_file(const char *path)
{
	FILE *f = fopen(path, "r");
	long  v = -1;

	if (f != NULL) {
		if (fscanf(f, "%ld", &v) != 1) {
			v = -1;
		}
		fclose(f);
	}
	return v;
}

usage
usage_now(void)
{
	struct rusage ru;
	usage         u = {0};

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		u.cpu_ns = ((int64_t) ru.ru_utime.tv_sec +
		               (int64_t) ru.ru_stime.tv_sec) *
		               NS_PER_S +
		           ((int64_t) ru.ru_utime.tv_usec +
		               (int64_t) ru.ru_stime.tv_usec) *
		               1000;
		u.vcs    = ru.ru_nvcsw;
		u.ivcs   = ru.ru_nivcsw;
		u.minflt = ru.ru_minflt;
	}
	return u;
}

void
usage_encode(uint8_t *p, usage u)
{
	put_u64(p, (uint64_t) u.cpu_ns);
	put_u64(p + 8, (uint64_t) u.vcs);
	put_u64(p + 16, (uint64_t) u.ivcs);
	put_u64(p + 24, (uint64_t) u.minflt);
}

usage
usage_decode(const uint8_t *p)
{
	usage u;

	u.cpu_ns = (int64_t) get_u64(p);
	u.vcs    = (long) get_u64(p + 8);
	u.ivcs   = (long) get_u64(p + 16);
	u.minflt = (long) get_u64(p + 24);
	return u;
}

aux
aux_per_op(usage u0, usage u1, double ops)
{
	aux a = {-1, -1, -1, -1, -1, -1, -1};

	if (ops > 0) {
		a.vcs    = (double) (u1.vcs - u0.vcs) / ops;
		a.ivcs   = (double) (u1.ivcs - u0.ivcs) / ops;
		a.cpu_us = (double) (u1.cpu_ns - u0.cpu_ns) / 1e3 / ops;
		a.flt    = (double) (u1.minflt - u0.minflt) / ops;
	}
	return a;
}

void
aux_add_server(aux *a, usage s0, usage s1, double ops)
{
	aux srv = aux_per_op(s0, s1, ops);

	a->srv_vcs    = srv.vcs;
	a->srv_ivcs   = srv.ivcs;
	a->srv_cpu_us = srv.cpu_us;
}

// machine_busy_ns is the CPU time every CPU of the machine spent running
// processes (/proc/stat: user, nice, system, steal), or -1. With
// usage_now() it tells how much CPU other processes took during a run:
// figures measured beside a busy neighbour are noise. Interrupt and
// softirq time are left out: loopback TCP is processed there and is
// mostly our own traffic, charged to no process.
int64_t
machine_busy_ns(void)
{
	FILE              *f    = fopen("/proc/stat", "r");
	unsigned long long v[8] = {0};
	long               hz   = sysconf(_SC_CLK_TCK);
	int                n;

	if (f == NULL) {
		return -1;
	}
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8 || hz <= 0) {
		return -1;
	}
	// user nice system idle iowait irq softirq steal
	return (int64_t) (v[0] + v[1] + v[2] + v[7]) * (NS_PER_S / hz);
}

int
start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int            rv;

	if ((rv = pthread_attr_init(&attr)) != 0) {
		return rv;
	}
	rv = pthread_attr_setstacksize(&attr, BENCH_STACK);
	if (rv == 0) {
		rv = pthread_create(t, &attr, fn, arg);
	}
	pthread_attr_destroy(&attr);
	return rv;
}

int
gate_init(gate *g)
{
	int rv;

	g->open = false;
	if ((rv = pthread_mutex_init(&g->mu, NULL)) != 0) {
		return rv;
	}
	if ((rv = pthread_cond_init(&g->cv, NULL)) != 0) {
		pthread_mutex_destroy(&g->mu);
	}
	return rv;
}

void
gate_fini(gate *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

void
gate_wait(gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->open) {
		pthread_cond_wait(&g->cv, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
}

void
gate_open(gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}
