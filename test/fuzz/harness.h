// Fuzz harnesses: each feeds arbitrary bytes to one part of the library
// and aborts on a broken invariant. libFuzzer drives them (fuzz_*.c), and
// the Check suite replays the kept corpus through them (check_fuzz.c).
#ifndef DRPC_TEST_FUZZ_HARNESS_H
#define DRPC_TEST_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

// fuzz_wire_input: frames, packets, error bodies, metadata.
void fuzz_wire_input(const uint8_t *data, size_t size);

typedef enum fuzz_side {
	FUZZ_SERVER, // the bytes are what a client sends to a server conn
	FUZZ_CLIENT, // the bytes are what a server sends to a client conn
} fuzz_side;

// fuzz_conn_input runs a whole connection (reader and drain threads,
// streams, handlers) over a socketpair, fed data as the peer's bytes, then
// closes it; every thread is joined and every byte freed before it
// returns.
void fuzz_conn_input(const uint8_t *data, size_t size, fuzz_side side);

// fuzz_tls_server_input runs a libdrpc TLS server's connection fed data
// as a client's application data after a completed handshake (tls_harness.c),
// then checks that the server still serves a well-formed call, and tears
// it all down.
void fuzz_tls_server_input(const uint8_t *data, size_t size);

#endif // DRPC_TEST_FUZZ_HARNESS_H
