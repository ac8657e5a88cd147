// Every Check suite, one per module; test/check_main.c runs them all.
#ifndef DRPC_TEST_SUITES_H
#define DRPC_TEST_SUITES_H

#include <check.h>
#include <stddef.h>

#include "testutil.h"

Suite *error_suite(void);
Suite *varint_suite(void);
Suite *frame_suite(void);
Suite *packet_suite(void);
Suite *errbody_suite(void);
Suite *metadata_suite(void);
Suite *reader_suite(void);
Suite *transcript_suite(void);
Suite *conn_suite(void);
Suite *conn_errors_suite(void);
Suite *faults_suite(void);
Suite *ctx_suite(void);
Suite *cancel_suite(void);
Suite *api_suite(void);
Suite *limits_suite(void);
Suite *fuzz_suite(void);
Suite *idmap_suite(void);
Suite *interop_suite(void);
Suite *codegen_suite(void);
Suite *flow_suite(void);
Suite *lifecycle_suite(void);
Suite *mux_suite(void);
Suite *causes_suite(void);
Suite *traps_suite(void);
Suite *bounds_suite(void);
Suite *invokes_suite(void);
Suite *caps_suite(void);
Suite *hostile_suite(void);
Suite *writepath_suite(void);
Suite *ctrl_suite(void);
Suite *ctrl_server_suite(void);
Suite *channel_suite(void);
Suite *peer_suite(void);
Suite *tls_suite(void);
Suite *tls_interop_suite(void);
Suite *intercept_suite(void);
Suite *conninfo_suite(void);
Suite *health_suite(void);
Suite *cli_suite(void);
Suite *observe_suite(void);
// Rows of suites spread over two files (tu_rows.h).
size_t channel_races_tests(tu_test *out, size_t cap); // check_channel_races.c
size_t codegen_bytes_tests(tu_test *out, size_t cap); // check_codegen_bytes.c

#endif // DRPC_TEST_SUITES_H
