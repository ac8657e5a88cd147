// Client stubs: per method a typed call (unary) or a typed handle around a
// drpc_stream (the streaming kinds), declared in the header and defined
// in the source. Each stub converts between its message types and
// ProtobufCMessage and calls libdrpc's protobuf-c functions (drpc/pb.h);
// stub_open (source.c) is the only shared helper.
#include <string.h>

#include "cg.h"

// fn is the name of one of m's functions.
static const char *
fn(cg_arena *a, const cg_method *m, const char *suffix)
{
	return cg_sprintf(a, "%s__%s", m->lower, suffix);
}

// decl writes a prototype "ret name(params);" under its comment.
static void
decl(cg_buf *b, cg_arena *a, const char *ret, const char *name,
    const char *const *params, size_t n, const char *comment)
{
	cg_lay_comment(b, 0, cg_sprintf(a, "%s %s", name, comment));
	cg_lay_proto(b, ret, name, params, n);
}

// typedef_struct writes "typedef struct name name;", broken where
// clang-format breaks it.
static void
typedef_struct(cg_buf *b, const char *name)
{
	if (strlen("typedef struct  ;") + 2 * strlen(name) <= 80) {
		cg_buf_printf(b, "typedef struct %s %s;\n", name, name);
	} else if (strlen("typedef struct ") + strlen(name) <= 80) {
		cg_buf_printf(b, "typedef struct %s\n    %s;\n", name, name);
	} else {
		cg_buf_printf(
		    b, "typedef struct\n    %s\n        %s;\n", name, name);
	}
}

static void
decl_invoke(cg_buf *b, cg_arena *a, const cg_method *m)
{
	const char *params[] = {"drpc_conn *c", "drpc_ctx *ctx",
	    cg_sprintf(a, "const %s *req", m->in->c_type),
	    cg_sprintf(a, "%s **reply", m->out->c_type),
	    "const drpc_call_opts *opts", "drpc_status *st"};

	decl(b, a, "drpc_err", fn(a, m, "invoke"), params, 6,
	    "makes the call: it sends req and waits for the reply, *reply on "
	    "DRPC_OK. opts and st may be NULL. Errors: those of "
	    "drpc_invoke_msg (drpc/pb.h).");
}

static void
decl_open(cg_buf *b, cg_arena *a, const cg_method *m)
{
	const char *hp  = cg_sprintf(a, "%s **hp", m->client);
	const char *req = cg_sprintf(a, "const %s *req", m->in->c_type);

	if (m->kind == CG_SERVER_STREAM) {
		const char *params[] = {hp, "drpc_conn *c", "drpc_ctx *ctx",
		    req, "const drpc_call_opts *opts"};

		decl(b, a, "drpc_err", fn(a, m, "open"), params, 5,
		    "starts the call: it sends req and closes the sending "
		    "side; "
		    "on DRPC_OK *hp receives the replies (destroy it when "
		    "done). opts may be NULL. Errors: those of "
		    "drpc_stream_open "
		    "and drpc_stream_send_msg (if the server ends the call at "
		    "once, the first recv says why).");
	} else {
		const char *params[] = {hp, "drpc_conn *c", "drpc_ctx *ctx",
		    "const drpc_call_opts *opts"};

		decl(b, a, "drpc_err", fn(a, m, "open"), params, 4,
		    m->kind == CG_BIDI
		        ? "starts the call; on DRPC_OK *hp sends the requests "
		          "and "
		          "receives the replies (destroy it when done). opts "
		          "may "
		          "be NULL. Errors: those of drpc_stream_open."
		        : "starts the call; on DRPC_OK *hp sends the requests "
		          "(destroy it when done). opts may be NULL. Errors: "
		          "those of drpc_stream_open.");
	}
}

static void
decl_handle_fns(cg_buf *b, cg_arena *a, const cg_method *m)
{
	const char *h       = cg_sprintf(a, "%s *h", m->client);
	const char *send[]  = {h, cg_sprintf(a, "const %s *m", m->in->c_type)};
	const char *recv[]  = {h, cg_sprintf(a, "%s **m", m->out->c_type)};
	const char *reply[] = {h, cg_sprintf(a, "%s **reply", m->out->c_type)};
	const char *cstream = cg_sprintf(a, "const %s *h", m->client);

	if (m->kind == CG_CLIENT_STREAM || m->kind == CG_BIDI) {
		decl(b, a, "drpc_err", fn(a, m, "send"), send, 2,
		    "sends one request (m is borrowed). Errors: those of "
		    "drpc_stream_send_msg; DRPC_EOF if the server has ended "
		    "the "
		    "call (receiving says why).");
	}
	if (m->kind == CG_SERVER_STREAM || m->kind == CG_BIDI) {
		decl(b, a, "drpc_err", fn(a, m, "recv"), recv, 2,
		    "receives the next reply into *m; DRPC_EOF once the server "
		    "has finished. Errors: those of drpc_stream_recv_msg.");
	}
	if (m->kind == CG_BIDI) {
		decl(b, a, "drpc_err", fn(a, m, "close_send"), &h, 1,
		    "tells the server that no more requests follow.");
	}
	if (m->kind == CG_CLIENT_STREAM) {
		decl(b, a, "drpc_err", fn(a, m, "close_and_recv"), reply, 2,
		    "tells the server that no more requests follow and "
		    "receives "
		    "the reply into *reply. Errors: those of "
		    "drpc_stream_recv_msg; DRPC_EOF if the server finished "
		    "without a reply.");
	}
	decl(b, a, "void", fn(a, m, "destroy"), &h, 1,
	    "frees h, cancelling the call if it is still running. NULL is a "
	    "no-op.");
	decl(b, a, "drpc_stream *", fn(a, m, "stream"), &cstream, 1,
	    "is h's stream, for drpc_stream_cancel and drpc_stream_status; it "
	    "lives until h is destroyed.");
}

void
cg_emit_client_decls(cg_buf *b, cg_arena *a, const cg_service *s)
{
	for (size_t i = 0; i < s->n_methods; i++) {
		const cg_method *m = &s->methods[i];

		cg_lay_comment(b, 0,
		    m->comment != NULL
		        ? cg_sprintf(a, "%s\n%s", cg_rpc_line(a, m), m->comment)
		        : cg_rpc_line(a, m));
		cg_lay_comment(b, 0, "");
		if (m->kind == CG_UNARY) {
			decl_invoke(b, a, m);
			cg_buf_putc(b, '\n');
			continue;
		}
		cg_lay_comment(b, 0,
		    cg_sprintf(a,
		        "%s is a call of %s in progress, used through the "
		        "functions below.",
		        m->client, m->name));
		typedef_struct(b, m->client);
		cg_buf_putc(b, '\n');
		decl_open(b, a, m);
		decl_handle_fns(b, a, m);
		cg_buf_putc(b, '\n');
	}
}

// Definitions.

// def_head writes a definition's "ret\nname(params)\n{\n".
static void
def_head(cg_buf *b, const char *ret, const char *name,
    const char *const *params, size_t n)
{
	cg_buf_printf(b, "%s\n", ret);
	cg_lay_decl(b, 0, name, params, n, "");
	cg_buf_puts(b, "{\n");
}

// null_check writes the guard of a handle function.
static void
null_check(cg_buf *b, const char *cond)
{
	cg_buf_printf(b, "\tif (%s) {\n\t\treturn DRPC_EINVAL;\n\t}\n", cond);
}

// out_guard writes the guard of an out-parameter: EINVAL if it is NULL,
// else it starts NULL, so that every failure below leaves it NULL (a
// caller may destroy or free it whatever happened). The blank line after
// keeps clang-format from aligning the next assignment with this one.
static void
out_guard(cg_buf *b, const char *out)
{
	cg_buf_printf(
	    b, "\tif (%s == NULL) {\n\t\treturn DRPC_EINVAL;\n\t}\n", out);
	cg_buf_printf(b, "\t*%s = NULL;\n\n", out);
}

// recv_into writes the lines that receive a message of type t from stream
// expression s into *out.
static void
recv_into(
    cg_buf *b, cg_arena *a, const char *s, const cg_message *t, const char *out)
{
	const char *args[] = {s, cg_sprintf(a, "&%s", t->c_desc), "&msg"};

	cg_lay_call(b, 1, "rv = drpc_stream_recv_msg", args, 3, ";");
	cg_buf_printf(b,
	    "\tif (rv == DRPC_OK) {\n\t\t*%s = (%s *) msg;\n\t}\n"
	    "\treturn rv;\n}\n\n",
	    out, t->c_type);
}

static void
def_invoke(cg_buf *b, cg_arena *a, const cg_method *m)
{
	const char *params[] = {"drpc_conn *c", "drpc_ctx *ctx",
	    cg_sprintf(a, "const %s *req", m->in->c_type),
	    cg_sprintf(a, "%s **reply", m->out->c_type),
	    "const drpc_call_opts *opts", "drpc_status *st"};
	const char *args[]   = {"c", "ctx", m->macro,
	      "(const ProtobufCMessage *) req",
	      cg_sprintf(a, "&%s", m->out->c_desc), "&msg", "opts", "st"};
	const char *types[]  = {"ProtobufCMessage", "drpc_err"};
	const char *names[]  = {"*msg", "rv"};

	def_head(b, "drpc_err", fn(a, m, "invoke"), params, 6);
	cg_lay_locals(b, 1, types, names, 2);
	cg_buf_putc(b, '\n');
	out_guard(b, "reply");
	cg_lay_call(b, 1, "rv = drpc_invoke_msg", args, 8, ";");
	cg_buf_printf(b,
	    "\tif (rv == DRPC_OK) {\n\t\t*reply = (%s *) msg;\n\t}\n"
	    "\treturn rv;\n}\n\n",
	    m->out->c_type);
}

static void
def_open(cg_buf *b, cg_arena *a, const cg_method *m)
{
	bool        req      = m->kind == CG_SERVER_STREAM;
	const char *params[] = {cg_sprintf(a, "%s **hp", m->client),
	    "drpc_conn *c", "drpc_ctx *ctx",
	    req ? cg_sprintf(a, "const %s *req", m->in->c_type)
	        : "const drpc_call_opts *opts",
	    "const drpc_call_opts *opts"};
	const char *args[]   = {"&s", "c", "ctx", m->macro,
            req ? "(const ProtobufCMessage *) req" : "NULL", "opts"};
	const char *types[]  = {"drpc_stream", "drpc_err"};
	const char *names[]  = {"*s", "rv"};

	def_head(b, "drpc_err", fn(a, m, "open"), params, req ? 5 : 4);
	cg_lay_locals(b, 1, types, names, 2);
	cg_buf_putc(b, '\n');
	out_guard(b, "hp");
	if (req) {
		null_check(b, "req == NULL");
	}
	cg_lay_call(b, 1, "rv = stub_open", args, 6, ";");
	cg_buf_puts(b, "\tif (rv != DRPC_OK) {\n\t\treturn rv;\n\t}\n"
	               "\tif ((*hp = malloc(sizeof(**hp))) == NULL) {\n"
	               "\t\tdrpc_stream_destroy(s);\n"
	               "\t\treturn DRPC_ENOMEM;\n\t}\n"
	               "\t(*hp)->s = s;\n\treturn DRPC_OK;\n}\n\n");
}

static void
def_send(cg_buf *b, cg_arena *a, const cg_method *m, const char *h)
{
	const char *params[] = {h, cg_sprintf(a, "const %s *m", m->in->c_type)};

	def_head(b, "drpc_err", fn(a, m, "send"), params, 2);
	null_check(b, "h == NULL");
	cg_buf_puts(b, "\treturn drpc_stream_send_msg(h->s, (const "
	               "ProtobufCMessage *) m);\n}\n\n");
}

static void
def_recv(cg_buf *b, cg_arena *a, const cg_method *m, const char *h, bool close)
{
	const char *out      = close ? "reply" : "m";
	const char *params[] = {
	    h, cg_sprintf(a, "%s **%s", m->out->c_type, out)};
	const char *types[] = {"ProtobufCMessage", "drpc_err"};
	const char *names[] = {"*msg", "rv"};

	def_head(b, "drpc_err", fn(a, m, close ? "close_and_recv" : "recv"),
	    params, 2);
	cg_lay_locals(b, 1, types, names, 2);
	cg_buf_putc(b, '\n');
	out_guard(b, out);
	null_check(b, "h == NULL");
	if (close) {
		cg_buf_puts(b, "\tif ((rv = drpc_stream_close_send(h->s)) != "
		               "DRPC_OK) {\n\t\treturn rv;\n\t}\n");
	}
	recv_into(b, a, "h->s", m->out, out);
}

static void
def_handle_fns(cg_buf *b, cg_arena *a, const cg_method *m)
{
	const char *h  = cg_sprintf(a, "%s *h", m->client);
	const char *ch = cg_sprintf(a, "const %s *h", m->client);

	if (m->kind == CG_CLIENT_STREAM || m->kind == CG_BIDI) {
		def_send(b, a, m, h);
	}
	if (m->kind == CG_SERVER_STREAM || m->kind == CG_BIDI) {
		def_recv(b, a, m, h, false);
	}
	if (m->kind == CG_BIDI) {
		def_head(b, "drpc_err", fn(a, m, "close_send"), &h, 1);
		null_check(b, "h == NULL");
		cg_buf_puts(b, "\treturn drpc_stream_close_send(h->s);\n}\n\n");
	}
	if (m->kind == CG_CLIENT_STREAM) {
		def_recv(b, a, m, h, true);
	}
	def_head(b, "void", fn(a, m, "destroy"), &h, 1);
	cg_buf_puts(b, "\tif (h != NULL) {\n\t\tdrpc_stream_destroy(h->s);\n"
	               "\t\tfree(h);\n\t}\n}\n\n");
	def_head(b, "drpc_stream *", fn(a, m, "stream"), &ch, 1);
	cg_buf_puts(b, "\treturn h != NULL ? h->s : NULL;\n}\n\n");
}

void
cg_emit_client_defs(cg_buf *b, cg_arena *a, const cg_service *s)
{
	for (size_t i = 0; i < s->n_methods; i++) {
		const cg_method *m = &s->methods[i];

		cg_lay_comment(b, 0, cg_sprintf(a, "%s: client", m->wire));
		cg_buf_putc(b, '\n');
		if (m->kind == CG_UNARY) {
			def_invoke(b, a, m);
			continue;
		}
		cg_buf_printf(
		    b, "struct %s {\n\tdrpc_stream *s;\n};\n\n", m->client);
		def_open(b, a, m);
		def_handle_fns(b, a, m);
	}
}
