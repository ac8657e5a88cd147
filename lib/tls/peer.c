// A peer's certificate in drpc_peer's words: its subject (RFC 2253), its
// subjectAltNames, and the whole of it in DER.
#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

static char *
tls_strndup(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

// tls_san words one subjectAltName ("DNS:x", "IP:1.2.3.4", "URI:u",
// "email:e"); NULL for a kind it does not word, or out of memory (*oom).
static char *
tls_san(const GENERAL_NAME *g, bool *oom)
{
	const char          *kind;
	const ASN1_STRING   *v;
	char                 ip[INET6_ADDRSTRLEN];
	char                *s;
	size_t               n;

	switch (g->type) {
	case GEN_DNS:
		kind = "DNS:";
		v    = g->d.dNSName;
		break;
	case GEN_URI:
		kind = "URI:";
		v    = g->d.uniformResourceIdentifier;
		break;
	case GEN_EMAIL:
		kind = "email:";
		v    = g->d.rfc822Name;
		break;
	case GEN_IPADD:
		v = g->d.iPAddress;
		if (inet_ntop(ASN1_STRING_length(v) == 4 ? AF_INET : AF_INET6,
			ASN1_STRING_get0_data(v), ip, sizeof(ip)) == NULL ||
		    (ASN1_STRING_length(v) != 4 && ASN1_STRING_length(v) != 16)) {
			return NULL;
		}
		n = strlen(ip) + 4;
		if ((s = malloc(n)) == NULL) {
			*oom = true;
			return NULL;
		}
		snprintf(s, n, "IP:%s", ip);
		return s;
	default:
		return NULL;
	}
	n = strlen(kind) + (size_t) ASN1_STRING_length(v);
	if ((s = malloc(n + 1)) == NULL) {
		*oom = true;
		return NULL;
	}
	memcpy(s, kind, strlen(kind));
	memcpy(s + strlen(kind), ASN1_STRING_get0_data(v),
	    (size_t) ASN1_STRING_length(v));
	s[n] = '\0';
	return s;
}

static void
tls_peer_free(drpc_peer *out)
{
	for (size_t i = 0; i < out->nsans; i++) {
		free(out->sans[i]);
	}
	free(out->sans);
	free(out->subject);
	free(out->der);
	out->sans     = NULL;
	out->nsans    = 0;
	out->subject  = NULL;
	out->der      = NULL;
	out->der_len  = 0;
	out->verified = false;
}

static drpc_err
tls_peer_fill(X509 *x, drpc_peer *out)
{
	BIO             *b = BIO_new(BIO_s_mem());
	char            *p = NULL;
	long             len;
	GENERAL_NAMES   *gs;
	int              dl;
	bool             oom = false;

	if (b == NULL) {
		return DRPC_ENOMEM;
	}
	(void) X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	len          = BIO_get_mem_data(b, &p);
	out->subject = tls_strndup(p, len > 0 ? (size_t) len : 0);
	BIO_free(b);
	if (out->subject == NULL) {
		return DRPC_ENOMEM;
	}
	gs = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (gs != NULL && sk_GENERAL_NAME_num(gs) > 0) {
		out->sans = calloc((size_t) sk_GENERAL_NAME_num(gs), sizeof(char *));
		oom       = out->sans == NULL;
		for (int i = 0; !oom && i < sk_GENERAL_NAME_num(gs); i++) {
			char *s = tls_san(sk_GENERAL_NAME_value(gs, i), &oom);

			if (s != NULL) {
				out->sans[out->nsans++] = s;
			}
		}
	}
	GENERAL_NAMES_free(gs);
	if (oom) {
		return DRPC_ENOMEM;
	}
	if ((dl = i2d_X509(x, NULL)) > 0) {
		uint8_t *d;

		if ((out->der = malloc((size_t) dl)) == NULL) {
			return DRPC_ENOMEM;
		}
		d            = out->der;
		out->der_len = (size_t) i2d_X509(x, &d);
	}
	return DRPC_OK;
}

drpc_err
drpc__tls_peer_cert(X509 *x, drpc_peer *out)
{
	drpc_err rv = tls_peer_fill(x, out);

	if (rv != DRPC_OK) {
		tls_peer_free(out);
	}
	return rv;
}
