// Layout: generated code should read like the rest of the repository, so
// it is laid out as clang-format 14 lays out code with .clang-format
// (tabs, 80 columns, continuation lines 4 columns deeper, aligned
// declarations and macros). These functions reproduce the few shapes the
// emitters produce; `make codegen-format-check` runs clang-format on the
// output to prove they agree.
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

#define LIMIT 80
#define TAB   8

// width is the number of columns text takes (UTF-8 continuation bytes
// take none).
static size_t
width(const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		if (((unsigned char) s[i] & 0xc0) != 0x80) {
			w++;
		}
	}
	return w;
}

static void
indent(cg_buf *b, int tabs, bool cont)
{
	for (int i = 0; i < tabs; i++) {
		cg_buf_putc(b, '\t');
	}
	if (cont) {
		cg_buf_puts(b, "    ");
	}
}

// joined is the width of the items separated by ", ".
static size_t
joined(const char *const *items, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		w += width(items[i], strlen(items[i])) + (i > 0 ? 2 : 0);
	}
	return w;
}

// An item of a list being laid out: where it went, and for a parameter
// declaration where its name is and how far it moves to be aligned.
typedef struct lay_item {
	const char *text;
	size_t      line;  // 0: the line of "("
	size_t      k;     // its index on that line (commas before it)
	size_t      col;   // where it starts
	size_t      type;  // length of the type ("const T"), 0: no name
	size_t      name;  // column of the identifier (after any '*')
	size_t      after; // columns from the identifier to the line's end
	size_t      shift; // spaces added between type and name
} lay_item;

#define NONE SIZE_MAX

// Sequence state of clang-format's AlignTokens (WhitespaceManager.cpp)
// for one parameter list: matching names on consecutive lines, each the
// only or first one of its line, are aligned on the largest column that
// keeps every line within the limit.
typedef struct align_seq {
	size_t start; // first item of the sequence, NONE if none
	size_t end;   // first item of the line being read
	size_t min;
	size_t max;
} align_seq;

static void
align_flush(lay_item *it, align_seq *q)
{
	size_t line = NONE;

	if (q->start != NONE && q->start < q->end) {
		for (size_t i = q->start; i < q->end; i++) {
			if (it[i].type > 0 && it[i].line != line) {
				it[i].shift = q->min - it[i].name;
				line        = it[i].line;
			}
		}
	}
	*q = (align_seq){NONE, 0, 0, SIZE_MAX};
}

// split_decl finds the length of the type of a parameter "type **name"
// (0 if it is not one, as "void").
static size_t
split_decl(const char *p)
{
	size_t n = strlen(p);
	size_t i = n;

	while (
	    i > 0 && (p[i - 1] == '_' || (p[i - 1] >= 'a' && p[i - 1] <= 'z') ||
	                 (p[i - 1] >= 'A' && p[i - 1] <= 'Z') ||
	                 (p[i - 1] >= '0' && p[i - 1] <= '9'))) {
		i--;
	}
	while (i > 0 && p[i - 1] == '*') {
		i--;
	}
	if (i < 2 || p[i - 1] != ' ' || i == n) {
		return 0;
	}
	return i - 1;
}

// align_params sets each item's shift as AlignConsecutiveDeclarations
// would, given every item's position.
static void
align_params(lay_item *it, size_t n)
{
	align_seq q     = {NONE, 0, 0, SIZE_MAX};
	size_t    last  = 0;
	bool      found = false;

	for (size_t i = 0; i < n; i++) {
		if (it[i].k == 0 && it[i].line > 0) {
			q.end = i;
			if (!found) {
				align_flush(it, &q);
			}
			found = false;
		}
		if (it[i].type == 0) {
			continue;
		}
		if (found || it[i].k != last) {
			align_flush(it, &q);
		}
		last  = it[i].k;
		found = true;
		if (q.start == NONE) {
			q.start = i;
		}
		if (it[i].name > q.max || LIMIT - it[i].after < q.min) {
			align_flush(it, &q);
			q.start = i;
		}
		q.min = it[i].name > q.min ? it[i].name : q.min;
		q.max =
		    LIMIT - it[i].after < q.max ? LIMIT - it[i].after : q.max;
	}
	q.end = n;
	align_flush(it, &q);
}

// place assigns items to lines: packed from column col of line 0, an
// item that does not fit starting a continuation line.
static void
place(lay_item *it, size_t n, int tabs, size_t col, const char *tail)
{
	size_t cont = (size_t) tabs * TAB + 4;
	size_t line = 0;
	size_t k    = 0;

	for (size_t i = 0; i < n; i++) {
		size_t w = width(it[i].text, strlen(it[i].text)) +
		           (i + 1 < n ? 1 : 1 + width(tail, strlen(tail)));

		if (k > 0 && col + 1 + w > LIMIT) {
			line++;
			col = cont;
			k   = 0;
		}
		if (k > 0) {
			col++;
		}
		it[i].line = line;
		it[i].k    = k++;
		it[i].col  = col;
		it[i].type = split_decl(it[i].text);
		it[i].name = it[i].type == 0
		                 ? col
		                 : col + it[i].type + 1 +
		                       strspn(it[i].text + it[i].type + 1, "*");
		col += w;
		it[i].after = col; // the end of the item, for now
	}
	// after: from the name to the end of the item's line.
	for (size_t i = n; i-- > 0;) {
		size_t end = it[i].after;

		if (i + 1 < n && it[i + 1].line == it[i].line) {
			end = it[i + 1].after + it[i + 1].name;
		}
		it[i].after = end > it[i].name ? end - it[i].name : 0;
	}
}

// write_items writes the placed items (and ")" tail), breaking lines.
static void
write_items(cg_buf *b, int tabs, const lay_item *it, size_t n, const char *tail)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && it[i].line != it[i - 1].line) {
			cg_buf_putc(b, '\n');
			indent(b, tabs, true);
		} else if (i > 0) {
			cg_buf_putc(b, ' ');
		}
		if (it[i].type > 0 && it[i].k == 0 && it[i].after > 0 &&
		    it[i].name + it[i].after > LIMIT && i + 1 == n) {
			// A lone last parameter too long for its line: the name
			// goes on a line of its own, as clang-format puts it.
			cg_buf_putn(b, it[i].text, it[i].type);
			cg_buf_putc(b, '\n');
			indent(b, tabs, true);
			cg_buf_printf(b, "    %s", it[i].text + it[i].type + 1);
		} else if (it[i].type > 0 && it[i].shift > 0) {
			cg_buf_putn(b, it[i].text, it[i].type);
			cg_buf_printf(b, "%*s", (int) (it[i].shift + 1), "");
			cg_buf_puts(b, it[i].text + it[i].type + 1);
		} else {
			cg_buf_puts(b, it[i].text);
		}
		cg_buf_puts(b, i + 1 < n ? "," : ")");
	}
	if (n == 0) {
		cg_buf_putc(b, ')');
	}
	cg_buf_puts(b, tail);
	cg_buf_putc(b, '\n');
}

// assign_break writes "lhs =" and a continuation line starting "f(" for
// a call head "lhs = f" whose call fits on that line (list: the width of
// its arguments and tail), as clang-format prefers; false if it does not.
static bool
assign_break(cg_buf *b, int tabs, const char *head, size_t list)
{
	const char *eq   = strstr(head, " = ");
	size_t      cont = (size_t) tabs * TAB + 4;

	if (eq == NULL ||
	    cont + width(eq + 3, strlen(eq + 3)) + 1 + list > LIMIT) {
		return false;
	}
	indent(b, tabs, false);
	cg_buf_putn(b, head, (size_t) (eq - head));
	cg_buf_puts(b, " =\n");
	indent(b, tabs, true);
	cg_buf_puts(b, eq + 3);
	cg_buf_putc(b, '(');
	return true;
}

// lay writes head(items)tail: on one line if it fits; else with the list
// on the next line if it fits there; else packed behind "(" if the first
// item fits there, or after "(" if not. Declarations (decl) have their
// parameter names aligned as clang-format aligns them; a call assigned to
// something ("rv = f") breaks after the "=" if that makes it fit.
static void
lay(cg_buf *b, int tabs, const char *head, const char *const *items, size_t n,
    const char *tail, bool decl)
{
	size_t    col   = (size_t) tabs * TAB + width(head, strlen(head)) + 1;
	size_t    cont  = (size_t) tabs * TAB + 4;
	size_t    list  = joined(items, n) + 1 + width(tail, strlen(tail));
	size_t    first = 0;
	lay_item *it;

	if (n > 0) {
		first = width(items[0], strlen(items[0])) +
		        (n == 1 ? 1 + width(tail, strlen(tail)) : 1);
	}
	if ((it = calloc(n > 0 ? n : 1, sizeof(*it))) == NULL) {
		b->failed = true;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		it[i].text = items[i];
	}
	if (!decl && n > 0 && col + list > LIMIT &&
	    assign_break(b, tabs, head, list)) {
		col = cont + width(head, strlen(head)) -
		      (size_t) (strstr(head, " = ") + 3 - head) + 1;
	} else {
		indent(b, tabs, false);
		cg_buf_puts(b, head);
		cg_buf_putc(b, '(');
	}
	if (!(col + list <= LIMIT ||
	        (n > 0 && col + first <= LIMIT && cont + list > LIMIT))) {
		cg_buf_putc(b, '\n');
		indent(b, tabs, true);
		col = cont;
	}
	place(it, n, tabs, col, tail);
	if (decl) {
		align_params(it, n);
	}
	write_items(b, tabs, it, n, tail);
	free(it);
}

void
cg_lay_decl(cg_buf *b, int tabs, const char *head, const char *const *params,
    size_t n, const char *tail)
{
	lay(b, tabs, head, params, n, tail, true);
}

// value_fits: "value," on a continuation line of a field after spaces.
static bool
value_fits(size_t spaces, const char *value)
{
	return spaces + 4 + width(value, strlen(value)) + 1 <= LIMIT;
}

// field_fits: ".name = value," on one line after spaces.
static bool
field_fits(size_t spaces, const char *name, const char *value)
{
	return spaces + 1 + strlen(name) + 3 + width(value, strlen(value)) +
	           1 <=
	       LIMIT;
}

void
cg_lay_proto(cg_buf *b, const char *ret, const char *name,
    const char *const *params, size_t n)
{
	bool        ptr  = ret[strlen(ret) - 1] == '*';
	const char *head = NULL;
	cg_buf      h    = {0};

	cg_buf_printf(&h, "%s%s%s", ret, ptr ? "" : " ", name);
	head = h.data != NULL ? h.data : "";
	if (width(head, strlen(head)) + 1 > LIMIT) {
		cg_buf_printf(b, "%s\n", ret);
		head = name;
	}
	lay(b, 0, head, params, n, ";", true);
	b->failed |= h.failed;
	cg_buf_fini(&h);
}

// call_args: value is a call "f(a, b, ...)" of plain arguments (no
// parentheses or quotes in them); *open is the length of "f(".
static bool
call_args(const char *value, size_t *open)
{
	const char *p = strchr(value, '(');
	size_t      n = strlen(value);

	if (p == NULL || p == value || value[n - 1] != ')' ||
	    strpbrk(p + 1, "(\"'") != NULL || strchr(p + 1, ')') != value + n - 1) {
		return false;
	}
	for (const char *q = value; q < p; q++) {
		if (!(isalnum((unsigned char) *q) || *q == '_')) {
			return false;
		}
	}
	*open = (size_t) (p - value) + 1;
	return true;
}

// field_call writes ".name<pad> = f(" and then f's arguments packed on
// continuation lines (spaces + 4), ending "),": what clang-format makes
// of a field whose call fits neither behind "=" nor on a line of its own.
static void
field_call(cg_buf *b, size_t spaces, const char *name, size_t pad,
    const char *value, size_t open)
{
	const char *arg  = value + open;
	size_t      cont = spaces + 4;
	size_t      col  = cont;

	cg_buf_printf(b, "%*s.%s%*s = %.*s\n%*s", (int) spaces, "", name,
	    (int) pad, "", (int) open, value, (int) cont, "");
	while (*arg != '\0') {
		const char *end = strstr(arg, ", ");
		size_t      n   = end != NULL ? (size_t) (end - arg) + 1
		                              : strlen(arg) + 1; // "a," or "b),"
		size_t      w   = width(arg, n);

		if (col > cont && col + 1 + w > LIMIT) {
			cg_buf_printf(b, "\n%*s", (int) cont, "");
			col = cont;
		} else if (col > cont) {
			cg_buf_putc(b, ' ');
			col++;
		}
		cg_buf_printf(b, "%.*s", (int) n - (end != NULL ? 0 : 1), arg);
		if (end == NULL) {
			cg_buf_putc(b, ',');
			break;
		}
		col += w;
		arg = end + 2;
	}
	cg_buf_putc(b, '\n');
}

void
cg_lay_fields(cg_buf *b, size_t spaces, const char *const *names,
    const char *const *values, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t end  = i;
		size_t col  = 0;
		size_t open = 0;
		bool   call;

		while (end < n && field_fits(spaces, names[end], values[end])) {
			col =
			    strlen(names[end]) > col ? strlen(names[end]) : col;
			end++;
		}
		// A call that fits neither on the field's line nor behind "="
		// on the next ends the run aligned before it, as its last
		// (clang-format breaks it inside the parentheses); another
		// field that does not fit breaks after "=" and stands alone.
		call = end < n && !value_fits(spaces, values[end]) &&
		       call_args(values[end], &open);
		if (end == i && !call) {
			cg_buf_printf(b, "%*s.%s =\n%*s%s,\n", (int) spaces, "",
			    names[i], (int) spaces + 4, "", values[i]);
			i++;
			continue;
		}
		if (call && strlen(names[end]) > col) {
			col = strlen(names[end]);
		}
		for (; i < end; i++) {
			cg_buf_printf(b, "%*s.%s%*s = %s,\n", (int) spaces, "",
			    names[i], (int) (col - strlen(names[i])), "",
			    values[i]);
		}
		if (call) {
			field_call(b, spaces, names[i], col - strlen(names[i]),
			    values[i], open);
			i++;
		}
	}
}

size_t
cg_lay_array(cg_buf *b, const char *type, const char *name)
{
	size_t head = strlen("static const ") + strlen(type) + strlen(" ") +
	              strlen(name) + strlen(" =");

	if (head + strlen(" {") <= LIMIT) {
		cg_buf_printf(b, "static const %s %s = {\n", type, name);
		return 4;
	}
	if (head <= LIMIT) { // clang-format moves the "{" alone
		cg_buf_printf(b, "static const %s %s =\n    {\n", type, name);
		return 8;
	}
	cg_buf_printf(b, "static const %s\n    %s = {\n", type, name);
	return 8;
}

void
cg_lay_call(cg_buf *b, int tabs, const char *head, const char *const *args,
    size_t n, const char *tail)
{
	lay(b, tabs, head, args, n, tail, false);
}

void
cg_lay_row(cg_buf *b, size_t spaces, const char *const *items, size_t n)
{
	size_t col = spaces + 1; // after "{"

	cg_buf_printf(b, "%*s{", (int) spaces, "");
	for (size_t i = 0; i < n; i++) {
		const char *end = i + 1 < n ? "," : "},";
		size_t      w = width(items[i], strlen(items[i])) + strlen(end);

		if (i > 0 && col + 1 + w > LIMIT) {
			cg_buf_printf(b, "\n%*s", (int) spaces + 4, "");
			col = spaces + 4;
		} else if (i > 0) {
			cg_buf_putc(b, ' ');
			col++;
		}
		cg_buf_puts(b, items[i]);
		cg_buf_puts(b, end);
		col += w;
	}
	cg_buf_putc(b, '\n');
}

// comment_line writes one line of comment text, broken at spaces where it
// would pass the limit (a word longer than a line stays whole).
static void
comment_line(cg_buf *b, int tabs, const char *s, size_t n)
{
	size_t room = LIMIT - (size_t) tabs * TAB - 3; // after "// "

	while (n > 0 && s[n - 1] == ' ') {
		n--;
	}
	while (width(s, n) > room) {
		size_t cut = 0;

		for (size_t i = 1; i < n && width(s, i) <= room; i++) {
			if (s[i] == ' ') {
				cut = i;
			}
		}
		if (cut == 0) { // no space early enough: the first one after
			const char *sp = memchr(s, ' ', n);

			if (sp == NULL) {
				break;
			}
			cut = (size_t) (sp - s);
		}
		indent(b, tabs, false);
		cg_buf_puts(b, "// ");
		cg_buf_putn(b, s, cut);
		cg_buf_putc(b, '\n');
		while (cut < n && s[cut] == ' ') {
			cut++;
		}
		s += cut;
		n -= cut;
	}
	indent(b, tabs, false);
	cg_buf_puts(b, n > 0 ? "// " : "//");
	cg_buf_putn(b, s, n);
	cg_buf_putc(b, '\n');
}

void
cg_lay_comment(cg_buf *b, int tabs, const char *text)
{
	const char *p = text;

	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t      n  = nl != NULL ? (size_t) (nl - p) : strlen(p);

		comment_line(b, tabs, p, n);
		if (nl == NULL || nl[1] == '\0') {
			return;
		}
		p = nl + 1;
	}
}

// define_fits: "#define name value" on one line.
static bool
define_fits(const char *name, const char *value)
{
	return strlen("#define ") + width(name, strlen(name)) + 1 +
	           width(value, strlen(value)) <=
	       LIMIT;
}

void
cg_lay_defines(
    cg_buf *b, const char *const *names, const char *const *values, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t end = i;
		size_t col = 0;

		if (!define_fits(names[i], values[i])) {
			cg_buf_printf(
			    b, "#define %s \\\n\t%s\n", names[i], values[i]);
			i++;
			continue;
		}
		while (end < n && define_fits(names[end], values[end])) {
			size_t w = width(names[end], strlen(names[end]));

			col = w > col ? w : col;
			end++;
		}
		for (; i < end; i++) {
			size_t w = width(names[i], strlen(names[i]));

			cg_buf_printf(b, "#define %s%*s %s\n", names[i],
			    (int) (col - w), "", values[i]);
		}
	}
}

void
cg_lay_locals(cg_buf *b, int tabs, const char *const *types,
    const char *const *names, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		size_t c = strlen(types[i]) + 1 + strspn(names[i], "*");

		col = c > col ? c : col;
	}
	for (size_t i = 0; i < n; i++) {
		size_t pad = col - strlen(types[i]) - strspn(names[i], "*");

		indent(b, tabs, false);
		cg_buf_printf(
		    b, "%s%*s%s;\n", types[i], (int) pad, "", names[i]);
	}
}
