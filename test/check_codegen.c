// The code generator, cmd/protoc-gen-drpc-c (docs/codegen.md):
//   golden   its output for test/proto/echo.proto, byte for byte against
//            test/codegen/ (`make codegen-golden` rewrites those), both as
//            protoc ran it during the build and run here in process;
//   calls    the generated stubs of echo.proto end to end over TCP: every
//            kind of method, NULL handlers, metadata, handler errors,
//            free_reply, cancellation, bad arguments;
//   edges    the edge-case protos of test/proto/ (compiled by the build;
//            here their names, wire names and a call through each);
//   interop  the stubs of ../shared/interop/interop.proto against the
//            hand-written Echo service of the interop tests (when the
//            build found interop.proto);
//   plugin   cg_run on bad requests: wrong bytes, truncations, mutations,
//            deep nesting, and each error the generator reports;
//   bytes    the reflection data's string literals (check_codegen_bytes.c).
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>

#include "cg.h"
#include "echo.drpc.h"
#include "edge_cpkg.drpc.h"
#include "edge_multi.drpc.h"
#include "edge_names.drpc.h"
#include "edge_nested.drpc.h"
#include "edge_nopkg.drpc.h"
#include "edge_stream.drpc.h"
#include "suites.h"
#include "testutil.h"
#include "tu_rows.h"
#ifdef DRPC_HAVE_INTEROP_GEN
#include "echo_service.h"
#include "interop.drpc.h"
#endif

// Golden files.

// read_text reads a whole file (NUL-terminated) or fails the test.
static char *
read_text(const char *path, size_t *len)
{
	uint8_t *data = tu_read_file(path, len);

	data[*len] = '\0'; // tu_read_file leaves room for it
	return (char *) data;
}

// check_same fails with the first line that differs between got (what the
// generator wrote, named what) and the golden file want_path.
static void
check_same(
    const char *what, const char *got, size_t got_len, const char *want_path)
{
	size_t      want_len;
	char       *want = read_text(want_path, &want_len);
	const char *g    = got;
	const char *w    = want;
	int         line = 1;

	while (g < got + got_len && w < want + want_len && *g == *w) {
		line += *g == '\n';
		g++;
		w++;
	}
	if (got_len == want_len && g == got + got_len) {
		free(want);
		return;
	}
	while (g > got && g[-1] != '\n') {
		g--;
	}
	while (w > want && w[-1] != '\n') {
		w--;
	}
	ck_abort_msg("%s differs from the golden %s at line %d:\n"
	             "  got:  %.*s\n  want: %.*s\n"
	             "(if the change is intended, run `make codegen-golden`)",
	    what, want_path, line, (int) strcspn(g, "\n"), g,
	    (int) strcspn(w, "\n"), w);
}

START_TEST(test_codegen_golden_protoc)
{
	static const char *const files[] = {"echo.drpc.h", "echo.drpc.c"};

	for (size_t i = 0; i < 2; i++) {
		char   got_path[1024];
		char   want_path[1024];
		size_t len;
		char  *got;

		snprintf(got_path, sizeof(got_path), "%s/test/%s", DRPC_GEN_DIR,
		    files[i]);
		snprintf(want_path, sizeof(want_path), "%s/%s", DRPC_GOLDEN_DIR,
		    files[i]);
		got = read_text(got_path, &len);
		check_same(got_path, got, len, want_path);
		free(got);
	}
}
END_TEST

typedef Google__Protobuf__Compiler__CodeGeneratorRequest  cg_request;
typedef Google__Protobuf__Compiler__CodeGeneratorResponse cg_response;

// run_request packs req, runs the generator in process and returns its
// unpacked response (free it with resp_free).
static cg_response *
run_request(const cg_request *req)
{
	size_t len =
	    google__protobuf__compiler__code_generator_request__get_packed_size(
	        req);
	uint8_t     *in = malloc(len + 1);
	uint8_t     *out;
	size_t       out_len;
	cg_response *resp;

	ck_assert_ptr_nonnull(in);
	google__protobuf__compiler__code_generator_request__pack(req, in);
	ck_assert(cg_run(in, len, &out, &out_len));
	free(in);
	resp = google__protobuf__compiler__code_generator_response__unpack(
	    NULL, out_len, out);
	free(out);
	ck_assert_msg(resp != NULL, "the response does not parse");
	return resp;
}

static void
resp_free(cg_response *resp)
{
	google__protobuf__compiler__code_generator_response__free_unpacked(
	    resp, NULL);
}

// load_echo_set reads the descriptors protoc gives the plugin for
// echo.proto (the build wrote them with --descriptor_set_out).
static Google__Protobuf__FileDescriptorSet *
load_echo_set(void)
{
	char                                 path[1024];
	size_t                               len;
	uint8_t                             *data;
	Google__Protobuf__FileDescriptorSet *set;

	snprintf(path, sizeof(path), "%s/test/echo.desc", DRPC_GEN_DIR);
	data = tu_read_file(path, &len);
	set  = google__protobuf__file_descriptor_set__unpack(NULL, len, data);
	free(data);
	ck_assert_ptr_nonnull(set);
	return set;
}

// echo_request is the request protoc makes for echo.proto.
static cg_request
echo_request(Google__Protobuf__FileDescriptorSet *set, char **gen)
{
	cg_request req =
	    GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_REQUEST__INIT;

	req.n_file_to_generate = 1;
	req.file_to_generate   = gen;
	req.n_proto_file       = set->n_file;
	req.proto_file         = set->file;
	return req;
}

START_TEST(test_codegen_golden_in_process)
{
	Google__Protobuf__FileDescriptorSet *set    = load_echo_set();
	char                                 name[] = "echo.proto";
	char                                *gen[]  = {name};
	cg_request                           req    = echo_request(set, gen);
	cg_response                         *resp   = run_request(&req);
	char                                 want[1024];

	ck_assert_msg(resp->error == NULL, "error: %s", resp->error);
	ck_assert_uint_eq(resp->n_file, 2);
	ck_assert_str_eq(resp->file[0]->name, "echo.drpc.h");
	ck_assert_str_eq(resp->file[1]->name, "echo.drpc.c");
	ck_assert(resp->has_supported_features);
	ck_assert_uint_eq(resp->supported_features, 1); // proto3 optional
	for (size_t i = 0; i < 2; i++) {
		snprintf(want, sizeof(want), "%s/%s", DRPC_GOLDEN_DIR,
		    resp->file[i]->name);
		check_same(resp->file[i]->name, resp->file[i]->content,
		    strlen(resp->file[i]->content), want);
	}
	resp_free(resp);
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}
END_TEST

// End to end: echo.proto's service over TCP.

// echo_state is the user pointer of the test servers; handlers run on
// server threads, so its counters are atomic.
typedef struct echo_state {
	atomic_int freed;  // free_reply calls
	atomic_int copies; // unary replies whose payload the handler malloc'd
} echo_state;

// Unary echoes the request, or the value of metadata "echo-md" when the
// client sent one (in memory the handler allocates, freed by
// free_reply), or fails with PermissionDenied for "fail", or never
// answers "hang" (it waits until the call is cancelled or times out).
static drpc_err
echo_unary(void *user, drpc_stream *s, const Test__Echo__Msg *req,
    Test__Echo__Msg *reply)
{
	echo_state *st = user;
	const char *v;
	size_t      len;

	if (req->payload.len == 4 &&
	    memcmp(req->payload.data, "fail", 4) == 0) {
		return DRPC_EPERM;
	}
	if (req->payload.len == 4 &&
	    memcmp(req->payload.data, "hang", 4) == 0) {
		return drpc_ctx_wait(drpc_stream_ctx(s), 0);
	}
	if (drpc_stream_md_get(s, "echo-md", &v, &len) != DRPC_OK) {
		reply->payload = req->payload; // points into req
		return DRPC_OK;
	}
	if ((reply->payload.data = malloc(len > 0 ? len : 1)) == NULL) {
		return DRPC_ENOMEM;
	}
	memcpy(reply->payload.data, v, len);
	reply->payload.len = len;
	atomic_fetch_add(&st->copies, 1);
	return DRPC_OK;
}

// echo_free_reply frees what echo_unary allocated. A reply does not say
// whether its payload points into the request or was allocated; the
// tests make one call at a time, so copies says which.
static void
echo_free_reply(void *user, ProtobufCMessage *reply)
{
	echo_state *st = user;

	atomic_fetch_add(&st->freed, 1);
	if (reply->descriptor == &test__echo__msg__descriptor &&
	    atomic_load(&st->copies) > 0) {
		Test__Echo__Msg *m = (Test__Echo__Msg *) reply;

		atomic_fetch_sub(&st->copies, 1);
		free(m->payload.data);
	}
}

// ServerStream sends "0" .. "count-1"; count 99 sends two, then fails
// with Aborted; a negative count waits until the call is cancelled.
static drpc_err
echo_server_stream(
    void *user, drpc_stream *s, const Test__Echo__CountRequest *req)
{
	int n = req->count == 99 ? 2 : req->count;

	(void) user;
	if (req->count < 0) {
		return drpc_ctx_wait(drpc_stream_ctx(s), 0);
	}
	for (int i = 0; i < n; i++) {
		char            num[16];
		Test__Echo__Msg m = TEST__ECHO__MSG__INIT;
		drpc_err        rv;

		m.payload.len  = (size_t) snprintf(num, sizeof(num), "%d", i);
		m.payload.data = (uint8_t *) num;
		rv =
		    test__echo__echo_service__server_stream__server_send(s, &m);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return req->count == 99 ? DRPC_EABORTED : DRPC_OK;
}

// ClientStream counts messages and bytes.
static drpc_err
echo_client_stream(
    void *user, drpc_stream *s, Test__Echo__Types__Summary *reply)
{
	Test__Echo__Msg *m;
	drpc_err         rv;

	(void) user;
	while ((rv = test__echo__echo_service__client_stream__server_recv(
	            s, &m)) == DRPC_OK) {
		reply->count++;
		reply->bytes += (int64_t) m->payload.len;
		protobuf_c_message_free_unpacked(&m->base, NULL);
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// Bidi echoes every message as it comes.
static drpc_err
echo_bidi(void *user, drpc_stream *s)
{
	Test__Echo__Msg *m;
	drpc_err         rv;

	(void) user;
	while ((rv = test__echo__echo_service__bidi__server_recv(s, &m)) ==
	       DRPC_OK) {
		rv = test__echo__echo_service__bidi__server_send(s, m);
		protobuf_c_message_free_unpacked(&m->base, NULL);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// A server and a client connection over loopback TCP.
typedef struct fixture {
	drpc_mux                      *mux;
	drpc_server                   *srv;
	drpc_conn                     *c;
	echo_state                     st;
	Test__Echo__EchoService_Server impl; // what fixture_start registered
	char                           addr[128];
} fixture;

static void
fixture_listen(fixture *f)
{
	DRPC_CHECK_OK(drpc_server_create(&f->srv, f->mux, NULL));
	DRPC_CHECK_OK(drpc_server_listen(f->srv, "tcp://127.0.0.1:0"));
	DRPC_CHECK_OK(drpc_server_addr(f->srv, f->addr, sizeof(f->addr)));
	DRPC_CHECK_OK(drpc_dial(&f->c, f->addr, NULL));
}

// fixture_start serves impl, which the fixture keeps (its user pointer
// set to the fixture's state).
static void
fixture_start(fixture *f, Test__Echo__EchoService_Server impl)
{
	memset(f, 0, sizeof(*f));
	f->impl      = impl;
	f->impl.user = &f->st;
	DRPC_CHECK_OK(drpc_mux_create(&f->mux));
	DRPC_CHECK_OK(test__echo__echo_service__register(f->mux, &f->impl));
	fixture_listen(f);
}

static void
fixture_stop(fixture *f)
{
	drpc_conn_destroy(f->c);
	DRPC_CHECK_OK(drpc_server_shutdown(
	    f->srv, drpc_now_ns() + tu_bound_ns(30 * 1000000000ll)));
	drpc_server_destroy(f->srv);
	drpc_mux_destroy(f->mux);
}

static Test__Echo__EchoService_Server
echo_impl(void)
{
	return (Test__Echo__EchoService_Server){
	    .unary         = echo_unary,
	    .server_stream = echo_server_stream,
	    .client_stream = echo_client_stream,
	    .bidi          = echo_bidi,
	    .free_reply    = echo_free_reply,
	};
}

static Test__Echo__Msg
msg_of(const char *text)
{
	Test__Echo__Msg m = TEST__ECHO__MSG__INIT;

	m.payload.data = (uint8_t *) (uintptr_t) text;
	m.payload.len  = strlen(text);
	return m;
}

static void
check_payload(const Test__Echo__Msg *m, const char *want)
{
	ck_assert_uint_eq(m->payload.len, strlen(want));
	ck_assert(m->payload.len == 0 ||
	          memcmp(m->payload.data, want, m->payload.len) == 0);
}

// unary_fails calls Unary with text (opts o, which may be NULL) and
// checks that the call fails with want and leaves the reply NULL; with
// remote_code > 0, that the server sent that code (no status asked for
// otherwise).
static void
unary_fails(fixture *f, const char *text, const drpc_call_opts *o,
    drpc_err want, uint32_t remote_code)
{
	Test__Echo__Msg  req   = msg_of(text);
	Test__Echo__Msg *reply = &req; // not NULL: the stub must reset it
	drpc_status      st    = {0};

	DRPC_CHECK_ERR(test__echo__echo_service__unary__invoke(f->c, NULL, &req,
	                   &reply, o, remote_code > 0 ? &st : NULL),
	    want);
	ck_assert_ptr_null(reply);
	if (remote_code > 0) {
		ck_assert(st.remote);
		ck_assert_uint_eq(st.remote_code, remote_code);
	}
	drpc_status_reset(&st);
}

// open_count opens ServerStream asking for count messages (ctx and o may
// be NULL).
static drpc_err
open_count(fixture *f, drpc_ctx *ctx, int count, const drpc_call_opts *o,
    Test__Echo__EchoService__ServerStream_Client **ss)
{
	Test__Echo__CountRequest req = TEST__ECHO__COUNT_REQUEST__INIT;

	req.count = count;
	return test__echo__echo_service__server_stream__open(
	    ss, f->c, ctx, &req, o);
}

// stream_fails checks that the next receive of ss fails with want and
// leaves its message NULL, and destroys ss.
static void
stream_fails(Test__Echo__EchoService__ServerStream_Client *ss, drpc_err want)
{
	Test__Echo__Msg  junk = msg_of("junk");
	Test__Echo__Msg *m    = &junk; // not NULL: the stub must reset it

	DRPC_CHECK_ERR(
	    test__echo__echo_service__server_stream__recv(ss, &m), want);
	ck_assert_ptr_null(m);
	test__echo__echo_service__server_stream__destroy(ss);
}

START_TEST(test_codegen_unary)
{
	fixture          f;
	Test__Echo__Msg  req = msg_of("hello");
	Test__Echo__Msg *reply;
	drpc_status      st = {0};

	fixture_start(&f, echo_impl());
	DRPC_CHECK_OK(test__echo__echo_service__unary__invoke(
	    f.c, NULL, &req, &reply, NULL, &st));
	check_payload(reply, "hello");
	protobuf_c_message_free_unpacked(&reply->base, NULL);
	req = msg_of(""); // an empty message is an empty body
	DRPC_CHECK_OK(test__echo__echo_service__unary__invoke(
	    f.c, NULL, &req, &reply, NULL, NULL));
	check_payload(reply, "");
	protobuf_c_message_free_unpacked(&reply->base, NULL);
	fixture_stop(&f);
	ck_assert_int_eq(atomic_load(&f.st.freed), 2);
	drpc_status_reset(&st);
}
END_TEST

START_TEST(test_codegen_metadata)
{
	fixture          f;
	Test__Echo__Msg  req  = msg_of("ignored");
	drpc_md_pair     md[] = {drpc_md_str("echo-md", "v=1")};
	drpc_call_opts   o    = {.md = md, .nmd = 1};
	Test__Echo__Msg *reply;

	fixture_start(&f, echo_impl());
	DRPC_CHECK_OK(test__echo__echo_service__unary__invoke(
	    f.c, NULL, &req, &reply, &o, NULL));
	check_payload(reply, "v=1");
	protobuf_c_message_free_unpacked(&reply->base, NULL);
	fixture_stop(&f);
	// free_reply ran once and released the copy the handler made.
	ck_assert_int_eq(atomic_load(&f.st.freed), 1);
	ck_assert_int_eq(atomic_load(&f.st.copies), 0);
}
END_TEST

START_TEST(test_codegen_server_stream)
{
	fixture                                       f;
	Test__Echo__EchoService__ServerStream_Client *h;
	Test__Echo__Msg                              *m;

	fixture_start(&f, echo_impl());
	DRPC_CHECK_OK(open_count(&f, NULL, 5, NULL, &h));
	for (int i = 0; i < 5; i++) {
		char want[16];

		snprintf(want, sizeof(want), "%d", i);
		DRPC_CHECK_OK(
		    test__echo__echo_service__server_stream__recv(h, &m));
		check_payload(m, want);
		protobuf_c_message_free_unpacked(&m->base, NULL);
	}
	stream_fails(h, DRPC_EOF);
	fixture_stop(&f);
	ck_assert_int_eq(atomic_load(&f.st.freed), 0); // no reply to free
}
END_TEST

START_TEST(test_codegen_client_stream)
{
	fixture                                       f;
	Test__Echo__EchoService__ClientStream_Client *h;
	Test__Echo__Types__Summary                   *sum;
	static const char *const parts[] = {"a", "bc", "", "def"};

	fixture_start(&f, echo_impl());
	DRPC_CHECK_OK(
	    test__echo__echo_service__client_stream__open(&h, f.c, NULL, NULL));
	for (size_t i = 0; i < 4; i++) {
		Test__Echo__Msg m = msg_of(parts[i]);

		DRPC_CHECK_OK(
		    test__echo__echo_service__client_stream__send(h, &m));
	}
	DRPC_CHECK_OK(
	    test__echo__echo_service__client_stream__close_and_recv(h, &sum));
	ck_assert_int_eq(sum->count, 4);
	ck_assert_int_eq(sum->bytes, 6);
	protobuf_c_message_free_unpacked(&sum->base, NULL);
	test__echo__echo_service__client_stream__destroy(h);
	fixture_stop(&f);
	ck_assert_int_eq(atomic_load(&f.st.freed), 1);
}
END_TEST

START_TEST(test_codegen_bidi)
{
	fixture                               f;
	Test__Echo__EchoService__Bidi_Client *h;
	Test__Echo__Msg                      *m;

	fixture_start(&f, echo_impl());
	DRPC_CHECK_OK(
	    test__echo__echo_service__bidi__open(&h, f.c, NULL, NULL));
	for (int i = 0; i < 10; i++) {
		char            text[16];
		Test__Echo__Msg out;

		snprintf(text, sizeof(text), "m%d", i);
		out = msg_of(text);
		DRPC_CHECK_OK(test__echo__echo_service__bidi__send(h, &out));
		DRPC_CHECK_OK(test__echo__echo_service__bidi__recv(h, &m));
		check_payload(m, text);
		protobuf_c_message_free_unpacked(&m->base, NULL);
	}
	DRPC_CHECK_OK(test__echo__echo_service__bidi__close_send(h));
	DRPC_CHECK_ERR(test__echo__echo_service__bidi__recv(h, &m), DRPC_EOF);
	test__echo__echo_service__bidi__destroy(h);
	fixture_stop(&f);
}
END_TEST

// A server whose handlers are all NULL answers every method with
// Unimplemented, and each client stub reports it where it first can.
START_TEST(test_codegen_unimplemented)
{
	fixture                                       f;
	Test__Echo__Msg                              *m;
	Test__Echo__Types__Summary                   *sum;
	Test__Echo__EchoService__ServerStream_Client *ss;
	Test__Echo__EchoService__ClientStream_Client *cs;
	Test__Echo__EchoService__Bidi_Client         *bd;

	fixture_start(&f, (Test__Echo__EchoService_Server){0});
	unary_fails(&f, "x", NULL, DRPC_EUNIMPL, 12);

	DRPC_CHECK_OK(open_count(&f, NULL, 0, NULL, &ss));
	stream_fails(ss, DRPC_EUNIMPL);

	DRPC_CHECK_OK(test__echo__echo_service__client_stream__open(
	    &cs, f.c, NULL, NULL));
	sum = (void *) &f; // not NULL: the stub must reset it
	DRPC_CHECK_ERR(
	    test__echo__echo_service__client_stream__close_and_recv(cs, &sum),
	    DRPC_EUNIMPL);
	ck_assert_ptr_null(sum);
	test__echo__echo_service__client_stream__destroy(cs);

	DRPC_CHECK_OK(
	    test__echo__echo_service__bidi__open(&bd, f.c, NULL, NULL));
	m = (void *) &f;
	DRPC_CHECK_ERR(
	    test__echo__echo_service__bidi__recv(bd, &m), DRPC_EUNIMPL);
	ck_assert_ptr_null(m);
	test__echo__echo_service__bidi__destroy(bd);
	fixture_stop(&f);
}
END_TEST

// A handler's error reaches the client: from a unary handler (nothing is
// sent, free_reply still runs), and from a streaming one after two
// messages.
START_TEST(test_codegen_handler_error)
{
	fixture                                       f;
	Test__Echo__Msg                              *m;
	Test__Echo__EchoService__ServerStream_Client *ss;
	drpc_status                                   st = {0};

	fixture_start(&f, echo_impl());
	unary_fails(&f, "fail", NULL, DRPC_EPERM, 7);

	DRPC_CHECK_OK(open_count(&f, NULL, 99, NULL, &ss));
	for (int i = 0; i < 2; i++) {
		DRPC_CHECK_OK(
		    test__echo__echo_service__server_stream__recv(ss, &m));
		protobuf_c_message_free_unpacked(&m->base, NULL);
	}
	DRPC_CHECK_ERR(test__echo__echo_service__server_stream__recv(ss, &m),
	    DRPC_EABORTED);
	DRPC_CHECK_ERR(
	    drpc_stream_status(
	        test__echo__echo_service__server_stream__stream(ss), &st),
	    DRPC_OK);
	ck_assert_uint_eq(st.remote_code, 10);
	drpc_status_reset(&st);
	test__echo__echo_service__server_stream__destroy(ss);
	fixture_stop(&f);
	ck_assert_int_eq(atomic_load(&f.st.freed), 1); // the failed unary's
}
END_TEST

// A handle's stream cancels the call; a context deadline ends it too.
START_TEST(test_codegen_cancel)
{
	fixture                                       f;
	Test__Echo__EchoService__ServerStream_Client *ss;
	drpc_ctx                                     *ctx;

	fixture_start(&f, echo_impl());
	// count -1: the handler waits to be cancelled
	DRPC_CHECK_OK(open_count(&f, NULL, -1, NULL, &ss));
	drpc_stream_cancel(test__echo__echo_service__server_stream__stream(ss));
	stream_fails(ss, DRPC_ECANCELED);

	// A deadline that passed before the open (a stalled thread) fails
	// it at once, writing nothing: then try again with more time.
	for (int64_t ms = 50;; ms *= 2) {
		drpc_err rv;

		DRPC_CHECK_OK(drpc_ctx_create_timeout(&ctx, NULL, ms));
		rv = open_count(&f, ctx, -1, NULL, &ss);
		if (rv != DRPC_ETIMEDOUT ||
		    ms > tu_bound_ns(30 * 1000000000ll) / 1000000) {
			DRPC_CHECK_OK(rv);
			break;
		}
		drpc_ctx_destroy(ctx);
	}
	stream_fails(ss, DRPC_ETIMEDOUT);
	drpc_ctx_destroy(ctx);
	fixture_stop(&f);
}
END_TEST

// The stubs honour drpc_call_opts.timeout_ms: a unary call and a server
// stream to handlers that never answer end with DRPC_ETIMEDOUT, no
// context made (check_traps.c orders the handler's start before the
// deadline; here the stubs only have to pass the options through).
START_TEST(test_codegen_timeout)
{
	fixture                                       f;
	drpc_call_opts                                o = {.timeout_ms = 100};
	Test__Echo__Msg                              *m;
	Test__Echo__EchoService__ServerStream_Client *ss;
	drpc_err                                      rv;

	fixture_start(&f, echo_impl());
	unary_fails(&f, "hang", &o, DRPC_ETIMEDOUT, 0);
	// count -1: the handler waits to be cancelled. On a slow machine the
	// deadline may pass before the open: that is the same timeout,
	// reported by the open.
	rv = open_count(&f, NULL, -1, &o, &ss);
	if (rv == DRPC_OK) {
		rv = test__echo__echo_service__server_stream__recv(ss, &m);
	}
	DRPC_CHECK_ERR(rv, DRPC_ETIMEDOUT);
	test__echo__echo_service__server_stream__destroy(ss); // NULL: no-op
	fixture_stop(&f);
}
END_TEST

// A call that fails leaves its out-parameter NULL, whatever it held: the
// handle of every __open (so a caller may destroy it unconditionally, as
// drpc-interop's checker does when a connection drops mid-run) and the
// reply of __invoke (unary_fails checks it). Here the connection is
// closed first.
START_TEST(test_codegen_failed_open_null)
{
	fixture                                       f;
	int                                           junk;
	Test__Echo__Msg                              *m  = (void *) &junk;
	Test__Echo__EchoService__ServerStream_Client *ss = (void *) &junk;
	Test__Echo__EchoService__ClientStream_Client *cs = (void *) &junk;
	Test__Echo__EchoService__Bidi_Client         *bd = (void *) &junk;

	fixture_start(&f, echo_impl());
	drpc_conn_close(f.c);
	unary_fails(&f, "x", NULL, DRPC_EUNAVAIL, 0);
	DRPC_CHECK_ERR(open_count(&f, NULL, 0, NULL, &ss), DRPC_EUNAVAIL);
	ck_assert_ptr_null(ss);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__client_stream__open(&cs, f.c, NULL, NULL),
	    DRPC_EUNAVAIL);
	ck_assert_ptr_null(cs);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__bidi__open(&bd, f.c, NULL, NULL),
	    DRPC_EUNAVAIL);
	ck_assert_ptr_null(bd);
	ss = (void *) &junk; // bad arguments too
	DRPC_CHECK_ERR(test__echo__echo_service__server_stream__open(
	                   &ss, f.c, NULL, NULL, NULL),
	    DRPC_EINVAL);
	ck_assert_ptr_null(ss);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__bidi__recv(NULL, &m), DRPC_EINVAL);
	ck_assert_ptr_null(m);
	test__echo__echo_service__server_stream__destroy(ss);
	test__echo__echo_service__client_stream__destroy(cs);
	test__echo__echo_service__bidi__destroy(bd);
	fixture_stop(&f);
}
END_TEST

START_TEST(test_codegen_bad_args)
{
	fixture                                       f;
	Test__Echo__Msg                               req = msg_of("x");
	Test__Echo__Msg                              *m;
	Test__Echo__Types__Summary                   *sum;
	Test__Echo__EchoService__ServerStream_Client *ss;
	Test__Echo__EchoService__Bidi_Client         *bd;

	fixture_start(&f, echo_impl());
	DRPC_CHECK_ERR(test__echo__echo_service__unary__invoke(
	                   f.c, NULL, &req, NULL, NULL, NULL),
	    DRPC_EINVAL);
	DRPC_CHECK_ERR(test__echo__echo_service__unary__invoke(
	                   f.c, NULL, NULL, &m, NULL, NULL),
	    DRPC_EINVAL);
	DRPC_CHECK_ERR(test__echo__echo_service__server_stream__open(
	                   &ss, f.c, NULL, NULL, NULL),
	    DRPC_EINVAL);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__bidi__open(NULL, f.c, NULL, NULL),
	    DRPC_EINVAL);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__bidi__send(NULL, &req), DRPC_EINVAL);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__bidi__recv(NULL, &m), DRPC_EINVAL);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__bidi__close_send(NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__client_stream__close_and_recv(NULL, &sum),
	    DRPC_EINVAL);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__server_stream__server_send(NULL, &req),
	    DRPC_EINVAL);
	DRPC_CHECK_ERR(test__echo__echo_service__bidi__server_recv(NULL, NULL),
	    DRPC_EINVAL);
	ck_assert_ptr_null(test__echo__echo_service__bidi__stream(NULL));
	test__echo__echo_service__bidi__destroy(NULL);
	DRPC_CHECK_OK(
	    test__echo__echo_service__bidi__open(&bd, f.c, NULL, NULL));
	DRPC_CHECK_ERR(
	    test__echo__echo_service__bidi__recv(bd, NULL), DRPC_EINVAL);
	test__echo__echo_service__bidi__destroy(bd);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__register(f.mux, NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(
	    test__echo__echo_service__register(f.mux, &f.impl), DRPC_EEXIST);
	// The runtime under the stubs (drpc/stub.h) refuses NULL as well.
	DRPC_CHECK_ERR(
	    drpc_stub_register(f.mux, NULL, &f.impl, NULL, NULL), DRPC_EINVAL);
	DRPC_CHECK_ERR(drpc_stub_serve(NULL, &f.impl, NULL), DRPC_EINVAL);
	fixture_stop(&f);
}
END_TEST

// The wire names and C names the edge-case protos produce, one macro of
// each: the wire keeps the .proto's names, C follows protobuf-c.
START_TEST(test_codegen_edge_names)
{
	ck_assert_str_eq(TEST__ECHO__ECHO_SERVICE__SERVER_STREAM__METHOD,
	    "/test.echo.EchoService/ServerStream");
	ck_assert_str_eq(A__B__C__NESTED__GET__METHOD, "/a.b.c.Nested/Get");
	ck_assert_str_eq(LONELY__PING__METHOD, "/Lonely/Ping");
	ck_assert_str_eq(MULTI__SECOND__B__METHOD, "/multi.Second/B");
	ck_assert_str_eq(MULTI__THIRD__C__METHOD, "/multi.Third/C");
	ck_assert_str_eq(
	    STREAMS__ONLY_STREAMS__BOTH__METHOD, "/streams.OnlyStreams/Both");
	ck_assert_str_eq(
	    NAMES__SERVER__DEFAULT__METHOD, "/names.Server/Default");
	ck_assert_str_eq(
	    NAMES__SERVER__GET__HTTP2__METHOD, "/names.Server/get_HTTP2");
	ck_assert_str_eq(
	    NAMES__SERVER__HTTPGET__METHOD, "/names.Server/HTTPGet");
	ck_assert_str_eq(
	    NAMES__SERVER__DO_THING__METHOD, "/names.Server/do_thing");
	ck_assert_str_eq(NAMES__SNAKE_CASE_SERVICE__LOWER_CASE__METHOD,
	    "/names.snake_case_service/lower_case");
	ck_assert_str_eq(NAMES__SNAKE_CASE_SERVICE__CAMEL_CASE__METHOD,
	    "/names.snake_case_service/CamelCase");
	ck_assert_str_eq(CPKG__STORE__PUT__METHOD, "/wire.pkg.Store/Put");
}
END_TEST

// Edge-case servers: each handler answers with its method's name.

static drpc_err
reply_name(drpc_stream *s, Names__Types__HTTPReply *reply)
{
	const char *m = drpc_stream_method(s);

	reply->text = strrchr(m, '/'); // lives as long as s
	return DRPC_OK;
}

static drpc_err
names_unary(void *user, drpc_stream *s,
    const Names__Types__SnakeCaseRequest *req, Names__Types__HTTPReply *reply)
{
	(void) user;
	(void) req;
	return reply_name(s, reply);
}

static drpc_err
names_httpget(
    void *user, drpc_stream *s, const Names__Types__SnakeCaseRequest *req)
{
	Names__Types__HTTPReply r = NAMES__TYPES__HTTPREPLY__INIT;

	(void) user;
	r.text = req->text;
	return names__server__httpget__server_send(s, &r);
}

static drpc_err
nested_get(void *user, drpc_stream *s, const A__B__C__Outer__Inner *req,
    A__B__C__Outer *reply)
{
	(void) user;
	(void) s;
	reply->inner = (A__B__C__Outer__Inner *) (uintptr_t) req; // into req
	return DRPC_OK;
}

static drpc_err
lonely_ping(void *user, drpc_stream *s, const Ping *req, Pong *reply)
{
	(void) user;
	(void) s;
	reply->text = req->text;
	return DRPC_OK;
}

static drpc_err
store_put(void *user, drpc_stream *s, const Cpkg__Item *req, Cpkg__Item *reply)
{
	(void) user;
	(void) s;
	reply->n = req->n + 1;
	return DRPC_OK;
}

static drpc_err
multi_a(void *user, drpc_stream *s, const Multi__M *req, Multi__M *reply)
{
	(void) s;
	reply->n = req->n + *(int *) user;
	return DRPC_OK;
}

// names_call makes a unary call of an escaped method and checks that the
// right handler answered.
typedef drpc_err (*names_invoke)(drpc_conn *c, drpc_ctx *ctx,
    const Names__Types__SnakeCaseRequest *req, Names__Types__HTTPReply **reply,
    const drpc_call_opts *opts, drpc_status *st);

static void
names_call(drpc_conn *c, names_invoke fn, const char *want)
{
	Names__Types__SnakeCaseRequest req =
	    NAMES__TYPES__SNAKE_CASE_REQUEST__INIT;
	Names__Types__HTTPReply *reply;

	DRPC_CHECK_OK(fn(c, NULL, &req, &reply, NULL, NULL));
	ck_assert_str_eq(reply->text, want);
	protobuf_c_message_free_unpacked(&reply->base, NULL);
}

// Every edge-case service on one mux (services without handlers too):
// escaped fields (default_, register_, free_reply_, user_), snake_case
// and CamelCase names, nested messages, no package, c_package, several
// services per file.
typedef struct edge_fixture {
	fixture                        f;
	int                            one;
	int                            ten;
	Names__Server_Server           names;
	Names__SnakeCaseService_Server snake;
	A__B__C__Nested_Server         nested;
	Lonely_Server                  lonely;
	Cpkg__Store_Server             store;
	Multi__First_Server            first;
	Multi__Second_Server           second;
	Multi__Third_Server            third;
	Streams__OnlyStreams_Server    streams;
} edge_fixture;

static void
edge_start(edge_fixture *e)
{
	memset(e, 0, sizeof(*e));
	e->one   = 1;
	e->ten   = 10;
	e->names = (Names__Server_Server){
	    .default_    = names_unary,
	    .register_   = names_unary,
	    .free_reply_ = names_unary,
	    .user_       = names_unary,
	    .get__http2  = names_unary,
	    .httpget     = names_httpget,
	};
	e->snake.lower_case = names_unary;
	e->nested.get       = nested_get;
	e->lonely.ping      = lonely_ping;
	e->store.put        = store_put;
	e->first  = (Multi__First_Server){.a = multi_a, .user = &e->one};
	e->second = (Multi__Second_Server){.a = multi_a, .user = &e->ten};
	DRPC_CHECK_OK(drpc_mux_create(&e->f.mux));
	DRPC_CHECK_OK(names__server__register(e->f.mux, &e->names));
	DRPC_CHECK_OK(names__snake_case_service__register(e->f.mux, &e->snake));
	DRPC_CHECK_OK(a__b__c__nested__register(e->f.mux, &e->nested));
	DRPC_CHECK_OK(lonely__register(e->f.mux, &e->lonely));
	DRPC_CHECK_OK(cpkg__store__register(e->f.mux, &e->store));
	DRPC_CHECK_OK(multi__first__register(e->f.mux, &e->first));
	DRPC_CHECK_OK(multi__second__register(e->f.mux, &e->second));
	DRPC_CHECK_OK(multi__third__register(e->f.mux, &e->third));
	DRPC_CHECK_OK(streams__only_streams__register(e->f.mux, &e->streams));
	fixture_listen(&e->f);
}

START_TEST(test_codegen_edge_escaped)
{
	edge_fixture e;

	edge_start(&e);
	names_call(e.f.c, names__server__default__invoke, "/Default");
	names_call(e.f.c, names__server__register__invoke, "/Register");
	names_call(e.f.c, names__server__free_reply__invoke, "/FreeReply");
	names_call(e.f.c, names__server__user__invoke, "/User");
	names_call(e.f.c, names__server__get__http2__invoke, "/get_HTTP2");
	names_call(e.f.c, names__snake_case_service__lower_case__invoke,
	    "/lower_case");
	fixture_stop(&e.f);
}
END_TEST

START_TEST(test_codegen_edge_streams)
{
	edge_fixture                   e;
	Names__Types__SnakeCaseRequest req =
	    NAMES__TYPES__SNAKE_CASE_REQUEST__INIT;
	char                               text[] = "got it";
	Names__Types__HTTPReply           *r;
	Names__Server__HTTPGet_Client     *get;
	Names__Server__DoThing_Client     *thing;
	Streams__Req                       in = STREAMS__REQ__INIT;
	Streams__OnlyStreams__Down_Client *down;
	Streams__Item                     *item;

	edge_start(&e);
	req.text = text;
	DRPC_CHECK_OK(
	    names__server__httpget__open(&get, e.f.c, NULL, &req, NULL));
	DRPC_CHECK_OK(names__server__httpget__recv(get, &r));
	ck_assert_str_eq(r->text, "got it");
	protobuf_c_message_free_unpacked(&r->base, NULL);
	DRPC_CHECK_ERR(names__server__httpget__recv(get, &r), DRPC_EOF);
	names__server__httpget__destroy(get);

	DRPC_CHECK_OK(names__server__do_thing__open(&thing, e.f.c, NULL, NULL));
	DRPC_CHECK_ERR(names__server__do_thing__recv(thing, &r), DRPC_EUNIMPL);
	names__server__do_thing__destroy(thing);

	DRPC_CHECK_OK(
	    streams__only_streams__down__open(&down, e.f.c, NULL, &in, NULL));
	DRPC_CHECK_ERR(
	    streams__only_streams__down__recv(down, &item), DRPC_EUNIMPL);
	streams__only_streams__down__destroy(down);
	fixture_stop(&e.f);
}
END_TEST

START_TEST(test_codegen_edge_packages)
{
	edge_fixture          e;
	char                  text[] = "nested";
	A__B__C__Outer__Inner inner  = A__B__C__OUTER__INNER__INIT;
	A__B__C__Outer       *outer;
	Ping                  ping = PING__INIT;
	Pong                 *pong;
	Cpkg__Item            item = CPKG__ITEM__INIT;
	Cpkg__Item           *item_out;
	Multi__M              m = MULTI__M__INIT;
	Multi__M             *m_out;

	edge_start(&e);
	inner.text = text;
	DRPC_CHECK_OK(a__b__c__nested__get__invoke(
	    e.f.c, NULL, &inner, &outer, NULL, NULL));
	ck_assert_str_eq(outer->inner->text, "nested");
	protobuf_c_message_free_unpacked(&outer->base, NULL);

	ping.text = text;
	DRPC_CHECK_OK(
	    lonely__ping__invoke(e.f.c, NULL, &ping, &pong, NULL, NULL));
	ck_assert_str_eq(pong->text, "nested");
	protobuf_c_message_free_unpacked(&pong->base, NULL);

	item.n = 41;
	DRPC_CHECK_OK(cpkg__store__put__invoke(
	    e.f.c, NULL, &item, &item_out, NULL, NULL));
	ck_assert_int_eq(item_out->n, 42);
	protobuf_c_message_free_unpacked(&item_out->base, NULL);

	m.n = 5;
	DRPC_CHECK_OK(
	    multi__first__a__invoke(e.f.c, NULL, &m, &m_out, NULL, NULL));
	ck_assert_int_eq(m_out->n, 6);
	protobuf_c_message_free_unpacked(&m_out->base, NULL);
	DRPC_CHECK_OK(
	    multi__second__a__invoke(e.f.c, NULL, &m, &m_out, NULL, NULL));
	ck_assert_int_eq(m_out->n, 15);
	protobuf_c_message_free_unpacked(&m_out->base, NULL);
	DRPC_CHECK_ERR(
	    multi__third__c__invoke(e.f.c, NULL, &m, &m_out, NULL, NULL),
	    DRPC_EUNIMPL);
	fixture_stop(&e.f);
}
END_TEST

#ifdef DRPC_HAVE_INTEROP_GEN

// interop_start serves the hand-written Echo service of the interop tests,
// which they check against Go DRPC's recordings.
static void
interop_start(fixture *f)
{
	memset(f, 0, sizeof(*f));
	DRPC_CHECK_OK(drpc_mux_create(&f->mux));
	DRPC_CHECK_OK(echo_register(f->mux));
	fixture_listen(f);
}

// The generated interop client against that service: unary and server
// streaming.
START_TEST(test_codegen_interop_client)
{
	fixture                f;
	uint8_t                text[] = "interop";
	Interop__Msg           req    = INTEROP__MSG__INIT;
	Interop__Msg          *reply;
	Interop__StreamRequest sreq = INTEROP__STREAM_REQUEST__INIT;
	Interop__Echo__ServerStream_Client *ss;

	interop_start(&f);
	req.payload.data = text;
	req.payload.len  = 7;
	DRPC_CHECK_OK(
	    interop__echo__unary__invoke(f.c, NULL, &req, &reply, NULL, NULL));
	ck_assert_uint_eq(reply->payload.len, 7);
	ck_assert_mem_eq(reply->payload.data, "interop", 7);
	protobuf_c_message_free_unpacked(&reply->base, NULL);

	sreq.count = 3;
	sreq.size  = 300;
	DRPC_CHECK_OK(
	    interop__echo__server_stream__open(&ss, f.c, NULL, &sreq, NULL));
	for (int i = 0; i < 3; i++) {
		DRPC_CHECK_OK(interop__echo__server_stream__recv(ss, &reply));
		ck_assert_uint_eq(reply->payload.len, 300);
		for (size_t j = 0; j < 300; j++) {
			ck_assert_uint_eq(reply->payload.data[j], j % 251);
		}
		protobuf_c_message_free_unpacked(&reply->base, NULL);
	}
	DRPC_CHECK_ERR(
	    interop__echo__server_stream__recv(ss, &reply), DRPC_EOF);
	interop__echo__server_stream__destroy(ss);
	fixture_stop(&f);
}
END_TEST

// The same, bidirectional and failing.
START_TEST(test_codegen_interop_client_bidi_fail)
{
	fixture                     f;
	uint8_t                     text[] = "interop";
	char                        msg[]  = "bad request";
	Interop__Msg                req    = INTEROP__MSG__INIT;
	Interop__Msg               *reply;
	Interop__Echo__Bidi_Client *bd;
	Interop__FailRequest        freq = INTEROP__FAIL_REQUEST__INIT;
	drpc_status                 st   = {0};

	interop_start(&f);
	req.payload.data = text;
	req.payload.len  = 7;
	DRPC_CHECK_OK(interop__echo__bidi__open(&bd, f.c, NULL, NULL));
	DRPC_CHECK_OK(interop__echo__bidi__send(bd, &req));
	DRPC_CHECK_OK(interop__echo__bidi__recv(bd, &reply));
	ck_assert_mem_eq(reply->payload.data, "interop", 7);
	protobuf_c_message_free_unpacked(&reply->base, NULL);
	DRPC_CHECK_OK(interop__echo__bidi__close_send(bd));
	DRPC_CHECK_ERR(interop__echo__bidi__recv(bd, &reply), DRPC_EOF);
	interop__echo__bidi__destroy(bd);

	freq.code    = 3;
	freq.message = msg;
	DRPC_CHECK_ERR(
	    interop__echo__fail__invoke(f.c, NULL, &freq, &reply, NULL, &st),
	    DRPC_EINVAL);
	ck_assert_uint_eq(st.remote_code, 3);
	ck_assert_str_eq(st.message, "bad request");
	drpc_status_reset(&st);
	fixture_stop(&f);
}
END_TEST

static drpc_err
interop_unary(
    void *user, drpc_stream *s, const Interop__Msg *req, Interop__Msg *reply)
{
	(void) user;
	(void) s;
	reply->payload = req->payload;
	return DRPC_OK;
}

// The generated interop server against the interop tests' hand-written
// codec and drpc_invoke: the bytes agree both ways.
START_TEST(test_codegen_interop_server)
{
	Interop__Echo_Server impl = {.unary = interop_unary};
	fixture              f;
	uint8_t             *enc;
	size_t               enc_len;
	void                *out;
	size_t               out_len;
	const uint8_t       *payload;
	size_t               payload_len;

	memset(&f, 0, sizeof(f));
	DRPC_CHECK_OK(drpc_mux_create(&f.mux));
	DRPC_CHECK_OK(interop__echo__register(f.mux, &impl));
	fixture_listen(&f);
	DRPC_CHECK_OK(echo_msg_encode("raw bytes", 9, &enc, &enc_len));
	DRPC_CHECK_OK(drpc_invoke(f.c, NULL, INTEROP__ECHO__UNARY__METHOD, enc,
	    enc_len, NULL, &out, &out_len, NULL));
	DRPC_CHECK_OK(echo_msg_decode(out, out_len, &payload, &payload_len));
	ck_assert_uint_eq(payload_len, 9);
	ck_assert_mem_eq(payload, "raw bytes", 9);
	drpc_free(out);
	free(enc);
	DRPC_CHECK_ERR(drpc_invoke(f.c, NULL, INTEROP__ECHO__SLEEP__METHOD, "",
	                   0, NULL, &out, &out_len, NULL),
	    DRPC_EUNIMPL);
	fixture_stop(&f);
}
END_TEST

#endif // DRPC_HAVE_INTEROP_GEN

// The plugin on bad requests.

// check_error runs req and checks that the response is an error
// containing want, with no files.
static void
check_error(const cg_request *req, const char *want)
{
	cg_response *resp = run_request(req);

	ck_assert_msg(resp->error != NULL, "no error; want \"%s\"", want);
	ck_assert_msg(strstr(resp->error, want) != NULL,
	    "error \"%s\" does not say \"%s\"", resp->error, want);
	ck_assert_uint_eq(resp->n_file, 0);
	resp_free(resp);
}

// check_bytes runs the generator on raw bytes: it must answer with a
// response that parses, an error or files (never crash: the sanitizer
// builds make that strict).
static bool
check_bytes(const uint8_t *in, size_t len)
{
	uint8_t     *out;
	size_t       out_len;
	cg_response *resp;
	bool         err;

	ck_assert(cg_run(in, len, &out, &out_len));
	resp = google__protobuf__compiler__code_generator_response__unpack(
	    NULL, out_len, out);
	free(out);
	ck_assert_ptr_nonnull(resp);
	err = resp->error != NULL;
	ck_assert(err || resp->n_file % 2 == 0);
	resp_free(resp);
	return err;
}

START_TEST(test_codegen_plugin_garbage)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 0x01};

	ck_assert(check_bytes(junk, sizeof(junk)));
	ck_assert(check_bytes((const uint8_t *) "\x7a\x05hello", 7));
	ck_assert(!check_bytes(NULL, 0)); // an empty request: nothing to do
}
END_TEST

// echo_packed is echo.proto's request, packed.
static uint8_t *
echo_packed(size_t *len)
{
	Google__Protobuf__FileDescriptorSet *set    = load_echo_set();
	char                                 name[] = "echo.proto";
	char                                *gen[]  = {name};
	cg_request                           req    = echo_request(set, gen);
	uint8_t                             *buf;

	*len =
	    google__protobuf__compiler__code_generator_request__get_packed_size(
	        &req);
	buf = malloc(*len);
	ck_assert_ptr_nonnull(buf);
	google__protobuf__compiler__code_generator_request__pack(&req, buf);
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	return buf;
}

// Every prefix of a real request, each a truncated message.
START_TEST(test_codegen_plugin_truncated)
{
	size_t   len;
	uint8_t *req = echo_packed(&len);

	for (size_t n = 0; n < len; n += 1 + n / 64) {
		check_bytes(req, n);
	}
	ck_assert(!check_bytes(req, len));
	free(req);
}
END_TEST

// A real request with bytes changed at random (a fixed seed): whatever
// the bytes say, the answer is a response.
START_TEST(test_codegen_plugin_mutated)
{
	size_t   len;
	uint8_t *req  = echo_packed(&len);
	uint8_t *copy = malloc(len);
	uint64_t x    = 0x9e3779b97f4a7c15u;

	ck_assert_ptr_nonnull(copy);
	for (int round = 0; round < 1500; round++) {
		memcpy(copy, req, len);
		for (int k = 0; k < 1 + round % 4; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			copy[x % len] = (uint8_t) (x >> 32);
		}
		check_bytes(copy, len);
	}
	free(copy);
	free(req);
}
END_TEST

// Nested messages nested deeper than protobuf-c can unpack on a stack are
// refused before unpacking.
START_TEST(test_codegen_plugin_deep)
{
	size_t   depth = 200000;
	size_t   cap   = depth * 8 + 64;
	uint8_t *buf   = malloc(cap);
	size_t   at    = cap;

	ck_assert_ptr_nonnull(buf);
	// Built from the innermost message out: each level is tag, length,
	// then the level inside (DescriptorProto.nested_type = 3).
	for (size_t i = 0; i < depth + 2; i++) {
		size_t   inner = cap - at;
		uint8_t  len[10];
		size_t   n   = 0;
		unsigned tag = i == depth + 1
		                   ? (15 << 3 | 2)         // request.proto_file
		               : i == depth ? (4 << 3 | 2) // file.message_type
		                            : (3 << 3 | 2);
		for (size_t v = inner;; v >>= 7) {
			len[n++] =
			    (uint8_t) ((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
			if (v < 0x80) {
				break;
			}
		}
		at -= n;
		memcpy(buf + at, len, n);
		buf[--at] = (uint8_t) tag;
	}
	{
		cg_response *resp;
		uint8_t     *out;
		size_t       out_len;

		ck_assert(cg_run(buf + at, cap - at, &out, &out_len));
		resp =
		    google__protobuf__compiler__code_generator_response__unpack(
		        NULL, out_len, out);
		ck_assert_ptr_nonnull(resp);
		ck_assert_ptr_nonnull(strstr(resp->error, "nests messages"));
		resp_free(resp);
		free(out);
	}
	free(buf);
}
END_TEST

// A one-file request built in C: package p, message M, service S with up
// to four methods of M -> M.
typedef struct tfile {
	Google__Protobuf__FileDescriptorProto     fd;
	Google__Protobuf__DescriptorProto         msg;
	Google__Protobuf__DescriptorProto        *msgs[1];
	Google__Protobuf__ServiceDescriptorProto  svc;
	Google__Protobuf__ServiceDescriptorProto *svcs[1];
	Google__Protobuf__MethodDescriptorProto   meth[4];
	Google__Protobuf__MethodDescriptorProto  *meths[4];
	Google__Protobuf__FileDescriptorProto    *files[2];
	char                                     *gen[1];
	cg_request                                req;
} tfile;

static void
tfile_init(tfile *t, const char *name, const char *pkg,
    const char *const *methods, size_t n, const char *type)
{
	memset(t, 0, sizeof(*t));
	google__protobuf__file_descriptor_proto__init(&t->fd);
	google__protobuf__descriptor_proto__init(&t->msg);
	google__protobuf__service_descriptor_proto__init(&t->svc);
	t->fd.name           = (char *) (uintptr_t) name;
	t->fd.package        = (char *) (uintptr_t) pkg;
	t->msg.name          = (char *) (uintptr_t) "M";
	t->msgs[0]           = &t->msg;
	t->fd.n_message_type = 1;
	t->fd.message_type   = t->msgs;
	t->svc.name          = (char *) (uintptr_t) "S";
	for (size_t i = 0; i < n; i++) {
		google__protobuf__method_descriptor_proto__init(&t->meth[i]);
		t->meth[i].name        = (char *) (uintptr_t) methods[i];
		t->meth[i].input_type  = (char *) (uintptr_t) type;
		t->meth[i].output_type = (char *) (uintptr_t) type;
		t->meths[i]            = &t->meth[i];
	}
	t->svc.n_method = n;
	t->svc.method   = t->meths;
	t->svcs[0]      = &t->svc;
	t->fd.n_service = 1;
	t->fd.service   = t->svcs;
	t->files[0]     = &t->fd;
	t->gen[0]       = (char *) (uintptr_t) name;
	t->req          = (cg_request)
	    GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_REQUEST__INIT;
	t->req.n_file_to_generate = 1;
	t->req.file_to_generate   = t->gen;
	t->req.n_proto_file       = 1;
	t->req.proto_file         = t->files;
}

// run_ok runs req, which must succeed with n files (the header first).
static cg_response *
run_ok(const cg_request *req, size_t n)
{
	cg_response *resp = run_request(req);

	ck_assert_msg(resp->error == NULL, "%s", resp->error);
	ck_assert_uint_eq(resp->n_file, n);
	return resp;
}

// check_has checks that file i of resp contains text.
static void
check_has(const cg_response *resp, size_t i, const char *text)
{
	ck_assert_msg(strstr(resp->file[i]->content, text) != NULL,
	    "%s does not contain \"%s\"", resp->file[i]->name, text);
}

START_TEST(test_codegen_plugin_ok)
{
	static const char *const m[] = {"Get"};
	tfile                    t;
	cg_response             *resp;

	tfile_init(&t, "dir/t.proto", "p", m, 1, ".p.M");
	resp = run_ok(&t.req, 2);
	ck_assert_str_eq(resp->file[0]->name, "dir/t.drpc.h");
	ck_assert_str_eq(resp->file[1]->name, "dir/t.drpc.c");
	check_has(resp, 0, "#include \"dir/t.pb-c.h\"");
	check_has(resp, 0, "#define P__S__GET__METHOD \"/p.S/Get\"");
	check_has(resp, 1, "#include \"dir/t.drpc.h\"");
	resp_free(resp);
}
END_TEST

START_TEST(test_codegen_plugin_errors)
{
	static const char *const one[]      = {"Get"};
	static const char *const clash[]    = {"Foo", "foo"};
	static const char *const suffix[]   = {"Foo", "Foo_Open"};
	static const char *const bad[]      = {"a-b"};
	static const char *const protoc_c[] = {"Init"};
	tfile                    t;

	tfile_init(&t, "t.proto", "p", one, 1, ".p.Nope");
	check_error(&t.req, "unknown message type \".p.Nope\"");
	tfile_init(&t, "t.proto", "p", one, 1, "p.M");
	check_error(&t.req, "unknown message type");
	tfile_init(&t, "t.proto", "p", clash, 2, ".p.M");
	check_error(&t.req, "declared twice");
	tfile_init(&t, "t.proto", "p", suffix, 2, ".p.M");
	t.meth[0].has_server_streaming = true;
	t.meth[0].server_streaming     = true; // p__s__foo__open, twice
	check_error(&t.req, "p__s__foo__open would be declared twice");
	tfile_init(&t, "t.proto", "p", protoc_c, 1, ".p.M");
	check_error(&t.req, "p__s__init would be declared twice");
	tfile_init(&t, "t.proto", "p", bad, 1, ".p.M");
	check_error(&t.req, "method without a valid name");
	tfile_init(&t, "t.proto", "p..q", one, 1, ".p.M");
	check_error(&t.req, "is not a dotted name");
	tfile_init(&t, "t.proto", "p", one, 1, ".p.M");
	t.req.parameter = (char *) (uintptr_t) "x=y";
	check_error(&t.req, "takes no options");
	tfile_init(&t, "t.proto", "p", one, 1, ".p.M");
	t.gen[0] = (char *) (uintptr_t) "other.proto";
	check_error(&t.req, "not in the request");
	tfile_init(&t, "t.proto", "p", one, 1, ".p.M");
	t.fd.name = NULL;
	check_error(&t.req, "without a name");
	tfile_init(&t, "a\"b.proto", "p", one, 1, ".p.M");
	check_error(&t.req, "cannot be #included");
}
END_TEST

// The statics of a generated .drpc.c (a service's __drpc_call,
// __drpc_methods, __drpc_service, __drpc_serve) and its __register are
// names protoc-c's function for a method can have too: each such method
// is an error, not a file that does not compile; a name the generator no
// longer writes (__drpc_release) is free.
START_TEST(test_codegen_plugin_static_names)
{
	static const char *const taken[][2] = {
	    {"DrpcCall", "p__s__drpc_call"},
	    {"DrpcMethods", "p__s__drpc_methods"},
	    {"DrpcService", "p__s__drpc_service"},
	    {"DrpcServe", "p__s__drpc_serve"},
	    {"Register", "p__s__register"},
	};
	static const char *const free_name[] = {"DrpcRelease"};
	char                     want[128];
	tfile                    t;

	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		tfile_init(&t, "t.proto", "p", &taken[i][0], 1, ".p.M");
		snprintf(want, sizeof(want), "%s would be declared twice",
		    taken[i][1]);
		check_error(&t.req, want);
	}
	tfile_init(&t, "t.proto", "p", free_name, 1, ".p.M");
	resp_free(run_ok(&t.req, 2));
}
END_TEST

// timport_add gives t a second file, name (package q, message M), that
// t.proto imports; t's methods take and return q.M.
static void
timport_add(tfile *t, Google__Protobuf__FileDescriptorProto *fd,
    Google__Protobuf__DescriptorProto *msg,
    Google__Protobuf__DescriptorProto **msgs, char **deps, const char *name)
{
	google__protobuf__file_descriptor_proto__init(fd);
	google__protobuf__descriptor_proto__init(msg);
	fd->name           = (char *) (uintptr_t) name;
	fd->package        = (char *) (uintptr_t) "q";
	msg->name          = (char *) (uintptr_t) "M";
	msgs[0]            = msg;
	fd->n_message_type = 1;
	fd->message_type   = msgs;
	deps[0]            = (char *) (uintptr_t) name;
	t->fd.n_dependency = 1;
	t->fd.dependency   = deps;
	// protoc lists imports before the files that import them.
	t->files[1]          = t->files[0];
	t->files[0]          = fd;
	t->req.n_proto_file  = 2;
	t->meth[0].input_type  = (char *) (uintptr_t) ".q.M";
	t->meth[0].output_type = (char *) (uintptr_t) ".q.M";
}

// An imported file whose name cannot go into #include "..." (a quote, a
// backslash, a control character): the plugin's error names it, and
// writes no file; a plain one is #included.
START_TEST(test_codegen_plugin_import_names)
{
	static const char *const one[] = {"Get"};
	static const struct {
		const char *name;
		const char *want;
	} bad[] = {
	    {"q\"x.proto", "\"q\\\"x.proto\""},
	    {"q\\x.proto", "\"q\\\\x.proto\""},
	    {"q\nx.proto", "\"q\\012x.proto\""},
	};
	Google__Protobuf__FileDescriptorProto fd;
	Google__Protobuf__DescriptorProto     msg;
	Google__Protobuf__DescriptorProto    *msgs[1];
	char                                 *deps[1];
	tfile                                 t;
	cg_response                          *resp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tfile_init(&t, "t.proto", "p", one, 1, ".p.M");
		timport_add(&t, &fd, &msg, msgs, deps, bad[i].name);
		check_error(&t.req, "t.proto: q.M (the input of p.S.Get) is in");
		check_error(&t.req, bad[i].want);
		check_error(&t.req, "cannot be #included");
	}
	tfile_init(&t, "t.proto", "p", one, 1, ".p.M");
	timport_add(&t, &fd, &msg, msgs, deps, "dir/q.proto");
	resp = run_ok(&t.req, 2);
	check_has(resp, 0, "#include \"dir/q.pb-c.h\"");
	resp_free(resp);
}
END_TEST

// (pb_c_file) options: no_generate on the file that defines a message is
// an error; c_package renames; a malformed option is reported.
START_TEST(test_codegen_plugin_options)
{
	static const char *const      one[] = {"Get"};
	tfile                         t;
	Google__Protobuf__FileOptions opts =
	    GOOGLE__PROTOBUF__FILE_OPTIONS__INIT;
	ProtobufCMessageUnknownField u = {
	    .tag       = 1019,
	    .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
	};
	uint8_t no_gen[] = {0x02, 0x08, 0x01}; // no_generate = true
	uint8_t cpkg[] = {0x05, 0x32, 0x03, 'x', '.', 'y'}; // c_package = "x.y"
	uint8_t badpkg[] = {0x05, 0x32, 0x03, 'x', '-', 'y'};
	uint8_t broken[] = {0x02, 0x32, 0x09};
	cg_response *resp;

	opts.base.n_unknown_fields = 1;
	opts.base.unknown_fields   = &u;
	tfile_init(&t, "t.proto", "p", one, 1, ".p.M");
	t.fd.options = &opts;

	u.data = no_gen;
	u.len  = sizeof(no_gen);
	check_error(&t.req, "for which protoc-c generates no code");

	u.data = cpkg;
	u.len  = sizeof(cpkg);
	resp   = run_ok(&t.req, 2);
	check_has(resp, 0, "#define X__Y__S__GET__METHOD \"/p.S/Get\"");
	check_has(resp, 0, "X__Y__M **reply");
	resp_free(resp);

	u.data = badpkg;
	u.len  = sizeof(badpkg);
	check_error(&t.req, "is not a dotted name");
	u.data = broken;
	u.len  = sizeof(broken);
	check_error(&t.req, "malformed (pb_c_file) option");
}
END_TEST

// A service without methods produces nothing; comments from the .proto
// are made safe for // comments.
START_TEST(test_codegen_plugin_quirks)
{
	static const char *const         one[] = {"Get"};
	tfile                            t;
	cg_response                     *resp;
	Google__Protobuf__SourceCodeInfo sci =
	    GOOGLE__PROTOBUF__SOURCE_CODE_INFO__INIT;
	Google__Protobuf__SourceCodeInfo__Location loc =
	    GOOGLE__PROTOBUF__SOURCE_CODE_INFO__LOCATION__INIT;
	Google__Protobuf__SourceCodeInfo__Location *locs[] = {&loc};
	int32_t                                     path[] = {6, 0, 2, 0};

	tfile_init(&t, "t.proto", "p", one, 0, ".p.M");
	resp_free(run_ok(&t.req, 0));

	tfile_init(&t, "t.proto", "p", one, 1, ".p.M");
	loc.n_path = 4;
	loc.path   = path;
	loc.leading_comments =
	    (char *) (uintptr_t) " ends in a backslash \\\n"
	                         " a trigraph ?\?/\n tab\there\n";
	sci.n_location        = 1;
	sci.location          = locs;
	t.fd.source_code_info = &sci;
	resp                  = run_ok(&t.req, 2);
	check_has(resp, 0, "// ends in a backslash\n");
	check_has(resp, 0, "? ?/");
	ck_assert_ptr_null(strstr(resp->file[0]->content, "?\?/"));
	ck_assert_ptr_null(strstr(resp->file[0]->content, "\\\n"));
	check_has(resp, 0, "// tab here\n");
	resp_free(resp);
}
END_TEST

static TU_ROWS(codegen_tests,
    TU_TEST("golden", test_codegen_golden_protoc, .timeout = 30),
    TU_TEST("golden", test_codegen_golden_in_process),
    TU_TEST("calls", test_codegen_unary, .timeout = 30),
    TU_TEST("calls", test_codegen_metadata),
    TU_TEST("calls", test_codegen_server_stream),
    TU_TEST("calls", test_codegen_client_stream),
    TU_TEST("calls", test_codegen_bidi),
    TU_TEST("calls", test_codegen_unimplemented),
    TU_TEST("calls", test_codegen_handler_error),
    TU_TEST("calls", test_codegen_cancel),
    TU_TEST("calls", test_codegen_timeout),
    TU_TEST("calls", test_codegen_failed_open_null),
    TU_TEST("calls", test_codegen_bad_args),
    TU_TEST("edges", test_codegen_edge_names, .timeout = 30),
    TU_TEST("edges", test_codegen_edge_escaped),
    TU_TEST("edges", test_codegen_edge_streams),
    TU_TEST("edges", test_codegen_edge_packages),
    TU_TEST("plugin", test_codegen_plugin_garbage, .timeout = 120),
    TU_TEST("plugin", test_codegen_plugin_truncated),
    TU_TEST("plugin", test_codegen_plugin_mutated),
    TU_TEST("plugin", test_codegen_plugin_deep),
    TU_TEST("plugin", test_codegen_plugin_ok),
    TU_TEST("plugin", test_codegen_plugin_errors),
    TU_TEST("plugin", test_codegen_plugin_static_names),
    TU_TEST("plugin", test_codegen_plugin_import_names),
    TU_TEST("plugin", test_codegen_plugin_options),
    TU_TEST("plugin", test_codegen_plugin_quirks))
#ifdef DRPC_HAVE_INTEROP_GEN
static TU_ROWS(codegen_interop_tests,
    TU_TEST("edges", test_codegen_interop_client),
    TU_TEST("edges", test_codegen_interop_client_bidi_fail),
    TU_TEST("edges", test_codegen_interop_server))
#endif

Suite *
codegen_suite(void)
{
	tu_rows_fn *const parts[] = {codegen_tests,
#ifdef DRPC_HAVE_INTEROP_GEN
	    codegen_interop_tests,
#endif
	    codegen_bytes_tests};

	return tu_suite_parts("codegen", parts, TU_LEN(parts));
}
