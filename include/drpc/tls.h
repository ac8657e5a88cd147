// TLS on OpenSSL: a configuration shared by connections, and a transport.
//
// A drpc_tls_config holds what one side of a TLS connection needs: its
// certificate chain and key, the certificates it trusts, and how it
// verifies its peer. Give it to drpc_dial (drpc_conn_opts.tls) or a server
// (drpc_server_opts.tls): every connection made with it is TLS, whatever
// the address's scheme ("tls://host:port", or "tcp://host:port" with a
// config set). It is reference-counted inside: a connection or server that
// was given one keeps it alive, so the caller may destroy its handle right
// after drpc_dial or drpc_server_create.
//
// Thread safety: configure a config (the set functions) from one thread
// before it is first used; once a connection or server holds it, it is
// only read, from any number of threads.
#ifndef DRPC_TLS_H
#define DRPC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>
#include <drpc/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct drpc_tls_config drpc_tls_config;

typedef enum drpc_tls_role {
	DRPC_TLS_CLIENT = 0,
	DRPC_TLS_SERVER = 1,
} drpc_tls_role;

// drpc_tls_client_auth is what a server asks of its clients' certificates:
// none; one if the client has it (verified when given); one, verified,
// always (the handshake fails without).
typedef enum drpc_tls_client_auth {
	DRPC_TLS_CLIENT_AUTH_NONE    = 0,
	DRPC_TLS_CLIENT_AUTH_REQUEST = 1,
	DRPC_TLS_CLIENT_AUTH_REQUIRE = 2, // require and verify
} drpc_tls_client_auth;

typedef enum drpc_tls_version {
	DRPC_TLS_1_2 = 0,
	DRPC_TLS_1_3 = 1,
} drpc_tls_version;

// drpc_tls_config_create makes a config for role: minimum version TLS 1.2
// (1.3 negotiated whenever the peer has it), no certificate of its own,
// the system's trusted CAs unless drpc_tls_config_set_ca or _set_ca_pem
// names others, the server's certificate and name verified (client), no
// client certificates asked for (server). Errors: DRPC_EINVAL,
// DRPC_ENOMEM, DRPC_EINTERNAL (OpenSSL failed), with the cause in why
// (may be NULL).
DRPC_API drpc_err drpc_tls_config_create(
    drpc_tls_config **cp, drpc_tls_role role, drpc_cause *why);

// drpc_tls_config_destroy drops the caller's reference. NULL is a no-op.
DRPC_API void drpc_tls_config_destroy(drpc_tls_config *c);

// drpc_tls_config_set_cert_files loads the certificate chain (PEM, the
// leaf first) and its private key (PEM) from files. A server needs one; a
// client needs one for mutual TLS. Errors: DRPC_EINVAL (unreadable,
// malformed, or the key does not match the certificate), with OpenSSL's
// reason in why.
DRPC_API drpc_err drpc_tls_config_set_cert_files(drpc_tls_config *c,
    const char *chain_path, const char *key_path, drpc_cause *why);

// drpc_tls_config_set_cert_pem is drpc_tls_config_set_cert_files from
// memory: chain_len and key_len bytes of PEM (copied).
DRPC_API drpc_err drpc_tls_config_set_cert_pem(drpc_tls_config *c,
    const char *chain_pem, size_t chain_len, const char *key_pem,
    size_t key_len, drpc_cause *why);

// drpc_tls_config_set_ca trusts the CA certificates of file (PEM, any
// number) and/or those of directory dir (hashed names, as c_rehash makes
// them), instead of the system's; both NULL: the system's default store.
// Errors: DRPC_EINVAL, with the reason in why.
DRPC_API drpc_err drpc_tls_config_set_ca(
    drpc_tls_config *c, const char *file, const char *dir, drpc_cause *why);

// drpc_tls_config_set_ca_pem trusts the CA certificates in len bytes of
// PEM (one or more), instead of the system's. Errors: DRPC_EINVAL.
DRPC_API drpc_err drpc_tls_config_set_ca_pem(
    drpc_tls_config *c, const char *pem, size_t len, drpc_cause *why);

// drpc_tls_config_set_server_name sets the name a client sends (SNI, not
// for an IP address) and verifies the server's certificate against (a DNS
// name, or an IP address against the certificate's IP SANs). Default: the
// host of the dialed address. NULL restores the default. Errors:
// DRPC_EINVAL, DRPC_ENOMEM.
DRPC_API drpc_err drpc_tls_config_set_server_name(
    drpc_tls_config *c, const char *name);

// drpc_tls_config_set_verify turns a client's verification of the
// server's certificate and name on (the default) or off (any server is
// accepted: for tests only).
DRPC_API void drpc_tls_config_set_verify(drpc_tls_config *c, bool verify);

// drpc_tls_config_set_client_auth sets what a server asks of clients.
DRPC_API void drpc_tls_config_set_client_auth(
    drpc_tls_config *c, drpc_tls_client_auth a);

// drpc_tls_config_set_min_version sets the oldest version accepted.
DRPC_API void drpc_tls_config_set_min_version(
    drpc_tls_config *c, drpc_tls_version v);

// drpc_tls_config_set_max_version sets the newest version offered
// (default TLS 1.3; for tests of version mismatches).
DRPC_API void drpc_tls_config_set_max_version(
    drpc_tls_config *c, drpc_tls_version v);

// drpc_transport_create_tls wraps a connected stream socket fd in TLS
// with config c (which the transport keeps a reference to). A client
// (c's role) handshakes here, with server_name (NULL: c's, if set; else
// no name is verified, only the chain) for SNI and verification, until
// handshake_deadline_ns (monotonic, as drpc_now_ns; 0: no bound). A
// server's transport handshakes on its first read, on the connection's
// reader thread; the server's handshake_timeout_ms bounds it. The fd is
// made non-blocking. On DRPC_OK the transport owns fd; on error the
// caller still does. Errors: DRPC_EINVAL, DRPC_ENOMEM, DRPC_ETIMEDOUT
// (the deadline passed), DRPC_EUNAVAIL (the handshake failed: OpenSSL's
// reason in why, "tls handshake with tcp://127.0.0.1:7070: certificate
// verify failed: certificate has expired").
DRPC_API drpc_err drpc_transport_create_tls(drpc_transport **tp, int fd,
    const drpc_tls_config *c, const char *server_name,
    int64_t handshake_deadline_ns, drpc_cause *why);

#ifdef __cplusplus
}
#endif

#endif // DRPC_TLS_H
