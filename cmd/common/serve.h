// What the programs of cmd/ share: serving a mux until SIGINT or SIGTERM,
// and reading counts from the command line. Compiled into each program
// that uses it (the Makefile's CMD_COMMON_OBJ); not part of the library.
#ifndef DRPC_CMD_COMMON_SERVE_H
#define DRPC_CMD_COMMON_SERVE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <drpc/drpc.h>

// cmd_signals_block blocks SIGINT and SIGTERM in the calling thread and
// puts them in set. Call it before any thread starts: every thread then
// inherits the mask, and only cmd_signals_wait takes the signals.
void cmd_signals_block(sigset_t *set);

// cmd_signals_wait waits for one of set's signals.
void cmd_signals_wait(const sigset_t *set);

// cmd_serve serves mux (and reflection of file, if not NULL) on addr with
// the options o (may be NULL) until SIGINT or SIGTERM, then shuts down
// gracefully within a second. Once listening it prints banner, " ", the
// address bound and a newline on stdout; its errors go to stderr as
// "prog: cause". Returns the exit status: 0, or 1 if it could not serve.
// The caller keeps mux (and destroys it after).
int cmd_serve(const char *prog, const char *banner, drpc_mux *mux,
    const drpc_reflect_file *file, const drpc_server_opts *o, const char *addr);

// cmd_parse_count reads a decimal count, without sign, of at most max,
// into *v; false if s is anything else.
bool cmd_parse_count(const char *s, unsigned long long max, size_t *v);

#endif // DRPC_CMD_COMMON_SERVE_H
