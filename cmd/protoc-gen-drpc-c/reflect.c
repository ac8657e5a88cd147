// Reflection data (drpc/reflect.h): every generated .drpc.c embeds the
// serialized FileDescriptorProto of its .proto and of every file that
// .proto imports, directly or not, as drpc_reflect_file structs, so that a
// server's reflection service can hand clients the whole set. Imports get
// their own copy in each generated file (a file without services has no
// .drpc.c of its own); the reflection service keeps one per name.
//
// The descriptors are packed without source_code_info (comments and
// positions: what protoc gives the plugin for the files to generate only,
// and most of the bytes), as gRPC's reflection serves them.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cg.h"

// closure_add appends f's imports (depth first), then f, to u->reflect,
// each once: the order in which a descriptor pool can build them.
static bool
closure_add(cg_model *m, cg_unit *u, const cg_file *f, size_t depth)
{
	const Google__Protobuf__FileDescriptorProto *fd = f->fd;

	for (size_t i = 0; i < u->n_reflect; i++) {
		if (u->reflect[i] == f) {
			return true;
		}
	}
	if (depth > m->n_files) {
		return cg_fail(m, "%s: imports itself", f->name);
	}
	for (size_t i = 0; i < fd->n_dependency; i++) {
		const cg_file *d = cg_model_find_file(m, fd->dependency[i]);

		if (d == NULL) {
			return cg_fail(m, "%s imports %s, not in the request",
			    f->name, fd->dependency[i]);
		}
		if (!closure_add(m, u, d, depth + 1)) {
			return false;
		}
	}
	u->reflect[u->n_reflect++] = f;
	return true;
}

bool
cg_reflect_build(cg_model *m, cg_unit *u)
{
	u->reflect = cg_alloc(&m->arena, m->n_files, sizeof(*u->reflect));
	u->n_reflect = 0;
	if (u->reflect == NULL) {
		return false;
	}
	return closure_add(m, u, u->file, 0);
}

const char *
cg_reflect_func(cg_arena *a, const cg_unit *u)
{
	return cg_sprintf(
	    a, "drpc_gen_%s_reflect", cg_file_ident(a, u->file->name));
}

void
cg_emit_reflect_decl(cg_buf *b, cg_arena *a, const cg_unit *u)
{
	cg_lay_comment(b, 0,
	    cg_sprintf(a,
	        "%s is %s for a reflection service (drpc/reflect.h): its "
	        "descriptor, and through deps those of the files it imports. "
	        "The data is static.",
	        cg_reflect_func(a, u), u->file->name));
	cg_buf_printf(
	    b, "const drpc_reflect_file *%s(void);\n\n", cg_reflect_func(a, u));
}

// Symbol lists: full names of what a file defines.
typedef struct sym_list {
	const char **names;
	size_t       n;
	size_t       cap;
} sym_list;

static void
sym_add(cg_arena *a, sym_list *l, const char *name)
{
	if (l->n == l->cap) {
		size_t       cap = l->cap == 0 ? 16 : 2 * l->cap;
		const char **p   = cg_alloc(a, cap, sizeof(*p));

		if (p == NULL) {
			return;
		}
		if (l->n > 0) {
			memcpy(p, l->names, l->n * sizeof(*p));
		}
		l->names = p;
		l->cap   = cap;
	}
	l->names[l->n++] = name;
}

static const char *
join(cg_arena *a, const char *scope, const char *name)
{
	return scope[0] == '\0' ? cg_strdup(a, name)
	                        : cg_sprintf(a, "%s.%s", scope, name);
}

static void
sym_enums(cg_arena *a, sym_list *l, const char *scope,
    Google__Protobuf__EnumDescriptorProto *const *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (e[i]->name != NULL) {
			sym_add(a, l, join(a, scope, e[i]->name));
		}
	}
}

static void
sym_messages(cg_arena *a, sym_list *l, const char *scope,
    Google__Protobuf__DescriptorProto *const *msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *full;

		if (msgs[i]->name == NULL) {
			continue;
		}
		full = join(a, scope, msgs[i]->name);
		sym_add(a, l, full);
		sym_messages(a, l, full, msgs[i]->nested_type,
		    msgs[i]->n_nested_type);
		sym_enums(
		    a, l, full, msgs[i]->enum_type, msgs[i]->n_enum_type);
	}
}

// emit_strings writes a static array of C strings (nothing when empty).
// The names came through protoc, which allows only identifier characters
// and dots in them; escaped all the same.
static void
emit_strings(cg_buf *b, cg_arena *a, const char *var, const char *const *s,
    size_t n)
{
	if (n == 0) {
		return;
	}
	cg_buf_printf(b, "static const char *const %s[] = {\n", var);
	for (size_t i = 0; i < n; i++) {
		cg_buf_printf(b, "    %s,\n", cg_c_string(a, s[i]));
	}
	cg_buf_puts(b, "};\n\n");
}

// emit_hex writes "static const uint8_t var[] = {...};", the bytes in
// hex packed as clang-format packs them: from the "{" on, as many as fit
// in 80 columns per line, continuation lines indented by 4 spaces.
static void
emit_hex(cg_buf *b, const char *var, const uint8_t *p, size_t len)
{
	size_t col = strlen("static const uint8_t [] = {") + strlen(var);

	cg_buf_printf(b, "static const uint8_t %s[] = {", var);
	for (size_t i = 0; i < len; i++) {
		size_t item = strlen("0xNN") + (i + 1 < len ? 1 : 2); // "," "};"

		if (i > 0 && col + 1 + item > 80) {
			cg_buf_puts(b, "\n    ");
			col = 4;
		} else if (i > 0) {
			cg_buf_putc(b, ' ');
			col++;
		}
		cg_buf_printf(b, "0x%02x%s", p[i], i + 1 < len ? "," : "");
		col += item - (i + 1 < len ? 0 : 2);
	}
	cg_buf_puts(b, "};\n\n");
}

// MAX_LITERAL is the longest string literal ISO C compilers must accept
// (C11 5.2.4.1: 4095 characters); -Wpedantic rejects longer ones.
#define MAX_LITERAL 4095

// escape writes byte c into esc (8 bytes, NUL-terminated) as it goes into
// a string literal and returns its length: printable bytes as themselves,
// '"', '\\' and '?' (which could start a trigraph) escaped, the others as
// three-digit octal escapes, which no digit after them can extend.
static size_t
escape(char *esc, uint8_t c)
{
	if (c == '"' || c == '\\' || c == '?') {
		return (size_t) snprintf(esc, 8, "\\%c", c);
	}
	if (c >= 0x20 && c < 0x7f) {
		return (size_t) snprintf(esc, 8, "%c", c);
	}
	return (size_t) snprintf(esc, 8, "\\%03o", c);
}

// emit_bytes writes the bytes of a descriptor as var, a string literal
// (printable bytes as themselves, the others as three-digit octal
// escapes; descriptors are mostly names, so about a byte a column),
// on the declaration's line if it fits there whole, else broken into
// literals of up to 80 columns each on lines of their own, which
// clang-format keeps. A descriptor too long for one literal (as
// descriptor.proto's) is written in hex. The literal's NUL is not part of
// the descriptor: descriptor_len is sizeof(var) - 1 (see emit_file).
static bool
emit_bytes(cg_buf *b, const char *var, const uint8_t *p, size_t len)
{
	size_t head  = strlen("static const uint8_t [] = \"\";") + strlen(var);
	size_t col   = 5; // after `    "`
	size_t width = 0; // of the escaped bytes
	bool   one;
	char   esc[8];

	if (len + 1 > MAX_LITERAL) {
		emit_hex(b, var, p, len);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		width += escape(esc, p[i]);
	}
	one = head + width <= 80; // on the declaration's line
	cg_buf_printf(b, "static const uint8_t %s[] =", var);
	cg_buf_puts(b, one ? " \"" : "\n    \"");
	for (size_t i = 0; i < len; i++) {
		size_t n   = escape(esc, p[i]);
		size_t end = i + 1 < len ? 1 : 2; // `"`, or `";` after the last

		if (!one && col + n + end > 80) {
			cg_buf_puts(b, "\"\n    \"");
			col = 5;
		}
		cg_buf_puts(b, esc);
		col += n;
	}
	cg_buf_puts(b, "\";\n\n");
	return true;
}

// is_default_json_name: json is name's lowerCamelCase JSON name as protoc derives
// it (ToJsonName: each '_' dropped, the letter after it upper-cased).
static bool
is_default_json_name(const char *name, const char *json)
{
	bool up = false;

	for (; *name != '\0'; name++) {
		char c = *name;

		if (c == '_') {
			up = true;
			continue;
		}
		if (up && c >= 'a' && c <= 'z') {
			c = (char) (c - 'a' + 'A');
		}
		up = false;
		if (*json++ != c) {
			return false;
		}
	}
	return *json == '\0';
}

// Fields whose json_name protoc filled in with the default (it does for
// plugins) lose it while the descriptor is packed: a descriptor as
// protoc --descriptor_set_out writes it, whose fields print without a
// [json_name = ...] each (drpc describe). A json_name the .proto set
// itself to another name stays. json_strip clears them, recording each
// field in saved (NULL: count only); json_restore puts them back.
typedef struct json_field {
	Google__Protobuf__FieldDescriptorProto *field;
	char                                   *json_name;
} json_field;

typedef struct json_saved {
	json_field *v;
	size_t      n;
} json_saved;

static void
json_strip_fields(Google__Protobuf__FieldDescriptorProto *const *fields,
    size_t n, json_saved *saved)
{
	for (size_t j = 0; j < n; j++) {
		Google__Protobuf__FieldDescriptorProto *f = fields[j];

		if (f->name != NULL && f->json_name != NULL &&
		    is_default_json_name(f->name, f->json_name)) {
			if (saved->v != NULL) {
				saved->v[saved->n].field     = f;
				saved->v[saved->n].json_name = f->json_name;
				f->json_name                 = NULL;
			}
			saved->n++;
		}
	}
}

static void
json_strip(Google__Protobuf__DescriptorProto *const *msgs, size_t n,
    json_saved *saved)
{
	for (size_t i = 0; i < n; i++) {
		json_strip_fields(msgs[i]->field, msgs[i]->n_field, saved);
		json_strip_fields(
		    msgs[i]->extension, msgs[i]->n_extension, saved);
		json_strip(msgs[i]->nested_type, msgs[i]->n_nested_type, saved);
	}
}

// pack_descriptor packs fd without source_code_info and default
// json_names; NULL without memory.
static uint8_t *
pack_descriptor(cg_arena *a, const Google__Protobuf__FileDescriptorProto *ofd,
    size_t *len)
{
	Google__Protobuf__FileDescriptorProto fd    = *ofd;
	json_saved                            saved = {0};
	uint8_t                              *packed;

	json_strip(fd.message_type, fd.n_message_type, &saved);
	json_strip_fields(fd.extension, fd.n_extension, &saved);
	saved.v = cg_alloc(a, saved.n > 0 ? saved.n : 1, sizeof(*saved.v));
	if (saved.v == NULL) {
		return NULL;
	}
	saved.n = 0;
	json_strip(fd.message_type, fd.n_message_type, &saved);
	json_strip_fields(fd.extension, fd.n_extension, &saved);
	fd.source_code_info = NULL;
	*len   = google__protobuf__file_descriptor_proto__get_packed_size(&fd);
	packed = cg_alloc(a, *len > 0 ? *len : 1, 1);
	if (packed != NULL) {
		google__protobuf__file_descriptor_proto__pack(&fd, packed);
	}
	// The request's descriptors stay as protoc gave them.
	for (size_t i = 0; i < saved.n; i++) {
		saved.v[i].field->json_name = saved.v[i].json_name;
	}
	return packed;
}

// emit_file writes the data of u->reflect[k] as reflect_file_<k>.
static void
emit_file(cg_buf *b, cg_arena *a, const cg_unit *u, size_t k)
{
	const cg_file                              *f  = u->reflect[k];
	const Google__Protobuf__FileDescriptorProto *ofd = f->fd;
	sym_list                                    svc  = {0};
	sym_list                                    syms = {0};
	const char                                 *names[9];
	const char                                 *values[9];
	size_t                                      nf = 0;
	size_t                                      len;
	uint8_t                                    *packed;
	bool                                        literal;

	packed = pack_descriptor(a, f->fd, &len);
	if (packed == NULL) {
		return;
	}

	sym_messages(a, &syms, f->package, ofd->message_type,
	    ofd->n_message_type);
	sym_enums(a, &syms, f->package, ofd->enum_type, ofd->n_enum_type);
	for (size_t i = 0; i < ofd->n_service; i++) {
		const Google__Protobuf__ServiceDescriptorProto *s =
		    ofd->service[i];
		const char *full;

		if (s->name == NULL) {
			continue;
		}
		full = join(a, f->package, s->name);
		sym_add(a, &svc, full);
		sym_add(a, &syms, full);
		for (size_t j = 0; j < s->n_method; j++) {
			if (s->method[j]->name != NULL) {
				sym_add(a, &syms,
				    join(a, full, s->method[j]->name));
			}
		}
	}

	// The name as a literal: a comment of the raw name could end in a
	// backslash (a line splice) or hold a newline.
	{
		const char *lit = cg_c_string(a, f->name);
		size_t      n   = strlen(f->name);

		cg_lay_comment(b, 0,
		    strlen(lit) == n + 2 && strncmp(lit + 1, f->name, n) == 0
		        ? f->name
		        : lit);
	}
	literal =
	    emit_bytes(b, cg_sprintf(a, "reflect_desc_%zu", k), packed, len);
	emit_strings(b, a, cg_sprintf(a, "reflect_services_%zu", k),
	    svc.names, svc.n);
	emit_strings(b, a, cg_sprintf(a, "reflect_symbols_%zu", k),
	    syms.names, syms.n);
	if (ofd->n_dependency > 0) {
		cg_buf_printf(b,
		    "static const drpc_reflect_file *const reflect_deps_%zu[] = "
		    "{\n",
		    k);
		for (size_t i = 0; i < ofd->n_dependency; i++) {
			size_t d = 0;

			while (d < k && strcmp(u->reflect[d]->name,
			                    ofd->dependency[i]) != 0) {
				d++;
			}
			cg_buf_printf(b, "    &reflect_file_%zu,\n", d);
		}
		cg_buf_puts(b, "};\n\n");
	}

	names[nf]    = "name";
	values[nf++] = cg_c_string(a, f->name); // any bytes: escaped
	names[nf]    = "descriptor";
	values[nf++] = cg_sprintf(a, "reflect_desc_%zu", k);
	names[nf]    = "descriptor_len";
	values[nf++] = cg_sprintf(a,
	    literal ? "sizeof(reflect_desc_%zu) - 1"
	            : "sizeof(reflect_desc_%zu)",
	    k);
	if (ofd->n_dependency > 0) {
		names[nf]    = "deps";
		values[nf++] = cg_sprintf(a, "reflect_deps_%zu", k);
		names[nf]    = "n_deps";
		values[nf++] = cg_sprintf(a, "%zu", ofd->n_dependency);
	}
	if (svc.n > 0) {
		names[nf]    = "services";
		values[nf++] = cg_sprintf(a, "reflect_services_%zu", k);
		names[nf]    = "n_services";
		values[nf++] = cg_sprintf(a, "%zu", svc.n);
	}
	if (syms.n > 0) {
		names[nf]    = "symbols";
		values[nf++] = cg_sprintf(a, "reflect_symbols_%zu", k);
		names[nf]    = "n_symbols";
		values[nf++] = cg_sprintf(a, "%zu", syms.n);
	}
	cg_buf_printf(
	    b, "static const drpc_reflect_file reflect_file_%zu = {\n", k);
	cg_lay_fields(b, 4, names, values, nf);
	cg_buf_puts(b, "};\n\n");
}

void
cg_emit_reflect_defs(cg_buf *b, cg_arena *a, const cg_unit *u)
{
	cg_lay_comment(b, 0,
	    cg_sprintf(a,
	        "Reflection (drpc/reflect.h): the descriptors of %s and of "
	        "every file it imports, imports first.",
	        u->file->name));
	cg_buf_putc(b, '\n');
	for (size_t k = 0; k < u->n_reflect; k++) {
		emit_file(b, a, u, k);
	}
	cg_buf_printf(b,
	    "const drpc_reflect_file *\n%s(void)\n{\n\treturn "
	    "&reflect_file_%zu;\n}\n\n",
	    cg_reflect_func(a, u), u->n_reflect - 1);
}
