// The runtime of generated stubs (drpc/stub.h): what every .drpc.c would
// otherwise repeat. The client functions add the out-parameter rules of
// the generated API (NULL after any failure) to drpc/pb.h's calls; the
// server functions drive a call of a method from its table row. Nothing
// here keeps state: the tables are the generated files' const data.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/stub.h>

// put_msg and put_stream store a pointer into a generated out-parameter:
// out is a Pkg__Msg ** or a handle **, whose pointee has the
// representation of any pointer to a struct.
static void
put_msg(void *out, ProtobufCMessage *m)
{
	memcpy(out, &m, sizeof(m));
}

static void
put_stream(void *out, drpc_stream *s)
{
	memcpy(out, &s, sizeof(s));
}

drpc_err
drpc_stub_invoke(drpc_conn *c, drpc_ctx *ctx, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
    void *reply, const drpc_call_opts *opts, drpc_status *st)
{
	ProtobufCMessage *msg;
	drpc_err          rv;

	if (reply == NULL) {
		return DRPC_EINVAL;
	}
	put_msg(reply, NULL);
	rv = drpc_invoke_msg(c, ctx, method, req, reply_desc, &msg, opts, st);
	if (rv == DRPC_OK) {
		put_msg(reply, msg);
	}
	return rv;
}

// open_call opens a stream for method, with req (a server-streaming call's
// request) or without (req NULL and !with_req).
static drpc_err
open_call(void *hp, drpc_conn *c, drpc_ctx *ctx, const char *method,
    bool with_req, const ProtobufCMessage *req, const drpc_call_opts *opts)
{
	drpc_stream *s;
	drpc_err     rv;

	if (hp == NULL) {
		return DRPC_EINVAL;
	}
	put_stream(hp, NULL);
	if (with_req) {
		rv =
		    drpc_stream_open_request_msg(&s, c, ctx, method, req, opts);
	} else {
		rv = drpc_stream_open(&s, c, ctx, method, opts);
	}
	if (rv == DRPC_OK) {
		put_stream(hp, s);
	}
	return rv;
}

drpc_err
drpc_stub_open(void *hp, drpc_conn *c, drpc_ctx *ctx, const char *method,
    const drpc_call_opts *opts)
{
	return open_call(hp, c, ctx, method, false, NULL, opts);
}

drpc_err
drpc_stub_open_request(void *hp, drpc_conn *c, drpc_ctx *ctx,
    const char *method, const ProtobufCMessage *req, const drpc_call_opts *opts)
{
	return open_call(hp, c, ctx, method, true, req, opts);
}

// recv_into receives a message of s into *out, closing the sending side first
// if close.
static drpc_err
recv_into(drpc_stream *s, const ProtobufCMessageDescriptor *desc, void *out,
    bool close)
{
	ProtobufCMessage *msg;
	drpc_err          rv;

	if (out == NULL) {
		return DRPC_EINVAL;
	}
	put_msg(out, NULL);
	if (s == NULL) {
		return DRPC_EINVAL;
	}
	if (close && (rv = drpc_stream_close_send(s)) != DRPC_OK) {
		return rv;
	}
	rv = drpc_stream_recv_msg(s, desc, &msg);
	if (rv == DRPC_OK) {
		put_msg(out, msg);
	}
	return rv;
}

drpc_err
drpc_stub_recv(drpc_stream *s, const ProtobufCMessageDescriptor *desc, void *m)
{
	return recv_into(s, desc, m, false);
}

drpc_err
drpc_stub_close_and_recv(
    drpc_stream *s, const ProtobufCMessageDescriptor *desc, void *reply)
{
	return recv_into(s, desc, reply, true);
}

drpc_stream *
drpc_stub_stream(const void *h)
{
	// The handle is the stream (drpc/stub.h); only its type was const.
	return (drpc_stream *) (uintptr_t) h;
}

// Server side.

// find returns the row of svc for the method s was invoked as (*i its
// index); NULL if none.
static const drpc_stub_method *
find(const drpc_stub_service *svc, const drpc_stream *s, size_t *i)
{
	const char *name = drpc_stream_method(s);

	for (*i = 0; name != NULL && *i < svc->n_methods; (*i)++) {
		if (strcmp(svc->methods[*i].name, name) == 0) {
			return &svc->methods[*i];
		}
	}
	return NULL;
}

// takes_request: for these kinds the request is received before the
// handler runs; gives_reply: for these the handler fills in a reply that
// is sent after it.
static bool
takes_request(drpc_stub_kind kind)
{
	return kind == DRPC_STUB_UNARY || kind == DRPC_STUB_SERVER_STREAM;
}

static bool
gives_reply(drpc_stub_kind kind)
{
	return kind == DRPC_STUB_UNARY || kind == DRPC_STUB_CLIENT_STREAM;
}

// new_reply allocates an empty message of type desc.
static drpc_err
new_reply(const ProtobufCMessageDescriptor *desc, ProtobufCMessage **m)
{
	if ((*m = malloc(desc->sizeof_message)) == NULL) {
		return DRPC_ENOMEM;
	}
	protobuf_c_message_init(desc, *m);
	return DRPC_OK;
}

// release gives reply to the free_reply of impl, if set, with its user
// pointer: both are fields of the server struct at svc's offsets.
static void
release(const drpc_stub_service *svc, const void *impl, ProtobufCMessage *reply)
{
	const char *base = impl;
	void (*const *free_reply)(void *, ProtobufCMessage *) =
	    (const void *) (base + svc->free_reply);
	void *const *user = (const void *) (base + svc->user);

	if (*free_reply != NULL) {
		(*free_reply)(*user, reply);
	}
}

drpc_err
drpc_stub_serve(drpc_stream *s, const void *impl, const drpc_stub_service *svc)
{
	const drpc_stub_method *m;
	size_t                  i;
	ProtobufCMessage       *req   = NULL;
	ProtobufCMessage       *reply = NULL;
	drpc_err                rv    = DRPC_OK;

	if (s == NULL || impl == NULL || svc == NULL) {
		return DRPC_EINVAL;
	}
	if ((m = find(svc, s, &i)) == NULL) {
		return DRPC_EINTERNAL; // drpc_stub_register registered no other
	}
	if (takes_request(m->kind)) {
		rv = drpc_stream_recv_msg(s, m->input, &req);
	}
	if (rv == DRPC_OK && gives_reply(m->kind)) {
		rv = new_reply(m->output, &reply);
	}
	if (rv != DRPC_OK) {
		goto done;
	}
	rv = svc->call(impl, i, s, req, reply);
	if (reply != NULL) {
		if (rv == DRPC_OK) {
			rv = drpc_stream_send_msg_last(s, reply);
		}
		release(svc, impl, reply);
	}
done:
	free(reply);
	if (req != NULL) {
		protobuf_c_message_free_unpacked(req, NULL);
	}
	return rv;
}

// unimplemented serves the methods whose handler is NULL.
static drpc_err
unimplemented(drpc_stream *s, void *impl)
{
	(void) s;
	(void) impl;
	return DRPC_EUNIMPL;
}

drpc_err
drpc_stub_register(drpc_mux *mux, const drpc_stub_service *svc,
    const void *impl, const bool *has, drpc_handler_fn serve)
{
	if (svc == NULL || impl == NULL || has == NULL || serve == NULL) {
		return DRPC_EINVAL;
	}
	for (size_t i = 0; i < svc->n_methods; i++) {
		drpc_handler_fn fn = has[i] ? serve : unimplemented;
		drpc_err        rv;

		rv = drpc_mux_register(
		    mux, svc->methods[i].name, fn, (void *) (uintptr_t) impl);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return DRPC_OK;
}
