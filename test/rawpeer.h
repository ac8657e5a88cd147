// A raw peer: the test plays a DRPC peer byte by byte on its end of a
// socket. One module for every suite that scripts one (check_conn_errors,
// check_bounds, check_flow, check_ctrl*, check_hostile*...):
//
// - build frames into a drpc__buf (rp_frame, rp_packet, and the common
//   sequences: rp_unary, rp_hello, rp_window), well-formed or
//   not (a hostile peer writes malformed frames with the same calls);
// - send them (rp_send, rp_send_buf, rp_hex for odd bytes, rp_write);
// - read and match what comes back (rp_next, rp_expect, rp_until,
//   rp_next_on, rp_rest), every read bounded by TU_WAIT_NS (scaled).
//
// The builders check with a plain if, never ck_assert (attacks build
// frames by the thousand: test/README.md rule 7). The send and expect
// calls assert, naming the frame, so they belong on the test's thread.
//
// A connection with a raw peer (the conn under test on one end of a
// socketpair) is connutil.h's tu_raw, whose peer member is an rp_peer.
#ifndef DRPC_TEST_RAWPEER_H
#define DRPC_TEST_RAWPEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "wire/frame.h"
#include "wire/reader.h"

typedef struct rp_peer {
	int                fd;
	drpc__frame_reader fr;
} rp_peer;

// rp_init makes p the peer on fd (p owns it from then on); rp_close
// closes the fd (unless rp_reset did) and frees the reader.
void rp_init(rp_peer *p, int fd);
void rp_close(rp_peer *p);

// rp_reset closes p's TCP socket abortively (SO_LINGER {1, 0}: the other
// side reads a reset); rp_close must still free the reader.
void rp_reset(rp_peer *p);

// Building frames.

// rp_frame appends one frame; body NULL means len zero bytes.
void rp_frame(drpc__buf *b, uint8_t kind, bool control, bool done, uint64_t sid,
    uint64_t mid, const void *body, size_t len);

// rp_packet appends a packet split in frames of at most split bytes (done
// on the last, unless half: then the packet is left unfinished). body
// NULL means len zero bytes.
void rp_packet(drpc__buf *b, uint8_t kind, uint64_t sid, uint64_t mid,
    const void *body, size_t len, size_t split, bool half);

// rp_unary appends a whole unary call on sid: Invoke(method), the request
// as one Message (split in frames of at most split bytes), CloseSend;
// message ids from mid. Returns the next message id.
uint64_t rp_unary(drpc__buf *b, uint64_t sid, uint64_t mid, const char *method,
    const void *req, size_t len, size_t split);

// rp_hello_body writes a hello body with these figures at out
// (DRPC__HELLO_BODY_MAX bytes of room) and returns its length;
// rp_hello_default is the one a libdrpc client sends (1 MiB window,
// charge 64, 16 MiB connection window) with the features given.
size_t rp_hello_body(uint8_t *out, uint64_t window, uint64_t cost,
    uint64_t conn_window, uint64_t features);
size_t rp_hello_default(uint8_t *out, uint64_t features);

// rp_hello appends the control hello (kind 32) with these figures.
void rp_hello(drpc__buf *b, uint64_t sid, uint64_t mid, uint64_t window,
    uint64_t cost, uint64_t conn_window, uint64_t features);

// rp_window appends a window update of delta on sid (which need not be
// valid: 0 makes a malformed one).
void rp_window(drpc__buf *b, uint64_t sid, uint64_t delta);

// Sending. Each fails the test unless every byte is written.

void rp_write(rp_peer *p, const void *bytes, size_t n);
// rp_hex writes a string of hex pairs (spaces ignored), for odd bytes.
void rp_hex(rp_peer *p, const char *hex);
// rp_send writes one whole frame (done set).
void rp_send(rp_peer *p, uint8_t kind, bool control, uint64_t sid, uint64_t mid,
    const void *body, size_t len);
// rp_send_buf writes b and empties it (b stays usable).
void rp_send_buf(rp_peer *p, drpc__buf *b);

// Reading.

// rp_next reads the next frame (DRPC_ETIMEDOUT after the wait bound,
// DRPC_EOF at the end); f->data stays valid until the next read.
drpc_err rp_next(rp_peer *p, drpc__frame *f);

// rp_want is what an expected frame must be: its kind and stream, its
// message id unless any_mid, the control bit, done unless partial, and
// its body: exactly (len bytes), or beginning with it if prefix, or
// anything if body is NULL.
typedef struct rp_want {
	uint8_t     kind;
	uint64_t    sid;
	uint64_t    mid;
	bool        any_mid;
	bool        control;
	bool        partial;
	const void *body;
	size_t      len;
	bool        prefix;
} rp_want;

// rp_expect reads the next frame into *f (f may be NULL) and fails the
// test, naming the frame it got and the one it wanted, unless it matches
// w. Write w in place: rp_expect(p, &f, (rp_want){.kind = ..., .sid = 1}).
void rp_expect(rp_peer *p, drpc__frame *f, rp_want w);

// rp_expect_packet expects a one-frame packet: kind on sid, message mid,
// done, not control, body exactly the string body ("" for none).
void rp_expect_packet(
    rp_peer *p, uint8_t kind, uint64_t sid, uint64_t mid, const char *body);

// rp_expect_eof expects the other side to have shut the connection down
// with no frame before.
void rp_expect_eof(rp_peer *p);

// rp_frame_matches is rp_expect's comparison, without asserting; it
// writes why not into why (cap bytes) when it does not match.
bool rp_frame_matches(
    const drpc__frame *f, const rp_want *w, char *why, size_t cap);

// rp_frames_until reads frames from fr until one of kind on stream sid
// arrives (*f), counting on the way the control frames of the ping and
// goaway extension (wire/control.h) in *ctrl (ctrl may be NULL); rp_until
// does it on p's frames. Either fails the test if the frames end first.
void rp_frames_until(drpc__frame_reader *fr, uint8_t kind, uint64_t sid,
    drpc__frame *f, size_t *ctrl);
void rp_until(
    rp_peer *p, uint8_t kind, uint64_t sid, drpc__frame *f, size_t *ctrl);

// rp_frames_rest reads fr to its end, counting the control frames of the
// extension; all must be of kind (0: none may come).
size_t rp_frames_rest(drpc__frame_reader *fr, unsigned kind);

// rp_next_on reads up to the next frame of stream sid.
void rp_next_on(rp_peer *p, uint64_t sid, drpc__frame *f);

// rp_call writes a plain unary call of method on stream sid (Invoke,
// Message body, CloseSend, message ids 1 to 3) and reads up to the
// other side's CloseSend on sid, counting control frames as rp_until.
void rp_call(rp_peer *p, uint64_t sid, const char *method, const void *body,
    size_t len, size_t *ctrl);

#endif // DRPC_TEST_RAWPEER_H
