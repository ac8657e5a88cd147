// Peer identity (include/drpc/peer.h) and drpcmigrate's header
// (drpc_conn_opts.migrate_header, drpc_server_opts.migrate), over real
// loopback TCP and unix sockets. Every wait is for its event (a reply, a
// log line, the end of a connection), bounded by tu_bound_ns.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"
#include "transport/addr.h"
#include "transport/transport.h"
#include "whosrv.h"

#define PEER_METHOD "/peer.Test/Who"

// call_who makes the call on c; the reply (the address the server saw)
// goes into out.
static drpc_err
call_who(drpc_conn *c, char *out, size_t cap)
{
	void    *reply = NULL;
	size_t   len   = 0;
	drpc_err rv;

	rv = drpc_invoke(c, NULL, PEER_METHOD, "x", 1, NULL, &reply, &len, NULL);
	if (rv == DRPC_OK) {
		(void) snprintf(out, cap, "%.*s", (int) len, (char *) reply);
	}
	drpc_free(reply);
	return rv;
}

// The server's handler sees the client's address (its socket's local
// one), the client sees the server's (drpc_conn_peer, and drpc_stream_peer
// on a call); neither is TLS.
static void
peer_both_ways(const char *listen, const char *client_name)
{
	who_srv      v;
	drpc_conn  *c;
	drpc_stream *st;
	drpc_peer   p = {0};
	char        mine[128] = "";
	char        got[128];
	int         fd;

	who_start(&v, PEER_METHOD, NULL, NULL, listen);
	if (client_name != NULL) {
		// A unix client bound to a name of its own, so it has one.
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		ck_assert_int_ge(fd, 0);
		(void) unlink(client_name);
		ck_assert_uint_lt(strlen(client_name), sizeof(sun.sun_path));
		memcpy(sun.sun_path, client_name, strlen(client_name) + 1);
		ck_assert_int_eq(
		    bind(fd, (struct sockaddr *) &sun, sizeof(sun)), 0);
		ck_assert_uint_lt(strlen(v.addr), sizeof(sun.sun_path));
		memcpy(sun.sun_path, v.addr + strlen("unix://"),
		    strlen(v.addr) - strlen("unix://") + 1);
		ck_assert_int_eq(
		    connect(fd, (struct sockaddr *) &sun, sizeof(sun)), 0);
	} else {
		DRPC_CHECK_OK(drpc__dial(v.addr, 0, &fd));
	}
	if (drpc__local_addr(fd, mine, sizeof(mine)) != DRPC_OK) {
		// An unnamed unix client: the server names it by the socket
		// it reached (peer.h).
		snprintf(mine, sizeof(mine), "%s", v.addr);
	}
	DRPC_CHECK_OK(drpc_conn_create_fd(&c, fd, NULL));
	DRPC_CHECK_OK(call_who(c, got, sizeof(got)));
	ck_assert_str_eq(got, mine);
	tu_sync_lock(&v.sync);
	ck_assert_int_eq(v.peer_rv, DRPC_OK);
	ck_assert_str_eq(v.peer.addr, mine);
	ck_assert(!v.peer.tls && !v.peer.verified);
	ck_assert_ptr_null(v.peer.subject);
	ck_assert_uint_eq(v.peer.nsans, 0);
	ck_assert_ptr_null(v.peer.der);
	tu_sync_unlock(&v.sync);

	// The client's view: the server it reached.
	DRPC_CHECK_OK(drpc_conn_peer(c, &p));
	ck_assert_str_eq(p.addr, v.addr);
	ck_assert(!p.tls && !p.verified);
	DRPC_CHECK_OK(drpc_stream_open(&st, c, NULL, PEER_METHOD, NULL));
	DRPC_CHECK_OK(drpc_stream_peer(st, &p)); // resets p first
	ck_assert_str_eq(p.addr, v.addr);
	drpc_stream_destroy(st);
	drpc_peer_reset(&p);
	ck_assert_str_eq(p.addr, "");

	drpc_conn_destroy(c);
	// Still valid once the connection has ended: nothing to read now.
	DRPC_CHECK_ERR(drpc_conn_peer(NULL, &p), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_stream_peer(NULL, &p), DRPC_EINVAL);
	who_stop(&v);
	if (client_name != NULL) {
		(void) unlink(client_name);
	}
}

START_TEST(test_peer_tcp)
{
	peer_both_ways("tcp://127.0.0.1:0", NULL);
}
END_TEST

START_TEST(test_peer_unix)
{
	char dir[] = "/tmp/drpc-peer-XXXXXX";
	char addr[128];
	char name[128];
	char path[128];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(addr, sizeof(addr), "unix://%s/s", dir);
	snprintf(name, sizeof(name), "%s/c", dir);
	peer_both_ways(addr, name);  // a named client
	peer_both_ways(addr, NULL);  // an unnamed one
	snprintf(path, sizeof(path), "%s/s", dir);
	(void) unlink(path);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

// A transport with a peer hook, standing in for TLS: its first answer
// (at the connection's creation) has no certificate yet, as a TLS server
// before its handshake; later ones have the client's.
typedef struct hooked {
	atomic_int calls;
} hooked;

static const char *const fake_sans[] = {"DNS:client.test", "IP:127.0.0.1"};
static const uint8_t     fake_der[]  = {0x30, 0x82, 0x01, 0x0a};

static char *
dup_str(const char *s)
{
	char *d = malloc(strlen(s) + 1);

	if (d != NULL) {
		strcpy(d, s);
	}
	return d;
}

static drpc_err
hook_peer(hooked *h, drpc_peer *out)
{
	snprintf(out->addr, sizeof(out->addr), "tcp://192.0.2.7:4433");
	out->tls = true;
	if (atomic_fetch_add(&h->calls, 1) == 0) {
		return DRPC_OK; // the handshake has not happened yet
	}
	out->verified = true;
	out->subject  = dup_str("CN=client.test,O=libdrpc tests");
	out->sans     = calloc(2, sizeof(char *));
	out->der      = malloc(sizeof(fake_der));
	if (out->subject == NULL || out->sans == NULL || out->der == NULL) {
		return DRPC_ENOMEM;
	}
	for (size_t i = 0; i < 2; i++) {
		if ((out->sans[i] = dup_str(fake_sans[i])) == NULL) {
			return DRPC_ENOMEM;
		}
		out->nsans++;
	}
	memcpy(out->der, fake_der, sizeof(fake_der));
	out->der_len = sizeof(fake_der);
	return DRPC_OK;
}

// The hook finds its state through a small wrapper transport over a
// socket: read, writev and shutdown pass through. The state is the
// test's (not freed with the wrapper, which the server's reaper may
// destroy while the test reads the count: a socket's close orders the two
// for the kernel, not for ThreadSanitizer).
typedef struct wrap {
	drpc_transport *inner;
	hooked         *h;
} wrap;

static drpc_err
wrap_read(void *impl, void *buf, size_t cap, size_t *n)
{
	wrap *w = impl;

	return w->inner->ops.read(w->inner->impl, buf, cap, n);
}

static drpc_err
wrap_writev(void *impl, const drpc_iovec *iov, size_t n)
{
	wrap *w = impl;

	return w->inner->ops.writev(w->inner->impl, iov, n);
}

static void
wrap_shutdown(void *impl)
{
	wrap *w = impl;

	w->inner->ops.shutdown(w->inner->impl);
}

static void
wrap_close(void *impl)
{
	wrap *w = impl;

	drpc_transport_destroy(w->inner);
	free(w);
}

static drpc_err
wrap_peer(void *impl, drpc_peer *out)
{
	return hook_peer(((wrap *) impl)->h, out);
}

START_TEST(test_peer_hook)
{
	static const drpc_transport_ops ops = {
	    wrap_read, wrap_writev, wrap_shutdown, wrap_close};
	who_srv         v;
	int             sv[2];
	wrap           *w = calloc(1, sizeof(*w));
	hooked          h = {0};
	drpc_transport *t;
	drpc_conn      *c;
	char            got[128];

	ck_assert_ptr_nonnull(w);
	w->h = &h;
	who_start(&v, PEER_METHOD, NULL, NULL, NULL);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	DRPC_CHECK_OK(drpc_transport_create_fd(&w->inner, sv[0]));
	DRPC_CHECK_OK(drpc_transport_create(&t, &ops, w));
	t->peer = wrap_peer;
	DRPC_CHECK_OK(drpc_server_serve_transport(v.srv, t));
	DRPC_CHECK_OK(drpc_conn_create_fd(&c, sv[1], NULL));
	DRPC_CHECK_OK(call_who(c, got, sizeof(got)));
	ck_assert_str_eq(got, "tcp://192.0.2.7:4433");

	tu_sync_lock(&v.sync);
	ck_assert_int_eq(v.peer_rv, DRPC_OK);
	ck_assert(v.peer.tls);
	// Asked again once the first frame was read: the certificate.
	ck_assert(v.peer.verified);
	ck_assert_ptr_nonnull(v.peer.subject);
	ck_assert_str_eq(v.peer.subject, "CN=client.test,O=libdrpc tests");
	ck_assert_uint_eq(v.peer.nsans, 2);
	ck_assert_str_eq(v.peer.sans[0], fake_sans[0]);
	ck_assert_str_eq(v.peer.sans[1], fake_sans[1]);
	ck_assert_uint_eq(v.peer.der_len, sizeof(fake_der));
	ck_assert_mem_eq(v.peer.der, fake_der, sizeof(fake_der));
	tu_sync_unlock(&v.sync);
	// Once at creation, once after the first frame, and no more.
	ck_assert_int_eq(atomic_load(&h.calls), 2);

	drpc_conn_destroy(c);
	who_stop(&v);
}
END_TEST

// A channel's handle has no one peer; its calls' streams do.
START_TEST(test_peer_channel)
{
	who_srv       v;
	drpc_channel *ch;
	drpc_stream  *st;
	drpc_peer     p = {0};

	who_start(&v, PEER_METHOD, NULL, NULL, "tcp://127.0.0.1:0");
	DRPC_CHECK_OK(drpc_channel_create(&ch, v.addr, NULL, NULL));
	DRPC_CHECK_ERR(drpc_conn_peer(drpc_channel_conn(ch), &p), DRPC_EINVAL);
	ck_assert_str_eq(p.addr, "");
	DRPC_CHECK_OK(drpc_stream_open(
	    &st, drpc_channel_conn(ch), NULL, PEER_METHOD, NULL));
	DRPC_CHECK_OK(drpc_stream_peer(st, &p));
	ck_assert_str_eq(p.addr, v.addr);
	drpc_peer_reset(&p);
	drpc_stream_destroy(st);
	drpc_channel_destroy(ch);
	who_stop(&v);
}
END_TEST

// drpcmigrate's header.

#define HDR "DRPC!!!1"

// dial_who dials addr (with the header or not) and makes the call.
static drpc_err
dial_who(const char *addr, bool header)
{
	drpc_conn_opts o = {.migrate_header = header};
	drpc_conn     *c;
	char           got[128];
	drpc_err       rv;

	if ((rv = drpc_dial(&c, addr, &o)) != DRPC_OK) {
		return rv;
	}
	rv = call_who(c, got, sizeof(got));
	drpc_conn_destroy(c);
	return rv;
}

// The client writes exactly the 8 bytes first, before any frame.
START_TEST(test_migrate_client_bytes)
{
	struct sockaddr_in a   = {.sin_family = AF_INET};
	socklen_t          len = sizeof(a);
	int                lfd = socket(AF_INET, SOCK_STREAM, 0);
	int                fd;
	char               addr[64];
	uint8_t            buf[8];
	size_t             have = 0;
	drpc_conn         *c;
	drpc_conn_opts     o = {.migrate_header = true};

	ck_assert_int_ge(lfd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *) &a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *) &a, &len), 0);
	snprintf(addr, sizeof(addr), "tcp://127.0.0.1:%u", ntohs(a.sin_port));
	DRPC_CHECK_OK(drpc_dial(&c, addr, &o));
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	while (have < sizeof(buf)) {
		ssize_t got = read(fd, buf + have, sizeof(buf) - have);

		ck_assert_int_gt(got, 0);
		have += (size_t) got;
	}
	ck_assert_mem_eq(buf, HDR, 8);
	close(fd);
	drpc_conn_destroy(c);
	close(lfd);
}
END_TEST

// REQUIRE: a client with the header is served, one without is closed and
// the cause logged.
START_TEST(test_migrate_require)
{
	drpc_server_opts o = {.migrate = DRPC_MIGRATE_REQUIRE};
	who_srv          v;

	who_start(&v, PEER_METHOD, NULL, &o, "tcp://127.0.0.1:0");
	DRPC_CHECK_OK(dial_who(v.addr, true));
	ck_assert_int_ne(dial_who(v.addr, false), DRPC_OK);
	ck_assert_msg(srv_log_wait(&v.log,
	                  "did not start with the drpcmigrate "
	                  "header \"DRPC!!!1\"",
	                  NULL),
	    "log: %s", v.log.text);
	who_stop(&v);
}
END_TEST

// OPTIONAL: both kinds of clients are served, over TCP and unix.
START_TEST(test_migrate_optional)
{
	drpc_server_opts o = {.migrate = DRPC_MIGRATE_OPTIONAL};
	char             dir[] = "/tmp/drpc-peer-XXXXXX";
	char             addr[128];
	who_srv          v;

	who_start(&v, PEER_METHOD, NULL, &o, "tcp://127.0.0.1:0");
	DRPC_CHECK_OK(dial_who(v.addr, true));
	DRPC_CHECK_OK(dial_who(v.addr, false));
	DRPC_CHECK_OK(dial_who(v.addr, true));
	ck_assert_uint_eq(who_calls(&v), 3);
	who_stop(&v);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(addr, sizeof(addr), "unix://%s/s", dir);
	who_start(&v, PEER_METHOD, NULL, &o, addr);
	DRPC_CHECK_OK(dial_who(v.addr, false));
	DRPC_CHECK_OK(dial_who(v.addr, true));
	who_stop(&v);
	snprintf(addr, sizeof(addr), "%s/s", dir);
	(void) unlink(addr);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

// A peer that sends 3 bytes of the header and stalls holds only its own
// connection: other clients are accepted and served meanwhile, and the
// stalled one is closed by the handshake timeout, with the cause logged.
static void
migrate_stall(drpc_migrate_mode mode)
{
	// Long enough for the other clients' first frames on a loaded
	// machine: they must not meet it (rule 8); the stalled peer does.
	drpc_server_opts o = {
	    .migrate = mode, .handshake_timeout_ms = 2000 * tu_scale()};
	who_srv          v;
	int              fd;
	char             b;

	who_start(&v, PEER_METHOD, NULL, &o, "tcp://127.0.0.1:0");
	DRPC_CHECK_OK(drpc__dial(v.addr, 0, &fd));
	ck_assert_int_eq(write(fd, "DRP", 3), 3);
	for (int i = 0; i < 4; i++) {
		DRPC_CHECK_OK(dial_who(v.addr, true));
	}
	// The stalled peer is closed (by the handshake timeout): EOF.
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	ck_assert_int_eq(poll(&pf, 1, (int) (tu_bound_ns(TU_WAIT_NS) / 1000000)), 1);
	ck_assert_int_eq(read(fd, &b, 1), 0);
	ck_assert_msg(srv_log_wait(&v.log, "no frame within", NULL), "log: %s",
	    v.log.text);
	close(fd);
	who_stop(&v);
}

START_TEST(test_migrate_stall)
{
	migrate_stall(DRPC_MIGRATE_REQUIRE);
	migrate_stall(DRPC_MIGRATE_OPTIONAL);
}
END_TEST

TU_SUITE(peer,
    TU_TEST("peer", test_peer_tcp, .timeout = 30),
    TU_TEST("peer", test_peer_unix),
    TU_TEST("peer", test_peer_hook),
    TU_TEST("peer", test_peer_channel),
    TU_TEST("migrate", test_migrate_client_bytes, .timeout = 30),
    TU_TEST("migrate", test_migrate_require),
    TU_TEST("migrate", test_migrate_optional),
    TU_TEST("migrate", test_migrate_stall))
