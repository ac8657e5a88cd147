// The control-frame suites' frames (ctrlutil.h).
#include "ctrlutil.h"

// Frames a receiver drops: each differs from a conforming PING in one way.
const char *const cr_nonconforming[CR_NONCONFORMING] = {
    "43 00 00 01 01",                               // no control flag
    "c2 00 00 01 01",                               // not done
    "c3 01 00 01 01",                               // stream 1
    "c3 00 01 01 01",                               // message id 1
    "c3 00 00 00",                                  // empty body
    "c3 00 00 02 01 01",                            // two varints
    "c3 00 00 01 80",                               // a truncated varint
    "c3 00 00 0b ff ff ff ff ff ff ff ff ff ff 01", // 11 varint bytes
    "c1 00 00 01 01", // kind 32 (hello), not a control kind
    "cb 00 00 01 01", // kind 37
};
