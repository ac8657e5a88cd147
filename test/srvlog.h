// A server's log (drpc_server_opts.log) kept in memory, for the causes it
// holds: tests wait for a line with srv_log_wait (bounded by
// tu_bound_ns), never for a time.
#ifndef DRPC_TEST_SRVLOG_H
#define DRPC_TEST_SRVLOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <drpc/drpc.h>

#include "testutil.h"

typedef struct srv_log {
	drpc_log_level  min;        // lines below it are dropped
	tu_sync         sync;       // guards text and len; broadcast: it grew
	char            text[8192]; // the lines, one after the other
	size_t          len;
} srv_log;

// srv_log_init makes l keep the lines at min and above; srv_log_attach
// makes the server of o log into l (before the server is created).
void srv_log_init(srv_log *l, drpc_log_level min);
void srv_log_fini(srv_log *l);
void srv_log_attach(srv_log *l, drpc_server_opts *o);

// srv_log_wait waits until the log holds a, and b if not NULL; false at
// the wait bound.
bool srv_log_wait(srv_log *l, const char *a, const char *b);

#endif // DRPC_TEST_SRVLOG_H
