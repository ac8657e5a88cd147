// Server bindings: per service the server struct (header), and in the
// source its method table, one typed __call per method (the only place a
// handler is called, so its arguments keep their types), release (which
// calls free_reply), serve (the drpc_handler_fn) and register. The work of
// serving is stub_serve's (source.c), driven by the table.
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

static void
def_call(cg_buf *b, cg_arena *a, const cg_service *s, const cg_method *m)
{
	const char *params[] = {"const void *impl", "drpc_stream *s",
	    "const ProtobufCMessage *req", "ProtobufCMessage *reply"};
	const char *args[4]  = {"srv->user", "s"};
	size_t      n        = 2;

	cg_buf_puts(b, "static drpc_err\n");
	cg_lay_decl(b, 0, cg_sprintf(a, "%s__call", m->lower), params, 4, "");
	cg_buf_printf(b, "{\n\tconst %s *srv = impl;\n\n", s->server);
	if (m->kind == CG_UNARY || m->kind == CG_SERVER_STREAM) {
		args[n++] = cg_sprintf(a, "(const %s *) req", m->in->c_type);
	} else {
		cg_buf_puts(b, "\t(void) req;\n");
	}
	if (m->kind == CG_UNARY || m->kind == CG_CLIENT_STREAM) {
		args[n++] = cg_sprintf(a, "(%s *) reply", m->out->c_type);
	} else {
		cg_buf_puts(b, "\t(void) reply;\n");
	}
	cg_buf_printf(b,
	    "\tif (srv->%s == NULL) {\n\t\treturn DRPC_EUNIMPL;\n\t}\n",
	    m->field);
	cg_lay_call(
	    b, 1, cg_sprintf(a, "return srv->%s", m->field), args, n, ";");
	cg_buf_puts(b, "}\n\n");
}

static void
def_release(cg_buf *b, cg_arena *a, const cg_service *s)
{
	const char *params[] = {"const void *impl", "ProtobufCMessage *reply"};

	cg_buf_puts(b, "static void\n");
	cg_lay_decl(
	    b, 0, cg_sprintf(a, "%s__drpc_release", s->lower), params, 2, "");
	cg_buf_printf(b, "{\n\tconst %s *srv = impl;\n\n", s->server);
	cg_buf_puts(b, "\tif (srv->free_reply != NULL) {\n"
	               "\t\tsrv->free_reply(srv->user, reply);\n\t}\n}\n\n");
}

static void
def_table(cg_buf *b, cg_arena *a, const cg_service *s)
{
	static const char *const fields[] = {
	    "name", "input", "output", "kind", "call"};

	cg_buf_printf(
	    b, "static const stub_method %s__drpc_methods[] = {\n", s->lower);
	for (size_t i = 0; i < s->n_methods; i++) {
		const cg_method *m         = &s->methods[i];
		const char      *values[5] = {m->macro,
		         cg_sprintf(a, "&%s", m->in->c_desc),
		         cg_sprintf(a, "&%s", m->out->c_desc), cg_emit_kind(m->kind),
		         cg_sprintf(a, "%s__call", m->lower)};

		cg_buf_puts(b, "    {\n");
		cg_lay_fields(b, 8, fields, values, 5);
		cg_buf_puts(b, "    },\n");
	}
	cg_buf_puts(b, "};\n\n");
}

static void
def_register(cg_buf *b, cg_arena *a, const cg_service *s)
{
	const char *table     = cg_sprintf(a, "%s__drpc_methods", s->lower);
	const char *n         = cg_sprintf(a, "%zu", s->n_methods);
	const char *serve     = cg_sprintf(a, "%s__drpc_serve", s->lower);
	const char *sparams[] = {"drpc_stream *s", "void *impl"};
	const char *sargs[]   = {
	      "s", "impl", table, n, cg_sprintf(a, "%s__drpc_release", s->lower)};
	const char *params[] = {
	    "drpc_mux *mux", cg_sprintf(a, "const %s *impl", s->server)};
	const char *args[] = {"mux", table, n, "impl", "has", serve};

	cg_buf_puts(b, "static drpc_err\n");
	cg_lay_decl(b, 0, serve, sparams, 2, "");
	cg_buf_puts(b, "{\n");
	cg_lay_call(b, 1, "return stub_serve", sargs, 5, ";");
	cg_buf_puts(b, "}\n\n");
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
	cg_lay_call(b, 1, "return stub_register", args, 6, ";");
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
	const char *rargs[] = {
	    "s", cg_sprintf(a, "&%s", m->in->c_desc), "&msg"};
	const char *types[] = {"ProtobufCMessage", "drpc_err"};
	const char *names[] = {"*msg", "rv"};

	if (m->kind == CG_SERVER_STREAM || m->kind == CG_BIDI) {
		cg_buf_puts(b, "drpc_err\n");
		cg_lay_decl(b, 0, cg_sprintf(a, "%s__server_send", m->lower),
		    send, 2, "");
		cg_buf_puts(b, "{\n\treturn drpc_stream_send_msg(s, (const "
		               "ProtobufCMessage *) m);\n}\n\n");
	}
	if (m->kind == CG_CLIENT_STREAM || m->kind == CG_BIDI) {
		cg_buf_puts(b, "drpc_err\n");
		cg_lay_decl(b, 0, cg_sprintf(a, "%s__server_recv", m->lower),
		    recv, 2, "");
		cg_buf_puts(b, "{\n");
		cg_lay_locals(b, 1, types, names, 2);
		cg_buf_puts(b,
		    "\n\tif (m == NULL) {\n\t\treturn DRPC_EINVAL;\n\t}\n"
		    "\t*m = NULL;\n\n");
		cg_lay_call(b, 1, "rv = drpc_stream_recv_msg", rargs, 3, ";");
		cg_buf_printf(b,
		    "\tif (rv == DRPC_OK) {\n\t\t*m = (%s *) msg;\n\t}\n"
		    "\treturn rv;\n}\n\n",
		    m->in->c_type);
	}
}

void
cg_emit_server_defs(cg_buf *b, cg_arena *a, const cg_service *s)
{
	cg_lay_comment(b, 0, cg_sprintf(a, "%s: server", s->full));
	cg_buf_putc(b, '\n');
	for (size_t i = 0; i < s->n_methods; i++) {
		def_call(b, a, s, &s->methods[i]);
	}
	def_release(b, a, s);
	def_table(b, a, s);
	def_register(b, a, s);
	for (size_t i = 0; i < s->n_methods; i++) {
		def_helpers(b, a, &s->methods[i]);
	}
}
