// The TLS transport itself, without connections: its peer hook, and
// the writer's non-blocking path (try_writev) over a full socket.
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>
#include <drpc/tls.h>

#include "connutil.h"
#include "suites.h"
#include "testutil.h"
#include "tlsutil.h"
#include "transport/transport.h"
#include "tu_rows.h"

// The peer hook, on two transports made directly.

typedef struct hs_client {
	int              fd;
	drpc_tls_config *c;
	drpc_transport  *tr;
	drpc_cause       why;
	drpc_err         rv;
} hs_client;

static void *
hs_client_main(void *arg)
{
	hs_client *h = arg;

	h->rv = drpc_transport_create_tls(&h->tr, h->fd, h->c, "localhost",
	    drpc_now_ns() + tu_bound_ns(TU_WAIT_NS), &h->why);
	if (h->rv == DRPC_OK) {
		drpc_iovec v = {"hi", 2};

		h->rv = h->tr->ops.writev(h->tr->impl, &v, 1);
	}
	return NULL;
}

static void
peer_free(drpc_peer *p)
{
	for (size_t i = 0; i < p->nsans; i++) {
		free(p->sans[i]);
	}
	free(p->sans);
	free(p->subject);
	free(p->der);
	memset(p, 0, sizeof(*p));
}

START_TEST(test_tls_peer_hook)
{
	tls_certs        certs;
	int              sv[2];
	hs_client        h = {0};
	pthread_t        th;
	drpc_tls_config *sc;
	drpc_transport  *st;
	drpc_cause       why;
	char             buf[8];
	size_t           n = 0;
	drpc_peer        p = {0};

	tls_certs_make(&certs);
	tu_tcp_pair(sv);
	sc = server_config(&certs.server, certs.ca.cert,
	    DRPC_TLS_CLIENT_AUTH_REQUIRE);
	h.fd = sv[0];
	h.c  = client_config(&certs, certs.ca.cert, true);
	DRPC_CHECK_OK(drpc_transport_create_tls(&st, sv[1], sc, NULL, 0, &why));
	drpc_tls_config_destroy(sc); // the transport holds it
	ck_assert_int_eq(pthread_create(&th, NULL, hs_client_main, &h), 0);
	// The server handshakes in its first read, then reads "hi".
	while (n < 2) {
		size_t got;

		DRPC_CHECK_OK(st->ops.read(st->impl, buf + n, sizeof(buf) - n, &got));
		ck_assert_uint_gt(got, 0);
		n += got;
	}
	pthread_join(th, NULL);
	DRPC_CHECK_OK(h.rv);
	ck_assert_mem_eq(buf, "hi", 2);

	ck_assert(st->peer != NULL);
	DRPC_CHECK_OK(st->peer(st->impl, &p));
	ck_assert(p.tls);
	ck_assert(p.verified);
	ck_assert_ptr_nonnull(strstr(p.addr, "tcp://127.0.0.1:"));
	ck_assert_str_eq(p.subject, "CN=client,O=drpc test");
	ck_assert(tls_has_san(&p, "URI:spiffe://drpc.test/client"));
	ck_assert_ptr_nonnull(p.der);
	ck_assert_uint_gt(p.der_len, 100);
	ck_assert_uint_eq(p.der[0], 0x30); // a DER SEQUENCE
	peer_free(&p);

	DRPC_CHECK_OK(h.tr->peer(h.tr->impl, &p));
	ck_assert(p.verified);
	ck_assert_str_eq(p.subject, "CN=localhost,O=drpc test");
	ck_assert(tls_has_san(&p, "DNS:localhost"));
	ck_assert(tls_has_san(&p, "IP:127.0.0.1"));
	peer_free(&p);

	drpc_transport_destroy(h.tr);
	drpc_transport_destroy(st);
	drpc_tls_config_destroy(h.c);
	tls_certs_free(&certs);
}
END_TEST

// tpair_open joins a client and a server TLS transport over loopback
// TCP, handshaken (the server's in its first read, of "hi").
static void
tpair_open(tls_certs *certs, drpc_transport **client, drpc_transport **server)
{
	int              sv[2];
	hs_client        h = {0};
	pthread_t        th;
	drpc_tls_config *sc;
	drpc_cause       why;
	char             buf[2];
	size_t           n = 0;

	tu_tcp_pair(sv);
	sc   = server_config(&certs->server, NULL, DRPC_TLS_CLIENT_AUTH_NONE);
	h.fd = sv[0];
	h.c  = client_config(certs, certs->ca.cert, false);
	DRPC_CHECK_OK(drpc_transport_create_tls(server, sv[1], sc, NULL, 0, &why));
	drpc_tls_config_destroy(sc);
	ck_assert_int_eq(pthread_create(&th, NULL, hs_client_main, &h), 0);
	while (n < 2) {
		size_t got;

		DRPC_CHECK_OK((*server)->ops.read(
		    (*server)->impl, buf + n, sizeof(buf) - n, &got));
		ck_assert_uint_gt(got, 0);
		n += got;
	}
	pthread_join(th, NULL);
	DRPC_CHECK_OK(h.rv);
	drpc_tls_config_destroy(h.c);
	*client = h.tr;
}

#define TW_TOTAL ((size_t) 24 << 20)

typedef struct tw_reader {
	drpc_transport *tr;
	size_t          got;
	bool            bad;
	drpc_err        rv;
} tw_reader;

static uint8_t
tw_byte(size_t i)
{
	return (uint8_t) ((i * 7 + i / 65521) % 253);
}

static void *
tw_reader_main(void *arg)
{
	tw_reader *r = arg;
	uint8_t    buf[65536];

	while (r->got < TW_TOTAL && r->rv == DRPC_OK) {
		size_t n = 0;

		r->rv = r->tr->ops.read(r->tr->impl, buf, sizeof(buf), &n);
		if (r->rv == DRPC_OK && n == 0) {
			r->rv = DRPC_EOF;
		}
		for (size_t i = 0; i < n && !r->bad; i++) {
			r->bad = buf[i] != tw_byte(r->got + i);
		}
		r->got += n;
	}
	return NULL;
}

// The writer's paths over TLS: try_writev until the socket is full leaves
// ciphertext unsent (all it took reported written but its last byte); the
// next try_writev, while still full, writes nothing; the drain thread's
// blocking writev sends what was left first; more try_writev and
// wait_writable finish the rest. The peer gets every byte, in order.
START_TEST(test_tls_try_writev)
{
	tls_certs       certs;
	drpc_transport *ct;
	drpc_transport *st;
	uint8_t        *data = malloc(TW_TOTAL);
	size_t          sent = 0;
	size_t          put  = 0;
	tw_reader       r    = {0};
	pthread_t       th;
	drpc_iovec      v;

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < TW_TOTAL; i++) {
		data[i] = tw_byte(i);
	}
	tls_certs_make(&certs);
	tpair_open(&certs, &ct, &st);
	ck_assert(drpc__transport_can_try(ct));
	// Fill the socket: each call writes whole records, until one does
	// not fit.
	do {
		v = (drpc_iovec) {data + sent, TW_TOTAL / 2 - sent};
		DRPC_CHECK_OK(drpc__transport_try_writev(ct, &v, 1, &put));
		sent += put;
	} while (put == v.len);
	ck_assert_uint_lt(sent, TW_TOTAL / 2);
	ck_assert_uint_eq(sent % 16384, 16383); // a record, but its last byte
	// Still full: nothing more, the held byte presented again.
	v = (drpc_iovec) {data + sent, 100};
	DRPC_CHECK_OK(drpc__transport_try_writev(ct, &v, 1, &put));
	ck_assert_uint_eq(put, 0);
	r.tr = st;
	ck_assert_int_eq(pthread_create(&th, NULL, tw_reader_main, &r), 0);
	// The drain thread's way: blocking, from where the last one stopped.
	v = (drpc_iovec) {data + sent, 1 << 20};
	DRPC_CHECK_OK(drpc__transport_writev(ct, &v, 1));
	sent += v.len;
	// The direct sender's way for the rest: two pieces at a time.
	while (sent < TW_TOTAL) {
		size_t     left = TW_TOTAL - sent;
		drpc_iovec two[2] = {{data + sent, left < 1000 ? left : 1000},
		    {data + sent + (left < 1000 ? left : 1000),
			left < 1000 ? 0 : left - 1000}};

		DRPC_CHECK_OK(drpc__transport_try_writev(ct, two, 2, &put));
		sent += put;
		if (sent < TW_TOTAL) {
			drpc_err rv = drpc__transport_wait_writable(ct,
			    drpc_now_ns() + tu_bound_ns(TU_WAIT_NS));

			ck_assert_int_eq(rv, DRPC_OK);
		}
	}
	pthread_join(th, NULL);
	DRPC_CHECK_OK(r.rv);
	ck_assert(!r.bad);
	ck_assert_uint_eq(r.got, TW_TOTAL);
	drpc_transport_destroy(ct);
	drpc_transport_destroy(st);
	tls_certs_free(&certs);
	free(data);
}
END_TEST

TU_ROWS(tls_io_tests, TU_TEST("tls_io", test_tls_peer_hook, .timeout = 60),
    TU_TEST("tls_io", test_tls_try_writev))
