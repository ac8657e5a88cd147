#include <string.h>

#include "wire/frame.h"
#include "wire/varint.h"

bool
drpc__kind_is_known(unsigned kind)
{
	return kind >= DRPC__KIND_INVOKE && kind <= DRPC__KIND_LAST;
}

const char *
drpc__kind_name(unsigned kind)
{
	static const char *const names[] = {
	    [DRPC__KIND_INVOKE]          = "Invoke",
	    [DRPC__KIND_MESSAGE]         = "Message",
	    [DRPC__KIND_ERROR]           = "Error",
	    [DRPC__KIND_CANCEL]          = "Cancel",
	    [DRPC__KIND_CLOSE]           = "Close",
	    [DRPC__KIND_CLOSE_SEND]      = "CloseSend",
	    [DRPC__KIND_INVOKE_METADATA] = "InvokeMetadata",
	};

	if (kind == 8) {
		return "WindowUpdate"; // flow control (wire/flowctl.h)
	}
	if (kind == 32) {
		return "Hello"; // flow-control negotiation (wire/flowctl.h)
	}
	if (kind >= 33 && kind <= 36) {
		// Connection control frames (wire/control.h).
		static const char *const ctrl[] = {
		    "Ping", "PingAck", "GoAway", "GoAwayAck"};

		return ctrl[kind - 33];
	}
	if (!drpc__kind_is_known(kind)) {
		return "Unknown";
	}
	return names[kind];
}

// frame_read_varint reads one header varint at *pos, advancing it.
// Returns DRPC_OK with *more set when the buffer ends inside it.
static drpc_err
frame_read_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v,
    bool *more)
{
	size_t   n;
	drpc_err rv = drpc__varint_read(buf + *pos, len - *pos, v, &n);

	if (rv != DRPC_OK) {
		return rv;
	}
	*more = n == 0;
	*pos += n;
	return DRPC_OK;
}

// frame_header reads the three header varints of the frame at buf: on
// DRPC_OK without *more, *pos is the header's length and *length the
// declared body length.
static drpc_err
frame_header(const uint8_t *buf, size_t len, uint64_t *stream_id,
    uint64_t *message_id, uint64_t *length, size_t *pos, bool *more)
{
	uint64_t *fields[3] = {stream_id, message_id, length};
	drpc_err  rv;

	*pos  = 1;
	*more = true;
	if (len < 4) {
		return DRPC_OK; // 4 bytes is the smallest frame
	}
	for (size_t i = 0; i < 3; i++) {
		rv = frame_read_varint(buf, len, pos, fields[i], more);
		if (rv != DRPC_OK || *more) {
			return rv;
		}
	}
	return DRPC_OK;
}

drpc_err
drpc__frame_parse(const uint8_t *buf, size_t len, size_t max_len,
    drpc__frame *fr, size_t *used)
{
	uint64_t length = 0;
	size_t   pos;
	bool     more;
	drpc_err rv;

	*used = 0;
	rv = frame_header(buf, len, &fr->stream_id, &fr->message_id, &length,
	    &pos, &more);
	if (rv != DRPC_OK || more) {
		return rv;
	}
	if (length > max_len) {
		// Say which frame: its ids are in, its length saturated;
		// *used is its header, for a reader that skips the body.
		fr->kind    = (uint8_t) ((buf[0] >> 1) & 0x3f);
		fr->done    = (buf[0] & 0x01) != 0;
		fr->control = (buf[0] & 0x80) != 0;
		fr->data    = NULL;
		fr->len     = length > SIZE_MAX ? SIZE_MAX : (size_t) length;
		*used       = pos;
		return DRPC_ETOOBIG;
	}
	if (length > len - pos) {
		return DRPC_OK;
	}
	fr->kind    = (uint8_t) ((buf[0] >> 1) & 0x3f);
	fr->done    = (buf[0] & 0x01) != 0;
	fr->control = (buf[0] & 0x80) != 0;
	fr->data    = buf + pos;
	fr->len     = (size_t) length;
	*used       = pos + (size_t) length;
	return DRPC_OK;
}

size_t
drpc__frame_size(const uint8_t *buf, size_t len)
{
	uint64_t ids[2];
	uint64_t length;
	size_t   pos;
	bool     more;

	if (frame_header(buf, len, &ids[0], &ids[1], &length, &pos, &more) !=
		DRPC_OK ||
	    more) {
		return 0;
	}
	return length > SIZE_MAX - pos ? SIZE_MAX : pos + (size_t) length;
}

size_t
drpc__frame_header_put(uint8_t *out, const drpc__frame *fr)
{
	uint8_t *p = out;

	*p++ = (uint8_t) ((fr->control ? 0x80 : 0) | ((fr->kind & 0x3f) << 1) |
	    (fr->done ? 1 : 0));
	p = drpc__varint_put(p, fr->stream_id);
	p = drpc__varint_put(p, fr->message_id);
	p = drpc__varint_put(p, (uint64_t) fr->len);
	return (size_t) (p - out);
}

drpc_err
drpc__frame_append(drpc__buf *b, const drpc__frame *fr)
{
	drpc_err rv;
	size_t   n;

	rv = drpc__buf_reserve(b, DRPC__FRAME_HEADER_MAX + fr->len);
	if (rv != DRPC_OK) {
		return rv;
	}
	n = drpc__frame_header_put(b->data + b->len, fr);
	b->len += n;
	if (fr->len > 0) {
		memcpy(b->data + b->len, fr->data, fr->len);
		b->len += fr->len;
	}
	return DRPC_OK;
}
