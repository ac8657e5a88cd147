#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/cause.h"

void
drpc_cause_clear(drpc_cause *c)
{
	if (c != NULL) {
		c->code    = DRPC_OK;
		c->text[0] = '\0';
	}
}

drpc_err
drpc__cause_set(drpc_cause *c, drpc_err code, const char *fmt, ...)
{
	va_list ap;

	if (c == NULL) {
		return code;
	}
	c->code = code;
	va_start(ap, fmt);
	(void) vsnprintf(c->text, sizeof(c->text), fmt, ap);
	va_end(ap);
	return code;
}

drpc_err
drpc__cause_errno(drpc_cause *c, drpc_err code, int err, const char *fmt, ...)
{
	char    why[128];
	size_t  n;
	va_list ap;

	if (c == NULL) {
		return code;
	}
	c->code = code;
	va_start(ap, fmt);
	(void) vsnprintf(c->text, sizeof(c->text), fmt, ap);
	va_end(ap);
	n = strlen(c->text);
	(void) snprintf(c->text + n, sizeof(c->text) - n, ": %s",
	    drpc__errno_text(err, why, sizeof(why)));
	return code;
}

void
drpc__cause_fill(drpc_cause *c)
{
	if (c->code != DRPC_OK && c->text[0] == '\0') {
		(void) snprintf(
		    c->text, sizeof(c->text), "%s", drpc_strerror(c->code));
	}
}

// strerror_r is the XSI one (int) under _POSIX_C_SOURCE and the GNU one
// (char *) when a build adds _GNU_SOURCE (the fuzz targets do): take
// either.
static const char *
errno_pick_int(int rv, char *buf)
{
	return rv == 0 ? buf : "unknown error";
}

static const char *
errno_pick_ptr(char *rv, char *buf)
{
	(void) buf;
	return rv;
}

#define ERRNO_PICK(rv, buf) \
	_Generic((rv), int : errno_pick_int, char * : errno_pick_ptr)(rv, buf)

const char *
drpc__errno_text(int err, char *buf, size_t cap)
{
	buf[0] = '\0';
	return ERRNO_PICK(strerror_r(err, buf, cap), buf);
}

const char *
drpc__cause_addr(const char *addr, char *buf)
{
	size_t keep = DRPC__CAUSE_ADDR_MAX - 3;

	if (strlen(addr) <= DRPC__CAUSE_ADDR_MAX) {
		return addr;
	}
	memcpy(buf, addr, keep);
	memcpy(buf + keep, "...", 4);
	return buf;
}
