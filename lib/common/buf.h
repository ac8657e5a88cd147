// drpc__buf: a growable byte buffer with one owner.
//
// len is the number of bytes in use, cap the number allocated. A zeroed
// drpc__buf is a valid empty buffer. Not thread-safe: the owner guards it.
#ifndef DRPC_COMMON_BUF_H
#define DRPC_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

typedef struct drpc__buf {
	uint8_t *data;
	size_t   len;
	size_t   cap;
} drpc__buf;

// drpc__buf_reserve makes room for at least extra more bytes after len.
// Capacity grows geometrically, so repeated appends are amortised O(1).
// Returns DRPC_ENOMEM (buffer unchanged) if allocation or the size
// arithmetic fails.
drpc_err drpc__buf_reserve(drpc__buf *b, size_t extra);

// drpc__buf_append copies n bytes from p to the end of b.
drpc_err drpc__buf_append(drpc__buf *b, const void *p, size_t n);

// drpc__buf_fini frees the storage and leaves b empty and reusable.
void drpc__buf_fini(drpc__buf *b);

#endif // DRPC_COMMON_BUF_H
