// drpc_strerror and drpc_err_name, generated from the one list in
// include/drpc/error.h. The switches have no default, so -Wswitch catches a
// code added to the enum by hand without a text.
#include <drpc/error.h>

const char *
drpc_strerror(drpc_err err)
{
#define DRPC_ERR_TEXT_(name, value, text)                                     \
	case name:                                                            \
		return text;
	switch (err) {
		DRPC_ERRORS(DRPC_ERR_TEXT_)
	}
#undef DRPC_ERR_TEXT_
	return "unrecognised error code";
}

const char *
drpc_err_name(drpc_err err)
{
#define DRPC_ERR_NAME_(name, value, text)                                     \
	case name:                                                            \
		return #name;
	switch (err) {
		DRPC_ERRORS(DRPC_ERR_NAME_)
	}
#undef DRPC_ERR_NAME_
	return "DRPC_E?";
}
