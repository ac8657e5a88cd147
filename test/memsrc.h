// A drpc__read_fn over memory that hands out at most `chunk` bytes a read,
// so tests can feed the reader every fragmentation of an input.
#ifndef DRPC_TEST_MEMSRC_H
#define DRPC_TEST_MEMSRC_H

#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

typedef struct memsrc {
	const uint8_t *data;
	size_t         len;
	size_t         pos;
	size_t         chunk;    // 0: everything left in one read
	uint32_t       seed;     // nonzero: random chunk sizes 1..chunk
	drpc_err       fail;     // returned once the data is used up, if set
	size_t         reads;    // number of read calls so far
} memsrc;

drpc_err memsrc_read(void *arg, uint8_t *buf, size_t cap, size_t *n);

#endif // DRPC_TEST_MEMSRC_H
