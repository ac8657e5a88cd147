// The TLS transport (lib/tls/): every call kind over TLS and mutual TLS,
// each handshake failure's cause, a client that never handshakes, garbage
// instead of a ClientHello, the peer hook, 64 threads on one connection.
// Certificates are made at run time (tlsutil.c).
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>
#include <drpc/tls.h>

#include "connutil.h"
#include "echo_service.h"
#include "platform/thread.h"
#include "srvlog.h"
#include "suites.h"
#include "testutil.h"
#include "tlsutil.h"
#include "tu_rows.h"

#define UNARY       "/interop.Echo/Unary"
#define SERVER_STR  "/interop.Echo/ServerStream"
#define CLIENT_STR  "/interop.Echo/ClientStream"
#define BIDI        "/interop.Echo/Bidi"

// A TLS server on 127.0.0.1 running the echo service.
typedef struct tsrv {
	tls_certs        certs;
	drpc_mux        *mux;
	drpc_server     *srv;
	srv_log          log;
	int              port;
} tsrv;

// tsrv_start starts a server with config c (its handle destroyed here:
// the server keeps its own reference).
static void
tsrv_start_with(tsrv *t, drpc_tls_config *c, int64_t handshake_ms)
{
	drpc_server_opts o = {0};
	char             addr[128];
	drpc_cause       why;
	const char      *colon;

	srv_log_init(&t->log, DRPC_LOG_DEBUG);
	DRPC_CHECK_OK(drpc_mux_create(&t->mux));
	DRPC_CHECK_OK(echo_register(t->mux));
	o.tls                  = c;
	srv_log_attach(&t->log, &o);
	o.handshake_timeout_ms = handshake_ms;
	DRPC_CHECK_OK(drpc_server_create(&t->srv, t->mux, &o));
	drpc_tls_config_destroy(c);
	DRPC_CHECK_OK(drpc_server_listen_cause(t->srv, "tls://127.0.0.1:0", &why));
	DRPC_CHECK_OK(drpc_server_addr(t->srv, addr, sizeof(addr)));
	colon = strrchr(addr, ':');
	ck_assert_ptr_nonnull(colon);
	t->port = atoi(colon + 1);
}

static void
tsrv_start(tsrv *t, drpc_tls_client_auth a)
{
	tls_certs_make(&t->certs);
	tsrv_start_with(t, server_config(&t->certs.server, t->certs.ca.cert, a), 0);
}

static void
tsrv_stop(tsrv *t)
{
	drpc_server_destroy(t->srv);
	drpc_mux_destroy(t->mux);
	tls_certs_free(&t->certs);
	srv_log_fini(&t->log);
}

static drpc_err
tdial(tsrv *t, const char *host, drpc_tls_config *c, drpc_conn **cp,
    drpc_cause *why)
{
	drpc_conn_opts o = {0};
	char           addr[128];
	drpc_err       rv;

	snprintf(addr, sizeof(addr), "tls://%s:%d", host, t->port);
	o.tls = c;
	rv    = drpc_dial_cause(cp, addr, &o, why);
	drpc_tls_config_destroy(c); // the connection keeps its own
	return rv;
}

// tsrv_dial dials t at host, trusting t's CA, with the client certificate
// if with_cert; the dial must succeed.
static drpc_conn *
tsrv_dial(tsrv *t, const char *host, bool with_cert)
{
	drpc_conn *c = NULL;
	drpc_cause why;

	DRPC_CHECK_OK(tdial(t, host,
	    client_config(&t->certs, t->certs.ca.cert, with_cert), &c, &why));
	return c;
}

// Calls: each kind, checked byte for byte; false at the first mismatch.

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		p[i] = (uint8_t) ((i * 31u + seed) % 251u);
	}
}

static drpc_err
call_unary(drpc_conn *c, size_t n, unsigned seed)
{
	uint8_t       *payload = malloc(n + 1);
	uint8_t       *req;
	size_t         req_len;
	void          *reply = NULL;
	size_t         reply_len;
	const uint8_t *p;
	size_t         plen;
	drpc_err       rv;

	fill(payload, n, seed);
	if ((rv = echo_msg_encode(payload, n, &req, &req_len)) == DRPC_OK) {
		rv = drpc_invoke(c, NULL, UNARY, req, req_len, NULL, &reply,
		    &reply_len, NULL);
		free(req);
	}
	if (rv == DRPC_OK &&
	    (echo_msg_decode(reply, reply_len, &p, &plen) != DRPC_OK ||
		plen != n || (n > 0 && memcmp(p, payload, n) != 0))) {
		rv = DRPC_EDATALOSS;
	}
	drpc_free(reply);
	free(payload);
	return rv;
}

static drpc_err
call_server_stream(drpc_conn *c, int32_t count, int32_t size)
{
	uint8_t      req[ECHO_REQ_MAX];
	size_t       len = echo_stream_req_put(req, count, size);
	drpc_stream *s;
	drpc_err     rv;
	int32_t      got = 0;
	void        *m;
	size_t       mlen;

	if ((rv = drpc_stream_open_request(&s, c, NULL, SERVER_STR, req, len,
		 NULL)) != DRPC_OK) {
		return rv;
	}
	while ((rv = drpc_stream_recv(s, &m, &mlen)) == DRPC_OK) {
		const uint8_t *p;
		size_t         plen;

		if (echo_msg_decode(m, mlen, &p, &plen) != DRPC_OK ||
		    plen != (size_t) size) {
			rv = DRPC_EDATALOSS;
		}
		for (size_t i = 0; rv == DRPC_OK && i < plen; i++) {
			if (p[i] != (uint8_t) (i % 251)) {
				rv = DRPC_EDATALOSS;
			}
		}
		drpc_free(m);
		got++;
		if (rv != DRPC_OK) {
			break;
		}
	}
	drpc_stream_destroy(s);
	if (rv == DRPC_EOF) {
		rv = got == count ? DRPC_OK : DRPC_EDATALOSS;
	}
	return rv;
}

static drpc_err
call_client_stream(drpc_conn *c, int n, size_t size, unsigned seed)
{
	drpc_stream   *s;
	uint8_t       *all = malloc((size_t) n * size + 1);
	drpc_err       rv;
	void          *m = NULL;
	size_t         mlen;
	const uint8_t *p;
	size_t         plen;

	if ((rv = drpc_stream_open(&s, c, NULL, CLIENT_STR, NULL)) != DRPC_OK) {
		free(all);
		return rv;
	}
	fill(all, (size_t) n * size, seed);
	for (int i = 0; i < n && rv == DRPC_OK; i++) {
		uint8_t *req;
		size_t   req_len;

		rv = echo_msg_encode(all + (size_t) i * size, size, &req, &req_len);
		if (rv == DRPC_OK) {
			rv = drpc_stream_send(s, req, req_len);
			free(req);
		}
	}
	if (rv == DRPC_OK && (rv = drpc_stream_close_send(s)) == DRPC_OK &&
	    (rv = drpc_stream_recv(s, &m, &mlen)) == DRPC_OK &&
	    (echo_msg_decode(m, mlen, &p, &plen) != DRPC_OK ||
		plen != (size_t) n * size ||
		(plen > 0 && memcmp(p, all, plen) != 0))) {
		rv = DRPC_EDATALOSS;
	}
	drpc_free(m);
	drpc_stream_destroy(s);
	free(all);
	return rv;
}

static drpc_err
call_bidi(drpc_conn *c, int n, size_t size, unsigned seed)
{
	drpc_stream *s;
	uint8_t     *want = malloc(size + 1);
	drpc_err     rv;

	if ((rv = drpc_stream_open(&s, c, NULL, BIDI, NULL)) != DRPC_OK) {
		free(want);
		return rv;
	}
	for (int i = 0; i < n && rv == DRPC_OK; i++) {
		uint8_t       *req;
		size_t         req_len;
		void          *m;
		size_t         mlen;
		const uint8_t *p;
		size_t         plen;

		fill(want, size, seed + (unsigned) i);
		if ((rv = echo_msg_encode(want, size, &req, &req_len)) != DRPC_OK) {
			break;
		}
		rv = drpc_stream_send(s, req, req_len);
		free(req);
		if (rv == DRPC_OK && (rv = drpc_stream_recv(s, &m, &mlen)) ==
					 DRPC_OK) {
			if (echo_msg_decode(m, mlen, &p, &plen) != DRPC_OK ||
			    plen != size ||
			    (size > 0 && memcmp(p, want, size) != 0)) {
				rv = DRPC_EDATALOSS;
			}
			drpc_free(m);
		}
	}
	if (rv == DRPC_OK) {
		rv = drpc_stream_close_send(s);
	}
	drpc_stream_destroy(s);
	free(want);
	return rv;
}

static void
check_every_kind(drpc_conn *c)
{
	DRPC_CHECK_OK(call_unary(c, 0, 1));
	DRPC_CHECK_OK(call_unary(c, 100, 2));
	DRPC_CHECK_OK(call_unary(c, 300000, 3)); // many records
	DRPC_CHECK_OK(call_server_stream(c, 50, 40000));
	DRPC_CHECK_OK(call_client_stream(c, 40, 20000, 4));
	DRPC_CHECK_OK(call_bidi(c, 30, 70000, 5)); // the direct path's size
	DRPC_CHECK_OK(call_bidi(c, 200, 10, 6));
}

// Every kind of call, without and with a client certificate (the
// server requires one), by name; by IP address too: the server's
// certificate names 127.0.0.1 as well.
START_TEST(test_tls_every_kind)
{
	tsrv       t;
	drpc_conn *c;
	bool       mutual = _i == 1;

	tsrv_start(&t,
	    mutual ? DRPC_TLS_CLIENT_AUTH_REQUIRE : DRPC_TLS_CLIENT_AUTH_NONE);
	c = tsrv_dial(&t, "localhost", mutual);
	check_every_kind(c);
	drpc_conn_destroy(c);
	if (!mutual) {
		c = tsrv_dial(&t, "127.0.0.1", false);
		DRPC_CHECK_OK(call_unary(c, 10, 7));
		drpc_conn_destroy(c);
	}
	tsrv_stop(&t);
}
END_TEST

// The server's certificate from files, and the CA from a file.
START_TEST(test_tls_files)
{
	tsrv             t;
	drpc_conn       *c;
	drpc_cause       why;
	drpc_tls_config *sc;
	drpc_tls_config *cc;
	char            *cert;
	char            *key;
	char            *ca;

	tls_certs_make(&t.certs);
	tls_write_temp(t.certs.server.cert, &cert);
	tls_write_temp(t.certs.server.key, &key);
	tls_write_temp(t.certs.ca.cert, &ca);
	DRPC_CHECK_OK(drpc_tls_config_create(&sc, DRPC_TLS_SERVER, &why));
	DRPC_CHECK_ERR(drpc_tls_config_set_cert_files(sc, cert, ca, &why),
	    DRPC_EINVAL); // a certificate is no key
	ck_assert_ptr_nonnull(strstr(why.text, ca));
	DRPC_CHECK_OK(drpc_tls_config_set_cert_files(sc, cert, key, &why));
	tsrv_start_with(&t, sc, 0);
	DRPC_CHECK_OK(drpc_tls_config_create(&cc, DRPC_TLS_CLIENT, &why));
	DRPC_CHECK_OK(drpc_tls_config_set_ca(cc, ca, NULL, &why));
	DRPC_CHECK_OK(tdial(&t, "localhost", cc, &c, &why));
	DRPC_CHECK_OK(call_unary(c, 1000, 8));
	drpc_conn_destroy(c);
	tsrv_stop(&t);
	tls_remove_temp(cert);
	tls_remove_temp(key);
	tls_remove_temp(ca);
}
END_TEST

START_TEST(test_tls_needs_config)
{
	drpc_conn   *c = NULL;
	drpc_cause   why;
	drpc_mux    *m;
	drpc_server *s;

	DRPC_CHECK_ERR(drpc_dial_cause(&c, "tls://127.0.0.1:1", NULL, &why),
	    DRPC_EINVAL);
	ck_assert_ptr_nonnull(strstr(why.text, "drpc_conn_opts.tls"));
	DRPC_CHECK_OK(drpc_mux_create(&m));
	DRPC_CHECK_OK(drpc_server_create(&s, m, NULL));
	DRPC_CHECK_ERR(drpc_server_listen_cause(s, "tls://127.0.0.1:0", &why),
	    DRPC_EINVAL);
	ck_assert_ptr_nonnull(strstr(why.text, "drpc_server_opts.tls"));
	drpc_server_destroy(s);
	drpc_mux_destroy(m);
}
END_TEST

// Handshake failures, as the client words them.

static void
check_dial_fails(tsrv *t, const char *host, drpc_tls_config *c,
    const char *want)
{
	drpc_conn *cn = NULL;
	drpc_cause why;

	DRPC_CHECK_ERR(tdial(t, host, c, &cn, &why), DRPC_EUNAVAIL);
	ck_assert_ptr_null(cn);
	ck_assert_msg(strstr(why.text, "tls handshake with tcp://127.0.0.1:") !=
			  NULL && strstr(why.text, want) != NULL,
	    "cause \"%s\", want \"%s\"", why.text, want);
}

// A server certificate the client cannot trust: expired, or from a CA it
// does not know.
START_TEST(test_tls_untrusted)
{
	tsrv t;

	tls_certs_make(&t.certs);
	{
		const struct {
			const tls_pem *cert;
			const char    *want;
		} cases[] = {
		    {&t.certs.expired,
		        "certificate verify failed: certificate has expired"},
		    {&t.certs.foreign, "certificate verify failed: unknown CA"},
		};

		tsrv_start_with(&t,
		    server_config(
		        cases[_i].cert, NULL, DRPC_TLS_CLIENT_AUTH_NONE),
		    0);
		check_dial_fails(&t, "localhost",
		    client_config(&t.certs, t.certs.ca.cert, false),
		    cases[_i].want);
	}
	tsrv_stop(&t);
}
END_TEST

START_TEST(test_tls_hostname_mismatch)
{
	tsrv             t;
	drpc_tls_config *c;

	tsrv_start(&t, DRPC_TLS_CLIENT_AUTH_NONE);
	c = client_config(&t.certs, t.certs.ca.cert, false);
	DRPC_CHECK_OK(drpc_tls_config_set_server_name(c, "other.example"));
	check_dial_fails(&t, "localhost", c,
	    "certificate verify failed: hostname mismatch");
	// Verification off accepts it (explicitly).
	c = client_config(&t.certs, t.certs.ca.cert, false);
	DRPC_CHECK_OK(drpc_tls_config_set_server_name(c, "other.example"));
	drpc_tls_config_set_verify(c, false);
	{
		drpc_conn *cn;
		drpc_cause why;

		DRPC_CHECK_OK(tdial(&t, "localhost", c, &cn, &why));
		DRPC_CHECK_OK(call_unary(cn, 5, 9));
		drpc_conn_destroy(cn);
	}
	tsrv_stop(&t);
}
END_TEST

// A channel over TLS: its backends dial the numeric address a name
// resolved to and verify the name itself ("localhost" is in the
// certificate, "127.0.0.1"'s own IP SAN would not prove the name). A
// certificate for another name fails the backend with the verifier's
// words, and a tls:// target without a config is refused.
START_TEST(test_tls_channel)
{
	tsrv              t;
	drpc_channel     *ch;
	drpc_channel_opts o = {0};
	drpc_cause        why;
	char              target[128];

	tsrv_start(&t, DRPC_TLS_CLIENT_AUTH_NONE);
	snprintf(target, sizeof(target), "tls://localhost:%d", t.port);
	o.conn.tls          = client_config(&t.certs, t.certs.ca.cert, false);
	o.ping_interval_ms  = -1;
	o.backoff_initial_ms = 5;
	DRPC_CHECK_OK(drpc_channel_create(&ch, target, &o, &why));
	drpc_tls_config_destroy((drpc_tls_config *) o.conn.tls);
	DRPC_CHECK_OK(drpc_channel_wait_ready(ch, drpc_now_ns() + tu_bound_ns(TU_WAIT_NS)));
	for (unsigned i = 0; i < 20; i++) {
		DRPC_CHECK_OK(call_unary(drpc_channel_conn(ch), 100 + i, i));
	}
	drpc_channel_destroy(ch);

	// The config names another server: every backend fails to verify.
	o.conn.tls = client_config(&t.certs, t.certs.ca.cert, false);
	DRPC_CHECK_OK(drpc_tls_config_set_server_name(
	    (drpc_tls_config *) o.conn.tls, "other.example"));
	DRPC_CHECK_OK(drpc_channel_create(&ch, target, &o, &why));
	drpc_tls_config_destroy((drpc_tls_config *) o.conn.tls);
	DRPC_CHECK_ERR(call_unary(drpc_channel_conn(ch), 5, 1), DRPC_EUNAVAIL);
	ck_assert_int_eq(drpc_channel_cause(ch, &why), DRPC_EUNAVAIL);
	ck_assert_msg(strstr(why.text, "hostname mismatch") != NULL, "%s",
	    why.text);
	drpc_channel_destroy(ch);

	o.conn.tls = NULL;
	DRPC_CHECK_ERR(drpc_channel_create(&ch, target, &o, &why), DRPC_EINVAL);
	tsrv_stop(&t);
}
END_TEST

// A server that takes TLS 1.3 only, and a client that speaks at most 1.2.
START_TEST(test_tls_version)
{
	tsrv             t;
	drpc_tls_config *sc;
	drpc_tls_config *c;

	tls_certs_make(&t.certs);
	sc = server_config(&t.certs.server, NULL, DRPC_TLS_CLIENT_AUTH_NONE);
	drpc_tls_config_set_min_version(sc, DRPC_TLS_1_3);
	tsrv_start_with(&t, sc, 0);
	c = client_config(&t.certs, t.certs.ca.cert, false);
	drpc_tls_config_set_max_version(c, DRPC_TLS_1_2);
	check_dial_fails(&t, "localhost", c, "protocol version");
	ck_assert(
	    srv_log_wait(&t.log, "tls handshake with", "unsupported protocol"));
	tsrv_stop(&t);
}
END_TEST

// Mutual TLS required, and the client has no certificate: TLS 1.3 ends
// the client's handshake before the server checks, so the dial may
// succeed; the first call fails, and the server says why.
START_TEST(test_tls_client_cert_required)
{
	tsrv       t;
	drpc_conn *c = NULL;
	drpc_cause why;
	drpc_err   rv;

	tsrv_start(&t, DRPC_TLS_CLIENT_AUTH_REQUIRE);
	rv = tdial(&t, "localhost",
	    client_config(&t.certs, t.certs.ca.cert, false), &c, &why);
	if (rv == DRPC_OK) {
		ck_assert_int_ne(call_unary(c, 5, 10), DRPC_OK);
		(void) drpc_conn_cause(c, &why);
		drpc_conn_destroy(c);
	}
	ck_assert_msg(strstr(why.text, "certificate required") != NULL,
	    "client cause \"%s\"", why.text);
	ck_assert(srv_log_wait(
	    &t.log, "tls handshake with", "peer did not return a certificate"));
	tsrv_stop(&t);
}
END_TEST

// raw_connect makes a plain TCP connection to the server.
static int
raw_connect(int port)
{
	struct sockaddr_in a = {0};
	int                fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	a.sin_family      = AF_INET;
	a.sin_port        = htons((uint16_t) port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	return fd;
}

// raw_wait_closed reads (and drops) what the server sends until it
// closes the connection; false if that never happens within the bound.
static bool
raw_wait_closed(int fd)
{
	int64_t until = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	char    buf[512];

	while (drpc_now_ns() < until) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		ssize_t       n;

		if (poll(&pf, 1, 100) <= 0) {
			continue;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			return true;
		}
	}
	return false;
}

// drpc_conn_create_fd with a TLS config handshakes on the caller's socket.
START_TEST(test_tls_create_fd)
{
	tsrv             t;
	drpc_conn       *c;
	drpc_conn_opts   o = {0};
	drpc_tls_config *cc;
	int              fd;

	tsrv_start(&t, DRPC_TLS_CLIENT_AUTH_NONE);
	cc = client_config(&t.certs, t.certs.ca.cert, false);
	DRPC_CHECK_OK(drpc_tls_config_set_server_name(cc, "localhost"));
	o.tls = cc;
	fd    = raw_connect(t.port);
	DRPC_CHECK_OK(drpc_conn_create_fd(&c, fd, &o));
	drpc_tls_config_destroy(cc);
	DRPC_CHECK_OK(call_unary(c, 3000, 14));
	drpc_conn_destroy(c); // closes fd
	tsrv_stop(&t);
}
END_TEST

// A client that connects and never starts the handshake blocks nobody,
// and the server's handshake timeout closes it.
START_TEST(test_tls_silent_client)
{
	tsrv       t;
	drpc_conn *c;
	int        fd;

	tls_certs_make(&t.certs);
	tsrv_start_with(&t, server_config(&t.certs.server, NULL,
				DRPC_TLS_CLIENT_AUTH_NONE), 300);
	fd = raw_connect(t.port);
	// Served beside it. Under load, this connection too may meet the
	// short timeout before its first frame: then it dials again (the
	// test is about the silent one never holding it up).
	for (int i = 0;; i++) {
		c = tsrv_dial(&t, "localhost", false);
		if (call_unary(c, 100, 11) == DRPC_OK) {
			break;
		}
		drpc_conn_destroy(c);
		ck_assert_int_lt(i, 5);
	}
	ck_assert(raw_wait_closed(fd));
	close(fd);
	// The served client was not closed with it: it is not idle-timed.
	DRPC_CHECK_OK(call_unary(c, 100, 12));
	drpc_conn_destroy(c);
	tsrv_stop(&t);
}
END_TEST

// Bytes that are no ClientHello end that connection with a cause.
START_TEST(test_tls_garbage)
{
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	tsrv              t;
	int               fd;
	drpc_conn        *c;

	tsrv_start(&t, DRPC_TLS_CLIENT_AUTH_NONE);
	fd = raw_connect(t.port);
	ck_assert_int_eq(send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL),
	    (ssize_t) sizeof(junk) - 1);
	ck_assert(raw_wait_closed(fd));
	close(fd);
	ck_assert(srv_log_wait(
	    &t.log, "tls handshake with tcp://127.0.0.1:", "http request"));
	// And a DRPC client speaking plain TCP to a TLS server: an Invoke
	// frame (kind 2, stream 1, message 1) of "/interop.Echo/Unary".
	fd = raw_connect(t.port);
	ck_assert_int_eq(send(fd, "\x02\x01\x01\x13/interop.Echo/Unary", 23,
			     MSG_NOSIGNAL), 23);
	ck_assert(raw_wait_closed(fd));
	close(fd);
	ck_assert(srv_log_wait(&t.log, "wrong version number", NULL));
	// The server still serves.
	c = tsrv_dial(&t, "localhost", false);
	DRPC_CHECK_OK(call_unary(c, 100, 13));
	drpc_conn_destroy(c);
	tsrv_stop(&t);
}
END_TEST

// 64 threads of mixed calls on one TLS connection: the reader and the
// drain thread busy on one SSL at once.

typedef struct mixed {
	drpc_conn *c;
	unsigned   id;
	drpc_err   rv;
	int        step;
} mixed;

static void *
mixed_main(void *arg)
{
	mixed *m = arg;

	for (int i = 0; i < 6 && m->rv == DRPC_OK; i++) {
		unsigned seed = m->id * 100 + (unsigned) i;

		m->step = i;
		switch ((m->id + (unsigned) i) % 4) {
		case 0:
			m->rv = call_unary(m->c, (seed % 7) * 9000 + 1, seed);
			break;
		case 1:
			m->rv = call_bidi(m->c, 8, (seed % 5) * 20000 + 3, seed);
			break;
		case 2:
			m->rv = call_server_stream(m->c, 6, (int32_t) (seed % 3) * 30000);
			break;
		default:
			m->rv = call_client_stream(m->c, 5, 17000, seed);
			break;
		}
	}
	return NULL;
}

START_TEST(test_tls_64_threads)
{
	enum { N = 64 };
	tsrv       t;
	drpc_conn *c;
	pthread_t  th[N];
	mixed      m[N];

	tsrv_start(&t, DRPC_TLS_CLIENT_AUTH_REQUIRE);
	c = tsrv_dial(&t, "localhost", true);
	for (unsigned i = 0; i < N; i++) {
		m[i] = (mixed) {.c = c, .id = i};
		ck_assert_int_eq(pthread_create(&th[i], NULL, mixed_main, &m[i]), 0);
	}
	for (unsigned i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
	}
	for (unsigned i = 0; i < N; i++) {
		ck_assert_msg(m[i].rv == DRPC_OK, "thread %u step %d: %s", i,
		    m[i].step, drpc_err_name(m[i].rv));
	}
	drpc_conn_destroy(c);
	tsrv_stop(&t);
}
END_TEST

static TU_ROWS(tls_tests,
    TU_TEST("tls", test_tls_every_kind, .loops = 2, .timeout = 60),
    TU_TEST("tls", test_tls_files), TU_TEST("tls", test_tls_needs_config),
    TU_TEST("tls", test_tls_untrusted, .loops = 2),
    TU_TEST("tls", test_tls_hostname_mismatch),
    TU_TEST("tls", test_tls_channel), TU_TEST("tls", test_tls_version),
    TU_TEST("tls", test_tls_client_cert_required),
    TU_TEST("tls", test_tls_create_fd), TU_TEST("tls", test_tls_silent_client),
    TU_TEST("tls", test_tls_garbage), TU_TEST("tls", test_tls_64_threads))

Suite *
tls_suite(void)
{
	tu_rows_fn *const parts[] = {tls_tests, tls_io_tests, tls_auth_tests};

	return tu_suite_parts("tls", parts, TU_LEN(parts));
}
