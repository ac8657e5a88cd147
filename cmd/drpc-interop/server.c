// The interop Echo service (../shared/interop/README.md §1) on the stubs
// protoc-gen-drpc-c generates from interop.proto. Every reply payload a
// handler sets is malloc'd (or empty), and echo_free_reply frees it once
// the stub has sent the reply.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interop.drpc.h"
#include "interop_tool.h"

#define PATTERN_MOD 251

// echo_take_payload makes data (len bytes, malloc'd) reply's payload, or
// frees it if empty (an empty payload is left out).
static drpc_err
echo_take_payload(Interop__Msg *reply, uint8_t *data, size_t len)
{
	if (len == 0) {
		free(data);
		return DRPC_OK;
	}
	reply->payload.data = data;
	reply->payload.len  = len;
	return DRPC_OK;
}

// echo_set_payload gives reply a malloc'd copy of len bytes.
static drpc_err
echo_set_payload(Interop__Msg *reply, const void *data, size_t len)
{
	if (len == 0) {
		return DRPC_OK;
	}
	if ((reply->payload.data = malloc(len)) == NULL) {
		return DRPC_ENOMEM;
	}
	memcpy(reply->payload.data, data, len);
	reply->payload.len = len;
	return DRPC_OK;
}

static drpc_err
echo_unary(void *user, drpc_stream *s, const Interop__Msg *req,
    Interop__Msg *reply)
{
	(void) user;
	(void) s;
	return echo_set_payload(reply, req->payload.data, req->payload.len);
}

static drpc_err
echo_fail_invalid(drpc_stream *s, const char *what)
{
	(void) drpc_stream_set_error(s, 3, what);
	return DRPC_EINVAL;
}

static drpc_err
echo_server_stream(void *user, drpc_stream *s, const Interop__StreamRequest *req)
{
	Interop__Msg m = INTEROP__MSG__INIT;
	uint8_t     *buf;
	drpc_err     rv = DRPC_OK;

	(void) user;
	if (req->count < 0 || req->size < 0) {
		return echo_fail_invalid(s, "negative count or size");
	}
	if ((buf = malloc((size_t) req->size + 1)) == NULL) {
		return DRPC_ENOMEM;
	}
	for (int32_t i = 0; i < req->size; i++) {
		buf[i] = (uint8_t) (i % PATTERN_MOD);
	}
	m.payload.data = buf;
	m.payload.len  = (size_t) req->size;
	for (int32_t i = 0; i < req->count && rv == DRPC_OK; i++) {
		rv = interop__echo__server_stream__server_send(s, &m);
	}
	free(buf);
	return rv;
}

static drpc_err
echo_client_stream(void *user, drpc_stream *s, Interop__Msg *reply)
{
	Interop__Msg *m;
	uint8_t      *all = NULL;
	size_t        len = 0;
	drpc_err      rv;

	(void) user;
	while ((rv = interop__echo__client_stream__server_recv(s, &m)) ==
	    DRPC_OK) {
		uint8_t *grown = realloc(all, len + m->payload.len + 1);

		if (grown == NULL) {
			protobuf_c_message_free_unpacked(&m->base, NULL);
			free(all);
			return DRPC_ENOMEM;
		}
		all = grown;
		if (m->payload.len > 0) {
			memcpy(all + len, m->payload.data, m->payload.len);
		}
		len += m->payload.len;
		protobuf_c_message_free_unpacked(&m->base, NULL);
	}
	if (rv != DRPC_EOF) {
		free(all);
		return rv;
	}
	return echo_take_payload(reply, all, len);
}

static drpc_err
echo_bidi(void *user, drpc_stream *s)
{
	Interop__Msg *m;
	drpc_err      rv;

	(void) user;
	while ((rv = interop__echo__bidi__server_recv(s, &m)) == DRPC_OK) {
		rv = interop__echo__bidi__server_send(s, m);
		protobuf_c_message_free_unpacked(&m->base, NULL);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

static drpc_err
echo_fail(void *user, drpc_stream *s, const Interop__FailRequest *req,
    Interop__Msg *reply)
{
	(void) user;
	(void) reply;
	(void) drpc_stream_set_error(
	    s, req->code, req->message != NULL ? req->message : "");
	return DRPC_EUNKNOWN;
}

static int
line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

// echo_md_lines builds the sorted "key=value\n" lines of s's metadata.
static drpc_err
echo_md_lines(drpc_stream *s, char **out, size_t *out_len)
{
	size_t n     = drpc_stream_md_count(s);
	char **lines = calloc(n + 1, sizeof(char *));
	size_t total = 0;
	char  *text;

	if (lines == NULL) {
		return DRPC_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		drpc_md_pair p = drpc_stream_md_at(s, i);

		lines[i] = malloc(p.key_len + p.value_len + 3);
		if (lines[i] == NULL) {
			break;
		}
		sprintf(lines[i], "%.*s=%.*s\n", (int) p.key_len, p.key,
		    (int) p.value_len, p.value);
		total += strlen(lines[i]);
	}
	qsort(lines, n, sizeof(char *), line_cmp);
	text = calloc(total + 1, 1);
	for (size_t i = 0; i < n; i++) {
		if (text != NULL && lines[i] != NULL) {
			strcat(text, lines[i]);
		}
		free(lines[i]);
	}
	free(lines);
	*out     = text;
	*out_len = total;
	return text != NULL ? DRPC_OK : DRPC_ENOMEM;
}

static drpc_err
echo_metadata(void *user, drpc_stream *s, const Interop__Msg *req,
    Interop__Msg *reply)
{
	char    *text;
	size_t   len;
	drpc_err rv;

	(void) user;
	(void) req;
	if ((rv = echo_md_lines(s, &text, &len)) != DRPC_OK) {
		return rv;
	}
	return echo_take_payload(reply, (uint8_t *) text, len);
}

static drpc_err
echo_sleep(void *user, drpc_stream *s, const Interop__SleepRequest *req,
    Interop__Msg *reply)
{
	(void) user;
	if (req->millis < 0) {
		return echo_fail_invalid(s, "negative millis");
	}
	if (drpc_ctx_wait(drpc_stream_ctx(s),
		drpc_now_ns() + (int64_t) req->millis * 1000000) != DRPC_OK) {
		(void) drpc_stream_set_error(s, 1, "cancelled");
		return DRPC_ECANCELED;
	}
	return echo_set_payload(reply, "slept", 5);
}

// echo_free_reply frees the payloads the handlers above allocated.
static void
echo_free_reply(void *user, ProtobufCMessage *reply)
{
	(void) user;
	if (reply->descriptor == &interop__msg__descriptor) {
		free(((Interop__Msg *) reply)->payload.data);
	}
}

static const Interop__Echo_Server echo_impl = {
    .unary         = echo_unary,
    .server_stream = echo_server_stream,
    .client_stream = echo_client_stream,
    .bidi          = echo_bidi,
    .fail          = echo_fail,
    .metadata      = echo_metadata,
    .sleep         = echo_sleep,
    .free_reply    = echo_free_reply,
};

drpc_err
interop_register(drpc_mux *mux)
{
	return interop__echo__register(mux, &echo_impl);
}
