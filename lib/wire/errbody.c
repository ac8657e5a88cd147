#include "wire/errbody.h"

drpc_err
drpc__errbody_append(
    drpc__buf *b, uint64_t code, const char *msg, size_t msg_len)
{
	uint8_t  be[DRPC__ERRBODY_CODE_LEN];
	drpc_err rv;

	for (size_t i = 0; i < DRPC__ERRBODY_CODE_LEN; i++) {
		be[i] = (uint8_t) (code >> (8 * (DRPC__ERRBODY_CODE_LEN - 1 - i)));
	}
	if ((rv = drpc__buf_reserve(b, sizeof(be) + msg_len)) != DRPC_OK) {
		return rv;
	}
	(void) drpc__buf_append(b, be, sizeof(be));
	return drpc__buf_append(b, msg, msg_len);
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
