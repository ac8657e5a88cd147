// example-client: calls example-server. It makes one unary call, reads a
// server stream, then runs 8 threads making 100 unary calls each, all on
// ONE connection, which multiplexes them.
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <drpc/drpc.h>
#include <drpc/tls.h>

#define THREADS 8
#define CALLS   100

static int
say_hello(drpc_conn *c)
{
	void    *reply;
	size_t   len;
	drpc_err rv;

	rv = drpc_invoke(c, NULL, "/example.Greeter/Hello", "world", 5, NULL,
	    &reply, &len, NULL);
	if (rv != DRPC_OK) {
		fprintf(stderr, "Hello: %s\n", drpc_strerror(rv));
		return 1;
	}
	printf("Hello -> %.*s\n", (int) len, (const char *) reply);
	drpc_free(reply);
	return 0;
}

static int
count_to(drpc_conn *c, const char *n)
{
	drpc_stream *s;
	void        *msg;
	size_t       len;
	drpc_err     rv;

	if ((rv = drpc_stream_open(&s, c, NULL, "/example.Greeter/Count",
		 NULL)) != DRPC_OK) {
		fprintf(stderr, "Count: %s\n", drpc_strerror(rv));
		return 1;
	}
	drpc_stream_send(s, n, strlen(n));
	drpc_stream_close_send(s);
	printf("Count(%s) ->", n);
	while ((rv = drpc_stream_recv(s, &msg, &len)) == DRPC_OK) {
		printf(" %.*s", (int) len, (const char *) msg);
		drpc_free(msg);
	}
	printf(rv == DRPC_EOF ? " (end)\n" : " (%s)\n", drpc_strerror(rv));
	drpc_stream_destroy(s);
	return rv == DRPC_EOF ? 0 : 1;
}

typedef struct worker {
	drpc_conn *c;
	int        ok;
} worker;

static void *
worker_main(void *arg)
{
	worker *w = arg;

	for (int i = 0; i < CALLS; i++) {
		void  *reply;
		size_t len;

		if (drpc_invoke(w->c, NULL, "/example.Greeter/Hello", "thread",
			6, NULL, &reply, &len, NULL) == DRPC_OK) {
			w->ok++;
			drpc_free(reply);
		}
	}
	return NULL;
}

static int
many_threads(drpc_conn *c)
{
	pthread_t t[THREADS];
	worker    w[THREADS];
	int       ok    = 0;
	int64_t   start = drpc_now_ns();

	for (int i = 0; i < THREADS; i++) {
		w[i] = (worker) {c, 0};
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
	}
	printf("%d threads x %d calls on one connection: %d ok in %.1f ms\n",
	    THREADS, CALLS, ok, (double) (drpc_now_ns() - start) / 1e6);
	return ok == THREADS * CALLS ? 0 : 1;
}

// tls_config makes the client's TLS configuration from the command line:
// --tls CA (the CA that signed the server's certificate; "system" for the
// system's store), --cert CERT KEY for mutual TLS, --server-name NAME
// when the address's host is not the name in the certificate.
static drpc_tls_config *
tls_config(const char *ca, const char *cert, const char *key,
    const char *name)
{
	drpc_tls_config *tls;
	drpc_cause       why;
	bool             system = strcmp(ca, "system") == 0;

	if (drpc_tls_config_create(&tls, DRPC_TLS_CLIENT, &why) != DRPC_OK ||
	    drpc_tls_config_set_ca(tls, system ? NULL : ca, NULL, &why) !=
		DRPC_OK ||
	    (cert != NULL && drpc_tls_config_set_cert_files(
				 tls, cert, key, &why) != DRPC_OK)) {
		fprintf(stderr, "example-client: %s\n", why.text);
		return NULL;
	}
	if (name != NULL) {
		(void) drpc_tls_config_set_server_name(tls, name);
	}
	return tls;
}

static int
usage(void)
{
	fprintf(stderr, "usage: example-client [--tls CA [--cert CERT KEY] "
			"[--server-name NAME]] [ADDR]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char     *addr = "tcp://127.0.0.1:7070";
	const char     *ca = NULL, *cert = NULL, *key = NULL, *name = NULL;
	drpc_conn_opts  co = {0};
	drpc_conn      *c;
	drpc_cause      why;
	int             failed;
	drpc_err        rv;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tls") == 0 && i + 1 < argc) {
			ca = argv[++i];
		} else if (strcmp(argv[i], "--cert") == 0 && i + 2 < argc) {
			cert = argv[++i];
			key  = argv[++i];
		} else if (strcmp(argv[i], "--server-name") == 0 &&
		    i + 1 < argc) {
			name = argv[++i];
		} else if (argv[i][0] != '-') {
			addr = argv[i];
		} else {
			return usage();
		}
	}
	if ((cert != NULL || name != NULL) && ca == NULL) {
		return usage();
	}
	if (ca != NULL && (co.tls = tls_config(ca, cert, key, name)) == NULL) {
		return 1;
	}
	rv = drpc_dial_cause(&c, addr, &co, &why);
	// The connection holds its own reference to the config.
	drpc_tls_config_destroy((drpc_tls_config *) co.tls);
	if (rv != DRPC_OK) {
		// "dial tcp://127.0.0.1:7070: connection refused"
		fprintf(stderr, "example-client: %s\n", why.text);
		return 1;
	}
	failed = say_hello(c) + count_to(c, "5") + many_threads(c);
	drpc_conn_destroy(c);
	return failed == 0 ? 0 : 1;
}
