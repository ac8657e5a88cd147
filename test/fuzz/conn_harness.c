// Fuzz harness for whole connections: the input is what the peer sends.
// A server-side connection runs a few echo handlers on threads of their
// own (further invokes are refused with an Error), so frames reach live
// streams; a client-side connection has two open streams with a consumer
// thread each. The harness writes the input while reading (and dropping)
// what the connection writes, half-closes, waits for the connection to
// end, and tears everything down. A hang (10 s, times
// CK_TIMEOUT_MULTIPLIER when the Check suite replays under a sanitizer)
// aborts, so libFuzzer reports it.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn/conn.h"
#include "harness.h"
#include "platform/thread.h"

#define FH_HANDLERS  4
#define FH_HANG_NS   (10 * 1000000000ll)
#define FH_STACK     ((size_t) 64 << 10)

typedef struct fh_state {
	pthread_mutex_t mu;
	pthread_t       t[FH_HANDLERS]; // guarded by mu
	size_t          n;
} fh_state;

// fh_echo_main echoes every message until the stream ends.
static void *
fh_echo_main(void *arg)
{
	drpc__stream  *s = arg;
	const uint8_t *data;
	size_t         len;

	while (drpc__stream_recv(s, &data, &len) == DRPC_OK) {
		(void) drpc__stream_send(s, data, len);
		drpc__stream_recv_done(s);
	}
	(void) drpc__stream_close_send(s);
	drpc__stream_abandon(s);
	drpc__stream_destroy(s);
	return NULL;
}

static void
fh_on_invoke(void *arg, drpc__stream *s, drpc__invoke_info *info)
{
	fh_state *st = arg;
	bool      ok = false;

	drpc__md_fini(&info->md);
	drpc__mutex_lock(&st->mu);
	if (st->n < FH_HANDLERS &&
	    drpc__thread_start(&st->t[st->n], "fz-h", st->n, FH_STACK,
		fh_echo_main, s) == DRPC_OK) {
		st->n++;
		ok = true;
	}
	drpc__mutex_unlock(&st->mu);
	if (!ok) {
		(void) drpc__stream_send_error(s, DRPC_ERESOURCE, "busy", 4);
		drpc__stream_destroy(s);
	}
}

// fh_pump writes data to fd while draining what comes back, half-closes,
// and reads until the connection closes its end.
static void
fh_pump(int fd, const uint8_t *data, size_t size)
{
	const char *mult = getenv("CK_TIMEOUT_MULTIPLIER");
	int64_t     k    = mult != NULL ? atoll(mult) : 1;
	uint8_t     buf[16384];
	size_t      off      = 0;
	bool        shut     = false;
	int64_t     deadline = drpc__now_ns() + (k > 1 ? k : 1) * FH_HANG_NS;

	(void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd p = {fd, (short) (POLLIN | (off < size ? POLLOUT : 0)),
		    0};

		if (off == size && !shut) {
			(void) shutdown(fd, SHUT_WR);
			shut = true;
		}
		if (drpc__now_ns() > deadline) {
			fprintf(stderr, "fuzz: connection hung\n");
			abort();
		}
		if (poll(&p, 1, 100) <= 0) {
			continue;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, buf, sizeof(buf));

			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				return; // the connection closed its end
			}
		}
		if (off < size && (p.revents & POLLOUT)) {
			ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);

			if (w > 0) {
				off += (size_t) w;
			} else if (w < 0 && errno != EAGAIN) {
				off = size; // the connection is gone
			}
		}
	}
}

static void *
fh_consume_main(void *arg)
{
	drpc__stream  *s = arg;
	const uint8_t *data;
	size_t         len;

	while (drpc__stream_recv(s, &data, &len) == DRPC_OK) {
		drpc__stream_recv_done(s);
	}
	drpc__stream_destroy(s);
	return NULL;
}

// fh_client_streams opens two streams and starts a consumer for each.
static size_t
fh_client_streams(drpc__conn *c, pthread_t t[2])
{
	size_t n = 0;

	for (int i = 0; i < 2; i++) {
		drpc__stream       *s;
		drpc__stream_invoke inv = {.name = (const uint8_t *) "/f.F/F",
		    .name_len = 6, .msg = (const uint8_t *) "q", .msg_len = 1,
		    .close_send = i == 0};

		if (drpc__conn_open(c, NULL, &inv, &s) != DRPC_OK) {
			break;
		}
		if (drpc__thread_start(&t[n], "fz-c", (uint64_t) i, FH_STACK,
			fh_consume_main, s) != DRPC_OK) {
			drpc__stream_destroy(s);
			break;
		}
		n++;
	}
	return n;
}

void
fuzz_conn_input(const uint8_t *data, size_t size, fuzz_side side)
{
	fh_state        st = {.n = 0};
	drpc__conn_opts o  = {.is_server = side == FUZZ_SERVER,
		 .max_msg_size = (size_t) 1 << 20, .ring_slots = 16,
		 .max_streams = 64, .max_pending = 64, .stack_size = FH_STACK,
		 .close_timeout_ms = 50, .multiplex = DRPC_MULTIPLEX_ON};
	drpc_transport *tr;
	drpc__conn     *c;
	pthread_t       ct[2];
	size_t          nct = 0;
	int             sv[2];

	drpc__mutex_init(&st.mu);
	if (side == FUZZ_SERVER) {
		o.on_invoke = fh_on_invoke;
		o.arg       = &st;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    drpc_transport_create_fd(&tr, sv[0]) != DRPC_OK ||
	    drpc__conn_create(&c, tr, &o) != DRPC_OK) {
		abort(); // the harness itself failed, not the library
	}
	if (side == FUZZ_CLIENT) {
		nct = fh_client_streams(c, ct);
	}
	fh_pump(sv[1], data, size);
	drpc__conn_destroy(c);
	for (size_t i = 0; i < nct; i++) {
		drpc__thread_join(ct[i]);
	}
	for (size_t i = 0; i < st.n; i++) {
		drpc__thread_join(st.t[i]);
	}
	close(sv[1]);
	drpc__mutex_fini(&st.mu);
}
