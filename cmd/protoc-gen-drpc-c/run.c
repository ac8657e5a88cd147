// One run of the plugin: CodeGeneratorRequest bytes in, response bytes
// out. Every problem with the input, down to bytes that do not parse,
// becomes the response's error field, which protoc prints; the plugin
// itself never fails on input.
#include <stdlib.h>
#include <string.h>

#include "cg.h"

// Field numbers the depth check follows: CodeGeneratorRequest.proto_file,
// FileDescriptorProto.message_type, DescriptorProto.nested_type.
#define REQ_PROTO_FILE   15
#define FILE_MESSAGE     4
#define MESSAGE_NESTED   3
#define MAX_NESTING      100
#define FEATURE_OPTIONAL 1 // CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL

// Unpacking with an allocator that records failure, so that a NULL result
// says "out of memory" or "malformed" rightly (as lib/pb does).
typedef struct run_alloc {
	bool failed;
} run_alloc;

static void *
run_malloc(void *data, size_t size)
{
	void *p = malloc(size);

	if (p == NULL) {
		((run_alloc *) data)->failed = true;
	}
	return p;
}

static void
run_free(void *data, void *p)
{
	(void) data;
	free(p);
}

static bool
wire_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64 && *pos < len; shift += 7) {
		uint8_t c = p[(*pos)++];

		*v |= (uint64_t) (c & 0x7f) << shift;
		if (c < 0x80) {
			return true;
		}
	}
	return false;
}

// too_deep walks a message's bytes and reports whether nested message
// declarations (the one recursion in descriptor.proto) go deeper than
// MAX_NESTING: protobuf-c unpacks recursively, and a few hundred thousand
// levels would overflow the stack. level is 0 for the request, 1 for a
// file, 2 and more for messages; each follows the one field that leads a
// level down. Bytes that do not parse are left for protobuf-c to reject.
static bool
too_deep(const uint8_t *p, size_t len, int level)
{
	size_t pos = 0;

	if (level > MAX_NESTING + 2) {
		return true;
	}
	while (pos < len) {
		uint64_t tag;
		uint64_t v;

		if (!wire_varint(p, len, &pos, &tag)) {
			return false;
		}
		switch (tag & 7) {
		case 0:
			if (!wire_varint(p, len, &pos, &v)) {
				return false;
			}
			continue;
		case 1:
			v = 8;
			break;
		case 5:
			v = 4;
			break;
		case 2:
			if (!wire_varint(p, len, &pos, &v)) {
				return false;
			}
			break;
		default:
			return false;
		}
		if (v > len - pos) {
			return false;
		}
		if ((tag & 7) == 2 &&
		    tag >> 3 == (level == 0      ? REQ_PROTO_FILE
		                    : level == 1 ? FILE_MESSAGE
		                                 : MESSAGE_NESTED) &&
		    too_deep(p + pos, (size_t) v, level + 1)) {
			return true;
		}
		pos += (size_t) v;
	}
	return false;
}

// mut copies s into the arena as the char * protobuf-c's structs want.
static char *
mut(cg_arena *a, const char *s)
{
	size_t n = strlen(s);
	char  *p = cg_alloc(a, n + 1, 1);

	if (p != NULL) {
		memcpy(p, s, n);
	}
	return p;
}

typedef Google__Protobuf__Compiler__CodeGeneratorResponse__File resp_file;

// add_file appends a generated file to the response's list.
static void
add_file(
    cg_model *m, resp_file **files, size_t *n, const char *name, cg_buf *text)
{
	resp_file *f = cg_alloc(&m->arena, 1, sizeof(*f));
	size_t     len;
	char      *content = cg_buf_take(text, &len);

	if (f == NULL || content == NULL) {
		free(content);
		m->arena.failed = true;
		return;
	}
	google__protobuf__compiler__code_generator_response__file__init(f);
	f->name       = mut(&m->arena, name);
	f->content    = content;
	files[(*n)++] = f;
}

// generate writes the files of one file_to_generate.
static bool
generate(cg_model *m, const char *name, resp_file **files, size_t *n)
{
	const cg_file *f = cg_model_find_file(m, name);
	cg_unit        u;
	cg_buf         h = {0};
	cg_buf         c = {0};

	if (f == NULL) {
		return cg_fail(
		    m, "%s: to be generated, but not in the request", name);
	}
	if (!cg_unit_build(m, f, &u) || u.n_services == 0) {
		return m->err == NULL;
	}
	cg_emit_header(&h, &m->arena, &u);
	cg_emit_source(&c, &m->arena, &u);
	add_file(m, files, n, cg_sprintf(&m->arena, "%s.drpc.h", u.base), &h);
	add_file(m, files, n, cg_sprintf(&m->arena, "%s.drpc.c", u.base), &c);
	cg_buf_fini(&h);
	cg_buf_fini(&c);
	return !m->arena.failed;
}

// serve fills resp from req, or sets m->err.
static void
serve(cg_model *m, const Google__Protobuf__Compiler__CodeGeneratorRequest *req,
    Google__Protobuf__Compiler__CodeGeneratorResponse *resp)
{
	resp_file **files;
	size_t      n = 0;

	if (req->parameter != NULL && req->parameter[0] != '\0') {
		cg_fail(m, "protoc-gen-drpc-c takes no options (got \"%s\")",
		    req->parameter);
		return;
	}
	if (!cg_model_load(m, req->proto_file, req->n_proto_file)) {
		return;
	}
	files =
	    cg_alloc(&m->arena, req->n_file_to_generate, 2 * sizeof(*files));
	if (files == NULL) {
		return;
	}
	for (size_t i = 0; i < req->n_file_to_generate; i++) {
		if (req->file_to_generate[i] == NULL ||
		    !generate(m, req->file_to_generate[i], files, &n)) {
			break;
		}
	}
	resp->file   = files;
	resp->n_file = n;
}

// pack packs resp into *out.
static bool
pack(const Google__Protobuf__Compiler__CodeGeneratorResponse *resp,
    uint8_t **out, size_t *out_len)
{
	size_t n =
	    google__protobuf__compiler__code_generator_response__get_packed_size(
	        resp);

	if ((*out = malloc(n > 0 ? n : 1)) == NULL) {
		return false;
	}
	*out_len = google__protobuf__compiler__code_generator_response__pack(
	    resp, *out);
	return true;
}

static void
free_contents(Google__Protobuf__Compiler__CodeGeneratorResponse *resp)
{
	for (size_t i = 0; i < resp->n_file; i++) {
		free(resp->file[i]->content);
	}
}

bool
cg_run(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	Google__Protobuf__Compiler__CodeGeneratorResponse resp =
	    GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
	Google__Protobuf__Compiler__CodeGeneratorRequest *req = NULL;
	run_alloc                                         st  = {false};
	ProtobufCAllocator alloc = {run_malloc, run_free, &st};
	cg_model           m     = {0};
	char               oom[] = "out of memory";
	bool               ok;

	if (too_deep(in, len, 0)) {
		cg_fail(&m, "the request nests messages more than %d deep",
		    MAX_NESTING);
	} else if (
	    (req = google__protobuf__compiler__code_generator_request__unpack(
	         &alloc, len, in)) == NULL) {
		cg_fail(&m, st.failed
		                ? "out of memory"
		                : "cannot parse the CodeGeneratorRequest");
	} else {
		serve(&m, req, &resp);
	}
	if (m.arena.failed) {
		m.err = "out of memory";
	}
	if (m.err != NULL) {
		free_contents(&resp);
		resp.n_file = 0;
		resp.error  = mut(&m.arena, m.err);
		if (resp.error == NULL) {
			resp.error = oom;
		}
	}
	resp.has_supported_features = true;
	resp.supported_features     = FEATURE_OPTIONAL;
	ok                          = pack(&resp, out, out_len);
	free_contents(&resp);
	if (req != NULL) {
		google__protobuf__compiler__code_generator_request__free_unpacked(
		    req, &alloc);
	}
	cg_arena_fini(&m.arena);
	return ok;
}
