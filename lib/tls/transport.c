// The TLS transport: one SSL over a non-blocking socket, shared by the
// connection's reader thread (read) and its writer (writev, the drain
// thread). OpenSSL's SSL is not safe for concurrent use, so every call on
// it is made under the transport's mutex, and nobody waits under it: an
// SSL call that would block (WANT_READ, WANT_WRITE) drops the lock and
// polls the socket, then calls again. So a reader waiting for input never
// holds up a write, and the reverse (docs/design.md, "TLS").
//
// Writes are coalesced into records: the pieces of a writev are copied
// into a record-sized staging buffer (16 KiB, TLS's largest record), and
// a piece of a record or more is written from its own memory, which
// OpenSSL cuts into full records. A write that blocks mid-record is
// retried with the same buffer and length, as OpenSSL requires.
//
// Flushing senders and direct senders (mux/writer.h) write too, without
// blocking (try_writev): a record the socket took only part of is
// reported written but for its last byte, which the writer's next write
// presents again first; that write finishes the record (tls_unpend).
//
// The socket is reached through a BIO of our own (bio.c): send with
// MSG_NOSIGNAL, so a peer that went away never raises SIGPIPE.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cause.h"
#include "platform/thread.h"
#include "transport/addr.h"
#include "transport/transport.h"

#include "tls/conn.h"


// tls_poll waits until the socket is ready for ev (or failed), until
// deadline (0: none). DRPC_ECLOSED once shut down.
static drpc_err
tls_poll(tls_impl *t, short ev, int64_t deadline, int max_ms)
{
	struct pollfd pf = {.fd = t->fd, .events = ev};

	for (;;) {
		int ms = max_ms;
		int rv;

		if (atomic_load(&t->shut)) {
			return DRPC_ECLOSED;
		}
		if (deadline != 0) {
			int64_t left = deadline - drpc__now_ns();

			if (left <= 0) {
				return DRPC_ETIMEDOUT;
			}
			left = (left + 999999) / 1000000;
			if (ms < 0 || left < ms) {
				ms = left > 60000 ? 60000 : (int) left;
			}
		}
		rv = poll(&pf, 1, ms);
		if (rv > 0 || (rv == 0 && max_ms >= 0)) {
			return DRPC_OK; // ready, failed, or hung up: SSL tells
		}
		if (rv < 0 && errno != EINTR) {
			return DRPC_EIO;
		}
	}
}

// tls_reason words a failed SSL call from OpenSSL's error queue (under
// mu). An empty queue on this thread means another thread met the cause
// (the reader, the peer's alert): its words, kept in fatal_why, say it.
static void
tls_reason(tls_impl *t, char *buf, size_t cap)
{
	if (ERR_peek_error() == 0 && t->fatal_why[0] != '\0') {
		snprintf(buf, cap, "%s", t->fatal_why);
		return;
	}
	if (ERR_peek_error() != 0) {
		drpc__tls_reason(t->ssl, buf, cap);
		if (t->fatal_why[0] == '\0') {
			snprintf(t->fatal_why, sizeof(t->fatal_why), "%s", buf);
		}
		return;
	}
	tls_reason(t, buf, cap);
}

// tls_words words a failed SSL call (err: SSL_get_error's; sys: the
// errno after it) into buf; called under mu, on the failing thread.
static void
tls_words(tls_impl *t, int err, int sys, char *buf, size_t cap)
{
	if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		char e[96];

		if (sys == 0 || t->eof) {
			snprintf(buf, cap, "the peer closed the connection");
		} else {
			snprintf(buf, cap, "%s",
			    drpc__errno_text(sys, e, sizeof(e)));
		}
		return;
	}
	drpc__tls_reason(t->ssl, buf, cap);
}

static drpc_err
tls_handshake(tls_impl *t, int64_t deadline, drpc_cause *why)
{
	char words[160];

	for (;;) {
		int      r;
		int      e;
		int      sys;
		drpc_err rv;

		drpc__mutex_lock(&t->mu);
		ERR_clear_error();
		errno = 0; // a BIO that met the end leaves it
		r   = SSL_do_handshake(t->ssl);
		sys = errno;
		e   = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_NONE) {
			t->hs = 1;
			drpc__cond_broadcast(&t->hs_cv);
		} else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			tls_words(t, e, sys, words, sizeof(words));
			t->hs    = -1;
			t->fatal = true;
			drpc__cond_broadcast(&t->hs_cv);
		}
		drpc__mutex_unlock(&t->mu);
		if (e == SSL_ERROR_NONE) {
			return DRPC_OK;
		}
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			if (atomic_load(&t->shut)) {
				return drpc__cause_set(why, DRPC_ECLOSED,
				    "tls handshake with %s: closed locally",
				    t->peer);
			}
			return drpc__cause_set(why, DRPC_EUNAVAIL,
			    "tls handshake with %s: %s", t->peer, words);
		}
		rv = tls_poll(t, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
		    deadline, -1);
		if (rv != DRPC_OK) {
			drpc__mutex_lock(&t->mu);
			t->hs = -1;
			drpc__cond_broadcast(&t->hs_cv);
			drpc__mutex_unlock(&t->mu);
			return drpc__cause_set(why, rv, "tls handshake with %s: %s",
			    t->peer,
			    rv == DRPC_ETIMEDOUT ? "timed out" : "closed locally");
		}
	}
}

static drpc_err
tls_read(void *impl, void *buf, size_t cap, size_t *n)
{
	tls_impl *t = impl;
	char      words[160];

	*n = 0;
	if (t->hs == 0) { // a server's first read; only this thread sets hs
		drpc_err rv = tls_handshake(t, 0, &t->rd_why);

		if (rv != DRPC_OK) {
			return rv;
		}
	} else if (t->hs < 0) {
		return DRPC_ECLOSED;
	}
	if (t->rd_empty) {
		// OpenSSL holds nothing more: wait for the socket first,
		// rather than make SSL_read find it empty (a recv for nothing).
		drpc_err rv = tls_poll(t, POLLIN, 0, -1);

		t->rd_empty = false;
		if (rv != DRPC_OK) {
			return rv;
		}
	}
	for (;;) {
		size_t   got = 0;
		int      r;
		int      e;
		int      sys;
		drpc_err rv;

		drpc__mutex_lock(&t->mu);
		ERR_clear_error();
		errno = 0; // a BIO that met the end leaves it
		r   = SSL_read_ex(t->ssl, buf, cap, &got);
		sys = errno;
		e   = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL) {
			tls_words(t, e, sys, words, sizeof(words));
			t->fatal = true;
		}
		t->rd_empty = e == SSL_ERROR_NONE && got < cap &&
		              SSL_has_pending(t->ssl) == 0;
		drpc__mutex_unlock(&t->mu);
		switch (e) {
		case SSL_ERROR_NONE:
			*n = got;
			return DRPC_OK;
		case SSL_ERROR_ZERO_RETURN:
			return DRPC_OK; // close_notify, or the socket's end
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			rv = tls_poll(t, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
			    0, -1);
			if (rv != DRPC_OK) {
				return rv;
			}
			continue;
		default:
			break;
		}
		if (atomic_load(&t->shut)) {
			return DRPC_ECLOSED;
		}
		if (e == SSL_ERROR_SYSCALL && sys == 0) {
			return DRPC_OK; // the end of input
		}
		rv = e == SSL_ERROR_SYSCALL && (sys == ECONNRESET || sys == EPIPE)
		         ? DRPC_ECLOSED
		         : DRPC_EIO;
		return drpc__cause_set(&t->rd_why, rv, "tls read from %s: %s",
		    t->peer, words);
	}
}

// tls_alert_words replaces the words of a write the peer cut off (a
// broken pipe, a reset) by the alert it sent before, if one is waiting in
// the socket: a server that refused a client's certificate does so after
// a TLS 1.3 client's handshake, and the client's first write meets the
// closed socket before its reader meets the alert. The peek leaves any
// application data for the reader. Under mu.
static void
tls_alert_words(tls_impl *t, int e, char *buf, size_t cap)
{
	uint8_t b;
	size_t  n;

	if (e != SSL_ERROR_SYSCALL) {
		return;
	}
	ERR_clear_error();
	if (SSL_peek_ex(t->ssl, &b, 1, &n) != 1 &&
	    SSL_get_error(t->ssl, 0) == SSL_ERROR_SSL) {
		tls_reason(t, buf, cap);
	}
	ERR_clear_error();
}

// tls_write_once makes one non-blocking SSL_write_ex of len bytes at p
// (the same p and len again after a WANT_WRITE, as OpenSSL requires) and
// returns SSL_get_error's answer; a failure's cause is in wr_why.
static int
tls_write_once(tls_impl *t, const uint8_t *p, size_t len)
{
	char   words[160];
	size_t put = 0;
	int    r;
	int    e;
	int    sys;

	drpc__mutex_lock(&t->mu);
	t->wbusy = true;
	ERR_clear_error();
	errno = 0; // a BIO that met the end leaves it
	r   = SSL_write_ex(t->ssl, p, len, &put);
	sys = errno;
	e   = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
		t->wbusy = false;
		if (e != SSL_ERROR_NONE) {
			tls_words(t, e, sys, words, sizeof(words));
			tls_alert_words(t, e, words, sizeof(words));
			t->fatal = true;
		}
	}
	drpc__mutex_unlock(&t->mu);
	if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ &&
	    e != SSL_ERROR_WANT_WRITE) {
		(void) drpc__cause_set(&t->wr_why,
		    e == SSL_ERROR_SYSCALL ? DRPC_ECLOSED : DRPC_EIO,
		    "tls write to %s: %s", t->peer, words);
	}
	return e;
}

// tls_write_fail is the code of a failed write (e: tls_write_once's).
static drpc_err
tls_write_fail(tls_impl *t, int e)
{
	if (atomic_load(&t->shut)) {
		return DRPC_ECLOSED;
	}
	return e == SSL_ERROR_SYSCALL ? DRPC_ECLOSED : DRPC_EIO;
}

// tls_write_all writes len bytes at p as records, whatever it takes.
static drpc_err
tls_write_all(tls_impl *t, const uint8_t *p, size_t len)
{
	for (;;) {
		int      e = tls_write_once(t, p, len);
		drpc_err rv;

		switch (e) {
		case SSL_ERROR_NONE:
			return DRPC_OK; // all of it: no partial writes
		case SSL_ERROR_WANT_WRITE:
			rv = tls_poll(t, POLLOUT, 0, -1);
			break;
		case SSL_ERROR_WANT_READ:
			rv = tls_poll(t, POLLIN, 0, TLS_READ_RETRY_MS);
			break;
		default:
			return tls_write_fail(t, e);
		}
		if (rv != DRPC_OK) {
			return rv;
		}
	}
}

// tls_hs_wait waits until the handshake ended (a server's reader does
// it), shutdown, or until (0: no bound); the handshake's state.
static int
tls_hs_wait(tls_impl *t, int64_t until)
{
	int hs;

	drpc__mutex_lock(&t->mu);
	while (t->hs == 0 && !atomic_load(&t->shut) &&
	    drpc__cond_wait_until(&t->hs_cv, &t->mu, until) == DRPC_OK) {
	}
	hs = t->hs;
	drpc__mutex_unlock(&t->mu);
	return hs;
}

// An iovec cursor.
typedef struct tls_cur {
	const drpc_iovec *iov;
	size_t            n;
	size_t            i;   // the piece
	size_t            off; // in it
} tls_cur;

// tls_cur_skip steps over the pieces c has used up (and empty ones).
static void
tls_cur_skip(tls_cur *c)
{
	while (c->i < c->n && c->off == c->iov[c->i].len) {
		c->i++;
		c->off = 0;
	}
}

// tls_cur_take copies up to cap bytes from c into dst; the count.
static size_t
tls_cur_take(tls_cur *c, uint8_t *dst, size_t cap)
{
	size_t k = 0;

	tls_cur_skip(c);
	while (k < cap && c->i < c->n) {
		size_t left = c->iov[c->i].len - c->off;
		size_t m    = left < cap - k ? left : cap - k;

		memcpy(dst + k, (const uint8_t *) c->iov[c->i].base + c->off, m);
		k      += m;
		c->off += m;
		tls_cur_skip(c);
	}
	return k;
}

// tls_out sends what obuf gathered, blocking unless try: DRPC_OK with
// *done false if try and the socket is full. Called by the writer.
static drpc_err
tls_out(tls_impl *t, bool try, bool *done)
{
	for (;;) {
		int      r;
		int      sys;
		drpc_err rv;
		char     why[sizeof(t->fatal_why)];

		why[0] = '\0';
		drpc__mutex_lock(&t->mu);
		r   = drpc__tls_oflush(t);
		sys = errno;
		if (r < 0) {
			t->fatal = true;
			memcpy(why, t->fatal_why, sizeof(why));
		}
		drpc__mutex_unlock(&t->mu);
		*done = r == 0;
		if (r == 0 || (r > 0 && try)) {
			return DRPC_OK;
		}
		if (r < 0) {
			char e[96];

			if (atomic_load(&t->shut)) {
				return DRPC_ECLOSED;
			}
			rv = sys == EPIPE || sys == ECONNRESET ? DRPC_ECLOSED
							       : DRPC_EIO;
			// The reader's reason (the peer's alert) over errno's.
			return drpc__cause_set(&t->wr_why, rv,
			    "tls write to %s: %s", t->peer,
			    why[0] != '\0' ? why
					    : drpc__errno_text(sys, e, sizeof(e)));
		}
		if ((rv = tls_poll(t, POLLOUT, 0, -1)) != DRPC_OK) {
			return rv;
		}
	}
}

// tls_unpend sends what a try_writev left in obuf (pend), blocking
// unless try, then takes the held byte off c: the writer's next write
// always starts where its last one stopped (docs/design.md §12). *done:
// whether all is out (else: try, and it would block).
static drpc_err
tls_unpend(tls_impl *t, tls_cur *c, bool try, bool *done)
{
	uint8_t  first;
	drpc_err rv;

	if ((rv = tls_out(t, try, done)) != DRPC_OK || !*done) {
		return rv;
	}
	drpc__mutex_lock(&t->mu);
	t->pend = false;
	drpc__mutex_unlock(&t->mu);
	if (tls_cur_take(c, &first, 1) != 1 || first != t->held) {
		return drpc__cause_set(&t->wr_why, DRPC_EINTERNAL,
		    "tls write to %s: a write did not start where the last "
		    "one stopped", t->peer);
	}
	return DRPC_OK;
}

static drpc_err
tls_writev(void *impl, const drpc_iovec *iov, size_t n)
{
	tls_impl *t  = impl;
	tls_cur   c  = {iov, n, 0, 0};
	drpc_err  rv = DRPC_OK;
	bool      done;

	// A server writes once its reader has handshaken (it answers what
	// it read, but a ping or a GOAWAY may come first).
	if (tls_hs_wait(t, 0) != 1) {
		return DRPC_ECLOSED;
	}
	if (t->pend && (rv = tls_unpend(t, &c, false, &done)) != DRPC_OK) {
		return rv;
	}
	tls_cur_skip(&c);
	while (c.i < c.n && rv == DRPC_OK) {
		const drpc_iovec *v = &c.iov[c.i];
		size_t            k;

		if (v->len - c.off >= TLS_RECORD) {
			// A record or more: from its own memory (the caller's
			// stays put until this returns).
			rv = tls_write_all(t, (const uint8_t *) v->base + c.off,
			    v->len - c.off);
			c.off = v->len;
		} else {
			// Smaller pieces fill a record (the rest of a large
			// one that follows, the next).
			k  = tls_cur_take(&c, t->stage, TLS_RECORD);
			rv = tls_write_all(t, t->stage, k);
		}
		tls_cur_skip(&c);
	}
	return rv == DRPC_OK ? tls_out(t, false, &done) : rv;
}

// tls_try_record encrypts len bytes at p into obuf, under one lock with
// the sends that make room before (false if the socket is too full) and,
// when last, the send of all obuf holds after. *bad: the socket failed
// (tls_out words it); 0 if not.
static bool
tls_try_record(tls_impl *t, const uint8_t *p, size_t len, bool last, int *bad)
{
	char   words[160];
	size_t put = 0;
	int    r   = 0;
	int    e;
	int    sys;

	*bad = 0;
	drpc__mutex_lock(&t->mu);
	if (t->olen + TLS_RECORD_MAX > TLS_OBUF) {
		r = drpc__tls_oflush(t);
	}
	if (r < 0 || t->olen + TLS_RECORD_MAX > TLS_OBUF) {
		*bad = r < 0 ? -1 : 0;
		drpc__mutex_unlock(&t->mu);
		return false;
	}
	ERR_clear_error();
	errno = 0;
	r   = SSL_write_ex(t->ssl, p, len, &put);
	sys = errno;
	e   = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_NONE && last) {
		(void) drpc__tls_oflush(t); // tls_out tells a failure
	} else if (e != SSL_ERROR_NONE) {
		// Room was made, so SSL_write only appends: it never should.
		tls_words(t, e, sys, words, sizeof(words));
		t->fatal = true;
		*bad     = 1;
	}
	drpc__mutex_unlock(&t->mu);
	if (*bad > 0) {
		(void) drpc__cause_set(&t->wr_why, DRPC_EIO,
		    "tls write to %s: %s", t->peer, words);
	}
	return e == SSL_ERROR_NONE;
}

// tls_try_writev writes what the socket takes now. A record is made only
// while obuf has room for its ciphertext, so SSL_write never has to be
// retried (and a large piece is encrypted from the caller's memory, which
// is the caller's again once this returns); small pieces fill a record in
// the staging buffer. What obuf holds at the end, unsent, is reported
// written but for the last byte taken, which the writer presents again
// first (held): whoever writes next sends the rest, and nothing waits for
// a thread that left.
static drpc_err
tls_try_writev(void *impl, const drpc_iovec *iov, size_t n, size_t *put)
{
	tls_impl *t = impl;
	tls_cur   c = {iov, n, 0, 0};
	bool      done;
	drpc_err  rv;
	int       hs;
	uint8_t   last = 0;

	*put = 0;
	drpc__mutex_lock(&t->mu);
	hs = t->hs;
	drpc__mutex_unlock(&t->mu);
	if (hs != 1) {
		return DRPC_OK; // not yet: the drain thread's writev waits
	}
	if (t->pend) {
		if ((rv = tls_unpend(t, &c, true, &done)) != DRPC_OK ||
		    !done) {
			return rv;
		}
		*put = 1;
		last = t->held;
	}
	for (tls_cur_skip(&c); c.i < c.n; tls_cur_skip(&c)) {
		const drpc_iovec *v = &c.iov[c.i];
		tls_cur           at = c;
		const uint8_t    *p;
		size_t            k;
		int               bad;

		if (v->len - c.off >= TLS_RECORD) {
			p     = (const uint8_t *) v->base + c.off;
			k     = TLS_RECORD;
			c.off += k;
		} else {
			p = t->stage;
			k = tls_cur_take(&c, t->stage, TLS_RECORD);
		}
		tls_cur_skip(&c);
		if (!tls_try_record(t, p, k, c.i == c.n, &bad)) {
			if (bad < 0) {
				return tls_out(t, true, &done); // words it
			}
			if (bad > 0) {
				return DRPC_EIO;
			}
			c = at; // the socket is full: not taken
			break;
		}
		*put += k;
		last  = p[k - 1];
	}
	if ((rv = tls_out(t, true, &done)) != DRPC_OK || done || *put == 0) {
		return rv;
	}
	drpc__mutex_lock(&t->mu);
	t->pend = true;
	t->held = last;
	drpc__mutex_unlock(&t->mu);
	*put -= 1;
	return DRPC_OK;
}

static drpc_err
tls_wait_writable(void *impl, int64_t until)
{
	tls_impl *t = impl;

	if (tls_hs_wait(t, until) == 0) {
		return DRPC_ETIMEDOUT;
	}
	return tls_poll(t, POLLOUT, until, -1) == DRPC_ETIMEDOUT
	           ? DRPC_ETIMEDOUT
	           : DRPC_OK; // ready, or failed: the next write tells
}

static void
tls_shutdown(void *impl)
{
	tls_impl *t = impl;

	atomic_store(&t->shut, true);
	drpc__mutex_lock(&t->mu);
	if (t->hs == 1 && !t->fatal && !t->wbusy && !t->pend && !t->closed) {
		// close_notify, if the socket takes it now: best effort.
		ERR_clear_error();
		(void) SSL_shutdown(t->ssl);
		ERR_clear_error();
		t->closed = true;
	}
	drpc__cond_broadcast(&t->hs_cv);
	drpc__mutex_unlock(&t->mu);
	(void) shutdown(t->fd, SHUT_RDWR);
}

static void
tls_free(tls_impl *t)
{
	SSL_free(t->ssl);
	drpc_tls_config_destroy(t->cfg);
	drpc__cond_fini(&t->hs_cv);
	drpc__mutex_fini(&t->mu);
	free(t->obuf);
	free(t);
}

static void
tls_close(void *impl)
{
	tls_impl *t = impl;

	close(t->fd);
	tls_free(t);
}

void
drpc__transport_release_tls(drpc_transport *tr)
{
	tls_impl *t;

	if (tr == NULL) {
		return;
	}
	t = tr->impl;
	(void) fcntl(t->fd, F_SETFL, t->fd_flags);
	tls_free(t);
	free(tr);
}

static bool
tls_why(void *impl, bool read, drpc_cause *out)
{
	tls_impl   *t = impl;
	drpc_cause *w = read ? &t->rd_why : &t->wr_why;

	if (w->text[0] == '\0') {
		return false;
	}
	*out = *w;
	return true;
}

// tls_migrate is a server's migrate hook (transport.h): drpcmigrate's
// header, off the socket before the ClientHello (migrate.c); what was not
// the header is OpenSSL's first input (tls_bio_read). On the reader
// thread, before the handshake it makes: pre is its own until then.
static drpc_err
tls_migrate(void *impl, bool required, drpc_cause *out)
{
	tls_impl *t = impl;

	return drpc__tls_migrate(
	    t->fd, &t->shut, t->peer, required, t->pre, &t->npre, out);
}

// Peer identity (the transport's peer hook; the fields: peer.c).

static drpc_err
tls_peer(void *impl, drpc_peer *out)
{
	tls_impl *t = impl;
	X509     *x;
	long      v;
	bool      verify;
	drpc_err  rv;

	if (drpc__peer_addr(t->fd, out->addr, sizeof(out->addr)) != DRPC_OK) {
		out->addr[0] = '\0';
	}
	out->tls = true;
	drpc__mutex_lock(&t->mu);
	x      = t->hs == 1 ? SSL_get1_peer_certificate(t->ssl) : NULL;
	v      = SSL_get_verify_result(t->ssl);
	verify = (SSL_get_verify_mode(t->ssl) & SSL_VERIFY_PEER) != 0;
	drpc__mutex_unlock(&t->mu);
	if (x == NULL) {
		return DRPC_OK;
	}
	rv = drpc__tls_peer_cert(x, out);
	X509_free(x);
	if (rv != DRPC_OK) {
		return rv;
	}
	out->verified = verify && v == X509_V_OK;
	return DRPC_OK;
}

// Creation.

// tls_name sets the client's SNI and the name it verifies.
static drpc_err
tls_name(tls_impl *t, const char *name, bool verify, drpc_cause *why)
{
	unsigned char ip[16];
	bool          is_ip = inet_pton(AF_INET, name, ip) == 1 ||
	    inet_pton(AF_INET6, name, ip) == 1;

	if (is_ip) {
		if (verify && X509_VERIFY_PARAM_set1_ip_asc(
				  SSL_get0_param(t->ssl), name) != 1) {
			return drpc__cause_set(why, DRPC_EINVAL,
			    "tls: bad server address \"%.64s\"", name);
		}
		return DRPC_OK;
	}
	if (SSL_set_tlsext_host_name(t->ssl, name) != 1 ||
	    (verify && SSL_set1_host(t->ssl, name) != 1)) {
		return drpc__cause_set(why, DRPC_EINVAL,
		    "tls: bad server name \"%.64s\"", name);
	}
	return DRPC_OK;
}

drpc_err
drpc_transport_create_tls(drpc_transport **tp, int fd,
    const drpc_tls_config *cc, const char *server_name,
    int64_t handshake_deadline_ns, drpc_cause *why)
{
	static const drpc_transport_ops ops = {
	    tls_read, tls_writev, tls_shutdown, tls_close};
	drpc_tls_config *c = (drpc_tls_config *) (uintptr_t) cc;
	tls_impl        *t;
	BIO             *b;
	int              flags;
	drpc_err         rv;

	drpc_cause_clear(why);
	if (tp == NULL || fd < 0 || c == NULL) {
		return drpc__cause_set(why, DRPC_EINVAL, "tls: no %s",
		    tp == NULL ? "transport pointer"
		    : fd < 0   ? "socket"
			       : "config");
	}
	if ((rv = drpc__tls_config_ready(c, why)) != DRPC_OK) {
		return rv;
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0) {
		return drpc__cause_errno(why, DRPC_EINVAL, errno, "tls: fcntl");
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		return drpc__cause_set(why, DRPC_ENOMEM, "tls: out of memory");
	}
	if ((t->obuf = malloc(TLS_OBUF)) == NULL) {
		free(t);
		return drpc__cause_set(why, DRPC_ENOMEM, "tls: out of memory");
	}
	t->fd       = fd;
	t->fd_flags = flags;
	t->server   = c->role == DRPC_TLS_SERVER;
	atomic_init(&t->shut, false);
	drpc__mutex_init(&t->mu);
	drpc__cond_init(&t->hs_cv);
	if (drpc__peer_addr(fd, t->peer, sizeof(t->peer)) != DRPC_OK) {
		snprintf(t->peer, sizeof(t->peer), "the peer");
	}
	ERR_clear_error();
	if ((t->ssl = SSL_new(c->ctx)) == NULL ||
	    (b = BIO_new(c->bio_method)) == NULL) {
		char r[160];

		drpc__tls_reason(NULL, r, sizeof(r));
		tls_free(t);
		return drpc__cause_set(why, DRPC_ENOMEM, "tls: SSL_new: %s", r);
	}
	BIO_set_data(b, t);
	BIO_set_init(b, 1);
	SSL_set_bio(t->ssl, b, b);
	if (t->server) {
		SSL_set_accept_state(t->ssl);
	} else {
		const char *name = server_name != NULL ? server_name
							: c->server_name;

		SSL_set_connect_state(t->ssl);
		if (!c->verify) {
			SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
		}
		if (name != NULL && name[0] != '\0' &&
		    (rv = tls_name(t, name, c->verify, why)) != DRPC_OK) {
			tls_free(t);
			return rv;
		}
	}
	if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rv = drpc__cause_errno(why, DRPC_EINVAL, errno, "tls: fcntl");
		tls_free(t);
		return rv;
	}
	if (!t->server &&
	    (rv = tls_handshake(t, handshake_deadline_ns, why)) != DRPC_OK) {
		(void) fcntl(fd, F_SETFL, flags); // the fd stays the caller's
		tls_free(t);
		return rv;
	}
	if ((rv = drpc_transport_create(tp, &ops, t)) != DRPC_OK) {
		(void) fcntl(fd, F_SETFL, flags);
		tls_free(t);
		return drpc__cause_set(why, rv, "tls: %s", drpc_strerror(rv));
	}
	t->cfg                = drpc__tls_config_ref(c);
	(*tp)->peer           = tls_peer;
	(*tp)->why            = tls_why;
	(*tp)->try_writev     = tls_try_writev;
	(*tp)->wait_writable  = tls_wait_writable;
	(*tp)->migrate        = t->server ? tls_migrate : NULL;
	return DRPC_OK;
}
