// Serving until a signal, and counts from the command line (serve.h).
#include "serve.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

void
cmd_signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

void
cmd_signals_wait(const sigset_t *set)
{
	int sig;

	while (sigwait(set, &sig) != 0) {
	}
}

int
cmd_serve(const char *prog, const char *banner, drpc_mux *mux,
    const drpc_reflect_file *file, const drpc_server_opts *o, const char *addr)
{
	drpc_reflect *refl = NULL;
	drpc_server  *srv  = NULL;
	sigset_t      set;
	char          bound[300];
	drpc_cause    why;
	drpc_err      rv = DRPC_OK;

	cmd_signals_block(&set);
	if (file != NULL &&
	    ((rv = drpc_reflect_create(&refl)) != DRPC_OK ||
	        (rv = drpc_reflect_add(refl, file)) != DRPC_OK ||
	        (rv = drpc_reflect_register(refl, mux)) != DRPC_OK)) {
		fprintf(stderr, "%s: %s\n", prog, drpc_strerror(rv));
		drpc_reflect_destroy(refl);
		return 1;
	}
	if ((rv = drpc_server_create(&srv, mux, o)) != DRPC_OK) {
		fprintf(stderr, "%s: %s\n", prog, drpc_strerror(rv));
		drpc_reflect_destroy(refl);
		return 1;
	}
	if (drpc_server_listen_cause(srv, addr, &why) != DRPC_OK) {
		fprintf(stderr, "%s: %s\n", prog, why.text);
		drpc_server_destroy(srv);
		drpc_reflect_destroy(refl);
		return 1;
	}
	drpc_server_addr(srv, bound, sizeof(bound));
	printf("%s %s\n", banner, bound);
	fflush(stdout);
	cmd_signals_wait(&set);
	drpc_server_shutdown(srv, drpc_now_ns() + 1000000000);
	drpc_server_destroy(srv);
	drpc_reflect_destroy(refl);
	return 0;
}

bool
cmd_parse_count(const char *s, unsigned long long max, size_t *v)
{
	char              *end;
	unsigned long long x;

	errno = 0;
	x     = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || x > max) {
		return false;
	}
	*v = (size_t) x;
	return true;
}
