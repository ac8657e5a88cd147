#include <string.h>

#include "common/cause.h"
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

void
drpc__asm_trim(drpc__asm *a)
{
	if (!a->in_progress) {
		drpc__buf_fini(&a->body);
	}
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

// asm_backwards explains a message id below the lowest one acceptable:
// the last id seen is the packet's in progress, or the last completed.
static drpc_err
asm_backwards(const drpc__asm *a, const drpc__frame *fr)
{
	uint64_t last = a->expect - 1;

	if (a->exhausted) {
		last = UINT64_MAX;
	} else if (a->in_progress) {
		last = a->message_id;
	}
	if (last == 0) {
		return drpc__cause_set(a->why, DRPC_EPROTO,
		    "message id 0 on stream %llu (message ids start at 1)",
		    (unsigned long long) fr->stream_id);
	}
	return drpc__cause_set(a->why, DRPC_EPROTO,
	    "message id went backwards on stream %llu (%llu after %llu)",
	    (unsigned long long) fr->stream_id,
	    (unsigned long long) fr->message_id, (unsigned long long) last);
}

// asm_too_big explains a packet (or frame: what) of n bytes or more over
// the maximum.
static drpc_err
asm_too_big(
    const drpc__asm *a, const drpc__frame *fr, const char *what, size_t n)
{
	return drpc__cause_set(a->why, DRPC_ETOOBIG,
	    "%s of %zu bytes on stream %llu exceeds the %zu-byte maximum", what,
	    n, (unsigned long long) fr->stream_id, a->max_size);
}

drpc_err
drpc__asm_add(
    drpc__asm *a, const drpc__frame *fr, drpc__packet *pkt, bool *complete)
{
	drpc_err rv;

	*complete = false;
	if (a->exhausted || fr->message_id < a->expect) {
		return asm_backwards(a, fr);
	}
	if (fr->len > a->max_size) {
		return asm_too_big(a, fr, "frame", fr->len);
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
		return drpc__cause_set(a->why, DRPC_EPROTO,
		    "kind change inside a packet on stream %llu (a %s frame "
		    "in %s packet %llu)",
		    (unsigned long long) fr->stream_id,
		    drpc__kind_name(fr->kind), drpc__kind_name(a->kind),
		    (unsigned long long) a->message_id);
	}
	if (fr->len > a->max_size - a->body.len) {
		return asm_too_big(a, fr, "packet",
		    fr->len > SIZE_MAX - a->body.len ? SIZE_MAX
						     : a->body.len + fr->len);
	}
	if ((rv = drpc__buf_append(&a->body, fr->data, fr->len)) != DRPC_OK) {
		return drpc__cause_set(a->why, rv,
		    "out of memory assembling a packet on stream %llu",
		    (unsigned long long) fr->stream_id);
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
