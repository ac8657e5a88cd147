// Connection ids and the open/close hooks (drpc/conninfo.h).
//
// Ids are drawn from the kernel's random source, so that no process-wide
// counter (global mutable state) is needed; should getrandom fail (a
// kernel without it, or a seccomp filter), the id is a mix of the clock,
// the drawing thread's stack address and the process id, distinct in
// practice too.
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "conn/conn_impl.h"
#include "platform/thread.h"

// conn_mix is splitmix64's finaliser: every input bit moves every output
// bit, so ids made from near values are not near.
static uint64_t
conn_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint64_t
drpc__conn_new_id(void)
{
	uint64_t id = 0;
	ssize_t  n;

	do {
		n = getrandom(&id, sizeof(id), GRND_NONBLOCK);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t) sizeof(id)) {
		uint64_t here = (uint64_t) (uintptr_t) &id;

		id = conn_mix((uint64_t) drpc__now_ns() ^ conn_mix(here) ^
			      ((uint64_t) getpid() << 32));
	}
	return id != 0 ? id : 1;
}

uint64_t
drpc__conn_id(const drpc__conn *c)
{
	return c->tag.id;
}

// conn_info fills ci for the hooks (the peer: whoever calls them owns it
// at that moment: the creator or the reader before the first stream, the
// last holder at the end).
static void
conn_info(drpc__conn *c, drpc_conn_info *ci)
{
	ci->id     = c->tag.id;
	ci->client = !c->opts.is_server;
	ci->peer   = &c->peer;
}

void
drpc__conn_hooks_open(drpc__conn *c)
{
	drpc_conn_info ci;

	if (c->hooked || (c->hooks.open == NULL && c->hooks.close == NULL)) {
		return;
	}
	c->hooked = true;
	if (c->hooks.open != NULL) {
		conn_info(c, &ci);
		c->tag.user = c->hooks.open(c->hooks.arg, &ci);
	}
}

void
drpc__conn_hooks_close(drpc__conn *c, bool started)
{
	drpc_conn_info  ci;
	drpc_conn_stats st = {0};
	drpc_cause      cause;

	if (!c->hooked) {
		return;
	}
	c->hooked = false; // once
	if (c->hooks.close == NULL) {
		return;
	}
	conn_info(c, &ci);
	drpc__mutex_lock(&c->mu);
	cause.code = c->cause;
	memcpy(cause.text, c->cause_text, sizeof(cause.text));
	st.streams_opened = c->st_opened;
	st.streams_failed = c->st_failed;
	st.closed_ns      = c->closed_ns;
	st.bytes_in       = c->bytes_in;
	st.bytes_out      = c->bytes_out;
	drpc__mutex_unlock(&c->mu);
	if (started) { // else the writer is not there to ask
		drpc__mutex_lock(&c->w.mu);
		st.flow_blocked_ns   = c->w.flow_blocked_ns;
		st.writer_blocked_ns = c->w.room_blocked_ns;
		drpc__mutex_unlock(&c->w.mu);
	}
	st.streams_refused = atomic_load_explicit(
	    &c->tag.refused, memory_order_relaxed);
	st.streams_failed += atomic_load_explicit(
	    &c->tag.failed, memory_order_relaxed);
	st.cause     = &cause;
	st.opened_ns = c->opened_ns;
	c->hooks.close(c->hooks.arg, &ci, c->tag.user, &st);
}
