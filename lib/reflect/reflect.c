// The reflection service (drpc/reflect.h, docs/protocol.md §17): three
// unary methods over the drpc_reflect_file data protoc-gen-drpc-c embeds.
// Its messages are three proto3 shapes with one field each (field 1: a
// string in the requests, repeated strings or bytes in the replies),
// coded here by hand so that the library needs no descriptor.proto code.
//
// State: files, roots and registered are written only by create, add and
// register, which finish before the mux is served (the mux's rule); the
// handlers only read them, on any number of threads.
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/reflect.h>
#include <drpc/stream.h>

#include "wire/varint.h"

// gRPC status codes the handlers answer with.
#define CODE_INVALID_ARGUMENT 3
#define CODE_NOT_FOUND        5

// MAX_NAME bounds a requested name: longer ones cannot be any file's or
// symbol's, and are refused before any search.
#define MAX_NAME 4096

typedef struct ref_list {
	const drpc_reflect_file **v;
	size_t                    n;
	size_t                    cap;
} ref_list;

struct drpc_reflect {
	ref_list files; // every file, imports included, one per name
	ref_list roots; // files added by drpc_reflect_add: their services
	bool     registered;
};

static bool
list_push(ref_list *l, const drpc_reflect_file *f)
{
	if (l->n == l->cap) {
		size_t                    cap = l->cap == 0 ? 8 : 2 * l->cap;
		const drpc_reflect_file **v   = realloc(l->v, cap * sizeof(*v));

		if (v == NULL) {
			return false;
		}
		l->v   = v;
		l->cap = cap;
	}
	l->v[l->n++] = f;
	return true;
}

// find_file: the index of the file called name (len bytes), or SIZE_MAX.
static size_t
find_file(const drpc_reflect *r, const char *name, size_t len)
{
	for (size_t i = 0; i < r->files.n; i++) {
		const char *fn = r->files.v[i]->name;

		if (strlen(fn) == len && memcmp(fn, name, len) == 0) {
			return i;
		}
	}
	return SIZE_MAX;
}

drpc_err
drpc_reflect_create(drpc_reflect **rp)
{
	if (rp == NULL) {
		return DRPC_EINVAL;
	}
	*rp = calloc(1, sizeof(**rp));
	return *rp == NULL ? DRPC_ENOMEM : DRPC_OK;
}

// add_tree adds f and its imports (depth bounds a cycle of imports, which
// generated data never has, but hand-made data might).
static drpc_err
add_tree(drpc_reflect *r, const drpc_reflect_file *f, size_t depth)
{
	if (f == NULL || f->name == NULL || f->descriptor == NULL ||
	    (f->n_deps > 0 && f->deps == NULL) ||
	    (f->n_services > 0 && f->services == NULL) ||
	    (f->n_symbols > 0 && f->symbols == NULL) || depth > 1000) {
		return DRPC_EINVAL;
	}
	if (find_file(r, f->name, strlen(f->name)) != SIZE_MAX) {
		return DRPC_OK;
	}
	for (size_t i = 0; i < f->n_deps; i++) {
		drpc_err rv = add_tree(r, f->deps[i], depth + 1);

		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return list_push(&r->files, f) ? DRPC_OK : DRPC_ENOMEM;
}

drpc_err
drpc_reflect_add(drpc_reflect *r, const drpc_reflect_file *f)
{
	drpc_err rv;
	size_t   i;
	size_t   had;

	if (r == NULL || f == NULL) {
		return DRPC_EINVAL;
	}
	if (r->registered) {
		return DRPC_ESTATE;
	}
	// All or nothing: a failure partway (a bad import, no memory) takes
	// back the files this call added, so r is as before.
	had = r->files.n;
	if ((rv = add_tree(r, f, 0)) != DRPC_OK) {
		r->files.n = had;
		return rv;
	}
	i = find_file(r, f->name, strlen(f->name));
	for (size_t k = 0; k < r->roots.n; k++) {
		if (r->roots.v[k] == r->files.v[i]) {
			return DRPC_OK;
		}
	}
	if (!list_push(&r->roots, r->files.v[i])) {
		r->files.n = had;
		return DRPC_ENOMEM;
	}
	return DRPC_OK;
}

void
drpc_reflect_destroy(drpc_reflect *r)
{
	if (r == NULL) {
		return;
	}
	free(r->files.v);
	free(r->roots.v);
	free(r);
}

// Encoding the replies: field 1, length-delimited, repeated.

typedef struct out_buf {
	uint8_t *p;
	size_t   len;
	size_t   cap;
	bool     failed;
} out_buf;

static void
out_field(out_buf *o, const void *data, size_t len)
{
	size_t need = 1 + DRPC__VARINT_MAX + len;

	if (o->failed) {
		return;
	}
	if (o->cap - o->len < need) {
		size_t   cap = o->cap == 0 ? 256 : o->cap;
		uint8_t *p;

		while (cap - o->len < need) {
			cap *= 2;
		}
		if ((p = realloc(o->p, cap)) == NULL) {
			o->failed = true;
			return;
		}
		o->p   = p;
		o->cap = cap;
	}
	o->p[o->len++] = 0x0a; // field 1, wire type 2
	o->len = (size_t) (drpc__varint_put(o->p + o->len, len) - o->p);
	if (len > 0) {
		memcpy(o->p + o->len, data, len);
	}
	o->len += len;
}

// Decoding the requests: the last field 1 of wire type 2; other fields
// skipped. false if buf is not a well-formed message.
static bool
req_name(const uint8_t *buf, size_t len, const char **name, size_t *name_len)
{
	size_t pos = 0;

	*name     = "";
	*name_len = 0;
	while (pos < len) {
		uint64_t tag;
		uint64_t v;
		size_t   used;

		if (drpc__varint_read(buf + pos, len - pos, &tag, &used) !=
		    DRPC_OK) {
			return false;
		}
		pos += used;
		switch (tag & 7) {
		case 0:
			if (drpc__varint_read(buf + pos, len - pos, &v,
			        &used) != DRPC_OK) {
				return false;
			}
			pos += used;
			continue;
		case 1:
			v = 8;
			break;
		case 5:
			v = 4;
			break;
		case 2:
			if (drpc__varint_read(buf + pos, len - pos, &v,
			        &used) != DRPC_OK) {
				return false;
			}
			pos += used;
			break;
		default:
			return false;
		}
		if (v > len - pos) {
			return false;
		}
		if (tag == 0x0a) {
			*name     = (const char *) buf + pos;
			*name_len = (size_t) v;
		}
		pos += (size_t) v;
	}
	return true;
}

// answer sends o as the reply (or ENOMEM).
static drpc_err
answer(drpc_stream *s, out_buf *o)
{
	drpc_err rv;

	if (o->failed) {
		free(o->p);
		return DRPC_ENOMEM;
	}
	rv = drpc_stream_send_last(s, o->p, o->len);
	free(o->p);
	return rv;
}

// take_request receives the request and finds its name field; on a bad
// request it sets the stream's error and returns false.
static bool
take_request(drpc_stream *s, void **data, const char **name, size_t *len,
    drpc_err *rv)
{
	size_t n = 0;

	*data = NULL;
	if ((*rv = drpc_stream_recv(s, data, &n)) != DRPC_OK) {
		if (*rv == DRPC_EOF) { // no request at all: an empty one
			*rv = DRPC_OK;
			*name = "";
			*len  = 0;
			return true;
		}
		return false;
	}
	if (!req_name(*data, n, name, len) || memchr(*name, '\0', *len) != NULL) {
		*rv = drpc_stream_set_error(s, CODE_INVALID_ARGUMENT,
		    "malformed reflection request");
		return false;
	}
	if (*len > MAX_NAME) {
		*rv = drpc_stream_set_error(s, CODE_INVALID_ARGUMENT,
		    "name longer than 4096 bytes");
		return false;
	}
	return true;
}

static drpc_err
h_list_services(drpc_stream *s, void *user)
{
	const drpc_reflect *r    = user;
	out_buf             o    = {0};
	void               *data = NULL;
	const char         *name;
	size_t              len;
	drpc_err            rv;

	if (!take_request(s, &data, &name, &len, &rv)) {
		drpc_free(data);
		return rv;
	}
	drpc_free(data);
	for (size_t i = 0; i < r->roots.n; i++) {
		const drpc_reflect_file *f = r->roots.v[i];

		for (size_t j = 0; j < f->n_services; j++) {
			out_field(&o, f->services[j], strlen(f->services[j]));
		}
	}
	return answer(s, &o);
}

// put_tree appends file i's imports (resolved by name among the files
// kept), then file i, each once (seen).
static void
put_tree(const drpc_reflect *r, size_t i, bool *seen, out_buf *o)
{
	const drpc_reflect_file *f = r->files.v[i];

	if (seen[i]) {
		return;
	}
	seen[i] = true;
	for (size_t k = 0; k < f->n_deps; k++) {
		const char *dn = f->deps[k]->name;
		size_t      d  = find_file(r, dn, strlen(dn));

		if (d != SIZE_MAX) { // add_tree added every import
			put_tree(r, d, seen, o);
		}
	}
	out_field(o, f->descriptor, f->descriptor_len);
}

// answer_file sends file i and everything it imports, imports first.
static drpc_err
answer_file(drpc_stream *s, const drpc_reflect *r, size_t i)
{
	out_buf o    = {0};
	bool   *seen = calloc(r->files.n, sizeof(*seen));

	if (seen == NULL) {
		return DRPC_ENOMEM;
	}
	put_tree(r, i, seen, &o);
	free(seen);
	return answer(s, &o);
}

// not_found ends the call with NotFound, naming what was asked for.
static drpc_err
not_found(drpc_stream *s, const char *what, const char *name, size_t len)
{
	size_t n   = strlen(what) + len + 16;
	char  *msg = malloc(n);
	drpc_err rv;

	if (msg == NULL) {
		return DRPC_ENOMEM;
	}
	memcpy(msg, what, strlen(what));
	memcpy(msg + strlen(what), " not found: ", 12);
	memcpy(msg + strlen(what) + 12, name, len);
	msg[strlen(what) + 12 + len] = '\0';
	rv = drpc_stream_set_error(s, CODE_NOT_FOUND, msg);
	free(msg);
	return rv;
}

static bool
has_symbol(const drpc_reflect_file *f, const char *name, size_t len)
{
	for (size_t k = 0; k < f->n_symbols; k++) {
		if (strlen(f->symbols[k]) == len &&
		    memcmp(f->symbols[k], name, len) == 0) {
			return true;
		}
	}
	return false;
}

static drpc_err
h_file_containing_symbol(drpc_stream *s, void *user)
{
	const drpc_reflect *r    = user;
	void               *data = NULL;
	const char         *name;
	size_t              len;
	drpc_err            rv;

	if (!take_request(s, &data, &name, &len, &rv)) {
		drpc_free(data);
		return rv;
	}
	if (len > 0 && name[0] == '.') { // a fully qualified ".pkg.Msg"
		name++;
		len--;
	}
	for (size_t i = 0; i < r->files.n; i++) {
		if (has_symbol(r->files.v[i], name, len)) {
			drpc_free(data);
			return answer_file(s, r, i);
		}
	}
	rv = not_found(s, "symbol", name, len);
	drpc_free(data);
	return rv;
}

static drpc_err
h_file_by_filename(drpc_stream *s, void *user)
{
	const drpc_reflect *r    = user;
	void               *data = NULL;
	const char         *name;
	size_t              len;
	size_t              i;
	drpc_err            rv;

	if (!take_request(s, &data, &name, &len, &rv)) {
		drpc_free(data);
		return rv;
	}
	if ((i = find_file(r, name, len)) != SIZE_MAX) {
		drpc_free(data);
		return answer_file(s, r, i);
	}
	rv = not_found(s, "file", name, len);
	drpc_free(data);
	return rv;
}

drpc_err
drpc_reflect_register(drpc_reflect *r, drpc_mux *mux)
{
	drpc_err rv;

	if (r == NULL || mux == NULL) {
		return DRPC_EINVAL;
	}
	if (r->registered) {
		return DRPC_ESTATE;
	}
	if ((rv = drpc_mux_register(mux, DRPC_REFLECT_LIST_SERVICES,
	         h_list_services, r)) != DRPC_OK ||
	    (rv = drpc_mux_register(mux, DRPC_REFLECT_FILE_CONTAINING_SYMBOL,
	         h_file_containing_symbol, r)) != DRPC_OK ||
	    (rv = drpc_mux_register(mux, DRPC_REFLECT_FILE_BY_FILENAME,
	         h_file_by_filename, r)) != DRPC_OK) {
		return rv;
	}
	r->registered = true;
	return DRPC_OK;
}
