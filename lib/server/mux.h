// Internal view of the handler table.
#ifndef DRPC_SERVER_MUX_H
#define DRPC_SERVER_MUX_H

#include <stdbool.h>
#include <stddef.h>

#include <drpc/server.h>

typedef struct drpc__mux_entry {
	char           *name;
	size_t          name_len;
	drpc_handler_fn fn;
	void           *user;
} drpc__mux_entry;

// drpc__mux_lookup finds a method by its bytes; NULL if unknown.
const drpc__mux_entry *drpc__mux_lookup(
    const drpc_mux *m, const void *name, size_t len);

#endif // DRPC_SERVER_MUX_H
