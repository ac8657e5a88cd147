// Runs every suite and prints Check's summary line. CK_RUN_SUITE and
// CK_RUN_CASE focus a run; CK_FORK=no runs in one process (valgrind, gdb).
#include <stdlib.h>

#include "suites.h"

int
main(void)
{
	SRunner *sr = srunner_create(error_suite());
	int      failed;

	srunner_add_suite(sr, varint_suite());
	srunner_add_suite(sr, frame_suite());
	srunner_add_suite(sr, packet_suite());
	srunner_add_suite(sr, errbody_suite());
	srunner_add_suite(sr, metadata_suite());
	srunner_add_suite(sr, reader_suite());
	srunner_add_suite(sr, transcript_suite());
	srunner_add_suite(sr, conn_suite());
	srunner_add_suite(sr, conn_errors_suite());
	srunner_add_suite(sr, faults_suite());
	srunner_add_suite(sr, ctx_suite());
	srunner_add_suite(sr, cancel_suite());
	srunner_add_suite(sr, api_suite());
	srunner_add_suite(sr, limits_suite());
	srunner_add_suite(sr, fuzz_suite());
	srunner_add_suite(sr, idmap_suite());
	srunner_add_suite(sr, interop_suite());
	srunner_add_suite(sr, codegen_suite());
	srunner_add_suite(sr, flow_suite());
	srunner_add_suite(sr, lifecycle_suite());
	srunner_add_suite(sr, mux_suite());
	srunner_add_suite(sr, causes_suite());
	srunner_add_suite(sr, traps_suite());
	srunner_add_suite(sr, bounds_suite());
	srunner_add_suite(sr, invokes_suite());
	srunner_add_suite(sr, caps_suite());
	srunner_add_suite(sr, hostile_suite());
	srunner_add_suite(sr, writepath_suite());
	srunner_add_suite(sr, ctrl_suite());
	srunner_add_suite(sr, ctrl_server_suite());
	srunner_add_suite(sr, channel_suite());
	srunner_add_suite(sr, peer_suite());
	srunner_add_suite(sr, tls_suite());
	srunner_add_suite(sr, tls_interop_suite());
	srunner_add_suite(sr, intercept_suite());
	srunner_add_suite(sr, conninfo_suite());
	srunner_add_suite(sr, health_suite());
	srunner_add_suite(sr, cli_suite());
	srunner_add_suite(sr, observe_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
