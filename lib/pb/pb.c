// Packing goes into a buffer we allocate and check (never
// ProtobufCBufferSimple, which drops bytes when allocation fails), and
// unpacking uses an allocator that records failures, so a NULL result is
// told apart: DRPC_ENOMEM for memory, DRPC_EINTERNAL for bad bytes.
#include <stdbool.h>
#include <stdlib.h>

#include <drpc/pb.h>

typedef struct pb_alloc_state {
	bool failed;
} pb_alloc_state;

static void *
pb_alloc(void *data, size_t size)
{
	void *p = malloc(size);

	if (p == NULL) {
		((pb_alloc_state *) data)->failed = true;
	}
	return p;
}

static void
pb_free(void *data, void *p)
{
	(void) data;
	free(p);
}

// pb_pack packs m into a new buffer (*buf NULL for an empty message).
static drpc_err
pb_pack(const ProtobufCMessage *m, uint8_t **buf, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	*buf = NULL;
	*len = n;
	if (n == 0) {
		return DRPC_OK;
	}
	if ((*buf = malloc(n)) == NULL) {
		return DRPC_ENOMEM;
	}
	if (protobuf_c_message_pack(m, *buf) != n) {
		free(*buf);
		*buf = NULL;
		return DRPC_EINTERNAL;
	}
	return DRPC_OK;
}

static drpc_err
pb_unpack(const ProtobufCMessageDescriptor *desc, const void *data,
    size_t len, ProtobufCMessage **m)
{
	pb_alloc_state    st = {false};
	ProtobufCAllocator a = {pb_alloc, pb_free, &st};

	*m = protobuf_c_message_unpack(desc, &a, len, data);
	if (*m == NULL) {
		return st.failed ? DRPC_ENOMEM : DRPC_EINTERNAL;
	}
	return DRPC_OK;
}

// pb_send packs m and sends it, as the last message if last.
static drpc_err
pb_send(drpc_stream *s, const ProtobufCMessage *m, bool last)
{
	uint8_t    *buf;
	size_t      len;
	const void *p;
	drpc_err    rv;

	if (s == NULL || m == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = pb_pack(m, &buf, &len)) != DRPC_OK) {
		return rv;
	}
	p  = buf != NULL ? buf : (const void *) "";
	rv = last ? drpc_stream_send_last(s, p, len)
		  : drpc_stream_send(s, p, len);
	free(buf);
	return rv;
}

drpc_err
drpc_stream_send_msg(drpc_stream *s, const ProtobufCMessage *m)
{
	return pb_send(s, m, false);
}

drpc_err
drpc_stream_send_msg_last(drpc_stream *s, const ProtobufCMessage *m)
{
	return pb_send(s, m, true);
}

drpc_err
drpc_stream_recv_msg(drpc_stream *s, const ProtobufCMessageDescriptor *desc,
    ProtobufCMessage **m)
{
	const void *data;
	size_t      len;
	drpc_err    rv;

	if (s == NULL || desc == NULL || m == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = drpc_stream_recv_view(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	rv = pb_unpack(desc, data, len, m);
	drpc_stream_recv_done(s);
	return rv;
}

drpc_err
drpc_stream_open_request_msg(drpc_stream **sp, drpc_conn *c, drpc_ctx *ctx,
    const char *method, const ProtobufCMessage *req,
    const drpc_call_opts *opts)
{
	uint8_t *buf;
	size_t   len;
	drpc_err rv;

	if (sp == NULL || req == NULL) {
		return DRPC_EINVAL;
	}
	*sp = NULL;
	if ((rv = pb_pack(req, &buf, &len)) != DRPC_OK) {
		return rv;
	}
	rv = drpc_stream_open_request(sp, c, ctx, method, buf, len, opts);
	free(buf);
	return rv;
}

drpc_err
drpc_invoke_msg(drpc_conn *c, drpc_ctx *ctx, const char *method,
    const ProtobufCMessage *req, const ProtobufCMessageDescriptor *reply_desc,
    ProtobufCMessage **reply, const drpc_call_opts *opts, drpc_status *st)
{
	uint8_t *buf;
	size_t   len;
	void    *out;
	size_t   out_len;
	drpc_err rv;

	if (req == NULL || reply_desc == NULL || reply == NULL) {
		return DRPC_EINVAL;
	}
	if ((rv = pb_pack(req, &buf, &len)) != DRPC_OK) {
		return rv;
	}
	rv = drpc_invoke(c, ctx, method, buf, len, opts, &out, &out_len, st);
	free(buf);
	if (rv != DRPC_OK) {
		return rv;
	}
	rv = pb_unpack(reply_desc, out, out_len, reply);
	free(out);
	return rv;
}
