// Raw attackers (hostile.h): frames built byte for byte, and a pump that
// writes them to the server child while reading what it answers.
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "connutil.h"
#include "hostile.h"
#include "testutil.h"
#include "transport/addr.h"
#include "wire/errbody.h"
#include "wire/flowctl.h"
#include "wire/varint.h"

// The pump wakes at least this often to sample the server and look at
// the sockets' queues.
#define PUMP_TICK_MS 10
// HOSTILE_STALL_NS: how long nothing of ours may move, with the server's
// receive queue not empty, before the server counts as not reading.
#define HOSTILE_STALL_NS (500 * 1000000ll)
// The largest frame body the attacker accepts from the server.
#define PEER_MAX_FRAME (64 * HOSTILE_MIB)

// must fails the test if rv is not DRPC_OK. Frames are built by the
// thousand: a passing ck_assert costs a write to Check's pipe each
// (test/README.md rule 7), so the builders check with a plain if.
static void
must(drpc_err rv)
{
	if (rv != DRPC_OK) {
		ck_abort_msg("building frames: %s", drpc_err_name(rv));
	}
}

// field_bytes appends a length-delimited protobuf field of len bytes of
// fill.
static void
field_bytes(drpc__buf *b, uint8_t tag, size_t len, uint8_t fill)
{
	uint8_t  hdr[11];
	uint8_t *p = hdr;

	*p++ = tag;
	p    = drpc__varint_put(p, len);
	must(drpc__buf_append(b, hdr, (size_t) (p - hdr)));
	must(drpc__buf_reserve(b, len));
	memset(b->data + b->len, fill, len);
	b->len += len;
}

void
hostile_msg(drpc__buf *b, size_t len, uint8_t fill)
{
	if (len > 0) {
		field_bytes(b, 0x0a, len, fill); // bytes payload = 1
	}
}

void
hostile_sleep_req(drpc__buf *b, int32_t millis)
{
	uint8_t  enc[11];
	uint8_t *p = enc;

	*p++ = 0x08; // int32 millis = 1
	p    = drpc__varint_put(p, (uint64_t) millis);
	must(drpc__buf_append(b, enc, (size_t) (p - enc)));
}

void
hostile_fail_req(drpc__buf *b, uint64_t code, size_t len)
{
	uint8_t  enc[11];
	uint8_t *p = enc;

	*p++ = 0x08; // uint64 code = 1
	p    = drpc__varint_put(p, code);
	must(drpc__buf_append(b, enc, (size_t) (p - enc)));
	field_bytes(b, 0x12, len, 'x'); // string message = 2
}

void
hostile_md_entry(drpc__buf *b, const char *key, size_t vlen, uint8_t fill)
{
	size_t   klen = strlen(key);
	uint8_t  hdr[24];
	uint8_t *p = hdr;
	uint8_t  vhdr[11];
	uint8_t *q = vhdr;

	if (klen >= 128) { // its length must be one varint byte
		ck_abort_msg("metadata key of %zu bytes", klen);
	}
	*q++ = 0x12; // value = 2
	q    = drpc__varint_put(q, vlen);
	*p++ = 0x0a; // entry = 1
	p    = drpc__varint_put(p, 2 + klen + (size_t) (q - vhdr) + vlen);
	*p++ = 0x0a; // key = 1
	p    = drpc__varint_put(p, klen);
	must(drpc__buf_append(b, hdr, (size_t) (p - hdr)));
	must(drpc__buf_append(b, key, klen));
	must(drpc__buf_append(b, vhdr, (size_t) (q - vhdr)));
	must(drpc__buf_reserve(b, vlen));
	memset(b->data + b->len, fill, vlen);
	b->len += vlen;
}

// The peer.

const char *
hostile_end_name(hostile_end e)
{
	switch (e) {
	case HOSTILE_DRAINED:
		return "drained";
	case HOSTILE_CLOSED:
		return "closed";
	case HOSTILE_STALLED:
		return "stalled";
	case HOSTILE_TIMEOUT:
		return "timeout";
	case HOSTILE_DONE:
		return "done";
	}
	return "?";
}

int
hostile_dial(const hostile_server *hs)
{
	drpc_err rv;
	int      fd;

	if ((rv = drpc__dial(hs->addr, 0, &fd)) != DRPC_OK) {
		ck_abort_msg("dial %s: %s", hs->addr, drpc_err_name(rv));
	}
	return fd;
}

void
hostile_peer_open(hostile_peer *p, hostile_run *r, bool reads)
{
	struct sockaddr_in sa;
	socklen_t          sl = sizeof(sa);

	memset(p, 0, sizeof(*p));
	p->fd = hostile_dial(&r->srv);
	if (getsockname(p->fd, (struct sockaddr *) &sa, &sl) != 0) {
		ck_abort_msg("getsockname: %s", strerror(errno));
	}
	p->port     = ntohs(sa.sin_port);
	p->srv_port = r->srv.port;
	p->reads    = reads;
	p->run      = r;
}

void
hostile_peer_close(hostile_peer *p)
{
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	drpc__buf_fini(&p->out);
	drpc__buf_fini(&p->in);
}

static void
peer_observe(hostile_peer *p, const drpc__frame *f)
{
	uint64_t       code;
	const uint8_t *text;
	size_t         text_len;

	p->st.frames++;
	switch (f->kind) {
	case DRPC__KIND_ERROR:
		p->st.errors++;
		if (drpc__errbody_parse(
		        f->data, f->len, &code, &text, &text_len)) {
			p->st.errors8 += code == 8;
			if (text_len > p->st.max_error_text) {
				p->st.max_error_text = text_len;
			}
		}
		break;
	case DRPC__KIND_MESSAGE:
		p->st.messages += f->done;
		break;
	case DRPC__KIND_CLOSE_SEND:
		p->st.close_sends++;
		break;
	case DRPC__KIND_HELLO:
		p->st.hellos++;
		break;
	case DRPC__KIND_WINDOW_UPDATE:
		p->st.windows++;
		break;
	default:
		break;
	}
	if (p->on_frame != NULL) {
		p->on_frame(p->on_frame_arg, f);
	}
}

// peer_parse hands every whole frame in p->in to peer_observe; a frame
// the server should never send (malformed, huge) counts as a close.
static void
peer_parse(hostile_peer *p)
{
	size_t off = 0;

	for (;;) {
		drpc__frame f;
		size_t      used;
		drpc_err    rv = drpc__frame_parse(p->in.data + off,
		       p->in.len - off, PEER_MAX_FRAME, &f, &used);

		if (rv != DRPC_OK) {
			p->closed = true;
			break;
		}
		if (used == 0) {
			break;
		}
		peer_observe(p, &f);
		off += used;
	}
	memmove(p->in.data, p->in.data + off, p->in.len - off);
	p->in.len -= off;
}

// hostile_peer_read reads what is there (a few MiB at most, so writes get
// their turn) and parses it.
void
hostile_peer_read(hostile_peer *p)
{
	for (int i = 0; i < 16 && !p->closed; i++) {
		ssize_t n;

		must(drpc__buf_reserve(&p->in, 256 * HOSTILE_KIB));
		n = recv(p->fd, p->in.data + p->in.len, p->in.cap - p->in.len,
		    MSG_DONTWAIT);
		if (n > 0) {
			p->in.len += (size_t) n;
			p->st.bytes_in += (uint64_t) n;
			peer_parse(p);
		} else if (n == 0) {
			p->closed = true;
		} else if (errno != EINTR) {
			p->closed = errno != EAGAIN && errno != EWOULDBLOCK;
			return;
		}
	}
}

// peer_write writes what it can of p->out without blocking.
static void
peer_write(hostile_peer *p)
{
	while (p->out_off < p->out.len && !p->closed) {
		ssize_t n = send(p->fd, p->out.data + p->out_off,
		    p->out.len - p->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			p->out_off += (size_t) n;
			p->st.bytes_out += (uint64_t) n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			p->closed =
			    n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
			break;
		}
	}
	if (p->out_off == p->out.len) {
		p->out.len = 0;
		p->out_off = 0;
	}
}

// The server's side of the connection, from /proc/net/tcp: whether it is
// still open (ESTABLISHED) and how many bytes of ours it has not read.
typedef struct srv_side {
	bool   found;
	bool   open;
	size_t unread;
} srv_side;

// tcp_scan fills side[i] for each of the n peers (all of one server)
// from one read of /proc/net/tcp.
static void
tcp_scan(const hostile_peer *p, size_t n, srv_side *side)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char  line[256];

	if (f == NULL) {
		ck_abort_msg("/proc/net/tcp: cannot open");
	}
	// A few large reads: the kernel formats the table anew for each.
	(void) setvbuf(f, NULL, _IOFBF, 256 * HOSTILE_KIB);
	memset(side, 0, n * sizeof(*side));
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned laddr, lport, raddr, rport, st, txq, rxq;

		if (sscanf(line, " %*d: %8X:%4X %8X:%4X %2X %8X:%8X", &laddr,
		        &lport, &raddr, &rport, &st, &txq, &rxq) != 7 ||
		    lport != p[0].srv_port) {
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			// An old socket of the same ports (TIME_WAIT) may be
			// listed too: a live one wins.
			if (p[i].port == rport && !side[i].open) {
				side[i].found  = true;
				side[i].open   = st == 0x01; // TCP_ESTABLISHED
				side[i].unread = rxq;
				break;
			}
		}
	}
	fclose(f);
}

static srv_side
peer_srv_side(const hostile_peer *p)
{
	srv_side s;

	tcp_scan(p, 1, &s);
	return s;
}

static size_t
peer_unsent(const hostile_peer *p)
{
	int n = 0;

	return ioctl(p->fd, TIOCOUTQ, &n) == 0 && n > 0 ? (size_t) n : 0;
}

// pump_state follows what the pump saw, for its ends.
typedef struct pump_state {
	int64_t  progress_ns; // last time a byte moved, either way
	int64_t  moved_ns;    // last time the queues changed
	int64_t  sampled_ns;
	int64_t  checked_ns; // last look at the queues
	uint64_t bytes;
	size_t   unsent;
	size_t   unread;
} pump_state;

static void
pump_tick(hostile_peer *p, pump_state *ps)
{
	int64_t now = drpc_now_ns();

	if (p->st.bytes_in + p->st.bytes_out != ps->bytes) {
		ps->bytes       = p->st.bytes_in + p->st.bytes_out;
		ps->progress_ns = now;
	}
	if (now - ps->sampled_ns >= PUMP_TICK_MS * 1000000ll) {
		ps->sampled_ns = now;
		hostile_poll(p->run);
	}
}

// pump_checked rations looks at /proc/net/tcp to one per tick.
static bool
pump_checked(pump_state *ps)
{
	int64_t now = drpc_now_ns();

	if (now - ps->checked_ns < PUMP_TICK_MS * 1000000ll) {
		return false;
	}
	ps->checked_ns = now;
	return true;
}

// pump_stalled: the server's receive queue holds bytes of ours that it
// has not read, and neither queue has moved for HOSTILE_STALL_NS.
static bool
pump_stalled(hostile_peer *p, pump_state *ps)
{
	srv_side s      = peer_srv_side(p);
	size_t   unsent = peer_unsent(p);
	int64_t  now    = drpc_now_ns();

	if (!s.found || !s.open) {
		p->closed = true;
		return false;
	}
	if (s.unread != ps->unread || unsent != ps->unsent || s.unread == 0) {
		ps->unread   = s.unread;
		ps->unsent   = unsent;
		ps->moved_ns = now;
		return false;
	}
	return now - ps->moved_ns > tu_bound_ns(HOSTILE_STALL_NS);
}

// pump_drained: everything written has been read by the server. A
// server side that has gone or is closing counts as closed.
static bool
pump_drained(hostile_peer *p)
{
	srv_side s;

	if (peer_unsent(p) != 0) {
		return false;
	}
	s = peer_srv_side(p);
	if (!s.found || !s.open) {
		p->closed = true;
		return false;
	}
	return s.unread == 0;
}

static void
pump_wait(hostile_peer *p, bool want_write)
{
	struct pollfd pfd = {p->fd, 0, 0};

	pfd.events =
	    (short) ((want_write ? POLLOUT : 0) | (p->reads ? POLLIN : 0));
	if (poll(&pfd, 1, PUMP_TICK_MS) <= 0) {
		return;
	}
	if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
		if (p->reads) {
			hostile_peer_read(p);
		} else if (pfd.revents & (POLLERR | POLLHUP)) {
			p->closed = true;
		}
	}
	if ((pfd.revents & POLLOUT) && !p->closed) {
		peer_write(p);
	}
}

hostile_end
hostile_pump(hostile_peer *p, hostile_gen gen, void *arg, bool stop_on_stall)
{
	pump_state ps   = {drpc_now_ns(), drpc_now_ns(), 0, 0, 0, 0, 0};
	bool       more = true;

	for (;;) {
		bool pending;

		if (p->out.len == 0 && more) {
			more = gen(arg, &p->out);
		}
		peer_write(p);
		if (p->reads) {
			hostile_peer_read(p);
		}
		if (p->closed) {
			return HOSTILE_CLOSED;
		}
		pending = p->out_off < p->out.len;
		pump_tick(p, &ps);
		if (!pending && more) {
			continue; // the next piece at once
		}
		if (pump_checked(&ps)) {
			if (!pending && pump_drained(p)) {
				return HOSTILE_DRAINED;
			}
			if (pending && stop_on_stall && pump_stalled(p, &ps)) {
				return HOSTILE_STALLED;
			}
			if (p->closed) {
				return HOSTILE_CLOSED;
			}
		}
		if (drpc_now_ns() - ps.progress_ns > tu_bound_ns(TU_WAIT_NS)) {
			return HOSTILE_TIMEOUT;
		}
		pump_wait(p, pending);
	}
}

hostile_end
hostile_pump_until(
    hostile_peer *p, bool (*cond)(const hostile_peer *p, void *arg), void *arg)
{
	pump_state ps = {drpc_now_ns(), drpc_now_ns(), 0, 0, 0, 0, 0};

	for (;;) {
		if (cond(p, arg)) {
			return HOSTILE_DONE;
		}
		if (p->closed) {
			return HOSTILE_CLOSED;
		}
		pump_tick(p, &ps);
		if (drpc_now_ns() - ps.progress_ns > tu_bound_ns(TU_WAIT_NS)) {
			return HOSTILE_TIMEOUT;
		}
		pump_wait(p, p->out_off < p->out.len);
	}
}

bool
hostile_send_all(hostile_peer *p, const drpc__buf *b)
{
	int64_t deadline = drpc_now_ns() + tu_bound_ns(TU_WAIT_NS);
	size_t  off      = 0;

	while (off < b->len && !p->closed && drpc_now_ns() < deadline) {
		struct pollfd pfd = {p->fd, POLLOUT, 0};
		ssize_t       n;

		if (poll(&pfd, 1, PUMP_TICK_MS) <= 0) {
			continue;
		}
		n = send(p->fd, b->data + off, b->len - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t) n;
			p->st.bytes_out += (uint64_t) n;
		} else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		           errno != EINTR) {
			p->closed = true;
		}
	}
	return off == b->len;
}

size_t
hostile_wait_drained(hostile_peer *p, size_t n)
{
	srv_side *side  = calloc(n, sizeof(*side));
	int64_t   moved = drpc_now_ns();
	size_t    last  = SIZE_MAX;
	size_t    done  = 0;

	ck_assert_ptr_nonnull(side);
	for (;;) {
		struct timespec ts = {0, PUMP_TICK_MS * 1000000l};

		hostile_poll(p[0].run);
		tcp_scan(p, n, side);
		done = 0;
		for (size_t i = 0; i < n; i++) {
			if (!side[i].found || !side[i].open) {
				p[i].closed = true;
			}
			done += p[i].closed || (side[i].unread == 0 &&
			                           peer_unsent(&p[i]) == 0);
		}
		if (done == n) {
			break;
		}
		if (done != last) {
			last  = done;
			moved = drpc_now_ns();
		} else if (drpc_now_ns() - moved > tu_bound_ns(TU_WAIT_NS)) {
			break;
		}
		(void) nanosleep(&ts, NULL);
	}
	free(side);
	return done;
}
