// The model: from the request's descriptors to the services, methods and
// names one file's stubs need.
//
// Design notes: every name comes from protobuf-c's scheme (names.c) with
// the file's (pb_c_file).c_package applied, as protoc-c does; that option
// and no_generate arrive as an unknown field of FileOptions (extension
// 1019, which protobuf-c's runtime cannot declare), decoded here by hand.
// Anything that would make the output wrong rather than fail to compile
// later is rejected with a message naming it: an unknown type, a message
// from a file protoc-c does not generate, a name that is not an
// identifier, two generated declarations with the same name.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

// PB_C_FILE is the number of the (pb_c_file) FileOptions extension, and
// PB_C_NO_GENERATE / PB_C_PACKAGE its fields (protobuf-c/protobuf-c.proto).
#define PB_C_FILE        1019
#define PB_C_NO_GENERATE 1
#define PB_C_PACKAGE     6

// Field numbers on a SourceCodeInfo path: FileDescriptorProto.service and
// ServiceDescriptorProto.method.
#define PATH_SERVICE 6
#define PATH_METHOD  2

bool
cg_fail(cg_model *m, const char *fmt, ...)
{
	va_list ap;
	int     n;
	char   *p;

	if (m->err != NULL) {
		return false;
	}
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (p = cg_alloc(&m->arena, (size_t) n + 1, 1)) == NULL) {
		m->err = "out of memory";
		return false;
	}
	va_start(ap, fmt);
	vsnprintf(p, (size_t) n + 1, fmt, ap);
	va_end(ap);
	m->err = p;
	return false;
}

// pbc_varint reads a varint of (pb_c_file); false if it runs off the end.
static bool
pbc_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
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

// pbc_field applies one field of a ProtobufCFileOptions message; false if
// the bytes are malformed.
static bool
pbc_field(cg_model *m, cg_file *f, const uint8_t *p, size_t len, size_t *pos)
{
	uint64_t tag;
	uint64_t v;

	if (!pbc_varint(p, len, pos, &tag)) {
		return false;
	}
	switch (tag & 7) {
	case 0:
		if (!pbc_varint(p, len, pos, &v)) {
			return false;
		}
		if (tag >> 3 == PB_C_NO_GENERATE) {
			f->no_generate = v != 0;
		}
		return true;
	case 1:
		v = 8;
		break;
	case 5:
		v = 4;
		break;
	case 2:
		if (!pbc_varint(p, len, pos, &v)) {
			return false;
		}
		break;
	default:
		return false;
	}
	if (v > len - *pos) {
		return false;
	}
	if (tag >> 3 == PB_C_PACKAGE && (tag & 7) == 2) {
		f->c_package =
		    cg_strndup(&m->arena, (const char *) p + *pos, v);
		if (strlen(f->c_package) != v) {
			return false; // a NUL inside
		}
	}
	*pos += v;
	return true;
}

// file_options finds (pb_c_file) among the unknown fields of options.
// Several occurrences merge, as protobuf's do: later fields win.
static bool
file_options(cg_model *m, cg_file *f, const Google__Protobuf__FileOptions *o)
{
	if (o == NULL) {
		return true;
	}
	for (size_t i = 0; i < o->base.n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u =
		    &o->base.unknown_fields[i];

		if (u->tag != PB_C_FILE ||
		    u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED) {
			continue;
		}
		// protobuf-c keeps the length prefix in data.
		size_t   pos = 0;
		uint64_t n;

		if (!pbc_varint(u->data, u->len, &pos, &n) ||
		    n != u->len - pos) {
			return cg_fail(
			    m, "%s: malformed (pb_c_file) option", f->name);
		}
		while (pos < u->len) {
			if (!pbc_field(m, f, u->data, u->len, &pos)) {
				return cg_fail(m,
				    "%s: malformed (pb_c_file) option",
				    f->name);
			}
		}
	}
	if (f->c_package != NULL && !cg_is_dotted(f->c_package)) {
		return cg_fail(m,
		    "%s: (pb_c_file).c_package \"%s\" is not a "
		    "dotted name",
		    f->name, f->c_package);
	}
	return true;
}

static size_t
count_messages(Google__Protobuf__DescriptorProto **msgs, size_t n)
{
	size_t total = n;

	for (size_t i = 0; i < n; i++) {
		if (msgs[i] != NULL) {
			total += count_messages(
			    msgs[i]->nested_type, msgs[i]->n_nested_type);
		}
	}
	return total;
}

// add_messages indexes msgs (and their nested messages) of file f, whose
// names start with prefix. The request's nesting depth was bounded before
// it was unpacked (run.c), so the recursion is too.
static bool
add_messages(cg_model *m, const cg_file *f, const char *prefix,
    Google__Protobuf__DescriptorProto **msgs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cg_message *msg = &m->messages[m->n_messages];
		const char *name;
		const char *cfull;

		if (msgs[i] == NULL || msgs[i]->name == NULL ||
		    !cg_is_ident(msgs[i]->name)) {
			return cg_fail(m,
			    "%s: a message in \"%s\" has no valid name",
			    f->name, prefix);
		}
		name = prefix[0] == '\0' ? msgs[i]->name
		                         : cg_sprintf(&m->arena, "%s.%s",
		                               prefix, msgs[i]->name);
		cfull =
		    cg_override_name(&m->arena, name, f->package, f->c_package);
		*msg = (cg_message){
		    .full   = name,
		    .c_type = cg_full_to_c(&m->arena, cfull),
		    .c_desc = cg_sprintf(&m->arena, "%s__descriptor",
		        cg_full_to_lower(&m->arena, cfull)),
		    .file   = f,
		};
		m->n_messages++;
		if (!add_messages(m, f, name, msgs[i]->nested_type,
		        msgs[i]->n_nested_type)) {
			return false;
		}
	}
	return true;
}

static int
message_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const cg_message *) a)->full, ((const cg_message *) b)->full);
}

static bool
load_file(
    cg_model *m, cg_file *f, const Google__Protobuf__FileDescriptorProto *fd)
{
	if (fd == NULL || fd->name == NULL || fd->name[0] == '\0') {
		return cg_fail(m, "the request has a file without a name");
	}
	f->fd      = fd;
	f->name    = fd->name;
	f->package = fd->package != NULL ? fd->package : "";
	if (!cg_is_dotted(f->package)) {
		return cg_fail(m, "%s: package \"%s\" is not a dotted name",
		    f->name, f->package);
	}
	return file_options(m, f, fd->options);
}

bool
cg_model_load(
    cg_model *m, Google__Protobuf__FileDescriptorProto **files, size_t n)
{
	size_t total = 0;

	m->files = cg_alloc(&m->arena, n, sizeof(*m->files));
	if (m->files == NULL) {
		return cg_fail(m, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		if (!load_file(m, &m->files[i], files[i])) {
			return false;
		}
		m->n_files++;
		total += count_messages(
		    files[i]->message_type, files[i]->n_message_type);
	}
	m->messages = cg_alloc(&m->arena, total, sizeof(*m->messages));
	if (m->messages == NULL) {
		return cg_fail(m, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		if (!add_messages(m, &m->files[i], m->files[i].package,
		        files[i]->message_type, files[i]->n_message_type)) {
			return false;
		}
	}
	qsort(m->messages, m->n_messages, sizeof(*m->messages), message_cmp);
	return true;
}

const cg_file *
cg_model_find_file(const cg_model *m, const char *name)
{
	for (size_t i = 0; i < m->n_files; i++) {
		if (strcmp(m->files[i].name, name) == 0) {
			return &m->files[i];
		}
	}
	return NULL;
}

// find_type resolves a method's fully qualified type reference (".a.B").
static const cg_message *
find_type(cg_model *m, const char *where, const char *ref)
{
	cg_message  key = {.full = ref != NULL && ref[0] == '.' ? ref + 1 : ""};
	cg_message *msg = NULL;

	if (key.full[0] != '\0') {
		msg = bsearch(&key, m->messages, m->n_messages,
		    sizeof(*m->messages), message_cmp);
	}
	if (msg == NULL) {
		cg_fail(m, "%s: unknown message type \"%s\"", where,
		    ref != NULL ? ref : "");
		return NULL;
	}
	if (msg->file->no_generate) {
		cg_fail(m,
		    "%s: message %s is defined in %s, for which protoc-c "
		    "generates no code ((pb_c_file).no_generate)",
		    where, msg->full, msg->file->name);
		return NULL;
	}
	return msg;
}

// find_comment returns the comment the .proto has for the element at
// path, tidied up for a // comment (sanitize); NULL if there is none.
static const char *sanitize(cg_arena *a, const char *text);

static const char *
find_comment(cg_model *m, const cg_file *f, const int32_t *path, size_t n)
{
	const Google__Protobuf__SourceCodeInfo *sci = f->fd->source_code_info;

	if (sci == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < sci->n_location; i++) {
		const Google__Protobuf__SourceCodeInfo__Location *loc =
		    sci->location[i];

		if (loc == NULL || loc->n_path != n ||
		    memcmp(loc->path, path, n * sizeof(*path)) != 0) {
			continue;
		}
		if (loc->leading_comments != NULL) {
			return sanitize(&m->arena, loc->leading_comments);
		}
		if (loc->trailing_comments != NULL) {
			return sanitize(&m->arena, loc->trailing_comments);
		}
	}
	return NULL;
}

// sanitize makes comment text safe inside // comments: no control
// characters, no "??" (a trigraph: "??/" is a backslash), no backslash at
// the end of a line (it would continue the comment onto the next line of
// code), one leading space per line dropped (protoc keeps the one after
// "//"), no blank lines at either end. NULL if nothing is left.
static const char *
sanitize(cg_arena *a, const char *text)
{
	size_t len = strlen(text);
	char  *out = cg_alloc(a, len + 1, 2); // "??" -> "? ?" at worst
	size_t n   = 0;
	bool   bol = true;

	if (out == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (c == '\n') {
			while (n > 0 &&
			       (out[n - 1] == ' ' || out[n - 1] == '\\')) {
				n--;
			}
			out[n++] = '\n';
			bol      = true;
			continue;
		}
		if (bol && c == ' ') {
			bol = false;
			continue;
		}
		bol = false;
		if ((unsigned char) c < 0x20 || c == 0x7f) {
			c = ' ';
		}
		if (c == '?' && n > 0 && out[n - 1] == '?') {
			out[n++] = ' ';
		}
		out[n++] = c;
	}
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ' ||
	                    out[n - 1] == '\\')) {
		n--;
	}
	out[n] = '\0';
	while (*out == '\n') {
		out++;
	}
	return *out == '\0' ? NULL : out;
}

// Names that the emitters or protoc-c declare, checked for clashes.
typedef struct name_ent {
	const char *name;
	const char *what;
} name_ent;

typedef struct name_set {
	name_ent *ents;
	size_t    n;
	size_t    cap;
} name_set;

static void
name_add(cg_model *m, name_set *set, const char *name, const char *what)
{
	if (set->n == set->cap) {
		size_t    cap  = set->cap == 0 ? 64 : set->cap * 2;
		name_ent *ents = cg_alloc(&m->arena, cap, sizeof(*ents));

		if (ents == NULL) {
			return; // the arena's failure is reported at the end
		}
		if (set->n > 0) {
			memcpy(ents, set->ents, set->n * sizeof(*ents));
		}
		set->ents = ents;
		set->cap  = cap;
	}
	set->ents[set->n++] = (name_ent){name, what};
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const name_ent *) a)->name, ((const name_ent *) b)->name);
}

// method_suffixes are the functions a method of each kind gets; client.c
// and server.c emit exactly these.
#define MAX_SUFFIXES 8
static const char *const method_suffixes[][MAX_SUFFIXES] = {
    [CG_UNARY]         = {"__invoke"},
    [CG_SERVER_STREAM] = {"__open", "__recv", "__destroy", "__stream",
        "__server_send"},
    [CG_CLIENT_STREAM] = {"__open", "__send", "__close_and_recv", "__destroy",
        "__stream", "__server_recv"},
    [CG_BIDI] = {"__open", "__send", "__recv", "__close_send", "__destroy",
        "__stream", "__server_send", "__server_recv"},
};

static void
names_of_method(cg_model *m, name_set *set, const cg_unit *u,
    const cg_service *s, const cg_method *mt)
{
	cg_arena   *a    = &m->arena;
	const char *what = cg_sprintf(a, "method %s.%s", s->full, mt->name);

	name_add(m, set, mt->macro, what);
	for (size_t i = 0;
	     i < MAX_SUFFIXES && method_suffixes[mt->kind][i] != NULL; i++) {
		name_add(m, set,
		    cg_sprintf(
		        a, "%s%s", mt->lower, method_suffixes[mt->kind][i]),
		    what);
	}
	if (mt->kind != CG_UNARY) {
		name_add(m, set, mt->client, what);
	}
	name_add(m, set, cg_sprintf(a, "%s.%s", s->server, mt->field),
	    cg_sprintf(a, "the server struct's field for %s", mt->name));
	if (u->file->no_generate) {
		return;
	}
	// protoc-c's own function for the method (ProtobufCService).
	name_add(m, set,
	    cg_sprintf(a, "%s__%s", s->lower, cg_camel_to_lower(a, mt->name)),
	    cg_sprintf(a, "protoc-c's function for %s.%s", s->full, mt->name));
}

// names_of_service adds what the emitters declare for s, and what protoc-c
// declares for it (unless the file is no_generate).
static void
names_of_service(
    cg_model *m, name_set *set, const cg_unit *u, const cg_service *s)
{
	static const char *const ours[] = {"__register", "__drpc_call",
	    "__drpc_methods", "__drpc_service", "__drpc_serve"};
	static const char *const pbc[] = {"__init", "__descriptor"};
	cg_arena                *a     = &m->arena;
	const char              *what  = cg_sprintf(a, "service %s", s->full);

	name_add(m, set, s->server, what);
	name_add(m, set, cg_sprintf(a, "%s.free_reply", s->server), what);
	name_add(m, set, cg_sprintf(a, "%s.user", s->server), what);
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		name_add(
		    m, set, cg_sprintf(a, "%s%s", s->lower, ours[i]), what);
	}
	if (!u->file->no_generate) {
		what = cg_sprintf(a, "protoc-c's code for service %s", s->full);
		for (size_t i = 0; i < sizeof(pbc) / sizeof(pbc[0]); i++) {
			name_add(m, set,
			    cg_sprintf(a, "%s%s", s->lower, pbc[i]), what);
		}
		name_add(m, set, cg_sprintf(a, "%s_Service", s->c_type), what);
		name_add(m, set, cg_sprintf(a, "%s_ServiceDestroy", s->c_type),
		    what);
	}
	for (size_t i = 0; i < s->n_methods; i++) {
		names_of_method(m, set, u, s, &s->methods[i]);
	}
}

// check_names fails if two generated declarations would share a name.
static bool
check_names(cg_model *m, const cg_unit *u)
{
	name_set set = {0};

	for (size_t i = 0; i < u->n_services; i++) {
		names_of_service(m, &set, u, &u->services[i]);
	}
	if (m->arena.failed) {
		return false;
	}
	qsort(set.ents, set.n, sizeof(*set.ents), name_cmp);
	for (size_t i = 1; i < set.n; i++) {
		if (strcmp(set.ents[i - 1].name, set.ents[i].name) == 0) {
			return cg_fail(m,
			    "%s: the generated name %s would be "
			    "declared twice, for %s and for %s; "
			    "rename one of them",
			    u->file->name, set.ents[i].name,
			    set.ents[i - 1].what, set.ents[i].what);
		}
	}
	return true;
}

static cg_kind
method_kind(const Google__Protobuf__MethodDescriptorProto *md)
{
	bool cs = md->has_client_streaming && md->client_streaming;
	bool ss = md->has_server_streaming && md->server_streaming;

	if (cs) {
		return ss ? CG_BIDI : CG_CLIENT_STREAM;
	}
	return ss ? CG_SERVER_STREAM : CG_UNARY;
}

// field_name is the server struct's field for a method: protobuf-c's
// lower-case name, with a trailing '_' if that is a keyword or the name
// of the struct's other fields.
static const char *
field_name(cg_arena *a, const char *method)
{
	const char *f = cg_camel_to_lower(a, method);

	if (cg_is_keyword(f) || strcmp(f, "free_reply") == 0 ||
	    strcmp(f, "user") == 0) {
		return cg_sprintf(a, "%s_", f);
	}
	return f;
}

static bool
build_method(cg_model *m, const cg_file *f, cg_service *s, const char *cfull,
    const Google__Protobuf__MethodDescriptorProto *md, const int32_t *path)
{
	cg_arena   *a = &m->arena;
	cg_method  *mt;
	const char *where;
	const char *cm;

	if (md == NULL || md->name == NULL || !cg_is_ident(md->name)) {
		return cg_fail(m,
		    "%s: service %s has a method without a valid name", f->name,
		    s->full);
	}
	mt    = &s->methods[s->n_methods];
	where = cg_sprintf(a, "%s: method %s.%s", f->name, s->full, md->name);
	cm    = cg_sprintf(a, "%s.%s", cfull, md->name);
	*mt   = (cg_method){
	      .name    = md->name,
	      .wire    = cg_sprintf(a, "/%s/%s", s->full, md->name),
	      .lower   = cg_full_to_lower(a, cm),
	      .macro   = cg_sprintf(a, "%s__METHOD", cg_full_to_upper(a, cm)),
	      .client  = cg_sprintf(a, "%s_Client", cg_full_to_c(a, cm)),
	      .field   = field_name(a, md->name),
	      .comment = find_comment(m, f, path, 4),
	      .kind    = method_kind(md),
	      .in      = find_type(m, where, md->input_type),
	      .out     = find_type(m, where, md->output_type),
        };
	if (mt->in == NULL || mt->out == NULL) {
		return false;
	}
	s->n_methods++;
	return true;
}

static bool
build_service(cg_model *m, const cg_file *f, cg_service *s,
    const Google__Protobuf__ServiceDescriptorProto *sd, int32_t index)
{
	cg_arena   *a       = &m->arena;
	int32_t     path[4] = {PATH_SERVICE, index, PATH_METHOD, 0};
	const char *cfull;

	if (sd == NULL || sd->name == NULL || !cg_is_ident(sd->name)) {
		return cg_fail(m, "%s: a service has no valid name", f->name);
	}
	s->full    = f->package[0] == '\0'
	                 ? sd->name
	                 : cg_sprintf(a, "%s.%s", f->package, sd->name);
	cfull      = cg_override_name(a, s->full, f->package, f->c_package);
	s->lower   = cg_full_to_lower(a, cfull);
	s->c_type  = cg_full_to_c(a, cfull);
	s->server  = cg_sprintf(a, "%s_Server", s->c_type);
	s->comment = find_comment(m, f, path, 2);
	s->methods = cg_alloc(a, sd->n_method, sizeof(*s->methods));
	if (s->methods == NULL) {
		return false;
	}
	for (size_t i = 0; i < sd->n_method; i++) {
		path[3] = (int32_t) i;
		if (!build_method(m, f, s, cfull, sd->method[i], path)) {
			return false;
		}
	}
	return true;
}

// safe_path: a file name that can go into #include "..." and a comment
// as it is (no quote, backslash or control character).
static bool
safe_path(const char *name)
{
	for (const char *p = name; *p != '\0'; p++) {
		if ((unsigned char) *p < 0x20 || *p == 0x7f || *p == '"' ||
		    *p == '\\') {
			return false;
		}
	}
	return true;
}

// add_include adds the .pb-c.h of msg's file to u's sorted set: msg is
// the input (what "input") or output of method mt of service svc. A file
// name that cannot be #included (an import's, say) is the plugin's error,
// naming it escaped, rather than a broken #include line.
static bool
add_include(cg_model *m, cg_unit *u, const cg_service *svc,
    const cg_method *mt, const cg_message *msg, const char *what)
{
	const char *inc;
	size_t      at = 0;

	if (!safe_path(msg->file->name)) {
		return cg_fail(m,
		    "%s: %s (the %s of %s.%s) is in %s, a file name that "
		    "cannot be #included",
		    u->file->name, msg->full, what, svc->full, mt->name,
		    cg_c_string(&m->arena, msg->file->name));
	}
	inc = cg_sprintf(
	    &m->arena, "%s.pb-c.h", cg_strip_proto(&m->arena, msg->file->name));
	while (at < u->n_includes && strcmp(u->includes[at], inc) < 0) {
		at++;
	}
	if (at < u->n_includes && strcmp(u->includes[at], inc) == 0) {
		return true;
	}
	memmove(&u->includes[at + 1], &u->includes[at],
	    (u->n_includes - at) * sizeof(*u->includes));
	u->includes[at] = inc;
	u->n_includes++;
	return true;
}

static bool
collect_includes(cg_model *m, cg_unit *u)
{
	size_t n = 0;

	for (size_t i = 0; i < u->n_services; i++) {
		n += u->services[i].n_methods * 2;
	}
	u->includes = cg_alloc(&m->arena, n, sizeof(*u->includes));
	if (u->includes == NULL) {
		return false;
	}
	for (size_t i = 0; i < u->n_services; i++) {
		const cg_service *s = &u->services[i];

		for (size_t j = 0; j < s->n_methods; j++) {
			const cg_method *mt = &s->methods[j];

			if (!add_include(m, u, s, mt, mt->in, "input") ||
			    !add_include(m, u, s, mt, mt->out, "output")) {
				return false;
			}
			u->client_streams |= mt->kind != CG_UNARY;
		}
	}
	return true;
}

bool
cg_unit_build(cg_model *m, const cg_file *file, cg_unit *u)
{
	const Google__Protobuf__FileDescriptorProto *fd = file->fd;

	if (!safe_path(file->name)) {
		return cg_fail(
		    m, "the file name \"%s\" cannot be #included", file->name);
	}
	*u = (cg_unit){
	    .file  = file,
	    .base  = cg_strip_proto(&m->arena, file->name),
	    .guard = cg_sprintf(&m->arena, "DRPC_GEN_%s_H",
	        cg_file_ident(&m->arena, file->name)),
	};
	if (fd->n_service == 0) {
		return true;
	}
	u->services = cg_alloc(&m->arena, fd->n_service, sizeof(*u->services));
	if (u->services == NULL) {
		return false;
	}
	for (size_t i = 0; i < fd->n_service; i++) {
		cg_service *s = &u->services[u->n_services];

		if (!build_service(m, file, s, fd->service[i], (int32_t) i)) {
			return false;
		}
		if (s->n_methods > 0) { // an empty service has nothing to call
			u->n_services++;
		}
	}
	if (u->n_services == 0) {
		return true;
	}
	return collect_includes(m, u) && check_names(m, u) &&
	       cg_reflect_build(m, u);
}
