#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"

void
drpc__logf(drpc_log_fn fn, void *arg, drpc_log_level level, const char *fmt,
    ...)
{
	char    line[1024]; // room for report.c's longest
	va_list ap;

	if (fn == NULL) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(arg, level, line);
}
