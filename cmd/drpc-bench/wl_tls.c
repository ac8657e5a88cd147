// drpc-bench's tls workload: what TLS costs, each figure beside the same
// figure over plain TCP measured in the same repetition (issue 17's
// targets: a 1 MiB stream over TLS at least 0.6x plain, unary latency at
// most 1.3x plain), the handshake's time, and the heap a TLS connection
// holds beside a plain one.
//
// The certificates are made at run time (a CA and a server certificate
// for localhost and 127.0.0.1, ECDSA P-256, as a deployment would use);
// nothing is committed. In one process the bench server gets a second
// server on the same mux listening on tls://; with --two-process the
// parent writes the certificate and key into a temporary directory and
// the --server child serves them (--tls-cert, --tls-key), saying its TLS
// port in its Info answer.
#include <errno.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

#define TLS_DIALS      100 // dials timed per repetition (10 --quick)
#define TLS_MEM_CONNS  32  // connections held to measure memory
#define TLS_STREAM_IDX 2   // stream_sizes[2], 1 MiB

long
heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (long) (mi.uordblks + mi.hblkhd);
}

// Certificates.

static char *
pem_take(BIO *b)
{
	char *p   = NULL;
	long  len = BIO_get_mem_data(b, &p);
	char *s   = len >= 0 ? malloc((size_t) len + 1) : NULL;

	if (s != NULL) {
		memcpy(s, p, (size_t) len);
		s[len] = '\0';
	}
	BIO_free(b);
	return s;
}

static bool
ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX      ctx;
	X509_EXTENSION *e;
	bool            ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL) {
		return false;
	}
	ok = X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok;
}

// cert_new makes a key and a certificate named cn, valid for a day on
// either side of now: a CA's (self-signed) when issuer is NULL, else one
// for localhost signed by it.
static bool
cert_new(const char *cn, X509 *issuer, EVP_PKEY *ikey, X509 **xp,
    EVP_PKEY **kp)
{
	EVP_PKEY *k  = EVP_EC_gen("P-256");
	X509     *x  = X509_new();
	X509     *by = issuer != NULL ? issuer : x;
	bool      ok = k != NULL && x != NULL;

	if (ok) {
		X509_NAME *n = X509_get_subject_name(x);

		ok = X509_set_version(x, 2) == 1 &&
		     ASN1_INTEGER_set(X509_get_serialNumber(x),
		         issuer != NULL ? 2 : 1) == 1 &&
		     X509_gmtime_adj(X509_getm_notBefore(x), -86400) != NULL &&
		     X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL &&
		     X509_set_pubkey(x, k) == 1 &&
		     X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		         (const unsigned char *) cn, -1, -1, 0) == 1 &&
		     X509_set_issuer_name(x, X509_get_subject_name(by)) == 1;
	}
	if (ok && issuer == NULL) {
		ok = ext_add(x, by, NID_basic_constraints, "critical,CA:TRUE") &&
		     ext_add(x, by, NID_key_usage, "critical,keyCertSign");
	} else if (ok) {
		ok = ext_add(x, by, NID_basic_constraints, "CA:FALSE") &&
		     ext_add(x, by, NID_subject_alt_name,
		         "DNS:localhost,IP:127.0.0.1");
	}
	if (ok) {
		ok = X509_sign(x, ikey != NULL ? ikey : k, EVP_sha256()) > 0;
	}
	if (!ok) {
		X509_free(x);
		EVP_PKEY_free(k);
		return false;
	}
	*xp = x;
	*kp = k;
	return true;
}

static char *
cert_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
		BIO_free(b);
		return NULL;
	}
	return pem_take(b);
}

static char *
key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (b == NULL ||
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(b);
		return NULL;
	}
	return pem_take(b);
}

bool
tls_setup(bench_tls *t)
{
	X509      *ca  = NULL;
	X509      *srv = NULL;
	EVP_PKEY  *cak = NULL;
	EVP_PKEY  *sk  = NULL;
	drpc_cause why = {0};
	bool       ok;

	ok = cert_new("drpc-bench CA", NULL, NULL, &ca, &cak) &&
	     cert_new("localhost", ca, cak, &srv, &sk) &&
	     (t->ca_pem = cert_pem(ca)) != NULL &&
	     (t->cert_pem = cert_pem(srv)) != NULL &&
	     (t->key_pem = key_pem(sk)) != NULL;
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	if (!ok) {
		fprintf(stderr, "drpc-bench: tls: cannot make certificates\n");
		return false;
	}
	if (drpc_tls_config_create(&t->client, DRPC_TLS_CLIENT, &why) !=
	        DRPC_OK ||
	    drpc_tls_config_set_ca_pem(t->client, t->ca_pem,
	        strlen(t->ca_pem), &why) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: tls: client config: %s\n",
		    why.text);
		return false;
	}
	return true;
}

drpc_tls_config *
tls_server_config(const bench_tls *t, const bench_cfg *cfg)
{
	drpc_tls_config *c;
	drpc_cause       why = {0};
	drpc_err         rv;

	if ((rv = drpc_tls_config_create(&c, DRPC_TLS_SERVER, &why)) !=
	    DRPC_OK) {
		fprintf(stderr, "drpc-bench: tls: %s\n", why.text);
		return NULL;
	}
	rv = t != NULL
	    ? drpc_tls_config_set_cert_pem(c, t->cert_pem, strlen(t->cert_pem),
	          t->key_pem, strlen(t->key_pem), &why)
	    : drpc_tls_config_set_cert_files(
	          c, cfg->tls_cert, cfg->tls_key, &why);
	if (rv != DRPC_OK) {
		fprintf(stderr, "drpc-bench: tls: server certificate: %s\n",
		    why.text);
		drpc_tls_config_destroy(c);
		return NULL;
	}
	return c;
}

static bool
file_put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	bool  ok;

	if (f == NULL) {
		fprintf(stderr, "drpc-bench: %s: %s\n", path, strerror(errno));
		return false;
	}
	ok = fputs(text, f) >= 0;
	ok = fclose(f) == 0 && ok;
	if (!ok) {
		fprintf(stderr, "drpc-bench: cannot write %s\n", path);
	}
	return ok;
}

bool
tls_write_files(bench_tls *t, char *cert, char *key, size_t cap)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/drpc-bench-tls.XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		fprintf(stderr, "drpc-bench: mkdtemp: %s\n", strerror(errno));
		t->dir[0] = '\0';
		return false;
	}
	snprintf(cert, cap, "%s/cert.pem", t->dir);
	snprintf(key, cap, "%s/key.pem", t->dir);
	return file_put(cert, t->cert_pem) && file_put(key, t->key_pem);
}

void
tls_teardown(bench_tls *t)
{
	if (t->dir[0] != '\0') {
		char p[128];

		snprintf(p, sizeof(p), "%s/cert.pem", t->dir);
		(void) unlink(p);
		snprintf(p, sizeof(p), "%s/key.pem", t->dir);
		(void) unlink(p);
		(void) rmdir(t->dir);
	}
	drpc_tls_config_destroy(t->client);
	free(t->ca_pem);
	free(t->cert_pem);
	free(t->key_pem);
	memset(t, 0, sizeof(*t));
}

// The measurements. Each runs plain first, then TLS, back to back.

static bool
tls_dial(bench *b, bool tls, drpc_conn **cp)
{
	drpc_conn_opts o = {0};

	o.tls = tls ? b->tls.client : NULL;
	return dial_to("tls", tls ? b->tls.addr : b->addr, &o, cp);
}

// tls_latency: unary 16 B round trips on one connection.
static bool
tls_latency(bench *b, bool tls)
{
	size_t     n = b->cfg.lat_calls;
	int64_t   *lat;
	uint8_t    req[BENCH_SMALL];
	drpc_conn *c;
	cost_mark  m0 = {0};
	cost_mark  m1 = {0};
	bool       ok;
	aux        a;

	fill_pattern(req, sizeof(req));
	if ((lat = malloc(n * sizeof(*lat))) == NULL || !tls_dial(b, tls, &c)) {
		free(lat);
		return false;
	}
	wd_arm_conn(&b->wd, "tls (unary latency)", latency_budget(b), c);
	ok = unary_calls(c, "tls", req, BENCH_WARMUP, NULL) &&
	     mark_begin(b, c, &m0) && unary_calls(c, "tls", req, n, lat) &&
	     mark_end(b, c, &m1);
	ok = !wd_disarm(&b->wd) && ok;
	drpc_conn_destroy(c);
	if (ok) {
		a = aux_between(&m0, &m1, (double) n);
		record_latency(b, tls ? "tls.unary" : "tls.plain.unary", "tls",
		    tls ? "TLS unary 16 B" : "plain unary 16 B",
		    tls ? "tls.plain.unary" : NULL, lat, n, &a);
	}
	free(lat);
	return ok;
}

// tls_stream: a 1 MiB server or client stream.
static bool
tls_stream(bench *b, bool tls, bool up)
{
	size_t     size    = stream_sizes[TLS_STREAM_IDX];
	uint64_t   msgs    = 0;
	int64_t    elapsed = 0;
	cost_mark  m0      = {0};
	cost_mark  m1      = {0};
	drpc_conn *c;
	char       id[64];
	char       ref[64];
	char       label[64];
	bool       ok;
	aux        a;

	if (!tls_dial(b, tls, &c)) {
		return false;
	}
	wd_arm_conn(
	    &b->wd, "tls (stream)", b->cfg.stream_ns + 30 * NS_PER_S, c);
	ok = mark_begin(b, c, &m0) &&
	     (up ? stream_up(b, c, size, &msgs, &elapsed)
	         : stream_down(b, c, size, &msgs, &elapsed)) &&
	     mark_end(b, c, &m1);
	ok = !wd_disarm(&b->wd) && ok;
	drpc_conn_destroy(c);
	if (!ok || elapsed <= 0) {
		return false;
	}
	a = aux_between(&m0, &m1, (double) msgs);
	snprintf(id, sizeof(id), "tls.%sstream.%s.1MiB.mb_s",
	    tls ? "" : "plain.", up ? "client" : "server");
	snprintf(ref, sizeof(ref), "tls.plain.stream.%s.1MiB.mb_s",
	    up ? "client" : "server");
	snprintf(label, sizeof(label), "%s %s stream 1 MiB: MB/s",
	    tls ? "TLS" : "plain", up ? "client" : "server");
	table_put(&b->tab, id, "tls", label, tls ? ref : NULL,
	    (double) msgs * (double) size / 1e6 * 1e9 / (double) elapsed, &a);
	return true;
}

// tls_dials times n dials (TCP connect, and the TLS handshake for tls),
// each followed by a close.
static bool
tls_dials(bench *b, bool tls)
{
	size_t     n = b->cfg.quick ? 10 : TLS_DIALS;
	int64_t    lat[TLS_DIALS];
	drpc_conn *probe;
	cost_mark  m0 = {0};
	cost_mark  m1 = {0};
	bool       ok = true;
	aux        a;

	// The server's costs come through a connection of their own.
	if (!tls_dial(b, false, &probe)) {
		return false;
	}
	wd_arm_conn(&b->wd, "tls (dials)", 60 * NS_PER_S, probe);
	ok = mark_begin(b, probe, &m0);
	for (size_t i = 0; ok && i < n; i++) {
		drpc_conn *c;
		int64_t    t0 = now_ns();

		ok     = tls_dial(b, tls, &c);
		lat[i] = now_ns() - t0;
		drpc_conn_destroy(c);
	}
	ok = ok && mark_end(b, probe, &m1);
	ok = !wd_disarm(&b->wd) && ok;
	drpc_conn_destroy(probe);
	if (ok) {
		a = aux_between(&m0, &m1, (double) n);
		record_latency(b, tls ? "tls.dial" : "tls.plain.dial", "tls",
		    tls ? "TLS dial (TCP + handshake)" : "plain dial (TCP)",
		    NULL, lat, n, &a);
	}
	return ok;
}

// server_heap_kib is the server process's heap (0 in one process, where
// heap_bytes counts both sides).
static bool
server_heap_kib(bench *b, drpc_conn *c, long *kib)
{
	server_info si;

	*kib = 0;
	if (!b->remote) {
		return true;
	}
	if (!bench_info(c, &si)) {
		return false;
	}
	*kib = si.heap_kib;
	return true;
}

// tls_memory holds TLS_MEM_CONNS connections, each after one call (so the
// server's side has finished its handshake too), and records the heap
// they hold, both sides together, per connection.
static bool
tls_memory(bench *b, bool tls)
{
	drpc_conn *conns[TLS_MEM_CONNS] = {0};
	drpc_conn *probe;
	uint8_t    req[BENCH_SMALL];
	long       s0;
	long       s1;
	long       h0;
	long       h1;
	size_t     n  = 0;
	bool       ok = true;

	fill_pattern(req, sizeof(req));
	if (!tls_dial(b, false, &probe)) {
		return false;
	}
	wd_arm_conn(&b->wd, "tls (memory)", 60 * NS_PER_S, probe);
	ok = server_heap_kib(b, probe, &s0);
	h0 = heap_bytes();
	for (; ok && n < TLS_MEM_CONNS; n++) {
		if (!tls_dial(b, tls, &conns[n])) {
			ok = false;
			break;
		}
		ok = unary_calls(conns[n], "tls", req, 1, NULL);
	}
	h1 = heap_bytes();
	ok = ok && server_heap_kib(b, probe, &s1);
	ok = !wd_disarm(&b->wd) && ok;
	for (size_t i = 0; i < n; i++) {
		drpc_conn_destroy(conns[i]);
	}
	drpc_conn_destroy(probe);
	if (ok) {
		double kib = ((double) (h1 - h0) / 1024.0 + (double) (s1 - s0)) /
		             TLS_MEM_CONNS;

		table_put(&b->tab, tls ? "tls.conn.heap_kib" : "tls.plain.conn.heap_kib",
		    "tls",
		    tls ? "TLS connection: heap KiB, both sides"
		        : "plain connection: heap KiB, both sides",
		    NULL, kib, NULL);
	}
	return ok;
}

bool
wl_tls(bench *b)
{
	if (b->tls.client == NULL || b->tls.addr[0] == '\0') {
		fprintf(stderr,
		    "drpc-bench: tls: the server has no TLS listener (a "
		    "--server needs --tls-cert and --tls-key)\n");
		return false;
	}
	for (int tls = 0; tls < 2; tls++) {
		if (!tls_latency(b, tls == 1)) {
			return false;
		}
	}
	for (int up = 0; up < 2; up++) {
		for (int tls = 0; tls < 2; tls++) {
			if (!tls_stream(b, tls == 1, up == 1)) {
				return false;
			}
		}
	}
	for (int tls = 0; tls < 2; tls++) {
		if (!tls_dials(b, tls == 1) || !tls_memory(b, tls == 1)) {
			return false;
		}
	}
	return true;
}

// The report.

typedef struct tls_target {
	const char *text;
	const char *id;
	const char *ref;
	target_op   op;
	double      bound;
} tls_target;

static const tls_target tls_targets[] = {
    {"TLS server stream 1 MiB >= 0.6x plain", "tls.stream.server.1MiB.mb_s",
        "tls.plain.stream.server.1MiB.mb_s", T_GE, 0.6},
    {"TLS client stream 1 MiB >= 0.6x plain", "tls.stream.client.1MiB.mb_s",
        "tls.plain.stream.client.1MiB.mb_s", T_GE, 0.6},
    {"TLS unary latency median <= 1.3x plain", "tls.unary.median_us",
        "tls.plain.unary.median_us", T_LE, 1.3},
};

static const char *const tls_rows[] = {"tls.plain.unary.median_us",
    "tls.unary.median_us", "tls.plain.stream.server.1MiB.mb_s",
    "tls.stream.server.1MiB.mb_s", "tls.plain.stream.client.1MiB.mb_s",
    "tls.stream.client.1MiB.mb_s", "tls.plain.dial.median_us",
    "tls.dial.median_us", "tls.plain.conn.heap_kib", "tls.conn.heap_kib"};

#define TLS_NROWS (sizeof(tls_rows) / sizeof(*tls_rows))

void
tls_json(bench *b)
{
	bool first = true;

	for (size_t i = 0; i < TLS_NROWS; i++) {
		double m;

		if (!table_median(&b->tab, tls_rows[i], &m)) {
			continue;
		}
		printf("%s\n    ", first ? ",\n  \"tls\": {" : ",");
		json_str(tls_rows[i]);
		printf(": %.6g", m);
		first = false;
	}
	if (!first) {
		printf("\n  }");
	}
}

void
tls_print(bench *b, bool rows)
{
	double x;
	double ref;

	if (!table_median(&b->tab, "tls.unary.median_us", &x)) {
		return;
	}
	printf("\nTLS (plain and TLS back to back in each repetition; "
	       "medians%s):\n",
	    !rows ? ""
	    : b->remote ? ", cpu µs per operation: client + server"
	                : ", cpu µs per operation of this process");
	for (size_t i = 0; rows && i < TLS_NROWS; i++) {
		const bench_row *r = table_find(&b->tab, tls_rows[i]);
		char             num[32];
		double           cpu;

		if (r == NULL) {
			continue;
		}
		fmt_num(num, sizeof(num), median_of(r->v, r->n));
		printf("  %-44s %12s", r->what, num);
		if (row_aux_median(r, AUX_CPU, &cpu)) {
			printf("   cpu %.1f µs", cpu);
		}
		if (b->remote && row_aux_median(r, AUX_SRV_CPU, &cpu)) {
			printf(" + server %.1f µs", cpu);
		}
		putchar('\n');
	}
	for (size_t i = 0; i < sizeof(tls_targets) / sizeof(*tls_targets); i++) {
		const tls_target *t = &tls_targets[i];

		if (table_median(&b->tab, t->id, &x) &&
		    table_median(&b->tab, t->ref, &ref) && ref != 0) {
			printf("  %-52s %.2fx  %s\n", t->text, x / ref,
			    target_ok(t->op, x / ref, t->bound) ? "met"
			                                         : "NOT MET");
		}
	}
}
