// Invoke metadata: key/value pairs a client sends with a call and the
// server's handler reads. Keys and values are byte strings with explicit
// lengths: what a client passes need not be NUL-terminated; what a
// handler reads (drpc_stream_md_get, drpc_stream_md_at) is terminated as
// well, so it may be used as a C string, while the length stays exact (a
// value may hold NUL bytes). The order of pairs carries no meaning.
//
// Thread safety: pairs are plain data; see each function's owner.
#ifndef DRPC_METADATA_H
#define DRPC_METADATA_H

#include <stddef.h>

#include <drpc/error.h>

#ifdef __cplusplus
extern "C" {
#endif

// drpc_md_pair is one key/value pair. The pointers are borrowed: a call
// copies what it sends before it returns.
typedef struct drpc_md_pair {
	const char *key;
	size_t      key_len;
	const char *value;
	size_t      value_len;
} drpc_md_pair;

// drpc_md_str makes a pair from two NUL-terminated strings (borrowed).
DRPC_API drpc_md_pair drpc_md_str(const char *key, const char *value);

// DRPC_MD_TIMEOUT_KEY is the reserved key that carries a call's deadline
// to the server (docs/protocol.md §9): the time left, in decimal
// nanoseconds, when the call was sent. The library adds and strips it; a
// peer that does not know it sees an ordinary pair and ignores it.
#define DRPC_MD_TIMEOUT_KEY "drpc-timeout-ns"

#ifdef __cplusplus
}
#endif

#endif // DRPC_METADATA_H
