// Fuzz harness for the wire layer: frame parsing through the buffered
// reader, per-stream packet assembly, error bodies and metadata decoding.
// Invariants checked beyond "no crash, no leak": every parsed frame
// re-encodes to bytes that parse back to the same frame, and a decoded
// metadata map re-encodes to a body that decodes to the same map.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "wire/errbody.h"
#include "wire/metadata.h"
#include "wire/packet.h"
#include "wire/reader.h"

#define FUZZ_STREAMS 8
#define FUZZ_MAX     ((size_t) 1 << 20)

typedef struct src {
	const uint8_t *data;
	size_t         len;
	size_t         pos;
	size_t         chunk;
} src;

static drpc_err
src_read(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	src   *s    = arg;
	size_t want = s->len - s->pos;

	if (want > s->chunk) {
		want = s->chunk;
	}
	if (want > cap) {
		want = cap;
	}
	memcpy(buf, s->data + s->pos, want);
	s->pos += want;
	*n = want;
	return DRPC_OK;
}

static void
fuzz_check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "invariant broken: %s\n", what);
		abort();
	}
}

static void
fuzz_frame_roundtrip(const drpc__frame *fr)
{
	drpc__buf   b = {0};
	drpc__frame back;
	size_t      used;

	fuzz_check(drpc__frame_append(&b, fr) == DRPC_OK, "append");
	fuzz_check(drpc__frame_parse(b.data, b.len, FUZZ_MAX, &back, &used) ==
		DRPC_OK && used == b.len, "reparse");
	fuzz_check(back.kind == fr->kind && back.done == fr->done &&
		back.control == fr->control &&
		back.stream_id == fr->stream_id &&
		back.message_id == fr->message_id && back.len == fr->len &&
		(fr->len == 0 || memcmp(back.data, fr->data, fr->len) == 0),
	    "frame fields");
	drpc__buf_fini(&b);
}

static void
fuzz_metadata(const uint8_t *body, size_t len)
{
	drpc__md  md;
	drpc__md  back;
	drpc__buf b = {0};

	if (drpc__md_decode(body, len, &md) != DRPC_OK) {
		return;
	}
	fuzz_check(drpc__md_append(&b, md.entries, md.n) == DRPC_OK, "md enc");
	fuzz_check(drpc__md_decode(b.data, b.len, &back) == DRPC_OK, "md dec");
	fuzz_check(back.n == md.n, "md count");
	for (size_t i = 0; i < md.n; i++) {
		const drpc__md_entry *e = &md.entries[i];
		const drpc__md_entry *f = drpc__md_get(&back, e->key, e->key_len);

		fuzz_check(f != NULL && f->val_len == e->val_len &&
			(e->val_len == 0 ||
			    memcmp(f->val, e->val, e->val_len) == 0),
		    "md entry");
	}
	drpc__md_fini(&back);
	drpc__md_fini(&md);
	drpc__buf_fini(&b);
}

static void
fuzz_packet(const drpc__packet *pkt)
{
	uint64_t       code;
	const uint8_t *msg;
	size_t         msg_len;

	if (pkt->kind == DRPC__KIND_INVOKE_METADATA) {
		fuzz_metadata(pkt->data, pkt->len);
	} else if (pkt->kind == DRPC__KIND_ERROR) {
		(void) drpc__errbody_parse(
		    pkt->data, pkt->len, &code, &msg, &msg_len);
	}
}

void
fuzz_wire_input(const uint8_t *data, size_t size)
{
	src                s = {data, size, 0, 1};
	drpc__frame_reader r;
	drpc__asm          asms[FUZZ_STREAMS];
	drpc_err           bad[FUZZ_STREAMS] = {DRPC_OK};
	drpc__frame        fr;

	// The first byte picks the read size, so splits are explored too.
	if (size > 0) {
		s.chunk = (size_t) data[0] * 97 + 1;
	}
	fuzz_metadata(data, size);
	for (size_t i = 0; i < FUZZ_STREAMS; i++) {
		drpc__asm_init(&asms[i], FUZZ_MAX);
	}
	drpc__frame_reader_init(&r, src_read, &s, FUZZ_MAX);
	while (drpc__frame_reader_next(&r, &fr) == DRPC_OK) {
		size_t       k = (size_t) (fr.stream_id % FUZZ_STREAMS);
		drpc__packet pkt;
		bool         complete;

		fuzz_frame_roundtrip(&fr);
		if (bad[k] != DRPC_OK) {
			continue; // an assembler is dead after an error
		}
		bad[k] = drpc__asm_add(&asms[k], &fr, &pkt, &complete);
		if (bad[k] == DRPC_OK && complete) {
			fuzz_packet(&pkt);
		}
	}
	drpc__frame_reader_fini(&r);
	for (size_t i = 0; i < FUZZ_STREAMS; i++) {
		drpc__asm_fini(&asms[i]);
	}
}
