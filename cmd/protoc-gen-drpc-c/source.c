// NAME.drpc.c: includes, the runtime (static helpers, the same text in
// every generated file: the tables are data for them), then per service
// its client stubs and server bindings.
//
// Design notes: the runtime would better live in libdrpc (say lib/pb) so
// that generated files hold only tables and typed stubs; until the library
// has it, each file carries its own copy, static so that many generated
// files link together. Only the helpers a file uses are written, as
// -Wunused-function would otherwise reject the file.
#include "cg.h"

static const char runtime_types[] =
    "// The runtime of the stubs below, the same in every file\n"
    "// protoc-gen-drpc-c writes. Each service has a method table; the\n"
    "// stub_ functions serve any method from its row.\n"
    "\n"
    "// stub_kind is the shape of a method: whether the client and the "
    "server\n"
    "// each send one message or a stream of them.\n"
    "typedef enum stub_kind {\n"
    "\tSTUB_UNARY,\n"
    "\tSTUB_SERVER_STREAM,\n"
    "\tSTUB_CLIENT_STREAM,\n"
    "\tSTUB_BIDI,\n"
    "} stub_kind;\n"
    "\n"
    "// stub_call calls the handler of a method in impl, the service's "
    "server\n"
    "// struct, with typed arguments (req and reply are NULL where the "
    "kind\n"
    "// has none); a NULL handler gives DRPC_EUNIMPL.\n"
    "typedef drpc_err (*stub_call)(const void *impl, drpc_stream *s,\n"
    "    const ProtobufCMessage *req, ProtobufCMessage *reply);\n"
    "\n"
    "// stub_method is a row of a method table.\n"
    "typedef struct stub_method {\n"
    "\tconst char                       *name; // on the wire\n"
    "\tconst ProtobufCMessageDescriptor *input;\n"
    "\tconst ProtobufCMessageDescriptor *output;\n"
    "\tstub_kind                         kind;\n"
    "\tstub_call                         call;\n"
    "} stub_method;\n"
    "\n"
    "// stub_release gives a reply the stub built to the server struct's\n"
    "// free_reply.\n"
    "typedef void (*stub_release)(const void *impl, ProtobufCMessage *reply);\n"
    "\n";

static const char runtime_server[] =
    "// stub_takes_request: for these kinds the stub receives the request\n"
    "// and passes it to the handler.\n"
    "static bool\n"
    "stub_takes_request(stub_kind kind)\n"
    "{\n"
    "\tswitch (kind) {\n"
    "\tcase STUB_UNARY:\n"
    "\tcase STUB_SERVER_STREAM:\n"
    "\t\treturn true;\n"
    "\tcase STUB_CLIENT_STREAM:\n"
    "\tcase STUB_BIDI:\n"
    "\t\treturn false;\n"
    "\t}\n"
    "\treturn false;\n"
    "}\n"
    "\n"
    "// stub_gives_reply: for these kinds the handler fills in a reply "
    "that\n"
    "// the stub sends.\n"
    "static bool\n"
    "stub_gives_reply(stub_kind kind)\n"
    "{\n"
    "\tswitch (kind) {\n"
    "\tcase STUB_UNARY:\n"
    "\tcase STUB_CLIENT_STREAM:\n"
    "\t\treturn true;\n"
    "\tcase STUB_SERVER_STREAM:\n"
    "\tcase STUB_BIDI:\n"
    "\t\treturn false;\n"
    "\t}\n"
    "\treturn false;\n"
    "}\n"
    "\n"
    "// stub_find returns the row of table (n rows) for the method s was\n"
    "// invoked as.\n"
    "static const stub_method *\n"
    "stub_find(const stub_method *table, size_t n, const drpc_stream *s)\n"
    "{\n"
    "\tconst char *name = drpc_stream_method(s);\n"
    "\n"
    "\tfor (size_t i = 0; name != NULL && i < n; i++) {\n"
    "\t\tif (strcmp(table[i].name, name) == 0) {\n"
    "\t\t\treturn &table[i];\n"
    "\t\t}\n"
    "\t}\n"
    "\treturn NULL;\n"
    "}\n"
    "\n"
    "// stub_new_reply allocates an empty message of type desc.\n"
    "static drpc_err\n"
    "stub_new_reply(const ProtobufCMessageDescriptor *desc, "
    "ProtobufCMessage **m)\n"
    "{\n"
    "\tif ((*m = malloc(desc->sizeof_message)) == NULL) {\n"
    "\t\treturn DRPC_ENOMEM;\n"
    "\t}\n"
    "\tprotobuf_c_message_init(desc, *m);\n"
    "\treturn DRPC_OK;\n"
    "}\n"
    "\n"
    "// stub_serve serves one call of a method of table (n rows): it\n"
    "// receives the request if the kind has one, runs the handler, sends "
    "the\n"
    "// reply if the kind has one and the handler succeeded, gives the "
    "reply\n"
    "// to release, and frees both.\n"
    "static drpc_err\n"
    "stub_serve(drpc_stream *s, const void *impl, const stub_method "
    "*table, size_t n,\n"
    "    stub_release release)\n"
    "{\n"
    "\tconst stub_method *m     = stub_find(table, n, s);\n"
    "\tProtobufCMessage  *req   = NULL;\n"
    "\tProtobufCMessage  *reply = NULL;\n"
    "\tdrpc_err           rv    = DRPC_OK;\n"
    "\n"
    "\tif (m == NULL) {\n"
    "\t\treturn DRPC_EINTERNAL; // stub_register registered no other\n"
    "\t}\n"
    "\tif (stub_takes_request(m->kind)) {\n"
    "\t\trv = drpc_stream_recv_msg(s, m->input, &req);\n"
    "\t}\n"
    "\tif (rv == DRPC_OK && stub_gives_reply(m->kind)) {\n"
    "\t\trv = stub_new_reply(m->output, &reply);\n"
    "\t}\n"
    "\tif (rv != DRPC_OK) {\n"
    "\t\tgoto done;\n"
    "\t}\n"
    "\trv = m->call(impl, s, req, reply);\n"
    "\tif (reply != NULL) {\n"
    "\t\tif (rv == DRPC_OK) {\n"
    "\t\t\trv = drpc_stream_send_msg_last(s, reply);\n"
    "\t\t}\n"
    "\t\trelease(impl, reply);\n"
    "\t}\n"
    "done:\n"
    "\tfree(reply);\n"
    "\tif (req != NULL) {\n"
    "\t\tprotobuf_c_message_free_unpacked(req, NULL);\n"
    "\t}\n"
    "\treturn rv;\n"
    "}\n"
    "\n"
    "// stub_unimplemented serves the methods whose handler is NULL.\n"
    "static drpc_err\n"
    "stub_unimplemented(drpc_stream *s, void *impl)\n"
    "{\n"
    "\t(void) s;\n"
    "\t(void) impl;\n"
    "\treturn DRPC_EUNIMPL;\n"
    "}\n"
    "\n"
    "// stub_register registers every method of table (n rows) in mux: "
    "serve\n"
    "// for those with a handler (has[i]), stub_unimplemented for the "
    "others.\n"
    "// impl is every handler's user pointer, which drpc_mux_register "
    "types\n"
    "// as void *; the stubs only read through it.\n"
    "static drpc_err\n"
    "stub_register(drpc_mux *mux, const stub_method *table, size_t n,\n"
    "    const void *impl, const bool *has, drpc_handler_fn serve)\n"
    "{\n"
    "\tfor (size_t i = 0; i < n; i++) {\n"
    "\t\tdrpc_handler_fn fn = has[i] ? serve : stub_unimplemented;\n"
    "\t\tdrpc_err        rv;\n"
    "\n"
    "\t\trv = drpc_mux_register(\n"
    "\t\t    mux, table[i].name, fn, (void *) (uintptr_t) impl);\n"
    "\t\tif (rv != DRPC_OK) {\n"
    "\t\t\treturn rv;\n"
    "\t\t}\n"
    "\t}\n"
    "\treturn DRPC_OK;\n"
    "}\n"
    "\n";

static const char runtime_client[] =
    "// stub_open opens a stream for method; given req (server streaming)\n"
    "// the request goes with the Invoke and the sending side is closed, in\n"
    "// one write (a request over the maximum size fails before anything\n"
    "// is written).\n"
    "static drpc_err\n"
    "stub_open(drpc_stream **sp, drpc_conn *c, drpc_ctx *ctx, const char "
    "*method,\n"
    "    const ProtobufCMessage *req, const drpc_call_opts *opts)\n"
    "{\n"
    "\tif (req != NULL) {\n"
    "\t\treturn drpc_stream_open_request_msg(\n"
    "\t\t    sp, c, ctx, method, req, opts);\n"
    "\t}\n"
    "\treturn drpc_stream_open(sp, c, ctx, method, opts);\n"
    "}\n"
    "\n";

const char *
cg_emit_kind(cg_kind k)
{
	switch (k) {
	case CG_UNARY:
		return "STUB_UNARY";
	case CG_SERVER_STREAM:
		return "STUB_SERVER_STREAM";
	case CG_CLIENT_STREAM:
		return "STUB_CLIENT_STREAM";
	case CG_BIDI:
		return "STUB_BIDI";
	}
	return "STUB_UNARY";
}

void
cg_emit_runtime(cg_buf *b, const cg_unit *u)
{
	cg_buf_puts(b, runtime_types);
	cg_buf_puts(b, runtime_server);
	if (u->client_streams) {
		cg_buf_puts(b, runtime_client);
	}
}

void
cg_emit_source(cg_buf *b, cg_arena *a, const cg_unit *u)
{
	cg_lay_comment(b, 0,
	    cg_sprintf(a,
	        "Code generated by protoc-gen-drpc-c from %s. DO NOT EDIT.",
	        u->file->name));
	cg_lay_comment(b, 0, "");
	cg_lay_comment(b, 0,
	    cg_sprintf(a,
	        "The stubs declared in %s.drpc.h: thin typed functions over "
	        "libdrpc's protobuf-c calls, and const method tables that "
	        "drive the server side.",
	        u->base));
	cg_buf_printf(b,
	    "#include \"%s.drpc.h\"\n\n#include <stdbool.h>\n#include "
	    "<stdint.h>\n#include <stdlib.h>\n#include <string.h>\n\n",
	    u->base);
	cg_emit_runtime(b, u);
	for (size_t i = 0; i < u->n_services; i++) {
		cg_emit_client_defs(b, a, &u->services[i]);
		cg_emit_server_defs(b, a, &u->services[i]);
	}
	cg_emit_reflect_defs(b, a, u);
	while (b->len >= 2 && b->data[b->len - 1] == '\n' &&
	       b->data[b->len - 2] == '\n') {
		b->data[--b->len] = '\0'; // no blank line at the end
	}
}
