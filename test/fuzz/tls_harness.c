// Fuzz harness for a TLS server connection's DRPC layer: the input is what
// a client sends as application data after a completed handshake (the TLS
// layer itself is OpenSSL's to fuzz). A libdrpc server with a TLS config
// (a certificate made here, per input) serves one end of a socketpair; on
// the other, an in-process OpenSSL client handshakes, writes the input
// while reading (and dropping) what the server sends, sends close_notify,
// half-closes, and reads until the server closes. Then the same server
// must still serve a second, well-formed connection: a unary call whose
// reply is checked byte for byte. Destroying the server joins every thread
// and frees everything, so ASan's leak check sees what the input left. A
// hang (10 s, times CK_TIMEOUT_MULTIPLIER when the Check suite replays
// under a sanitizer), a broken invariant or a wrong reply aborts, so
// libFuzzer reports it. OpenSSL's socket BIO writes with write(2): the
// harness's thread blocks SIGPIPE while it runs (a server that closed
// gives EPIPE) and takes any it raised before unblocking it.
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>
#include <drpc/tls.h>

#include "harness.h"

#define TH_HANG_NS (10 * 1000000000ll)

static void
th_fail(const char *what)
{
	fprintf(stderr, "fuzz tls: %s\n", what);
	abort();
}

// th_echo echoes every message until the stream ends (any method).
static drpc_err
th_echo(drpc_stream *s, void *user)
{
	void    *m;
	size_t   len;
	drpc_err rv;

	(void) user;
	while ((rv = drpc_stream_recv(s, &m, &len)) == DRPC_OK) {
		rv = drpc_stream_send(s, m, len);
		drpc_free(m);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// The interop service's names (the seed corpus is its transcripts).
static const char *const th_methods[] = {"/interop.Echo/Unary",
    "/interop.Echo/ServerStream", "/interop.Echo/ClientStream",
    "/interop.Echo/Bidi", "/interop.Echo/Fail", "/interop.Echo/Metadata",
    "/interop.Echo/Sleep"};

// th_pem writes what b holds into a new string (b freed).
static char *
th_pem(BIO *b, size_t *len)
{
	char *p;
	long  n = BIO_get_mem_data(b, &p);
	char *s = n >= 0 ? malloc((size_t) n + 1) : NULL;

	if (s == NULL) {
		th_fail("out of memory");
	}
	memcpy(s, p, (size_t) n);
	s[n] = '\0';
	*len = (size_t) n;
	BIO_free(b);
	return s;
}

// th_server_config makes a server config with a self-signed P-256
// certificate (no client certificate asked for).
static drpc_tls_config *
th_server_config(void)
{
	EVP_PKEY        *k = EVP_EC_gen("P-256");
	X509            *x = X509_new();
	BIO             *cb = BIO_new(BIO_s_mem());
	BIO             *kb = BIO_new(BIO_s_mem());
	drpc_tls_config *c;
	char            *cert;
	char            *key;
	size_t           clen;
	size_t           klen;

	if (k == NULL || x == NULL || cb == NULL || kb == NULL ||
	    X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    X509_set_pubkey(x, k) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
		MBSTRING_ASC, (const unsigned char *) "fuzz", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    X509_sign(x, k, EVP_sha256()) <= 0 ||
	    PEM_write_bio_X509(cb, x) != 1 ||
	    PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL) != 1) {
		th_fail("making the certificate failed");
	}
	X509_free(x);
	EVP_PKEY_free(k);
	cert = th_pem(cb, &clen);
	key  = th_pem(kb, &klen);
	if (drpc_tls_config_create(&c, DRPC_TLS_SERVER, NULL) != DRPC_OK ||
	    drpc_tls_config_set_cert_pem(c, cert, clen, key, klen, NULL) !=
		DRPC_OK) {
		th_fail("the server config failed");
	}
	free(cert);
	free(key);
	return c;
}

// A client end: the socket and OpenSSL on it, non-blocking.
typedef struct th_client {
	int     fd;
	SSL    *ssl;
	int64_t deadline;
	uint8_t got[64];  // the first bytes the server sent
	size_t  ngot;
	bool    eof;      // the server closed (or failed) its end
} th_client;

// th_wait polls fd for what OpenSSL asked (e: SSL_get_error's), aborting
// past the deadline.
static void
th_wait(th_client *k, int e)
{
	struct pollfd p = {k->fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0};

	if (drpc_now_ns() > k->deadline) {
		th_fail("the connection hung");
	}
	(void) poll(&p, 1, 100);
}

// th_drain reads what the server sent without blocking, keeping the
// first bytes; sets eof at its end (or a failure: a server that cut the
// connection short is allowed to).
static void
th_drain(th_client *k)
{
	uint8_t buf[16384];

	while (!k->eof) {
		size_t n = 0;
		int    r = SSL_read_ex(k->ssl, buf, sizeof(buf), &n);

		if (r == 1) {
			size_t keep = sizeof(k->got) - k->ngot;

			keep = n < keep ? n : keep;
			memcpy(k->got + k->ngot, buf, keep);
			k->ngot += keep;
			continue;
		}
		r = SSL_get_error(k->ssl, r);
		if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE) {
			k->eof = true;
		}
		ERR_clear_error();
		return;
	}
}

// th_connect starts a connection to srv: a socketpair whose one end the
// server serves, the other end ours after a completed handshake.
static void
th_connect(th_client *k, drpc_server *srv, SSL_CTX *ctx)
{
	const char *mult = getenv("CK_TIMEOUT_MULTIPLIER");
	int64_t     m    = mult != NULL ? atoll(mult) : 1;
	int         sv[2];
	int         r;

	memset(k, 0, sizeof(*k));
	k->deadline = drpc_now_ns() + (m > 1 ? m : 1) * TH_HANG_NS;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		th_fail("socketpair failed");
	}
	if (drpc_server_serve_fd(srv, sv[1]) != DRPC_OK) {
		th_fail("the server refused a connection");
	}
	k->fd = sv[0];
	(void) fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK);
	if ((k->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(k->ssl, k->fd) != 1) {
		th_fail("SSL_new failed");
	}
	SSL_set_connect_state(k->ssl);
	while ((r = SSL_do_handshake(k->ssl)) != 1) {
		int e = SSL_get_error(k->ssl, r);

		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			th_fail("the handshake failed");
		}
		th_wait(k, e);
	}
}

// th_send writes data as application data, reading meanwhile; stops
// early if the server closed the connection.
static void
th_send(th_client *k, const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size && !k->eof) {
		size_t n   = 0;
		size_t len = size - off < 16384 ? size - off : 16384;
		int    r   = SSL_write_ex(k->ssl, data + off, len, &n);
		int    e;

		if (r == 1) {
			off += n;
			th_drain(k);
			continue;
		}
		e = SSL_get_error(k->ssl, r);
		ERR_clear_error();
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			return; // the server is gone
		}
		th_drain(k);
		th_wait(k, e);
	}
}

// th_finish sends close_notify and half-closes, then reads until the
// server closes its end.
static void
th_finish(th_client *k)
{
	(void) SSL_shutdown(k->ssl);
	ERR_clear_error();
	(void) shutdown(k->fd, SHUT_WR);
	for (th_drain(k); !k->eof; th_drain(k)) {
		th_wait(k, SSL_ERROR_WANT_READ);
	}
}

static void
th_close(th_client *k)
{
	SSL_free(k->ssl);
	close(k->fd);
}

// A unary call to /interop.Echo/Unary of Msg{"hello, drpc"}: Invoke,
// Message, CloseSend; the echo answers with the same Message, then
// CloseSend (as unary_small's transcript).
static const uint8_t th_call[] = {0x03, 0x01, 0x01, 0x13, '/', 'i', 'n', 't',
    'e', 'r', 'o', 'p', '.', 'E', 'c', 'h', 'o', '/', 'U', 'n', 'a', 'r', 'y',
    0x05, 0x01, 0x02, 0x0d, 0x0a, 0x0b, 'h', 'e', 'l', 'l', 'o', ',', ' ',
    'd', 'r', 'p', 'c', 0x0d, 0x01, 0x03, 0x00};
static const uint8_t th_reply[] = {0x05, 0x01, 0x01, 0x0d, 0x0a, 0x0b, 'h',
    'e', 'l', 'l', 'o', ',', ' ', 'd', 'r', 'p', 'c', 0x0d, 0x01, 0x02, 0x00};

void
fuzz_tls_server_input(const uint8_t *data, size_t size)
{
	drpc_server_opts o = {.max_msg_size = (size_t) 1 << 20,
	    .max_handlers = 8, .max_streams = 64};
	drpc_mux        *mux;
	drpc_server     *srv;
	SSL_CTX         *ctx;
	th_client        k;
	sigset_t         pipe;
	sigset_t         old;
	struct timespec  now = {0, 0};

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	(void) pthread_sigmask(SIG_BLOCK, &pipe, &old);
	o.tls = th_server_config();
	if (drpc_mux_create(&mux) != DRPC_OK) {
		th_fail("drpc_mux_create failed");
	}
	for (size_t i = 0; i < sizeof(th_methods) / sizeof(th_methods[0]); i++) {
		if (drpc_mux_register(mux, th_methods[i], th_echo, NULL) != DRPC_OK) {
			th_fail("drpc_mux_register failed");
		}
	}
	if (drpc_server_create(&srv, mux, &o) != DRPC_OK ||
	    (ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		th_fail("the server or the client context failed");
	}
	drpc_tls_config_destroy((drpc_tls_config *) (uintptr_t) o.tls);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); // not under test

	th_connect(&k, srv, ctx);
	th_send(&k, data, size);
	th_finish(&k);
	th_close(&k);

	// The server still serves, and right.
	th_connect(&k, srv, ctx);
	th_send(&k, th_call, sizeof(th_call));
	while (k.ngot < sizeof(th_reply) && !k.eof) {
		th_drain(&k);
		if (k.ngot < sizeof(th_reply) && !k.eof) {
			th_wait(&k, SSL_ERROR_WANT_READ);
		}
	}
	if (k.ngot < sizeof(th_reply) ||
	    memcmp(k.got, th_reply, sizeof(th_reply)) != 0) {
		th_fail("the second connection's call got a wrong reply");
	}
	th_finish(&k);
	th_close(&k);

	SSL_CTX_free(ctx);
	drpc_server_destroy(srv);
	drpc_mux_destroy(mux);
	while (sigtimedwait(&pipe, NULL, &now) == SIGPIPE) {
	}
	(void) pthread_sigmask(SIG_SETMASK, &old, NULL);
}
