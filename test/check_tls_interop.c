// The TLS transport against a plain OpenSSL peer: the openssl CLI's
// s_server and s_client, carrying the recorded DRPC bytes of Go DRPC's
// transcripts (../shared/interop/transcripts, README section 5).
//
// Client side: `openssl s_server` (the test's run-time certificate)
// replays NAME.server.bin while a libdrpc client dials it over tls:// and
// makes the recorded call: the test reads what the client sent from
// s_server's stdout and writes the recorded reply into its stdin once the
// request is there, following NAME.seq, and checks the reply the client
// got. Server side: a libdrpc TLS server, and `openssl s_client` writing
// NAME.client.bin as NAME.seq orders it; what the server sent (s_client's
// stdout) must equal NAME.server.bin byte for byte.
//
// The openssl processes are children the test reaps. Their stdin and
// stdout are sockets (written with MSG_NOSIGNAL: a peer that died never
// raises SIGPIPE). -quiet makes both binary-clean (no commands read from
// stdin, nothing but the peer's bytes on stdout) and keeps them reading
// the TLS connection after their stdin ends. Every wait is for its event
// (bytes, a connect that succeeds, the child's exit), bounded by
// tu_bound_ns. Without the openssl binary the tests say so and pass:
// scripts/install-deps.sh --test installs it.
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <drpc/drpc.h>
#include <drpc/tls.h>

#include "connutil.h"
#include "echo_service.h"
#include "suites.h"
#include "testutil.h"
#include "tlsutil.h"

extern char **environ;

#define SEQ_MAX 64

// The openssl binary's path, or "" when PATH has none.
static void
openssl_path(char *buf, size_t cap)
{
	const char *path = getenv("PATH");
	const char *p    = path != NULL ? path : "/usr/bin:/bin";

	buf[0] = '\0';
	while (*p != '\0') {
		size_t n = strcspn(p, ":");

		if (n > 0 && (size_t) snprintf(buf, cap, "%.*s/openssl", (int) n,
				 p) < cap &&
		    access(buf, X_OK) == 0) {
			return;
		}
		buf[0] = '\0';
		p += n;
		p += *p == ':';
	}
}

// have_openssl finds the binary, or says why the test does nothing.
static bool
have_openssl(char *buf, size_t cap, const char *test)
{
	openssl_path(buf, cap);
	if (buf[0] == '\0') {
		fprintf(stderr,
		    "%s: SKIPPED: no openssl binary in PATH (Debian's openssl "
		    "package; scripts/install-deps.sh --test installs it)\n",
		    test);
		return false;
	}
	return true;
}

// A transcript: both sides' bytes and the order of their frames.
typedef struct seq_ev {
	char   dir; // 'C' or 'S'
	size_t off;
	size_t len;
} seq_ev;

typedef struct transcript {
	uint8_t *cbin;
	size_t   clen;
	uint8_t *sbin;
	size_t   slen;
	seq_ev   ev[SEQ_MAX];
	size_t   nev;
} transcript;

static void
transcript_load(transcript *t, const char *name)
{
	char  path[512];
	char  line[256];
	FILE *f;

	memset(t, 0, sizeof(*t));
	snprintf(path, sizeof(path), "%s/interop/transcripts/%s.client.bin",
	    DRPC_SHARED_DIR, name);
	t->cbin = tu_read_file(path, &t->clen);
	snprintf(path, sizeof(path), "%s/interop/transcripts/%s.server.bin",
	    DRPC_SHARED_DIR, name);
	t->sbin = tu_read_file(path, &t->slen);
	snprintf(path, sizeof(path), "%s/interop/transcripts/%s.seq",
	    DRPC_SHARED_DIR, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		seq_ev e;
		char   dir;

		if (line[0] == '#' || sscanf(line, "%c %zu %zu", &dir, &e.off,
					  &e.len) != 3) {
			continue; // a comment, or "C EOF"
		}
		e.dir = dir;
		ck_assert_uint_lt(t->nev, SEQ_MAX);
		ck_assert(e.off + e.len <= (dir == 'C' ? t->clen : t->slen));
		t->ev[t->nev++] = e;
	}
	fclose(f);
}

static void
transcript_free(transcript *t)
{
	free(t->cbin);
	free(t->sbin);
}

// An openssl child: stdin and stdout are our sockets, stderr a file.
typedef struct child {
	pid_t   pid;
	int     in;  // its stdin (we write)
	int     out; // its stdout (we read)
	char   *err; // its stderr's file
	uint8_t got[1 << 17];
	size_t  ngot;
	bool    eof;
} child;

static void
child_start(child *c, const char *const argv[])
{
	int                        in[2];
	int                        out[2];
	posix_spawn_file_actions_t fa;
	char                      *dir;

	memset(c, 0, sizeof(*c));
	tls_write_temp("", &c->err);
	dir = c->err;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out), 0);
	ck_assert_int_eq(posix_spawn_file_actions_init(&fa), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, in[1], 0), 0);
	ck_assert_int_eq(posix_spawn_file_actions_adddup2(&fa, out[1], 1), 0);
	ck_assert_int_eq(posix_spawn_file_actions_addopen(&fa, 2, dir,
			     O_WRONLY | O_TRUNC, 0),
	    0);
	ck_assert_int_eq(posix_spawn(&c->pid, argv[0], &fa, NULL,
			     (char *const *) (uintptr_t) argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(in[1]);
	close(out[1]);
	c->in  = in[0];
	c->out = out[0];
}

// child_stderr gives what the child wrote on stderr (for failures).
static const char *
child_stderr(child *c, char *buf, size_t cap)
{
	FILE  *f = fopen(c->err, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static void
child_write(child *c, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->in, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		ck_assert_msg(n > 0, "writing to openssl: %s", strerror(errno));
		p += n;
		len -= (size_t) n;
	}
}

// child_read_to reads the child's stdout until it holds want bytes, or it
// ended, or the bound passed; whether it holds them.
static bool
child_read_to(child *c, size_t want)
{
	int64_t until = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);

	ck_assert_uint_le(want, sizeof(c->got));
	while (c->ngot < want && !c->eof) {
		struct pollfd pf   = {.fd = c->out, .events = POLLIN};
		int64_t       left = until - drpc_now_ns();
		ssize_t       n;

		if (left <= 0 ||
		    poll(&pf, 1, (int) (left / 1000000) + 1) == 0) {
			break;
		}
		n = recv(c->out, c->got + c->ngot, sizeof(c->got) - c->ngot, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			c->eof = true;
			break;
		}
		c->ngot += (size_t) n;
	}
	return c->ngot >= want;
}

// child_end closes its stdin, reads its stdout to the end, and reaps it
// (killed if it has not exited within the bound): true if it exited by
// itself, with status 0 if zero_exit.
static bool
child_end(child *c, bool zero_exit)
{
	int64_t until = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	int     st    = 0;
	pid_t   r     = c->pid;

	close(c->in);
	(void) child_read_to(c, sizeof(c->got));
	close(c->out);
	while (c->pid > 0 && (r = waitpid(c->pid, &st, WNOHANG)) == 0 &&
	    drpc_now_ns() < until) {
		struct timespec ts = {0, 10 * 1000000}; // a poll for its exit

		nanosleep(&ts, NULL);
	}
	if (r == 0) {
		kill(c->pid, SIGKILL);
		(void) waitpid(c->pid, &st, 0);
		return false;
	}
	return WIFEXITED(st) && (!zero_exit || WEXITSTATUS(st) == 0);
}

static void
child_free(child *c)
{
	tls_remove_temp(c->err);
}

// Certificates on disk for the openssl CLI.
typedef struct files {
	tls_certs certs;
	char     *cert;
	char     *key;
	char     *ca;
} files;

static void
files_make(files *f)
{
	tls_certs_make(&f->certs);
	tls_write_temp(f->certs.server.cert, &f->cert);
	tls_write_temp(f->certs.server.key, &f->key);
	tls_write_temp(f->certs.ca.cert, &f->ca);
}

static void
files_free(files *f)
{
	tls_remove_temp(f->cert);
	tls_remove_temp(f->key);
	tls_remove_temp(f->ca);
	tls_certs_free(&f->certs);
}

// Server side: a libdrpc TLS server, s_client replaying the client.

static void
server_side(const char *name)
{
	char             bin[512];
	char             port[64];
	char             err[2048];
	transcript       t;
	files            f;
	child            c;
	drpc_mux        *mux;
	drpc_server     *srv;
	drpc_server_opts o = {0};
	char             addr[128];
	size_t           sent = 0;

	if (!have_openssl(bin, sizeof(bin), name)) {
		return;
	}
	transcript_load(&t, name);
	files_make(&f);
	o.tls = server_config(&f.certs.server, NULL, DRPC_TLS_CLIENT_AUTH_NONE);
	DRPC_CHECK_OK(drpc_mux_create(&mux));
	DRPC_CHECK_OK(echo_register(mux));
	DRPC_CHECK_OK(drpc_server_create(&srv, mux, &o));
	drpc_tls_config_destroy((drpc_tls_config *) o.tls);
	DRPC_CHECK_OK(drpc_server_listen(srv, "tls://127.0.0.1:0"));
	DRPC_CHECK_OK(drpc_server_addr(srv, addr, sizeof(addr)));
	snprintf(port, sizeof(port), "127.0.0.1:%s", strrchr(addr, ':') + 1);
	{
		const char *const argv[] = {bin, "s_client", "-quiet", "-connect", port,
		    "-CAfile", f.ca, "-verify_return_error", "-verify_hostname",
		    "localhost", NULL};

		child_start(&c, argv);
	}
	// The client's frames as the recording orders them: each server
	// frame awaited (and checked) before the client frames after it.
	for (size_t i = 0; i < t.nev; i++) {
		const seq_ev *e = &t.ev[i];

		if (e->dir == 'C') {
			child_write(&c, t.cbin + e->off, e->len);
			continue;
		}
		ck_assert_msg(child_read_to(&c, e->off + e->len),
		    "%s: the server sent %zu bytes, want %zu; s_client: %s", name,
		    c.ngot, e->off + e->len, child_stderr(&c, err, sizeof(err)));
		sent = e->off + e->len;
	}
	ck_assert_uint_eq(sent, t.slen);
	ck_assert_msg(memcmp(c.got, t.sbin, t.slen) == 0,
	    "%s: the server's bytes differ from the recording", name);
	// Closing the server ends s_client (it reads on after its stdin).
	drpc_server_destroy(srv);
	ck_assert_msg(child_end(&c, false), "%s: s_client did not end: %s",
	    name, child_stderr(&c, err, sizeof(err)));
	child_free(&c);
	ck_assert_msg(c.ngot == t.slen, "%s: %zu bytes more after the last",
	    name, c.ngot - t.slen);
	drpc_mux_destroy(mux);
	files_free(&f);
	transcript_free(&t);
}

static const char *const server_names[] = {"unary_small", "unary_empty",
    "server_stream_3", "client_stream", "bidi", "fail", "metadata",
    "multi_call"};

START_TEST(test_tls_interop_server)
{
	server_side(server_names[_i]);
}
END_TEST

// Client side: s_server replaying the server, a libdrpc client.

// free_port is a TCP port on 127.0.0.1 free a moment ago (s_server binds
// it; if someone took it meanwhile, s_server exits and the test picks
// another).
static int
free_port(void)
{
	struct sockaddr_in a   = {.sin_family = AF_INET};
	socklen_t          len = sizeof(a);
	int                fd  = socket(AF_INET, SOCK_STREAM, 0);
	int                port;

	ck_assert_int_ge(fd, 0);
	a.sin_addr.s_addr = htonl(0x7f000001);
	ck_assert_int_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

// A call made on its own thread while the test plays the server.
typedef struct call {
	drpc_conn   *c;
	const char  *name;
	drpc_err     rv;
	char         why[256];
	uint8_t      reply[4096];
	size_t       reply_len;
	int          nreplies;
} call;

// call_main makes the scenario's call: unary_small's Unary("hello,
// drpc"), or server_stream_3's ServerStream(3, 300), keeping every reply
// payload, one after the other.
static void *
call_main(void *arg)
{
	call        *k = arg;
	drpc_stream *s;
	uint8_t      req[ECHO_REQ_MAX];
	uint8_t     *enc;
	size_t       len;
	void        *m;
	size_t       mlen;

	if (strcmp(k->name, "unary_small") == 0) {
		if ((k->rv = echo_msg_encode("hello, drpc", 11, &enc, &len)) != DRPC_OK) {
			return NULL;
		}
		k->rv = drpc_stream_open_request(
		    &s, k->c, NULL, "/interop.Echo/Unary", enc, len, NULL);
		free(enc);
	} else {
		len   = echo_stream_req_put(req, 3, 300);
		k->rv = drpc_stream_open_request(
		    &s, k->c, NULL, "/interop.Echo/ServerStream", req, len, NULL);
	}
	if (k->rv != DRPC_OK) {
		return NULL;
	}
	while ((k->rv = drpc_stream_recv(s, &m, &mlen)) == DRPC_OK) {
		const uint8_t *p;
		size_t         plen;

		if (echo_msg_decode(m, mlen, &p, &plen) != DRPC_OK ||
		    k->reply_len + plen > sizeof(k->reply)) {
			k->rv = DRPC_EDATALOSS;
		} else {
			memcpy(k->reply + k->reply_len, p, plen);
			k->reply_len += plen;
			k->nreplies++;
		}
		drpc_free(m);
		if (k->rv != DRPC_OK) {
			break;
		}
	}
	if (k->rv == DRPC_EOF) {
		k->rv = DRPC_OK;
	} else {
		drpc_cause why;

		(void) drpc_conn_cause(k->c, &why);
		snprintf(k->why, sizeof(k->why), "%s", why.text);
	}
	drpc_stream_destroy(s);
	return NULL;
}

// client_dial dials s_server at port, trying again while nothing listens
// there yet (s_server starting); false if s_server exited (its port was
// taken) or the bound passed.
static bool
client_dial(child *sv, files *f, int port, drpc_conn **cp)
{
	int64_t        until = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	// As upstream Go DRPC's client: no hello, no deadline entry (README
	// section 5.3; check_interop.c's mode 2), so its bytes are the
	// recording's.
	drpc_conn_opts o = {.multiplex = DRPC_MULTIPLEX_OFF,
	    .flow = DRPC_FLOW_OFF, .omit_deadline = true};
	char           addr[64];
	drpc_cause     why;
	int            st;

	snprintf(addr, sizeof(addr), "tls://127.0.0.1:%d", port);
	while (drpc_now_ns() < until) {
		drpc_err rv;

		o.tls = client_config(&f->certs, f->certs.ca.cert, false);
		rv    = drpc_dial_cause(cp, addr, &o, &why);
		drpc_tls_config_destroy((drpc_tls_config *) o.tls);
		if (rv == DRPC_OK) {
			return true;
		}
		ck_assert_msg(strstr(why.text, "refused") != NULL, "dial: %s",
		    why.text);
		if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) {
			sv->pid = -1;
			return false;
		}
		struct timespec ts = {0, 5 * 1000000}; // a poll for s_server
		nanosleep(&ts, NULL);
	}
	ck_assert_msg(false, "s_server never listened on %d", port);
	return false;
}

static void
client_side(const char *name)
{
	char       bin[512];
	char       port[32];
	char       err[2048];
	transcript t;
	files      f;
	child      sv;
	call       k = {.name = name};
	pthread_t  th;
	size_t     want = 0; // the client's bytes before the server's next

	if (!have_openssl(bin, sizeof(bin), name)) {
		return;
	}
	transcript_load(&t, name);
	files_make(&f);
	for (int tries = 0;; tries++) {
		int p = free_port();

		snprintf(port, sizeof(port), "127.0.0.1:%d", p);
		const char *const argv[] = {bin, "s_server", "-quiet", "-naccept", "1",
		    "-accept", port, "-cert", f.cert, "-key", f.key, NULL};

		child_start(&sv, argv);
		if (client_dial(&sv, &f, p, &k.c)) {
			break;
		}
		(void) child_end(&sv, false); // reaped already
		child_free(&sv);
		ck_assert_int_lt(tries, 5);
	}
	ck_assert_int_eq(pthread_create(&th, NULL, call_main, &k), 0);
	// The server's frames, each once the client frames before it came.
	for (size_t i = 0; i < t.nev; i++) {
		const seq_ev *e = &t.ev[i];

		if (e->dir == 'C') {
			if (i + 1 < t.nev && t.ev[i + 1].dir == 'S') {
				want = e->off + e->len;
			}
			continue;
		}
		if (want > 0) {
			ck_assert_msg(child_read_to(&sv, want),
			    "%s: the client sent %zu bytes, want %zu; s_server: %s",
			    name, sv.ngot, want, child_stderr(&sv, err, sizeof(err)));
			ck_assert_msg(memcmp(sv.got, t.cbin, want) == 0,
			    "%s: the client's bytes differ from the recording", name);
			want = 0;
		}
		child_write(&sv, t.sbin + e->off, e->len);
	}
	pthread_join(th, NULL);
	ck_assert_msg(k.rv == DRPC_OK, "%s: %s: %s", name,
	    drpc_err_name(k.rv), k.why);
	if (strcmp(name, "unary_small") == 0) {
		ck_assert_int_eq(k.nreplies, 1);
		ck_assert_uint_eq(k.reply_len, 11);
		ck_assert_mem_eq(k.reply, "hello, drpc", 11);
	} else {
		ck_assert_int_eq(k.nreplies, 3);
		ck_assert_uint_eq(k.reply_len, 900);
		for (size_t i = 0; i < 900; i++) {
			if (k.reply[i] != (uint8_t) (i % 300 % 251)) {
				ck_assert_msg(false, "byte %zu: %u", i, k.reply[i]);
			}
		}
	}
	drpc_conn_destroy(k.c);
	// s_server (-naccept 1) ends with the connection. What the client
	// sent after the reply is the recording's rest, or less (a unary
	// client need not send its Close: README section 5.3).
	ck_assert_msg(child_end(&sv, true), "%s: s_server: %s", name,
	    child_stderr(&sv, err, sizeof(err)));
	child_free(&sv);
	ck_assert_uint_le(sv.ngot, t.clen);
	ck_assert_msg(memcmp(sv.got, t.cbin, sv.ngot) == 0,
	    "%s: the client's last bytes differ from the recording", name);
	files_free(&f);
	transcript_free(&t);
}

static const char *const client_names[] = {"unary_small", "server_stream_3"};

START_TEST(test_tls_interop_client)
{
	client_side(client_names[_i]);
}
END_TEST

TU_SUITE(tls_interop,
    TU_TEST("tls_interop", test_tls_interop_server,
        .loops = (int) TU_LEN(server_names), .timeout = 60),
    TU_TEST("tls_interop", test_tls_interop_client,
        .loops = (int) TU_LEN(client_names)))
