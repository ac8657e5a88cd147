#include <string.h>

#include "wire/packet.h"

void
drpc__asm_init(drpc__asm *a, size_t max_size)
{
	memset(a, 0, sizeof(*a));
	a->max_size = max_size == 0 ? DRPC__DEFAULT_MAX_SIZE : max_size;
	a->expect   = 1;
}

void
drpc__asm_fini(drpc__asm *a)
{
	drpc__buf_fini(&a->body);
	a->in_progress = false;
}

static void
asm_start(drpc__asm *a, const drpc__frame *fr)
{
	a->in_progress = true;
	a->message_id  = fr->message_id;
	a->kind        = fr->kind;
	a->control     = fr->control;
	a->body.len    = 0;
	a->expect      = fr->message_id;
}

static void
asm_finish(drpc__asm *a, uint64_t message_id)
{
	a->in_progress = false;
	if (message_id == UINT64_MAX) {
		a->exhausted = true;
	} else {
		a->expect = message_id + 1;
	}
}

drpc_err
drpc__asm_add(
    drpc__asm *a, const drpc__frame *fr, drpc__packet *pkt, bool *complete)
{
	drpc_err rv;

	*complete = false;
	if (a->exhausted || fr->message_id < a->expect) {
		return DRPC_EPROTO; // message id went backwards
	}
	if (fr->len > a->max_size) {
		return DRPC_ETOOBIG;
	}
	if (!a->in_progress || fr->message_id != a->message_id) {
		// A newer id replaces a half-built packet (dropped silently).
		if (fr->done) {
			// Fast path: a single-frame packet is delivered
			// straight from the frame, without a copy.
			a->in_progress = false;
			asm_finish(a, fr->message_id);
			*pkt = (drpc__packet) {fr->stream_id, fr->message_id,
			    fr->data, fr->len, fr->kind, fr->control};
			*complete = true;
			return DRPC_OK;
		}
		asm_start(a, fr);
	} else if (fr->kind != a->kind) {
		return DRPC_EPROTO; // kind change inside one packet
	}
	if (fr->len > a->max_size - a->body.len) {
		return DRPC_ETOOBIG;
	}
	if ((rv = drpc__buf_append(&a->body, fr->data, fr->len)) != DRPC_OK) {
		return rv;
	}
	a->control = a->control || fr->control;
	if (!fr->done) {
		return DRPC_OK;
	}
	asm_finish(a, fr->message_id);
	*pkt = (drpc__packet) {fr->stream_id, a->message_id, a->body.data,
	    a->body.len, a->kind, a->control};
	*complete = true;
	return DRPC_OK;
}

static bool
packet_is_split(unsigned kind)
{
	return kind == DRPC__KIND_INVOKE || kind == DRPC__KIND_MESSAGE ||
	    kind == DRPC__KIND_INVOKE_METADATA;
}

size_t
drpc__packet_frames(unsigned kind, size_t len, size_t split)
{
	if (split == 0) {
		split = DRPC__DEFAULT_SPLIT_SIZE;
	}
	if (!packet_is_split(kind) || len == 0) {
		return 1;
	}
	return len / split + (len % split != 0);
}

drpc_err
drpc__packet_append(drpc__buf *b, const drpc__packet *pkt, size_t split)
{
	size_t   frames = drpc__packet_frames(pkt->kind, pkt->len, split);
	size_t   off    = 0;
	drpc_err rv;

	if (split == 0) {
		split = DRPC__DEFAULT_SPLIT_SIZE;
	}
	rv = drpc__buf_reserve(b, pkt->len + frames * DRPC__FRAME_HEADER_MAX);
	if (rv != DRPC_OK) {
		return rv;
	}
	for (size_t i = 0; i < frames; i++) {
		size_t      n  = frames == 1 ? pkt->len : pkt->len - off;
		drpc__frame fr = {
		    .stream_id  = pkt->stream_id,
		    .message_id = pkt->message_id,
		    .kind       = pkt->kind,
		    .control    = pkt->control,
		    .done       = i + 1 == frames,
		};

		if (frames > 1 && n > split) {
			n = split;
		}
		fr.data = off == 0 ? pkt->data : pkt->data + off;
		fr.len  = n;
		if ((rv = drpc__frame_append(b, &fr)) != DRPC_OK) {
			return rv;
		}
		off += n;
	}
	return DRPC_OK;
}
