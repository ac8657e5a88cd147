#include <string.h>

#include "memsrc.h"

drpc_err
memsrc_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	memsrc *m    = arg;
	size_t  want = m->len - m->pos;

	m->reads++;
	if (want == 0 && m->fail != DRPC_OK) {
		return m->fail;
	}
	if (m->chunk > 0 && want > m->chunk) {
		want = m->chunk;
	}
	if (m->seed != 0 && want > 1) {
		m->seed = m->seed * 1103515245u + 12345u;
		want    = 1 + (m->seed >> 8) % want;
	}
	if (want > cap) {
		want = cap;
	}
	if (want > 0) {
		memcpy(buf, m->data + m->pos, want);
	}
	m->pos += want;
	*n = want;
	return DRPC_OK;
}
