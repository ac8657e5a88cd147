// Logging hook. The library prints nothing on its own: events worth
// telling (a handler's failure, a connection ending on a protocol error)
// go to the callback given in the options, if any.
//
// Thread safety: the callback is called from library threads (readers,
// handler workers) and callers' threads, possibly concurrently; it must be
// thread-safe and must not call back into the object that logged.
#ifndef DRPC_LOG_H
#define DRPC_LOG_H

#include <drpc/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum drpc_log_level {
	DRPC_LOG_DEBUG = 0,
	DRPC_LOG_INFO  = 1,
	DRPC_LOG_WARN  = 2,
	DRPC_LOG_ERROR = 3,
} drpc_log_level;

// drpc_log_fn receives one message (a NUL-terminated line without a
// newline, valid during the call only).
typedef void (*drpc_log_fn)(void *arg, drpc_log_level level, const char *msg);

#ifdef __cplusplus
}
#endif

#endif // DRPC_LOG_H
