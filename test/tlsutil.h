// Certificates for the TLS suite, made at run time with OpenSSL's API
// (never committed keys): a CA, a server certificate (SAN DNS:localhost,
// IP:127.0.0.1), a client certificate, an expired server certificate, and
// a server certificate from another CA. All PEM, in memory.
#ifndef DRPC_TEST_TLSUTIL_H
#define DRPC_TEST_TLSUTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <drpc/drpc.h>
#include <drpc/tls.h>

#include "testutil.h"

typedef struct tls_pem {
	char  *cert; // NUL-terminated PEM
	char  *key;  // NUL-terminated PEM (NULL for a CA given alone)
} tls_pem;

typedef struct tls_certs {
	tls_pem ca;       // its key too, unused by the tests
	tls_pem server;   // CN=localhost, DNS:localhost, IP:127.0.0.1
	tls_pem client;   // CN=client, URI:spiffe://drpc.test/client
	tls_pem expired;  // as server, expired yesterday
	tls_pem other_ca;
	tls_pem foreign;  // as server, from other_ca
} tls_certs;

// tls_certs_make makes every certificate; ck_asserts on failure.
void tls_certs_make(tls_certs *c);
void tls_certs_free(tls_certs *c);

// tls_write_temp writes text into a new file in a new temporary
// directory; *path (malloc'd) names it. tls_remove_temp removes both.
void tls_write_temp(const char *text, char **path);
void tls_remove_temp(char *path);

// server_config makes a server config with cert, trusting ca_pem (may be
// NULL) for client certificates, asking for them as a says.
drpc_tls_config *server_config(
    const tls_pem *cert, const char *ca_pem, drpc_tls_client_auth a);

// client_config makes a client config trusting ca_pem, with certs's
// client certificate if with_cert.
drpc_tls_config *client_config(
    const tls_certs *certs, const char *ca_pem, bool with_cert);

// tls_has_san tells whether p lists san ("DNS:...", "URI:...").
bool tls_has_san(const drpc_peer *p, const char *san);

// The rows (tu_test) of check_tls_io.c's and check_tls_auth.c's test
// cases, for the tls suite: each copies its rows into out (room for cap)
// and returns how many.
size_t tls_io_tests(tu_test *out, size_t cap);
size_t tls_auth_tests(tu_test *out, size_t cap);

#endif // DRPC_TEST_TLSUTIL_H
