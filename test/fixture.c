// The public-API fixture (fixture.h).
#include "fixture.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "platform/thread.h"
#include "testutil.h"

// read_num reads the one request of s as a decimal number into *out.
static drpc_err
read_num(drpc_stream *s, long long *out)
{
	char     num[24] = {0};
	void    *data;
	size_t   len;
	drpc_err rv;

	if ((rv = drpc_stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	memcpy(num, data, len < sizeof(num) - 1 ? len : sizeof(num) - 1);
	drpc_free(data);
	*out = atoll(num);
	return DRPC_OK;
}

static void
count_started(tf *f)
{
	drpc__mutex_lock(&f->mu);
	f->started++;
	drpc__cond_broadcast(&f->cv);
	drpc__mutex_unlock(&f->mu);
}

drpc_err
tf_drop_request(drpc_stream *s)
{
	void    *data;
	size_t   len;
	drpc_err rv;

	if ((rv = drpc_stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc_free(data);
	}
	return rv;
}

drpc_err
tf_read_fd(void *arg, uint8_t *buf, size_t cap, size_t *n)
{
	int          *fd  = arg;
	struct pollfd pfd = {*fd, POLLIN, 0};
	ssize_t       got;

	if (poll(&pfd, 1, (int) (tu_bound_ns(TF_WAIT_NS) / 1000000)) != 1) {
		return DRPC_ETIMEDOUT;
	}
	if ((got = read(*fd, buf, cap)) < 0) {
		return errno == ECONNRESET ? DRPC_ECLOSED : DRPC_EIO;
	}
	*n = (size_t) got;
	return DRPC_OK;
}

drpc_err
tf_h_echo(drpc_stream *s, void *user)
{
	void    *data;
	size_t   len;
	drpc_err rv;

	(void) user;
	if ((rv = drpc_stream_recv(s, &data, &len)) != DRPC_OK) {
		return rv;
	}
	rv = drpc_stream_send(s, data != NULL ? data : "", len);
	drpc_free(data);
	return rv;
}

static drpc_err
tf_h_count(drpc_stream *s, void *user)
{
	long long n;
	drpc_err  rv;

	(void) user;
	if ((rv = read_num(s, &n)) != DRPC_OK) {
		return rv;
	}
	for (long long i = 0; i < n; i++) {
		char out[24];
		int  len = snprintf(out, sizeof(out), "%lld", i);

		if ((rv = drpc_stream_send(s, out, (size_t) len)) != DRPC_OK) {
			return rv;
		}
	}
	return DRPC_OK;
}

static drpc_err
tf_h_fail(drpc_stream *s, void *user)
{
	long long code;
	drpc_err  rv;

	(void) user;
	if ((rv = read_num(s, &code)) != DRPC_OK) {
		return rv;
	}
	if (code > 16) {
		return drpc_stream_set_error(s, (uint64_t) code, "custom") ==
		               DRPC_OK
		           ? DRPC_EINTERNAL
		           : DRPC_ENOMEM;
	}
	return (drpc_err) code;
}

static drpc_err
tf_h_sleep(drpc_stream *s, void *user)
{
	long long ms;
	drpc_err  rv;

	if ((rv = read_num(s, &ms)) != DRPC_OK) {
		return rv;
	}
	count_started(user);
	rv = drpc_ctx_wait(drpc_stream_ctx(s), drpc_now_ns() + ms * 1000000);
	return rv != DRPC_OK ? rv : drpc_stream_send(s, "slept", 5);
}

static drpc_err
tf_h_block(drpc_stream *s, void *user)
{
	tf      *f = user;
	int64_t  dl;
	drpc_err rv;

	if ((rv = tf_drop_request(s)) != DRPC_OK) {
		return rv;
	}
	dl = drpc__now_ns() + tu_bound_ns(TF_WAIT_NS);
	drpc__mutex_lock(&f->mu);
	f->started++;
	drpc__cond_broadcast(&f->cv);
	while (!f->open && rv == DRPC_OK) {
		rv = drpc__cond_wait_until(&f->cv, &f->mu, dl);
	}
	drpc__mutex_unlock(&f->mu);
	return rv != DRPC_OK ? rv : drpc_stream_send(s, "done", 4);
}

static void
tf_log(void *arg, drpc_log_level level, const char *msg)
{
	tf *f = arg;

	drpc__mutex_lock(&f->mu);
	if (f->nlines < TF_LOG_KEEP) {
		snprintf(f->lines[f->nlines], sizeof(f->lines[0]), "%s", msg);
		f->levels[f->nlines] = level;
	}
	f->nlines++;
	drpc__cond_broadcast(&f->cv);
	drpc__mutex_unlock(&f->mu);
}

void
tf_server_start(tf *f, const tf_opts *o)
{
	static const struct {
		const char     *name;
		drpc_handler_fn fn;
	} table[] = {
	    {TF_ECHO, tf_h_echo},
	    {TF_COUNT, tf_h_count},
	    {TF_FAIL, tf_h_fail},
	    {TF_SLEEP, tf_h_sleep},
	    {TF_BLOCK, tf_h_block},
	};
	tf_opts          o0 = {.net = TF_TCP};
	drpc_server_opts so = {0};

	o = o != NULL ? o : &o0;
	memset(f, 0, sizeof(*f));
	f->net  = o->net;
	f->leak = tu_leak_start();
	drpc__mutex_init(&f->mu);
	drpc__cond_init(&f->cv);
	if (o->server != NULL) {
		so = *o->server;
	}
	if (so.log == NULL) {
		so.log     = tf_log;
		so.log_arg = f;
	}
	DRPC_CHECK_OK(drpc_mux_create(&f->mux));
	for (size_t i = 0; i < TU_LEN(table); i++) {
		DRPC_CHECK_OK(
		    drpc_mux_register(f->mux, table[i].name, table[i].fn, f));
	}
	for (size_t i = 0; i < o->nmethods; i++) {
		DRPC_CHECK_OK(drpc_mux_register(f->mux, o->methods[i].name,
		    o->methods[i].fn, o->methods[i].user));
	}
	if (o->setup != NULL) {
		o->setup(o->setup_arg, f->mux);
	}
	DRPC_CHECK_OK(drpc_server_create(&f->srv, f->mux, &so));
	if (o->hooks != NULL) {
		drpc__server_set_hooks(f->srv, o->hooks);
	}
	if (f->net == TF_PAIR) {
		return;
	}
	if (f->net == TF_UNIX) {
		snprintf(f->path, sizeof(f->path), "/tmp/drpc-test-%d.sock",
		    (int) getpid());
		snprintf(f->addr, sizeof(f->addr), "unix://%s", f->path);
	} else {
		snprintf(f->addr, sizeof(f->addr), "%s://127.0.0.1:0",
		    f->net == TF_TLS ? "tls" : "tcp");
	}
	DRPC_CHECK_OK(drpc_server_listen(f->srv, f->addr));
	DRPC_CHECK_OK(drpc_server_addr(f->srv, f->addr, sizeof(f->addr)));
}

int
tf_serve_peer(tf *f)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	DRPC_CHECK_OK(drpc_server_serve_fd(f->srv, sv[1]));
	return sv[0];
}

drpc_conn *
tf_connect(tf *f, const drpc_conn_opts *co)
{
	drpc_conn *c;
	int        fd;

	if (f->net != TF_PAIR) {
		DRPC_CHECK_OK(drpc_dial(&c, f->addr, co));
		return c;
	}
	fd = tf_serve_peer(f);
	DRPC_CHECK_OK(drpc_conn_create_fd(&c, fd, co));
	return c;
}

drpc_conn *
tf_dial(tf *f, const drpc_conn_opts *co)
{
	ck_assert_msg(f->c == NULL, "tf_dial: the fixture has a client");
	f->c = tf_connect(f, co);
	return f->c;
}

drpc_err
tf_call_opts(tf *f, const char *method, const char *req,
    const drpc_call_opts *o, drpc_status *st)
{
	void    *reply = NULL;
	size_t   len   = 0;
	drpc_err rv;

	rv = drpc_invoke(f->c, NULL, method, req, req != NULL ? strlen(req) : 0,
	    o, &reply, &len, st);
	f->reply_len = rv == DRPC_OK ? len : 0;
	len          = len < TF_REPLY - 1 ? len : TF_REPLY - 1;
	if (rv == DRPC_OK && len > 0) {
		memcpy(f->reply, reply, len);
	}
	f->reply[rv == DRPC_OK ? len : 0] = '\0';
	if (rv == DRPC_OK) {
		drpc_free(reply);
	}
	return rv;
}

drpc_err
tf_call(tf *f, const char *method, const char *req, drpc_status *st)
{
	return tf_call_opts(f, method, req, NULL, st);
}

void
tf_reply_is(tf *f, const char *want)
{
	size_t n = strlen(want);

	// Only TF_REPLY - 1 bytes of a reply are kept: a longer want could
	// not be compared (memcmp would read past f->reply).
	ck_assert_msg(n < TF_REPLY, "tf_reply_is: want is %zu bytes, over %d",
	    n, TF_REPLY - 1);
	ck_assert_msg(f->reply_len == n && memcmp(f->reply, want, n) == 0,
	    "reply \"%s\" (%zu bytes), want \"%s\"", f->reply, f->reply_len,
	    want);
}

void
tf_gate_open(tf *f)
{
	drpc__mutex_lock(&f->mu);
	f->open = true;
	drpc__cond_broadcast(&f->cv);
	drpc__mutex_unlock(&f->mu);
}

// logged_locked is the index of the last line kept containing text, or
// TF_LOG_KEEP for none.
static size_t
logged_locked(const tf *f, const char *text)
{
	size_t n = f->nlines < TF_LOG_KEEP ? f->nlines : TF_LOG_KEEP;

	for (size_t i = n; i-- > 0;) {
		if (strstr(f->lines[i], text) != NULL) {
			return i;
		}
	}
	return TF_LOG_KEEP;
}

bool
tf_logged(tf *f, const char *text)
{
	bool   seen;
	size_t n;

	drpc__mutex_lock(&f->mu);
	seen = logged_locked(f, text) < TF_LOG_KEEP;
	n    = f->nlines;
	drpc__mutex_unlock(&f->mu);
	// A "no" is only worth something if every line was kept.
	ck_assert_msg(seen || n <= TF_LOG_KEEP,
	    "tf_logged(\"%s\"): %zu lines logged, only the first %d kept",
	    text, n, TF_LOG_KEEP);
	return seen;
}

bool
tf_wait_log(tf *f, const char *text, drpc_log_level *level)
{
	int64_t deadline = drpc__now_ns() + tu_bound_ns(TF_WAIT_NS);
	size_t  i;

	drpc__mutex_lock(&f->mu);
	while (
	    (i = logged_locked(f, text)) == TF_LOG_KEEP &&
	    drpc__cond_wait_until(&f->cv, &f->mu, deadline) != DRPC_ETIMEDOUT) {
	}
	if (i < TF_LOG_KEEP && level != NULL) {
		*level = f->levels[i];
	}
	drpc__mutex_unlock(&f->mu);
	return i < TF_LOG_KEEP;
}

size_t
tf_wait_started_or_log(tf *f, size_t n, const char *stop)
{
	int64_t deadline = drpc__now_ns() + tu_bound_ns(TF_WAIT_NS);
	size_t  got;

	drpc__mutex_lock(&f->mu);
	while (
	    f->started < n &&
	    (stop == NULL || logged_locked(f, stop) == TF_LOG_KEEP) &&
	    drpc__cond_wait_until(&f->cv, &f->mu, deadline) != DRPC_ETIMEDOUT) {
	}
	got = f->started;
	drpc__mutex_unlock(&f->mu);
	return got;
}

void
tf_wait_started(tf *f, size_t n)
{
	size_t got = tf_wait_started_or_log(f, n, NULL);

	ck_assert_msg(got >= n, "%zu of %zu handlers started", got, n);
}

size_t
tf_log_count(tf *f, drpc_log_level level)
{
	size_t n = 0;

	drpc__mutex_lock(&f->mu);
	for (size_t i = 0; i < f->nlines && i < TF_LOG_KEEP; i++) {
		n += f->levels[i] == level;
	}
	drpc__mutex_unlock(&f->mu);
	return n;
}

const char *
tf_log_line(tf *f, drpc_log_level level, size_t i, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	drpc__mutex_lock(&f->mu);
	for (size_t k = 0; k < f->nlines && k < TF_LOG_KEEP; k++) {
		if (f->levels[k] == level && n++ == i) {
			snprintf(out, cap, "%s", f->lines[k]);
			break;
		}
	}
	drpc__mutex_unlock(&f->mu);
	return out;
}

static void
close_client(tf *f)
{
	if (f->c != NULL) {
		drpc_conn_destroy(f->c);
		f->c = NULL;
	}
}

void
tf_stop(tf *f)
{
	close_client(f);
	tf_gate_open(f);
	DRPC_CHECK_OK(drpc_server_shutdown(
	    f->srv, drpc_now_ns() + tu_bound_ns(TF_WAIT_NS)));
	tf_free(f);
}

void
tf_free(tf *f)
{
	tf_gate_open(f);
	close_client(f);
	drpc_server_destroy(f->srv);
	drpc_mux_destroy(f->mux);
	if (f->path[0] != '\0') {
		unlink(f->path);
	}
	drpc__cond_fini(&f->cv);
	drpc__mutex_fini(&f->mu);
	tu_leak_check(&f->leak);
}

void
tf_gather_init(tf_gather *g)
{
	memset(g, 0, sizeof(*g));
	tu_sync_init(&g->sync);
}

void
tf_gather_fini(tf_gather *g)
{
	tu_sync_fini(&g->sync);
}

bool
tf_gather_wait(tf_gather *g, int want, int64_t bound_ns)
{
	int64_t deadline = drpc__now_ns() + tu_bound_ns(bound_ns);
	bool    all;

	tu_sync_lock(&g->sync);
	g->inside++;
	g->most = g->inside > g->most ? g->inside : g->most;
	drpc__cond_broadcast(&g->sync.cv);
	while (g->most < want && drpc__cond_wait_until(&g->sync.cv, &g->sync.mu,
	                             deadline) != DRPC_ETIMEDOUT) {
	}
	all = g->most >= want;
	g->inside--;
	tu_sync_unlock(&g->sync);
	return all;
}
