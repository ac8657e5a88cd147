#include <stdio.h>

#include "wire/errbody.h"

// ERRBODY_MARKER ends a text that was cut; %zu is its full length.
#define ERRBODY_MARKER " ... (truncated from %zu bytes)"

// errbody_cut is where a text of len bytes is cut so that keep more bytes
// fit in max: before the first byte past the room that continues a UTF-8
// character (at most 3 such bytes; in text that is not UTF-8, any byte).
static size_t
errbody_cut(const char *msg, size_t max, size_t keep)
{
	size_t cut = max - keep;

	for (int i = 0; i < 3 && cut > 0 &&
	     ((unsigned char) msg[cut] & 0xc0) == 0x80;
	     i++) {
		cut--;
	}
	return cut;
}

drpc_err
drpc__errbody_append_max(drpc__buf *b, uint64_t code, const char *msg,
    size_t msg_len, size_t max_text)
{
	uint8_t  be[DRPC__ERRBODY_CODE_LEN];
	char     mark[64];
	size_t   mark_len = 0;
	drpc_err rv;

	if (max_text > DRPC__ERRBODY_TEXT_MAX) {
		max_text = DRPC__ERRBODY_TEXT_MAX;
	}
	if (msg_len > max_text) {
		// Cut, and say so, unless the limit leaves no room to.
		int n = snprintf(mark, sizeof(mark), ERRBODY_MARKER, msg_len);

		mark_len = n > 0 && (size_t) n < max_text ? (size_t) n : 0;
		msg_len  = errbody_cut(msg, max_text, mark_len);
	}
	for (size_t i = 0; i < DRPC__ERRBODY_CODE_LEN; i++) {
		be[i] = (uint8_t) (code >> (8 * (DRPC__ERRBODY_CODE_LEN - 1 - i)));
	}
	rv = drpc__buf_reserve(b, sizeof(be) + msg_len + mark_len);
	if (rv != DRPC_OK) {
		return rv;
	}
	(void) drpc__buf_append(b, be, sizeof(be));
	(void) drpc__buf_append(b, msg, msg_len);
	return drpc__buf_append(b, mark, mark_len);
}

drpc_err
drpc__errbody_append(
    drpc__buf *b, uint64_t code, const char *msg, size_t msg_len)
{
	return drpc__errbody_append_max(
	    b, code, msg, msg_len, DRPC__ERRBODY_TEXT_MAX);
}

bool
drpc__errbody_parse(const uint8_t *body, size_t len, uint64_t *code,
    const uint8_t **msg, size_t *msg_len)
{
	uint64_t c = 0;

	if (len < DRPC__ERRBODY_CODE_LEN) {
		*code    = 0;
		*msg     = body;
		*msg_len = len;
		return false;
	}
	for (size_t i = 0; i < DRPC__ERRBODY_CODE_LEN; i++) {
		c = (c << 8) | body[i];
	}
	*code    = c;
	*msg     = body + DRPC__ERRBODY_CODE_LEN;
	*msg_len = len - DRPC__ERRBODY_CODE_LEN;
	return true;
}
