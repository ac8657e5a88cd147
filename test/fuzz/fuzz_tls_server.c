// libFuzzer entry: a TLS server connection fed a client's application data.
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_tls_server_input(data, size);
	return 0;
}
