// libFuzzer entry: a server-side connection fed a client's bytes.
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_conn_input(data, size, FUZZ_SERVER);
	return 0;
}
