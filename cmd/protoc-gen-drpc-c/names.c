// protobuf-c's naming scheme, so that generated stubs name the very types
// and descriptors protoc-c declares. Each function copies the one of the
// same name in protobuf-c 1.4's protoc-c/c_helpers.cc, and the rules were
// checked against protoc-c 1.4.1's output (docs/codegen.md lists cases).
// Proto identifiers are ASCII, so the character classes are ASCII only.
#include <string.h>

#include "cg.h"

static bool
is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool
is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
to_upper(char c)
{
	return is_lower(c) ? (char) (c - 'a' + 'A') : c;
}

static char
to_lower(char c)
{
	return is_upper(c) ? (char) (c - 'A' + 'a') : c;
}

// camel_to writes CamelToLower (upper false) or CamelToUpper: an
// underscore goes before each capital that follows a non-capital (so
// "HTTPRequest" -> "httprequest", "x9Y_z" -> "x9_y_z", "a_B" -> "a__b").
static const char *
camel_to(cg_arena *a, const char *name, bool upper)
{
	size_t len = strlen(name);
	char  *out = cg_alloc(a, len + 1, 2); // at most one '_' per char
	size_t n   = 0;
	bool   was = true; // suppresses a leading '_'

	if (out == NULL) {
		return "";
	}
	for (size_t i = 0; i < len; i++) {
		bool up = is_upper(name[i]);

		if (up && !was) {
			out[n++] = '_';
		}
		out[n++] = upper ? to_upper(name[i]) : to_lower(name[i]);
		was      = up;
	}
	return out;
}

const char *
cg_camel_to_lower(cg_arena *a, const char *name)
{
	return camel_to(a, name, false);
}

const char *
cg_camel_to_upper(cg_arena *a, const char *name)
{
	return camel_to(a, name, true);
}

// ToCamel: underscores dropped, the first letter and each one after an
// underscore capitalised, the rest kept ("snake_case_msg" ->
// "SnakeCaseMsg", "ABCdef_ghi" -> "ABCdefGhi").
const char *
cg_to_camel(cg_arena *a, const char *name)
{
	size_t len  = strlen(name);
	char  *out  = cg_alloc(a, len + 1, 1);
	size_t n    = 0;
	bool   next = true;

	if (out == NULL) {
		return "";
	}
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '_') {
			next = true;
		} else {
			out[n++] = next ? to_upper(name[i]) : name[i];
			next     = false;
		}
	}
	return out;
}

// OverrideFullName: c_package replaces the package at the front of full
// (with a '.' after it when the file has no package).
const char *
cg_override_name(
    cg_arena *a, const char *full, const char *package, const char *c_package)
{
	size_t plen = strlen(package);

	if (c_package == NULL || strncmp(full, package, plen) != 0) {
		return full;
	}
	return cg_sprintf(
	    a, "%s%s%s", c_package, plen == 0 ? "." : "", full + plen);
}

typedef const char *(*piece_fn)(cg_arena *a, const char *piece);

// full_to splits full at dots and joins the converted pieces with "__".
static const char *
full_to(cg_arena *a, const char *full, piece_fn conv)
{
	const char *rv = "";
	const char *p  = full;

	while (*p != '\0') {
		size_t      n = strcspn(p, ".");
		const char *piece;

		if (n > 0) {
			piece = conv(a, cg_strndup(a, p, n));
			rv    = rv[0] == '\0' ? piece
			                      : cg_sprintf(a, "%s__%s", rv, piece);
		}
		p += n;
		if (*p == '.') {
			p++;
		}
	}
	return rv;
}

const char *
cg_full_to_lower(cg_arena *a, const char *full)
{
	return full_to(a, full, cg_camel_to_lower);
}

const char *
cg_full_to_upper(cg_arena *a, const char *full)
{
	return full_to(a, full, cg_camel_to_upper);
}

const char *
cg_full_to_c(cg_arena *a, const char *full)
{
	return full_to(a, full, cg_to_camel);
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s);
	size_t k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

const char *
cg_strip_proto(cg_arena *a, const char *filename)
{
	size_t n = strlen(filename);

	if (has_suffix(filename, ".protodevel")) {
		return cg_strndup(a, filename, n - strlen(".protodevel"));
	}
	if (has_suffix(filename, ".proto")) {
		return cg_strndup(a, filename, n - strlen(".proto"));
	}
	return filename;
}

const char *
cg_c_string(cg_arena *a, const char *s)
{
	size_t len = strlen(s);
	char  *out = cg_alloc(a, len + 1, 4); // "\ooo" at most, quotes, NUL
	size_t n   = 0;

	if (out == NULL) {
		return "\"\"";
	}
	out[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\' || c == '?') {
			out[n++] = '\\';
			out[n++] = (char) c;
		} else if (c < 0x20 || c >= 0x7f) {
			out[n++] = '\\';
			out[n++] = (char) ('0' + (c >> 6));
			out[n++] = (char) ('0' + ((c >> 3) & 7));
			out[n++] = (char) ('0' + (c & 7));
		} else {
			out[n++] = (char) c;
		}
	}
	out[n++] = '"';
	out[n]   = '\0';
	return out;
}

const char *
cg_file_ident(cg_arena *a, const char *filename)
{
	static const char hex[] = "0123456789abcdef";
	size_t            len   = strlen(filename);
	char             *out   = cg_alloc(a, len + 1, 4); // "_xx" at most
	size_t            n     = 0;

	if (out == NULL) {
		return "";
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) filename[i];

		if (is_upper((char) c) || is_lower((char) c) ||
		    is_digit((char) c)) {
			out[n++] = (char) c;
			continue;
		}
		// FastHexToBuffer prints "%x": no leading zero.
		out[n++] = '_';
		if (c >= 16) {
			out[n++] = hex[c >> 4];
		}
		out[n++] = hex[c & 15];
	}
	return out;
}

// protobuf-c's kKeywordList (the keywords of C++, which include most of
// C's) plus C's restrict.
static const char *const keywords[] = {"and", "and_eq", "asm", "auto", "bitand",
    "bitor", "bool", "break", "case", "catch", "char", "class", "compl",
    "const", "const_cast", "continue", "default", "delete", "do", "double",
    "dynamic_cast", "else", "enum", "explicit", "extern", "false", "float",
    "for", "friend", "goto", "if", "inline", "int", "long", "mutable",
    "namespace", "new", "not", "not_eq", "operator", "or", "or_eq", "private",
    "protected", "public", "register", "reinterpret_cast", "restrict", "return",
    "short", "signed", "sizeof", "static", "static_cast", "struct", "switch",
    "template", "this", "throw", "true", "try", "typedef", "typeid", "typename",
    "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t",
    "while", "xor", "xor_eq"};

bool
cg_is_keyword(const char *s)
{
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (strcmp(s, keywords[i]) == 0) {
			return true;
		}
	}
	return false;
}

// is_ident_n: s[0..n) is [A-Za-z_][A-Za-z0-9_]*.
static bool
is_ident_n(const char *s, size_t n)
{
	if (n == 0 || !(is_upper(s[0]) || is_lower(s[0]) || s[0] == '_')) {
		return false;
	}
	for (size_t i = 1; i < n; i++) {
		if (!(is_upper(s[i]) || is_lower(s[i]) || is_digit(s[i]) ||
		        s[i] == '_')) {
			return false;
		}
	}
	return true;
}

bool
cg_is_ident(const char *s)
{
	return is_ident_n(s, strlen(s));
}

bool
cg_is_dotted(const char *s)
{
	if (*s == '\0') {
		return true;
	}
	for (;;) {
		size_t n = strcspn(s, ".");

		if (!is_ident_n(s, n)) {
			return false;
		}
		if (s[n] == '\0') {
			return true;
		}
		s += n + 1;
	}
}
