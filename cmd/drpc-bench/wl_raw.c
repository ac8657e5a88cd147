// drpc-bench's raw baseline, client side: the same shapes as the
// libdrpc workloads over plain TCP (raw.c has the server): 16-byte
// ping-pong, streams of one send() per message and of 64 KiB writes, the
// 32-connection ping-pong, and the 64 KiB stream the flow workload is
// divided by.
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

static int
raw_open(const bench *b, uint32_t op, uint32_t size, uint32_t ms, int *fdp)
{
	uint8_t cmd[RAW_CMD_LEN];
	int     rv;

	if ((rv = raw_dial(b->host, b->raw_port, fdp)) != 0) {
		return rv;
	}
	put_u32(cmd, op);
	put_u32(cmd + 4, size);
	put_u32(cmd + 8, ms);
	if ((rv = sock_write_all(*fdp, cmd, sizeof(cmd))) != 0) {
		close(*fdp);
	}
	return rv;
}

// raw_pingpong makes n 16-byte round trips; lat may be NULL.
static int
raw_pingpong(raw_reader *rd, size_t n, int64_t *lat)
{
	uint8_t msg[4 + BENCH_SMALL];
	int     rv;

	put_u32(msg, BENCH_SMALL);
	fill_pattern(msg + 4, BENCH_SMALL);
	for (size_t i = 0; i < n; i++) {
		int64_t t0 = now_ns();

		if ((rv = sock_write_all(rd->fd, msg, sizeof(msg))) != 0 ||
		    (rv = rd_need(rd, sizeof(msg))) != 0) {
			return rv;
		}
		if (memcmp(rd->buf + rd->pos, msg, sizeof(msg)) != 0) {
			return EBADMSG;
		}
		rd->pos += sizeof(msg);
		if (lat != NULL) {
			lat[i] = now_ns() - t0;
		}
	}
	return 0;
}

// raw_srv_usage asks the raw server for its process's usage; a socket
// timeout bounds the wait.
bool
raw_srv_usage(const bench *b, usage *u)
{
	struct timeval tv = {10, 0};
	raw_reader     rd;
	int            fd;
	int            rv;

	if ((rv = raw_open(b, RAW_OP_USAGE, 0, 0, &fd)) != 0) {
		fprintf(stderr, "drpc-bench: raw server usage: connect: %s\n",
		    strerror(rv));
		return false;
	}
	(void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((rv = rd_init(&rd, fd)) == 0) {
		if ((rv = rd_need(&rd, USAGE_WIRE_LEN)) == 0) {
			*u = usage_decode(rd.buf);
		}
		rd_fini(&rd);
	}
	close(fd);
	if (rv != 0) {
		fprintf(stderr, "drpc-bench: raw server usage: %s\n",
		    raw_strerror(rv));
	}
	return rv == 0;
}

bool
raw_latency_run(bench *b, const char *prefix, const char *what)
{
	const char *wl = "raw-baseline";
	size_t      n  = b->cfg.lat_calls;
	int64_t    *lat;
	raw_reader  rd;
	int         fd;
	int         rv;
	cost_mark   m0     = {0};
	cost_mark   m1     = {0};
	bool        marked = false;

	if ((lat = malloc(n * sizeof(*lat))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if ((rv = raw_open(b, RAW_OP_ECHO, 0, 0, &fd)) != 0) {
		fprintf(stderr, "drpc-bench: %s: connect %s:%s: %s\n", wl,
		    b->host, b->raw_port, strerror(rv));
		free(lat);
		return false;
	}
	if ((rv = rd_init(&rd, fd)) == 0) {
		wd_arm(&b->wd, "raw-baseline ping-pong", latency_budget(b));
		wd_watch_fd(&b->wd, fd);
		rv = raw_pingpong(&rd, BENCH_WARMUP, NULL);
		if (rv == 0 && mark_begin(b, NULL, &m0)) {
			rv     = raw_pingpong(&rd, n, lat);
			marked = rv == 0 && mark_end(b, NULL, &m1);
		}
		if (wd_disarm(&b->wd) && rv == 0) {
			rv = ETIMEDOUT;
		}
		rd_fini(&rd);
	}
	close(fd);
	if (rv != 0) {
		fprintf(stderr, "drpc-bench: %s: ping-pong: %s\n", wl,
		    raw_strerror(rv));
	}
	if (rv != 0 || !marked) {
		free(lat);
		return false;
	}
	aux a = aux_between(&m0, &m1, (double) n);
	record_latency(b, prefix, wl, what, NULL, lat, n, &a);
	free(lat);
	return true;
}

// raw_stream_recv counts size-byte messages until the end marker.
static int
raw_stream_recv(raw_reader *rd, size_t size, uint64_t *msgs)
{
	int rv;

	for (;;) {
		uint32_t len;

		if ((rv = rd_need(rd, 4)) != 0) {
			return rv;
		}
		len = get_u32(rd->buf + rd->pos);
		rd->pos += 4;
		if (len == RAW_END) {
			return 0;
		}
		if (len != size) {
			return EBADMSG;
		}
		if ((rv = rd_skip(rd, len)) != 0) {
			return rv;
		}
		(*msgs)++;
	}
}

// raw_stream_one receives one stream of size-byte messages (text names
// the size) for the configured time: (msgs, elapsed, costs per message).
static bool
raw_stream_one(bench *b, bool batched, size_t size, const char *text,
    uint64_t *msgs, int64_t *elapsed, aux *a)
{
	const char *wl = "raw-baseline";
	raw_reader  rd;
	int64_t     t0;
	cost_mark   m0 = {0};
	cost_mark   m1 = {0};
	int         fd;
	int         rv;

	*msgs = 0;
	if (!mark_begin(b, NULL, &m0)) {
		return false;
	}
	t0 = now_ns();
	rv = raw_open(b, batched ? RAW_OP_SEND_BATCHED : RAW_OP_SEND,
	    (uint32_t) size, (uint32_t) (b->cfg.stream_ns / NS_PER_MS), &fd);
	if (rv != 0) {
		fprintf(stderr, "drpc-bench: %s: connect %s:%s: %s\n", wl,
		    b->host, b->raw_port, strerror(rv));
		return false;
	}
	if ((rv = rd_init(&rd, fd)) == 0) {
		wd_arm(&b->wd, "raw-baseline stream",
		    b->cfg.stream_ns + 30 * NS_PER_S);
		wd_watch_fd(&b->wd, fd);
		rv = raw_stream_recv(&rd, size, msgs);
		if (wd_disarm(&b->wd) && rv == 0) {
			rv = ETIMEDOUT;
		}
		rd_fini(&rd);
	}
	*elapsed = now_ns() - t0;
	if (rv == 0 && !mark_end(b, NULL, &m1)) {
		close(fd);
		return false;
	}
	close(fd);
	if (rv != 0) {
		fprintf(stderr, "drpc-bench: %s: stream of %s: %s\n", wl, text,
		    raw_strerror(rv));
		return false;
	}
	*a = aux_between(&m0, &m1, (double) *msgs);
	return true;
}

bool
raw_stream_size(bench *b, bool batched, size_t k)
{
	const char *wl = "raw-baseline";
	uint64_t    msgs;
	int64_t     elapsed;
	aux         a;

	if (!raw_stream_one(b, batched, stream_sizes[k], stream_size_text[k],
	        &msgs, &elapsed, &a)) {
		return false;
	}
	if (batched) {
		record_stream(b, "raw.stream_batched", wl,
		    "64 KiB writes, stream ", k, msgs, elapsed, &a);
	} else {
		record_stream(
		    b, "raw.stream", wl, "stream ", k, msgs, elapsed, &a);
	}
	return true;
}

// raw_stream_run measures one direction: one send() per message, or
// (batched) 64 KiB writes, which only the small sizes differ by.
static bool
raw_stream_run(bench *b, bool batched)
{
	for (size_t k = 0; k < STREAM_NSIZES; k++) {
		if (batched && stream_sizes[k] >= RAW_BATCH) {
			continue;
		}
		if (!raw_stream_size(b, batched, k)) {
			return false;
		}
	}
	return true;
}

// raw_flow_run measures the stream of 64 KiB messages the flow workload
// is divided by (one send() per message, which is also a 64 KiB write).
static bool
raw_flow_run(bench *b)
{
	uint64_t msgs;
	int64_t  elapsed;
	aux      a;

	if (!raw_stream_one(
	        b, false, FLOW_MSG, "64 KiB", &msgs, &elapsed, &a)) {
		return false;
	}
	table_put(&b->tab, "raw.stream.64KiB.mb_s", "raw-baseline",
	    "stream 64 KiB: MB/s", NULL,
	    (double) msgs * (double) FLOW_MSG / 1e6 / ((double) elapsed / 1e9),
	    &a);
	return true;
}

// The raw 32-connection ping-pong: the denominator of unary throughput.

#define RAW_PP_CONNS 32

typedef struct rawpp_worker {
	tput_clock   *sh;
	pthread_t     t;
	raw_reader    rd;
	uint64_t      trips;
	int           err;
} rawpp_worker;

static bool
rawpp_one(void *arg)
{
	rawpp_worker *w = arg;

	return (w->err = raw_pingpong(&w->rd, 1, NULL)) == 0;
}

static void *
rawpp_main(void *arg)
{
	rawpp_worker *w = arg;

	(void) tput_work(w->sh, rawpp_one, w, &w->trips);
	return NULL;
}

bool
raw_pp32_run(bench *b)
{
	const char   *wl = "raw-baseline";
	tput_clock    sh;
	rawpp_worker *w;
	size_t        nconn   = 0;
	size_t        started = 0;
	uint64_t      trips   = 0;
	int64_t       t0;
	int64_t       t1;
	cost_mark     m0 = {0};
	cost_mark     m1 = {0};
	bool          ok = true;
	int           rv;

	if ((w = calloc(RAW_PP_CONNS, sizeof(*w))) == NULL) {
		fprintf(stderr, "drpc-bench: %s: out of memory\n", wl);
		return false;
	}
	if ((rv = tput_clock_init(&sh)) != 0) {
		fprintf(stderr, "drpc-bench: %s: gate: %s\n", wl, strerror(rv));
		free(w);
		return false;
	}
	wd_arm(&b->wd, "raw-baseline 32 connections",
	    b->cfg.tput_ns + 30 * NS_PER_S);
	for (; nconn < RAW_PP_CONNS; nconn++) {
		int fd;

		w[nconn].sh = &sh;
		if ((rv = raw_open(b, RAW_OP_ECHO, 0, 0, &fd)) != 0) {
			fprintf(stderr, "drpc-bench: %s: connection %zu: %s\n",
			    wl, nconn + 1, strerror(rv));
			ok = false;
			break;
		}
		if ((rv = rd_init(&w[nconn].rd, fd)) != 0) {
			close(fd);
			ok = false;
			break;
		}
		wd_watch_fd(&b->wd, fd);
	}
	for (; ok && started < nconn; started++) {
		if ((rv = start_thread(
		         &w[started].t, rawpp_main, &w[started])) != 0) {
			fprintf(stderr, "drpc-bench: %s: thread: %s\n", wl,
			    strerror(rv));
			ok = false;
			break;
		}
	}
	ok = tput_go(b, NULL, &sh, ok, &m0, &t0);
	for (size_t i = 0; i < started; i++) {
		pthread_join(w[i].t, NULL);
		trips += w[i].trips;
		if (w[i].err != 0) {
			fprintf(stderr, "drpc-bench: %s: connection %zu: %s\n",
			    wl, i + 1, raw_strerror(w[i].err));
			ok = false;
		}
	}
	t1 = now_ns();
	ok = ok && mark_end(b, NULL, &m1);
	ok = !wd_disarm(&b->wd) && ok;
	for (size_t i = 0; i < nconn; i++) {
		close(w[i].rd.fd);
		rd_fini(&w[i].rd);
	}
	gate_fini(&sh.start);
	free(w);
	if (ok) {
		aux a = aux_between(&m0, &m1, (double) trips);

		table_put(&b->tab, "raw.pingpong32.rt_s", wl,
		    "32 conns ping-pong: trips/s", NULL,
		    (double) trips * 1e9 / (double) (t1 - t0), &a);
	}
	return ok;
}

bool
wl_raw(bench *b, unsigned parts)
{
	if ((parts & (W_RAW | W_UNARY_LAT | W_BIDI_LAT)) != 0 &&
	    !raw_latency_run(b, "raw.pingpong", "ping-pong 16 B")) {
		return false;
	}
	if ((parts & (W_RAW | W_STREAM_TPUT)) != 0 &&
	    (!raw_stream_run(b, false) || !raw_stream_run(b, true))) {
		return false;
	}
	if ((parts & (W_RAW | W_UNARY_TPUT)) != 0 && !raw_pp32_run(b)) {
		return false;
	}
	if ((parts & (W_RAW | W_FLOW)) != 0 && !raw_flow_run(b)) {
		return false;
	}
	return true;
}
