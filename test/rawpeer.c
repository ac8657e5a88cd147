// The raw peer (rawpeer.h).
#include "rawpeer.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connutil.h"
#include "testutil.h"
#include "wire/control.h"
#include "wire/flowctl.h"
#include "wire/varint.h"

static const uint8_t zeros[64 * 1024];

// must fails the test if rv is not DRPC_OK, without a passing ck_assert
// (rule 7: frames are built by the thousand).
static void
must(drpc_err rv)
{
	if (rv != DRPC_OK) {
		ck_abort_msg("building frames: %s", drpc_err_name(rv));
	}
}

static drpc_err
rp_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	rp_peer      *p   = arg;
	struct pollfd pfd = {p->fd, POLLIN, 0};
	ssize_t       got;

	if (poll(&pfd, 1, (int) (tu_bound_ns(TU_WAIT_NS) / 1000000)) != 1) {
		return DRPC_ETIMEDOUT;
	}
	if ((got = read(p->fd, buf, cap)) < 0) {
		return errno == ECONNRESET ? DRPC_ECLOSED : DRPC_EIO;
	}
	*n = (size_t) got;
	return DRPC_OK;
}

void
rp_init(rp_peer *p, int fd)
{
	p->fd = fd;
	drpc__frame_reader_init(&p->fr, rp_read, p, 0);
}

void
rp_close(rp_peer *p)
{
	if (p->fd >= 0) {
		close(p->fd);
	}
	drpc__frame_reader_fini(&p->fr);
}

void
rp_reset(rp_peer *p)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	ck_assert_int_eq(
	    setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	ck_assert_int_eq(close(p->fd), 0);
	p->fd = -1;
}

// Building frames.

void
rp_frame(drpc__buf *b, uint8_t kind, bool control, bool done, uint64_t sid,
    uint64_t mid, const void *body, size_t len)
{
	drpc__frame f = {.stream_id = sid,
	    .message_id             = mid,
	    .data                   = body,
	    .len                    = len,
	    .kind                   = kind,
	    .done                   = done,
	    .control                = control};

	if (body != NULL || len == 0) {
		must(drpc__frame_append(b, &f));
		return;
	}
	must(drpc__buf_reserve(b, DRPC__FRAME_HEADER_MAX + len));
	b->len += drpc__frame_header_put(b->data + b->len, &f);
	memset(b->data + b->len, 0, len);
	b->len += len;
}

void
rp_packet(drpc__buf *b, uint8_t kind, uint64_t sid, uint64_t mid,
    const void *body, size_t len, size_t split, bool half)
{
	size_t off = 0;

	if (body == NULL && split > sizeof(zeros)) {
		split = sizeof(zeros);
	}
	do {
		size_t         n = len - off < split ? len - off : split;
		const uint8_t *p =
		    body != NULL ? (const uint8_t *) body + off : zeros;
		bool last = off + n == len;

		rp_frame(b, kind, false, last && !half, sid, mid, p, n);
		off += n;
	} while (off < len);
}

uint64_t
rp_unary(drpc__buf *b, uint64_t sid, uint64_t mid, const char *method,
    const void *req, size_t len, size_t split)
{
	rp_frame(b, DRPC__KIND_INVOKE, false, true, sid, mid++, method,
	    strlen(method));
	rp_packet(b, DRPC__KIND_MESSAGE, sid, mid++, req, len, split, false);
	rp_frame(b, DRPC__KIND_CLOSE_SEND, false, true, sid, mid++, NULL, 0);
	return mid;
}

size_t
rp_hello_body(uint8_t *out, uint64_t window, uint64_t cost,
    uint64_t conn_window, uint64_t features)
{
	uint8_t *p = out;

	p = drpc__varint_put(p, DRPC__HELLO_VERSION);
	p = drpc__varint_put(p, window);
	p = drpc__varint_put(p, cost);
	p = drpc__varint_put(p, conn_window);
	p = drpc__varint_put(p, features);
	return (size_t) (p - out);
}

size_t
rp_hello_default(uint8_t *out, uint64_t features)
{
	return rp_hello_body(out, 1 << 20, 64, 16 << 20, features);
}

void
rp_hello(drpc__buf *b, uint64_t sid, uint64_t mid, uint64_t window,
    uint64_t cost, uint64_t conn_window, uint64_t features)
{
	uint8_t body[DRPC__HELLO_BODY_MAX];
	size_t  n = rp_hello_body(body, window, cost, conn_window, features);

	rp_frame(b, DRPC__KIND_HELLO, true, true, sid, mid, body, n);
}

void
rp_window(drpc__buf *b, uint64_t sid, uint64_t delta)
{
	uint8_t  body[10];
	uint8_t *p = drpc__varint_put(body, delta);

	rp_frame(b, DRPC__KIND_WINDOW_UPDATE, true, true, sid, 0, body,
	    (size_t) (p - body));
}

// Sending.

void
rp_write(rp_peer *p, const void *bytes, size_t n)
{
	ck_assert_int_eq(send(p->fd, bytes, n, MSG_NOSIGNAL), (ssize_t) n);
}

void
rp_hex(rp_peer *p, const char *hex)
{
	uint8_t buf[1024];
	size_t  n = tu_hex(hex, buf, sizeof(buf));

	rp_write(p, buf, n);
}

void
rp_send(rp_peer *p, uint8_t kind, bool control, uint64_t sid, uint64_t mid,
    const void *body, size_t len)
{
	drpc__buf b = {0};

	rp_frame(&b, kind, control, true, sid, mid, body, len);
	rp_write(p, b.data, b.len);
	drpc__buf_fini(&b);
}

void
rp_send_buf(rp_peer *p, drpc__buf *b)
{
	rp_write(p, b->data, b->len);
	b->len = 0;
}

// Reading.

drpc_err
rp_next(rp_peer *p, drpc__frame *f)
{
	return drpc__frame_reader_next(&p->fr, f);
}

// same compares n bytes (none: the same, whatever the pointers).
static bool
same(const void *a, const void *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

bool
rp_frame_matches(const drpc__frame *f, const rp_want *w, char *why, size_t cap)
{
	const char *bad = NULL;

	if (f->kind != w->kind) {
		bad = "kind";
	} else if (f->stream_id != w->sid) {
		bad = "stream id";
	} else if (!w->any_mid && f->message_id != w->mid) {
		bad = "message id";
	} else if (f->control != w->control) {
		bad = "control bit";
	} else if (f->done == w->partial) {
		bad = "done bit";
	} else if (w->body != NULL && !w->prefix &&
	           (f->len != w->len || !same(f->data, w->body, w->len))) {
		bad = "body";
	} else if (w->body != NULL && w->prefix &&
	           (f->len < w->len || !same(f->data, w->body, w->len))) {
		bad = "body's beginning";
	}
	if (bad != NULL) {
		snprintf(why, cap,
		    "got %s (kind %u) sid %llu mid %llu%s%s len %zu; want %s "
		    "(kind %u) sid %llu mid %llu%s: the %s differs",
		    drpc__kind_name(f->kind), (unsigned) f->kind,
		    (unsigned long long) f->stream_id,
		    (unsigned long long) f->message_id,
		    f->control ? " control" : "", f->done ? " done" : "",
		    f->len, drpc__kind_name(w->kind), (unsigned) w->kind,
		    (unsigned long long) w->sid, (unsigned long long) w->mid,
		    w->any_mid ? " (any)" : "", bad);
	}
	return bad == NULL;
}

void
rp_expect(rp_peer *p, drpc__frame *f, rp_want w)
{
	drpc__frame got;
	drpc_err    rv = rp_next(p, &got);
	char        why[320];

	ck_assert_msg(rv == DRPC_OK, "want %s (kind %u) on stream %llu: %s",
	    drpc__kind_name(w.kind), (unsigned) w.kind,
	    (unsigned long long) w.sid, drpc_err_name(rv));
	ck_assert_msg(rp_frame_matches(&got, &w, why, sizeof(why)), "%s", why);
	if (f != NULL) {
		*f = got;
	}
}

void
rp_expect_packet(
    rp_peer *p, uint8_t kind, uint64_t sid, uint64_t mid, const char *body)
{
	rp_expect(p, NULL,
	    (rp_want){.kind = kind,
	        .sid        = sid,
	        .mid        = mid,
	        .body       = body,
	        .len        = strlen(body)});
}

void
rp_expect_eof(rp_peer *p)
{
	drpc__frame f;
	drpc_err    rv = rp_next(p, &f);

	ck_assert_msg(rv == DRPC_EOF,
	    "want the end of the connection, got %s (a %s frame on stream "
	    "%llu if OK)",
	    drpc_err_name(rv), rv == DRPC_OK ? drpc__kind_name(f.kind) : "-",
	    rv == DRPC_OK ? (unsigned long long) f.stream_id : 0ull);
}

void
rp_frames_until(drpc__frame_reader *fr, uint8_t kind, uint64_t sid,
    drpc__frame *f, size_t *ctrl)
{
	for (;;) {
		drpc_err rv = drpc__frame_reader_next(fr, f);

		ck_assert_msg(rv == DRPC_OK,
		    "reading up to %s (kind %u) on stream %llu: %s",
		    drpc__kind_name(kind), (unsigned) kind,
		    (unsigned long long) sid, drpc_err_name(rv));
		if (ctrl != NULL && drpc__ctrl_kind(f->kind)) {
			(*ctrl)++;
		}
		if (f->kind == kind && f->stream_id == sid) {
			return;
		}
	}
}

void
rp_until(rp_peer *p, uint8_t kind, uint64_t sid, drpc__frame *f, size_t *ctrl)
{
	rp_frames_until(&p->fr, kind, sid, f, ctrl);
}

size_t
rp_frames_rest(drpc__frame_reader *fr, unsigned kind)
{
	drpc__frame f;
	size_t      n = 0;

	while (drpc__frame_reader_next(fr, &f) == DRPC_OK) {
		if (drpc__ctrl_kind(f.kind)) {
			ck_assert_uint_eq(f.kind, kind);
			n++;
		}
	}
	return n;
}

void
rp_next_on(rp_peer *p, uint64_t sid, drpc__frame *f)
{
	do {
		DRPC_CHECK_OK(rp_next(p, f));
	} while (f->stream_id != sid);
}

void
rp_call(rp_peer *p, uint64_t sid, const char *method, const void *body,
    size_t len, size_t *ctrl)
{
	drpc__buf   b = {0};
	drpc__frame f;

	rp_unary(&b, sid, 1, method, body, len, len > 0 ? len : 1);
	rp_send_buf(p, &b);
	drpc__buf_fini(&b);
	rp_until(p, DRPC__KIND_CLOSE_SEND, sid, &f, ctrl);
}
