// example-observe's parts: the metrics (metrics.c) and the client side
// (client.c), used by main.c.
#ifndef DRPC_EXAMPLE_OBSERVE_H
#define DRPC_EXAMPLE_OBSERVE_H

#include <stdint.h>

#include <drpc/drpc.h>

// metrics_create makes the counters and fills *stats and *hooks with the
// callbacks feeding them, to give a server (drpc_server_opts .stats and
// .conn_hooks). NULL if out of memory. Destroy after the server.
typedef struct metrics metrics;
metrics *metrics_create(drpc_stats_handler *stats, drpc_conn_hooks *hooks);
void     metrics_destroy(metrics *mt);

// metrics_dump writes them in Prometheus text format into path (through a
// file renamed over it: a reader never sees half), or on stdout if NULL.
void metrics_dump(metrics *mt, const char *path);

// observe_code_name is the gRPC name of a final status as the client saw
// it ("OK", "Unauthenticated"; library codes went out as "Internal").
const char *observe_code_name(drpc_err code, uint64_t remote_code);

// observe_client makes calls of every kind with bearer ("Bearer <token>")
// added by a client interceptor, checks the server's health, and makes one
// call without it; 0 if each went as it should.
int observe_client(const char *addr, const char *bearer);

// observe_watch prints each status of the server's health Watch ("health:
// SERVING") until the stream ends; 0 if it ended normally.
int observe_watch(const char *addr);

#endif
