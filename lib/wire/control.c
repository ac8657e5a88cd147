#include "wire/control.h"

#include "wire/varint.h"

bool
drpc__ctrl_kind(unsigned kind)
{
	return kind >= DRPC__KIND_PING && kind <= DRPC__KIND_GOAWAY_ACK;
}

size_t
drpc__ctrl_put(uint8_t *out, uint64_t v)
{
	return (size_t) (drpc__varint_put(out, v) - out);
}

drpc_err
drpc__ctrl_append(drpc__buf *b, uint8_t kind, uint64_t v)
{
	uint8_t     body[DRPC__CTRL_BODY_MAX];
	drpc__frame f = {
	    .data = body, .kind = kind, .done = true, .control = true};

	f.len = drpc__ctrl_put(body, v);
	return drpc__frame_append(b, &f);
}

bool
drpc__ctrl_parse(const drpc__frame *f, uint64_t *v)
{
	size_t used;

	if (!drpc__ctrl_kind(f->kind) || !f->control || !f->done ||
	    f->stream_id != 0 || f->message_id != 0 || f->len == 0) {
		return false;
	}
	return drpc__varint_read(f->data, f->len, v, &used) == DRPC_OK &&
	       used == f->len;
}
