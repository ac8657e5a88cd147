// protoc-gen-drpc-c internals, shared by the generator's files and its
// tests (test/check_codegen.c). cg_run is the whole plugin minus stdin and
// stdout; the rest are its parts, one file per emitted construct:
//
//   buf.c      growable text buffer and the arena every string lives in
//   names.c    protobuf-c 1.4's naming scheme (CamelToLower and friends)
//   model.c    descriptors -> services, methods and every generated name
//   layout.c   line breaking and alignment as clang-format does it
//   header.c   NAME.drpc.h        source.c  NAME.drpc.c
//   client.c   client stubs       server.c  server struct, tables, register
//   reflect.c  the descriptors a reflection service serves
//   run.c      CodeGeneratorRequest in, CodeGeneratorResponse out
//
// Errors: the generator has one failure channel, a sticky message in the
// model (cg_fail); a request that cannot be served becomes the response's
// error field. Memory: strings come from an arena whose allocation failure
// is sticky too, so building a name never needs a check; the end of
// cg_run turns a failed arena into "out of memory".
//
// Thread safety: none needed; the plugin is single-threaded.
#ifndef DRPC_CMD_PROTOC_GEN_DRPC_C_CG_H
#define DRPC_CMD_PROTOC_GEN_DRPC_C_CG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/compiler/plugin.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"

// cg_run answers one request: in (len bytes, a packed
// CodeGeneratorRequest) -> *out (malloc'd, *out_len bytes, a packed
// CodeGeneratorResponse; the caller frees it). Every problem with the
// input becomes the response's error field; false only when not even that
// response could be built (out of memory).
bool cg_run(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

// Text buffers (buf.c). A failed allocation sets failed and drops the rest
// of the text; cg_buf_take reports it.
typedef struct cg_buf {
	char  *data; // NUL-terminated once anything was written
	size_t len;
	size_t cap;
	bool   failed;
} cg_buf;

void cg_buf_putn(cg_buf *b, const char *s, size_t n);
void cg_buf_puts(cg_buf *b, const char *s);
void cg_buf_putc(cg_buf *b, char c);
void cg_buf_printf(cg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// cg_buf_take hands over the text (malloc'd, NUL-terminated) and empties
// b; NULL if an allocation failed (b is emptied all the same).
char *cg_buf_take(cg_buf *b, size_t *len);
void  cg_buf_fini(cg_buf *b);

// The arena owns every string and table of one run (buf.c). Its string
// functions never return NULL: after a failed allocation they return ""
// and set failed, which cg_run checks at the end. cg_alloc returns zeroed
// memory or NULL (and sets failed).
typedef struct cg_arena {
	void **blocks;
	size_t n;
	size_t cap;
	bool   failed;
} cg_arena;

void       *cg_alloc(cg_arena *a, size_t n, size_t size);
const char *cg_strdup(cg_arena *a, const char *s);
const char *cg_strndup(cg_arena *a, const char *s, size_t n);
const char *cg_sprintf(cg_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cg_arena_fini(cg_arena *a);

// protobuf-c's names (names.c), each a copy of the function of the same
// name in protobuf-c 1.4's protoc-c/c_helpers.cc; docs/codegen.md has the
// rules and examples.
const char *cg_camel_to_lower(cg_arena *a, const char *name);
const char *cg_camel_to_upper(cg_arena *a, const char *name);
const char *cg_to_camel(cg_arena *a, const char *name);
// cg_override_name applies a file's (pb_c_file).c_package (NULL: unset)
// to the full name of something in that file (OverrideFullName).
const char *cg_override_name(
    cg_arena *a, const char *full, const char *package, const char *c_package);
// The three full-name forms, from an overridden full name: per
// dot-separated piece CamelToLower / CamelToUpper / ToCamel, joined by
// "__", empty pieces skipped.
const char *cg_full_to_lower(cg_arena *a, const char *full);
const char *cg_full_to_upper(cg_arena *a, const char *full);
const char *cg_full_to_c(cg_arena *a, const char *full);
// cg_strip_proto drops a ".proto" or ".protodevel" suffix (StripProto).
const char *cg_strip_proto(cg_arena *a, const char *filename);
// cg_file_ident makes an identifier of a file name: alphanumerics kept,
// anything else as _ and its hex code (FilenameIdentifier).
const char *cg_file_ident(cg_arena *a, const char *filename);
// cg_c_string makes a C string literal of s, quotes included: '"', '\\'
// and '?' (no trigraph can form) escaped with a backslash, control
// characters and bytes from 0x7f up as three-digit octal escapes.
const char *cg_c_string(cg_arena *a, const char *s);
// cg_is_keyword: a C or C++ keyword, which protobuf-c escapes in field
// names with a trailing underscore (kKeywordList, plus C's restrict).
bool cg_is_keyword(const char *s);
// cg_is_ident: [A-Za-z_][A-Za-z0-9_]*; cg_is_dotted: idents joined by dots
// (empty allowed).
bool cg_is_ident(const char *s);
bool cg_is_dotted(const char *s);

// The model (model.c): what one file to generate turns into.

typedef struct cg_file {
	const Google__Protobuf__FileDescriptorProto *fd;
	const char                                  *name; // "dir/foo.proto"
	const char *package;     // "" when the file has none
	const char *c_package;   // (pb_c_file).c_package, NULL when unset
	bool        no_generate; // (pb_c_file).no_generate: no .pb-c files
} cg_file;

typedef struct cg_message {
	const char    *full;   // "pkg.Outer.Inner", as type references name it
	const char    *c_type; // Pkg__Outer__Inner
	const char    *c_desc; // pkg__outer__inner__descriptor
	const cg_file *file;   // where it is defined
} cg_message;

typedef enum cg_kind {
	CG_UNARY,
	CG_SERVER_STREAM,
	CG_CLIENT_STREAM,
	CG_BIDI,
} cg_kind;

typedef struct cg_method {
	const char       *name;    // "ServerStream"
	const char       *wire;    // "/pkg.Svc/ServerStream"
	const char       *lower;   // pkg__svc__server_stream: function prefix
	const char       *macro;   // PKG__SVC__SERVER_STREAM__METHOD
	const char       *client;  // Pkg__Svc__ServerStream_Client
	const char       *field;   // server_stream: the server struct's field
	const char       *comment; // the .proto's comment, or NULL
	cg_kind           kind;
	const cg_message *in;
	const cg_message *out;
} cg_method;

typedef struct cg_service {
	const char *full;    // "pkg.Svc"
	const char *lower;   // pkg__svc
	const char *c_type;  // Pkg__Svc
	const char *server;  // Pkg__Svc_Server
	const char *comment; // the .proto's comment, or NULL
	cg_method  *methods;
	size_t      n_methods;
} cg_service;

typedef struct cg_unit {
	const cg_file *file;
	const char    *base;  // "dir/foo": outputs are base.drpc.{h,c}
	const char    *guard; // the header's include guard
	cg_service    *services;
	size_t         n_services;
	const char   **includes; // .pb-c.h files the header needs, sorted
	size_t         n_includes;
	bool           client_streams; // some method is not unary
	// reflect: the file and every file it imports, imports first
	// (reflect.c); the file is last.
	const cg_file **reflect;
	size_t          n_reflect;
} cg_unit;

typedef struct cg_model {
	cg_arena    arena;
	const char *err; // the first failure (cg_fail), NULL until then
	cg_file    *files;
	size_t      n_files;
	cg_message *messages; // sorted by full name
	size_t      n_messages;
} cg_model;

// cg_fail records the first failure; later ones are dropped. Returns false
// so that callers can `return cg_fail(...)`.
bool cg_fail(cg_model *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// cg_model_load indexes every file and message of the request.
bool cg_model_load(
    cg_model *m, Google__Protobuf__FileDescriptorProto **files, size_t n);
// cg_model_find_file finds a file of the request by name; NULL if absent.
const cg_file *cg_model_find_file(const cg_model *m, const char *name);
// cg_unit_build works out everything file needs to be generated; a file
// without services gives a unit with no services (nothing to write).
bool cg_unit_build(cg_model *m, const cg_file *file, cg_unit *u);

// Layout (layout.c): the shapes clang-format (with the repository's
// .clang-format) gives code, reproduced so that it leaves the output
// alone. tabs is the indentation of the first line; continuation lines
// are indented 4 more columns. Columns count a tab as 8.

// cg_lay_decl writes head(params...)tail as a function declaration,
// definition or function-pointer field: one line if it fits, else the
// parameters on the next line, else packed behind "(" or after it.
void cg_lay_decl(cg_buf *b, int tabs, const char *head,
    const char *const *params, size_t n, const char *tail);
// cg_lay_proto writes the prototype "ret name(params...);", with the
// return type on a line of its own when "ret name(" does not fit.
void cg_lay_proto(cg_buf *b, const char *ret, const char *name,
    const char *const *params, size_t n);
// cg_lay_call writes head(args...)tail as a statement's call, laid out as
// a declaration is; "lhs = f" heads break after "=" when the call then
// fits on the next line.
void cg_lay_call(cg_buf *b, int tabs, const char *head, const char *const *args,
    size_t n, const char *tail);
// cg_lay_comment writes text as // lines that fit 80 columns, one per
// line of text (longer ones broken at spaces); "" lines become "//".
void cg_lay_comment(cg_buf *b, int tabs, const char *text);
// cg_lay_defines writes #define name value lines; runs of those that fit
// are aligned, the others break after the name.
void cg_lay_defines(
    cg_buf *b, const char *const *names, const char *const *values, size_t n);
// cg_lay_fields writes designated initializers ".name = value," indented
// by spaces, aligned in runs; one that does not fit breaks after "=", or
// inside its parentheses if it is a call that does not fit there either.
void cg_lay_fields(cg_buf *b, size_t spaces, const char *const *names,
    const char *const *values, size_t n);
// cg_lay_array writes the head of a static const initializer,
// "static const type name = {", breaking before "{" if only that does
// not fit, else before name; it returns the indentation (spaces) of the
// initializer's lines.
size_t cg_lay_array(cg_buf *b, const char *type, const char *name);
// cg_lay_row writes a row of an array of structs, "{item, ...}," indented
// by spaces: packed, continuation lines indented 4 more.
void cg_lay_row(cg_buf *b, size_t spaces, const char *const *items, size_t n);
// cg_lay_locals writes declarations "type name;" with the names aligned
// (a name may start with '*'s, which hang left of the column).
void cg_lay_locals(cg_buf *b, int tabs, const char *const *types,
    const char *const *names, size_t n);

// The emitters. Each appends to b; arena a holds temporary strings.
void cg_emit_header(cg_buf *b, cg_arena *a, const cg_unit *u);
void cg_emit_source(cg_buf *b, cg_arena *a, const cg_unit *u);
void cg_emit_client_decls(cg_buf *b, cg_arena *a, const cg_service *s);
void cg_emit_client_defs(cg_buf *b, cg_arena *a, const cg_service *s);
void cg_emit_server_decls(cg_buf *b, cg_arena *a, const cg_service *s);
void cg_emit_server_defs(cg_buf *b, cg_arena *a, const cg_service *s);
// cg_rpc_line is the method as the .proto declares it ("rpc M(stream
// pkg.In) returns (pkg.Out)").
const char *cg_rpc_line(cg_arena *a, const cg_method *m);
// cg_emit_def writes a definition whose body is one call:
// "ret\nname(params)\n{\n\thead(args);\n}\n\n" (head: "return f" or "f").
void cg_emit_def(cg_buf *b, const char *ret, const char *name,
    const char *const *params, size_t n, const char *head,
    const char *const *args, size_t nargs);
// cg_emit_kind names a kind's DRPC_STUB_ constant (drpc/stub.h).
const char *cg_emit_kind(cg_kind k);

// Reflection (reflect.c). cg_reflect_build fills u->reflect;
// cg_reflect_func names the function that returns the file's
// drpc_reflect_file; the emitters write its declaration and definition.
bool        cg_reflect_build(cg_model *m, cg_unit *u);
const char *cg_reflect_func(cg_arena *a, const cg_unit *u);
void        cg_emit_reflect_decl(cg_buf *b, cg_arena *a, const cg_unit *u);
void        cg_emit_reflect_defs(cg_buf *b, cg_arena *a, const cg_unit *u);

#endif // DRPC_CMD_PROTOC_GEN_DRPC_C_CG_H
