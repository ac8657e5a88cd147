// A channel's backend: one address, one thread, at most one connection
// taking calls (cur) and any number retired (broken, draining, or of an
// address no longer resolved) until their last user is gone.
//
// The thread's loop, all decisions under the channel's mu:
//   - destroy the retired connections nobody uses any more;
//   - closing, or removed with nothing left: exit;
//   - cur broke or drains: retire it, resolve the names again, and redial
//     at once (a connection that was ready gets one immediate attempt; only
//     failures back off, and a connection that broke before its peer sent
//     a frame is one);
//   - cur is up: run its keepalive when due, else sleep until then;
//   - not wanted (lazy channel unused, or pick-first chose another): sleep;
//   - before retry_at: sleep until then;
//   - else dial. Success: cur, READY, attempts 0. Failure: attempts + 1,
//     retry_at = now + backoff(attempts), names resolved again, and under
//     pick-first the next backend is chosen.
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

bool
chan_usable_locked(const chan_conn *cn)
{
	return cn != NULL && !cn->ended && !cn->draining;
}

void
chan_conn_release(chan_conn *cn)
{
	drpc_channel *ch = cn->b->ch;
	void (*hook)(void *) = ch->hooks.on_release; // set before any call
	unsigned was;

	// One step drops the user and reads the retired flag: once the count
	// is down, cn's backend may reap it (and, if removed, exit and be
	// freed by a refresh), so neither is touched afterwards. retire_locked
	// sets the flag, then its reap reads the count: of the two, the later
	// one sees the other.
	was = atomic_fetch_sub(&cn->users, 1);
	if ((was & ~CHAN_CONN_RETIRED) != 1) {
		return;
	}
	if (hook != NULL) {
		hook(ch->hooks.arg);
	}
	if ((was & CHAN_CONN_RETIRED) != 0) {
		// Its backend, if still listed, is among these.
		drpc__mutex_lock(&ch->mu);
		for (chan_backend *b = ch->backends; b != NULL; b = b->next) {
			drpc__cond_broadcast(&b->cv);
		}
		drpc__mutex_unlock(&ch->mu);
	}
}

void
chan_leave(drpc_channel *ch)
{
	void (*hook)(void *) = ch->hooks.on_leave; // set before any call
	void *hook_arg       = ch->hooks.arg;

	// Not the last one out: destroy still holds its own place, so ch
	// may be freed from here on.
	if (atomic_fetch_sub(&ch->opens, 1) != 1) {
		return;
	}
	// The last one, after destroy dropped its place: it waits for left.
	if (hook != NULL) {
		hook(hook_arg);
	}
	drpc__mutex_lock(&ch->mu);
	ch->left = true;
	drpc__cond_broadcast(&ch->done_cv);
	drpc__mutex_unlock(&ch->mu);
}

void
chan_left_locked(drpc_channel *ch)
{
	if (atomic_fetch_sub(&ch->opens, 1) == 1) {
		ch->left = true;
		drpc__cond_broadcast(&ch->done_cv);
	}
}

// The connection's hooks: they only flag and wake (client.h).
static void
conn_on_end(void *arg, const drpc_cause *cause)
{
	chan_conn    *cn = arg;
	drpc_channel *ch = cn->b->ch;

	drpc__mutex_lock(&ch->mu);
	cn->ended = true;
	if (cause->code != DRPC_ECLOSED || !ch->closing) {
		chan_set_last_locked(ch, cause);
	}
	drpc__cond_broadcast(&cn->b->cv);
	drpc__mutex_unlock(&ch->mu);
}

static void
conn_on_goaway(void *arg)
{
	chan_conn    *cn = arg;
	drpc_channel *ch = cn->b->ch;

	drpc__mutex_lock(&ch->mu);
	cn->draining = true;
	drpc__cond_broadcast(&cn->b->cv);
	drpc__mutex_unlock(&ch->mu);
}

// backoff_locked is the wait after the attempts-th failure in a row, and
// its base before jitter in *base.
static int64_t
backoff_locked(drpc_channel *ch, unsigned attempts, int64_t *base)
{
	const drpc_channel_opts *o = &ch->opts;
	double   ms = (double) o->backoff_initial_ms;
	double   j;
	uint64_t z;

	for (unsigned i = 1; i < attempts && ms < (double) o->backoff_max_ms;
	     i++) {
		ms *= o->backoff_multiplier;
	}
	if (ms > (double) o->backoff_max_ms) {
		ms = (double) o->backoff_max_ms;
	}
	*base = (int64_t) (ms * 1e6);
	// splitmix64: a per-channel generator (no global state).
	z = (ch->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	j = o->backoff_jitter > 0
	    ? o->backoff_jitter * (2.0 * ((double) (z >> 11) / 9007199254740992.0) - 1.0)
	    : 0;
	return (int64_t) ((double) *base * (1.0 + j));
}

// back_off_locked sets b's next dial after its attempts-th failure.
static void
back_off_locked(drpc_channel *ch, chan_backend *b)
{
	int64_t base;
	int64_t delay = backoff_locked(ch, b->attempts, &base);

	b->retry_at = drpc__now_ns() + delay;
	if (ch->hooks.on_backoff != NULL) {
		ch->hooks.on_backoff(
		    ch->hooks.arg, b->addr, b->attempts, base, delay);
	}
}

// next_chosen_locked moves pick-first on from b to the next listed
// backend still resolved (b itself if it is the only one).
static void
next_chosen_locked(drpc_channel *ch, chan_backend *b)
{
	chan_backend *n = b;

	do {
		n = n->next != NULL ? n->next : ch->backends;
	} while (n != b && n->removed);
	if (n != b) {
		ch->chosen = n;
		drpc__cond_broadcast(&n->cv);
	}
}

// reap_locked unlinks from b's retired list the connections that can go
// (nobody opening on them, and ended, or idle when the whole channel or
// the backend is going away) into *out, to be destroyed without mu.
static void
reap_locked(chan_backend *b, chan_conn **out, bool all)
{
	chan_conn **pp = &b->retired;

	while (*pp != NULL) {
		chan_conn *cn = *pp;
		bool       go =
		    (atomic_load(&cn->users) & ~CHAN_CONN_RETIRED) == 0 &&
		    (cn->ended || all ||
			drpc__conn_active(drpc__client_core(cn->cc)) == 0);

		if (go) {
			*pp      = cn->next;
			cn->next = *out;
			*out     = cn;
		} else {
			pp = &cn->next;
		}
	}
}

static void
retire_locked(chan_backend *b)
{
	if (b->cur != NULL) {
		atomic_fetch_or(&b->cur->users, CHAN_CONN_RETIRED);
		b->cur->next = b->retired;
		b->retired   = b->cur;
		b->cur       = NULL;
	}
	if (b->state == CHAN_B_READY) {
		b->state = CHAN_B_CONNECTING;
	}
}

// close_one_locked closes (mu dropped meanwhile) one of b's connections
// not closed yet, once the channel is being destroyed and its streams are
// cancelled: an open blocked on it returns. False if none was left.
static bool
close_one_locked(chan_backend *b)
{
	for (chan_conn *cn = b->retired; cn != NULL; cn = cn->next) {
		if (!cn->closed) {
			cn->closed = true;
			atomic_fetch_add(&cn->users, 1);
			drpc__mutex_unlock(&b->ch->mu);
			drpc_conn_close(cn->cc);
			drpc__mutex_lock(&b->ch->mu);
			atomic_fetch_sub(&cn->users, 1);
			return true;
		}
	}
	return false;
}

static void
destroy_conns(chan_conn *list)
{
	while (list != NULL) {
		chan_conn *next = list->next;

		drpc_conn_destroy(list->cc);
		free(list);
		list = next;
	}
}

// backend_dial makes one attempt (mu not held) and files its outcome.
static void
backend_dial(chan_backend *b)
{
	drpc_channel      *ch = b->ch;
	chan_conn         *cn = calloc(1, sizeof(*cn));
	drpc__client_hooks h  = {conn_on_end, conn_on_goaway, cn, true};
	drpc_cause         why = {0};
	drpc_err           rv  = DRPC_ENOMEM;
	int                fd  = -1;
	bool               refresh;

	if (cn != NULL) {
		cn->b = b;
		rv    = drpc__dial_with(b->addr, ch->copts.dial_timeout_ms,
			   ch->copts.tcp_keepalive_ms, ch->cancel_fd[0], &fd,
			   &why);
	} else {
		(void) drpc__cause_set(&why, rv, "dial %s: out of memory",
		    b->addr);
	}
	if (rv == DRPC_OK && ch->copts.tls != NULL) {
		// The handshake verifies the name the target gave (the address
		// dialed is a numeric one it resolved to), within the dial
		// timeout; destroy waits for one in progress.
		int64_t     ms   = ch->copts.dial_timeout_ms > 0
			    ? ch->copts.dial_timeout_ms
			    : CHAN_DEFAULT_DIAL_TIMEOUT_MS;
		const char *name = ch->copts.tls->server_name == NULL &&
			b->host[0] != '\0'
		    ? b->host
		    : NULL;

		rv = drpc__client_start_tls(&cn->cc, fd, b->addr, name,
		    &ch->copts, drpc__deadline_in_ms(ms), &h, &why);
		if (rv != DRPC_OK) {
			close(fd);
		}
	} else if (rv == DRPC_OK &&
	    (rv = drpc__client_create_fd(&cn->cc, fd, &ch->copts, &h)) !=
		DRPC_OK) {
		close(fd);
		(void) drpc__cause_set(&why, rv,
		    "dial %s: connected, but the connection did not start: %s",
		    b->addr, drpc_strerror(rv));
	}
	drpc__mutex_lock(&ch->mu);
	if (rv == DRPC_OK) {
		b->cur      = cn;
		b->state    = CHAN_B_READY;
		b->failing  = false;
		b->attempts = 0;
		if (ch->opts.lb == DRPC_LB_PICK_FIRST && !b->removed) {
			// (A backend removed while it dialed is not chosen:
			// its thread retires the connection next.)
			ch->chosen = b;
		}
		drpc__cond_broadcast(&ch->ready_cv);
		drpc__mutex_unlock(&ch->mu);
		return;
	}
	free(cn);
	refresh = !ch->closing;
	if (!ch->closing) {
		b->attempts++;
		b->failing = true;
		chan_set_last_locked(ch, &why);
		back_off_locked(ch, b);
		if (ch->opts.lb == DRPC_LB_PICK_FIRST && ch->chosen == b) {
			next_chosen_locked(ch, b);
		}
		// Fail-fast calls waiting for the first attempts look again.
		drpc__cond_broadcast(&ch->ready_cv);
	}
	drpc__mutex_unlock(&ch->mu);
	if (refresh) {
		chan_refresh(ch); // names may have moved
	}
}

// backend_keepalive runs cur's liveness check (mu not held) and returns
// when it next wants to run (0: never).
static int64_t
backend_keepalive(chan_conn *cn)
{
	return drpc__conn_keepalive(drpc__client_core(cn->cc), drpc__now_ns());
}

static void *
backend_main(void *arg)
{
	chan_backend *b  = arg;
	drpc_channel *ch = b->ch;
	chan_conn    *dead;
	int64_t       wake;

	drpc__mutex_lock(&ch->mu);
	for (;;) {
		dead = NULL;
		reap_locked(b, &dead, ch->closing);
		if (dead != NULL) {
			drpc__mutex_unlock(&ch->mu);
			destroy_conns(dead);
			drpc__mutex_lock(&ch->mu);
			continue;
		}
		if (ch->closing || b->removed) {
			retire_locked(b);
			b->state = CHAN_B_IDLE;
			if (ch->closing && ch->cancelled &&
			    close_one_locked(b)) {
				continue;
			}
			if (b->retired == NULL) {
				break;
			}
			// Wait for its users to leave (closing: destroy
			// holds them until every stream is cancelled).
			(void) drpc__cond_wait_until(&b->cv, &ch->mu,
			    ch->closing ? 0
					: drpc__now_ns() + CHAN_RETIRED_POLL_NS);
			continue;
		}
		if (b->cur != NULL && !chan_usable_locked(b->cur)) {
			drpc__conn *core = drpc__client_core(b->cur->cc);
			bool        framed;
			int64_t     idle;

			// Its peer sent a frame (a reply, a hello, a GOAWAY):
			// it was ready, so it is redialed at once. One that
			// broke before, the peer accepted and closed: a failed
			// attempt, backed off, or it is redialed in a loop.
			// A GOAWAY is no failure (the server asked the channel
			// to move): calls wait for the redial, or for the next
			// backend, instead of failing fast.
			drpc__conn_idle(core, &framed, &idle);
			retire_locked(b);
			b->failing  = !drpc__conn_draining(core);
			b->flaps    = framed ? 0 : b->flaps + 1;
			b->attempts = b->flaps;
			b->retry_at = 0;
			if (b->flaps > 0) {
				back_off_locked(ch, b);
			}
			b->resolve = true; // the name may have moved
			drpc__cond_broadcast(&ch->ready_cv);
			continue;
		}
		wake = b->retired != NULL
		    ? drpc__now_ns() + CHAN_RETIRED_POLL_NS
		    : 0;
		if (b->cur != NULL) {
			chan_conn *cn = b->cur;
			int64_t    next;

			// Its own thread retires it, so no wake is owed.
			atomic_fetch_add(&cn->users, 1);
			drpc__mutex_unlock(&ch->mu);
			next = ch->ping_interval_ns > 0 ? backend_keepalive(cn)
							: 0;
			drpc__mutex_lock(&ch->mu);
			atomic_fetch_sub(&cn->users, 1);
			if (next != 0 && (wake == 0 || next < wake)) {
				wake = next;
			}
			if (b->cur == cn && chan_usable_locked(cn)) {
				(void) drpc__cond_wait_until(
				    &b->cv, &ch->mu, wake);
			}
			continue;
		}
		if (!chan_wanted_locked(ch, b)) {
			b->state = CHAN_B_IDLE;
			(void) drpc__cond_wait_until(&b->cv, &ch->mu, wake);
			continue;
		}
		b->state = CHAN_B_CONNECTING;
		if (b->retry_at > drpc__now_ns()) {
			if (wake == 0 || b->retry_at < wake) {
				wake = b->retry_at;
			}
			(void) drpc__cond_wait_until(&b->cv, &ch->mu, wake);
			continue;
		}
		if (b->resolve) {
			// Resolved again first: if the address went away
			// meanwhile, this backend is removed, not dialed.
			b->resolve = false;
			drpc__mutex_unlock(&ch->mu);
			chan_refresh(ch);
			drpc__mutex_lock(&ch->mu);
			continue;
		}
		if (ch->hooks.on_attempt != NULL) {
			ch->hooks.on_attempt(
			    ch->hooks.arg, b->addr, b->attempts + 1);
		}
		drpc__mutex_unlock(&ch->mu);
		backend_dial(b);
		drpc__mutex_lock(&ch->mu);
	}
	b->exited = true;
	drpc__cond_broadcast(&ch->done_cv);
	drpc__mutex_unlock(&ch->mu);
	return NULL;
}

drpc_err
chan_backend_new(
    drpc_channel *ch, const char *addr, const char *host, chan_backend **bp)
{
	chan_backend *b = calloc(1, sizeof(*b));
	drpc_err      rv;

	if (b == NULL) {
		return DRPC_ENOMEM;
	}
	b->ch = ch;
	(void) snprintf(b->addr, sizeof(b->addr), "%s", addr);
	(void) snprintf(b->host, sizeof(b->host), "%s", host);
	drpc__cond_init(&b->cv);
	rv = drpc__thread_start(&b->t, "drpc-chan", 0,
	    ch->copts.thread_stack, backend_main, b);
	if (rv != DRPC_OK) {
		drpc__cond_fini(&b->cv);
		free(b);
		return rv;
	}
	*bp = b;
	return DRPC_OK;
}
