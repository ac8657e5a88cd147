// drpc-bench's DRPC server: the bench's handlers, the server that
// serves them beside the raw baseline's listener, and --server.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <drpc/drpc.h>

#include "bench.h"

// h_unary echoes the request.
static drpc_err
h_unary(drpc_stream *s, void *user)
{
	const void *req;
	size_t      len;
	drpc_err    rv;

	(void) user;
	if ((rv = drpc_stream_recv_view(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	rv = drpc_stream_send_last(s, len > 0 ? req : "", len);
	drpc_stream_recv_done(s);
	return rv;
}

// h_download: the request is (size, ms); messages of size bytes go back
// to back for ms milliseconds.
static drpc_err
h_download(drpc_stream *s, void *user)
{
	const void *req;
	size_t      len;
	uint32_t    size;
	uint32_t    ms;
	uint8_t    *msg;
	int64_t     stop;
	drpc_err    rv;

	(void) user;
	if ((rv = drpc_stream_recv_view(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	if (len != 8) {
		drpc_stream_recv_done(s);
		return DRPC_EINVAL;
	}
	size = get_u32(req);
	ms   = get_u32((const uint8_t *) req + 4);
	drpc_stream_recv_done(s);
	if (size == 0 || size > ((uint32_t) 4 << 20)) {
		return DRPC_EINVAL;
	}
	if ((msg = malloc(size)) == NULL) {
		return DRPC_ENOMEM;
	}
	fill_pattern(msg, size);
	stop = now_ns() + (int64_t) ms * NS_PER_MS;
	do {
		rv = drpc_stream_send(s, msg, size);
	} while (rv == DRPC_OK && now_ns() < stop);
	free(msg);
	return rv;
}

// h_upload counts what the client sends and answers (messages, bytes).
// It acknowledges the first message at once, so that a client run with
// --workarounds can wait until a handler runs before it streams: before
// e37f44c the reader handed a new stream to a handler only before its
// next read, and blocked first if the stream's ring filled
// (docs/benchmarks.md).
static drpc_err
h_upload(drpc_stream *s, void *user)
{
	const void *m;
	size_t      len;
	uint64_t    msgs  = 0;
	uint64_t    bytes = 0;
	uint8_t     reply[16];
	drpc_err    rv;

	(void) user;
	while ((rv = drpc_stream_recv_view(s, &m, &len)) == DRPC_OK) {
		msgs++;
		bytes += len;
		drpc_stream_recv_done(s);
		if (msgs == 1) {
			fill_pattern(reply, sizeof(reply));
			if ((rv = drpc_stream_send(s, reply, sizeof(reply))) !=
			    DRPC_OK) {
				return rv;
			}
		}
	}
	if (rv != DRPC_EOF) {
		return rv;
	}
	put_u64(reply, msgs);
	put_u64(reply + 8, bytes);
	return drpc_stream_send(s, reply, sizeof(reply));
}

// h_bidi echoes every message until the client closes its side.
static drpc_err
h_bidi(drpc_stream *s, void *user)
{
	const void *m;
	size_t      len;
	drpc_err    rv;

	(void) user;
	while ((rv = drpc_stream_recv_view(s, &m, &len)) == DRPC_OK) {
		rv = drpc_stream_send(s, len > 0 ? m : "", len);
		drpc_stream_recv_done(s);
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// skip_request receives the request and drops it.
static drpc_err
skip_request(drpc_stream *s)
{
	const void *m;
	size_t      len;
	drpc_err    rv = drpc_stream_recv_view(s, &m, &len);

	if (rv == DRPC_OK) {
		drpc_stream_recv_done(s);
	}
	return rv;
}

// h_idle acknowledges the request, then blocks in recv until the client
// ends the stream: an open, idle server-streaming call.
static drpc_err
h_idle(drpc_stream *s, void *user)
{
	uint8_t  ack[BENCH_SMALL];
	drpc_err rv;

	(void) user;
	if ((rv = skip_request(s)) != DRPC_OK) {
		return rv;
	}
	fill_pattern(ack, sizeof(ack));
	if ((rv = drpc_stream_send(s, ack, sizeof(ack))) != DRPC_OK) {
		return rv;
	}
	while ((rv = skip_request(s)) == DRPC_OK) {
	}
	return rv == DRPC_EOF ? DRPC_OK : rv;
}

// h_stall never reads: it waits until the client cancels the stream or
// the connection ends (the flow workload's stalled stream).
static drpc_err
h_stall(drpc_stream *s, void *user)
{
	(void) user;
	return drpc_ctx_wait(drpc_stream_ctx(s), 0);
}

// h_info answers "rss_kib=R threads=T raw_port=P idle_workers=I
// handler_stack=S heap_kib=H tls_port=T" about the server.
static drpc_err
h_info(drpc_stream *s, void *user)
{
	bench_server *bs = user;
	char          text[256];
	int           n;
	drpc_err      rv;

	if ((rv = skip_request(s)) != DRPC_OK) {
		return rv;
	}
	n = snprintf(text, sizeof(text),
	    "rss_kib=%ld threads=%ld raw_port=%u idle_workers=%zu "
	    "handler_stack=%zu heap_kib=%ld tls_port=%u",
	    proc_status_field("VmRSS:"), proc_status_field("Threads:"),
	    atomic_load(&bs->raw_port), bs->idle_workers, bs->handler_stack,
	    heap_bytes() >> 10, atomic_load(&bs->tls_port));
	return drpc_stream_send(s, text, (size_t) n);
}

// h_usage answers with this process's usage (usage_encode): what the
// server has cost so far, for drpc-bench --two-process.
static drpc_err
h_usage(drpc_stream *s, void *user)
{
	uint8_t  u[USAGE_WIRE_LEN];
	drpc_err rv;

	(void) user;
	if ((rv = skip_request(s)) != DRPC_OK) {
		return rv;
	}
	usage_encode(u, usage_now());
	return drpc_stream_send(s, u, sizeof(u));
}

// noop_server_icpt is the interceptor rows' server interceptor: it only
// passes the call on.
static drpc_err
noop_server_icpt(drpc_stream *s, drpc_next *next, void *arg)
{
	(void) arg;
	return drpc_next_handle(next, s);
}

// icpt_server_start starts bs's second server: the same mux behind one
// no-op interceptor, on host's loopback (the interceptor rows).
static drpc_err
icpt_server_start(bench_server *bs, const bench_cfg *cfg)
{
	static const drpc_server_interceptor noop[] = {{noop_server_icpt, NULL}};
	drpc_server_opts o = bench_server_opts(cfg, DRPC_FLOW_AUTO);
	drpc_err         rv;

	o.interceptors  = noop;
	o.ninterceptors = 1;
	if ((rv = drpc_server_create(&bs->srv_icpt, bs->mux, &o)) != DRPC_OK ||
	    (rv = drpc_server_listen(bs->srv_icpt, "tcp://127.0.0.1:0")) !=
	        DRPC_OK ||
	    (rv = drpc_server_addr(bs->srv_icpt, bs->addr_icpt,
	         sizeof(bs->addr_icpt))) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: interceptor server: %s\n",
		    drpc_strerror(rv));
	}
	return rv;
}

// bench_server_opts is the options of the bench's servers: those of the
// command line, and the flow control mode given.
drpc_server_opts
bench_server_opts(const bench_cfg *cfg, drpc_flow_mode flow)
{
	drpc_server_opts o = {0};

	o.handler_stack = cfg->handler_stack;
	o.idle_workers  = cfg->idle_workers;
	o.flow          = flow;
	// streams-scale holds 10,000 idle streams (and handlers) on one
	// connection: past the server's default caps (256 streams per
	// connection, 1024 handlers), which guard servers facing clients
	// they do not control.
	o.max_streams  = SIZE_MAX;
	o.max_handlers = SIZE_MAX;
	return o;
}

// server_listen_tls starts the TLS server (a server's listeners all
// share its TLS setting, so it is a second server on the same mux) on host
// (port 0) and publishes its port.
static drpc_err
server_listen_tls(bench_server *bs, const bench_cfg *cfg, const char *host,
    const drpc_tls_config *tls)
{
	drpc_server_opts o = bench_server_opts(cfg, DRPC_FLOW_AUTO);
	char             addr[300];
	char             h[256];
	char             port[16];
	drpc_err         rv;

	o.tls = tls;
	if ((rv = drpc_server_create(&bs->tls_srv, bs->mux, &o)) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: TLS server: %s\n",
		    drpc_strerror(rv));
		return rv;
	}
	snprintf(addr, sizeof(addr), "tls://%s:0", host);
	if ((rv = drpc_server_listen(bs->tls_srv, addr)) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: listen %s: %s\n", addr,
		    drpc_strerror(rv));
		return rv;
	}
	// The last listener's address, whatever scheme it is named with.
	if ((rv = drpc_server_addr(bs->tls_srv, addr, sizeof(addr))) !=
	    DRPC_OK) {
		return rv;
	}
	memcpy(addr, "tcp", 3);
	if (!split_tcp_addr(addr, h, sizeof(h), port, sizeof(port))) {
		fprintf(stderr, "drpc-bench: %s: unexpected address\n", addr);
		return DRPC_EINVAL;
	}
	atomic_store(&bs->tls_port, (unsigned) atoi(port));
	return DRPC_OK;
}

drpc_err
bench_server_start(bench_server *bs, const bench_cfg *cfg, const char *addr,
    const drpc_tls_config *tls)
{
	drpc_server_opts o = bench_server_opts(cfg, DRPC_FLOW_AUTO);
	char             host[256];
	char             port[16];
	drpc_err         rv;
	int              err;

	memset(bs, 0, sizeof(*bs));
	atomic_init(&bs->raw_port, 0);
	atomic_init(&bs->tls_port, 0);
	bs->idle_workers =
	    cfg->idle_workers != 0 ? cfg->idle_workers : LIB_IDLE_WORKERS;
	bs->handler_stack = cfg->handler_stack;
	if ((rv = drpc_mux_create(&bs->mux)) != DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_UNARY, h_unary, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_DOWNLOAD, h_download, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_UPLOAD, h_upload, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_BIDI, h_bidi, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_IDLE, h_idle, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_STALL, h_stall, NULL)) !=
	        DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_INFO, h_info, bs)) != DRPC_OK ||
	    (rv = drpc_mux_register(bs->mux, M_USAGE, h_usage, NULL)) !=
	        DRPC_OK) {
		fprintf(stderr, "drpc-bench: mux: %s\n", drpc_strerror(rv));
		return rv;
	}
	if ((rv = drpc_server_create(&bs->srv, bs->mux, &o)) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: server: %s\n", drpc_strerror(rv));
		return rv;
	}
	if ((rv = drpc_server_listen(bs->srv, addr)) != DRPC_OK) {
		fprintf(stderr, "drpc-bench: listen %s: %s\n", addr,
		    drpc_strerror(rv));
		return rv;
	}
	if ((rv = drpc_server_addr(bs->srv, bs->addr, sizeof(bs->addr))) !=
	    DRPC_OK) {
		fprintf(stderr, "drpc-bench: server address: %s\n",
		    drpc_strerror(rv));
		return rv;
	}
	if (!split_tcp_addr(bs->addr, host, sizeof(host), port, sizeof(port))) {
		fprintf(stderr,
		    "drpc-bench: %s: the raw baseline needs a tcp:// address\n",
		    bs->addr);
		return DRPC_EINVAL;
	}
	if ((err = raw_server_start(&bs->raw, host)) != 0) {
		fprintf(stderr, "drpc-bench: raw listener on %s: %s\n", host,
		    strerror(err));
		return DRPC_EUNAVAIL;
	}
	bs->raw_up = true;
	atomic_store(&bs->raw_port, (unsigned) bs->raw.port);
	if (tls != NULL && (rv = server_listen_tls(bs, cfg, host, tls)) !=
	    DRPC_OK) {
		return rv;
	}
	return icpt_server_start(bs, cfg);
}

// server_stop shuts srv down (NULL is a no-op) and frees it.
void
server_stop(drpc_server *srv)
{
	drpc_err rv;

	if (srv == NULL) {
		return;
	}
	rv = drpc_server_shutdown(srv, drpc_now_ns() + 2 * NS_PER_S);
	if (rv != DRPC_OK) {
		fprintf(stderr, "drpc-bench: server shutdown: %s\n",
		    drpc_strerror(rv));
	}
	drpc_server_destroy(srv);
}

void
bench_server_stop(bench_server *bs)
{
	server_stop(bs->srv);
	server_stop(bs->tls_srv);
	server_stop(bs->srv_icpt);
	if (bs->raw_up) {
		raw_server_stop(&bs->raw);
	}
	drpc_mux_destroy(bs->mux);
}
// watch_parent makes the kernel send SIGTERM (which --server waits for)
// when process parent exits (prctl PR_SET_PDEATHSIG), so a server that
// drpc-bench --two-process started never outlives it.
static bool
watch_parent(long parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
		fprintf(stderr, "drpc-bench: prctl: %s\n", strerror(errno));
		return false;
	}
	// If it exited before the prctl, we were re-parented already.
	if ((long) getppid() != parent) {
		fprintf(stderr, "drpc-bench: parent %ld is gone\n", parent);
		return false;
	}
	return true;
}

int
run_server(const bench_cfg *cfg)
{
	bench_server     bs;
	drpc_tls_config *tls = NULL;
	sigset_t         set;
	int              sig;
	int              err;
	drpc_err         rv;

	// Block the signals before any thread starts, so only sigwait
	// gets them.
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if ((err = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0) {
		fprintf(
		    stderr, "drpc-bench: pthread_sigmask: %s\n", strerror(err));
		return 1;
	}
	if (cfg->parent_pid != 0 && !watch_parent(cfg->parent_pid)) {
		return 1;
	}
	if (cfg->tls_cert != NULL &&
	    (tls = tls_server_config(NULL, cfg)) == NULL) {
		return 1;
	}
	// The server keeps its own reference to the config.
	rv = bench_server_start(&bs, cfg, cfg->serve_addr, tls);
	drpc_tls_config_destroy(tls);
	if (rv != DRPC_OK) {
		bench_server_stop(&bs);
		return 1;
	}
	printf("drpc-bench: serving on %s, raw baseline on port %u "
	       "(SIGINT or SIGTERM stops)\n",
	    bs.addr, (unsigned) bs.raw.port);
	fflush(stdout);
	if ((err = sigwait(&set, &sig)) != 0) {
		fprintf(stderr, "drpc-bench: sigwait: %s\n", strerror(err));
	}
	bench_server_stop(&bs);
	printf("drpc-bench: server stopped\n");
	return 0;
}
