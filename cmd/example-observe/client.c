// example-observe's client side: a client interceptor that adds the token,
// calls of every kind through the generated stubs, and the health service
// called without generated code.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <drpc/health.h>

#include "demo.drpc.h"
#include "observe.h"

// add_token runs around every call made on the connection: arg is the
// "Bearer <token>" to send.
static drpc_err
add_token(drpc_client_call *c, drpc_next *next, void *arg)
{
	drpc_err rv = drpc_client_call_add_md(c, "authorization", arg);

	return rv != DRPC_OK ? rv : drpc_next_call(next, c);
}

static drpc_err
call_hello(drpc_conn *c, drpc_status *st) // 1 message each way
{
	static char        name[] = "observer";
	Demo__HelloRequest req    = DEMO__HELLO_REQUEST__INIT;
	Demo__HelloReply  *reply;
	drpc_err           rv;

	req.name = name;
	rv = demo__greeter__hello__invoke(c, NULL, &req, &reply, NULL, st);
	if (rv == DRPC_OK) {
		protobuf_c_message_free_unpacked(&reply->base, NULL);
	}
	return rv;
}

static drpc_err
call_count(drpc_conn *c) // 1 request, 3 replies
{
	Demo__CountRequest           req = DEMO__COUNT_REQUEST__INIT;
	Demo__Greeter__Count_Client *h;
	Demo__Number                *n;
	drpc_err                     rv;

	req.to = 3;
	if ((rv = demo__greeter__count__open(&h, c, NULL, &req, NULL)) !=
	    DRPC_OK) {
		return rv;
	}
	while ((rv = demo__greeter__count__recv(h, &n)) == DRPC_OK) {
		protobuf_c_message_free_unpacked(&n->base, NULL);
	}
	demo__greeter__count__destroy(h);
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

static drpc_err
call_add(drpc_conn *c) // 4 requests, 1 reply
{
	Demo__Greeter__Add_Client *h;
	Demo__Number               n = DEMO__NUMBER__INIT;
	Demo__Total               *total;
	drpc_err                   rv;

	if ((rv = demo__greeter__add__open(&h, c, NULL, NULL)) != DRPC_OK) {
		return rv;
	}
	for (n.value = 1; n.value <= 4 && rv == DRPC_OK; n.value++) {
		rv = demo__greeter__add__send(h, &n);
	}
	if (rv == DRPC_OK &&
	    (rv = demo__greeter__add__close_and_recv(h, &total)) == DRPC_OK) {
		rv = total->sum == 10 ? DRPC_OK : DRPC_EDATALOSS;
		protobuf_c_message_free_unpacked(&total->base, NULL);
	}
	demo__greeter__add__destroy(h);
	return rv;
}

static drpc_err
call_chat(drpc_conn *c) // 2 lines each way
{
	static char                 text[] = "ping";
	Demo__Greeter__Chat_Client *h;
	Demo__Line                  out = DEMO__LINE__INIT, *in;
	drpc_err                    rv;

	out.text = text;
	if ((rv = demo__greeter__chat__open(&h, c, NULL, NULL)) != DRPC_OK) {
		return rv;
	}
	for (int i = 0; i < 2 && rv == DRPC_OK; i++) {
		if ((rv = demo__greeter__chat__send(h, &out)) == DRPC_OK &&
		    (rv = demo__greeter__chat__recv(h, &in)) == DRPC_OK) {
			protobuf_c_message_free_unpacked(&in->base, NULL);
		}
	}
	if (rv == DRPC_OK &&
	    (rv = demo__greeter__chat__close_send(h)) == DRPC_OK) {
		// Read the end too: the server's handler has returned OK.
		rv = demo__greeter__chat__recv(h, &in);
		rv = rv == DRPC_EOF  ? DRPC_OK
		     : rv == DRPC_OK ? DRPC_EPROTO
		                     : rv;
	}
	demo__greeter__chat__destroy(h);
	return rv;
}

// health_name decodes a HealthCheckResponse by hand: one varint field,
// tag 0x08; empty is UNKNOWN (proto3's default).
static const char *
health_name(const void *msg, size_t len)
{
	static const char *const names[] = {
	    "UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};
	const unsigned char *b = msg;

	if (len == 0) {
		return names[0];
	}
	return len == 2 && b[0] == 0x08 && b[1] < 4 ? names[b[1]]
	                                            : "(malformed)";
}

#define EACH 3 // calls of each kind

int
observe_client(const char *addr, const char *bearer)
{
	drpc_client_interceptor ci = {add_token, (void *) bearer};
	drpc_conn_opts          co = {.interceptors = &ci, .ninterceptors = 1};
	drpc_conn              *c;
	drpc_status             st    = {0};
	void                   *reply = NULL;
	size_t                  len;
	int                     failed = 0;
	drpc_err                rv;

	if (drpc_dial(&c, addr, &co) != DRPC_OK) {
		fprintf(stderr, "example-observe: cannot dial %s\n", addr);
		return 1;
	}
	for (int i = 0; i < EACH; i++) {
		drpc_err r[4];

		r[0] = call_hello(c, NULL);
		r[1] = call_count(c);
		r[2] = call_add(c);
		r[3] = call_chat(c);
		for (int k = 0; k < 4; k++) {
			if (r[k] != DRPC_OK) {
				printf("call %d failed: %s\n", k,
				    drpc_err_name(r[k]));
				failed++;
			}
		}
	}
	printf("Hello, Count, Add, Chat, %d calls each: %s\n", EACH,
	    failed == 0 ? "ok" : "FAILED");
	// Health needs no token. The request's one field, the service's name,
	// is "" (the whole server): an empty message.
	rv = drpc_invoke(
	    c, NULL, DRPC_HEALTH_CHECK, "", 0, NULL, &reply, &len, NULL);
	printf("health: %s\n",
	    rv == DRPC_OK ? health_name(reply, len) : drpc_err_name(rv));
	failed +=
	    rv != DRPC_OK || strcmp(health_name(reply, len), "SERVING") != 0;
	drpc_free(reply);
	drpc_conn_destroy(c);
	// A connection without the interceptor: its calls are refused.
	if (drpc_dial(&c, addr, NULL) != DRPC_OK) {
		return 1;
	}
	rv = call_hello(c, &st);
	printf("Hello without the token: %s (code %" PRIu64 ", \"%s\")\n",
	    drpc_err_name(rv), st.remote_code, st.message ? st.message : "");
	failed += rv != DRPC_EUNAUTH || st.remote_code != 16;
	drpc_status_reset(&st);
	drpc_conn_destroy(c);
	return failed == 0 ? 0 : 1;
}

int
observe_watch(const char *addr)
{
	drpc_conn   *c = NULL;
	drpc_stream *s = NULL;
	void        *msg;
	size_t       len;
	drpc_err     rv;

	if ((rv = drpc_dial(&c, addr, NULL)) == DRPC_OK &&
	    (rv = drpc_stream_open(&s, c, NULL, DRPC_HEALTH_WATCH, NULL)) ==
	        DRPC_OK &&
	    (rv = drpc_stream_send(s, "", 0)) == DRPC_OK) {
		rv = drpc_stream_close_send(s);
	}
	while (rv == DRPC_OK &&
	       (rv = drpc_stream_recv(s, &msg, &len)) == DRPC_OK) {
		printf("health: %s\n", health_name(msg, len));
		fflush(stdout); // a test may wait for this line
		drpc_free(msg);
	}
	printf("watch ended: %s\n", drpc_err_name(rv));
	drpc_stream_destroy(s);
	drpc_conn_destroy(c);
	return rv == DRPC_EOF ? 0 : 1;
}
