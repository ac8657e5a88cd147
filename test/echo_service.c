// The interop Echo service and its proto3 codec, written by hand: the
// four messages are too small to justify generated code, and writing them
// out keeps the encoding rules the transcripts depend on visible (a
// default value is left out, so an empty payload is an empty body; an
// int32 is a sign-extended 64-bit varint).
#include "echo_service.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

// Protobuf wire types (protobuf.dev/programming-guides/encoding).
#define PB_VARINT  0
#define PB_FIXED64 1
#define PB_BYTES   2
#define PB_FIXED32 5

// PB_MAX_FIELD is the largest field number protobuf allows (2^29 - 1).
#define PB_MAX_FIELD 536870911u

static const char echo_bad_proto[] =
    "proto: cannot parse invalid wire-format data";

// The codec.

typedef struct pb_field {
	uint64_t       num;
	unsigned       wire;
	uint64_t       v;   // PB_VARINT: the value
	const uint8_t *p;   // PB_BYTES: the bytes, inside the message
	size_t         len; // PB_BYTES: their number
} pb_field;

static size_t
pb_put_uvarint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t) v;
	return n;
}

static size_t
pb_uvarint_size(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

// pb_get_uvarint reads a varint of at most 10 bytes that fits 64 bits.
static bool
pb_get_uvarint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < 10 && *pos < len; i++) {
		uint8_t b = buf[(*pos)++];

		if (i == 9 && b > 1) {
			return false; // more than 64 bits
		}
		x |= (uint64_t) (b & 0x7f) << (7 * i);
		if (b < 0x80) {
			*v = x;
			return true;
		}
	}
	return false;
}

static drpc_err
pb_skip(size_t len, size_t *pos, size_t n)
{
	if (n > len - *pos) {
		return DRPC_EPROTO;
	}
	*pos += n;
	return DRPC_OK;
}

// pb_next reads the field at *pos: DRPC_OK with *f, DRPC_EOF at the end
// of the message, DRPC_EPROTO if malformed. Groups (wire types 3 and 4)
// are refused; nothing in interop.proto uses them.
static drpc_err
pb_next(const uint8_t *buf, size_t len, size_t *pos, pb_field *f)
{
	uint64_t key;
	uint64_t n;

	if (*pos == len) {
		return DRPC_EOF;
	}
	if (!pb_get_uvarint(buf, len, pos, &key) || key >> 3 == 0 ||
	    key >> 3 > PB_MAX_FIELD) {
		return DRPC_EPROTO;
	}
	f->num  = key >> 3;
	f->wire = (unsigned) (key & 7);
	switch (f->wire) {
	case PB_VARINT:
		return pb_get_uvarint(buf, len, pos, &f->v) ? DRPC_OK
		                                            : DRPC_EPROTO;
	case PB_FIXED64:
		return pb_skip(len, pos, 8);
	case PB_FIXED32:
		return pb_skip(len, pos, 4);
	case PB_BYTES:
		if (!pb_get_uvarint(buf, len, pos, &n) || n > len - *pos) {
			return DRPC_EPROTO;
		}
		f->p   = buf + *pos;
		f->len = (size_t) n;
		*pos += (size_t) n;
		return DRPC_OK;
	default:
		return DRPC_EPROTO;
	}
}

// pb_int32 is an int32 field's value: the low 32 bits, two's complement
// (as Go's int32(v)), computed without implementation-defined casts.
static int32_t
pb_int32(uint64_t v)
{
	uint32_t u = (uint32_t) (v & 0xffffffffu);

	if (u <= INT32_MAX) {
		return (int32_t) u;
	}
	return (int32_t) (u - 0x80000000u) - INT32_MAX - 1;
}

// pb_put_int32 writes field num as an int32 (nothing if zero).
static size_t
pb_put_int32(uint8_t *out, unsigned num, int32_t v)
{
	size_t n;

	if (v == 0) {
		return 0;
	}
	n = pb_put_uvarint(out, (uint64_t) num << 3 | PB_VARINT);
	return n + pb_put_uvarint(out + n, (uint64_t) (int64_t) v);
}

// pb_bytes_field encodes field num = bytes into a malloc'd buffer after
// prefix_len bytes of prefix (nothing for an empty value).
static drpc_err
pb_bytes_field(const uint8_t *prefix, size_t prefix_len, unsigned num,
    const void *p, size_t len, uint8_t **out, size_t *out_len)
{
	size_t   size = prefix_len;
	uint8_t *b;

	if (len > 0) {
		size += pb_uvarint_size((uint64_t) num << 3) +
		        pb_uvarint_size(len) + len;
	}
	if ((b = malloc(size > 0 ? size : 1)) == NULL) {
		return DRPC_ENOMEM;
	}
	if (prefix_len > 0) {
		memcpy(b, prefix, prefix_len);
	}
	*out_len = prefix_len;
	if (len > 0) {
		*out_len += pb_put_uvarint(
		    b + *out_len, (uint64_t) num << 3 | PB_BYTES);
		*out_len += pb_put_uvarint(b + *out_len, len);
		memcpy(b + *out_len, p, len);
		*out_len += len;
	}
	*out = b;
	return DRPC_OK;
}

drpc_err
echo_msg_encode(const void *payload, size_t len, uint8_t **out, size_t *out_len)
{
	return pb_bytes_field(NULL, 0, 1, payload, len, out, out_len);
}

drpc_err
echo_fail_req_encode(
    uint64_t code, const char *message, uint8_t **out, size_t *out_len)
{
	uint8_t head[ECHO_REQ_MAX];
	size_t  n = 0;

	if (code != 0) {
		n = pb_put_uvarint(head, 1 << 3 | PB_VARINT);
		n += pb_put_uvarint(head + n, code);
	}
	return pb_bytes_field(
	    head, n, 2, message, strlen(message), out, out_len);
}

size_t
echo_stream_req_put(uint8_t *out, int32_t count, int32_t size)
{
	size_t n = pb_put_int32(out, 1, count);

	return n + pb_put_int32(out + n, 2, size);
}

size_t
echo_sleep_req_put(uint8_t *out, int32_t millis)
{
	return pb_put_int32(out, 1, millis);
}

// pb_want says where one field of a message goes: a varint as an int32
// (i32) or as it is (u64), or bytes (p and len, pointing into the
// message). A field of another wire type, or not asked for, is skipped.
typedef struct pb_want {
	uint64_t        num;
	int32_t        *i32;
	uint64_t       *u64;
	const uint8_t **p;
	size_t         *len;
} pb_want;

// pb_scan zeroes every output of the n wants, then decodes the message
// into them (the last occurrence of a field wins, as protobuf's).
static drpc_err
pb_scan(const void *buf, size_t len, const pb_want *w, size_t n)
{
	size_t   pos = 0;
	pb_field f;
	drpc_err rv;

	for (size_t i = 0; i < n; i++) {
		if (w[i].p != NULL) {
			*w[i].p   = NULL;
			*w[i].len = 0;
		} else if (w[i].i32 != NULL) {
			*w[i].i32 = 0;
		} else {
			*w[i].u64 = 0;
		}
	}
	while ((rv = pb_next(buf, len, &pos, &f)) == DRPC_OK) {
		for (size_t i = 0; i < n; i++) {
			if (f.num != w[i].num) {
				continue;
			}
			if (w[i].p != NULL && f.wire == PB_BYTES) {
				*w[i].p   = f.p;
				*w[i].len = f.len;
			} else if (w[i].p == NULL && f.wire == PB_VARINT) {
				if (w[i].i32 != NULL) {
					*w[i].i32 = pb_int32(f.v);
				} else {
					*w[i].u64 = f.v;
				}
			}
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

drpc_err
echo_msg_decode(
    const void *buf, size_t len, const uint8_t **payload, size_t *payload_len)
{
	const pb_want w[] = {{.num = 1, .p = payload, .len = payload_len}};

	return pb_scan(buf, len, w, 1);
}

drpc_err
echo_stream_req_decode(
    const void *buf, size_t len, int32_t *count, int32_t *size)
{
	const pb_want w[] = {{.num = 1, .i32 = count}, {.num = 2, .i32 = size}};

	return pb_scan(buf, len, w, 2);
}

drpc_err
echo_fail_req_decode(const void *buf, size_t len, uint64_t *code,
    const uint8_t **message, size_t *message_len)
{
	const pb_want w[] = {
	    {.num = 1, .u64 = code},
	    {.num = 2, .p = message, .len = message_len},
	};

	return pb_scan(buf, len, w, 2);
}

drpc_err
echo_sleep_req_decode(const void *buf, size_t len, int32_t *millis)
{
	const pb_want w[] = {{.num = 1, .i32 = millis}};

	return pb_scan(buf, len, w, 1);
}

// The handlers.

// echo_fail sets the Error the handler's return will send.
static drpc_err
echo_fail(drpc_stream *s, uint64_t code, const char *message, drpc_err rv)
{
	drpc_err set = drpc_stream_set_error(s, code, message);

	return set == DRPC_OK ? rv : set;
}

// echo_bad_request fails as Go DRPC does when a request does not
// unmarshal: code 0 (none) and protobuf's text.
static drpc_err
echo_bad_request(drpc_stream *s)
{
	return echo_fail(s, 0, echo_bad_proto, DRPC_EINVAL);
}

static drpc_err
echo_send_msg(drpc_stream *s, const void *payload, size_t len)
{
	uint8_t *body;
	size_t   body_len;
	drpc_err rv;

	if ((rv = echo_msg_encode(payload, len, &body, &body_len)) != DRPC_OK) {
		return rv;
	}
	rv = drpc_stream_send(s, body, body_len);
	free(body);
	return rv;
}

// echo_recv_payload receives one Msg and lends its payload: *req is the
// received buffer (the caller drpc_free()s it), *p and *n point into it.
static drpc_err
echo_recv_payload(drpc_stream *s, void **req, const uint8_t **p, size_t *n)
{
	size_t   len;
	drpc_err rv;

	if ((rv = drpc_stream_recv(s, req, &len)) != DRPC_OK) {
		return rv;
	}
	if (echo_msg_decode(*req, len, p, n) != DRPC_OK) {
		drpc_free(*req);
		*req = NULL;
		return echo_bad_request(s);
	}
	return DRPC_OK;
}

static drpc_err
echo_unary(drpc_stream *s, void *user)
{
	void          *req;
	const uint8_t *p;
	size_t         n;
	drpc_err       rv;

	(void) user;
	if ((rv = echo_recv_payload(s, &req, &p, &n)) != DRPC_OK) {
		return rv;
	}
	rv = echo_send_msg(s, p, n);
	drpc_free(req);
	return rv;
}

// echo_stream_body builds the ServerStream message: size bytes, byte i
// being i % 251, encoded as a Msg.
static drpc_err
echo_stream_body(size_t size, uint8_t **out, size_t *out_len)
{
	uint8_t *pattern = malloc(size > 0 ? size : 1);
	drpc_err rv;

	if (pattern == NULL) {
		return DRPC_ENOMEM;
	}
	for (size_t i = 0; i < size; i++) {
		pattern[i] = (uint8_t) (i % 251);
	}
	rv = echo_msg_encode(pattern, size, out, out_len);
	free(pattern);
	return rv;
}

static drpc_err
echo_server_stream(drpc_stream *s, void *user)
{
	void    *req;
	size_t   len;
	int32_t  count;
	int32_t  size;
	uint8_t *body;
	drpc_err rv;

	(void) user;
	if ((rv = drpc_stream_recv(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	rv = echo_stream_req_decode(req, len, &count, &size);
	drpc_free(req);
	if (rv != DRPC_OK) {
		return echo_bad_request(s);
	}
	if (count < 0 || size < 0) {
		return echo_fail(s, ECHO_CODE_INVALID_ARGUMENT,
		    "negative count or size", DRPC_EINVAL);
	}
	if ((size_t) size > ECHO_MAX_PAYLOAD) {
		return echo_fail(
		    s, ECHO_CODE_RESOURCE, "size too large", DRPC_ERESOURCE);
	}
	if ((rv = echo_stream_body((size_t) size, &body, &len)) != DRPC_OK) {
		return rv;
	}
	for (int32_t i = 0; i < count && rv == DRPC_OK; i++) {
		rv = drpc_stream_send(s, body, len);
	}
	free(body);
	return rv;
}

// echo_append adds n bytes to the growing buffer *all (*len used).
static drpc_err
echo_append(uint8_t **all, size_t *len, const uint8_t *p, size_t n)
{
	uint8_t *grown;

	if (n == 0) {
		return DRPC_OK;
	}
	if (n > ECHO_MAX_PAYLOAD - *len) {
		return DRPC_ERESOURCE;
	}
	if ((grown = realloc(*all, *len + n)) == NULL) {
		return DRPC_ENOMEM;
	}
	memcpy(grown + *len, p, n);
	*all = grown;
	*len += n;
	return DRPC_OK;
}

static drpc_err
echo_client_stream(drpc_stream *s, void *user)
{
	uint8_t       *all = NULL;
	size_t         len = 0;
	void          *req;
	const uint8_t *p;
	size_t         n;
	drpc_err       rv;

	(void) user;
	while ((rv = echo_recv_payload(s, &req, &p, &n)) == DRPC_OK) {
		rv = echo_append(&all, &len, p, n);
		drpc_free(req);
		if (rv == DRPC_ERESOURCE) {
			rv = echo_fail(
			    s, ECHO_CODE_RESOURCE, "too much data", rv);
			goto out;
		}
		if (rv != DRPC_OK) {
			goto out;
		}
	}
	if (rv == DRPC_EOF) {
		rv = echo_send_msg(s, all, len);
	}
out:
	free(all);
	return rv;
}

static drpc_err
echo_bidi(drpc_stream *s, void *user)
{
	void          *req;
	const uint8_t *p;
	size_t         n;
	drpc_err       rv;

	(void) user;
	while ((rv = echo_recv_payload(s, &req, &p, &n)) == DRPC_OK) {
		rv = echo_send_msg(s, p, n);
		drpc_free(req);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

static drpc_err
echo_fail_rpc(drpc_stream *s, void *user)
{
	void          *req;
	size_t         len;
	uint64_t       code;
	const uint8_t *msg;
	size_t         msg_len;
	char          *text;
	drpc_err       rv;

	(void) user;
	if ((rv = drpc_stream_recv(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	if (echo_fail_req_decode(req, len, &code, &msg, &msg_len) != DRPC_OK) {
		drpc_free(req);
		return echo_bad_request(s);
	}
	// drpc_stream_set_error takes a C string: a NUL inside the message
	// would cut it short (interop.proto's messages have none).
	if ((text = malloc(msg_len + 1)) == NULL) {
		drpc_free(req);
		return DRPC_ENOMEM;
	}
	if (msg_len > 0) {
		memcpy(text, msg, msg_len);
	}
	text[msg_len] = '\0';
	drpc_free(req);
	rv = echo_fail(s, code, text, DRPC_EUNKNOWN);
	free(text);
	return rv;
}

static int
echo_pair_cmp(const void *a, const void *b)
{
	const drpc_md_pair *x = a;
	const drpc_md_pair *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int    c = n == 0 ? 0 : memcmp(x->key, y->key, n);

	if (c != 0) {
		return c;
	}
	return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

// echo_put copies n bytes (p may be NULL when n is 0) to b + *pos.
static void
echo_put(char *b, size_t *pos, const char *p, size_t n)
{
	if (n > 0) {
		memcpy(b + *pos, p, n);
		*pos += n;
	}
}

// echo_md_lines formats the pairs, sorted by key, as "key=value\n" lines
// into a malloc'd buffer.
static drpc_err
echo_md_lines(drpc_md_pair *pairs, size_t n, char **out, size_t *out_len)
{
	size_t size = 1;
	char  *b;

	qsort(pairs, n, sizeof(pairs[0]), echo_pair_cmp);
	for (size_t i = 0; i < n; i++) {
		size += pairs[i].key_len + pairs[i].value_len + 2;
	}
	if ((b = malloc(size)) == NULL) {
		return DRPC_ENOMEM;
	}
	*out_len = 0;
	for (size_t i = 0; i < n; i++) {
		echo_put(b, out_len, pairs[i].key, pairs[i].key_len);
		echo_put(b, out_len, "=", 1);
		echo_put(b, out_len, pairs[i].value, pairs[i].value_len);
		echo_put(b, out_len, "\n", 1);
	}
	*out = b;
	return DRPC_OK;
}

static drpc_err
echo_metadata(drpc_stream *s, void *user)
{
	size_t         n = drpc_stream_md_count(s);
	drpc_md_pair  *pairs;
	void          *req;
	const uint8_t *p;
	size_t         len;
	char          *text;
	drpc_err       rv;

	(void) user;
	if ((rv = echo_recv_payload(s, &req, &p, &len)) != DRPC_OK) {
		return rv; // the request is ignored, but it must be a Msg
	}
	drpc_free(req);
	if ((pairs = calloc(n > 0 ? n : 1, sizeof(*pairs))) == NULL) {
		return DRPC_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		pairs[i] = drpc_stream_md_at(s, i);
	}
	if ((rv = echo_md_lines(pairs, n, &text, &len)) == DRPC_OK) {
		rv = echo_send_msg(s, text, len);
		free(text);
	}
	free(pairs);
	return rv;
}

static drpc_err
echo_sleep(drpc_stream *s, void *user)
{
	const echo_observer *o = user;
	void                *req;
	size_t               len;
	int32_t              millis;
	drpc_err             rv;

	if ((rv = drpc_stream_recv(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	rv = echo_sleep_req_decode(req, len, &millis);
	drpc_free(req);
	if (rv != DRPC_OK) {
		return echo_bad_request(s);
	}
	if (millis < 0) {
		return echo_fail(s, ECHO_CODE_INVALID_ARGUMENT,
		    "negative millis", DRPC_EINVAL);
	}
	if (o != NULL && o->sleep_started != NULL) {
		o->sleep_started(o->arg);
	}
	rv = drpc_ctx_wait(
	    drpc_stream_ctx(s), drpc_now_ns() + (int64_t) millis * 1000000);
	if (o != NULL && o->sleep_done != NULL) {
		o->sleep_done(o->arg, rv);
	}
	if (rv != DRPC_OK) {
		// Cancelled, by the client or its deadline: interop.proto
		// says CANCELLED either way (the peer is usually gone).
		return echo_fail(s, ECHO_CODE_CANCELLED, "sleep cancelled", rv);
	}
	return echo_send_msg(s, "slept", 5);
}

drpc_err
echo_register_observed(drpc_mux *m, const echo_observer *o)
{
	static const struct {
		const char     *name;
		drpc_handler_fn fn;
	} table[] = {
	    {"/interop.Echo/Unary", echo_unary},
	    {"/interop.Echo/ServerStream", echo_server_stream},
	    {"/interop.Echo/ClientStream", echo_client_stream},
	    {"/interop.Echo/Bidi", echo_bidi},
	    {"/interop.Echo/Fail", echo_fail_rpc},
	    {"/interop.Echo/Metadata", echo_metadata},
	    {"/interop.Echo/Sleep", echo_sleep},
	};
	drpc_err rv = DRPC_OK;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		// Only Sleep reads its user pointer; the cast drops const,
		// which the handler restores.
		void *user =
		    table[i].fn == echo_sleep ? (void *) (uintptr_t) o : NULL;

		rv = drpc_mux_register(m, table[i].name, table[i].fn, user);
		if (rv != DRPC_OK) {
			break;
		}
	}
	return rv;
}

drpc_err
echo_register(drpc_mux *m)
{
	return echo_register_observed(m, NULL);
}
