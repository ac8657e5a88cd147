// drpc__frame_reader: a buffered frame reader over any byte source.
//
// It reads in large chunks, hands out frames that point into its buffer,
// and never allocates more than max_size + DRPC__FRAME_HEADER_MAX bytes: a
// declared length beyond max_size is rejected as soon as the header is
// complete, without waiting for (or allocating) the claimed body. The
// buffer is 64 KiB at rest; a larger frame gets a buffer of exactly its
// size while it arrives, and the buffer returns to 64 KiB once that frame
// has been consumed: whenever the reader reads, cap is 64 KiB or the size
// of the frame in progress, whichever is larger.
// Errors are sticky: after one, every later call returns it again.
// Not thread-safe: one reader has one owner (the connection's reader
// thread).
#ifndef DRPC_WIRE_READER_H
#define DRPC_WIRE_READER_H

#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#include "wire/frame.h"

// drpc__read_fn reads up to cap bytes into buf. It blocks until at least one
// byte is available; *n == 0 with DRPC_OK means end of input. Any other
// result is an error the reader reports unchanged.
typedef drpc_err (*drpc__read_fn)(
    void *arg, uint8_t *buf, size_t cap, size_t *n);

typedef struct drpc__frame_reader {
	drpc__read_fn read;
	void         *arg;
	size_t        max_size; // largest frame body accepted
	uint8_t      *buf;
	size_t        cap;
	size_t        start; // first unconsumed byte
	size_t        end;   // one past the last byte read
	uint64_t      offset; // input offset of buf[start], for diagnostics
	drpc_err      sticky; // first error; DRPC_OK until then
	bool          skip_oversize; // set by the owner: see _next
	uint64_t      skip; // body bytes of an oversize frame still to pass
	// why explains sticky in words ("frame of 5000000 bytes on stream 1
	// exceeds the 4194304-byte maximum"); the read function's own errors
	// get the code alone, with an empty text, for the owner to explain.
	drpc_cause why;
	// before_read, if set, is called each time the reader is about to call
	// read for more bytes (and so may block): its owner's moment to hand
	// over work gathered from the bytes already parsed.
	void (*before_read)(void *arg);
	void *before_read_arg;
} drpc__frame_reader;

// drpc__frame_reader_init prepares r to read from read(arg, ...).
// max_size 0 means DRPC__DEFAULT_MAX_SIZE.
void drpc__frame_reader_init(
    drpc__frame_reader *r, drpc__read_fn read, void *arg, size_t max_size);

// drpc__frame_reader_next blocks until a whole frame is available.
// DRPC_OK: *fr is the next frame; fr->data is valid until the next call.
// With skip_oversize set, a frame longer than max_size is not an error
// for the connection: DRPC_ETOOBIG comes back (not sticky) with *fr
// describing its header (data NULL, len the declared length, saturated),
// and the next call first reads past its body without buffering it.
// DRPC_EOF: the input ended cleanly at a frame boundary.
// DRPC_ETRUNC: the input ended inside a frame.
// DRPC_EVARINT, DRPC_ETOOBIG: malformed header (see drpc__frame_parse).
// DRPC_ENOMEM, or the read function's own error.
drpc_err drpc__frame_reader_next(drpc__frame_reader *r, drpc__frame *fr);

// drpc__frame_reader_prime puts n bytes read from the input by someone
// else (at most DRPC__FRAME_HEADER_MAX) before what the reader will read:
// only before the first read. Errors: DRPC_ESTATE (too late, or too many
// bytes), DRPC_ENOMEM.
drpc_err drpc__frame_reader_prime(
    drpc__frame_reader *r, const uint8_t *p, size_t n);

// drpc__frame_reader_fini frees r's buffer.
void drpc__frame_reader_fini(drpc__frame_reader *r);

// drpc__read_fd is a drpc__read_fn over a file descriptor; arg points to
// the int fd. EINTR is retried; other failures give DRPC_EIO.
drpc_err drpc__read_fd(void *arg, uint8_t *buf, size_t cap, size_t *n);

#endif // DRPC_WIRE_READER_H
