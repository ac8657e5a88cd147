#include "wire/flowctl.h"
#include "wire/varint.h"

drpc_err
drpc__window_update_append(drpc__buf *b, uint64_t stream_id, uint64_t delta)
{
	uint8_t     body[10];
	drpc__frame f = {.stream_id = stream_id, .data = body,
	    .kind = DRPC__KIND_WINDOW_UPDATE, .done = true, .control = true};

	f.len = (size_t) (drpc__varint_put(body, delta) - body);
	return drpc__frame_append(b, &f);
}

bool
drpc__window_update_parse(const drpc__frame *f, uint64_t *delta)
{
	size_t used;

	if (f->kind != DRPC__KIND_WINDOW_UPDATE || !f->control || !f->done ||
	    f->len == 0) {
		return false;
	}
	if (drpc__varint_read(f->data, f->len, delta, &used) != DRPC_OK ||
	    used != f->len || *delta == 0) {
		return false;
	}
	return true;
}

size_t
drpc__hello_put(uint8_t *out, const drpc__hello *h)
{
	uint8_t *p = out;

	p = drpc__varint_put(p, h->version);
	p = drpc__varint_put(p, h->window);
	p = drpc__varint_put(p, h->msg_cost);
	p = drpc__varint_put(p, h->conn_window);
	p = drpc__varint_put(p, h->features);
	return (size_t) (p - out);
}

bool
drpc__hello_parse(const drpc__frame *f, drpc__hello *h)
{
	uint64_t v[5] = {0, 0, 0, 0, DRPC__HELLO_FLOW};
	size_t   pos  = 0;
	size_t   used;

	if (f->kind != DRPC__KIND_HELLO || !f->control || !f->done) {
		return false;
	}
	for (size_t i = 0; i < 5; i++) {
		if (i >= 3 && pos >= f->len) {
			break; // the optional fields are absent
		}
		if (pos >= f->len ||
		    drpc__varint_read(f->data + pos, f->len - pos, &v[i],
			&used) != DRPC_OK ||
		    used == 0) {
			return false;
		}
		pos += used;
	}
	if (v[0] < 1 || v[1] == 0) {
		return false;
	}
	h->version  = v[0];
	h->window   = v[1];
	h->msg_cost    = v[2];
	h->conn_window = v[3];
	h->features    = v[4];
	return true;
}
