// example-server: a small libdrpc server. It serves two methods on the
// address given (default tcp://127.0.0.1:7070) until SIGINT or SIGTERM:
//   /example.Greeter/Hello   unary: "name" -> "hello, name"
//   /example.Greeter/Count   server streaming: "n" -> "1", "2", ... "n"
// Run it with example-client beside it.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>
#include <drpc/tls.h>

static drpc_err
hello(drpc_stream *s, void *user)
{
	void    *name;
	size_t   len;
	char     reply[256];
	int      n;
	drpc_err rv;

	(void) user;
	if ((rv = drpc_stream_recv(s, &name, &len)) != DRPC_OK) {
		return rv;
	}
	n = snprintf(reply, sizeof(reply), "hello, %.*s", (int) len,
	    name != NULL ? (const char *) name : "");
	drpc_free(name);
	return drpc_stream_send(s, reply, (size_t) n);
}

static drpc_err
count(drpc_stream *s, void *user)
{
	void    *req;
	size_t   len;
	char     num[32] = {0};
	drpc_err rv;

	(void) user;
	if ((rv = drpc_stream_recv(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	memcpy(num, req, len < sizeof(num) - 1 ? len : sizeof(num) - 1);
	drpc_free(req);
	for (long i = 1; i <= strtol(num, NULL, 10); i++) {
		char out[32];
		int  n = snprintf(out, sizeof(out), "%ld", i);

		if ((rv = drpc_stream_send(s, out, (size_t) n)) != DRPC_OK) {
			return rv;
		}
	}
	return DRPC_OK;
}

static void
wait_for_signal(void)
{
	sigset_t set;
	int      sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigwait(&set, &sig);
}

// tls_config makes the server's TLS configuration from the command line:
// --tls CERT KEY (its chain and key, PEM files), and --client-ca CA to
// require client certificates signed by CA (mutual TLS).
static drpc_tls_config *
tls_config(const char *cert, const char *key, const char *client_ca)
{
	drpc_tls_config *tls;
	drpc_cause       why;

	if (drpc_tls_config_create(&tls, DRPC_TLS_SERVER, &why) != DRPC_OK ||
	    drpc_tls_config_set_cert_files(tls, cert, key, &why) != DRPC_OK ||
	    (client_ca != NULL &&
		drpc_tls_config_set_ca(tls, client_ca, NULL, &why) != DRPC_OK)) {
		fprintf(stderr, "example-server: %s\n", why.text);
		return NULL;
	}
	if (client_ca != NULL) {
		drpc_tls_config_set_client_auth(tls, DRPC_TLS_CLIENT_AUTH_REQUIRE);
	}
	return tls;
}

static int
usage(void)
{
	fprintf(stderr, "usage: example-server [--tls CERT KEY [--client-ca CA]] "
			"[ADDR]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char      *addr = "tcp://127.0.0.1:7070";
	const char      *cert = NULL, *key = NULL, *client_ca = NULL;
	drpc_server_opts so   = {0};
	drpc_mux        *mux;
	drpc_server     *srv;
	char             bound[256];
	drpc_cause       why;
	drpc_err         rv;
	sigset_t         set;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
			cert = argv[++i];
			key  = argv[++i];
		} else if (strcmp(argv[i], "--client-ca") == 0 && i + 1 < argc) {
			client_ca = argv[++i];
		} else if (argv[i][0] != '-') {
			addr = argv[i];
		} else {
			return usage();
		}
	}
	if (client_ca != NULL && cert == NULL) {
		return usage();
	}
	if (cert != NULL && (so.tls = tls_config(cert, key, client_ca)) == NULL) {
		return 1;
	}

	// Block the signals before any thread starts, so only sigwait gets
	// them.
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((rv = drpc_mux_create(&mux)) != DRPC_OK ||
	    (rv = drpc_mux_register(mux, "/example.Greeter/Hello", hello,
		 NULL)) != DRPC_OK ||
	    (rv = drpc_mux_register(mux, "/example.Greeter/Count", count,
		 NULL)) != DRPC_OK ||
	    (rv = drpc_server_create(&srv, mux, &so)) != DRPC_OK) {
		fprintf(stderr, "example-server: %s\n", drpc_strerror(rv));
		return 1;
	}
	if (drpc_server_listen_cause(srv, addr, &why) != DRPC_OK) {
		// "listen tcp://127.0.0.1:7070: address in use"
		fprintf(stderr, "example-server: %s\n", why.text);
		return 1;
	}
	drpc_server_addr(srv, bound, sizeof(bound));
	printf("example-server: serving on %s\n", bound);
	fflush(stdout);
	wait_for_signal();
	// Let calls in flight finish for up to 2 s, then cancel them.
	drpc_server_shutdown(srv, drpc_now_ns() + 2000000000);
	drpc_server_destroy(srv);
	drpc_mux_destroy(mux);
	drpc_tls_config_destroy((drpc_tls_config *) so.tls);
	printf("example-server: stopped\n");
	return 0;
}
