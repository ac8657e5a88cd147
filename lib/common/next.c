// The copy of an interceptor chain and its stats (common/next.h), for
// the server (lib/server/intercept.c) and the client (lib/client/intercept.c).
#include <stdlib.h>
#include <string.h>

#include "common/next.h"

drpc_err
drpc__chain_create(drpc__chain **out, const void *v, size_t n, size_t elem,
    const drpc_stats_handler *stats)
{
	drpc__chain *c;

	*out = NULL;
	if (n == 0 && stats == NULL) {
		return DRPC_OK;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return DRPC_ENOMEM;
	}
	if (n > 0) {
		if ((c->v = malloc(n * elem)) == NULL) {
			free(c);
			return DRPC_ENOMEM;
		}
		memcpy(c->v, v, n * elem);
		c->n = n;
	}
	if (stats != NULL) {
		c->stats     = *stats;
		c->has_stats = true;
	}
	*out = c;
	return DRPC_OK;
}

void
drpc__chain_free(drpc__chain *c)
{
	if (c != NULL) {
		free(c->v);
		free(c);
	}
}
