// The drpc tool over TLS (docs/cli.md, "TLS"): a call by reflection to a
// libdrpc TLS server with run-time certificates (test/tlsutil.c); mutual
// TLS with --cert/--key; and the failures a user meets first, each one
// line, nothing served: an untrusted server, a server that wants a client
// certificate, and a plain server dialled with --tls.
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <drpc/drpc.h>

#include "cli_fixture.h"
#include "testutil.h"
#include "tlsutil.h"
#include "tu_rows.h"

// tls_serve starts fx's server over TLS with cfg (the server keeps its own
// reference; cfg is destroyed here). Its address is tls://.
static void
tls_serve(cli_fx *fx, drpc_tls_config *cfg)
{
	drpc_server_opts o = {0};

	o.tls = cfg;
	ck_assert_int_eq(drpc_server_create(&fx->srv, fx->mux, &o), DRPC_OK);
	drpc_tls_config_destroy(cfg);
	ck_assert_int_eq(
	    drpc_server_listen(fx->srv, "tls://127.0.0.1:0"), DRPC_OK);
	ck_assert_int_eq(
	    drpc_server_addr(fx->srv, fx->addr, sizeof(fx->addr)), DRPC_OK);
	ck_assert_msg(strncmp(fx->addr, "tls://", 6) == 0, "%s", fx->addr);
}

START_TEST(test_cli_tls)
{
	tls_certs certs;
	cli_fx    fx;
	char     *ca;
	char     *other;

	tls_certs_make(&certs);
	tls_write_temp(certs.ca.cert, &ca);
	tls_write_temp(certs.other_ca.cert, &other);
	fx_init(&fx, true);
	tls_serve(&fx, server_config(&certs.server, NULL, DRPC_TLS_CLIENT_AUTH_NONE));
	{
		const cli_run runs[] = {
		    {.args   = {"call", fx.addr, "/test.echo.EchoService/Unary",
		           "--tls", "--cacert", ca, "-d",
		           "{\"payload\": \"aGk=\"}"},
		        .out = "{\"payload\":\"aGk=\"}\n",
		        .err = "",
		        .rec = "0a026869|"},
		    // A server the CA given does not vouch for: one line, exit
		    // 3 (no connection), nothing served.
		    {.args = {"call", fx.addr, "/test.echo.EchoService/Unary",
		         "--tls", "--cacert", other, "-d", "{}"},
		        .status = 3,
		        .line   = "certificate verify failed"},
		};

		expect_runs(&fx, runs, TU_LEN(runs));
	}
	fx_finish(&fx, 1);
	tls_remove_temp(ca);
	tls_remove_temp(other);
	tls_certs_free(&certs);
}
END_TEST

START_TEST(test_cli_mtls)
{
	tls_certs certs;
	cli_fx    fx;
	char     *ca;
	char     *cert;
	char     *key;

	tls_certs_make(&certs);
	tls_write_temp(certs.ca.cert, &ca);
	tls_write_temp(certs.client.cert, &cert);
	tls_write_temp(certs.client.key, &key);
	fx_init(&fx, true);
	tls_serve(&fx, server_config(&certs.server, certs.ca.cert,
	                   DRPC_TLS_CLIENT_AUTH_REQUIRE));
	{
		const cli_run ok = {
		    .args = {"call", fx.addr, "/test.echo.EchoService/Unary",
		        "--tls", "--cacert", ca, "--cert", cert, "--key", key,
		        "-d", "{\"payload\": \"aGk=\"}"},
		    .out  = "{\"payload\":\"aGk=\"}\n"};

		expect_runs(&fx, &ok, 1);
	}
	// Without a client certificate the server refuses the handshake.
	ck_assert_int_ne(run_tool(&fx, NULL, "call", fx.addr,
	                     "/test.echo.EchoService/Unary", "--tls", "--cacert",
	                     ca, "-d", "{}", NULL),
	    0);
	one_line(&fx, "certificate");
	fx_finish(&fx, 1);
	tls_remove_temp(ca);
	tls_remove_temp(cert);
	tls_remove_temp(key);
	tls_certs_free(&certs);
}
END_TEST

TU_ROWS(cli_tls_tests, TU_TEST("tls", test_cli_tls, .timeout = 60),
    TU_TEST("tls", test_cli_mtls))
