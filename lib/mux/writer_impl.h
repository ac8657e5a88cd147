// What writer.c (appends, credit, stop) and drain.c (who writes: the
// token, the drain thread, flushes, the direct path) share. Every
// function here is called with the writer's mu held, but drpc__writer_main.
#ifndef DRPC_MUX_WRITER_IMPL_H
#define DRPC_MUX_WRITER_IMPL_H

#include "mux/writer.h"

// WRITER_DIRECT_MIN: a Message this large, on a transport that can be
// written without blocking, goes by the direct path (drain.c).
#define DRPC__WRITER_DIRECT_MIN ((size_t) 64 << 10)

// drpc__writer_unwritten_locked is what waits to be written: the active
// buffer and what is left of the one being written.
size_t drpc__writer_unwritten_locked(const drpc__writer *w);

// drpc__writer_unheld_locked is what waits to be written of the packets
// that never wait for room (terminal and control ones).
size_t drpc__writer_unheld_locked(const drpc__writer *w);

// drpc__writer_note_locked follows every append: it notes a backlog.
void drpc__writer_note_locked(drpc__writer *w);

// drpc__writer_pass_locked wakes the sleeping drain thread if what is
// buffered has nobody else to write it (see drain.c).
void drpc__writer_pass_locked(drpc__writer *w);

// drpc__writer_kick_locked follows an append that nobody flushes.
void drpc__writer_kick_locked(drpc__writer *w);

// drpc__writer_take_locked takes the write token; drpc__writer_wrote_locked
// records bytes of the spare written.
void drpc__writer_take_locked(drpc__writer *w);
void drpc__writer_wrote_locked(drpc__writer *w, size_t put);

// drpc__writer_send_direct_locked sends one large Message of ws by the
// direct path; *sent is its body bytes that went out (or will, in whole
// frames). Errors as drpc__writer_send's.
drpc_err drpc__writer_send_direct_locked(drpc__writer *w, drpc__wstate *ws,
    drpc__packet *pkt, int64_t deadline_ns, size_t *sent);

// drpc__writer_main is the drain thread.
void *drpc__writer_main(void *arg);

#endif // DRPC_MUX_WRITER_IMPL_H
