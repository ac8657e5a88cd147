// libFuzzer entry: the wire layer (harness in wire_harness.c).
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_wire_input(data, size);
	return 0;
}
