// Text buffers and the arena. Both make allocation failure sticky, so the
// emitters can write text without checking every call (hiredis's reader
// does the same with its errors); cg_run checks once at the end.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

// buf_reserve makes room for n more bytes and the NUL.
static bool
buf_reserve(cg_buf *b, size_t n)
{
	size_t cap;
	char  *p;

	if (b->failed) {
		return false;
	}
	if (n < b->cap - b->len) {
		return true;
	}
	if (n > SIZE_MAX / 2 - b->len) {
		b->failed = true;
		return false;
	}
	cap = b->cap == 0 ? 256 : b->cap;
	while (cap - b->len <= n) {
		cap *= 2;
	}
	if ((p = realloc(b->data, cap)) == NULL) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap  = cap;
	return true;
}

void
cg_buf_putn(cg_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n)) {
		return;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
cg_buf_puts(cg_buf *b, const char *s)
{
	cg_buf_putn(b, s, strlen(s));
}

void
cg_buf_putc(cg_buf *b, char c)
{
	cg_buf_putn(b, &c, 1);
}

void
cg_buf_printf(cg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int     n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!buf_reserve(b, (size_t) n)) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

char *
cg_buf_take(cg_buf *b, size_t *len)
{
	char *p = b->data;

	if (!b->failed && p == NULL) {
		p = calloc(1, 1); // an empty text is still a text
	}
	if (b->failed || p == NULL) {
		cg_buf_fini(b);
		return NULL;
	}
	*len = b->len;
	*b   = (cg_buf){0};
	return p;
}

void
cg_buf_fini(cg_buf *b)
{
	free(b->data);
	*b = (cg_buf){0};
}

// arena_keep records block p (NULL: failed) so cg_arena_fini frees it.
static void *
arena_keep(cg_arena *a, void *p)
{
	if (p == NULL) {
		a->failed = true;
		return NULL;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap == 0 ? 64 : a->cap * 2;
		void **bl  = realloc(a->blocks, cap * sizeof(*bl));

		if (bl == NULL) {
			free(p);
			a->failed = true;
			return NULL;
		}
		a->blocks = bl;
		a->cap    = cap;
	}
	a->blocks[a->n++] = p;
	return p;
}

void *
cg_alloc(cg_arena *a, size_t n, size_t size)
{
	if (n == 0 || size == 0) {
		n    = 1; // a valid pointer even for nothing
		size = 1;
	}
	if (n > SIZE_MAX / size) {
		a->failed = true;
		return NULL;
	}
	return arena_keep(a, calloc(n, size));
}

const char *
cg_strndup(cg_arena *a, const char *s, size_t n)
{
	char *p = n == SIZE_MAX ? NULL : cg_alloc(a, n + 1, 1);

	if (p == NULL) {
		a->failed = true;
		return "";
	}
	memcpy(p, s, n);
	return p;
}

const char *
cg_strdup(cg_arena *a, const char *s)
{
	return cg_strndup(a, s, strlen(s));
}

const char *
cg_sprintf(cg_arena *a, const char *fmt, ...)
{
	va_list ap;
	int     n;
	char   *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (p = cg_alloc(a, (size_t) n + 1, 1)) == NULL) {
		a->failed = true;
		return "";
	}
	va_start(ap, fmt);
	vsnprintf(p, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void
cg_arena_fini(cg_arena *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->blocks[i]);
	}
	free(a->blocks);
	*a = (cg_arena){0};
}
