// Client stubs: per method a typed call (unary) or a typed handle, which
// is the call's drpc_stream under a type of its own (the streaming kinds),
// declared in the header and defined in the source. Each stub is one call
// of libdrpc's stub runtime (drpc/stub.h) or stream API, converting
// between its message types and ProtobufCMessage.
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

// Definitions: each a single call of libdrpc (drpc/stub.h, drpc/stream.h),
// a handle being its call's drpc_stream.

void
cg_emit_def(cg_buf *b, const char *ret, const char *name,
    const char *const *params, size_t n, const char *head,
    const char *const *args, size_t nargs)
{
	cg_buf_printf(b, "%s\n", ret);
	cg_lay_decl(b, 0, name, params, n, "");
	cg_buf_puts(b, "{\n");
	cg_lay_call(b, 1, head, args, nargs, ";");
	cg_buf_puts(b, "}\n\n");
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
	      cg_sprintf(a, "&%s", m->out->c_desc), "reply", "opts", "st"};

	cg_emit_def(b, "drpc_err", fn(a, m, "invoke"), params, 6,
	    "return drpc_stub_invoke", args, 8);
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
	const char *args[]   = {"hp", "c", "ctx", m->macro,
            req ? "(const ProtobufCMessage *) req" : "opts", "opts"};

	cg_emit_def(b, "drpc_err", fn(a, m, "open"), params, req ? 5 : 4,
	    req ? "return drpc_stub_open_request" : "return drpc_stub_open",
	    args, req ? 6 : 5);
}

static void
def_handle_fns(cg_buf *b, cg_arena *a, const cg_method *m)
{
	const char *h       = cg_sprintf(a, "%s *h", m->client);
	const char *ch      = cg_sprintf(a, "const %s *h", m->client);
	const char *send[]  = {h, cg_sprintf(a, "const %s *m", m->in->c_type)};
	const char *recv[]  = {h, cg_sprintf(a, "%s **m", m->out->c_type)};
	const char *reply[] = {h, cg_sprintf(a, "%s **reply", m->out->c_type)};
	const char *sargs[] = {
	    "(drpc_stream *) h", "(const ProtobufCMessage *) m"};
	const char *rargs[] = {
	    "(drpc_stream *) h", cg_sprintf(a, "&%s", m->out->c_desc), "m"};
	const char *cargs[] = {
	    "(drpc_stream *) h", cg_sprintf(a, "&%s", m->out->c_desc), "reply"};
	const char *hargs[] = {"h"};

	if (m->kind == CG_CLIENT_STREAM || m->kind == CG_BIDI) {
		cg_emit_def(b, "drpc_err", fn(a, m, "send"), send, 2,
		    "return drpc_stream_send_msg", sargs, 2);
	}
	if (m->kind == CG_SERVER_STREAM || m->kind == CG_BIDI) {
		cg_emit_def(b, "drpc_err", fn(a, m, "recv"), recv, 2,
		    "return drpc_stub_recv", rargs, 3);
	}
	if (m->kind == CG_BIDI) {
		cg_emit_def(b, "drpc_err", fn(a, m, "close_send"), &h, 1,
		    "return drpc_stream_close_send", sargs, 1);
	}
	if (m->kind == CG_CLIENT_STREAM) {
		cg_emit_def(b, "drpc_err", fn(a, m, "close_and_recv"), reply, 2,
		    "return drpc_stub_close_and_recv", cargs, 3);
	}
	cg_emit_def(b, "void", fn(a, m, "destroy"), &h, 1,
	    "drpc_stream_destroy", sargs, 1);
	cg_emit_def(b, "drpc_stream *", fn(a, m, "stream"), &ch, 1,
	    "return drpc_stub_stream", hargs, 1);
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
		def_open(b, a, m);
		def_handle_fns(b, a, m);
	}
}
