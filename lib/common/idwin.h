// drpc__idwin: which stream ids a server connection has already taken, in
// fixed memory however many streams the connection carries.
//
// A multiplexing client may write Invokes out of id order (cockroachdb/drpc
// picks an id when a stream is created and writes its Invoke later), so a
// server cannot require each new id to be above the last. It must still
// refuse an id used before. The window remembers every id in
// (top - DRPC__IDWIN_SPAN, top], top being the highest id taken; an id
// further below top counts as taken (a client's concurrency would have to
// exceed the span for a legitimate Invoke to land there: protocol.md §9).
// Not thread-safe: the connection's reader owns it.
#ifndef DRPC_COMMON_IDWIN_H
#define DRPC_COMMON_IDWIN_H

#include <stdbool.h>
#include <stdint.h>

#define DRPC__IDWIN_SPAN 4096 // ids remembered below the highest

typedef struct drpc__idwin {
	uint64_t top; // highest id taken; 0: none yet
	uint64_t bits[DRPC__IDWIN_SPAN / 64]; // bit id % SPAN: taken
} drpc__idwin;

// drpc__idwin_taken tells whether id may not start a stream: 0, an id
// taken before, or one more than the span below the highest taken.
bool drpc__idwin_taken(const drpc__idwin *w, uint64_t id);

// drpc__idwin_take marks id (not taken: check first) as taken.
void drpc__idwin_take(drpc__idwin *w, uint64_t id);

#endif // DRPC_COMMON_IDWIN_H
