// Invoke metadata: the body of an InvokeMetadata packet, encoded exactly as
// Go DRPC's drpcmetadata does (docs/protocol.md §5.5): a protobuf message
// whose field 1 is map<string, string>. Every entry is
//   0a len { 0a klen key 12 vlen value }
// with both fields always present, key first. Keys and values are bytes.
#ifndef DRPC_WIRE_METADATA_H
#define DRPC_WIRE_METADATA_H

#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>

#include "common/buf.h"

typedef struct drpc__md_entry {
	const uint8_t *key;
	size_t         key_len;
	const uint8_t *val;
	size_t         val_len;
} drpc__md_entry;

// drpc__md is a decoded metadata map. entries point into store, which the
// map owns; every key and value there is followed by a NUL that its length
// does not count. Keys are unique (a repeated key on the wire: the last
// wins).
typedef struct drpc__md {
	drpc__md_entry *entries;
	size_t          n;
	size_t          cap; // entries allocated: n once decoded
	uint8_t        *store;
	size_t          store_len; // bytes allocated for store
} drpc__md;

// drpc__md_append appends the encoding of the n entries to b, in order.
drpc_err drpc__md_append(drpc__buf *b, const drpc__md_entry *e, size_t n);

// drpc__md_decode decodes len bytes at body into *md (zeroed on entry, or
// finished with drpc__md_fini). An empty body gives an empty map. The
// whole body is checked, and its entries counted, before anything is
// allocated: the map allocates for the entries present (a repeated key
// gives its room back), in all sizeof(drpc__md_entry) per entry plus the
// bytes of the keys and values and a NUL after each.
// DRPC_EMETADATA: the body does not follow the encoding strictly (any other
// tag, a missing or extra field, a length running past its end).
// DRPC_ENOMEM: allocation failed. On error *md is left empty.
drpc_err drpc__md_decode(const uint8_t *body, size_t len, drpc__md *md);

// drpc__md_decode_max is drpc__md_decode that also fails, with
// DRPC_ETOOBIG and nothing allocated, when decoding would take more than
// max_cost bytes: the entries of the body, repeated keys included, and
// their store. drpc__md_cost of the result is at most that.
drpc_err drpc__md_decode_max(
    const uint8_t *body, size_t len, size_t max_cost, drpc__md *md);

// drpc__md_cost is the memory md holds: its entries and its store.
size_t drpc__md_cost(const drpc__md *md);

// drpc__md_get finds key in md; returns NULL if absent.
const drpc__md_entry *drpc__md_get(
    const drpc__md *md, const void *key, size_t key_len);

// drpc__md_fini frees md's storage and leaves it empty.
void drpc__md_fini(drpc__md *md);

#endif // DRPC_WIRE_METADATA_H
