// The TLS transport's state (lib/tls/transport.c), shared with its
// socket BIO (lib/tls/bio.c): one SSL over a non-blocking socket, used by
// the connection's reader thread and its writer under mu (transport.c's
// header says how the two share it).
#ifndef DRPC_TLS_CONN_H
#define DRPC_TLS_CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cause.h"
#include "tls/tls.h"
#include "transport/addr.h"

#define TLS_RECORD 16384
// TLS_RECORD_MAX bounds a record's ciphertext (and what SSL_write may
// put before it): TLS 1.2's CBC padding and MAC are the largest.
#define TLS_RECORD_MAX (TLS_RECORD + 512)
// TLS_OBUF is the ciphertext gathered before a send (tls_bio_write).
#define TLS_OBUF (4 * TLS_RECORD_MAX)
// TLS_READ_RETRY_MS bounds a writer's wait for input OpenSSL asked for
// (it never should: renegotiation is off), as the reader consumes it.
#define TLS_READ_RETRY_MS 10

typedef struct tls_impl {
	int              fd;
	int              fd_flags; // as the caller gave it
	bool             server;
	drpc_tls_config *cfg;
	char             peer[DRPC__ADDR_MAX]; // names it in causes
	atomic_bool      shut;                 // shutdown was called

	pthread_mutex_t mu; // guards ssl and the fields below it
	pthread_cond_t  hs_cv; // hs left 0, or shut
	SSL            *ssl;
	int             hs;     // 0: not yet, 1: done, -1: failed
	bool            fatal;  // an SSL call failed: no close_notify
	bool            wbusy;  // a record may be pending in a write
	bool            pend;   // try_writev left bytes in obuf: held,
	uint8_t         held;   // the last it took, reported unwritten
	size_t          olen;   // ciphertext gathered in obuf
	uint8_t        *obuf;   // TLS_OBUF bytes
	bool            closed; // close_notify sent
	bool            eof;    // the socket's input ended (the BIO's)
	// fatal_why: the first SSL failure OpenSSL gave a reason for, in
	// words. Its error queue is per thread: after the reader met the
	// peer's alert, the writer's next call fails with an empty queue.
	char fatal_why[160];
	uint8_t         pre[DRPC__MIGRATE_HEADER_LEN]; // OpenSSL's first
	size_t          npre, pre_at; // input: tls_migrate's

	drpc_cause rd_why;     // the last read failure; reader thread
	drpc_cause wr_why;     // the last write failure; writer
	bool       rd_empty;   // SSL_read left nothing buffered; reader
	size_t     stage_len;  // writer
	uint8_t    stage[TLS_RECORD];
} tls_impl;

// drpc__tls_oflush sends what obuf holds, without blocking: 0 once it is
// all out, 1 if the socket is full, -1 on failure (errno). Under mu.
int drpc__tls_oflush(tls_impl *t);

#endif // DRPC_TLS_CONN_H
