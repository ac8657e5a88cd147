// TLS configs: an SSL_CTX with the options libdrpc relies on, and what
// the transport needs to make each connection's SSL.
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "common/cause.h"
#include "platform/thread.h"
#include "tls/tls.h"

// TLS_READ_BUFFER is OpenSSL's read buffer per connection, read ahead
// into: four full records per recv.
#define TLS_READ_BUFFER (4 * (16384 + 256))

// tls_verify_text words a certificate verification failure; the common
// ones in the terms users search for.
static const char *
tls_verify_text(long v, char *buf, size_t cap)
{
	const char *s = X509_verify_cert_error_string(v);

	switch (v) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		snprintf(buf, cap, "unknown CA (%s)", s);
		return buf;
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		snprintf(buf, cap, "hostname mismatch (%s)", s);
		return buf;
	default:
		return s;
	}
}

void
drpc__tls_reason(SSL *ssl, char *buf, size_t cap)
{
	unsigned long first = ERR_get_error();
	unsigned long e;
	long          v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	char          vb[128];

	while ((e = ERR_get_error()) != 0) {
		// The first is the root of the failure; the rest is how it
		// travelled up.
	}
	if (v != X509_V_OK &&
	    ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		snprintf(buf, cap, "certificate verify failed: %s",
		    tls_verify_text(v, vb, sizeof(vb)));
		return;
	}
	if (first == 0) {
		snprintf(buf, cap, "no reason given by OpenSSL");
		return;
	}
	const char *r = ERR_reason_error_string(first);

	if (r != NULL) {
		snprintf(buf, cap, "%s", r);
	} else {
		ERR_error_string_n(first, buf, cap);
	}
}

static drpc_err
tls_fail(drpc_cause *why, drpc_err code, const char *what)
{
	char r[160];

	drpc__tls_reason(NULL, r, sizeof(r));
	return drpc__cause_set(why, code, "tls: %s: %s", what, r);
}

drpc_err
drpc_tls_config_create(
    drpc_tls_config **cp, drpc_tls_role role, drpc_cause *why)
{
	drpc_tls_config *c;

	drpc_cause_clear(why);
	if (cp == NULL || (role != DRPC_TLS_CLIENT && role != DRPC_TLS_SERVER)) {
		return drpc__cause_set(why, DRPC_EINVAL, "tls: %s",
		    cp == NULL ? "no config pointer" : "unknown role");
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return drpc__cause_set(why, DRPC_ENOMEM, "tls: out of memory");
	}
	ERR_clear_error();
	c->ctx = SSL_CTX_new(
	    role == DRPC_TLS_CLIENT ? TLS_client_method() : TLS_server_method());
	if (c->ctx == NULL || (c->bio_method = drpc__tls_bio_method()) == NULL) {
		SSL_CTX_free(c->ctx);
		free(c);
		return tls_fail(why, DRPC_EINTERNAL, "SSL_CTX_new");
	}
	atomic_init(&c->refs, 1);
	c->role   = role;
	c->verify = true;
	drpc__mutex_init(&c->mu);
	(void) SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	(void) SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION);
	// The writer retries a blocked SSL_write from its own staging
	// buffer or the caller's, whichever it wrote from.
	SSL_CTX_set_mode(c->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	// No renegotiation: SSL_write would need to read, beside the
	// reader. A peer closing without close_notify ends the input as a
	// TCP close does (DRPC frames delimit themselves).
	SSL_CTX_set_options(c->ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	// Read what the socket has, not a record header and then its body
	// (two recv calls a record): the reader calls SSL_read before it
	// ever polls, so nothing buffered inside waits for the socket.
	SSL_CTX_set_read_ahead(c->ctx, 1);
	SSL_CTX_set_default_read_buffer_len(c->ctx, TLS_READ_BUFFER);
	// AES-128-GCM first (as Go's crypto/tls, with AES instructions):
	// the fastest of the three, and as safe for this use.
	(void) SSL_CTX_set_ciphersuites(c->ctx,
	    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
	    "TLS_CHACHA20_POLY1305_SHA256");
	if (role == DRPC_TLS_SERVER) {
		// No session resumption: tickets only cost the handshake.
		(void) SSL_CTX_set_num_tickets(c->ctx, 0);
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	}
	*cp = c;
	return DRPC_OK;
}

drpc_tls_config *
drpc__tls_config_ref(const drpc_tls_config *cc)
{
	drpc_tls_config *c = (drpc_tls_config *) (uintptr_t) cc;

	if (c != NULL) {
		atomic_fetch_add(&c->refs, 1);
	}
	return c;
}

void
drpc_tls_config_destroy(drpc_tls_config *c)
{
	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1) {
		return;
	}
	SSL_CTX_free(c->ctx);
	BIO_meth_free(c->bio_method);
	free(c->server_name);
	drpc__mutex_fini(&c->mu);
	free(c);
}

drpc_err
drpc__tls_config_ready(drpc_tls_config *c, drpc_cause *why)
{
	drpc_err rv = DRPC_OK;

	drpc__mutex_lock(&c->mu);
	if (!c->ready) {
		ERR_clear_error();
		// The system's store (a bundle of some 150 certificates,
		// parsed in tens of milliseconds) only where something is
		// verified against it.
		bool verifies = c->role == DRPC_TLS_CLIENT
		                    ? c->verify
		                    : c->client_auth != DRPC_TLS_CLIENT_AUTH_NONE;

		if (!c->ca_set && verifies &&
		    SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
			rv = tls_fail(
			    why, DRPC_EINTERNAL, "loading the system's CAs");
		}
		c->ready = rv == DRPC_OK;
	}
	drpc__mutex_unlock(&c->mu);
	return rv;
}

drpc_err
drpc_tls_config_set_cert_files(drpc_tls_config *c, const char *chain_path,
    const char *key_path, drpc_cause *why)
{
	drpc_cause_clear(why);
	if (c == NULL || chain_path == NULL || key_path == NULL) {
		return drpc__cause_set(why, DRPC_EINVAL, "tls: %s",
		    c == NULL ? "no config" : "no certificate or key path");
	}
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(c->ctx, chain_path) != 1) {
		return tls_fail(why, DRPC_EINVAL, chain_path);
	}
	if (SSL_CTX_use_PrivateKey_file(c->ctx, key_path, SSL_FILETYPE_PEM) !=
	    1) {
		return tls_fail(why, DRPC_EINVAL, key_path);
	}
	if (SSL_CTX_check_private_key(c->ctx) != 1) {
		return tls_fail(why, DRPC_EINVAL, key_path);
	}
	return DRPC_OK;
}

// tls_pem_bio makes a read-only BIO over len bytes of PEM.
static BIO *
tls_pem_bio(const char *pem, size_t len)
{
	return len > INT_MAX ? NULL : BIO_new_mem_buf(pem, (int) len);
}

drpc_err
drpc_tls_config_set_cert_pem(drpc_tls_config *c, const char *chain_pem,
    size_t chain_len, const char *key_pem, size_t key_len, drpc_cause *why)
{
	BIO      *b   = NULL;
	X509     *x   = NULL;
	EVP_PKEY *key = NULL;
	drpc_err  rv  = DRPC_EINVAL;

	drpc_cause_clear(why);
	if (c == NULL || chain_pem == NULL || key_pem == NULL) {
		return drpc__cause_set(why, DRPC_EINVAL, "tls: %s",
		    c == NULL ? "no config" : "no certificate or key");
	}
	ERR_clear_error();
	if ((b = tls_pem_bio(chain_pem, chain_len)) == NULL) {
		return tls_fail(why, DRPC_EINVAL, "certificate chain");
	}
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_certificate(c->ctx, x) != 1) {
		(void) tls_fail(why, DRPC_EINVAL, "certificate");
		goto out;
	}
	X509_free(x);
	(void) SSL_CTX_clear_chain_certs(c->ctx);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(c->ctx, x) != 1) {
			(void) tls_fail(why, DRPC_EINVAL, "certificate chain");
			goto out;
		}
	}
	x = NULL;
	ERR_clear_error(); // the end of the PEM
	BIO_free(b);
	if ((b = tls_pem_bio(key_pem, key_len)) == NULL ||
	    (key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(c->ctx, key) != 1 ||
	    SSL_CTX_check_private_key(c->ctx) != 1) {
		(void) tls_fail(why, DRPC_EINVAL, "private key");
		goto out;
	}
	rv = DRPC_OK;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	BIO_free(b);
	return rv;
}

drpc_err
drpc_tls_config_set_ca(
    drpc_tls_config *c, const char *file, const char *dir, drpc_cause *why)
{
	drpc_cause_clear(why);
	if (c == NULL) {
		return drpc__cause_set(why, DRPC_EINVAL, "tls: no config");
	}
	if (file == NULL && dir == NULL) {
		c->ca_set = false; // the system's, on first use
		return DRPC_OK;
	}
	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(c->ctx, file, dir) != 1) {
		return tls_fail(why, DRPC_EINVAL, file != NULL ? file : dir);
	}
	c->ca_set = true;
	return DRPC_OK;
}

drpc_err
drpc_tls_config_set_ca_pem(
    drpc_tls_config *c, const char *pem, size_t len, drpc_cause *why)
{
	BIO        *b;
	X509       *x;
	X509_STORE *st;
	int         n = 0;

	drpc_cause_clear(why);
	if (c == NULL || pem == NULL) {
		return drpc__cause_set(why, DRPC_EINVAL, "tls: %s",
		    c == NULL ? "no config" : "no CA PEM");
	}
	ERR_clear_error();
	if ((b = tls_pem_bio(pem, len)) == NULL) {
		return tls_fail(why, DRPC_EINVAL, "CA PEM");
	}
	st = SSL_CTX_get_cert_store(c->ctx);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(st, x);

		X509_free(x);
		if (ok != 1) {
			BIO_free(b);
			return tls_fail(why, DRPC_EINVAL, "CA certificate");
		}
		n++;
	}
	BIO_free(b);
	if (n == 0) {
		return tls_fail(why, DRPC_EINVAL, "CA PEM holds no certificate");
	}
	ERR_clear_error(); // the end of the PEM
	c->ca_set = true;
	return DRPC_OK;
}

drpc_err
drpc_tls_config_set_server_name(drpc_tls_config *c, const char *name)
{
	char *s = NULL;

	if (c == NULL) {
		return DRPC_EINVAL;
	}
	if (name != NULL && (s = strdup(name)) == NULL) {
		return DRPC_ENOMEM;
	}
	free(c->server_name);
	c->server_name = s;
	return DRPC_OK;
}

void
drpc_tls_config_set_verify(drpc_tls_config *c, bool verify)
{
	if (c != NULL) {
		c->verify = verify;
	}
}

void
drpc_tls_config_set_client_auth(drpc_tls_config *c, drpc_tls_client_auth a)
{
	static const int modes[] = {SSL_VERIFY_NONE, SSL_VERIFY_PEER,
	    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT};

	if (c != NULL && (unsigned) a <= DRPC_TLS_CLIENT_AUTH_REQUIRE) {
		c->client_auth = a;
		if (c->role == DRPC_TLS_SERVER) {
			SSL_CTX_set_verify(c->ctx, modes[a], NULL);
		}
	}
}

static int
tls_version(drpc_tls_version v)
{
	return v == DRPC_TLS_1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

void
drpc_tls_config_set_min_version(drpc_tls_config *c, drpc_tls_version v)
{
	if (c != NULL) {
		(void) SSL_CTX_set_min_proto_version(c->ctx, tls_version(v));
	}
}

void
drpc_tls_config_set_max_version(drpc_tls_config *c, drpc_tls_version v)
{
	if (c != NULL) {
		(void) SSL_CTX_set_max_proto_version(c->ctx, tls_version(v));
	}
}
