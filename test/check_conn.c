// The connection core end to end over socketpairs: many concurrent streams,
// cancellation, deadlines, termination, and no leaked thread or fd.
#include <stdlib.h>
#include <string.h>

#include "connutil.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"

// A unary call over the core: invoke + message + CloseSend in one write,
// one reply, EOF, then close.
START_TEST(test_conn_unary_echo)
{
	tu_pair        p;
	drpc__stream  *s;
	const uint8_t *data;
	size_t         len;

	tu_pair_open(&p, tu_echo_all, NULL, NULL, NULL);
	DRPC_CHECK_OK(tu_open(p.cli, NULL, "/t/Echo", "hello", 5, true, &s));
	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(data, "hello", 5);
	drpc__stream_recv_done(s);
	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), DRPC_EOF);
	DRPC_CHECK_ERR(drpc__stream_recv(s, &data, &len), DRPC_EOF);
	// Send after close_send is a caller error, not a hang.
	DRPC_CHECK_ERR(drpc__stream_send(s, (const uint8_t *) "x", 1),
	    DRPC_ESTATE);
	drpc__stream_destroy(s);
	tu_pair_close(&p);
	ck_assert_int_eq(p.last_handler_err, DRPC_OK);
}
END_TEST

// 64 threads, each with its own stream on ONE connection, send messages of
// random sizes (1 byte to 1 MiB, so many are split into frames) and check
// every echoed byte, in order.
#define MANY_STREAMS 64
#define MANY_MSGS    6

typedef struct many_arg {
	drpc__conn *c;
	uint32_t    seed;
	drpc_err    rv;
	size_t      bytes;
	char        why[128];
} many_arg;

static size_t
rand_size(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	uint32_t bits = (*seed >> 8) % 21; // 2^0 .. 2^20
	*seed = *seed * 1103515245u + 12345u;
	return 1 + ((*seed >> 4) & ((1u << bits) - 1));
}

static void
fill(uint8_t *buf, size_t len, uint32_t tag)
{
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t) (tag + i * 131 + (i >> 8));
	}
}

static void *
many_main(void *arg)
{
	many_arg      *a   = arg;
	uint8_t       *buf = malloc((size_t) 1 << 20 | 1);
	drpc__stream  *s   = NULL;
	const uint8_t *data;
	size_t         len;

	a->rv = tu_open(a->c, NULL, "/t/Echo", NULL, 0, false, &s);
	for (int i = 0; a->rv == DRPC_OK && i < MANY_MSGS; i++) {
		size_t n = rand_size(&a->seed);

		fill(buf, n, a->seed);
		if ((a->rv = drpc__stream_send(s, buf, n)) != DRPC_OK ||
		    (a->rv = drpc__stream_recv(s, &data, &len)) != DRPC_OK) {
			break;
		}
		if (len != n || memcmp(data, buf, n) != 0) {
			a->rv = DRPC_EDATALOSS;
		}
		a->bytes += n;
		drpc__stream_recv_done(s);
	}
	if (a->rv == DRPC_OK) {
		a->rv = drpc__stream_close_send(s);
	}
	if (a->rv == DRPC_OK &&
	    (a->rv = drpc__stream_recv(s, &data, &len)) == DRPC_EOF) {
		a->rv = DRPC_OK;
	}
	drpc__stream_destroy(s);
	free(buf);
	return NULL;
}

// _i = 0: over a socketpair; 1: over loopback TCP.
START_TEST(test_conn_many_streams_interleave)
{
	tu_pair   p;
	pthread_t t[MANY_STREAMS];
	many_arg  a[MANY_STREAMS];
	size_t    total   = 0;
	size_t    threads = tu_threads();
	size_t    fds     = tu_fds();

	if (_i == 0) {
		tu_pair_open(&p, tu_echo_all, NULL, NULL, NULL);
	} else {
		tu_pair_open_tcp(&p, tu_echo_all, NULL, NULL, NULL);
	}
	for (int i = 0; i < MANY_STREAMS; i++) {
		a[i] = (many_arg) {.c = p.cli, .seed = 7919u * (uint32_t) i + 1};
		DRPC_CHECK_OK(drpc__thread_start(
		    &t[i], "t-many", (uint64_t) i, 0, many_main, &a[i]));
	}
	for (int i = 0; i < MANY_STREAMS; i++) {
		drpc__thread_join(t[i]);
	}
	for (int i = 0; i < MANY_STREAMS; i++) {
		ck_assert_msg(a[i].rv == DRPC_OK, "stream %d: %s (conns: %s, %s)",
		    i, drpc_strerror(a[i].rv), drpc_err_name(drpc__conn_err(p.cli)),
		    drpc_err_name(drpc__conn_err(p.srv)));
		total += a[i].bytes;
	}
	ck_assert_uint_gt(total, 0);
	ck_assert_uint_eq(drpc__conn_active(p.cli), 0);
	tu_pair_close(&p);
	ck_assert_int_eq(p.last_handler_err, DRPC_OK);
	ck_assert_uint_eq(tu_threads(), threads);
	ck_assert_uint_eq(tu_fds(), fds);
}
END_TEST

TU_SUITE(conn,
    TU_TEST("e2e", test_conn_unary_echo),
    TU_TEST("concurrency", test_conn_many_streams_interleave,
        .loops = 2, .timeout = 60))
