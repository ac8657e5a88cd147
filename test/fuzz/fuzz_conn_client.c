// libFuzzer entry: a client-side connection fed a server's bytes.
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_conn_input(data, size, FUZZ_CLIENT);
	return 0;
}
