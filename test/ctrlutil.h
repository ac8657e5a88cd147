// Helpers of the control-frame suites (check_ctrl.c, check_ctrl_server.c):
// a raw peer on a socket, which writes frames byte for byte and reads what
// the other side sends (each read bounded by TU_WAIT_NS, scaled), and the
// frames a receiver must drop.
#ifndef DRPC_TEST_CTRLUTIL_H
#define DRPC_TEST_CTRLUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "wire/frame.h"
#include "wire/reader.h"

#define CR_ECHO "/c.S/Echo"
#define CR_HOLD "/c.S/Hold"
#define CR_MS   1000000ll

// cr_nonconforming: frames a receiver drops, in hex; each differs from a
// conforming PING in one way.
#define CR_NONCONFORMING 10
extern const char *const cr_nonconforming[CR_NONCONFORMING];

typedef struct cr_raw {
	int                fd;
	drpc__frame_reader fr;
} cr_raw;

// cr_init makes r the peer on fd (r owns it); cr_close closes it.
void cr_init(cr_raw *r, int fd);
void cr_close(cr_raw *r);

// cr_send writes one whole frame (done set); cr_hex writes hex bytes.
void cr_send(cr_raw *r, uint8_t kind, bool control, uint64_t sid, uint64_t mid,
    const void *body, size_t len);
void cr_hex(cr_raw *r, const char *hex);

// cr_frame_put appends one whole frame (done set) to b.
void cr_frame_put(drpc__buf *b, uint8_t kind, bool control, uint64_t sid,
    uint64_t mid, const void *body, size_t len);

// cr_frames_until reads frames from fr until one of kind on stream sid
// arrives (*f), counting the control frames of this extension on the way
// in *ctrl; cr_until does it on r's frames.
void cr_frames_until(drpc__frame_reader *fr, uint8_t kind, uint64_t sid,
    drpc__frame *f, size_t *ctrl);
void cr_until(
    cr_raw *r, uint8_t kind, uint64_t sid, drpc__frame *f, size_t *ctrl);

// cr_frames_rest reads fr to its end, counting the control frames of this
// extension; all must be of kind (0: none may come).
size_t cr_frames_rest(drpc__frame_reader *fr, unsigned kind);

// cr_next_on reads up to the next frame of stream sid.
void cr_next_on(cr_raw *r, uint64_t sid, drpc__frame *f);

// cr_call writes a plain unary call of CR_ECHO on stream sid (Invoke,
// Message "hi", CloseSend) and reads up to the server's CloseSend.
void cr_call(cr_raw *r, uint64_t sid, size_t *ctrl);

// cr_hello_body writes the hello body a libdrpc client sends (1 MiB
// window, charge 64, 16 MiB connection window) with the features given.
size_t cr_hello_body(uint8_t *out, uint64_t features);

#endif // DRPC_TEST_CTRLUTIL_H
