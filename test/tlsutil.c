#include <check.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "tlsutil.h"

static char *
pem_of(BIO *b)
{
	char *p   = NULL;
	long  len = BIO_get_mem_data(b, &p);
	char *s   = malloc((size_t) len + 1);

	ck_assert_ptr_nonnull(s);
	memcpy(s, p, (size_t) len);
	s[len] = '\0';
	BIO_free(b);
	return s;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX      ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

// cert_make makes a key and a certificate for cn, signed by (issuer,
// ikey), or self-signed when issuer is NULL; valid from from_s to to_s
// seconds from now.
static void
cert_make(const char *cn, const char *san, bool ca, X509 *issuer,
    EVP_PKEY *ikey, long from_s, long to_s, X509 **xp, EVP_PKEY **kp,
    tls_pem *out, long serial)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509     *x = X509_new();
	BIO      *b;

	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "O", MBSTRING_ASC,
	    (const unsigned char *) "drpc test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *) cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer != NULL ? issuer : x));
	if (ca) {
		add_ext(x, issuer != NULL ? issuer : x, NID_basic_constraints,
		    "critical,CA:TRUE");
		add_ext(x, issuer != NULL ? issuer : x, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
		add_ext(x, issuer, NID_subject_alt_name, san);
	}
	ck_assert_int_gt(X509_sign(x, ikey != NULL ? ikey : k, EVP_sha256()), 0);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	out->cert = pem_of(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	out->key = pem_of(b);
	if (xp != NULL) {
		*xp = x;
		*kp = k;
	} else {
		X509_free(x);
		EVP_PKEY_free(k);
	}
}

void
tls_certs_make(tls_certs *c)
{
	const long day = 86400;
	X509      *ca;
	X509      *other;
	EVP_PKEY  *cak;
	EVP_PKEY  *otherk;

	memset(c, 0, sizeof(*c));
	cert_make("drpc test CA", NULL, true, NULL, NULL, -day, 30 * day, &ca,
	    &cak, &c->ca, 1);
	cert_make("other CA", NULL, true, NULL, NULL, -day, 30 * day, &other,
	    &otherk, &c->other_ca, 2);
	cert_make("localhost", "DNS:localhost,IP:127.0.0.1", false, ca, cak,
	    -day, 30 * day, NULL, NULL, &c->server, 3);
	cert_make("client", "URI:spiffe://drpc.test/client", false, ca, cak,
	    -day, 30 * day, NULL, NULL, &c->client, 4);
	cert_make("localhost", "DNS:localhost,IP:127.0.0.1", false, ca, cak,
	    -3 * day, -day, NULL, NULL, &c->expired, 5);
	cert_make("localhost", "DNS:localhost,IP:127.0.0.1", false, other,
	    otherk, -day, 30 * day, NULL, NULL, &c->foreign, 6);
	X509_free(ca);
	X509_free(other);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(otherk);
}

static void
pem_free(tls_pem *p)
{
	free(p->cert);
	free(p->key);
}

void
tls_certs_free(tls_certs *c)
{
	pem_free(&c->ca);
	pem_free(&c->server);
	pem_free(&c->client);
	pem_free(&c->expired);
	pem_free(&c->other_ca);
	pem_free(&c->foreign);
}

void
tls_write_temp(const char *text, char **path)
{
	char  dir[] = "/tmp/drpc-tls-XXXXXX";
	FILE *f;
	char *p;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	p = malloc(strlen(dir) + 8);
	ck_assert_ptr_nonnull(p);
	sprintf(p, "%s/x.pem", dir);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	*path = p;
}

void
tls_remove_temp(char *path)
{
	unlink(path);
	rmdir(dirname(path));
	free(path);
}

drpc_tls_config *
server_config(const tls_pem *cert, const char *ca_pem, drpc_tls_client_auth a)
{
	drpc_tls_config *c;
	drpc_cause       why;

	DRPC_CHECK_OK(drpc_tls_config_create(&c, DRPC_TLS_SERVER, &why));
	DRPC_CHECK_OK(drpc_tls_config_set_cert_pem(c, cert->cert,
	    strlen(cert->cert), cert->key, strlen(cert->key), &why));
	if (ca_pem != NULL) {
		DRPC_CHECK_OK(drpc_tls_config_set_ca_pem(
		    c, ca_pem, strlen(ca_pem), &why));
	}
	drpc_tls_config_set_client_auth(c, a);
	return c;
}

drpc_tls_config *
client_config(const tls_certs *certs, const char *ca_pem, bool with_cert)
{
	drpc_tls_config *c;
	drpc_cause       why;

	DRPC_CHECK_OK(drpc_tls_config_create(&c, DRPC_TLS_CLIENT, &why));
	DRPC_CHECK_OK(drpc_tls_config_set_ca_pem(c, ca_pem, strlen(ca_pem), &why));
	if (with_cert) {
		DRPC_CHECK_OK(drpc_tls_config_set_cert_pem(c, certs->client.cert,
		    strlen(certs->client.cert), certs->client.key,
		    strlen(certs->client.key), &why));
	}
	return c;
}

bool
tls_has_san(const drpc_peer *p, const char *san)
{
	for (size_t i = 0; i < p->nsans; i++) {
		if (strcmp(p->sans[i], san) == 0) {
			return true;
		}
	}
	return false;
}
