#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memsrc.h"
#include "suites.h"
#include "testutil.h"
#include "wire/reader.h"

// Two frames: Invoke (1,1) "/a" and CloseSend (1,2).
static const uint8_t two_frames[] = {0x03, 0x01, 0x01, 0x02, '/', 'a', 0x0d,
    0x01, 0x02, 0x00};

static void
check_two_frames(drpc__frame_reader *r)
{
	drpc__frame fr;

	DRPC_CHECK_OK(drpc__frame_reader_next(r, &fr));
	ck_assert_uint_eq(fr.kind, DRPC__KIND_INVOKE);
	ck_assert_uint_eq(fr.len, 2);
	ck_assert_mem_eq(fr.data, "/a", 2);
	ck_assert_uint_eq(r->offset, 6);
	DRPC_CHECK_OK(drpc__frame_reader_next(r, &fr));
	ck_assert_uint_eq(fr.kind, DRPC__KIND_CLOSE_SEND);
	ck_assert_uint_eq(fr.message_id, 2);
	DRPC_CHECK_ERR(drpc__frame_reader_next(r, &fr), DRPC_EOF);
	// Sticky: the same answer again.
	DRPC_CHECK_ERR(drpc__frame_reader_next(r, &fr), DRPC_EOF);
}

// The same frames whatever the read sizes (1 byte at a time included).
START_TEST(test_reader_chunks)
{
	memsrc             m = {two_frames, sizeof(two_frames), 0,
			(size_t) _i, 0, DRPC_OK, 0};
	drpc__frame_reader r;

	drpc__frame_reader_init(&r, memsrc_read, &m, 0);
	check_two_frames(&r);
	drpc__frame_reader_fini(&r);
}
END_TEST

// reads_then runs a reader over the first len bytes of in, chunk bytes a
// read (0: all at once), the source then failing with fail (DRPC_OK: the
// end): good frames come, then want.
static void
reads_then(const uint8_t *in, size_t len, size_t chunk, drpc_err fail,
    int good, drpc_err want)
{
	memsrc             m = {in, len, 0, chunk, 0, fail, 0};
	drpc__frame_reader r;
	drpc__frame        fr;

	drpc__frame_reader_init(&r, memsrc_read, &m, 0);
	for (int i = 0; i < good; i++) {
		DRPC_CHECK_OK(drpc__frame_reader_next(&r, &fr));
	}
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), want);
	drpc__frame_reader_fini(&r);
}

START_TEST(test_reader_empty_input)
{
	reads_then(two_frames, 0, 0, DRPC_OK, 0, DRPC_EOF);
}
END_TEST

// Input that stops at every point inside the second frame is truncated:
// after cut = _i + 1 bytes (1 to all but the last).
START_TEST(test_reader_truncated)
{
	size_t cut = (size_t) _i + 1;

	// Stopping exactly between the frames is a clean end.
	reads_then(two_frames, cut, 1, DRPC_OK, cut >= 6,
	    cut == 6 ? DRPC_EOF : DRPC_ETRUNC);
}
END_TEST

// A frame claiming 2^63 bytes fails from its header, without the reader
// asking for (or allocating) the body.
START_TEST(test_reader_huge_claim)
{
	static const uint8_t in[] = {0x05, 0x01, 0x01, 0x80, 0x80, 0x80, 0x80,
	    0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 'x'};
	memsrc               m = {in, sizeof(in), 0, 0, 0, DRPC_OK, 0};
	drpc__frame_reader   r;
	drpc__frame          fr;

	drpc__frame_reader_init(&r, memsrc_read, &m, 0);
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_ETOOBIG);
	ck_assert_uint_eq(m.reads, 1);
	ck_assert_uint_le(r.cap, (size_t) 64 << 10);
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_ETOOBIG);
	drpc__frame_reader_fini(&r);
}
END_TEST

START_TEST(test_reader_varint_too_long)
{
	static const uint8_t in[] = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x00};

	reads_then(in, sizeof(in), 1, DRPC_OK, 0, DRPC_EVARINT);
}
END_TEST

// A read error is reported as the source gave it, after the good frames.
START_TEST(test_reader_read_error)
{
	reads_then(two_frames, 6, 0, DRPC_EIO, 1, DRPC_EIO);
}
END_TEST

// Frames up to the limit pass through a buffer that grows to fit them,
// and a body of exactly max_size is accepted.
START_TEST(test_reader_large_frames)
{
	const size_t max = 300000;
	drpc__buf    in  = {0};
	uint8_t     *body = malloc(max);
	memsrc       m;
	drpc__frame_reader r;
	drpc__frame        fr;

	ck_assert_ptr_nonnull(body);
	for (size_t i = 0; i < max; i++) {
		body[i] = (uint8_t) (i % 251);
	}
	for (size_t len = max - 2; len <= max; len++) {
		drpc__frame f = {.stream_id = 1, .message_id = len,
		    .data = body, .len = len, .kind = 2, .done = true};
		DRPC_CHECK_OK(drpc__frame_append(&in, &f));
	}
	m = (memsrc) {in.data, in.len, 0, 4096, 7, DRPC_OK, 0};
	drpc__frame_reader_init(&r, memsrc_read, &m, max);
	for (size_t len = max - 2; len <= max; len++) {
		DRPC_CHECK_OK(drpc__frame_reader_next(&r, &fr));
		ck_assert_uint_eq(fr.len, len);
		ck_assert_mem_eq(fr.data, body, len);
	}
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_EOF);
	ck_assert_uint_le(r.cap, max + DRPC__FRAME_HEADER_MAX);
	drpc__frame_reader_fini(&r);
	drpc__buf_fini(&in);
	free(body);
}
END_TEST

// A memsrc that also records, at each read, the reader's capacity.
typedef struct capsrc {
	memsrc                    m;
	const drpc__frame_reader *r;
	size_t                    reads_big; // reads while cap > 64 KiB
} capsrc;

static drpc_err
capsrc_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	capsrc *c = arg;

	if (c->r->cap > ((size_t) 64 << 10)) {
		c->reads_big++;
	}
	return memsrc_read(&c->m, buf, cap, n);
}

// The buffer grows to exactly a large frame's size while it arrives and
// returns to 64 KiB once the frame has been consumed: no read after it
// (for the small frame that follows, then for the end of the input) sees
// a larger buffer. _i picks the read size (0: all that fits).
START_TEST(test_reader_shrinks_after_large_frame)
{
	static const size_t chunks[] = {0, 1, 4096};
	const size_t       big  = 300000;
	const size_t       rest = (size_t) 64 << 10;
	drpc__buf          in   = {0};
	uint8_t           *body = calloc(1, big);
	drpc__frame        f    = {.stream_id = 1, .message_id = 1,
			   .data = body, .len = big, .kind = 2, .done = true};
	capsrc             c;
	drpc__frame_reader r;
	drpc__frame        fr;

	ck_assert_ptr_nonnull(body);
	DRPC_CHECK_OK(drpc__frame_append(&in, &f));
	f.message_id = 2;
	f.len        = 3;
	DRPC_CHECK_OK(drpc__frame_append(&in, &f));
	c = (capsrc) {{in.data, in.len, 0, chunks[_i], 0, DRPC_OK, 0}, &r, 0};
	drpc__frame_reader_init(&r, capsrc_read, &c, 0);
	DRPC_CHECK_OK(drpc__frame_reader_next(&r, &fr));
	ck_assert_uint_eq(fr.len, big);
	// Exactly the frame: its header (1 + 1 + 1 + 3 bytes) and body.
	ck_assert_uint_eq(r.cap, big + 6);
	c.reads_big = 0;
	DRPC_CHECK_OK(drpc__frame_reader_next(&r, &fr));
	ck_assert_uint_eq(fr.len, 3);
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_EOF);
	ck_assert_uint_eq(c.reads_big, 0);
	ck_assert_uint_eq(r.cap, rest);
	drpc__frame_reader_fini(&r);
	drpc__buf_fini(&in);
	free(body);
}
END_TEST

// Two large frames back to back: the buffer is resized from one to the
// other (never to the maximum) and still ends at 64 KiB.
START_TEST(test_reader_large_then_larger)
{
	const size_t       sizes[] = {200000, 250000, 100000};
	drpc__buf          in      = {0};
	uint8_t           *body    = calloc(1, 250000);
	memsrc             m;
	drpc__frame_reader r;
	drpc__frame        fr;

	ck_assert_ptr_nonnull(body);
	for (size_t i = 0; i < 3; i++) {
		drpc__frame f = {.stream_id = 1, .message_id = i + 1,
		    .data = body, .len = sizes[i], .kind = 2, .done = true};

		DRPC_CHECK_OK(drpc__frame_append(&in, &f));
	}
	m = (memsrc) {in.data, in.len, 0, 100000, 0, DRPC_OK, 0};
	drpc__frame_reader_init(&r, memsrc_read, &m, 0);
	for (size_t i = 0; i < 3; i++) {
		DRPC_CHECK_OK(drpc__frame_reader_next(&r, &fr));
		ck_assert_uint_eq(fr.len, sizes[i]);
		ck_assert_uint_eq(r.cap, sizes[i] + 6);
	}
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_EOF);
	ck_assert_uint_eq(r.cap, (size_t) 64 << 10);
	drpc__frame_reader_fini(&r);
	drpc__buf_fini(&in);
	free(body);
}
END_TEST

// A reader whose maximum is below 64 KiB never allocates more than the
// maximum plus a header, at rest or not.
START_TEST(test_reader_small_max)
{
	const size_t       max   = 100;
	uint8_t            body[100];
	drpc__buf          in    = {0};
	memsrc             m;
	drpc__frame_reader r;
	drpc__frame        fr;

	memset(body, 'b', sizeof(body));
	for (size_t i = 0; i < 4; i++) {
		drpc__frame f = {.stream_id = 1, .message_id = i + 1,
		    .data = body, .len = i % 2 == 0 ? max : 3, .kind = 2,
		    .done = true};

		DRPC_CHECK_OK(drpc__frame_append(&in, &f));
	}
	m = (memsrc) {in.data, in.len, 0, 7, 0, DRPC_OK, 0};
	drpc__frame_reader_init(&r, memsrc_read, &m, max);
	for (size_t i = 0; i < 4; i++) {
		DRPC_CHECK_OK(drpc__frame_reader_next(&r, &fr));
		ck_assert_uint_eq(fr.len, i % 2 == 0 ? max : 3);
		ck_assert_uint_le(r.cap, max + DRPC__FRAME_HEADER_MAX);
	}
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_EOF);
	ck_assert_uint_eq(r.cap, max + DRPC__FRAME_HEADER_MAX);
	drpc__frame_reader_fini(&r);
	drpc__buf_fini(&in);
}
END_TEST

// The file-descriptor source over a pipe.
START_TEST(test_reader_fd)
{
	int                fds[2];
	drpc__frame_reader r;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(
	    write(fds[1], two_frames, sizeof(two_frames)), sizeof(two_frames));
	close(fds[1]);
	drpc__frame_reader_init(&r, drpc__read_fd, &fds[0], 0);
	check_two_frames(&r);
	drpc__frame_reader_fini(&r);
	close(fds[0]);
}
END_TEST

START_TEST(test_reader_fd_error)
{
	int                fd = -1;
	drpc__frame_reader r;
	drpc__frame        fr;

	drpc__frame_reader_init(&r, drpc__read_fd, &fd, 0);
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_EIO);
	drpc__frame_reader_fini(&r);
}
END_TEST

TU_SUITE(reader,
    TU_TEST("read", test_reader_chunks, .loops = 12),
    TU_TEST("read", test_reader_empty_input),
    TU_TEST("read", test_reader_large_frames),
    TU_TEST("read", test_reader_shrinks_after_large_frame, .loops = 3),
    TU_TEST("read", test_reader_large_then_larger),
    TU_TEST("read", test_reader_small_max),
    TU_TEST("read", test_reader_fd),
    TU_TEST("hostile", test_reader_truncated,
        .loops = (int) sizeof(two_frames) - 1),
    TU_TEST("hostile", test_reader_huge_claim),
    TU_TEST("hostile", test_reader_varint_too_long),
    TU_TEST("hostile", test_reader_read_error),
    TU_TEST("hostile", test_reader_fd_error))
