// Helpers of the control-frame suites (check_ctrl.c, check_ctrl_server.c):
// their method names and the frames a receiver must drop. Their raw peer
// is rawpeer.h's.
#ifndef DRPC_TEST_CTRLUTIL_H
#define DRPC_TEST_CTRLUTIL_H

#include "rawpeer.h"

#define CR_ECHO "/c.S/Echo"
#define CR_HOLD "/c.S/Hold"
#define CR_MS   1000000ll

// cr_nonconforming: frames a receiver drops, in hex; each differs from a
// conforming PING in one way.
#define CR_NONCONFORMING 10
extern const char *const cr_nonconforming[CR_NONCONFORMING];

#endif // DRPC_TEST_CTRLUTIL_H
