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

START_TEST(test_reader_empty_input)
{
	memsrc             m = {two_frames, 0, 0, 0, 0, DRPC_OK, 0};
	drpc__frame_reader r;
	drpc__frame        fr;

	drpc__frame_reader_init(&r, memsrc_read, &m, 0);
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_EOF);
	drpc__frame_reader_fini(&r);
}
END_TEST

// Input that stops at every point inside the second frame is truncated.
START_TEST(test_reader_truncated)
{
	memsrc             m = {two_frames, (size_t) _i, 0, 1, 0, DRPC_OK, 0};
	drpc__frame_reader r;
	drpc__frame        fr;

	drpc__frame_reader_init(&r, memsrc_read, &m, 0);
	if (_i >= 6) {
		DRPC_CHECK_OK(drpc__frame_reader_next(&r, &fr));
	}
	// Stopping exactly between the frames is a clean end.
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr),
	    _i == 6 ? DRPC_EOF : DRPC_ETRUNC);
	drpc__frame_reader_fini(&r);
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
	memsrc               m = {in, sizeof(in), 0, 1, 0, DRPC_OK, 0};
	drpc__frame_reader   r;
	drpc__frame          fr;

	drpc__frame_reader_init(&r, memsrc_read, &m, 0);
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_EVARINT);
	drpc__frame_reader_fini(&r);
}
END_TEST

// A read error is reported as the source gave it, after the good frames.
START_TEST(test_reader_read_error)
{
	memsrc             m = {two_frames, 6, 0, 0, 0, DRPC_EIO, 0};
	drpc__frame_reader r;
	drpc__frame        fr;

	drpc__frame_reader_init(&r, memsrc_read, &m, 0);
	DRPC_CHECK_OK(drpc__frame_reader_next(&r, &fr));
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &fr), DRPC_EIO);
	drpc__frame_reader_fini(&r);
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

Suite *
reader_suite(void)
{
	Suite *s       = suite_create("reader");
	TCase *read    = tcase_create("read");
	TCase *hostile = tcase_create("hostile");

	tcase_add_loop_test(read, test_reader_chunks, 0, 12);
	tcase_add_test(read, test_reader_empty_input);
	tcase_add_test(read, test_reader_large_frames);
	tcase_add_test(read, test_reader_fd);
	tcase_add_loop_test(hostile, test_reader_truncated, 1,
	    (int) sizeof(two_frames));
	tcase_add_test(hostile, test_reader_huge_claim);
	tcase_add_test(hostile, test_reader_varint_too_long);
	tcase_add_test(hostile, test_reader_read_error);
	tcase_add_test(hostile, test_reader_fd_error);
	suite_add_tcase(s, read);
	suite_add_tcase(s, hostile);
	return s;
}
