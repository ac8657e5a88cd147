// A server of one method that records who called it, and what the server
// logged: the fixture of the peer identity and drpcmigrate tests
// (check_peer.c over TCP and unix sockets, check_tls_auth.c over TLS).
//
// The handler reads one request, records drpc_stream_peer's answer and
// counts the call under sync (it never asserts: test/README.md rule 6),
// then answers. The server's log lines at WARN and above gather in log.
#ifndef DRPC_TEST_WHOSRV_H
#define DRPC_TEST_WHOSRV_H

#include <pthread.h>
#include <stdbool.h>

#include <drpc/drpc.h>

#include "srvlog.h"
#include "testutil.h"

typedef struct who_srv {
	drpc_mux    *mux;
	drpc_server *srv;
	const char  *reply; // the handler's answer; NULL: the caller's address
	tu_sync      sync;  // guards peer, peer_rv and calls (log has its own)
	drpc_peer    peer;  // the last caller, as drpc_stream_peer said
	drpc_err     peer_rv; // what drpc_stream_peer returned
	size_t       calls;
	srv_log      log;       // the server's, WARN and above
	char         addr[128]; // the listener's address
} who_srv;

// who_start serves method on a server made with o (NULL: defaults; its log
// is set here), listening on listen if not NULL; the handler answers
// reply (a string that outlives the server), or the caller's address if
// NULL. Failures are failed checks.
void who_start(who_srv *w, const char *method, const char *reply,
    drpc_server_opts *o, const char *listen);
void who_stop(who_srv *w);

// who_calls is the number of calls the handler took so far.
size_t who_calls(who_srv *w);

#endif // DRPC_TEST_WHOSRV_H
