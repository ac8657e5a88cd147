// drpc-interop: checks libdrpc against any DRPC implementation with the
// interop Echo service of ../shared/interop/interop.proto.
//   drpc-interop serve ADDR [--flow MODE] [--multiplex MODE] [LIMITS]
//                                      serve Echo until SIGINT/SIGTERM;
//                                      --multiplex off answers no hello
//                                      (clients see a plain DRPC server)
//   LIMITS set the server's caps (include/drpc/server.h; 0 or absent:
//   the library's default):
//     --max-handlers N           handlers running at once (1024)
//     --max-streams N            streams per connection (256)
//     --handshake-timeout-ms N   close a connection with no whole frame
//                                after N ms (10000; negative: never)
//     --idle-timeout-ms N        close a connection without a stream
//                                after N ms (300000; negative: never)
//     --write-timeout-ms N       disconnect a peer that reads nothing for
//                                N ms while the writer is full (30000;
//                                negative: never)
//   drpc-interop check ADDR [--one-stream] [--flow MODE] [--multiplex MODE]
//                                      run every scenario against a server;
//                                      --one-stream (= --multiplex off) for
//                                      servers that handle one stream at a
//                                      time (Go DRPC)
// MODE: auto (the default), on or off: the flow-control mode
// (include/drpc/flow.h) and the multiplexing mode (drpc/multiplex.h).
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/serve.h"
#include "interop.drpc.h"
#include "interop_tool.h"

static int
usage(void)
{
	fprintf(stderr, "usage: drpc-interop serve ADDR [--flow MODE] "
			"[--multiplex MODE] [LIMITS]\n"
			"       drpc-interop check ADDR [--one-stream] "
			"[--flow MODE] [--multiplex MODE]\n"
			"ADDR: tcp://host:port or unix:///path\n"
			"MODE: auto (default), on, off\n"
			"LIMITS (serve; 0: the default):\n"
			"  --max-handlers N          handlers at once (1024)\n"
			"  --max-streams N           streams per connection "
			"(256)\n"
			"  --handshake-timeout-ms N  first frame within N ms "
			"(10000; <0: never)\n"
			"  --idle-timeout-ms N       no stream for N ms "
			"(300000; <0: never)\n"
			"  --write-timeout-ms N      peer reads nothing for "
			"N ms (30000; <0: never)\n");
	return 2;
}

// parse_size reads a decimal count (any size_t).
static bool
parse_size(const char *s, size_t *v)
{
	return cmd_parse_count(s, SIZE_MAX, v);
}

// parse_ms reads a decimal number of milliseconds, negative allowed.
static bool
parse_ms(const char *s, int64_t *v)
{
	char     *end;
	long long x;

	errno = 0;
	x     = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0') {
		return false;
	}
	*v = (int64_t) x;
	return true;
}

// parse_limit reads a LIMITS flag and its value into o; false if arg is
// none of them or its value is malformed.
static bool
parse_limit(const char *arg, const char *val, drpc_server_opts *o)
{
	if (strcmp(arg, "--max-handlers") == 0) {
		return parse_size(val, &o->max_handlers);
	}
	if (strcmp(arg, "--max-streams") == 0) {
		return parse_size(val, &o->max_streams);
	}
	if (strcmp(arg, "--handshake-timeout-ms") == 0) {
		return parse_ms(val, &o->handshake_timeout_ms);
	}
	if (strcmp(arg, "--idle-timeout-ms") == 0) {
		return parse_ms(val, &o->idle_timeout_ms);
	}
	if (strcmp(arg, "--write-timeout-ms") == 0) {
		return parse_ms(val, &o->write_timeout_ms);
	}
	return false;
}

// parse_mode reads auto, on or off as 0, 1, 2 (both modes' values).
static bool
parse_mode(const char *s, int *m)
{
	static const char *const names[] = {"auto", "on", "off"};

	for (int i = 0; i < 3; i++) {
		if (strcmp(s, names[i]) == 0) {
			*m = i;
			return true;
		}
	}
	return false;
}

// serve serves Echo on addr with the options o (its flow and multiplex
// modes included); reflection too, so that the drpc tool needs no .proto
// file.
static int
serve(const char *addr, const drpc_server_opts *o)
{
	drpc_mux *mux = NULL;
	drpc_err  rv;
	int       status;

	if ((rv = drpc_mux_create(&mux)) != DRPC_OK ||
	    (rv = interop_register(mux)) != DRPC_OK) {
		fprintf(stderr, "drpc-interop: %s\n", drpc_strerror(rv));
		drpc_mux_destroy(mux);
		return 1;
	}
	status =
	    cmd_serve("drpc-interop", "drpc-interop: serving interop.Echo on",
	        mux, drpc_gen_interop_2eproto_reflect(), o, addr);
	drpc_mux_destroy(mux);
	return status;
}

int
main(int argc, char **argv)
{
	int              flow      = DRPC_FLOW_AUTO;
	int              multiplex = DRPC_MULTIPLEX_AUTO;
	drpc_server_opts o         = {0};

	if (argc < 3) {
		return usage();
	}
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--one-stream") == 0 &&
		    strcmp(argv[1], "check") == 0) {
			multiplex = DRPC_MULTIPLEX_OFF;
		} else if (strcmp(argv[i], "--flow") == 0 && i + 1 < argc &&
			   parse_mode(argv[i + 1], &flow)) {
			i++;
		} else if (strcmp(argv[i], "--multiplex") == 0 &&
			   i + 1 < argc && parse_mode(argv[i + 1], &multiplex)) {
			i++;
		} else if (strcmp(argv[1], "serve") == 0 && i + 1 < argc &&
			   parse_limit(argv[i], argv[i + 1], &o)) {
			i++;
		} else {
			return usage();
		}
	}
	if (strcmp(argv[1], "serve") == 0) {
		o.flow      = (drpc_flow_mode) flow;
		o.multiplex = (drpc_multiplex_mode) multiplex;
		return serve(argv[2], &o);
	}
	if (strcmp(argv[1], "check") == 0) {
		return interop_check(argv[2], (drpc_multiplex_mode) multiplex,
			   (drpc_flow_mode) flow) == 0
		    ? 0
		    : 1;
	}
	return usage();
}
