#include <stdlib.h>
#include <string.h>

#include "wire/metadata.h"
#include "wire/varint.h"

#define MD_TAG_ENTRY 0x0a // field 1, length-delimited
#define MD_TAG_KEY   0x0a // entry field 1
#define MD_TAG_VALUE 0x12 // entry field 2

static size_t
md_field_size(size_t len)
{
	return 1 + drpc__varint_size(len) + len;
}

static uint8_t *
md_put_field(uint8_t *p, uint8_t tag, const uint8_t *data, size_t len)
{
	*p++ = tag;
	p    = drpc__varint_put(p, len);
	if (len > 0) {
		memcpy(p, data, len);
	}
	return p + len;
}

drpc_err
drpc__md_append(drpc__buf *b, const drpc__md_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t inner = md_field_size(e[i].key_len) +
		    md_field_size(e[i].val_len);
		drpc_err rv = drpc__buf_reserve(b, md_field_size(inner));
		uint8_t *p;

		if (rv != DRPC_OK) {
			return rv;
		}
		p    = b->data + b->len;
		*p++ = MD_TAG_ENTRY;
		p    = drpc__varint_put(p, inner);
		p    = md_put_field(p, MD_TAG_KEY, e[i].key, e[i].key_len);
		p    = md_put_field(p, MD_TAG_VALUE, e[i].val, e[i].val_len);
		b->len = (size_t) (p - b->data);
	}
	return DRPC_OK;
}

// md_read_field reads "tag varint(len) bytes" at *pos within [0, end).
static drpc_err
md_read_field(const uint8_t *buf, size_t end, size_t *pos, uint8_t tag,
    const uint8_t **data, size_t *len)
{
	uint64_t v;
	size_t   n;

	if (*pos >= end || buf[*pos] != tag) {
		return DRPC_EMETADATA;
	}
	(*pos)++;
	if (drpc__varint_read(buf + *pos, end - *pos, &v, &n) != DRPC_OK ||
	    n == 0) {
		return DRPC_EMETADATA;
	}
	*pos += n;
	if (v > end - *pos) {
		return DRPC_EMETADATA;
	}
	*data = buf + *pos;
	*len  = (size_t) v;
	*pos += (size_t) v;
	return DRPC_OK;
}

static int
md_key_cmp(const drpc__md_entry *a, const drpc__md_entry *b)
{
	size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int    c = n == 0 ? 0 : memcmp(a->key, b->key, n);

	if (c != 0) {
		return c;
	}
	return (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

// md_entry_cmp orders by key, then by position on the wire (entries point
// into one buffer in wire order, so the key pointer gives the position).
static int
md_entry_cmp(const void *pa, const void *pb)
{
	const drpc__md_entry *a = pa;
	const drpc__md_entry *b = pb;
	int                   c = md_key_cmp(a, b);

	if (c != 0) {
		return c;
	}
	return (a->key > b->key) - (a->key < b->key);
}

// md_dedup keeps the last occurrence of each key (Go's map semantics) in
// O(n log n), so a hostile body of many tiny entries cannot stall the
// reader. The resulting order is by key.
static void
md_dedup(drpc__md *md)
{
	size_t out = 0;

	qsort(md->entries, md->n, sizeof(*md->entries), md_entry_cmp);
	for (size_t i = 0; i < md->n; i++) {
		if (i + 1 < md->n &&
		    md_key_cmp(&md->entries[i], &md->entries[i + 1]) == 0) {
			continue; // a later entry has the same key
		}
		md->entries[out++] = md->entries[i];
	}
	md->n = out;
}

// md_read_entry reads the entry at *pos: its key and value point into buf.
static drpc_err
md_read_entry(const uint8_t *buf, size_t len, size_t *pos, drpc__md_entry *e)
{
	const uint8_t *inner;
	size_t         inner_len;
	size_t         ipos = 0;

	if (md_read_field(buf, len, pos, MD_TAG_ENTRY, &inner, &inner_len) !=
		DRPC_OK ||
	    md_read_field(inner, inner_len, &ipos, MD_TAG_KEY, &e->key,
		&e->key_len) != DRPC_OK ||
	    md_read_field(inner, inner_len, &ipos, MD_TAG_VALUE, &e->val,
		&e->val_len) != DRPC_OK ||
	    ipos != inner_len) {
		return DRPC_EMETADATA;
	}
	return DRPC_OK;
}

// md_scan checks the whole body and counts its entries and the bytes
// their keys and values will take in the store (NULs included), so that
// nothing is allocated before the body is known to be well formed and
// what it costs is known.
static drpc_err
md_scan(const uint8_t *buf, size_t len, size_t *count, size_t *bytes)
{
	size_t pos = 0;

	*count = 0;
	*bytes = 0;
	while (pos < len) {
		drpc__md_entry e;

		if (md_read_entry(buf, len, &pos, &e) != DRPC_OK) {
			return DRPC_EMETADATA;
		}
		(*count)++;
		*bytes += e.key_len + e.val_len + 2; // both lie within len
	}
	return DRPC_OK;
}

// md_decode_entries fills md->entries (room for every entry of the body,
// which md_scan has checked) in wire order, drops repeated keys, and
// gives back the room the dropped ones took.
static void
md_decode_entries(drpc__md *md, const uint8_t *buf, size_t len)
{
	size_t          pos = 0;
	drpc__md_entry *p;

	while (pos < len) {
		(void) md_read_entry(buf, len, &pos, &md->entries[md->n++]);
	}
	md_dedup(md);
	if (md->n < md->cap &&
	    (p = realloc(md->entries, md->n * sizeof(*p))) != NULL) {
		md->entries = p; // n > 0: a non-empty body has an entry
		md->cap     = md->n;
	}
}

// md_store_terminated copies every key and value into one new store,
// each followed by a NUL that its length does not count, and points the
// entries there: the public API hands them out as C strings too
// (drpc_stream_md_get), while the length stays exact (a value may hold
// NULs).
static drpc_err
md_store_terminated(drpc__md *md)
{
	size_t   need = 0;
	uint8_t *p;

	for (size_t i = 0; i < md->n; i++) {
		need += md->entries[i].key_len + md->entries[i].val_len + 2;
	}
	if ((md->store = malloc(need)) == NULL) {
		return DRPC_ENOMEM;
	}
	md->store_len = need;
	p             = md->store;
	for (size_t i = 0; i < md->n; i++) {
		drpc__md_entry *e = &md->entries[i];

		memcpy(p, e->key, e->key_len);
		p[e->key_len] = '\0';
		e->key        = p;
		p += e->key_len + 1;
		memcpy(p, e->val, e->val_len);
		p[e->val_len] = '\0';
		e->val        = p;
		p += e->val_len + 1;
	}
	return DRPC_OK;
}

drpc_err
drpc__md_decode_max(
    const uint8_t *body, size_t len, size_t max_cost, drpc__md *md)
{
	size_t   count;
	size_t   bytes;
	drpc_err rv;

	memset(md, 0, sizeof(*md));
	if (len == 0) {
		return DRPC_OK;
	}
	if ((rv = md_scan(body, len, &count, &bytes)) != DRPC_OK) {
		return rv;
	}
	// count <= len / 6 and bytes <= len: no overflow.
	if (count * sizeof(*md->entries) + bytes > max_cost) {
		return DRPC_ETOOBIG;
	}
	if ((md->entries = calloc(count, sizeof(*md->entries))) == NULL) {
		return DRPC_ENOMEM;
	}
	md->cap = count;
	// Decoded in place first (the entries point into body, in wire
	// order, as md_dedup needs), then copied into the map's own store.
	md_decode_entries(md, body, len);
	if ((rv = md_store_terminated(md)) != DRPC_OK) {
		drpc__md_fini(md);
	}
	return rv;
}

drpc_err
drpc__md_decode(const uint8_t *body, size_t len, drpc__md *md)
{
	return drpc__md_decode_max(body, len, SIZE_MAX, md);
}

size_t
drpc__md_cost(const drpc__md *md)
{
	return md->cap * sizeof(*md->entries) + md->store_len;
}

const drpc__md_entry *
drpc__md_get(const drpc__md *md, const void *key, size_t key_len)
{
	for (size_t i = 0; i < md->n; i++) {
		const drpc__md_entry *e = &md->entries[i];

		if (e->key_len == key_len &&
		    (key_len == 0 || memcmp(e->key, key, key_len) == 0)) {
			return e;
		}
	}
	return NULL;
}

void
drpc__md_fini(drpc__md *md)
{
	free(md->entries);
	free(md->store);
	memset(md, 0, sizeof(*md));
}
