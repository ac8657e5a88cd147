#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire/reader.h"

// READER_CHUNK is the initial buffer size: large enough that a stream of
// small frames costs one read() per many frames.
#define READER_CHUNK ((size_t) 64 << 10)

void
drpc__frame_reader_init(
    drpc__frame_reader *r, drpc__read_fn read, void *arg, size_t max_size)
{
	memset(r, 0, sizeof(*r));
	r->read     = read;
	r->arg      = arg;
	r->max_size = max_size == 0 ? DRPC__DEFAULT_MAX_SIZE : max_size;
	if (r->max_size > SIZE_MAX - DRPC__FRAME_HEADER_MAX) {
		r->max_size = SIZE_MAX - DRPC__FRAME_HEADER_MAX;
	}
}

void
drpc__frame_reader_fini(drpc__frame_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->start = r->end = 0;
}

// reader_make_room ensures free space after end: first by moving the
// unconsumed bytes to the front, then by growing up to the largest frame.
static drpc_err
reader_make_room(drpc__frame_reader *r)
{
	size_t   limit = r->max_size + DRPC__FRAME_HEADER_MAX;
	size_t   cap;
	uint8_t *p;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end < r->cap) {
		return DRPC_OK;
	}
	if (r->cap >= limit) {
		// Cannot happen: a frame longer than limit fails to parse.
		return DRPC_ETOOBIG;
	}
	cap = r->cap == 0 ? READER_CHUNK : r->cap * 2;
	if (cap > limit) {
		cap = limit;
	}
	if ((p = realloc(r->buf, cap)) == NULL) {
		return DRPC_ENOMEM;
	}
	r->buf = p;
	r->cap = cap;
	return DRPC_OK;
}

static drpc_err
reader_fill(drpc__frame_reader *r)
{
	size_t   n = 0;
	drpc_err rv;

	if (r->end == r->cap || r->start > 0) {
		if ((rv = reader_make_room(r)) != DRPC_OK) {
			return rv;
		}
	}
	if (r->before_read != NULL) {
		r->before_read(r->before_read_arg);
	}
	rv = r->read(r->arg, r->buf + r->end, r->cap - r->end, &n);
	if (rv != DRPC_OK) {
		return rv;
	}
	if (n == 0) {
		return r->start == r->end ? DRPC_EOF : DRPC_ETRUNC;
	}
	r->end += n;
	return DRPC_OK;
}

drpc_err
drpc__frame_reader_next(drpc__frame_reader *r, drpc__frame *fr)
{
	size_t   used;
	drpc_err rv;

	if (r->buf == NULL && r->sticky == DRPC_OK) {
		r->sticky = reader_make_room(r);
	}
	while (r->sticky == DRPC_OK) {
		rv = drpc__frame_parse(r->buf + r->start, r->end - r->start,
		    r->max_size, fr, &used);
		if (rv == DRPC_OK && used > 0) {
			r->start += used;
			r->offset += used;
			return DRPC_OK;
		}
		if (rv == DRPC_OK) {
			rv = reader_fill(r);
		}
		r->sticky = rv;
	}
	return r->sticky;
}

drpc_err
drpc__read_fd(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	int     fd = *(const int *) arg;
	ssize_t got;

	do {
		got = read(fd, buf, cap);
	} while (got < 0 && errno == EINTR);
	if (got < 0) {
		return DRPC_EIO;
	}
	*n = (size_t) got;
	return DRPC_OK;
}
