#include "connutil.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "platform/thread.h"
#include "testutil.h"

typedef struct tu_job {
	tu_pair          *p;
	drpc__stream     *s;
	drpc__invoke_info info;
	char              name[256];
} tu_job;

static void *
tu_handler_main(void *arg)
{
	tu_job  *j = arg;
	tu_pair *p = j->p;
	drpc_err rv;

	rv = p->handler(p->arg, j->s, j->name, &j->info.md);
	drpc__stream_destroy(j->s);
	drpc__md_fini(&j->info.md);
	drpc__mutex_lock(&p->mu);
	if (rv != DRPC_OK) {
		p->last_handler_err = rv;
	}
	p->finished++;
	drpc__cond_broadcast(&p->cv);
	drpc__mutex_unlock(&p->mu);
	free(j);
	return NULL;
}

static void
tu_on_invoke(void *arg, drpc__stream *s, drpc__invoke_info *info)
{
	tu_pair *p = arg;
	tu_job  *j = calloc(1, sizeof(*j));
	size_t   n = info->name_len < 255 ? info->name_len : 255;

	if (j == NULL) {
		abort();
	}
	j->p    = p;
	j->s    = s;
	j->info = *info;
	memcpy(j->name, info->name, n);
	drpc__mutex_lock(&p->mu);
	if (p->nthreads == TU_MAX_HANDLERS ||
	    drpc__thread_start(&p->threads[p->nthreads], "drpc-h",
		p->nthreads, 0, tu_handler_main, j) != DRPC_OK) {
		abort();
	}
	p->nthreads++;
	p->started++;
	drpc__cond_broadcast(&p->cv);
	drpc__mutex_unlock(&p->mu);
}

void
tu_server_opts(drpc__conn_opts *o, tu_pair *p)
{
	o->is_server = true;
	o->on_invoke = tu_on_invoke;
	o->arg       = p;
}

static void
tu_pair_open_fds(tu_pair *p, tu_handler h, void *arg,
    const drpc__conn_opts *cli, const drpc__conn_opts *srv, int sv[2])
{
	drpc__conn_opts co = {0};
	drpc__conn_opts so = {0};
	drpc_transport *tc;
	drpc_transport *ts;

	memset(p, 0, sizeof(*p));
	p->handler = h;
	p->arg     = arg;
	drpc__mutex_init(&p->mu);
	drpc__cond_init(&p->cv);
	if (cli != NULL) {
		co = *cli;
	}
	if (srv != NULL) {
		so = *srv;
	}
	co.is_server = false;
	tu_server_opts(&so, p);
	DRPC_CHECK_OK(drpc_transport_create_fd(&tc, sv[0]));
	DRPC_CHECK_OK(drpc_transport_create_fd(&ts, sv[1]));
	DRPC_CHECK_OK(drpc__conn_create(&p->cli, tc, &co));
	DRPC_CHECK_OK(drpc__conn_create(&p->srv, ts, &so));
}

void
tu_pair_open(tu_pair *p, tu_handler h, void *arg, const drpc__conn_opts *cli,
    const drpc__conn_opts *srv)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	tu_pair_open_fds(p, h, arg, cli, srv, sv);
}

void
tu_tcp_pair(int sv[2])
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t          len  = sizeof(addr);
	int                lfd  = socket(AF_INET, SOCK_STREAM, 0);
	int                one  = 1;

	ck_assert_int_ge(lfd, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *) &addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *) &addr, &len), 0);
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(sv[0], 0);
	ck_assert_int_eq(
	    connect(sv[0], (struct sockaddr *) &addr, sizeof(addr)), 0);
	sv[1] = accept(lfd, NULL, NULL);
	ck_assert_int_ge(sv[1], 0);
	close(lfd);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(setsockopt(sv[i], IPPROTO_TCP, TCP_NODELAY,
		    &one, sizeof(one)), 0);
	}
}

void
tu_pair_open_tcp(tu_pair *p, tu_handler h, void *arg,
    const drpc__conn_opts *cli, const drpc__conn_opts *srv)
{
	int sv[2];

	tu_tcp_pair(sv);
	tu_pair_open_fds(p, h, arg, cli, srv, sv);
}

void
tu_pair_wait_started(tu_pair *p, size_t n)
{
	int64_t deadline = drpc__now_ns() + tu_bound_ns(TU_WAIT_NS);

	drpc__mutex_lock(&p->mu);
	while (p->started < n) {
		if (drpc__cond_wait_until(&p->cv, &p->mu, deadline) ==
		    DRPC_ETIMEDOUT) {
			break;
		}
	}
	ck_assert_uint_ge(p->started, n);
	drpc__mutex_unlock(&p->mu);
}

void
tu_pair_close(tu_pair *p)
{
	drpc__conn_destroy(p->cli);
	drpc__conn_destroy(p->srv);
	for (size_t i = 0; i < p->nthreads; i++) {
		drpc__thread_join(p->threads[i]);
	}
	drpc__cond_fini(&p->cv);
	drpc__mutex_fini(&p->mu);
}

const drpc__conn_opts *
tu_plain(const drpc__conn_opts *o, drpc__conn_opts *out)
{
	*out = *o;
	if (out->flow == DRPC_FLOW_AUTO) {
		out->flow = DRPC_FLOW_OFF;
	}
	if (out->multiplex == DRPC_MULTIPLEX_AUTO) {
		out->multiplex = DRPC_MULTIPLEX_ON; // a raw peer never answers
	}
	return out;
}

void
tu_raw_open_as(tu_raw *r, const drpc__conn_opts *o)
{
	drpc__conn_opts m = *o;

	// A raw peer never answers as a libdrpc server would: an automatic
	// client would take it for a plain one and run one stream at a time.
	if (m.multiplex == DRPC_MULTIPLEX_AUTO) {
		m.multiplex = DRPC_MULTIPLEX_ON;
	}
	tu_raw_open_exact(r, &m);
}

void
tu_raw_open_exact(tu_raw *r, const drpc__conn_opts *o)
{
	drpc_transport *t;
	int             sv[2];

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	DRPC_CHECK_OK(drpc_transport_create_fd(&t, sv[0]));
	DRPC_CHECK_OK(drpc__conn_create(&r->conn, t, o));
	rp_init(&r->peer, sv[1]);
}

void
tu_raw_open(tu_raw *r, const drpc__conn_opts *o)
{
	drpc__conn_opts plain;

	tu_raw_open_as(r, tu_plain(o, &plain));
}

void
tu_raw_write(tu_raw *r, const void *bytes, size_t n)
{
	rp_write(&r->peer, bytes, n);
}

void
tu_raw_hex(tu_raw *r, const char *hex)
{
	rp_hex(&r->peer, hex);
}

drpc_err
tu_raw_next(tu_raw *r, drpc__frame *f)
{
	return rp_next(&r->peer, f);
}

void
tu_raw_close(tu_raw *r)
{
	drpc__conn_destroy(r->conn);
	rp_close(&r->peer);
}

drpc_err
tu_fd_read(int fd, void *buf, size_t cap, size_t *n, drpc_err fail)
{
	ssize_t got;

	do {
		got = read(fd, buf, cap);
	} while (got < 0 && errno == EINTR);
	if (got < 0) {
		return fail;
	}
	*n = (size_t) got;
	return DRPC_OK;
}

drpc_err
tu_fd_writev(int fd, const drpc_iovec *iov, size_t n, drpc_err fail)
{
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p    = iov[i].base;
		size_t         left = iov[i].len;

		while (left > 0) {
			ssize_t put = send(fd, p, left, MSG_NOSIGNAL);

			if (put < 0 && errno == EINTR) {
				continue;
			}
			if (put < 0) {
				return fail;
			}
			p += put;
			left -= (size_t) put;
		}
	}
	return DRPC_OK;
}

drpc_err
tu_echo_all(void *arg, drpc__stream *s, const char *name, const drpc__md *md)
{
	const uint8_t *data;
	size_t         len;
	drpc_err       rv;

	(void) arg;
	(void) name;
	(void) md;
	while ((rv = drpc__stream_recv(s, &data, &len)) == DRPC_OK) {
		drpc_err sent = drpc__stream_send(s, data, len);

		drpc__stream_recv_done(s);
		if (sent != DRPC_OK) {
			return sent;
		}
	}
	if (rv != DRPC_EOF) {
		return rv;
	}
	return drpc__stream_close_send(s);
}

void
tu_recv_is(drpc__stream *s, const char *want)
{
	const uint8_t *data;
	size_t         len;

	DRPC_CHECK_OK(drpc__stream_recv(s, &data, &len));
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_mem_eq(data, want, len);
	drpc__stream_recv_done(s);
}

drpc_err
tu_wait_conn_err(drpc__conn *c)
{
	return drpc__conn_wait(c, drpc__now_ns() + tu_bound_ns(TU_WAIT_NS));
}

drpc_err
tu_open(drpc__conn *c, drpc_ctx *ctx, const char *name, const void *msg,
    size_t len, bool close_send, drpc__stream **sp)
{
	drpc__stream_invoke inv = {
	    .name       = (const uint8_t *) name,
	    .name_len   = strlen(name),
	    .msg        = msg,
	    .msg_len    = len,
	    .close_send = close_send,
	};

	return drpc__conn_open(c, ctx, &inv, sp);
}

drpc_err
tu_open_timeout(drpc__conn *c, int64_t ms, drpc_ctx **ctx, const char *name,
    const void *msg, size_t len, bool close_send, drpc__stream **sp)
{
	drpc_err rv;

	for (;;) {
		DRPC_CHECK_OK(drpc_ctx_create_timeout(ctx, NULL, ms));
		rv = tu_open(c, *ctx, name, msg, len, close_send, sp);
		if (rv != DRPC_ETIMEDOUT ||
		    ms > tu_bound_ns(TU_WAIT_NS) / 1000000) {
			return rv;
		}
		drpc_ctx_destroy(*ctx);
		ms *= 2;
	}
}

drpc_err
tu_recv_internal(drpc__stream *s)
{
	const uint8_t *data;
	size_t         len;
	drpc_err       rv = drpc__stream_recv(s, &data, &len);

	if (rv == DRPC_OK) {
		drpc__stream_recv_done(s);
	}
	return rv;
}

drpc_err
tu_recv_public(drpc__stream *s)
{
	void    *data;
	size_t   len;
	drpc_err rv = drpc_stream_recv(s, &data, &len);

	if (rv == DRPC_OK) {
		drpc_free(data);
	}
	return rv;
}

static void *
tu_recv_main(void *arg)
{
	tu_recv_job *j = arg;

	(void) pthread_barrier_wait(j->bar);
	while ((j->rv = j->recv(j->s)) == DRPC_OK) {
		j->msgs++;
	}
	return NULL;
}

void
tu_recvs_start(tu_recv_group *g, drpc__stream **s, size_t n, tu_recv_fn recv)
{
	memset(g, 0, sizeof(*g));
	ck_assert_uint_le(n, TU_MAX_RECVS);
	g->n = n;
	ck_assert_int_eq(
	    pthread_barrier_init(&g->bar, NULL, (unsigned) n + 1), 0);
	for (size_t i = 0; i < n; i++) {
		g->jobs[i].s    = s[i];
		g->jobs[i].bar  = &g->bar;
		g->jobs[i].recv = recv;
		DRPC_CHECK_OK(drpc__thread_start(&g->jobs[i].t, "t-recv", i, 0,
		    tu_recv_main, &g->jobs[i]));
	}
	(void) pthread_barrier_wait(&g->bar);
}

void
tu_recvs_join(tu_recv_group *g, drpc_err want)
{
	for (size_t i = 0; i < g->n; i++) {
		drpc__thread_join(g->jobs[i].t);
	}
	ck_assert_int_eq(pthread_barrier_destroy(&g->bar), 0);
	for (size_t i = 0; i < g->n; i++) {
		ck_assert_msg(g->jobs[i].rv == want,
		    "stream %zu: recv ended with %s, want %s", i,
		    drpc_err_name(g->jobs[i].rv), drpc_err_name(want));
	}
}

void
tu_raw_send(tu_raw *r, uint8_t kind, bool control, uint64_t sid, uint64_t mid,
    const void *body, size_t len)
{
	rp_send(&r->peer, kind, control, sid, mid, body, len);
}

int64_t
tu_deadline(void)
{
	return drpc__now_ns() + TU_WAIT_NS * tu_scale();
}

void
tu_event_init(tu_event *e)
{
	tu_sync_init(&e->sync);
	e->n = 0;
}

void
tu_event_fini(tu_event *e)
{
	tu_sync_fini(&e->sync);
}

void
tu_event_post(tu_event *e)
{
	tu_sync_add(&e->sync, &e->n, 1);
}

bool
tu_event_wait(tu_event *e, int n)
{
	return tu_sync_wait(&e->sync, &e->n, (size_t) n, TU_WAIT_NS) >=
	       (size_t) n;
}
