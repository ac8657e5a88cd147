#include <string.h>

#include "suites.h"
#include "testutil.h"

// Every code in the list has a distinct name and a real text.
START_TEST(test_error_every_code_named)
{
#define CHECK_CODE_(name, value, text)                                        \
	ck_assert_str_eq(drpc_err_name(name), #name);                         \
	ck_assert_str_eq(drpc_strerror(name), text);                          \
	ck_assert_int_eq((int) name, value);
	DRPC_ERRORS(CHECK_CODE_)
#undef CHECK_CODE_
}
END_TEST

START_TEST(test_error_unknown_code)
{
	ck_assert_str_eq(drpc_strerror((drpc_err) 9999), "unrecognised error code");
	ck_assert_str_eq(drpc_err_name((drpc_err) 9999), "DRPC_E?");
	ck_assert_str_eq(drpc_strerror((drpc_err) -1), "unrecognised error code");
}
END_TEST

// The RPC status codes keep gRPC's values, so they cross the wire unchanged.
START_TEST(test_error_grpc_values)
{
	ck_assert_int_eq(DRPC_ECANCELED, 1);
	ck_assert_int_eq(DRPC_EINVAL, 3);
	ck_assert_int_eq(DRPC_ETIMEDOUT, 4);
	ck_assert_int_eq(DRPC_ERESOURCE, 8);
	ck_assert_int_eq(DRPC_EUNIMPL, 12);
	ck_assert_int_eq(DRPC_EINTERNAL, 13);
	ck_assert_int_eq(DRPC_EUNAVAIL, 14);
}
END_TEST

TU_SUITE(error,
    TU_TEST("names", test_error_every_code_named),
    TU_TEST("names", test_error_unknown_code),
    TU_TEST("names", test_error_grpc_values))
