// Every golden transcript recorded from Go DRPC (../shared/interop/
// transcripts) parses frame by frame into exactly the frames its .seq lists
// and the packets its .txt annotates, whatever the read sizes, and
// re-encoding the parsed frames reproduces the .bin byte for byte.
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memsrc.h"
#include "suites.h"
#include "testutil.h"
#include "wire/errbody.h"
#include "wire/metadata.h"
#include "wire/packet.h"
#include "wire/reader.h"
#include "wire/varint.h"

#define MAX_FRAMES  64
#define MAX_STREAMS 16

typedef struct tframe {
	size_t   off;
	size_t   len;
	char     kind[32];
	uint64_t sid;
	uint64_t mid;
	int      done;
	char     decoded[512]; // the .txt's "decoded:" text; "" if none
} tframe;

typedef struct tdir {
	tframe frames[MAX_FRAMES];
	size_t n;
} tdir;

static void
load_seq(const char *name, tdir *c, tdir *s)
{
	char  path[1024];
	char  rel[512];
	char  line[256];
	FILE *f;

	snprintf(rel, sizeof(rel), "interop/transcripts/%s.seq", name);
	f = fopen(tu_shared_path(path, sizeof(path), rel), "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		tframe t = {0};
		char   dir;

		if (line[0] == '#' || strstr(line, "EOF") != NULL) {
			continue;
		}
		ck_assert_int_eq(sscanf(line, "%c %zu %zu %31s %" SCNu64
		    " %" SCNu64 " %d", &dir, &t.off, &t.len, t.kind, &t.sid,
		    &t.mid, &t.done), 7);
		tdir *d = dir == 'C' ? c : s;
		ck_assert_uint_lt(d->n, MAX_FRAMES);
		d->frames[d->n++] = t;
	}
	fclose(f);
}

static tframe *
find_frame(tdir *d, size_t off)
{
	for (size_t i = 0; i < d->n; i++) {
		if (d->frames[i].off == off) {
			return &d->frames[i];
		}
	}
	return NULL;
}

// load_decoded attaches each "decoded:" line of the .txt to its frame.
static void
load_decoded(const char *name, tdir *c, tdir *s)
{
	char    path[1024];
	char    rel[512];
	char    line[1024];
	tframe *cur = NULL;
	FILE   *f;

	snprintf(rel, sizeof(rel), "interop/transcripts/%s.txt", name);
	f = fopen(tu_shared_path(path, sizeof(path), rel), "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		char  *dec = strstr(line, "decoded: ");
		size_t off;
		char   dir;
		int    num;

		if ((line[0] == 'C' || line[0] == 'S') &&
		    sscanf(line, "%c%d off=%zu", &dir, &num, &off) == 3) {
			cur = find_frame(dir == 'C' ? c : s, off);
			ck_assert_msg(cur != NULL, "%s: no frame at %zu", name,
			    off);
		} else if (dec != NULL && cur != NULL) {
			dec += strlen("decoded: ");
			dec[strcspn(dec, "\n")] = '\0';
			snprintf(cur->decoded, sizeof(cur->decoded), "%s", dec);
			cur = NULL;
		}
	}
	fclose(f);
}

// unquote reads a Go-quoted string starting after the opening quote;
// returns its length and advances *p past the closing quote.
static size_t
unquote(const char **p, char *out, size_t cap)
{
	size_t n = 0;

	while (**p != '"' && **p != '\0') {
		char ch = *(*p)++;

		if (ch == '\\') {
			ch = *(*p)++;
			ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch;
		}
		ck_assert_uint_lt(n, cap);
		out[n++] = ch;
	}
	ck_assert_int_eq(**p, '"');
	(*p)++;
	return n;
}

static void
check_msg_payload(const drpc__packet *pkt, const char *dec)
{
	size_t n;
	int    pos = 0;

	ck_assert_int_eq(sscanf(dec, "Msg{payload: %zu bytes%n", &n, &pos), 1);
	ck_assert_uint_ge(pkt->len, 2);
	ck_assert_uint_eq(pkt->data[0], 0x0a);
	ck_assert_uint_eq(pkt->len, 1 + drpc__varint_size(n) + n);
	const uint8_t *payload = pkt->data + pkt->len - n;
	if (strncmp(dec + pos, ", pattern i%251", 15) == 0) {
		for (size_t i = 0; i < n; i++) {
			ck_assert_uint_eq(payload[i], i % 251);
		}
		return;
	}
	const char *q = strchr(dec + pos, '"');
	char        text[256];
	if (q == NULL) {
		// Short binary payloads are annotated as hex pairs.
		uint8_t bytes[64];
		snprintf(text, sizeof(text), "%s", dec + pos);
		text[strcspn(text, "}")] = '\0';
		ck_assert_uint_eq(tu_hex(text, bytes, sizeof(bytes)), n);
		ck_assert_mem_eq(payload, bytes, n);
		return;
	}
	q++;
	ck_assert_uint_eq(unquote(&q, text, sizeof(text)), n);
	ck_assert_mem_eq(payload, text, n);
}

static void
check_error(const drpc__packet *pkt, const char *dec)
{
	uint64_t       want;
	uint64_t       code;
	const uint8_t *msg;
	size_t         msg_len;
	char           text[256];
	const char    *q = strstr(dec, "message=\"");

	ck_assert_int_eq(sscanf(dec, "error code=%" SCNu64, &want), 1);
	ck_assert(drpc__errbody_parse(pkt->data, pkt->len, &code, &msg,
	    &msg_len));
	ck_assert_uint_eq(code, want);
	ck_assert_ptr_nonnull(q);
	q += strlen("message=\"");
	ck_assert_uint_eq(unquote(&q, text, sizeof(text)), msg_len);
	ck_assert_mem_eq(msg, text, msg_len);
}

static void
check_metadata(const drpc__packet *pkt, const char *dec)
{
	const char *p = strchr(dec, ':') + 1;
	drpc__md    md;
	size_t      pairs = 0;

	DRPC_CHECK_OK(drpc__md_decode(pkt->data, pkt->len, &md));
	while ((p = strchr(p, '"')) != NULL) {
		char   key[128];
		char   val[128];
		size_t klen;
		size_t vlen;

		p++;
		klen = unquote(&p, key, sizeof(key));
		ck_assert_int_eq(*p++, '=');
		ck_assert_int_eq(*p++, '"');
		vlen = unquote(&p, val, sizeof(val));
		const drpc__md_entry *e = drpc__md_get(&md, key, klen);
		ck_assert_ptr_nonnull(e);
		ck_assert_uint_eq(e->val_len, vlen);
		ck_assert(vlen == 0 || memcmp(e->val, val, vlen) == 0);
		pairs++;
	}
	ck_assert_uint_eq(md.n, pairs);
	drpc__md_fini(&md);
}

// check_packet compares a reassembled packet with the .txt's decoding.
static void
check_packet(const drpc__packet *pkt, const tframe *t)
{
	const char *dec = t->decoded;

	if (strncmp(dec, "rpc name \"", 10) == 0) {
		const char *q = dec + 10;
		char        name[128];
		size_t      n = unquote(&q, name, sizeof(name));

		ck_assert_uint_eq(pkt->kind, DRPC__KIND_INVOKE);
		ck_assert_uint_eq(pkt->len, n);
		ck_assert_mem_eq(pkt->data, name, n);
	} else if (strcmp(dec, "(no body)") == 0 ||
	    strncmp(dec, "Msg{} ", 6) == 0) {
		ck_assert_uint_eq(pkt->len, 0);
	} else if (strncmp(dec, "Msg{payload", 11) == 0) {
		check_msg_payload(pkt, dec);
	} else if (strncmp(dec, "error code=", 11) == 0) {
		ck_assert_uint_eq(pkt->kind, DRPC__KIND_ERROR);
		check_error(pkt, dec);
	} else if (strncmp(dec, "metadata", 8) == 0) {
		ck_assert_uint_eq(pkt->kind, DRPC__KIND_INVOKE_METADATA);
		check_metadata(pkt, dec);
	} else {
		// StreamRequest, FailRequest, SleepRequest: a request body.
		ck_assert_msg(strchr(dec, '{') != NULL, "unknown annotation %s",
		    dec);
		ck_assert_uint_eq(pkt->kind, DRPC__KIND_MESSAGE);
		ck_assert_uint_gt(pkt->len, 0);
	}
}

typedef struct stream_asm {
	uint64_t  sid;
	drpc__asm a;
} stream_asm;

static drpc__asm *
asm_for(stream_asm *tab, size_t *n, uint64_t sid)
{
	for (size_t i = 0; i < *n; i++) {
		if (tab[i].sid == sid) {
			return &tab[i].a;
		}
	}
	ck_assert_uint_lt(*n, MAX_STREAMS);
	tab[*n].sid = sid;
	drpc__asm_init(&tab[*n].a, 0);
	return &tab[(*n)++].a;
}

// replay parses one direction's .bin with the given read pattern.
static void
replay(const char *name, const char *dir, const tdir *want, size_t chunk,
    uint32_t seed)
{
	char               path[1024];
	char               rel[512];
	size_t             len;
	uint8_t           *bin;
	memsrc             m;
	drpc__frame_reader r;
	drpc__buf          re = {0};
	stream_asm         tab[MAX_STREAMS];
	size_t             ntab    = 0;
	size_t             packets = 0;

	snprintf(rel, sizeof(rel), "interop/transcripts/%s.%s.bin", name, dir);
	bin = tu_read_file(tu_shared_path(path, sizeof(path), rel), &len);
	m   = (memsrc) {bin, len, 0, chunk, seed, DRPC_OK, 0};
	drpc__frame_reader_init(&r, memsrc_read, &m, 0);
	for (size_t i = 0; i < want->n; i++) {
		const tframe *t = &want->frames[i];
		drpc__frame   fr;
		drpc__packet  pkt;
		bool          complete;
		size_t        off = (size_t) r.offset;

		DRPC_CHECK_OK(drpc__frame_reader_next(&r, &fr));
		ck_assert_msg(off == t->off, "%s.%s frame %zu: offset %zu, "
		    "want %zu", name, dir, i, off, t->off);
		ck_assert_uint_eq((size_t) r.offset - off, t->len);
		ck_assert_str_eq(drpc__kind_name(fr.kind), t->kind);
		ck_assert_uint_eq(fr.stream_id, t->sid);
		ck_assert_uint_eq(fr.message_id, t->mid);
		ck_assert_int_eq(fr.done, t->done);
		DRPC_CHECK_OK(drpc__frame_append(&re, &fr));
		DRPC_CHECK_OK(drpc__asm_add(asm_for(tab, &ntab, fr.stream_id),
		    &fr, &pkt, &complete));
		ck_assert_int_eq(complete, t->done);
		if (complete) {
			check_packet(&pkt, t);
			packets++;
		}
	}
	DRPC_CHECK_ERR(drpc__frame_reader_next(&r, &(drpc__frame) {0}),
	    DRPC_EOF);
	ck_assert_uint_eq(re.len, len);
	ck_assert_msg(len == 0 || memcmp(re.data, bin, len) == 0,
	    "%s.%s: re-encoding differs", name, dir);
	for (size_t i = 0; i < ntab; i++) {
		drpc__asm_fini(&tab[i].a);
	}
	drpc__frame_reader_fini(&r);
	drpc__buf_fini(&re);
	free(bin);
}

static void
check_scenario(const char *name)
{
	static const struct {
		size_t   chunk;
		uint32_t seed;
	} reads[] = {{0, 0}, {1, 0}, {2, 0}, {5, 0}, {4096, 0}, {100, 42},
	    {70000, 7}};
	tdir *c = calloc(1, sizeof(*c));
	tdir *s = calloc(1, sizeof(*s));

	ck_assert(c != NULL && s != NULL);
	load_seq(name, c, s);
	load_decoded(name, c, s);
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		replay(name, "client", c, reads[i].chunk, reads[i].seed);
		replay(name, "server", s, reads[i].chunk, reads[i].seed);
	}
	free(c);
	free(s);
}

START_TEST(test_transcripts_all)
{
	char           dirpath[512];
	DIR           *d;
	struct dirent *e;
	size_t         count = 0;

	d = opendir(tu_shared_path(dirpath, sizeof(dirpath),
	    "interop/transcripts"));
	ck_assert_msg(d != NULL, "cannot open %s", dirpath);
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char   name[256];

		if (n < 5 || strcmp(e->d_name + n - 4, ".seq") != 0) {
			continue;
		}
		snprintf(name, sizeof(name), "%.*s", (int) (n - 4), e->d_name);
		check_scenario(name);
		count++;
	}
	closedir(d);
	ck_assert_uint_ge(count, 16);
}
END_TEST

TU_SUITE(transcript,
    TU_TEST("golden", test_transcripts_all, .timeout = 60))
