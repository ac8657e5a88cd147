// libFuzzer target for protoc-gen-drpc-c: any bytes as a
// CodeGeneratorRequest. cg_run must answer every input with a response
// that parses (an error or files) and never crash; the sanitizers catch
// memory errors and leaks. `make fuzz-codegen` runs it, seeded with the
// requests protoc makes for test/proto/.
#include <stdint.h>
#include <stdlib.h>

#include "cg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t                                           *out;
	size_t                                             out_len;
	Google__Protobuf__Compiler__CodeGeneratorResponse *resp;

	if (!cg_run(data, size, &out, &out_len)) {
		abort(); // only an allocation failure may do this
	}
	resp = google__protobuf__compiler__code_generator_response__unpack(
	    NULL, out_len, out);
	if (resp == NULL || (resp->error != NULL && resp->n_file != 0)) {
		abort();
	}
	google__protobuf__compiler__code_generator_response__free_unpacked(
	    resp, NULL);
	free(out);
	return 0;
}
