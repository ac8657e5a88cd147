// Server bindings: per service the server struct (header), and in the
// source its typed __drpc_call (the only place a handler is called, so its
// arguments keep their types), its method table and service descriptor,
// serve (the drpc_handler_fn) and register. The work of serving is
// drpc_stub_serve's (drpc/stub.h, lib/pb/stub.c), driven by the table.
#include <string.h>

#include "cg.h"

// SERVER_DOC is the server struct's comment (%s: the struct, the service,
// and STREAM_DOC or "").
#define SERVER_DOC                                                             \
	"%s implements %s: one handler per method, NULL for one it does not "  \
	"implement (the method then answers DRPC_EUNIMPL). A handler runs on " \
	"a server handler thread with the call's stream s (borrowed) and "     \
	"returns as a drpc_handler_fn does: DRPC_OK ends the call normally, "  \
	"any other code sends the client an Error (drpc/server.h). req "       \
	"belongs to the stub and lives until the handler returns. reply is "   \
	"initialised by the stub and filled in by the handler; its fields "    \
	"may point into req or into memory the handler owns. The stub sends "  \
	"it if the handler returns DRPC_OK, then gives it to free_reply.%s"
#define STREAM_DOC                                                         \
	" Streaming handlers receive and send with the __server_recv and " \
	"__server_send functions below."

static const char *
handler_params(cg_arena *a, const cg_method *m, const char **p)
{
	size_t n = 0;

	p[n++] = "void *user";
	p[n++] = "drpc_stream *s";
	if (m->kind == CG_UNARY || m->kind == CG_SERVER_STREAM) {
		p[n++] = cg_sprintf(a, "const %s *req", m->in->c_type);
	}
	if (m->kind == CG_UNARY || m->kind == CG_CLIENT_STREAM) {
		p[n++] = cg_sprintf(a, "%s *reply", m->out->c_type);
	}
	p[n] = NULL;
	return cg_sprintf(a, "drpc_err (*%s)", m->field);
}

static size_t
count(const char *const *p)
{
	size_t n = 0;

	while (p[n] != NULL) {
		n++;
	}
	return n;
}

static void
emit_struct(cg_buf *b, cg_arena *a, const cg_service *s)
{
	const char *release[] = {"void *user", "ProtobufCMessage *reply"};
	bool        streams   = false;

	for (size_t i = 0; i < s->n_methods; i++) {
		streams |= s->methods[i].kind != CG_UNARY;
	}
	cg_lay_comment(b, 0,
	    cg_sprintf(
	        a, SERVER_DOC, s->server, s->full, streams ? STREAM_DOC : ""));
	cg_buf_printf(b, "typedef struct %s {\n", s->server);
	for (size_t i = 0; i < s->n_methods; i++) {
		const cg_method *m = &s->methods[i];
		const char      *p[5];
		const char      *head = handler_params(a, m, p);

		cg_lay_comment(b, 1,
		    m->comment != NULL
		        ? cg_sprintf(a, "%s\n%s", cg_rpc_line(a, m), m->comment)
		        : cg_rpc_line(a, m));
		cg_lay_decl(b, 1, head, p, count(p), ";");
	}
	cg_lay_comment(b, 1,
	    "free_reply, if set, is called with every reply the stub built, "
	    "once it is done with it (sent, or not: the handler failed), so "
	    "that the handler can release what it allocated.");
	cg_lay_decl(b, 1, "void (*free_reply)", release, 2, ";");
	cg_lay_comment(b, 1, "user is passed to every handler and free_reply.");
	cg_buf_puts(b, "\tvoid *user;\n");
	cg_buf_printf(b, "} %s;\n\n", s->server);
}

// emit_helpers declares the typed send and receive of streaming handlers.
static void
emit_helpers(cg_buf *b, cg_arena *a, const cg_service *s)
{
	for (size_t i = 0; i < s->n_methods; i++) {
		const cg_method *m      = &s->methods[i];
		const char      *send[] = {"drpc_stream *s",
		         cg_sprintf(a, "const %s *m", m->out->c_type)};
		const char      *recv[] = {
		         "drpc_stream *s", cg_sprintf(a, "%s **m", m->in->c_type)};
		const char *name;

		if (m->kind == CG_SERVER_STREAM || m->kind == CG_BIDI) {
			name = cg_sprintf(a, "%s__server_send", m->lower);
			cg_lay_comment(b, 0,
			    cg_sprintf(a,
			        "%s sends one reply of %s from its handler (m "
			        "is borrowed). Errors: those of "
			        "drpc_stream_send_msg.",
			        name, m->name));
			cg_lay_proto(b, "drpc_err", name, send, 2);
		}
		if (m->kind == CG_CLIENT_STREAM || m->kind == CG_BIDI) {
			name = cg_sprintf(a, "%s__server_recv", m->lower);
			cg_lay_comment(b, 0,
			    cg_sprintf(a,
			        "%s receives the next request of %s in its "
			        "handler: *m is the handler's to free. "
			        "DRPC_EOF "
			        "once the client has finished sending; other "
			        "errors: those of drpc_stream_recv_msg.",
			        name, m->name));
			cg_lay_proto(b, "drpc_err", name, recv, 2);
		}
	}
}

void
cg_emit_server_decls(cg_buf *b, cg_arena *a, const cg_service *s)
{
	const char *name     = cg_sprintf(a, "%s__register", s->lower);
	const char *params[] = {
	    "drpc_mux *mux", cg_sprintf(a, "const %s *impl", s->server)};
	size_t mark = b->len;

	emit_struct(b, a, s);
	emit_helpers(b, a, s);
	if (b->len > mark && b->data[b->len - 2] != '\n') {
		cg_buf_putc(b, '\n'); // a blank line after the helpers
	}
	cg_lay_comment(b, 0,
	    cg_sprintf(a,
	        "%s registers every method of %s in mux. impl is borrowed: it "
	        "must not change, and must outlive every server using mux. "
	        "Errors: DRPC_EINVAL (impl NULL), those of drpc_mux_register "
	        "(DRPC_EEXIST: a method is registered already); after an error "
	        "some methods may be registered.",
	        name, s->full));
	cg_lay_proto(b, "drpc_err", name, params, 2);
	cg_buf_putc(b, '\n');
}

// Definitions.

// def_call writes the service's drpc_stub_call_fn: a switch on the row
// calling that method's handler with typed arguments.
static void
def_call(cg_buf *b, cg_arena *a, const cg_service *s)
{
	const char *params[] = {"const void *impl", "size_t i",
	    "drpc_stream *s", "const ProtobufCMessage *req",
	    "ProtobufCMessage *reply"};
	bool        req      = false;
	bool        reply    = false;

	for (size_t i = 0; i < s->n_methods; i++) {
		cg_kind k = s->methods[i].kind;

		req |= k == CG_UNARY || k == CG_SERVER_STREAM;
		reply |= k == CG_UNARY || k == CG_CLIENT_STREAM;
	}
	cg_buf_puts(b, "static drpc_err\n");
	cg_lay_decl(
	    b, 0, cg_sprintf(a, "%s__drpc_call", s->lower), params, 5, "");
	cg_buf_printf(b, "{\n\tconst %s *srv = impl;\n\n", s->server);
	if (!req) {
		cg_buf_puts(b, "\t(void) req;\n");
	}
	if (!reply) {
		cg_buf_puts(b, "\t(void) reply;\n");
	}
	cg_buf_puts(b, "\tswitch (i) {\n");
	for (size_t i = 0; i < s->n_methods; i++) {
		const cg_method *m       = &s->methods[i];
		const char      *args[4] = {"srv->user", "s"};
		size_t           n       = 2;

		if (m->kind == CG_UNARY || m->kind == CG_SERVER_STREAM) {
			args[n++] =
			    cg_sprintf(a, "(const %s *) req", m->in->c_type);
		}
		if (m->kind == CG_UNARY || m->kind == CG_CLIENT_STREAM) {
			args[n++] =
			    cg_sprintf(a, "(%s *) reply", m->out->c_type);
		}
		cg_buf_printf(b, "\tcase %zu:\n", i);
		cg_lay_call(b, 2, cg_sprintf(a, "return srv->%s", m->field),
		    args, n, ";");
	}
	cg_buf_puts(b,
	    "\t}\n\treturn DRPC_EINTERNAL; // a row it does not have\n}\n\n");
}

// def_tables writes the method table, one row per method, and the
// service descriptor.
static void
def_tables(cg_buf *b, cg_arena *a, const cg_service *s)
{
	static const char *const fields[] = {
	    "methods", "n_methods", "call", "free_reply", "user"};
	const char *values[] = {cg_sprintf(a, "%s__drpc_methods", s->lower),
	    cg_sprintf(a, "%zu", s->n_methods),
	    cg_sprintf(a, "%s__drpc_call", s->lower),
	    cg_sprintf(a, "offsetof(%s, free_reply)", s->server),
	    cg_sprintf(a, "offsetof(%s, user)", s->server)};
	size_t      sp       = cg_lay_array(b, "drpc_stub_method",
	               cg_sprintf(a, "%s__drpc_methods[]", s->lower));

	for (size_t i = 0; i < s->n_methods; i++) {
		const cg_method *m        = &s->methods[i];
		const char      *items[4] = {m->macro,
		         cg_sprintf(a, "&%s", m->in->c_desc),
		         cg_sprintf(a, "&%s", m->out->c_desc),
		         cg_emit_kind(m->kind)};

		cg_lay_row(b, sp, items, 4);
	}
	cg_buf_puts(b, "};\n\n");
	sp = cg_lay_array(b, "drpc_stub_service",
	    cg_sprintf(a, "%s__drpc_service", s->lower));
	cg_lay_fields(b, sp, fields, values, 5);
	cg_buf_puts(b, "};\n\n");
}

static void
def_register(cg_buf *b, cg_arena *a, const cg_service *s)
{
	const char *svc       = cg_sprintf(a, "&%s__drpc_service", s->lower);
	const char *serve     = cg_sprintf(a, "%s__drpc_serve", s->lower);
	const char *sparams[] = {"drpc_stream *s", "void *impl"};
	const char *sargs[]   = {"s", "impl", svc};
	const char *params[]  = {
	     "drpc_mux *mux", cg_sprintf(a, "const %s *impl", s->server)};
	const char *args[] = {"mux", svc, "impl", "has", serve};

	cg_emit_def(b, "static drpc_err", serve, sparams, 2,
	    "return drpc_stub_serve", sargs, 3);
	cg_buf_puts(b, "drpc_err\n");
	cg_lay_decl(
	    b, 0, cg_sprintf(a, "%s__register", s->lower), params, 2, "");
	cg_buf_puts(b,
	    "{\n\tif (impl == NULL) {\n\t\treturn DRPC_EINVAL;\n\t}\n\n"
	    "\tconst bool has[] = {\n");
	for (size_t i = 0; i < s->n_methods; i++) {
		cg_buf_printf(
		    b, "\t    impl->%s != NULL,\n", s->methods[i].field);
	}
	cg_buf_puts(b, "\t};\n\n");
	cg_lay_call(b, 1, "return drpc_stub_register", args, 5, ";");
	cg_buf_puts(b, "}\n\n");
}

// def_helpers defines the typed send and receive of streaming handlers.
static void
def_helpers(cg_buf *b, cg_arena *a, const cg_method *m)
{
	const char *send[] = {
	    "drpc_stream *s", cg_sprintf(a, "const %s *m", m->out->c_type)};
	const char *recv[] = {
	    "drpc_stream *s", cg_sprintf(a, "%s **m", m->in->c_type)};
	const char *sargs[] = {"s", "(const ProtobufCMessage *) m"};
	const char *rargs[] = {"s", cg_sprintf(a, "&%s", m->in->c_desc), "m"};

	if (m->kind == CG_SERVER_STREAM || m->kind == CG_BIDI) {
		cg_emit_def(b, "drpc_err",
		    cg_sprintf(a, "%s__server_send", m->lower), send, 2,
		    "return drpc_stream_send_msg", sargs, 2);
	}
	if (m->kind == CG_CLIENT_STREAM || m->kind == CG_BIDI) {
		cg_emit_def(b, "drpc_err",
		    cg_sprintf(a, "%s__server_recv", m->lower), recv, 2,
		    "return drpc_stub_recv", rargs, 3);
	}
}

void
cg_emit_server_defs(cg_buf *b, cg_arena *a, const cg_service *s)
{
	cg_lay_comment(b, 0, cg_sprintf(a, "%s: server", s->full));
	cg_buf_putc(b, '\n');
	def_call(b, a, s);
	def_tables(b, a, s);
	def_register(b, a, s);
	for (size_t i = 0; i < s->n_methods; i++) {
		def_helpers(b, a, &s->methods[i]);
	}
}
