// A server's log kept in memory (srvlog.h).
#include "srvlog.h"

#include <stdio.h>
#include <string.h>

#include "connutil.h"
#include "platform/thread.h"
#include "testutil.h"

static void
srv_log_fn(void *arg, drpc_log_level level, const char *msg)
{
	srv_log *l = arg;
	int      n;

	if (level < l->min) {
		return;
	}
	tu_sync_lock(&l->sync);
	n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s\n", msg);
	if (n > 0) {
		l->len += (size_t) n < sizeof(l->text) - l->len
		              ? (size_t) n
		              : sizeof(l->text) - l->len - 1;
	}
	tu_sync_unlock_broadcast(&l->sync);
}

void
srv_log_init(srv_log *l, drpc_log_level min)
{
	memset(l, 0, sizeof(*l));
	l->min = min;
	tu_sync_init(&l->sync);
}

void
srv_log_fini(srv_log *l)
{
	tu_sync_fini(&l->sync);
}

void
srv_log_attach(srv_log *l, drpc_server_opts *o)
{
	o->log     = srv_log_fn;
	o->log_arg = l;
}

bool
srv_log_wait(srv_log *l, const char *a, const char *b)
{
	int64_t until = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	bool    found;

	tu_sync_lock(&l->sync);
	while (
	    !(found = strstr(l->text, a) != NULL &&
	              (b == NULL || strstr(l->text, b) != NULL)) &&
	    drpc__cond_wait_until(&l->sync.cv, &l->sync.mu, until) == DRPC_OK) {
	}
	tu_sync_unlock(&l->sync);
	return found;
}
