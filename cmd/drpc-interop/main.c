// drpc-interop: checks libdrpc against any DRPC implementation with the
// interop Echo service of ../shared/interop/interop.proto.
//   drpc-interop serve ADDR [--flow MODE] [--multiplex MODE]
//                                      serve Echo until SIGINT/SIGTERM;
//                                      --multiplex off answers no hello
//                                      (clients see a plain DRPC server)
//   drpc-interop check ADDR [--one-stream] [--flow MODE] [--multiplex MODE]
//                                      run every scenario against a server;
//                                      --one-stream (= --multiplex off) for
//                                      servers that handle one stream at a
//                                      time (Go DRPC)
// MODE: auto (the default), on or off: the flow-control mode
// (include/drpc/flow.h) and the multiplexing mode (drpc/multiplex.h).
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "interop_tool.h"

static int
usage(void)
{
	fprintf(stderr, "usage: drpc-interop serve ADDR [--flow MODE] "
			"[--multiplex MODE]\n"
			"       drpc-interop check ADDR [--one-stream] "
			"[--flow MODE] [--multiplex MODE]\n"
			"ADDR: tcp://host:port or unix:///path\n"
			"MODE: auto (default), on, off\n");
	return 2;
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

static int
serve(const char *addr, drpc_flow_mode flow, drpc_multiplex_mode multiplex)
{
	drpc_server_opts o = {.flow = flow, .multiplex = multiplex};
	drpc_mux    *mux;
	drpc_server *srv;
	sigset_t     set;
	int          sig;
	char         bound[300];
	drpc_cause   why;
	drpc_err     rv;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((rv = drpc_mux_create(&mux)) != DRPC_OK ||
	    (rv = interop_register(mux)) != DRPC_OK ||
	    (rv = drpc_server_create(&srv, mux, &o)) != DRPC_OK) {
		fprintf(stderr, "drpc-interop: %s\n", drpc_strerror(rv));
		return 1;
	}
	if (drpc_server_listen_cause(srv, addr, &why) != DRPC_OK) {
		fprintf(stderr, "drpc-interop: %s\n", why.text);
		drpc_server_destroy(srv);
		drpc_mux_destroy(mux);
		return 1;
	}
	drpc_server_addr(srv, bound, sizeof(bound));
	printf("drpc-interop: serving interop.Echo on %s\n", bound);
	fflush(stdout);
	sigwait(&set, &sig);
	drpc_server_shutdown(srv, drpc_now_ns() + 1000000000);
	drpc_server_destroy(srv);
	drpc_mux_destroy(mux);
	return 0;
}

int
main(int argc, char **argv)
{
	int flow      = DRPC_FLOW_AUTO;
	int multiplex = DRPC_MULTIPLEX_AUTO;

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
		} else {
			return usage();
		}
	}
	if (strcmp(argv[1], "serve") == 0) {
		return serve(argv[2], (drpc_flow_mode) flow,
		    (drpc_multiplex_mode) multiplex);
	}
	if (strcmp(argv[1], "check") == 0) {
		return interop_check(argv[2], (drpc_multiplex_mode) multiplex,
			   (drpc_flow_mode) flow) == 0
		    ? 0
		    : 1;
	}
	return usage();
}
