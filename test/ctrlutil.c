// The control-frame suites' raw peer (ctrlutil.h).
#include "ctrlutil.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connutil.h"
#include "testutil.h"
#include "wire/control.h"
#include "wire/flowctl.h"

// Frames a receiver drops: each differs from a conforming PING in one way.
const char *const cr_nonconforming[CR_NONCONFORMING] = {
    "43 00 00 01 01",                               // no control flag
    "c2 00 00 01 01",                               // not done
    "c3 01 00 01 01",                               // stream 1
    "c3 00 01 01 01",                               // message id 1
    "c3 00 00 00",                                  // empty body
    "c3 00 00 02 01 01",                            // two varints
    "c3 00 00 01 80",                               // a truncated varint
    "c3 00 00 0b ff ff ff ff ff ff ff ff ff ff 01", // 11 varint bytes
    "c1 00 00 01 01", // kind 32 (hello), not a control kind
    "cb 00 00 01 01", // kind 37
};

static drpc_err
cr_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	cr_raw       *r   = arg;
	struct pollfd pfd = {r->fd, POLLIN, 0};
	ssize_t       got;

	if (poll(&pfd, 1, (int) (tu_bound_ns(TU_WAIT_NS) / CR_MS)) != 1) {
		return DRPC_ETIMEDOUT;
	}
	if ((got = read(r->fd, buf, cap)) < 0) {
		return errno == ECONNRESET ? DRPC_ECLOSED : DRPC_EIO;
	}
	*n = (size_t) got;
	return DRPC_OK;
}

void
cr_init(cr_raw *r, int fd)
{
	r->fd = fd;
	drpc__frame_reader_init(&r->fr, cr_read, r, 0);
}

void
cr_close(cr_raw *r)
{
	close(r->fd);
	drpc__frame_reader_fini(&r->fr);
}

void
cr_send(cr_raw *r, uint8_t kind, bool control, uint64_t sid, uint64_t mid,
    const void *body, size_t len)
{
	drpc__buf   b  = {0};
	drpc__frame fr = {.stream_id = sid,
	    .message_id              = mid,
	    .data                    = body,
	    .len                     = len,
	    .kind                    = kind,
	    .done                    = true,
	    .control                 = control};

	DRPC_CHECK_OK(drpc__frame_append(&b, &fr));
	ck_assert_int_eq(
	    send(r->fd, b.data, b.len, MSG_NOSIGNAL), (ssize_t) b.len);
	drpc__buf_fini(&b);
}

void
cr_hex(cr_raw *r, const char *hex)
{
	uint8_t buf[256];
	size_t  n = tu_hex(hex, buf, sizeof(buf));

	ck_assert_int_eq(send(r->fd, buf, n, MSG_NOSIGNAL), (ssize_t) n);
}

// cr_frames_until reads frames from fr until one of kind on stream sid
// arrives (*f), counting the control frames of this extension on the way
// in *ctrl.
void
cr_frames_until(drpc__frame_reader *fr, uint8_t kind, uint64_t sid,
    drpc__frame *f, size_t *ctrl)
{
	for (;;) {
		DRPC_CHECK_OK(drpc__frame_reader_next(fr, f));
		if (drpc__ctrl_kind(f->kind)) {
			(*ctrl)++;
		}
		if (f->kind == kind && f->stream_id == sid) {
			return;
		}
	}
}

void
cr_until(cr_raw *r, uint8_t kind, uint64_t sid, drpc__frame *f, size_t *ctrl)
{
	cr_frames_until(&r->fr, kind, sid, f, ctrl);
}

// cr_frames_rest reads fr to its end, counting the control frames of this
// extension; all must be of kind (0: none may come).
size_t
cr_frames_rest(drpc__frame_reader *fr, unsigned kind)
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

// cr_call writes a plain unary call of CR_ECHO on stream sid (Invoke,
// Message "hi", CloseSend) and reads up to the server's CloseSend.
void
cr_call(cr_raw *r, uint64_t sid, size_t *ctrl)
{
	drpc__frame f;

	cr_send(r, DRPC__KIND_INVOKE, false, sid, 1, CR_ECHO, strlen(CR_ECHO));
	cr_send(r, DRPC__KIND_MESSAGE, false, sid, 2, "hi", 2);
	cr_send(r, DRPC__KIND_CLOSE_SEND, false, sid, 3, NULL, 0);
	cr_until(r, DRPC__KIND_CLOSE_SEND, sid, &f, ctrl);
}

// The hello body a libdrpc client sends (1 MiB window, charge 64, 16 MiB
// connection window), with the features given.
size_t
cr_hello_body(uint8_t *out, uint64_t features)
{
	drpc__hello h = {DRPC__HELLO_VERSION, 1 << 20, 64, 16 << 20, features};

	return drpc__hello_put(out, &h);
}

// cr_frame_put appends one whole frame (done set) to b.
void
cr_frame_put(drpc__buf *b, uint8_t kind, bool control, uint64_t sid,
    uint64_t mid, const void *body, size_t len)
{
	drpc__frame fr = {.stream_id = sid,
	    .message_id              = mid,
	    .data                    = body,
	    .len                     = len,
	    .kind                    = kind,
	    .done                    = true,
	    .control                 = control};

	DRPC_CHECK_OK(drpc__frame_append(b, &fr));
}

// cr_next_on reads up to the next frame of stream sid.
void
cr_next_on(cr_raw *r, uint64_t sid, drpc__frame *f)
{
	do {
		DRPC_CHECK_OK(drpc__frame_reader_next(&r->fr, f));
	} while (f->stream_id != sid);
}
