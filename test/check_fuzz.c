// Replays the kept fuzz corpus (test/fuzz/regressions) and every recorded
// transcript through the fuzz harnesses, so inputs that once found a bug
// are checked on every run, with or without libFuzzer.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/harness.h"
#include "suites.h"
#include "testutil.h"

typedef void (*replay_fn)(const char *path);

static void
replay_dir(const char *dir, const char *suffix, replay_fn fn, size_t *count)
{
	DIR           *d = opendir(dir);
	struct dirent *e;

	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char   path[1024];

		if (e->d_name[0] == '.' ||
		    (suffix != NULL && (n < strlen(suffix) ||
			strcmp(e->d_name + n - strlen(suffix), suffix) != 0))) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		fn(path);
		(*count)++;
	}
	closedir(d);
}

static void
replay_one(const char *path)
{
	size_t   len;
	uint8_t *data = tu_read_file(path, &len);

	fuzz_wire_input(data, len);
	fuzz_conn_input(data, len, FUZZ_SERVER);
	fuzz_conn_input(data, len, FUZZ_CLIENT);
	fuzz_tls_server_input(data, len);
	free(data);
}

START_TEST(test_fuzz_regressions)
{
	size_t count = 0;

	replay_dir(DRPC_SOURCE_DIR "/test/fuzz/regressions", NULL, replay_one,
	    &count);
	ck_assert_uint_gt(count, 0);
}
END_TEST

START_TEST(test_fuzz_transcripts)
{
	char   dir[512];
	size_t count = 0;

	replay_dir(tu_shared_path(dir, sizeof(dir), "interop/transcripts"),
	    ".bin", replay_one, &count);
	ck_assert_uint_ge(count, 32);
}
END_TEST

TU_SUITE(fuzz,
    TU_TEST("replay", test_fuzz_regressions, .timeout = 120),
    TU_TEST("replay", test_fuzz_transcripts))
