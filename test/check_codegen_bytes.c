// The reflection data protoc-gen-drpc-c writes (docs/codegen.md,
// "Reflection data"): descriptors as string literals, every byte value
// round-tripping through the generator's escapes and the compiler (the
// build compiles test/proto/edge_bytes.proto's code with -std=c11, which
// replaces trigraphs, and -Wpedantic -Werror), a descriptor too long for
// one literal in hex, and the literals laid out within 80 columns.
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>
#include <drpc/reflect.h>

#include "cg.h"
#include "edge_bytes.drpc.h"
#include "google/protobuf/compiler/plugin.pb-c.h"
#include "suites.h"
#include "tu_rows.h"

// raw_value is the (raw) option of edge_bytes.proto, written byte by
// byte here so that no escape of this file is under test: trigraph
// sequences, every byte value in order, then escapes followed by digits
// and NULs next to each other.
static size_t
raw_value(uint8_t *v)
{
	static const uint8_t head[] = {'?', '?', '=', '?', '?', '(', '?', '?',
	    '/', '?', '?', ')', '?', '?', '\'', '?', '?', '<', '?', '?', '!',
	    '?', '?', '>', '?', '?', '-', '?', '?', '?', '=', '?', '?', '?',
	    '='};
	static const uint8_t tail[] = {0x01, '0', 0x01, '7', 0x01, 'a', 0x01,
	    'f', 0x00, '9', 0x00, 0x00, 'x', 0xff, '0', '\\', '0', '"', '0'};
	size_t               n      = 0;

	memcpy(v, head, sizeof(head));
	n += sizeof(head);
	for (int b = 0; b < 256; b++) {
		v[n++] = (uint8_t) b;
	}
	memcpy(v + n, tail, sizeof(tail));
	return n + sizeof(tail);
}

// holds says whether p (len bytes) holds v (n bytes) as a run.
static bool
holds(const uint8_t *p, size_t len, const uint8_t *v, size_t n)
{
	for (size_t i = 0; i + n <= len; i++) {
		if (memcmp(p + i, v, n) == 0) {
			return true;
		}
	}
	return false;
}

// check_unpacks checks that f's descriptor is a FileDescriptorProto named
// name that packs back to the same length.
static void
check_unpacks(const drpc_reflect_file *f, const char *name)
{
	Google__Protobuf__FileDescriptorProto *fd;

	fd = google__protobuf__file_descriptor_proto__unpack(
	    NULL, f->descriptor_len, f->descriptor);
	ck_assert_msg(fd != NULL, "%s: the descriptor does not parse", name);
	ck_assert_str_eq(fd->name, name);
	ck_assert_str_eq(f->name, name);
	ck_assert_uint_eq(
	    google__protobuf__file_descriptor_proto__get_packed_size(fd),
	    f->descriptor_len);
	google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
}

START_TEST(test_codegen_bytes_literal)
{
	const drpc_reflect_file *f = drpc_gen_edge_5fbytes_2eproto_reflect();
	uint8_t                  v[512];
	size_t                   n = raw_value(v);

	check_unpacks(f, "edge_bytes.proto");
	ck_assert_msg(holds(f->descriptor, f->descriptor_len, v, n),
	    "the (raw) option's %zu bytes did not come through", n);
	// descriptor.proto is longer than a literal may be: hex.
	ck_assert_uint_eq(f->n_deps, 1);
	ck_assert_uint_gt(f->deps[0]->descriptor_len, 4095);
	check_unpacks(f->deps[0], "google/protobuf/descriptor.proto");
}
END_TEST

// A request for s.proto (package pkg), which imports e.proto (no
// package, one message): e.proto's descriptor is short but mostly
// escapes; s.proto's ends wherever pkg's length puts it.
typedef struct two_files {
	Google__Protobuf__FileDescriptorProto            e;
	Google__Protobuf__FileDescriptorProto            s;
	Google__Protobuf__FileDescriptorProto           *files[2];
	Google__Protobuf__DescriptorProto                msg;
	Google__Protobuf__DescriptorProto               *msgs[1];
	Google__Protobuf__ServiceDescriptorProto         svc;
	Google__Protobuf__ServiceDescriptorProto        *svcs[1];
	Google__Protobuf__MethodDescriptorProto          meth;
	Google__Protobuf__MethodDescriptorProto         *meths[1];
	char                                            *deps[1];
	char                                            *gen[1];
	Google__Protobuf__Compiler__CodeGeneratorRequest req;
} two_files;

static void
two_files_init(two_files *t, char *pkg)
{
	memset(t, 0, sizeof(*t));
	google__protobuf__file_descriptor_proto__init(&t->e);
	google__protobuf__file_descriptor_proto__init(&t->s);
	google__protobuf__descriptor_proto__init(&t->msg);
	google__protobuf__service_descriptor_proto__init(&t->svc);
	google__protobuf__method_descriptor_proto__init(&t->meth);
	t->msg.name         = (char *) (uintptr_t) "E";
	t->msgs[0]          = &t->msg;
	t->e.name           = (char *) (uintptr_t) "e.proto";
	t->e.syntax         = (char *) (uintptr_t) "proto3";
	t->e.n_message_type = 1;
	t->e.message_type   = t->msgs;
	t->meth.name        = (char *) (uintptr_t) "G";
	t->meth.input_type  = (char *) (uintptr_t) ".E";
	t->meth.output_type = (char *) (uintptr_t) ".E";
	t->meths[0]         = &t->meth;
	t->svc.name         = (char *) (uintptr_t) "S";
	t->svc.n_method     = 1;
	t->svc.method       = t->meths;
	t->svcs[0]          = &t->svc;
	t->deps[0]          = (char *) (uintptr_t) "e.proto";
	t->s.name           = (char *) (uintptr_t) "s.proto";
	t->s.package        = pkg;
	t->s.syntax         = (char *) (uintptr_t) "proto3";
	t->s.n_dependency   = 1;
	t->s.dependency     = t->deps;
	t->s.n_service      = 1;
	t->s.service        = t->svcs;
	t->files[0]         = &t->e; // imports first, as protoc lists them
	t->files[1]         = &t->s;
	t->gen[0]           = (char *) (uintptr_t) "s.proto";
	t->req              = (Google__Protobuf__Compiler__CodeGeneratorRequest)
	    GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_REQUEST__INIT;
	t->req.n_file_to_generate = 1;
	t->req.file_to_generate   = t->gen;
	t->req.n_proto_file       = 2;
	t->req.proto_file         = t->files;
}

// run runs the generator on t's request and returns s.drpc.c (free it).
static char *
run(two_files *t)
{
	size_t                                             len;
	uint8_t                                           *in;
	uint8_t                                           *out;
	size_t                                             out_len;
	char                                              *c;
	Google__Protobuf__Compiler__CodeGeneratorResponse *resp;

	len =
	    google__protobuf__compiler__code_generator_request__get_packed_size(
	        &t->req);
	ck_assert_ptr_nonnull(in = malloc(len));
	google__protobuf__compiler__code_generator_request__pack(&t->req, in);
	ck_assert(cg_run(in, len, &out, &out_len));
	free(in);
	resp = google__protobuf__compiler__code_generator_response__unpack(
	    NULL, out_len, out);
	free(out);
	ck_assert_ptr_nonnull(resp);
	ck_assert_msg(resp->error == NULL, "%s", resp->error);
	ck_assert_uint_eq(resp->n_file, 2);
	ck_assert_str_eq(resp->file[1]->name, "s.drpc.c");
	ck_assert_ptr_nonnull(c = strdup(resp->file[1]->content));
	google__protobuf__compiler__code_generator_response__free_unpacked(
	    resp, NULL);
	return c;
}

// check_width checks that no line of text is wider than 80 columns, a
// tab counting to the next multiple of 8 (what: the name it was made
// with).
static void
check_width(const char *what, const char *text)
{
	size_t      line  = 1;
	size_t      col   = 0;
	const char *start = text;

	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\n') {
			line++;
			col   = 0;
			start = p + 1;
			continue;
		}
		col = *p == '\t' ? (col / 8 + 1) * 8 : col + 1;
		ck_assert_msg(col <= 80,
		    "%s: s.drpc.c:%zu is wider than 80 columns: %.90s", what,
		    line, start);
	}
}

// The generated code stays within 80 columns, as clang-format lays it
// out (`make codegen-format-check`), wherever the package's length (1 to
// 40) or the import's (1 to 49) puts the ends of lines: a descriptor whose
// bytes would fit on the declaration's line but whose escapes do not is broken
// over lines, a last literal line ends in `";` within the limit, a table's head
// breaks before "{" or its name, and a field's offsetof(...) inside its
// parentheses. (Longer names are laid out within the limit where they
// can be, but not always as clang-format would.)
START_TEST(test_codegen_bytes_width)
{
	char      pkg[41];
	char      dep[56];
	two_files t;

	for (size_t n = 1; n < sizeof(pkg); n++) {
		char *c;

		memset(pkg, 'a', n);
		pkg[n] = '\0';
		two_files_init(&t, pkg);
		c = run(&t);
		ck_assert_ptr_nonnull(strstr(c, "reflect_desc_0[] =\n    \""));
		check_width(pkg, c);
		free(c);
	}
	// The import's name (in both descriptors) moves where they end.
	for (size_t n = 1; n + strlen(".proto") < sizeof(dep); n++) {
		char *c;

		memset(dep, 'e', n);
		strcpy(dep + n, ".proto");
		two_files_init(&t, (char *) (uintptr_t) "p");
		t.e.name  = dep;
		t.deps[0] = dep;
		c         = run(&t);
		check_width(dep, c);
		free(c);
	}
}
END_TEST

TU_ROWS(codegen_bytes_tests, TU_TEST("bytes", test_codegen_bytes_literal),
    TU_TEST("bytes", test_codegen_bytes_width))
