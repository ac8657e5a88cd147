// protoc-gen-drpc-c: the protoc plugin that writes DRPC stubs for
// protobuf-c. protoc runs it with a CodeGeneratorRequest on stdin and
// reads a CodeGeneratorResponse from stdout; cg_run (run.c) does the work.
// docs/codegen.md describes what it writes.
//
//   protoc --c_out=OUT --drpc-c_out=OUT foo.proto
//   protoc --plugin=protoc-gen-drpc-c=PATH ... (when it is not on PATH)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg.h"

// MAX_REQUEST bounds what is read from stdin: far above any real request
// (every descriptor of a large project is a few megabytes).
#define MAX_REQUEST ((size_t) 1 << 30)

// read_all reads stdin to its end into *buf (malloc'd). false on a read
// error, an allocation failure or more than MAX_REQUEST bytes.
static bool
read_all(uint8_t **buf, size_t *len)
{
	size_t   cap = 64 * 1024;
	size_t   n   = 0;
	uint8_t *p   = malloc(cap);

	if (p == NULL) {
		return false;
	}
	for (;;) {
		ssize_t got;

		if (n == cap) {
			uint8_t *q = NULL;

			if (cap >= MAX_REQUEST) {
				errno = EFBIG;
			} else {
				q = realloc(p, cap * 2);
			}
			if (q == NULL) {
				free(p);
				return false;
			}
			p = q;
			cap *= 2;
		}
		got = read(STDIN_FILENO, p + n, cap - n);
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0) {
			free(p);
			return false;
		}
		if (got == 0) {
			*buf = p;
			*len = n;
			return true;
		}
		n += (size_t) got;
	}
}

static bool
write_all(const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return false;
		}
		p += n;
		len -= (size_t) n;
	}
	return true;
}

int
main(int argc, char **argv)
{
	uint8_t *in;
	size_t   len;
	uint8_t *out;
	size_t   out_len;
	bool     ok;

	if (argc > 1) {
		fprintf(stderr,
		    "usage: protoc --plugin=protoc-gen-drpc-c=%s "
		    "--drpc-c_out=DIR file.proto\n"
		    "(a protoc plugin: it reads a CodeGeneratorRequest on "
		    "stdin)\n",
		    argv[0]);
		return 2;
	}
	if (!read_all(&in, &len)) {
		fprintf(stderr,
		    "protoc-gen-drpc-c: cannot read the request: %s\n",
		    strerror(errno));
		return 1;
	}
	ok = cg_run(in, len, &out, &out_len);
	free(in);
	if (!ok) {
		fprintf(stderr, "protoc-gen-drpc-c: out of memory\n");
		return 1;
	}
	ok = write_all(out, out_len);
	free(out);
	if (!ok) {
		fprintf(
		    stderr, "protoc-gen-drpc-c: cannot write the response\n");
		return 1;
	}
	return 0;
}
