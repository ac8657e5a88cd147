// drpc-interop's parts: the Echo service and the scenario checks.
#ifndef DRPC_CMD_INTEROP_TOOL_H
#define DRPC_CMD_INTEROP_TOOL_H

#include <stdbool.h>

#include <drpc/drpc.h>

// interop_register adds the Echo service to mux.
drpc_err interop_register(drpc_mux *mux);

// interop_check runs every scenario against addr, printing one PASS/FAIL
// line each and the totals; returns the number of failures.
int interop_check(
    const char *addr, drpc_multiplex_mode multiplex, drpc_flow_mode flow);

#endif // DRPC_CMD_INTEROP_TOOL_H
