#include "wire/varint.h"

size_t
drpc__varint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

uint8_t *
drpc__varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t) ((v & 0x7f) | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t) v;
	return p;
}

drpc_err
drpc__varint_read(const uint8_t *buf, size_t len, uint64_t *v, size_t *used)
{
	uint64_t value = 0;

	for (size_t i = 0; i < DRPC__VARINT_MAX; i++) {
		if (i == len) {
			*used = 0; // the varint runs off the end: need more
			return DRPC_OK;
		}
		uint8_t b = buf[i];
		// Of the 10th byte only bit 0 fits in 64 bits. Every Go
		// encoder writes 01 there at most, so anything larger is an
		// overflow, not a value we could represent.
		if (i == DRPC__VARINT_MAX - 1 && b > 1) {
			return DRPC_EVARINT;
		}
		value |= (uint64_t) (b & 0x7f) << (7 * i);
		if (b < 0x80) {
			*v    = value;
			*used = i + 1;
			return DRPC_OK;
		}
	}
	return DRPC_EVARINT;
}
