// Causes: a failure's code with a text naming it (drpc_cause,
// include/drpc/error.h). The layer that detects a failure fills the record
// its caller handed it; nothing here is global.
#ifndef DRPC_COMMON_CAUSE_H
#define DRPC_COMMON_CAUSE_H

#include <stddef.h>

#include <drpc/error.h>

// DRPC__CAUSE_ADDR_MAX bounds an address quoted in a cause's text, so the
// reason that follows it always fits.
#define DRPC__CAUSE_ADDR_MAX 96

// drpc__cause_set sets c to code and the formatted text, and returns code.
// c may be NULL: then it only returns code.
drpc_err drpc__cause_set(drpc_cause *c, drpc_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// drpc__cause_errno is drpc__cause_set with ": " and the text of the errno
// value err appended.
drpc_err drpc__cause_errno(drpc_cause *c, drpc_err code, int err,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

// drpc__cause_fill gives c the code's drpc_strerror text if it has no text
// of its own, so a cause with an error code is never blank.
void drpc__cause_fill(drpc_cause *c);

// drpc__errno_text writes the text of the errno value err into buf (cap
// bytes) and returns it: strerror, safe from any thread.
const char *drpc__errno_text(int err, char *buf, size_t cap);

// drpc__cause_addr returns addr, or a copy in buf shortened with "..." to
// DRPC__CAUSE_ADDR_MAX bytes. buf has DRPC__CAUSE_ADDR_MAX + 1 bytes.
const char *drpc__cause_addr(const char *addr, char *buf);

#endif // DRPC_COMMON_CAUSE_H
