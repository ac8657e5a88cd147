#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cause.h"
#include "wire/reader.h"

// READER_CHUNK is the buffer's size at rest: large enough that a stream of
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

// reader_rest is the buffer's size at rest: READER_CHUNK, or less if no
// frame can be that long.
static size_t
reader_rest(const drpc__frame_reader *r)
{
	size_t limit = r->max_size + DRPC__FRAME_HEADER_MAX;

	return limit < READER_CHUNK ? limit : READER_CHUNK;
}

// reader_want is the capacity the buffer should have when more bytes are
// needed: its size at rest, or the whole frame the unconsumed bytes (at
// the front) begin when its header says it is larger. Those bytes are
// always a proper prefix of one frame: the reader asks for more only when
// no whole frame is left.
static size_t
reader_want(const drpc__frame_reader *r)
{
	size_t need = drpc__frame_size(r->buf, r->end);
	size_t rest = reader_rest(r);

	return need > rest ? need : rest;
}

// reader_make_room ensures free space after end: first by moving the
// unconsumed bytes to the front, then by resizing the buffer to what the
// frame in progress needs. So the buffer is reader_rest at rest, grows to
// exactly a larger frame's size while it arrives (one realloc), and
// shrinks back once it has been consumed: an idle connection does not keep
// the largest frame it ever received.
static drpc_err
reader_make_room(drpc__frame_reader *r)
{
	size_t   want;
	uint8_t *p;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end < r->cap && r->cap == reader_rest(r)) {
		return DRPC_OK; // the common case: room, and the usual size
	}
	want = reader_want(r);
	if (want == r->cap) {
		return DRPC_OK; // a large frame in progress, with room for it
	}
	if (want > r->max_size + DRPC__FRAME_HEADER_MAX) {
		// Cannot happen: a frame longer than that fails to parse.
		return drpc__cause_set(&r->why, DRPC_ETOOBIG,
		    "frame longer than the %zu-byte maximum", r->max_size);
	}
	if ((p = realloc(r->buf, want)) == NULL) {
		if (want < r->cap) {
			return DRPC_OK; // could not shrink: keep the larger one
		}
		return drpc__cause_set(&r->why, DRPC_ENOMEM,
		    "out of memory for a %zu-byte read buffer", want);
	}
	r->buf = p;
	r->cap = want;
	return DRPC_OK;
}

drpc_err
drpc__frame_reader_prime(drpc__frame_reader *r, const uint8_t *p, size_t n)
{
	size_t cap = reader_rest(r);

	if (r->buf != NULL || r->end != 0 || n > cap) {
		return DRPC_ESTATE;
	}
	if (n == 0) {
		return DRPC_OK;
	}
	if ((r->buf = malloc(cap)) == NULL) {
		return drpc__cause_set(&r->why, DRPC_ENOMEM,
		    "out of memory for a %zu-byte read buffer", cap);
	}
	r->cap = cap;
	memcpy(r->buf, p, n);
	r->end = n;
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
		r->why.code    = rv; // the owner's to explain
		r->why.text[0] = '\0';
		return rv;
	}
	if (n == 0 && r->start == r->end) {
		return drpc__cause_set(
		    &r->why, DRPC_EOF, "peer closed the connection (EOF)");
	}
	if (n == 0) {
		return drpc__cause_set(&r->why, DRPC_ETRUNC,
		    "peer closed the connection in the middle of a frame (%zu "
		    "bytes of it received)",
		    r->end - r->start);
	}
	r->end += n;
	return DRPC_OK;
}

// reader_explain words a malformed frame header: fr describes the frame
// when its length is too big (drpc__frame_parse).
static void
reader_explain(drpc__frame_reader *r, drpc_err rv, const drpc__frame *fr)
{
	if (rv == DRPC_ETOOBIG) {
		(void) drpc__cause_set(&r->why, rv,
		    "frame of %zu bytes on stream %llu exceeds the %zu-byte "
		    "maximum",
		    fr->len, (unsigned long long) fr->stream_id, r->max_size);
	} else {
		(void) drpc__cause_set(&r->why, rv,
		    "malformed varint (longer than 10 bytes or overflowing 64 "
		    "bits) in the header of the frame at byte %llu",
		    (unsigned long long) r->offset);
	}
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
		if (r->skip > 0) {
			// The body of an oversize frame: read and dropped.
			size_t n = r->end - r->start;

			n = (uint64_t) n > r->skip ? (size_t) r->skip : n;
			r->start += n;
			r->offset += n;
			r->skip -= n;
			if (r->skip > 0 && (rv = reader_fill(r)) != DRPC_OK) {
				if (rv == DRPC_EOF) {
					rv = drpc__cause_set(&r->why,
					    DRPC_ETRUNC,
					    "peer closed the connection in "
					    "the middle of a frame (%llu "
					    "bytes of its body missing)",
					    (unsigned long long) r->skip);
				}
				r->sticky = rv;
			}
			continue;
		}
		rv = drpc__frame_parse(r->buf + r->start, r->end - r->start,
		    r->max_size, fr, &used);
		if (rv == DRPC_ETOOBIG && r->skip_oversize) {
			r->start += used;
			r->offset += used;
			r->skip = fr->len; // saturated at SIZE_MAX: still fine
			reader_explain(r, rv, fr);
			return DRPC_ETOOBIG;
		}
		if (rv == DRPC_OK && used > 0) {
			r->start += used;
			r->offset += used;
			return DRPC_OK;
		}
		if (rv == DRPC_OK) {
			rv = reader_fill(r);
		} else {
			reader_explain(r, rv, fr);
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
