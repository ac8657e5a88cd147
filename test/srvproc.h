// Servers in child processes that a test can kill (SIGKILL), stop
// (SIGSTOP), shut down gracefully and start again at the same address,
// for the channel tests (check_channel.c).
//
// Forking from a process with threads running is unsafe (the child may
// inherit a lock some other thread held), so sp_start forks once, while
// the test is still single-threaded, a manager process that runs no thread
// at all; the manager forks each server on command. Servers count what
// they serve in memory shared with the test (sp_shared), so the counts
// survive a kill.
#ifndef DRPC_TEST_SRVPROC_H
#define DRPC_TEST_SRVPROC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SP_SLOTS   3      // servers at most
#define SP_IDS     65536  // call ids counted
#define SP_CALL    "/sp.S/Call"  // request: 8-byte id; reply: 1 byte, the slot
#define SP_BLOCK   "/sp.S/Block" // returns when its context ends

// What the servers record, shared with the test.
typedef struct sp_shared {
	atomic_uint seen[SP_IDS];        // Call: requests served per id
	atomic_uint served[SP_SLOTS];    // Call: requests served per slot
	atomic_uint blocked[SP_SLOTS];   // Block: handlers started per slot
} sp_shared;

typedef struct sp_mgr {
	pid_t      pid;     // the manager
	int        cmd;     // commands to it
	int        ack;     // its answers
	sp_shared *sh;      // MAP_SHARED
	char       addr[SP_SLOTS][128]; // "unix:///tmp/drpc-sp-<pid>-<slot>"
} sp_mgr;

// sp_start forks the manager (call it first thing in a test, before any
// thread runs). The addresses are fixed for the test's life.
void sp_start(sp_mgr *m);

// sp_up starts the server of slot and returns once it accepts.
void sp_up(sp_mgr *m, int slot);

// sp_kill kills slot's server with SIGKILL and reaps it.
void sp_kill(sp_mgr *m, int slot);

// sp_stop / sp_cont send SIGSTOP / SIGCONT to slot's server.
void sp_stop(sp_mgr *m, int slot);
void sp_cont(sp_mgr *m, int slot);

// sp_graceful makes slot's server run drpc_server_shutdown with a 10 s
// deadline (its handlers finish; libdrpc clients get a GOAWAY), and
// returns once it has exited.
void sp_graceful(sp_mgr *m, int slot);

// sp_end kills every server and the manager, and unmaps the counts.
void sp_end(sp_mgr *m);

#endif // DRPC_TEST_SRVPROC_H
