#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

drpc_err
drpc__buf_reserve(drpc__buf *b, size_t extra)
{
	size_t   need;
	size_t   cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len) {
		return DRPC_ENOMEM;
	}
	need = b->len + extra;
	if (need <= b->cap) {
		return DRPC_OK;
	}
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap < need) {
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	}
	p = realloc(b->data, cap);
	if (p == NULL) {
		return DRPC_ENOMEM;
	}
	b->data = p;
	b->cap  = cap;
	return DRPC_OK;
}

drpc_err
drpc__buf_append(drpc__buf *b, const void *p, size_t n)
{
	drpc_err rv;

	if (n == 0) {
		return DRPC_OK;
	}
	if ((rv = drpc__buf_reserve(b, n)) != DRPC_OK) {
		return rv;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return DRPC_OK;
}

void
drpc__buf_fini(drpc__buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len  = 0;
	b->cap  = 0;
}
