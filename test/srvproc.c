// Servers in child processes for the channel tests (srvproc.h).
#define _DEFAULT_SOURCE // MAP_ANONYMOUS
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <drpc/drpc.h>

#include "srvproc.h"

typedef struct sp_slot {
	sp_shared *sh;
	int        slot;
} sp_slot;

static drpc_err
sp_call(drpc_stream *s, void *user)
{
	sp_slot *sl = user;
	void    *req;
	size_t   len;
	uint64_t id = 0;
	uint8_t  reply;
	drpc_err rv;

	if ((rv = drpc_stream_recv(s, &req, &len)) != DRPC_OK) {
		return rv;
	}
	if (len == sizeof(id)) {
		memcpy(&id, req, sizeof(id));
	}
	drpc_free(req);
	if (id < SP_IDS) {
		atomic_fetch_add(&sl->sh->seen[id], 1);
	}
	atomic_fetch_add(&sl->sh->served[sl->slot], 1);
	reply = (uint8_t) sl->slot;
	return drpc_stream_send_last(s, &reply, 1);
}

static drpc_err
sp_block(drpc_stream *s, void *user)
{
	sp_slot *sl = user;

	atomic_fetch_add(&sl->sh->blocked[sl->slot], 1);
	(void) drpc_ctx_wait(drpc_stream_ctx(s), 0);
	return DRPC_ECANCELED;
}

// sp_serve is a server process: it serves addr until killed, or until a
// byte on ctl asks for a graceful shutdown.
static void
sp_serve(const char *addr, sp_shared *sh, int slot, int ctl, int ack)
{
	sp_slot      sl = {sh, slot};
	drpc_mux    *mux;
	drpc_server *srv;
	char         c  = 'r';

	signal(SIGPIPE, SIG_IGN);
	if (drpc_mux_create(&mux) != DRPC_OK ||
	    drpc_mux_register(mux, SP_CALL, sp_call, &sl) != DRPC_OK ||
	    drpc_mux_register(mux, SP_BLOCK, sp_block, &sl) != DRPC_OK ||
	    drpc_server_create(&srv, mux, NULL) != DRPC_OK) {
		_exit(2);
	}
	if (drpc_server_listen(srv, addr) != DRPC_OK) {
		c = 'f';
	}
	if (write(ack, &c, 1) != 1 || c != 'r') {
		_exit(3);
	}
	while (read(ctl, &c, 1) < 0 && errno == EINTR) {
	}
	(void) drpc_server_shutdown(srv, drpc_now_ns() + 10000000000ll);
	drpc_server_destroy(srv);
	drpc_mux_destroy(mux);
	_exit(0);
}

// sp_manage is the manager process: single-threaded, it forks, signals
// and reaps the servers as the test asks.
static void
sp_manage(sp_mgr *m, int cmd, int ack)
{
	pid_t srv[SP_SLOTS] = {0};
	int   ctl[SP_SLOTS];
	char  op[2];
	char  ok = 'k';
	int   st;

	for (;;) {
		ssize_t n = read(cmd, op, 2);
		int     i;

		if (n != 2) {
			break;
		}
		i = op[1];
		switch (op[0]) {
		case 'u': {
			int p[2];

			if (pipe(p) != 0) {
				_exit(4);
			}
			if ((srv[i] = fork()) == 0) {
				close(p[1]);
				sp_serve(m->addr[i], m->sh, i, p[0], ack);
			}
			close(p[0]);
			ctl[i] = p[1];
			continue; // the server answers
		}
		case 'k':
			kill(srv[i], SIGKILL);
			(void) waitpid(srv[i], &st, 0);
			close(ctl[i]);
			srv[i] = 0;
			break;
		case 's':
			kill(srv[i], SIGSTOP);
			(void) waitpid(srv[i], &st, WUNTRACED);
			break;
		case 'c':
			kill(srv[i], SIGCONT);
			(void) waitpid(srv[i], &st, WCONTINUED);
			break;
		case 'g':
			if (write(ctl[i], "g", 1) != 1) {
				_exit(5);
			}
			(void) waitpid(srv[i], &st, 0);
			close(ctl[i]);
			srv[i] = 0;
			break;
		default:
			break;
		}
		if (write(ack, &ok, 1) != 1) {
			break;
		}
	}
	for (int i = 0; i < SP_SLOTS; i++) {
		if (srv[i] > 0) {
			kill(srv[i], SIGKILL);
			(void) waitpid(srv[i], &st, 0);
		}
	}
	_exit(0);
}

void
sp_start(sp_mgr *m)
{
	int cmd[2];
	int ack[2];

	memset(m, 0, sizeof(*m));
	m->sh = mmap(NULL, sizeof(sp_shared), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m->sh, MAP_FAILED);
	for (int i = 0; i < SP_SLOTS; i++) {
		snprintf(m->addr[i], sizeof(m->addr[i]),
		    "unix:///tmp/drpc-sp-%d-%d.sock", (int) getpid(), i);
	}
	ck_assert_int_eq(pipe(cmd), 0);
	ck_assert_int_eq(pipe(ack), 0);
	if ((m->pid = fork()) == 0) {
		close(cmd[1]);
		close(ack[0]);
		sp_manage(m, cmd[0], ack[1]);
	}
	ck_assert_int_gt(m->pid, 0);
	close(cmd[0]);
	close(ack[1]);
	m->cmd = cmd[1];
	m->ack = ack[0];
}

static void
sp_do(sp_mgr *m, char op, int slot, char want)
{
	char b[2] = {op, (char) slot};
	char c    = 0;

	ck_assert(slot >= 0 && slot < SP_SLOTS);
	ck_assert_int_eq(write(m->cmd, b, 2), 2);
	while (read(m->ack, &c, 1) < 0 && errno == EINTR) {
	}
	ck_assert_int_eq(c, want);
}

void
sp_up(sp_mgr *m, int slot)
{
	sp_do(m, 'u', slot, 'r');
}

void
sp_kill(sp_mgr *m, int slot)
{
	sp_do(m, 'k', slot, 'k');
}

void
sp_stop(sp_mgr *m, int slot)
{
	sp_do(m, 's', slot, 'k');
}

void
sp_cont(sp_mgr *m, int slot)
{
	sp_do(m, 'c', slot, 'k');
}

void
sp_graceful(sp_mgr *m, int slot)
{
	sp_do(m, 'g', slot, 'k');
}

void
sp_end(sp_mgr *m)
{
	int st;

	close(m->cmd); // the manager kills its servers and exits
	(void) waitpid(m->pid, &st, 0);
	close(m->ack);
	for (int i = 0; i < SP_SLOTS; i++) {
		(void) unlink(m->addr[i] + strlen("unix://"));
	}
	munmap(m->sh, sizeof(sp_shared));
}
