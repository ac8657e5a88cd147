// Channels (include/drpc/channel.h): creation, the backend list kept in
// step with what the target resolves to, and destruction.
//
// Destruction, in this order, so that every call in flight ends with
// DRPC_ECANCELED and nothing is freed under a thread still using it:
//   1. closing is set (new opens and waiting calls leave with Canceled)
//      and every connection is held (users) so none is freed meanwhile;
//      a dial in progress is abandoned (cancel_fd becomes readable);
//   2. every stream of every connection is cancelled (a Cancel goes to
//      the server; blocked receives return Canceled), then cancelled is
//      set and the holds are dropped;
//   3. each backend's thread, seeing both, closes its connections (an
//      open racing with this fails, and reports Canceled), waits for
//      their users to leave, destroys them and exits; destroy joins them;
//   4. destroy drops the channel's own place in opens, waits until no
//      thread is inside an open (left), and frees.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel/channel_impl.h"
#include "client/client.h"
#include "common/cause.h"
#include "conn/conn.h"
#include "platform/thread.h"
#include "tls/tls.h"

void
chan_set_last_locked(drpc_channel *ch, const drpc_cause *why)
{
	ch->last = *why;
	if (ch->last.code == DRPC_OK) {
		ch->last.code = DRPC_EUNAVAIL;
	}
}

bool
chan_wanted_locked(const drpc_channel *ch, const chan_backend *b)
{
	return ch->wanted && !ch->closing && !b->removed &&
	    (ch->opts.lb == DRPC_LB_ROUND_ROBIN || ch->chosen == b);
}

void
chan_start_locked(drpc_channel *ch)
{
	ch->wanted = true;
	for (chan_backend *b = ch->backends; b != NULL; b = b->next) {
		drpc__cond_broadcast(&b->cv);
	}
}

// chan_find_locked is the live backend for addr, or NULL.
static chan_backend *
chan_find_locked(drpc_channel *ch, const char *addr)
{
	for (chan_backend *b = ch->backends; b != NULL; b = b->next) {
		if (!b->exited && strcmp(b->addr, addr) == 0) {
			return b;
		}
	}
	return NULL;
}

static bool
list_has(const drpc__addr_list *l, const char *addr)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->addr[i], addr) == 0) {
			return true;
		}
	}
	return false;
}

// chan_sync_locked makes the backend list match l: vanished addresses
// are removed, new ones appended (in resolution order, which pick-first
// follows), and backends whose thread exited are unlinked into *dead.
static void
chan_sync_locked(drpc_channel *ch, const drpc__addr_list *l,
    const uint16_t *origin, chan_backend **dead)
{
	chan_backend **pp = &ch->backends;

	while (*pp != NULL) {
		chan_backend *b = *pp;

		if (b->exited) {
			*pp     = b->next;
			b->next = *dead;
			*dead   = b;
			ch->nbackends--;
			continue;
		}
		if (b->removed != !list_has(l, b->addr)) {
			b->removed = !b->removed;
			drpc__cond_broadcast(&b->cv);
		}
		pp = &b->next;
	}
	for (size_t i = 0; i < l->n; i++) {
		chan_backend *b;

		if (chan_find_locked(ch, l->addr[i]) != NULL) {
			continue;
		}
		char host[256] = "";

		(void) drpc__addr_host(
		    ch->targets[origin[i]], host, sizeof(host));
		if (chan_backend_new(ch, l->addr[i], host, &b) != DRPC_OK) {
			continue; // the next refresh tries again
		}
		*pp = b;
		pp  = &b->next;
		ch->nbackends++;
	}
	if (ch->chosen == NULL || ch->chosen->removed || ch->chosen->exited) {
		ch->chosen = NULL;
		for (chan_backend *b = ch->backends; b != NULL; b = b->next) {
			if (!b->removed) {
				ch->chosen = b;
				drpc__cond_broadcast(&b->cv);
				break;
			}
		}
	}
}

void
chan_refresh(drpc_channel *ch)
{
	drpc__addr_list *l = calloc(1, sizeof(*l));
	chan_backend    *dead = NULL;
	drpc_cause       why;
	uint16_t         origin[DRPC__RESOLVE_MAX]; // each address's target

	if (l == NULL) {
		return; // the next refresh tries again
	}
	for (size_t i = 0; i < ch->ntargets; i++) {
		size_t n0 = l->n;

		if (drpc__resolve(ch->targets[i], l, ch->opts.max_backends,
			&why) != DRPC_OK) {
			// Kept as it is: dialing it fails for the same cause
			// (and resolves it again) until the name is back.
			if (l->n < ch->opts.max_backends &&
			    !list_has(l, ch->targets[i])) {
				(void) snprintf(l->addr[l->n++], DRPC__ADDR_MAX,
				    "%s", ch->targets[i]);
			}
			drpc__mutex_lock(&ch->mu);
			chan_set_last_locked(ch, &why);
			drpc__mutex_unlock(&ch->mu);
		}
		for (size_t k = n0; k < l->n; k++) {
			origin[k] = (uint16_t) i; // what it was resolved from
		}
	}
	drpc__mutex_lock(&ch->mu);
	if (!ch->closing) {
		chan_sync_locked(ch, l, origin, &dead);
	}
	drpc__mutex_unlock(&ch->mu);
	free(l);
	while (dead != NULL) {
		chan_backend *next = dead->next;

		drpc__thread_join(dead->t);
		drpc__cond_fini(&dead->cv);
		free(dead);
		dead = next;
	}
}

// chan_opts fills the defaults in and checks the options.
static drpc_err
chan_opts(drpc_channel_opts *o, drpc_cause *cause)
{
	if ((unsigned) o->lb > DRPC_LB_ROUND_ROBIN) {
		return drpc__cause_set(cause, DRPC_EINVAL,
		    "channel: unknown load-balancing policy %d", (int) o->lb);
	}
	if (o->backoff_initial_ms < 0 || o->backoff_max_ms < 0 ||
	    (o->backoff_multiplier != 0 && o->backoff_multiplier < 1) ||
	    o->backoff_jitter > 1) {
		return drpc__cause_set(cause, DRPC_EINVAL,
		    "channel: backoff out of range (initial and max >= 0 ms, "
		    "multiplier >= 1, jitter <= 1)");
	}
	if (o->backoff_initial_ms == 0) {
		o->backoff_initial_ms = CHAN_DEFAULT_BACKOFF_INITIAL_MS;
	}
	if (o->backoff_multiplier == 0) {
		o->backoff_multiplier = CHAN_DEFAULT_BACKOFF_MULT;
	}
	if (o->backoff_max_ms == 0) {
		o->backoff_max_ms = CHAN_DEFAULT_BACKOFF_MAX_MS;
	}
	if (o->backoff_max_ms < o->backoff_initial_ms) {
		o->backoff_max_ms = o->backoff_initial_ms;
	}
	if (o->backoff_jitter == 0) {
		o->backoff_jitter = CHAN_DEFAULT_JITTER;
	}
	if (o->ping_interval_ms == 0) {
		o->ping_interval_ms = CHAN_DEFAULT_PING_INTERVAL_MS;
	}
	if (o->ping_timeout_ms <= 0) {
		o->ping_timeout_ms = CHAN_DEFAULT_PING_TIMEOUT_MS;
	}
	if (o->max_backends == 0) {
		o->max_backends = CHAN_DEFAULT_MAX_BACKENDS;
	}
	if (o->max_backends > DRPC__RESOLVE_MAX) {
		o->max_backends = DRPC__RESOLVE_MAX;
	}
	return DRPC_OK;
}

// chan_targets splits target at commas into ch->targets, each checked.
static drpc_err
chan_targets(drpc_channel *ch, const char *target, drpc_cause *cause)
{
	const char *p = target;
	size_t      n = 1;
	drpc_err    rv;

	for (const char *q = target; *q != '\0'; q++) {
		n += *q == ',';
	}
	if ((ch->targets = calloc(n, sizeof(char *))) == NULL) {
		return drpc__cause_set(cause, DRPC_ENOMEM, "out of memory");
	}
	for (;;) {
		const char *end = strchr(p, ',');
		size_t      len = end != NULL ? (size_t) (end - p) : strlen(p);
		char       *t;

		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
			len--;
		}
		if ((t = malloc(len + 1)) == NULL) {
			return drpc__cause_set(cause, DRPC_ENOMEM, "out of memory");
		}
		memcpy(t, p, len);
		t[len]                     = '\0';
		ch->targets[ch->ntargets++] = t;
		if ((rv = drpc__addr_check(t, cause)) != DRPC_OK) {
			return rv;
		}
		if (end == NULL) {
			break;
		}
		p = end + 1;
	}
	return DRPC_OK;
}

static void
chan_free(drpc_channel *ch)
{
	drpc_tls_config_destroy((drpc_tls_config *) ch->copts.tls);
	for (size_t i = 0; i < ch->ntargets; i++) {
		free(ch->targets[i]);
	}
	free(ch->targets);
	if (ch->view != NULL) {
		drpc__client_view_free(ch->view);
	}
	if (ch->cancel_fd[0] >= 0) {
		close(ch->cancel_fd[0]);
		close(ch->cancel_fd[1]);
	}
	drpc__cond_fini(&ch->ready_cv);
	drpc__cond_fini(&ch->done_cv);
	drpc__mutex_fini(&ch->mu);
	free(ch);
}

drpc_err
drpc_channel_create(drpc_channel **chp, const char *target,
    const drpc_channel_opts *opts, drpc_cause *cause)
{
	drpc_channel *ch;
	drpc_err      rv;

	drpc_cause_clear(cause);
	if (chp == NULL || target == NULL) {
		return drpc__cause_set(cause, DRPC_EINVAL, "channel: no %s",
		    chp == NULL ? "channel pointer" : "target");
	}
	if ((opts == NULL || opts->conn.tls == NULL) &&
	    strstr(target, "tls://") != NULL) {
		return drpc__cause_set(cause, DRPC_EINVAL,
		    "channel: a tls:// target needs opts.conn.tls");
	}
	if ((ch = calloc(1, sizeof(*ch))) == NULL) {
		return drpc__cause_set(cause, DRPC_ENOMEM, "out of memory");
	}
	ch->cancel_fd[0] = ch->cancel_fd[1] = -1;
	atomic_init(&ch->opens, 1); // the channel's own (destroy drops it)
	drpc__mutex_init(&ch->mu);
	drpc__cond_init(&ch->ready_cv);
	drpc__cond_init(&ch->done_cv);
	if (opts != NULL) {
		ch->opts = *opts;
	}
	if ((rv = chan_opts(&ch->opts, cause)) != DRPC_OK ||
	    (rv = chan_targets(ch, target, cause)) != DRPC_OK) {
		chan_free(ch);
		return rv;
	}
	// The connections ping as the channel says; its backend threads run
	// their keepalive (drpc__client_hooks.keepalive: no keeper threads).
	ch->copts = ch->opts.conn;
	// Its own reference: the caller may destroy its handle at once.
	ch->copts.tls = drpc__tls_config_ref(ch->opts.conn.tls);
	ch->opts.conn.tls = ch->copts.tls;
	ch->copts.ping_interval_ms =
	    ch->opts.ping_interval_ms > 0 ? ch->opts.ping_interval_ms : 0;
	ch->copts.ping_timeout_ms = ch->opts.ping_timeout_ms;
	if (ch->opts.conn.conn_hooks != NULL) { // every backend's (conninfo.h)
		ch->conn_hooks       = *ch->opts.conn.conn_hooks;
		ch->copts.conn_hooks = &ch->conn_hooks;
	}
	ch->opts.conn.conn_hooks = NULL; // the caller's, maybe gone
	if (ch->opts.ping_interval_ms > 0) {
		ch->ping_interval_ns = ch->opts.ping_interval_ms * 1000000;
		ch->ping_timeout_ns  = ch->opts.ping_timeout_ms * 1000000;
	}
	ch->rng = (uint64_t) drpc__now_ns() ^ (uint64_t) (uintptr_t) ch;
	if (pipe(ch->cancel_fd) != 0) {
		ch->cancel_fd[0] = ch->cancel_fd[1] = -1;
		rv = drpc__cause_errno(
		    cause, DRPC_ERESOURCE, errno, "channel: no pipe");
		chan_free(ch);
		return rv;
	}
	(void) fcntl(ch->cancel_fd[0], F_SETFD, FD_CLOEXEC);
	(void) fcntl(ch->cancel_fd[1], F_SETFD, FD_CLOEXEC);
	if ((rv = drpc__client_view(&ch->view, ch, &ch->copts)) != DRPC_OK) {
		chan_free(ch);
		return drpc__cause_set(cause, rv, "channel: %s",
		    rv == DRPC_EINVAL ? "bad opts.conn.interceptors"
				      : drpc_strerror(rv));
	}
	// The handle runs the interceptors and stats, once per call; the
	// backends' calls do not (and the caller's arrays may go now).
	ch->copts.interceptors  = NULL;
	ch->copts.ninterceptors = 0;
	ch->copts.stats         = NULL;
	ch->opts.conn.interceptors  = NULL;
	ch->opts.conn.ninterceptors = 0;
	ch->opts.conn.stats         = NULL;
	chan_refresh(ch);
	if (ch->opts.eager) {
		drpc__mutex_lock(&ch->mu);
		chan_start_locked(ch);
		drpc__mutex_unlock(&ch->mu);
	}
	*chp = ch;
	return DRPC_OK;
}

drpc_conn *
drpc_channel_conn(drpc_channel *ch)
{
	return ch != NULL ? ch->view : NULL;
}

drpc_err
drpc_channel_cause(drpc_channel *ch, drpc_cause *cause)
{
	drpc_err rv;

	drpc_cause_clear(cause);
	if (ch == NULL) {
		return drpc__cause_set(cause, DRPC_EINVAL, "no channel");
	}
	drpc__mutex_lock(&ch->mu);
	rv = ch->last.code;
	if (cause != NULL) {
		*cause = ch->last;
	}
	drpc__mutex_unlock(&ch->mu);
	return rv;
}

void
drpc__channel_set_hooks(drpc_channel *ch, const drpc__channel_hooks *h)
{
	drpc__mutex_lock(&ch->mu);
	ch->hooks = *h;
	drpc__mutex_unlock(&ch->mu);
}

// chan_hold_all_locked lists every connection of the channel with a user
// held on each (NULL if there are none or no memory: then the streams
// end as their connections close, with DRPC_EUNAVAIL).
static chan_conn **
chan_hold_all_locked(drpc_channel *ch, size_t *np)
{
	chan_conn **all;
	size_t      n = 0;

	for (chan_backend *b = ch->backends; b != NULL; b = b->next) {
		n += b->cur != NULL;
		for (chan_conn *cn = b->retired; cn != NULL; cn = cn->next) {
			n++;
		}
	}
	*np = 0;
	if (n == 0 || (all = calloc(n, sizeof(*all))) == NULL) {
		return NULL;
	}
	for (chan_backend *b = ch->backends; b != NULL; b = b->next) {
		if (b->cur != NULL) {
			all[(*np)++] = b->cur;
		}
		for (chan_conn *cn = b->retired; cn != NULL; cn = cn->next) {
			all[(*np)++] = cn;
		}
	}
	for (size_t i = 0; i < *np; i++) {
		atomic_fetch_add(&all[i]->users, 1);
	}
	return all;
}

void
drpc_channel_destroy(drpc_channel *ch)
{
	chan_conn **all;
	size_t      n;
	ssize_t     w;

	if (ch == NULL) {
		return;
	}
	drpc__mutex_lock(&ch->mu);
	ch->closing = true;
	atomic_store(&ch->closing_a, true);
	all         = chan_hold_all_locked(ch, &n);
	drpc__cond_broadcast(&ch->ready_cv);
	drpc__mutex_unlock(&ch->mu);
	do {
		w = write(ch->cancel_fd[1], "x", 1);
	} while (w < 0 && errno == EINTR);
	for (size_t i = 0; i < n; i++) {
		drpc__conn_cancel_streams(
		    drpc__client_core(all[i]->cc), DRPC_ECANCELED);
	}
	drpc__mutex_lock(&ch->mu);
	ch->cancelled = true;
	for (size_t i = 0; i < n; i++) {
		atomic_fetch_sub(&all[i]->users, 1); // woken just below
	}
	for (chan_backend *b = ch->backends; b != NULL; b = b->next) {
		drpc__cond_broadcast(&b->cv);
	}
	drpc__mutex_unlock(&ch->mu);
	free(all);
	// No backend is added once closing is set (chan_refresh), so the
	// list is final: join every thread, then wait for the opens.
	for (chan_backend *b = ch->backends; b != NULL; b = b->next) {
		drpc__thread_join(b->t);
	}
	// Drop the channel's own place in opens: the thread that takes it to
	// 0 sets left, and touches the channel no more once it has.
	drpc__mutex_lock(&ch->mu);
	chan_left_locked(ch);
	while (!ch->left) {
		drpc__cond_wait(&ch->done_cv, &ch->mu);
	}
	drpc__mutex_unlock(&ch->mu);
	while (ch->backends != NULL) {
		chan_backend *next = ch->backends->next;

		drpc__cond_fini(&ch->backends->cv);
		free(ch->backends);
		ch->backends = next;
	}
	chan_free(ch);
}
