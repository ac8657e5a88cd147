// drpc-demo: a server and a client in one process, on the stubs generated
// from demo.proto, talking over loopback TCP. It walks through a unary
// call, server, client and bidirectional streaming, many threads sharing
// one connection, a deadline and a cancellation, and tells what happened.
//   drpc-demo              the tour (make run)
//   drpc-demo serve ADDR   serve demo.Greeter, and reflection of
//                          demo.proto, on ADDR (tcp://127.0.0.1:0 picks a
//                          port) until SIGINT/SIGTERM; the first line
//                          printed names the address: for the drpc tool
//                          (docs/cli.md)
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/serve.h"
#include "demo.drpc.h"

// The server side. A slow Count tells the client, through a note, how it
// ended, so the tour can print the server's view in order.

typedef struct server_note {
	pthread_mutex_t mu;
	pthread_cond_t  cv;
	int             count;     // notes posted so far
	char            text[200]; // the last one
} server_note;

static void
note_post(server_note *n, const char *text)
{
	pthread_mutex_lock(&n->mu);
	snprintf(n->text, sizeof(n->text), "%s", text);
	n->count++;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

// note_wait waits (at most 2 s) for note number want and prints it.
static void
note_wait(server_note *n, int want)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	pthread_mutex_lock(&n->mu);
	while (n->count < want &&
	    pthread_cond_timedwait(&n->cv, &n->mu, &ts) == 0) {
	}
	printf("   server: %s\n", n->count >= want ? n->text : "(no word)");
	pthread_mutex_unlock(&n->mu);
}

static drpc_err
srv_hello(void *user, drpc_stream *s, const Demo__HelloRequest *req,
    Demo__HelloReply *reply)
{
	size_t n = strlen(req->name) + 8;

	(void) user;
	(void) s;
	if ((reply->message = malloc(n)) == NULL) {
		return DRPC_ENOMEM;
	}
	snprintf(reply->message, n, "hello, %s", req->name);
	return DRPC_OK;
}

static drpc_err
srv_count(void *user, drpc_stream *s, const Demo__CountRequest *req)
{
	Demo__Number n = DEMO__NUMBER__INIT;
	drpc_err     rv;
	char         text[200];

	for (int64_t i = 1; i <= req->to; i++) {
		if (req->delay_ms > 0 &&
		    drpc_ctx_wait(drpc_stream_ctx(s),
			drpc_now_ns() + (int64_t) req->delay_ms * 1000000) !=
			DRPC_OK) {
			snprintf(text, sizeof(text),
			    "Count stopped before %lld: its context says \"%s\"",
			    (long long) i,
			    drpc_strerror(drpc_ctx_err(drpc_stream_ctx(s))));
			note_post(user, text);
			return DRPC_ECANCELED;
		}
		n.value = i;
		if ((rv = demo__greeter__count__server_send(s, &n)) != DRPC_OK) {
			return rv;
		}
	}
	return DRPC_OK;
}

static drpc_err
srv_add(void *user, drpc_stream *s, Demo__Total *reply)
{
	Demo__Number *n;
	drpc_err      rv;

	(void) user;
	while ((rv = demo__greeter__add__server_recv(s, &n)) == DRPC_OK) {
		reply->sum += n->value;
		reply->count++;
		protobuf_c_message_free_unpacked(&n->base, NULL);
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

static drpc_err
srv_chat(void *user, drpc_stream *s)
{
	Demo__Line *in;
	drpc_err    rv;

	(void) user;
	while ((rv = demo__greeter__chat__server_recv(s, &in)) == DRPC_OK) {
		char       text[300];
		Demo__Line out = DEMO__LINE__INIT;

		snprintf(text, sizeof(text), "you said \"%s\"", in->text);
		out.text = text;
		protobuf_c_message_free_unpacked(&in->base, NULL);
		if ((rv = demo__greeter__chat__server_send(s, &out)) != DRPC_OK) {
			return rv;
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

static void
srv_free_reply(void *user, ProtobufCMessage *reply)
{
	(void) user;
	if (reply->descriptor == &demo__hello_reply__descriptor) {
		free(((Demo__HelloReply *) reply)->message);
	}
}


// The client side: one function per part of the tour.

static int
fail(const char *what, drpc_err rv)
{
	printf("  FAILED: %s: %s\n", what, drpc_strerror(rv));
	return 1;
}

static int
tour_unary(drpc_conn *c, const char *title)
{
	Demo__HelloRequest req = DEMO__HELLO_REQUEST__INIT;
	Demo__HelloReply  *reply;
	drpc_err           rv;

	printf("%s", title);
	char name[] = "world";

	req.name = name;
	rv = demo__greeter__hello__invoke(c, NULL, &req, &reply, NULL, NULL);
	if (rv != DRPC_OK) {
		return fail("Hello", rv);
	}
	printf("   reply: \"%s\"\n", reply->message);
	protobuf_c_message_free_unpacked(&reply->base, NULL);
	return 0;
}

static int
tour_server_stream(drpc_conn *c)
{
	Demo__CountRequest           req = DEMO__COUNT_REQUEST__INIT;
	Demo__Greeter__Count_Client *h;
	Demo__Number                *n;
	drpc_err                     rv;

	printf("\n2. Server streaming: Count(to 5)\n   received:");
	req.to = 5;
	if ((rv = demo__greeter__count__open(&h, c, NULL, &req, NULL)) !=
	    DRPC_OK) {
		return fail("Count", rv);
	}
	while ((rv = demo__greeter__count__recv(h, &n)) == DRPC_OK) {
		printf(" %lld", (long long) n->value);
		protobuf_c_message_free_unpacked(&n->base, NULL);
	}
	printf("\n   then: %s (the normal end)\n", drpc_err_name(rv));
	demo__greeter__count__destroy(h);
	return rv == DRPC_EOF ? 0 : fail("Count", rv);
}

static int
tour_client_stream(drpc_conn *c)
{
	Demo__Greeter__Add_Client *h;
	Demo__Total               *total;
	drpc_err                   rv;

	printf("\n3. Client streaming: Add(1, 2, ..., 10)\n");
	if ((rv = demo__greeter__add__open(&h, c, NULL, NULL)) != DRPC_OK) {
		return fail("Add", rv);
	}
	for (int64_t i = 1; i <= 10 && rv == DRPC_OK; i++) {
		Demo__Number n = DEMO__NUMBER__INIT;

		n.value = i;
		rv = demo__greeter__add__send(h, &n);
	}
	if (rv == DRPC_OK) {
		rv = demo__greeter__add__close_and_recv(h, &total);
	}
	demo__greeter__add__destroy(h);
	if (rv != DRPC_OK) {
		return fail("Add", rv);
	}
	printf("   reply: sum %lld of %d numbers\n", (long long) total->sum,
	    total->count);
	protobuf_c_message_free_unpacked(&total->base, NULL);
	return 0;
}

static int
tour_bidi(drpc_conn *c)
{
	static const char *lines[] = {"hi", "how are you?", "bye"};
	Demo__Greeter__Chat_Client *h;
	drpc_err                    rv;

	printf("\n4. Bidirectional streaming: Chat\n");
	if ((rv = demo__greeter__chat__open(&h, c, NULL, NULL)) != DRPC_OK) {
		return fail("Chat", rv);
	}
	for (size_t i = 0; i < 3 && rv == DRPC_OK; i++) {
		Demo__Line  out = DEMO__LINE__INIT;
		Demo__Line *in;

		out.text = (char *) (uintptr_t) lines[i];
		if ((rv = demo__greeter__chat__send(h, &out)) == DRPC_OK &&
		    (rv = demo__greeter__chat__recv(h, &in)) == DRPC_OK) {
			printf("   > %s\n   < %s\n", lines[i], in->text);
			protobuf_c_message_free_unpacked(&in->base, NULL);
		}
	}
	if (rv == DRPC_OK) {
		rv = demo__greeter__chat__close_send(h);
	}
	demo__greeter__chat__destroy(h);
	return rv == DRPC_OK ? 0 : fail("Chat", rv);
}

#define THREADS 16
#define CALLS   200

typedef struct worker {
	drpc_conn *c;
	int        ok;
} worker;

static void *
worker_main(void *arg)
{
	worker            *w   = arg;
	Demo__HelloRequest req = DEMO__HELLO_REQUEST__INIT;
	Demo__HelloReply  *reply;

	char name[] = "thread";

	req.name = name;
	for (int i = 0; i < CALLS; i++) {
		if (demo__greeter__hello__invoke(w->c, NULL, &req, &reply, NULL,
			NULL) == DRPC_OK) {
			protobuf_c_message_free_unpacked(&reply->base, NULL);
			w->ok++;
		}
	}
	return NULL;
}

static int
tour_threads(drpc_conn *c)
{
	pthread_t t[THREADS];
	worker    w[THREADS];
	int       ok    = 0;
	int64_t   start = drpc_now_ns();
	double    secs;

	printf("\n5. %d threads x %d Hello calls, all on ONE connection\n",
	    THREADS, CALLS);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (worker) {c, 0};
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
	}
	secs = (double) (drpc_now_ns() - start) / 1e9;
	printf("   %d of %d calls succeeded in %.0f ms (%.0f calls/s), "
	       "multiplexed as concurrent streams\n",
	    ok, THREADS * CALLS, secs * 1e3, ok / secs);
	return ok == THREADS * CALLS ? 0 : fail("threads", DRPC_EINTERNAL);
}

// count_slowly reads a slow Count under ctx and reports how it ended.
static drpc_err
count_slowly(drpc_conn *c, drpc_ctx *ctx, int *got)
{
	Demo__CountRequest           req = DEMO__COUNT_REQUEST__INIT;
	Demo__Greeter__Count_Client *h;
	Demo__Number                *n;
	drpc_err                     rv;

	req.to       = 100;
	req.delay_ms = 100;
	if ((rv = demo__greeter__count__open(&h, c, ctx, &req, NULL)) !=
	    DRPC_OK) {
		return rv;
	}
	while ((rv = demo__greeter__count__recv(h, &n)) == DRPC_OK) {
		printf(" %lld", (long long) n->value);
		fflush(stdout);
		protobuf_c_message_free_unpacked(&n->base, NULL);
		if (++*got == 3 && drpc_ctx_deadline(ctx) == 0) {
			drpc_ctx_cancel(ctx); // the cancellation part
		}
	}
	demo__greeter__count__destroy(h);
	return rv;
}

static int
tour_deadline_and_cancel(drpc_conn *c, server_note *note)
{
	drpc_ctx *ctx;
	int       got = 0;
	drpc_err  rv;

	printf("\n6. Deadline: a slow Count (one number per 100 ms) under a "
	       "350 ms deadline\n   received:");
	drpc_ctx_create_timeout(&ctx, NULL, 350);
	rv = count_slowly(c, ctx, &got);
	drpc_ctx_destroy(ctx);
	printf("\n   then: %s after %d numbers\n", drpc_err_name(rv), got);
	note_wait(note, 1);
	if (rv != DRPC_ETIMEDOUT) {
		return fail("deadline", rv);
	}
	printf("\n7. Cancellation: the same slow Count, cancelled by the "
	       "client after 3 numbers\n   received:");
	got = 0;
	drpc_ctx_create(&ctx, NULL);
	rv = count_slowly(c, ctx, &got);
	drpc_ctx_destroy(ctx);
	printf("\n   then: %s\n", drpc_err_name(rv));
	note_wait(note, 2);
	if (rv != DRPC_ECANCELED) {
		return fail("cancel", rv);
	}
	return tour_unary(c, "   and the connection carries on: Hello(\"world\")\n");
}

// greeter_server: the handlers, with note for Count's word on how it
// ended.
static Demo__Greeter_Server
greeter_server(server_note *note)
{
	return (Demo__Greeter_Server) {
	    .hello      = srv_hello,
	    .count      = srv_count,
	    .add        = srv_add,
	    .chat       = srv_chat,
	    .free_reply = srv_free_reply,
	    .user       = note,
	};
}

// serve serves demo.Greeter and reflection of demo.proto on addr until
// SIGINT or SIGTERM.
static int
serve(const char *addr)
{
	server_note note = {
	    .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	Demo__Greeter_Server greeter = greeter_server(&note);
	drpc_mux            *mux     = NULL;
	drpc_err             rv;
	int                  status;

	if ((rv = drpc_mux_create(&mux)) != DRPC_OK ||
	    (rv = demo__greeter__register(mux, &greeter)) != DRPC_OK) {
		fprintf(stderr, "drpc-demo: %s\n", drpc_strerror(rv));
		drpc_mux_destroy(mux);
		return 1;
	}
	status = cmd_serve("drpc-demo",
	    "drpc-demo: serving demo.Greeter (and reflection) on", mux,
	    drpc_gen_demo_2eproto_reflect(), NULL, addr);
	drpc_mux_destroy(mux);
	return status;
}

// tour runs the client and server in one process, part by part.
static int
tour(void)
{
	server_note          note = {.mu = PTHREAD_MUTEX_INITIALIZER,
			 .cv = PTHREAD_COND_INITIALIZER};
	Demo__Greeter_Server greeter = greeter_server(&note);
	drpc_mux    *mux;
	drpc_server *srv;
	drpc_conn   *c;
	char         addr[300];
	int          failed = 0;

	if (drpc_mux_create(&mux) != DRPC_OK ||
	    demo__greeter__register(mux, &greeter) != DRPC_OK ||
	    drpc_server_create(&srv, mux, NULL) != DRPC_OK ||
	    drpc_server_listen(srv, "tcp://127.0.0.1:0") != DRPC_OK ||
	    drpc_server_addr(srv, addr, sizeof(addr)) != DRPC_OK ||
	    drpc_dial(&c, addr, NULL) != DRPC_OK) {
		fprintf(stderr, "drpc-demo: cannot start the server\n");
		return 1;
	}
	printf("drpc-demo: server listening on %s; client connected\n", addr);
	failed += tour_unary(c, "\n1. Unary: Hello(\"world\")\n");
	failed += tour_server_stream(c);
	failed += tour_client_stream(c);
	failed += tour_bidi(c);
	failed += tour_threads(c);
	failed += tour_deadline_and_cancel(c, &note);
	drpc_conn_destroy(c);
	drpc_server_shutdown(srv, drpc_now_ns() + 1000000000);
	drpc_server_destroy(srv);
	drpc_mux_destroy(mux);
	printf("\n%s\n", failed == 0 ? "drpc-demo: every part worked"
				     : "drpc-demo: some parts FAILED");
	return failed == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 1) {
		return tour();
	}
	if (argc == 3 && strcmp(argv[1], "serve") == 0) {
		return serve(argv[2]);
	}
	fprintf(stderr, "usage: drpc-demo             (the tour)\n"
			"       drpc-demo serve ADDR  (serve demo.Greeter, e.g. "
			"on tcp://127.0.0.1:0)\n");
	return 2;
}
