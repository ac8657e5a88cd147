// The decoder of drpc-dump and `drpc dump` (dump.h): a recorded DRPC byte
// stream (one direction of one connection) into a list of frames and the
// packets they reassemble into. docs/protocol.md describes the wire
// format; usage() lists the options.
//
// Design notes: every input is treated as one connection. Frames come from
// drpc__frame_reader and go to one drpc__asm per stream id, as in the
// multiplexed design (docs/protocol.md §4), so frames of different streams
// may interleave. The assemblers live in an open-addressing hash table, so
// an input with very many stream ids still costs linear time. The first
// error ends the input, as it would end a connection.

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <drpc/error.h>

#include "dump.h"
#include "wire/errbody.h"
#include "wire/frame.h"
#include "wire/metadata.h"
#include "wire/packet.h"
#include "wire/reader.h"

// MAX_SIZE_LIMIT caps --max-size far above any sensible packet, so that the
// reader's size arithmetic (max_size plus a header) cannot overflow.
#define MAX_SIZE_LIMIT ((size_t) 1 << 30)

// A binary Message shows at most HEX_LIMIT bytes, HEX_LINE per line.
#define HEX_LIMIT 64
#define HEX_LINE  16

// KIND_LABEL_MAX holds "Unknown(63)" with room to spare.
#define KIND_LABEL_MAX 24

// DETAIL_MAX holds the explanation of an assembler error.
#define DETAIL_MAX 160

// Packet lines start under the frame's kind; body lines two columns deeper.
#define PACKET_INDENT "          "
#define BODY_INDENT   "            "

typedef struct dump_opts {
	const char *prog;        // "drpc-dump": starts every message
	size_t      max_size;    // largest frame and packet body accepted
	bool        frames_only; // print no packet lines
} dump_opts;

typedef struct stream_ent {
	uint64_t  id;
	bool      used;
	drpc__asm as;
} stream_ent;

// stream_tab maps a stream id to its assembler: open addressing with linear
// probing, never more than half full. cap is 0 or a power of two.
typedef struct stream_tab {
	stream_ent *ents;
	size_t      cap;
	size_t      n;
} stream_tab;

// dump_state is everything known about one input.
typedef struct dump_state {
	const dump_opts *opts;
	const char      *name; // for messages
	stream_tab       tab;
	uint64_t         frames;
	uint64_t         packets;
} dump_state;

typedef enum args_result {
	ARGS_RUN,
	ARGS_HELP,
	ARGS_BAD,
} args_result;

static void report(const dump_state *st, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s [options] [FILE...]\n", prog);
	fputs("Decode DRPC bytes into frames and reassembled packets.\n"
	      "With no FILE, or when FILE is -, read standard input.\n"
	      "\n"
	      "  --max-size N   largest frame or packet body, in bytes, with\n"
	      "                 an optional K, M or G suffix (default 4M)\n"
	      "  --frames-only  print the frames only, not the packets\n"
	      "  -h, --help     print this help and exit\n"
	      "\n"
	      "Exit status: 0 if all input decoded cleanly, 1 on malformed\n"
	      "input or an I/O error, 2 on a usage error.\n",
	    f);
}

// report prints one error line: program, input name, byte offset, message.
static void
report(const dump_state *st, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	// Flush first, so the error follows the lines that led to it.
	fflush(stdout);
	fprintf(stderr, "%s: %s: offset %" PRIu64 ": ", st->opts->prog,
	    st->name, off);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

// stream_hash mixes id (the splitmix64 finaliser), so that sequential or
// patterned ids spread over the whole table.
static size_t
stream_hash(uint64_t id)
{
	id ^= id >> 30;
	id *= UINT64_C(0xbf58476d1ce4e5b9);
	id ^= id >> 27;
	id *= UINT64_C(0x94d049bb133111eb);
	id ^= id >> 31;
	return (size_t) id;
}

// stream_slot returns the entry of id, or the free entry where it belongs.
// The table must have a free entry.
static stream_ent *
stream_slot(const stream_tab *t, uint64_t id)
{
	size_t mask = t->cap - 1;
	size_t i    = stream_hash(id) & mask;

	while (t->ents[i].used && t->ents[i].id != id) {
		i = (i + 1) & mask;
	}
	return &t->ents[i];
}

// stream_tab_grow doubles the table. On failure the table is unchanged.
static drpc_err
stream_tab_grow(stream_tab *t)
{
	stream_ent *old     = t->ents;
	size_t      old_cap = t->cap;
	size_t      cap     = old_cap == 0 ? 16 : old_cap * 2;

	if (old_cap > SIZE_MAX / 2 / sizeof(*old)) {
		return DRPC_ENOMEM;
	}
	if ((t->ents = calloc(cap, sizeof(*t->ents))) == NULL) {
		t->ents = old;
		return DRPC_ENOMEM;
	}
	t->cap = cap;
	// An assembler holds no pointer to itself, so it may move.
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].used) {
			*stream_slot(t, old[i].id) = old[i];
		}
	}
	free(old);
	return DRPC_OK;
}

// stream_tab_get finds the assembler of stream id, creating it on first
// use. The pointer is valid until the next call.
static drpc_err
stream_tab_get(stream_tab *t, uint64_t id, size_t max_size, drpc__asm **ap)
{
	stream_ent *e;
	drpc_err    rv;

	if (t->cap > 0 && (e = stream_slot(t, id))->used) {
		*ap = &e->as;
		return DRPC_OK;
	}
	if (t->n + 1 > t->cap / 2 && (rv = stream_tab_grow(t)) != DRPC_OK) {
		return rv;
	}
	e       = stream_slot(t, id);
	e->used = true;
	e->id   = id;
	drpc__asm_init(&e->as, max_size);
	t->n++;
	*ap = &e->as;
	return DRPC_OK;
}

static void
stream_tab_fini(stream_tab *t)
{
	for (size_t i = 0; i < t->cap; i++) {
		if (t->ents[i].used) {
			drpc__asm_fini(&t->ents[i].as);
		}
	}
	free(t->ents);
	memset(t, 0, sizeof(*t));
}

// kind_label names kind, adding the number for a kind we do not know.
static const char *
kind_label(unsigned kind, char *buf, size_t n)
{
	if (drpc__kind_is_known(kind)) {
		return drpc__kind_name(kind);
	}
	snprintf(buf, n, "%s(%u)", drpc__kind_name(kind), kind);
	return buf;
}

static bool
is_print(uint8_t c)
{
	return c >= 0x20 && c < 0x7f;
}

// is_text tells whether a body reads well as a quoted string.
static bool
is_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_print(p[i]) && p[i] != '\n' && p[i] != '\t') {
			return false;
		}
	}
	return true;
}

static void
print_escaped(uint8_t c)
{
	static const struct {
		uint8_t     c;
		const char *escape;
	} escapes[] = {
	    {'"', "\\\""},
	    {'\\', "\\\\"},
	    {'\n', "\\n"},
	    {'\t', "\\t"},
	    {'\r', "\\r"},
	};

	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		if (c == escapes[i].c) {
			fputs(escapes[i].escape, stdout);
			return;
		}
	}
	if (is_print(c)) {
		putchar(c);
	} else {
		printf("\\x%02x", c);
	}
}

// print_quoted prints n bytes as a C-style string literal.
static void
print_quoted(const uint8_t *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		print_escaped(p[i]);
	}
	putchar('"');
}

// print_hex_line prints the k (at most HEX_LINE) bytes at p, which start at
// offset off of the body, as hex and ASCII.
static void
print_hex_line(const uint8_t *p, size_t off, size_t k)
{
	printf(BODY_INDENT "%04zx ", off);
	for (size_t i = 0; i < HEX_LINE; i++) {
		if (i < k) {
			printf(" %02x", p[i]);
		} else {
			fputs("   ", stdout);
		}
	}
	fputs("  |", stdout);
	for (size_t i = 0; i < k; i++) {
		putchar(is_print(p[i]) ? p[i] : '.');
	}
	fputs("|\n", stdout);
}

// print_hex dumps the first HEX_LIMIT bytes of a body.
static void
print_hex(const uint8_t *p, size_t n)
{
	size_t shown = n < HEX_LIMIT ? n : HEX_LIMIT;

	for (size_t off = 0; off < shown; off += HEX_LINE) {
		size_t k = shown - off < HEX_LINE ? shown - off : HEX_LINE;

		print_hex_line(p + off, off, k);
	}
	if (n > shown) {
		printf(BODY_INDENT "... (%zu bytes)\n", n);
	}
}

static void
print_frame(uint64_t off, const drpc__frame *fr)
{
	char label[KIND_LABEL_MAX];

	printf("%8" PRIu64 "  frame  %-14s stream=%" PRIu64 " msg=%" PRIu64
	       " done=%d ctl=%d len=%zu\n",
	    off, kind_label(fr->kind, label, sizeof(label)), fr->stream_id,
	    fr->message_id, fr->done, fr->control, fr->len);
}

static void
print_invoke(const drpc__packet *pkt)
{
	fputs("rpc ", stdout);
	print_quoted(pkt->data, pkt->len);
	putchar('\n');
}

// print_message shows a Message body as text when it is printable ASCII,
// otherwise as hex.
static void
print_message(const drpc__packet *pkt)
{
	if (pkt->len == 0) {
		puts("(empty)");
	} else if (is_text(pkt->data, pkt->len)) {
		print_quoted(pkt->data, pkt->len);
		putchar('\n');
	} else {
		puts("binary:");
		print_hex(pkt->data, pkt->len);
	}
}

// print_error shows an Error body: code and text (docs/protocol.md §5.3).
static void
print_error(const drpc__packet *pkt)
{
	const uint8_t *msg;
	size_t         msg_len;
	uint64_t       code;

	if (drpc__errbody_parse(pkt->data, pkt->len, &code, &msg, &msg_len)) {
		printf("code %" PRIu64 " (0x%" PRIx64 ") ", code, code);
	} else {
		printf("invalid error body (shorter than %d bytes): ",
		    DRPC__ERRBODY_CODE_LEN);
	}
	print_quoted(msg, msg_len);
	putchar('\n');
}

// print_no_body shows Cancel, Close and CloseSend, whose body should be
// empty; a receiver ignores any bytes there.
static void
print_no_body(const drpc__packet *pkt)
{
	if (pkt->len == 0) {
		puts("(no body)");
	} else {
		printf("unexpected body of %zu bytes (ignored)\n", pkt->len);
	}
}

// print_metadata shows the decoded map of an InvokeMetadata packet, or why
// it did not decode (docs/protocol.md §5.5).
static void
print_metadata(const drpc__md *md, drpc_err rv)
{
	if (rv != DRPC_OK) {
		printf("metadata: %s\n", drpc_strerror(rv));
		return;
	}
	printf("metadata, %zu %s\n", md->n, md->n == 1 ? "entry" : "entries");
	for (size_t i = 0; i < md->n; i++) {
		fputs(BODY_INDENT, stdout);
		print_quoted(md->entries[i].key, md->entries[i].key_len);
		putchar('=');
		print_quoted(md->entries[i].val, md->entries[i].val_len);
		putchar('\n');
	}
}

// print_unknown applies the control-flag rule (docs/protocol.md §7).
static void
print_unknown(const drpc__packet *pkt)
{
	if (pkt->control) {
		puts("ignored (control flag)");
	} else {
		puts("protocol error: unknown kind without control flag");
	}
}

static void
print_body(const drpc__packet *pkt, const drpc__md *md, drpc_err rv)
{
	switch (pkt->kind) {
	case DRPC__KIND_INVOKE:
		print_invoke(pkt);
		return;
	case DRPC__KIND_MESSAGE:
		print_message(pkt);
		return;
	case DRPC__KIND_ERROR:
		print_error(pkt);
		return;
	case DRPC__KIND_CANCEL:
	case DRPC__KIND_CLOSE:
	case DRPC__KIND_CLOSE_SEND:
		print_no_body(pkt);
		return;
	case DRPC__KIND_INVOKE_METADATA:
		print_metadata(md, rv);
		return;
	default:
		print_unknown(pkt);
		return;
	}
}

static void
print_packet(const drpc__packet *pkt, const drpc__md *md, drpc_err rv)
{
	char label[KIND_LABEL_MAX];

	printf(PACKET_INDENT "packet %-14s stream=%" PRIu64 " msg=%" PRIu64
	                     " ctl=%d len=%zu  ",
	    kind_label(pkt->kind, label, sizeof(label)), pkt->stream_id,
	    pkt->message_id, pkt->control, pkt->len);
	print_body(pkt, md, rv);
}

// packet_check applies the rules a receiver enforces on a whole packet:
// metadata must decode (§5.5), an unknown kind needs the control flag (§7).
static drpc_err
packet_check(const drpc__packet *pkt, drpc__md *md)
{
	if (pkt->kind == DRPC__KIND_INVOKE_METADATA) {
		return drpc__md_decode(pkt->data, pkt->len, md);
	}
	if (!drpc__kind_is_known(pkt->kind) && !pkt->control) {
		return DRPC_EKIND;
	}
	return DRPC_OK;
}

// dump_packet checks and prints one completed packet; off is the offset of
// the frame that completed it.
static drpc_err
dump_packet(dump_state *st, uint64_t off, const drpc__packet *pkt)
{
	drpc__md md;
	drpc_err rv;

	memset(&md, 0, sizeof(md));
	st->packets++;
	rv = packet_check(pkt, &md);
	if (!st->opts->frames_only) {
		print_packet(pkt, &md, rv);
	}
	drpc__md_fini(&md);
	if (rv == DRPC_EKIND) {
		report(st, off,
		    "stream %" PRIu64 " message %" PRIu64 ": %s (kind %u)",
		    pkt->stream_id, pkt->message_id, drpc_strerror(rv),
		    (unsigned) pkt->kind);
	} else if (rv != DRPC_OK) {
		report(st, off, "stream %" PRIu64 " message %" PRIu64 ": %s",
		    pkt->stream_id, pkt->message_id, drpc_strerror(rv));
	}
	return rv;
}

// asm_detail explains why drpc__asm_add rejected fr, from a copy of the
// assembler's state taken before the call (docs/protocol.md §4).
static void
asm_detail(const drpc__asm *before, const drpc__frame *fr, drpc_err rv,
    char *buf, size_t n)
{
	char was[KIND_LABEL_MAX];
	char now[KIND_LABEL_MAX];

	buf[0] = '\0';
	if (rv == DRPC_ETOOBIG) {
		snprintf(buf, n, "packet body would exceed %zu bytes",
		    before->max_size);
	} else if (rv != DRPC_EPROTO) {
		return;
	} else if (before->exhausted) {
		snprintf(buf, n,
		    "message id %" PRIu64
		    " after the last possible one, %" PRIu64,
		    fr->message_id, UINT64_MAX);
	} else if (fr->message_id == 0) {
		snprintf(buf, n, "message id 0 (message ids start at 1)");
	} else if (fr->message_id < before->expect) {
		snprintf(buf, n,
		    "message id went backwards: %" PRIu64 ", expected %" PRIu64
		    " or higher",
		    fr->message_id, before->expect);
	} else {
		snprintf(buf, n,
		    "kind changed from %s to %s in message %" PRIu64,
		    kind_label(before->kind, was, sizeof(was)),
		    kind_label(fr->kind, now, sizeof(now)), fr->message_id);
	}
}

// dump_add_frame feeds fr, read at offset off, to its stream's assembler
// and dumps the packet it completes, if any.
static drpc_err
dump_add_frame(dump_state *st, uint64_t off, const drpc__frame *fr)
{
	drpc__asm   *a;
	drpc__asm    before;
	drpc__packet pkt;
	bool         complete;
	char         detail[DETAIL_MAX];
	drpc_err     rv;

	rv = stream_tab_get(&st->tab, fr->stream_id, st->opts->max_size, &a);
	if (rv != DRPC_OK) {
		report(st, off, "%s", drpc_strerror(rv));
		return rv;
	}
	before = *a;
	if ((rv = drpc__asm_add(a, fr, &pkt, &complete)) != DRPC_OK) {
		asm_detail(&before, fr, rv, detail, sizeof(detail));
		report(st, off, "stream %" PRIu64 ": %s%s%s", fr->stream_id,
		    drpc_strerror(rv), detail[0] != '\0' ? ": " : "", detail);
		return rv;
	}
	return complete ? dump_packet(st, off, &pkt) : DRPC_OK;
}

// report_read_error explains why the reader stopped at offset off.
static void
report_read_error(
    const dump_state *st, uint64_t off, drpc_err rv, int err, size_t max)
{
	if (rv == DRPC_EIO && err != 0) {
		report(st, off, "%s (%s)", drpc_strerror(rv), strerror(err));
	} else if (rv == DRPC_ETOOBIG) {
		report(st, off, "%s (frame body limit %zu bytes)",
		    drpc_strerror(rv), max);
	} else {
		report(st, off, "%s", drpc_strerror(rv));
	}
}

// dump_frames reads and dumps frames until the input ends (DRPC_EOF) or an
// error, which it reports.
static drpc_err
dump_frames(dump_state *st, drpc__frame_reader *r)
{
	drpc__frame fr;
	drpc_err    rv;

	for (;;) {
		// The reader's offset is that of the next unconsumed byte:
		// the start of the frame about to be read.
		uint64_t off = r->offset;
		int      err;

		errno = 0;
		rv    = drpc__frame_reader_next(r, &fr);
		err   = errno;
		if (rv == DRPC_EOF) {
			return rv;
		}
		if (rv != DRPC_OK) {
			report_read_error(st, off, rv, err, r->max_size);
			return rv;
		}
		st->frames++;
		print_frame(off, &fr);
		if ((rv = dump_add_frame(st, off, &fr)) != DRPC_OK) {
			return rv;
		}
	}
}

static const char *
plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void
print_summary(const dump_state *st, uint64_t bytes)
{
	printf("%s: %" PRIu64 " %s, %" PRIu64 " %s, %zu %s, %" PRIu64 " %s\n",
	    st->name, st->frames, plural(st->frames, "frame", "frames"),
	    st->packets, plural(st->packets, "packet", "packets"), st->tab.n,
	    plural(st->tab.n, "stream", "streams"), bytes,
	    plural(bytes, "byte", "bytes"));
}

// dump_fd dumps everything readable from fd. Returns the exit status.
static int
dump_fd(const dump_opts *o, const char *name, int fd)
{
	dump_state         st;
	drpc__frame_reader r;
	drpc_err           rv;

	memset(&st, 0, sizeof(st));
	st.opts = o;
	st.name = name;
	drpc__frame_reader_init(&r, drpc__read_fd, &fd, o->max_size);
	rv = dump_frames(&st, &r);
	if (rv == DRPC_EOF) {
		print_summary(&st, r.offset);
	}
	drpc__frame_reader_fini(&r);
	stream_tab_fini(&st.tab);
	return rv == DRPC_EOF ? 0 : 1;
}

// dump_path dumps the file at path, or standard input for "-".
static int
dump_path(const dump_opts *o, const char *path)
{
	int fd;
	int status;

	if (strcmp(path, "-") == 0) {
		return dump_fd(o, "<stdin>", STDIN_FILENO);
	}
	if ((fd = open(path, O_RDONLY)) < 0) {
		fflush(stdout);
		fprintf(stderr, "%s: %s: %s\n", o->prog, path, strerror(errno));
		return 1;
	}
	status = dump_fd(o, path, fd);
	close(fd);
	return status;
}

// parse_size reads a positive byte count with an optional K, M or G
// suffix, at most MAX_SIZE_LIMIT.
static bool
parse_size(const char *s, size_t *out)
{
	unsigned long long v;
	unsigned long long unit = 1;
	char              *end;

	if (*s < '0' || *s > '9') {
		return false; // strtoull would accept a sign or blanks
	}
	errno = 0;
	v     = strtoull(s, &end, 10);
	if (errno != 0) {
		return false;
	}
	if (*end == 'K' || *end == 'k') {
		unit = (unsigned long long) 1 << 10;
	} else if (*end == 'M' || *end == 'm') {
		unit = (unsigned long long) 1 << 20;
	} else if (*end == 'G' || *end == 'g') {
		unit = (unsigned long long) 1 << 30;
	}
	end += unit != 1;
	if (*end != '\0' || v == 0 || v > MAX_SIZE_LIMIT / unit) {
		return false;
	}
	*out = (size_t) (v * unit);
	return true;
}

static args_result
parse_max_size(const char *s, dump_opts *o)
{
	if (!parse_size(s, &o->max_size)) {
		fprintf(stderr,
		    "%s: invalid --max-size '%s': want 1 to %zu bytes\n",
		    o->prog, s, MAX_SIZE_LIMIT);
		return ARGS_BAD;
	}
	return ARGS_RUN;
}

// parse_option handles the option argv[*i], advancing *i past its value.
static args_result
parse_option(int argc, char **argv, int *i, dump_opts *o, bool *no_more)
{
	static const char max_eq[] = "--max-size=";
	const char       *a        = argv[*i];

	if (strcmp(a, "--") == 0) {
		*no_more = true;
		return ARGS_RUN;
	}
	if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
		return ARGS_HELP;
	}
	if (strcmp(a, "--frames-only") == 0) {
		o->frames_only = true;
		return ARGS_RUN;
	}
	if (strncmp(a, max_eq, sizeof(max_eq) - 1) == 0) {
		return parse_max_size(a + sizeof(max_eq) - 1, o);
	}
	if (strcmp(a, "--max-size") != 0) {
		fprintf(stderr, "%s: unknown option '%s'\n", o->prog, a);
		return ARGS_BAD;
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: option '--max-size' needs a value\n",
		    o->prog);
		return ARGS_BAD;
	}
	return parse_max_size(argv[++*i], o);
}

// parse_args reads the options into *o and moves the file names to
// argv[0 .. *nfiles). Options and names may come in any order; "--" ends
// the options.
static args_result
parse_args(int argc, char **argv, dump_opts *o, int *nfiles)
{
	bool        no_more = false;
	args_result res;

	o->max_size    = DRPC__DEFAULT_MAX_SIZE;
	o->frames_only = false;
	*nfiles        = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (no_more || a[0] != '-' || a[1] == '\0') {
			// *nfiles < i: only arguments already read move.
			argv[(*nfiles)++] = argv[i];
			continue;
		}
		if ((res = parse_option(argc, argv, &i, o, &no_more)) !=
		    ARGS_RUN) {
			return res;
		}
	}
	return ARGS_RUN;
}

// finish_output flushes standard output and turns a failed write into
// exit status 1.
static int
finish_output(const char *prog, int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "%s: write error: %s\n", prog, strerror(errno));
		return 1;
	}
	return status;
}

int
drpc_dump_main(const char *prog, int argc, char **argv)
{
	dump_opts o;
	int       nfiles;
	int       status = 0;

	o.prog = prog;
	switch (parse_args(argc, argv, &o, &nfiles)) {
	case ARGS_HELP:
		usage(stdout, prog);
		return finish_output(prog, 0);
	case ARGS_BAD:
		usage(stderr, prog);
		return 2;
	case ARGS_RUN:
		break;
	}
	if (nfiles == 0) {
		return finish_output(prog, dump_path(&o, "-"));
	}
	for (int i = 0; i < nfiles; i++) {
		if (nfiles > 1) {
			printf("%s==> %s <==\n", i > 0 ? "\n" : "", argv[i]);
		}
		if (dump_path(&o, argv[i]) != 0) {
			status = 1;
		}
	}
	return finish_output(prog, status);
}
