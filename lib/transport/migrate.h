// drpcmigrate's header (docs/protocol.md, "Port sharing"): the 8 ASCII
// bytes "DRPC!!!1" a client sends first thing on the connection, so that a
// listener shared with gRPC or HTTP (Go's drpcmigrate.ListenMux) hands the
// connection to its DRPC server. Under TLS they go on the raw socket,
// before the handshake.
#ifndef DRPC_TRANSPORT_MIGRATE_H
#define DRPC_TRANSPORT_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#include "wire/reader.h"

#define DRPC__MIGRATE_HEADER     "DRPC!!!1"
#define DRPC__MIGRATE_HEADER_LEN 8

// drpc__migrate_take reads what starts the input through read(arg, ...)
// and tells whether it is the header, consuming nothing past it: it reads
// no more than the header's remaining bytes each time, and stops at the
// first byte that differs (a DRPC frame or a TLS ClientHello differs at
// the first), so a peer that sends less than 8 bytes and waits is never
// waited for when those bytes already tell. DRPC_OK with *nkept 0: the
// header was read (and dropped). DRPC_OK with *nkept > 0 (only when not
// required): the input does not start with it, and the *nkept bytes read
// (at most DRPC__MIGRATE_HEADER_LEN, into kept) belong to the stream and
// come first. Errors, with why in words: DRPC_EPROTO (required and the
// input does not start with it), DRPC_EOF (the input ended before the
// header did, or before anything came), or read's own error (why's text
// empty).
drpc_err drpc__migrate_take(drpc__read_fn read, void *arg, bool required,
    uint8_t kept[DRPC__MIGRATE_HEADER_LEN], size_t *nkept, drpc_cause *why);

#endif // DRPC_TRANSPORT_MIGRATE_H
