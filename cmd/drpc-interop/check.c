// drpc-interop check: every scenario of ../shared/interop/README.md §3
// against a server, through the generated stubs. Each scenario dials its
// own connection, as the recordings did; a scenario returns NULL when it
// passes, or why it failed.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interop.drpc.h"
#include "interop_tool.h"

typedef struct ck {
	const char    *addr;
	drpc_conn_opts opts;
	char           why[256];
} ck;

static const char *
ck_fail(ck *k, const char *what, drpc_err rv)
{
	snprintf(k->why, sizeof(k->why), "%s: %s", what, drpc_strerror(rv));
	return k->why;
}

static bool
payload_is(const Interop__Msg *m, const void *want, size_t len)
{
	return m->payload.len == len &&
	    (len == 0 || memcmp(m->payload.data, want, len) == 0);
}

static bool
payload_is_pattern(const Interop__Msg *m, size_t len)
{
	if (m->payload.len != len) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (m->payload.data[i] != (uint8_t) (i % 251)) {
			return false;
		}
	}
	return true;
}

// unary sends payload and checks it comes back.
static const char *
unary(ck *k, drpc_conn *c, const void *data, size_t len)
{
	Interop__Msg  req = INTEROP__MSG__INIT;
	Interop__Msg *reply;
	drpc_err      rv;
	bool          ok;

	req.payload.data = (uint8_t *) (uintptr_t) data;
	req.payload.len  = len;
	rv = interop__echo__unary__invoke(c, NULL, &req, &reply, NULL, NULL);
	if (rv != DRPC_OK) {
		return ck_fail(k, "Unary", rv);
	}
	ok = payload_is(reply, data, len);
	protobuf_c_message_free_unpacked(&reply->base, NULL);
	return ok ? NULL : "Unary: reply differs from the request";
}

static const char *
sc_unary_small(ck *k, drpc_conn *c)
{
	return unary(k, c, "hello, drpc", 11);
}

static const char *
sc_unary_empty(ck *k, drpc_conn *c)
{
	return unary(k, c, "", 0);
}

static const char *
sc_unary_64k(ck *k, drpc_conn *c)
{
	uint8_t    *buf = malloc(65536);
	const char *why;

	if (buf == NULL) {
		return "out of memory";
	}
	for (size_t i = 0; i < 65536; i++) {
		buf[i] = (uint8_t) (i % 251);
	}
	why = unary(k, c, buf, 65536);
	free(buf);
	return why;
}

// server_stream asks for count messages of size bytes and checks them.
static const char *
server_stream(ck *k, drpc_conn *c, int32_t count, int32_t size)
{
	Interop__StreamRequest              req = INTEROP__STREAM_REQUEST__INIT;
	Interop__Echo__ServerStream_Client *h   = NULL;
	Interop__Msg                       *m;
	drpc_err                            rv;
	int32_t                             got = 0;

	req.count = count;
	req.size  = size;
	rv = interop__echo__server_stream__open(&h, c, NULL, &req, NULL);
	if (rv != DRPC_OK) {
		return ck_fail(k, "ServerStream", rv);
	}
	while ((rv = interop__echo__server_stream__recv(h, &m)) == DRPC_OK) {
		bool ok = payload_is_pattern(m, (size_t) size);

		protobuf_c_message_free_unpacked(&m->base, NULL);
		if (!ok) {
			rv = DRPC_EDATALOSS;
			break;
		}
		got++;
	}
	interop__echo__server_stream__destroy(h);
	if (rv != DRPC_EOF) {
		return ck_fail(k, "ServerStream", rv);
	}
	return got == count ? NULL : "ServerStream: wrong number of messages";
}

static const char *
sc_server_stream_0(ck *k, drpc_conn *c)
{
	return server_stream(k, c, 0, 16);
}

static const char *
sc_server_stream_1(ck *k, drpc_conn *c)
{
	return server_stream(k, c, 1, 0);
}

static const char *
sc_server_stream_3(ck *k, drpc_conn *c)
{
	return server_stream(k, c, 3, 300);
}

// client_stream sends the parts and checks the concatenation.
static const char *
client_stream(ck *k, drpc_conn *c, const char *const *parts, size_t n,
    const char *want)
{
	Interop__Echo__ClientStream_Client *h = NULL;
	Interop__Msg                       *reply;
	drpc_err                            rv;
	bool                                ok;

	rv = interop__echo__client_stream__open(&h, c, NULL, NULL);
	for (size_t i = 0; rv == DRPC_OK && i < n; i++) {
		Interop__Msg m = INTEROP__MSG__INIT;

		m.payload.data = (uint8_t *) (uintptr_t) parts[i];
		m.payload.len  = strlen(parts[i]);
		rv = interop__echo__client_stream__send(h, &m);
	}
	if (rv == DRPC_OK) {
		rv = interop__echo__client_stream__close_and_recv(h, &reply);
	}
	if (rv != DRPC_OK) {
		interop__echo__client_stream__destroy(h);
		return ck_fail(k, "ClientStream", rv);
	}
	ok = payload_is(reply, want, strlen(want));
	protobuf_c_message_free_unpacked(&reply->base, NULL);
	interop__echo__client_stream__destroy(h);
	return ok ? NULL : "ClientStream: wrong concatenation";
}

static const char *
sc_client_stream(ck *k, drpc_conn *c)
{
	static const char *const parts[] = {"a", "bb", "ccc"};

	return client_stream(k, c, parts, 3, "abbccc");
}

static const char *
sc_client_stream_empty(ck *k, drpc_conn *c)
{
	return client_stream(k, c, NULL, 0, "");
}

static const char *
sc_bidi(ck *k, drpc_conn *c)
{
	static const char *const    parts[] = {"one", "two", "three"};
	Interop__Echo__Bidi_Client *h       = NULL;
	Interop__Msg               *m;
	drpc_err                    rv;

	rv = interop__echo__bidi__open(&h, c, NULL, NULL);
	for (size_t i = 0; rv == DRPC_OK && i < 3; i++) {
		Interop__Msg out = INTEROP__MSG__INIT;

		out.payload.data = (uint8_t *) (uintptr_t) parts[i];
		out.payload.len  = strlen(parts[i]);
		if ((rv = interop__echo__bidi__send(h, &out)) == DRPC_OK &&
		    (rv = interop__echo__bidi__recv(h, &m)) == DRPC_OK) {
			bool ok = payload_is(m, parts[i], strlen(parts[i]));

			protobuf_c_message_free_unpacked(&m->base, NULL);
			rv = ok ? DRPC_OK : DRPC_EDATALOSS;
		}
	}
	if (rv == DRPC_OK &&
	    (rv = interop__echo__bidi__close_send(h)) == DRPC_OK &&
	    (rv = interop__echo__bidi__recv(h, &m)) == DRPC_OK) {
		protobuf_c_message_free_unpacked(&m->base, NULL);
		rv = DRPC_EDATALOSS; // a reply nothing asked for
	}
	// h is NULL if the open failed (the connection dropped, say): the
	// stubs set it so, and destroying NULL does nothing.
	interop__echo__bidi__destroy(h);
	return rv == DRPC_EOF ? NULL : ck_fail(k, "Bidi", rv);
}

// fail asks for an error and checks its exact code and text.
static const char *
fail(ck *k, drpc_conn *c, uint64_t code, const char *text)
{
	Interop__FailRequest req = INTEROP__FAIL_REQUEST__INIT;
	Interop__Msg        *reply;
	drpc_status          st = {0};
	drpc_err             rv;
	const char          *why = NULL;

	req.code    = code;
	req.message = (char *) (uintptr_t) text;
	rv = interop__echo__fail__invoke(c, NULL, &req, &reply, NULL, &st);
	if (rv == DRPC_OK) {
		protobuf_c_message_free_unpacked(&reply->base, NULL);
		why = "Fail: the call succeeded";
	} else if (!st.remote || st.remote_code != code ||
	    st.message == NULL || strcmp(st.message, text) != 0) {
		snprintf(k->why, sizeof(k->why), "Fail: got code %llu \"%s\"",
		    (unsigned long long) st.remote_code,
		    st.message != NULL ? st.message : "");
		why = k->why;
	}
	drpc_status_reset(&st);
	return why;
}

static const char *
sc_fail(ck *k, drpc_conn *c)
{
	return fail(k, c, 42, "boom");
}

static const char *
sc_fail_bigcode(ck *k, drpc_conn *c)
{
	return fail(k, c, 0xDEADBEEFCAFEF00Dull, "big code");
}

static const char *
sc_metadata(ck *k, drpc_conn *c)
{
	static const char want[] =
	    "authorization=Bearer t0k3n\nempty=\nx-request-id=req-0001\n";
	drpc_md_pair   md[3];
	drpc_call_opts o   = {.md = md, .nmd = 3};
	Interop__Msg   req = INTEROP__MSG__INIT;
	Interop__Msg  *reply;
	drpc_err       rv;
	bool           ok;

	md[0] = drpc_md_str("authorization", "Bearer t0k3n");
	md[1] = drpc_md_str("empty", "");
	md[2] = drpc_md_str("x-request-id", "req-0001");
	rv = interop__echo__metadata__invoke(c, NULL, &req, &reply, &o, NULL);
	if (rv != DRPC_OK) {
		return ck_fail(k, "Metadata", rv);
	}
	ok = payload_is(reply, want, sizeof(want) - 1);
	protobuf_c_message_free_unpacked(&reply->base, NULL);
	return ok ? NULL : "Metadata: wrong listing";
}

// sleep_for calls Sleep(millis) under a timeout; returns the result.
static drpc_err
sleep_for(drpc_conn *c, int32_t millis, int64_t timeout_ms)
{
	Interop__SleepRequest req = INTEROP__SLEEP_REQUEST__INIT;
	Interop__Msg         *reply;
	drpc_ctx             *ctx;
	drpc_err              rv;

	req.millis = millis;
	if ((rv = drpc_ctx_create_timeout(&ctx, NULL, timeout_ms)) != DRPC_OK) {
		return rv;
	}
	rv = interop__echo__sleep__invoke(c, ctx, &req, &reply, NULL, NULL);
	if (rv == DRPC_OK) {
		protobuf_c_message_free_unpacked(&reply->base, NULL);
	}
	drpc_ctx_destroy(ctx);
	return rv;
}

// Soft cancel: the call times out, the connection carries on.
static const char *
sc_sleep_cancel(ck *k, drpc_conn *c)
{
	int64_t  start = drpc_now_ns();
	drpc_err rv    = sleep_for(c, 5000, 100);

	if (rv != DRPC_ETIMEDOUT && rv != DRPC_ECANCELED) {
		return ck_fail(k, "Sleep under a 100 ms timeout", rv);
	}
	if (drpc_now_ns() - start > 2000000000) {
		return "Sleep: the cancel took over 2 s";
	}
	return unary(k, c, "after cancel", 12);
}

// Hard cancel: the client drops the connection mid-call; the server
// carries on serving new connections.
static const char *
sc_sleep_hard_cancel(ck *k, drpc_conn *c)
{
	drpc_conn *c2;
	drpc_err   rv = sleep_for(c, 5000, 100);

	(void) rv;
	drpc_conn_close(c);
	if ((rv = drpc_dial(&c2, k->addr, &k->opts)) != DRPC_OK) {
		return ck_fail(k, "dial after the hard cancel", rv);
	}
	const char *why = unary(k, c2, "after hard cancel", 17);
	drpc_conn_destroy(c2);
	return why;
}

static const char *
sc_unknown_rpc(ck *k, drpc_conn *c)
{
	void       *reply;
	size_t      len;
	drpc_status st = {0};
	drpc_err    rv = drpc_invoke(c, NULL, "/interop.Echo/NoSuchMethod", "",
	       0, NULL, &reply, &len, &st);
	bool        remote = st.remote;

	drpc_status_reset(&st);
	if (rv == DRPC_OK) {
		drpc_free(reply);
		return "NoSuchMethod: the call succeeded";
	}
	if (!remote) {
		return ck_fail(k, "NoSuchMethod: not a server error", rv);
	}
	return unary(k, c, "after unknown rpc", 17);
}

static const char *
sc_multi_call(ck *k, drpc_conn *c)
{
	static const char *const cparts[] = {"x", "yz"};
	const char              *why;

	if ((why = unary(k, c, "first", 5)) != NULL ||
	    (why = unary(k, c, "", 0)) != NULL ||
	    (why = server_stream(k, c, 2, 5)) != NULL ||
	    (why = client_stream(k, c, cparts, 2, "xyz")) != NULL ||
	    (why = sc_bidi(k, c)) != NULL ||
	    (why = fail(k, c, 7, "seven")) != NULL ||
	    (why = sc_metadata(k, c)) != NULL) {
		return why;
	}
	return unary(k, c, "last", 4);
}

// Many threads share one connection (one call at a time unless the server
// multiplexes).
#define CONCURRENT_THREADS 16

typedef struct conc_arg {
	ck         k;
	drpc_conn *c;
	int        id;
	const char *why;
} conc_arg;

static void *
conc_main(void *arg)
{
	conc_arg *a = arg;

	for (int i = 0; i < 20 && a->why == NULL; i++) {
		char buf[32];
		int  n = snprintf(buf, sizeof(buf), "t%d-%d", a->id, i);

		a->why = i % 4 == 0 ? sc_bidi(&a->k, a->c)
				    : unary(&a->k, a->c, buf, (size_t) n);
	}
	return NULL;
}

static const char *
sc_concurrent(ck *k, drpc_conn *c)
{
	pthread_t t[CONCURRENT_THREADS];
	conc_arg  a[CONCURRENT_THREADS];
	int       started = 0;

	for (int i = 0; i < CONCURRENT_THREADS; i++) {
		a[i] = (conc_arg) {.k = *k, .c = c, .id = i, .why = NULL};
		if (pthread_create(&t[i], NULL, conc_main, &a[i]) != 0) {
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(t[i], NULL);
		if (a[i].why != NULL) {
			snprintf(k->why, sizeof(k->why), "thread %d: %s", i,
			    a[i].why);
			return k->why;
		}
	}
	return started == CONCURRENT_THREADS ? NULL : "cannot start threads";
}

typedef struct scenario {
	const char *name;
	const char *(*run)(ck *k, drpc_conn *c);
} scenario;

static const scenario scenarios[] = {
    {"unary_small", sc_unary_small},
    {"unary_empty", sc_unary_empty},
    {"unary_64k", sc_unary_64k},
    {"server_stream_0", sc_server_stream_0},
    {"server_stream_1", sc_server_stream_1},
    {"server_stream_3", sc_server_stream_3},
    {"client_stream", sc_client_stream},
    {"client_stream_empty", sc_client_stream_empty},
    {"bidi", sc_bidi},
    {"fail", sc_fail},
    {"fail_bigcode", sc_fail_bigcode},
    {"metadata", sc_metadata},
    {"sleep_cancel", sc_sleep_cancel},
    {"sleep_hard_cancel", sc_sleep_hard_cancel},
    {"unknown_rpc", sc_unknown_rpc},
    {"multi_call", sc_multi_call},
    {"concurrent", sc_concurrent},
};

int
interop_check(
    const char *addr, drpc_multiplex_mode multiplex, drpc_flow_mode flow)
{
	ck  k      = {.addr = addr};
	int passed = 0;
	int failed = 0;

	k.opts.multiplex = multiplex;
	k.opts.flow      = flow;
	// Upstream servers: exact bytes.
	k.opts.omit_deadline = multiplex == DRPC_MULTIPLEX_OFF;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		drpc_conn  *c;
		const char *why;
		drpc_err    rv = drpc_dial(&c, addr, &k.opts);

		if (rv != DRPC_OK) {
			why = ck_fail(&k, "dial", rv);
		} else {
			why = scenarios[i].run(&k, c);
			drpc_conn_destroy(c);
		}
		if (why == NULL) {
			printf("PASS %s\n", scenarios[i].name);
			passed++;
		} else {
			printf("FAIL %s: %s\n", scenarios[i].name, why);
			failed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed;
}
