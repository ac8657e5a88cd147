#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/thread.h"

int64_t
tu_scale(void)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	long long   k = m != NULL ? atoll(m) : 1;

	return k > 1 ? (int64_t) k : 1;
}

int64_t
tu_bound_ns(int64_t base_ns)
{
	return base_ns * tu_scale();
}

// wait_until waits on mu and cv, at most tu_bound_ns(bound_ns), until
// *flag is set or, with flag NULL, *count reaches n; returns what it saw
// last (*flag as 0 or 1, or *count).
static size_t
wait_until(pthread_mutex_t *mu, pthread_cond_t *cv, const size_t *count,
    size_t n, const bool *flag, int64_t bound_ns)
{
	int64_t deadline = drpc__now_ns() + tu_bound_ns(bound_ns);
	size_t  got;

	drpc__mutex_lock(mu);
	while ((got = flag != NULL ? *flag : *count) < n &&
	       drpc__cond_wait_until(cv, mu, deadline) != DRPC_ETIMEDOUT) {
	}
	got = flag != NULL ? *flag : *count; // a change may come with a timeout
	drpc__mutex_unlock(mu);
	return got;
}

size_t
tu_wait_count(pthread_mutex_t *mu, pthread_cond_t *cv, const size_t *count,
    size_t n, int64_t bound_ns)
{
	return wait_until(mu, cv, count, n, NULL, bound_ns);
}

void
tu_sync_init(tu_sync *s)
{
	drpc__mutex_init(&s->mu);
	drpc__cond_init(&s->cv);
}

void
tu_sync_fini(tu_sync *s)
{
	drpc__cond_fini(&s->cv);
	drpc__mutex_fini(&s->mu);
}

void
tu_sync_lock(tu_sync *s)
{
	drpc__mutex_lock(&s->mu);
}

void
tu_sync_unlock(tu_sync *s)
{
	drpc__mutex_unlock(&s->mu);
}

void
tu_sync_unlock_broadcast(tu_sync *s)
{
	drpc__cond_broadcast(&s->cv);
	drpc__mutex_unlock(&s->mu);
}

size_t
tu_sync_add(tu_sync *s, size_t *counter, size_t d)
{
	size_t was;

	drpc__mutex_lock(&s->mu);
	was = *counter;
	*counter += d;
	tu_sync_unlock_broadcast(s);
	return was;
}

void
tu_sync_set(tu_sync *s, bool *flag, bool v)
{
	drpc__mutex_lock(&s->mu);
	*flag = v;
	tu_sync_unlock_broadcast(s);
}

size_t
tu_sync_get(tu_sync *s, const size_t *counter)
{
	size_t v;

	drpc__mutex_lock(&s->mu);
	v = *counter;
	drpc__mutex_unlock(&s->mu);
	return v;
}

size_t
tu_sync_wait(tu_sync *s, const size_t *counter, size_t n, int64_t bound_ns)
{
	return tu_wait_count(&s->mu, &s->cv, counter, n, bound_ns);
}

bool
tu_sync_wait_flag(tu_sync *s, const bool *flag, int64_t bound_ns)
{
	return wait_until(&s->mu, &s->cv, NULL, 1, flag, bound_ns) != 0;
}

const char *
tu_shared_path(char *out, size_t cap, const char *rel)
{
	const char *dir = getenv("DRPC_SHARED");

	if (dir == NULL || dir[0] == '\0') {
		dir = DRPC_SHARED_DIR;
	}
	snprintf(out, cap, "%s/%s", dir, rel);
	return out;
}

uint8_t *
tu_read_file(const char *path, size_t *len)
{
	FILE    *f = fopen(path, "rb");
	uint8_t *data;
	long     n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	data = malloc((size_t) n + 1);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(fread(data, 1, (size_t) n, f), (size_t) n);
	fclose(f);
	*len = (size_t) n;
	return data;
}

static int
hex_nibble(char c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}

size_t
tu_hex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*hex != '\0') {
		int hi;
		int lo;

		if (*hex == ' ') {
			hex++;
			continue;
		}
		hi = hex_nibble(hex[0]);
		lo = hex_nibble(hex[1]);
		ck_assert_msg(hi >= 0 && lo >= 0, "bad hex at '%s'", hex);
		ck_assert_uint_lt(n, cap);
		out[n++] = (uint8_t) (hi << 4 | lo);
		hex += 2;
	}
	return n;
}

// TU_MAX_TCASES bounds the TCases of one suite (the largest has 9).
#define TU_MAX_TCASES 32

Suite *
tu_suite(const char *name, const tu_test *tests, size_t n)
{
	Suite      *s = suite_create(name);
	TCase      *tc[TU_MAX_TCASES];
	const char *names[TU_MAX_TCASES];
	int         timeout[TU_MAX_TCASES]    = {0};
	void (*teardown[TU_MAX_TCASES])(void) = {0};
	size_t ntc                            = 0;

	for (size_t i = 0; i < n; i++) {
		const tu_test *t = &tests[i];
		size_t         k = 0;

		while (k < ntc && strcmp(names[k], t->tcase) != 0) {
			k++;
		}
		if (k == ntc) {
			if (ntc == TU_MAX_TCASES) {
				fprintf(stderr, "tu_suite %s: over %d TCases\n",
				    name, TU_MAX_TCASES);
				abort();
			}
			names[ntc] = t->tcase;
			tc[ntc++]  = tcase_create(t->tcase);
		}
		if (t->loops > 0) {
			tcase_add_loop_test(tc[k], t->test, 0, t->loops);
		} else {
			tcase_add_test(tc[k], t->test);
		}
		if (t->timeout > timeout[k]) {
			timeout[k] = t->timeout;
		}
		if (t->teardown != NULL) {
			if (teardown[k] != NULL && teardown[k] != t->teardown) {
				fprintf(stderr,
				    "tu_suite %s: TCase %s has two "
				    "teardowns\n",
				    name, t->tcase);
				abort();
			}
			teardown[k] = t->teardown;
		}
	}
	for (size_t k = 0; k < ntc; k++) {
		if (timeout[k] > 0) {
			tcase_set_timeout(tc[k], timeout[k]);
		}
		if (teardown[k] != NULL) {
			tcase_add_checked_fixture(tc[k], NULL, teardown[k]);
		}
		suite_add_tcase(s, tc[k]);
	}
	return s;
}
