// drpc__logf formats one message for a user's log hook (drpc/log.h); a
// NULL hook costs nothing but the call.
#ifndef DRPC_COMMON_LOG_H
#define DRPC_COMMON_LOG_H

#include <drpc/log.h>

void drpc__logf(drpc_log_fn fn, void *arg, drpc_log_level level,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif // DRPC_COMMON_LOG_H
