// Error codes of libdrpc.
//
// Thread safety: every function here may be called from any thread at any
// time (drpc_cause_clear on a cause no other thread uses at once).
//
// Values 0 to 16 are the gRPC status codes (and the codes Go DRPC's generated
// code and interop service use: 1 = cancelled, 3 = invalid argument,
// 12 = unimplemented), so a status crosses the wire and the API unchanged.
// Values from 100 on are libdrpc's own, for conditions that are not an RPC
// status (end of stream, a malformed frame, an I/O failure). Values are ABI:
// new codes are appended, none is ever renumbered. docs/api.md has the
// mapping table.
#ifndef DRPC_ERROR_H
#define DRPC_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#ifndef DRPC_API
#define DRPC_API __attribute__((visibility("default")))
#endif

// DRPC_ERRORS(X) lists every code once: X(NAME, value, "text").
// The enum, drpc_strerror() and drpc_err_name() are generated from it, so
// the three can never drift apart.
#define DRPC_ERRORS(X)                                                        \
	X(DRPC_OK, 0, "success")                                              \
	X(DRPC_ECANCELED, 1, "operation canceled")                            \
	X(DRPC_EUNKNOWN, 2, "unknown error")                                  \
	X(DRPC_EINVAL, 3, "invalid argument")                                 \
	X(DRPC_ETIMEDOUT, 4, "deadline exceeded")                             \
	X(DRPC_ENOTFOUND, 5, "not found")                                     \
	X(DRPC_EEXIST, 6, "already exists")                                   \
	X(DRPC_EPERM, 7, "permission denied")                                 \
	X(DRPC_ERESOURCE, 8, "resource exhausted")                            \
	X(DRPC_ESTATE, 9, "operation not valid in the current state")         \
	X(DRPC_EABORTED, 10, "aborted")                                       \
	X(DRPC_ERANGE, 11, "out of range")                                    \
	X(DRPC_EUNIMPL, 12, "unimplemented")                                  \
	X(DRPC_EINTERNAL, 13, "internal error")                               \
	X(DRPC_EUNAVAIL, 14, "unavailable: no connection")                    \
	X(DRPC_EDATALOSS, 15, "data loss")                                    \
	X(DRPC_EUNAUTH, 16, "unauthenticated")                                \
	X(DRPC_EOF, 100, "end of stream")                                     \
	X(DRPC_ENOMEM, 101, "out of memory")                                  \
	X(DRPC_EPROTO, 102, "protocol violation by the peer")                 \
	X(DRPC_EVARINT, 103, "malformed varint (longer than 10 bytes or "     \
			     "overflowing 64 bits)")                          \
	X(DRPC_ETOOBIG, 104, "length exceeds the configured maximum")         \
	X(DRPC_EKIND, 105, "unknown packet kind without the control flag")    \
	X(DRPC_ETRUNC, 106, "input ended in the middle of a frame")           \
	X(DRPC_EMETADATA, 107, "malformed invoke metadata")                   \
	X(DRPC_EIO, 108, "transport I/O error")                               \
	X(DRPC_ECLOSED, 109, "closed")                                        \
	X(DRPC_EREMOTE, 110, "the peer sent an error")

#define DRPC_ERR_ENUM_(name, value, text) name = value,
// drpc_err is the return type of every fallible libdrpc function.
typedef enum drpc_err { DRPC_ERRORS(DRPC_ERR_ENUM_) } drpc_err;
#undef DRPC_ERR_ENUM_

// drpc_strerror returns a constant, human-readable text for err. Unknown
// values give "unrecognised error code". The string is static: never free it.
DRPC_API const char *drpc_strerror(drpc_err err);

// drpc_err_name returns the constant name of err ("DRPC_EPROTO"), or
// "DRPC_E?" for an unknown value. The string is static: never free it.
DRPC_API const char *drpc_err_name(drpc_err err);

// DRPC_CAUSE_TEXT_MAX is the size of drpc_cause's text, its NUL included.
#define DRPC_CAUSE_TEXT_MAX 256

// drpc_cause explains a failure in words: the code and a text naming the
// cause ("dial tcp://127.0.0.1:1: connection refused", "peer broke the
// protocol: message id went backwards on stream 3 (5 after 7)").
// drpc_dial_cause, drpc_server_listen_cause and drpc_conn_cause fill one;
// the caller owns it (a local variable will do) and no global state is
// involved, so any number of threads may each use their own. The text is
// always NUL-terminated, empty when code is DRPC_OK, and never empty
// otherwise; a long address in it may be shortened with "...".
// docs/api.md §9 lists every text. A zeroed drpc_cause is a cleared one.
typedef struct drpc_cause {
	drpc_err code;
	char     text[DRPC_CAUSE_TEXT_MAX];
} drpc_cause;

// drpc_cause_clear sets c (NULL is a no-op) to DRPC_OK with an empty text.
DRPC_API void drpc_cause_clear(drpc_cause *c);

#ifdef __cplusplus
}
#endif

#endif // DRPC_ERROR_H
