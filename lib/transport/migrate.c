// drpcmigrate's header, on the accepting side (migrate.h).
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/cause.h"
#include "transport/migrate.h"

// migrate_quote writes the n bytes of p as text, escaping what is not
// printable, into buf (at least 4 * n + 1 bytes).
static const char *
migrate_quote(const uint8_t *p, size_t n, char *buf, size_t cap)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && at + 5 <= cap; i++) {
		int w = isprint(p[i]) && p[i] != '"' && p[i] != '\\'
		    ? snprintf(buf + at, cap - at, "%c", p[i])
		    : snprintf(buf + at, cap - at, "\\x%02x", p[i]);

		at += (size_t) w;
	}
	return buf;
}

drpc_err
drpc__migrate_take(drpc__read_fn read, void *arg, bool required,
    uint8_t kept[DRPC__MIGRATE_HEADER_LEN], size_t *nkept, drpc_cause *why)
{
	const uint8_t *hdr = (const uint8_t *) DRPC__MIGRATE_HEADER;
	size_t         have = 0;
	char           text[4 * DRPC__MIGRATE_HEADER_LEN + 1];
	drpc_err       rv;

	*nkept = 0;
	while (have < DRPC__MIGRATE_HEADER_LEN) {
		size_t got = 0;

		rv = read(arg, kept + have, DRPC__MIGRATE_HEADER_LEN - have, &got);
		if (rv != DRPC_OK) {
			return drpc__cause_set(why, rv, "%s", "");
		}
		if (got == 0) {
			return drpc__cause_set(why, DRPC_EOF,
			    "the peer closed the connection after %zu bytes of "
			    "the %d-byte drpcmigrate header (\"%s\")",
			    have, DRPC__MIGRATE_HEADER_LEN,
			    migrate_quote(kept, have, text, sizeof(text)));
		}
		if (memcmp(kept + have, hdr + have, got) != 0) {
			have += got;
			break;
		}
		have += got;
	}
	if (have == DRPC__MIGRATE_HEADER_LEN &&
	    memcmp(kept, hdr, DRPC__MIGRATE_HEADER_LEN) == 0) {
		return DRPC_OK;
	}
	if (required) {
		return drpc__cause_set(why, DRPC_EPROTO,
		    "the connection did not start with the drpcmigrate header "
		    "\"%s\" (it began \"%s\"); the server requires it",
		    DRPC__MIGRATE_HEADER,
		    migrate_quote(kept, have, text, sizeof(text)));
	}
	*nkept = have;
	return DRPC_OK;
}
