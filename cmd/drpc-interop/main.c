// drpc-interop: checks libdrpc against any DRPC implementation with the
// interop Echo service of ../shared/interop/interop.proto.
//   drpc-interop serve ADDR            serve Echo until SIGINT/SIGTERM
//   drpc-interop check ADDR [--one-stream]
//                                      run every scenario against a server;
//                                      --one-stream for servers that handle
//                                      one stream at a time (Go DRPC)
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "interop_tool.h"

static int
usage(void)
{
	fprintf(stderr, "usage: drpc-interop serve ADDR\n"
			"       drpc-interop check ADDR [--one-stream]\n"
			"ADDR: tcp://host:port or unix:///path\n");
	return 2;
}

static int
serve(const char *addr)
{
	drpc_mux    *mux;
	drpc_server *srv;
	sigset_t     set;
	int          sig;
	char         bound[300];
	drpc_err     rv;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((rv = drpc_mux_create(&mux)) != DRPC_OK ||
	    (rv = interop_register(mux)) != DRPC_OK ||
	    (rv = drpc_server_create(&srv, mux, NULL)) != DRPC_OK) {
		fprintf(stderr, "drpc-interop: %s\n", drpc_strerror(rv));
		return 1;
	}
	if ((rv = drpc_server_listen(srv, addr)) != DRPC_OK) {
		fprintf(stderr, "drpc-interop: listen %s: %s\n", addr,
		    drpc_strerror(rv));
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
	if (argc == 3 && strcmp(argv[1], "serve") == 0) {
		return serve(argv[2]);
	}
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "check") == 0) {
		bool one = argc == 4 && strcmp(argv[3], "--one-stream") == 0;

		if (argc == 4 && !one) {
			return usage();
		}
		return interop_check(argv[2], one) == 0 ? 0 : 1;
	}
	return usage();
}
