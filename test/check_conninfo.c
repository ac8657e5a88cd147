// Connection info (include/drpc/conninfo.h): ids, open/close hooks and
// their stats, on servers, plain client connections and channels, and the
// server's log line for a failed handler; over real loopback TCP. Every
// wait is for its event (a hook's call, a log line), bounded by
// tu_bound_ns; handlers and hooks record, the test thread asserts.
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "connutil.h"
#include "fixture.h"
#include "platform/thread.h"
#include "suites.h"
#include "testutil.h"
#include "tlsutil.h"
#include "transport/addr.h"
#include "transport/transport.h"

#define CI_ECHO  "/ci.S/Echo"
#define CI_FAIL  "/ci.S/Fail"
#define CI_FAIL_LONG "/ci.S/FailLong" // names CI_FAIL too
#define CI_HOLD  "/ci.S/Hold"
#define CI_CONNS 200
#define CI_MAGIC 0x636f6e6eu

// One connection's user data, made by the open hook, freed by the close
// hook (ASan tells a second free; the table below a second close).
typedef struct ci_user {
	unsigned magic;
	uint64_t id;    // ci->id at open
	size_t   slot;  // its row in ci_state.rows
	int      index; // the client's index, once a call told it (guarded
	                // by ci_state.sync); -1 unknown
	bool     hold_in;   // a Hold handler runs (guarded by ci_state.sync)
	bool     hold_done; // ...and returned
} ci_user;

// What the close hook saw of one connection.
typedef struct ci_row {
	uint64_t        id;
	int             closes;
	int             index;
	bool            hold_early; // closed while its Hold handler ran
	drpc_conn_stats st;
	drpc_err        cause;
	bool            verified;    // what open saw of the peer
	char            subject[96];
} ci_row;

#define CI_ROWS 512

typedef struct ci_state {
	tu_sync sync;
	// Guarded by sync:
	size_t   opens;
	size_t   closes;
	ci_row   rows[CI_ROWS];
	size_t   bad;        // hook misuse: a wrong user pointer, no id, ...
	size_t   id_same;    // handlers whose stream id matched the hooks'
	size_t   id_diff;    // ...and whose did not
	size_t   holds;      // Hold handlers started
	size_t   warns;      // WARN lines naming CI_FAIL
	char     warn[2048]; // the last of them
	char     fail_peer[128]; // what the Fail handler saw of its peer
	uint64_t fail_id;        // ...and its connection id
} ci_state;

static void
ci_init(ci_state *st)
{
	memset(st, 0, sizeof(*st));
	tu_sync_init(&st->sync);
}

static void *
ci_open(void *arg, const drpc_conn_info *ci)
{
	ci_state *st = arg;
	ci_user  *u  = calloc(1, sizeof(*u));

	tu_sync_lock(&st->sync);
	if (u == NULL || ci->id == 0 || ci->peer == NULL ||
	    st->opens >= CI_ROWS) {
		st->bad++;
		tu_sync_unlock(&st->sync);
		free(u);
		return NULL;
	}
	u->magic = CI_MAGIC;
	u->id    = ci->id;
	u->slot  = st->opens++;
	u->index = -1;
	st->rows[u->slot].id       = ci->id;
	st->rows[u->slot].index    = -1;
	st->rows[u->slot].verified = ci->peer->verified;
	snprintf(st->rows[u->slot].subject, sizeof(st->rows[0].subject), "%s",
	    ci->peer->subject != NULL ? ci->peer->subject : "");
	tu_sync_unlock_broadcast(&st->sync);
	return u;
}

static void
ci_close(void *arg, const drpc_conn_info *ci, void *user,
    const drpc_conn_stats *s)
{
	ci_state *st = arg;
	ci_user  *u  = user;

	tu_sync_lock(&st->sync);
	if (u == NULL || u->magic != CI_MAGIC || u->id != ci->id ||
	    s->cause == NULL || s->closed_ns < s->opened_ns) {
		st->bad++;
	} else {
		ci_row *r = &st->rows[u->slot];

		r->closes++;
		r->index      = u->index;
		r->hold_early = u->hold_in && !u->hold_done;
		r->st         = *s;
		r->st.cause   = NULL;
		r->cause      = s->cause->code;
		u->magic      = 0;
	}
	st->closes++;
	tu_sync_unlock_broadcast(&st->sync);
	free(u);
}

// ci_note checks the handler's view of its connection against the hooks'.
static void
ci_note(ci_state *st, drpc_stream *s, int index)
{
	ci_user *u = drpc_stream_conn_user(s);

	tu_sync_lock(&st->sync);
	if (u != NULL && u->magic == CI_MAGIC &&
	    u->id == drpc_stream_conn_id(s)) {
		st->id_same++;
		if (index >= 0) {
			u->index = index;
		}
	} else {
		st->id_diff++;
	}
	tu_sync_unlock(&st->sync);
}

// h_echo answers its request; the request is the client's index.
static drpc_err
h_echo(drpc_stream *s, void *arg)
{
	void    *req;
	size_t   len;
	drpc_err rv;
	char     num[16] = {0};

	if ((rv = drpc_stream_recv(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	memcpy(num, req, len < sizeof(num) - 1 ? len : sizeof(num) - 1);
	ci_note(arg, s, atoi(num));
	rv = drpc_stream_send(s, req, len);
	drpc_free(req);
	return rv;
}

static drpc_err
h_fail(drpc_stream *s, void *arg)
{
	ci_state *st = arg;
	drpc_peer p  = {0};

	ci_note(st, s, -1);
	(void) drpc_stream_peer(s, &p);
	tu_sync_lock(&st->sync);
	snprintf(st->fail_peer, sizeof(st->fail_peer), "%s", p.addr);
	st->fail_id = drpc_stream_conn_id(s);
	tu_sync_unlock(&st->sync);
	drpc_peer_reset(&p);
	return DRPC_ENOTFOUND;
}

// h_fail_long fails with a message longer than a log line.
static drpc_err
h_fail_long(drpc_stream *s, void *arg)
{
	char text[700];

	h_fail(s, arg); // notes the peer and the connection's id
	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	(void) drpc_stream_set_error(s, DRPC_EABORTED, text);
	return DRPC_EABORTED;
}

// h_hold runs until its RPC is cancelled (the client drops the
// connection), then returns after a last look at its user data.
static drpc_err
h_hold(drpc_stream *s, void *arg)
{
	ci_state *st = arg;
	ci_user  *u  = drpc_stream_conn_user(s);
	drpc_err  rv;

	ci_note(st, s, -1);
	tu_sync_lock(&st->sync);
	if (u != NULL) {
		u->hold_in = true;
	}
	st->holds++;
	tu_sync_unlock_broadcast(&st->sync);
	rv = drpc_ctx_wait(drpc_stream_ctx(s), 0);
	tu_sync_lock(&st->sync);
	if (u != NULL) {
		u->hold_done = true;
	}
	tu_sync_unlock(&st->sync);
	return rv;
}

static void
ci_log(void *arg, drpc_log_level level, const char *msg)
{
	ci_state *st = arg;

	if (level != DRPC_LOG_WARN || strstr(msg, CI_FAIL) == NULL) {
		return;
	}
	tu_sync_lock(&st->sync);
	st->warns++;
	snprintf(st->warn, sizeof(st->warn), "%s", msg);
	tu_sync_unlock_broadcast(&st->sync);
}

// ci_wait waits until *count (guarded by st->sync) reaches n; false if it
// never does.
static bool
ci_wait(ci_state *st, const size_t *count, size_t n)
{
	return tu_sync_wait(&st->sync, count, n, TU_WAIT_NS) >= n;
}

// ci_server_start_tls starts the fixture's server (fixture.h) with the
// handlers of st, its connections' hooks and log, over TLS with tls (or
// plain TCP for NULL).
static void
ci_server_start_tls(tf *cs, ci_state *st, drpc_tls_config *tls)
{
	drpc_conn_hooks  hooks = {ci_open, ci_close, st};
	drpc_server_opts o     = {.conn_hooks = &hooks, .log = ci_log,
		    .log_arg = st, .tls = tls};
	const tf_method  m[]   = {
	       {CI_ECHO, h_echo, st},
	       {CI_FAIL, h_fail, st},
	       {CI_FAIL_LONG, h_fail_long, st},
	       {CI_HOLD, h_hold, st},
        };
	tf_opts to = {.net = tls != NULL ? TF_TLS : TF_TCP,
	    .server        = &o,
	    .methods       = m,
	    .nmethods      = TU_LEN(m)};

	// hooks is a local: the server copies it.
	tf_server_start(cs, &to);
}

static void
ci_server_start(tf *cs, ci_state *st)
{
	ci_server_start_tls(cs, st, NULL);
}

static drpc_err
ci_call(drpc_conn *c, const char *method, int index, drpc_status *st)
{
	char     req[16];
	void    *reply = NULL;
	size_t   len   = 0;
	drpc_err rv;

	snprintf(req, sizeof(req), "%d", index);
	rv = drpc_invoke(c, NULL, method, req, strlen(req), NULL, &reply, &len, st);
	drpc_free(reply);
	return rv;
}

// ci_raw connects a plain socket to the server and closes it unused: a
// connection the client drops before it says anything.
static void
ci_raw(const char *addr)
{
	int fd = -1;

	DRPC_CHECK_OK(drpc__dial(addr, 0, &fd));
	close(fd);
}

// 200 connections, four kinds in turn: dialled and closed unused; two
// calls (one failing) then closed; a call in flight when the client drops
// the connection; a raw socket closed at once. Every open is matched by
// one close, after the connection's handlers returned, with the counts
// of what was sent.
START_TEST(test_conn_hooks_churn)
{
	ci_state  st;
	tf        cs;
	tu_leak   l = tu_leak_start();
	size_t    holds = 0;

	ci_init(&st);
	ci_server_start(&cs, &st);
	for (int i = 0; i < CI_CONNS; i++) {
		drpc_conn  *c = NULL;
		drpc_stream *s = NULL;
		drpc_status  status = {0};

		switch (i % 4) {
		case 0:
			DRPC_CHECK_OK(drpc_dial(&c, cs.addr, NULL));
			drpc_conn_destroy(c);
			break;
		case 1:
			DRPC_CHECK_OK(drpc_dial(&c, cs.addr, NULL));
			DRPC_CHECK_OK(ci_call(c, CI_ECHO, i, NULL));
			DRPC_CHECK_ERR(ci_call(c, CI_FAIL, i, &status),
			    DRPC_ENOTFOUND);
			drpc_status_reset(&status);
			drpc_conn_destroy(c);
			break;
		case 2:
			DRPC_CHECK_OK(drpc_dial(&c, cs.addr, NULL));
			DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, CI_HOLD, NULL));
			DRPC_CHECK_OK(drpc_stream_send(s, "x", 1));
			ck_assert(ci_wait(&st, &st.holds, ++holds));
			drpc_conn_destroy(c); // the call still in flight
			drpc_stream_destroy(s);
			break;
		default:
			ci_raw(cs.addr);
			break;
		}
	}
	ck_assert(ci_wait(&st, &st.closes, CI_CONNS));
	tf_free(&cs);
	tu_leak_check(&l);

	ck_assert_uint_eq(st.bad, 0);
	ck_assert_uint_eq(st.opens, CI_CONNS);
	ck_assert_uint_eq(st.closes, CI_CONNS);
	ck_assert_uint_eq(st.id_diff, 0);
	ck_assert_uint_eq(st.id_same, CI_CONNS / 4 * 3); // Echo, Fail, Hold
	{
		size_t calls = 0, holders = 0, idle = 0, dup = 0, early = 0;
		char   why[200] = "";

		for (size_t i = 0; i < st.opens; i++) {
			const ci_row *r = &st.rows[i];

			for (size_t j = 0; j < i; j++) {
				dup += st.rows[j].id == r->id;
			}
			early += r->hold_early;
			if (r->closes != 1 && why[0] == '\0') {
				snprintf(why, sizeof(why), "row %zu closed %d times",
				    i, r->closes);
			}
			if (r->index >= 0) { // Echo and Fail
				calls++;
				if ((r->st.streams_opened != 2 ||
					r->st.streams_failed != 1 ||
					r->st.streams_refused != 0 ||
					r->st.bytes_in == 0 || r->st.bytes_out == 0) &&
				    why[0] == '\0') {
					snprintf(why, sizeof(why),
					    "conn %d: opened %" PRIu64 " failed %" PRIu64
					    " refused %" PRIu64,
					    r->index, r->st.streams_opened,
					    r->st.streams_failed, r->st.streams_refused);
				}
			} else if (r->st.streams_opened == 1) { // Hold
				holders++;
				if (r->st.streams_failed != 1 && why[0] == '\0') {
					snprintf(why, sizeof(why),
					    "a dropped Hold: failed %" PRIu64,
					    r->st.streams_failed);
				}
			} else if (r->st.streams_opened == 0 &&
				   r->st.streams_failed == 0) {
				idle++;
			}
		}
		ck_assert_msg(why[0] == '\0', "%s", why);
		ck_assert_uint_eq(dup, 0);
		ck_assert_uint_eq(early, 0);
		ck_assert_uint_eq(calls, CI_CONNS / 4);
		ck_assert_uint_eq(holders, CI_CONNS / 4);
		ck_assert_uint_eq(idle, CI_CONNS / 2);
	}
	tu_sync_fini(&st.sync);
}
END_TEST

// fail_logged calls method, which fails with want, on a fresh server
// whose log st keeps; once its WARN line is in and the server is gone,
// checks that the line names the failing call's peer and connection.
// Returns the call's remote code.
static uint64_t
fail_logged(ci_state *st, const char *method, drpc_err want)
{
	tf          cs;
	drpc_conn  *c;
	drpc_status status = {0};
	uint64_t    code;
	char        text[200];

	ci_server_start(&cs, st);
	DRPC_CHECK_OK(drpc_dial(&c, cs.addr, NULL));
	DRPC_CHECK_ERR(ci_call(c, method, 7, &status), want);
	code = status.remote_code;
	drpc_status_reset(&status);
	ck_assert(ci_wait(st, &st->warns, 1));
	drpc_conn_destroy(c);
	tf_free(&cs);

	snprintf(text, sizeof(text), "peer %s;", st->fail_peer);
	ck_assert_msg(strstr(st->warn, text) != NULL, "log \"%s\" lacks \"%s\"",
	    st->warn, text);
	snprintf(text, sizeof(text), "conn %016" PRIx64, st->fail_id);
	ck_assert_msg(st->fail_id != 0 && strstr(st->warn, text) != NULL,
	    "log \"%s\" lacks \"%s\"", st->warn, text);
	return code;
}

// A failing handler is logged at WARN with its method, its peer, its code
// and its connection's id.
START_TEST(test_conn_fail_logged)
{
	ci_state st;

	ci_init(&st);
	ck_assert_uint_eq(
	    fail_logged(&st, CI_FAIL, DRPC_ENOTFOUND), DRPC_ENOTFOUND);
	ck_assert_msg(strncmp(st.fail_peer, "tcp://127.0.0.1:", 16) == 0,
	    "peer \"%s\"", st.fail_peer);
	ck_assert_msg(strstr(st.warn, "drpc: " CI_FAIL " failed") == st.warn,
	    "log \"%s\"", st.warn);
	ck_assert_msg(strstr(st.warn, "code 5 (DRPC_ENOTFOUND)") != NULL,
	    "log \"%s\" lacks the code", st.warn);
	tu_sync_fini(&st.sync);
}
END_TEST

// The WARN line of a handler that failed with a long message still names
// its peer and its connection (they come after the message).
START_TEST(test_conn_fail_logged_long)
{
	ci_state st;

	ci_init(&st);
	(void) fail_logged(&st, CI_FAIL_LONG, DRPC_EABORTED);
	tu_sync_fini(&st.sync);
}
END_TEST

// Client side: a plain connection's hooks run once each, the open before
// drpc_dial returns; its calls' streams name the connection the hooks saw.
START_TEST(test_conn_hooks_client)
{
	ci_state        srv_st, st;
	tf              cs;
	drpc_conn_hooks hooks = {ci_open, ci_close, &st};
	drpc_conn_opts  o     = {.conn_hooks = &hooks};
	drpc_conn      *c;
	drpc_stream    *s;
	drpc_status     status = {0};
	void           *reply;
	size_t          len;
	uint64_t        id;

	ci_init(&srv_st);
	ci_init(&st);
	ci_server_start(&cs, &srv_st);
	DRPC_CHECK_OK(drpc_dial(&c, cs.addr, &o));
	hooks.open = NULL; // copied: this changes nothing
	ck_assert_uint_eq(st.opens, 1);
	id = st.rows[0].id;
	DRPC_CHECK_OK(ci_call(c, CI_ECHO, 1, NULL));
	DRPC_CHECK_ERR(ci_call(c, CI_FAIL, 2, &status), DRPC_ENOTFOUND);
	drpc_status_reset(&status);
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, CI_ECHO, NULL));
	ck_assert_uint_eq(drpc_stream_conn_id(s), id);
	ck_assert_ptr_nonnull(drpc_stream_conn_user(s));
	ck_assert_uint_eq(((ci_user *) drpc_stream_conn_user(s))->id, id);
	DRPC_CHECK_OK(drpc_stream_send(s, "3", 1));
	DRPC_CHECK_OK(drpc_stream_close_send(s));
	DRPC_CHECK_OK(drpc_stream_recv(s, &reply, &len));
	drpc_free(reply);
	DRPC_CHECK_ERR(drpc_stream_recv(s, &reply, &len), DRPC_EOF);
	ck_assert_uint_eq(st.closes, 0);
	drpc_conn_destroy(c);
	// The stream handle still holds the connection: no close yet.
	ck_assert_uint_eq(st.closes, 0);
	drpc_stream_destroy(s);
	ck_assert_uint_eq(st.closes, 1);
	tf_free(&cs);

	ck_assert_uint_eq(st.bad, 0);
	ck_assert_int_eq(st.rows[0].closes, 1);
	ck_assert_uint_eq(st.rows[0].st.streams_opened, 3);
	ck_assert_uint_eq(st.rows[0].st.streams_failed, 1);
	ck_assert_uint_eq(st.rows[0].st.streams_refused, 0);
	ck_assert_uint_gt(st.rows[0].st.bytes_out, 0);
	ck_assert_uint_gt(st.rows[0].st.bytes_in, 0);
	ck_assert_int_eq(st.rows[0].cause, DRPC_ECLOSED);
	// The server's side of it: its own id, the same calls.
	ck_assert_uint_eq(srv_st.opens, 1);
	ck_assert_uint_ne(srv_st.rows[0].id, id);
	ck_assert_uint_eq(srv_st.rows[0].st.streams_opened, 3);
	ck_assert_uint_eq(srv_st.rows[0].st.streams_failed, 1);
	// Bytes: at least the three calls' method names and payloads.
	ck_assert_uint_ge(st.rows[0].st.bytes_out,
	    2 * strlen(CI_ECHO) + strlen(CI_FAIL) + 3);
	ck_assert_uint_ge(srv_st.rows[0].st.bytes_in,
	    2 * strlen(CI_ECHO) + strlen(CI_FAIL) + 3);
	tu_sync_fini(&st.sync);
	tu_sync_fini(&srv_st.sync);
}
END_TEST

// A channel gives its conn opts' hooks to each backend connection: the
// calls' streams name a connection the hooks opened; all close once the
// channel is destroyed.
START_TEST(test_conn_hooks_channel)
{
	ci_state          srv_st, st;
	tf                cs;
	drpc_conn_hooks   hooks = {ci_open, ci_close, &st};
	drpc_channel_opts o     = {.conn = {.conn_hooks = &hooks}};
	drpc_channel     *ch;
	size_t            known = 0;

	ci_init(&srv_st);
	ci_init(&st);
	ci_server_start(&cs, &srv_st);
	DRPC_CHECK_OK(drpc_channel_create(&ch, cs.addr, &o, NULL));
	memset(&hooks, 0, sizeof(hooks)); // copied
	for (int i = 0; i < 4; i++) {
		drpc_stream *s;
		void        *reply;
		size_t       len;
		uint64_t     id;

		DRPC_CHECK_OK(drpc_stream_open(
		    &s, drpc_channel_conn(ch), NULL, CI_ECHO, NULL));
		DRPC_CHECK_OK(drpc_stream_send(s, "9", 1));
		DRPC_CHECK_OK(drpc_stream_recv(s, &reply, &len));
		drpc_free(reply);
		id = drpc_stream_conn_id(s);
		tu_sync_lock(&st.sync);
		for (size_t j = 0; j < st.opens; j++) {
			known += st.rows[j].id == id && id != 0;
		}
		tu_sync_unlock(&st.sync);
		drpc_stream_destroy(s);
	}
	drpc_channel_destroy(ch);
	tf_free(&cs);

	ck_assert_uint_eq(known, 4);
	ck_assert_uint_eq(st.bad, 0);
	ck_assert_uint_ge(st.opens, 1);
	ck_assert_uint_eq(st.closes, st.opens);
	tu_sync_fini(&st.sync);
	tu_sync_fini(&srv_st.sync);
}
END_TEST

// A TLS server connection opens once its handshake is done: the open hook
// sees the client's verified certificate. One whose handshake never
// happens (a socket closed at once) is never opened, nor closed.
START_TEST(test_conn_hooks_tls)
{
	ci_state         st;
	tf               cs;
	tls_certs        certs;
	drpc_tls_config *scfg, *ccfg;
	drpc_conn_opts   o = {0};
	drpc_conn       *c;
	char             tcp[220];

	ci_init(&st);
	tls_certs_make(&certs);
	scfg = server_config(&certs.server, certs.ca.cert,
	    DRPC_TLS_CLIENT_AUTH_REQUIRE);
	ccfg = client_config(&certs, certs.ca.cert, true);
	ci_server_start_tls(&cs, &st, scfg);
	drpc_tls_config_destroy(scfg); // the server holds its own
	snprintf(tcp, sizeof(tcp), "tcp://%.200s", cs.addr + strlen("tls://"));
	ci_raw(tcp); // no handshake
	o.tls = ccfg;
	DRPC_CHECK_OK(drpc_dial(&c, cs.addr, &o));
	DRPC_CHECK_OK(ci_call(c, CI_ECHO, 3, NULL));
	drpc_conn_destroy(c);
	tf_free(&cs);
	drpc_tls_config_destroy(ccfg);
	tls_certs_free(&certs);

	ck_assert_uint_eq(st.bad, 0);
	ck_assert_uint_eq(st.opens, 1);
	ck_assert_uint_eq(st.closes, 1);
	ck_assert(st.rows[0].verified);
	ck_assert_msg(strstr(st.rows[0].subject, "CN=client") != NULL,
	    "subject \"%s\"", st.rows[0].subject);
	ck_assert_uint_eq(st.rows[0].st.streams_opened, 1);
	tu_sync_fini(&st.sync);
}
END_TEST

// A client call whose connection is lost counts as failed
// (drpc_conn_stats.streams_failed: "the connection's loss"): the peer
// here is a bare socket that closes with the call in flight.
START_TEST(test_conn_hooks_client_lost)
{
	ci_state        st;
	drpc_conn_hooks hooks = {ci_open, ci_close, &st};
	drpc_conn_opts  o     = {.conn_hooks = &hooks};
	drpc_conn      *c;
	drpc_stream    *s;
	void           *reply = NULL;
	size_t          len   = 0;
	int             sv[2];

	ci_init(&st);
	tu_tcp_pair(sv);
	DRPC_CHECK_OK(drpc_conn_create_fd(&c, sv[0], &o));
	DRPC_CHECK_OK(drpc_stream_open(&s, c, NULL, CI_ECHO, NULL));
	DRPC_CHECK_OK(drpc_stream_send(s, "1", 1));
	close(sv[1]); // the peer goes, the call in flight
	DRPC_CHECK_ERR(drpc_stream_recv(s, &reply, &len), DRPC_EUNAVAIL);
	drpc_stream_destroy(s);
	drpc_conn_destroy(c);

	ck_assert_uint_eq(st.bad, 0);
	ck_assert_uint_eq(st.closes, 1);
	ck_assert_uint_eq(st.rows[0].st.streams_opened, 1);
	ck_assert_uint_eq(st.rows[0].st.streams_failed, 1);
	tu_sync_fini(&st.sync);
}
END_TEST

// ci_peer_fail is a transport's peer hook that fails (as a TLS
// transport's does when it has no memory for the certificate's fields).
static drpc_err
ci_peer_fail(void *impl, drpc_peer *out)
{
	(void) impl;
	(void) out;
	return DRPC_ENOMEM;
}

// A server connection whose transport learns its peer late (a peer hook,
// as TLS has) opens before its first stream even if asking the peer
// again fails: its handler sees the open hook's user data, and close
// follows.
START_TEST(test_conn_hooks_peer_fails)
{
	ci_state        st;
	tf              cs;
	drpc_transport *tr;
	drpc_conn      *c;
	int             sv[2];

	ci_init(&st);
	ci_server_start(&cs, &st);
	tu_tcp_pair(sv);
	DRPC_CHECK_OK(drpc_transport_create_fd(&tr, sv[1]));
	tr->peer = ci_peer_fail;
	DRPC_CHECK_OK(drpc_server_serve_transport(cs.srv, tr));
	DRPC_CHECK_OK(drpc_conn_create_fd(&c, sv[0], NULL));
	DRPC_CHECK_OK(ci_call(c, CI_ECHO, 1, NULL));
	drpc_conn_destroy(c);
	ck_assert(ci_wait(&st, &st.closes, 1));
	tf_free(&cs);

	ck_assert_uint_eq(st.bad, 0);
	ck_assert_uint_eq(st.opens, 1);
	ck_assert_uint_eq(st.closes, 1);
	ck_assert_uint_eq(st.id_diff, 0);
	ck_assert_uint_eq(st.id_same, 1);
	tu_sync_fini(&st.sync);
}
END_TEST

TU_SUITE(conninfo,
    TU_TEST("hooks", test_conn_hooks_churn, .timeout = 120),
    TU_TEST("hooks", test_conn_fail_logged),
    TU_TEST("hooks", test_conn_fail_logged_long),
    TU_TEST("hooks", test_conn_hooks_client),
    TU_TEST("hooks", test_conn_hooks_client_lost),
    TU_TEST("hooks", test_conn_hooks_channel),
    TU_TEST("hooks", test_conn_hooks_tls),
    TU_TEST("hooks", test_conn_hooks_peer_fails))
