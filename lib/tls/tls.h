// Internal view of TLS configs (config.c) for the transport (transport.c)
// and the layers that dial and accept.
#ifndef DRPC_TLS_TLS_H
#define DRPC_TLS_TLS_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>

#include <drpc/tls.h>

#include "transport/migrate.h"
#include "transport/transport.h"

struct drpc_tls_config {
	atomic_size_t        refs;
	drpc_tls_role        role;
	SSL_CTX             *ctx;
	BIO_METHOD          *bio_method; // transport.c's socket BIO
	// Set before first use, read-only after (tls.h's thread safety):
	char                *server_name; // NULL: the dialed host
	bool                 verify;
	bool                 ca_set; // else the system's store, on first use
	drpc_tls_client_auth client_auth;
	// Guards the one-time loading of the system's store (first use).
	pthread_mutex_t      mu;
	bool                 ready;
};

// drpc__tls_config_ref takes a reference (c may be NULL) and returns c.
drpc_tls_config *drpc__tls_config_ref(const drpc_tls_config *c);

// drpc__tls_config_ready finishes c on first use (the system's CAs when
// none were set). Errors: DRPC_EINTERNAL with the reason.
drpc_err drpc__tls_config_ready(drpc_tls_config *c, drpc_cause *why);

// drpc__tls_bio_method makes the transport's socket BIO method (send
// with MSG_NOSIGNAL); NULL if OpenSSL fails.
BIO_METHOD *drpc__tls_bio_method(void);

// drpc__transport_release_tls frees a TLS transport no connection took,
// leaving its fd open (and blocking again): it is the caller's.
void drpc__transport_release_tls(drpc_transport *t);

// drpc__tls_peer_cert fills out's certificate fields (subject, sans, der;
// not verified) from x. On DRPC_ENOMEM they are left empty.
drpc_err drpc__tls_peer_cert(X509 *x, drpc_peer *out);

// drpc__tls_reason writes OpenSSL's reason for the last failure on this
// thread (its error queue, emptied here; or the certificate verification
// result of ssl, may be NULL) into buf, in words.
void drpc__tls_reason(SSL *ssl, char *buf, size_t cap);

// drpc__tls_migrate is drpc__migrate_take (transport/migrate.h) on the
// raw socket fd of a server's TLS transport before its handshake (on the
// connection's reader thread; peer names it in causes): it waits for
// input in poll until shut is set (the transport's shutdown, whose
// shutdown(2) wakes the poll: DRPC_ECLOSED). Errors as
// drpc__migrate_take's, with why in words always.
drpc_err drpc__tls_migrate(int fd, const atomic_bool *shut, const char *peer,
    bool required, uint8_t kept[DRPC__MIGRATE_HEADER_LEN], size_t *nkept,
    drpc_cause *why);

#endif // DRPC_TLS_TLS_H
