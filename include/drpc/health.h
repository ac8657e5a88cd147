// The health service: gRPC's health checking protocol (grpc.health.v1)
// over DRPC, registered on a server's mux in one call.
//
// Methods (docs/protocol.md, "Health"), with gRPC's messages
// HealthCheckRequest{string service = 1} and
// HealthCheckResponse{ServingStatus status = 1}:
//   "/grpc.health.v1.Health/Check" (unary): the status of the service
//     named ("" is the whole server); a name never set fails with
//     NotFound (5), as gRPC does.
//   "/grpc.health.v1.Health/Watch" (server streaming): the status at once
//     (SERVICE_UNKNOWN for a name never set), then a message each time it
//     changes. Changes that come faster than the watcher takes them are
//     coalesced, as gRPC allows: a watcher always gets the latest status,
//     maybe not every one in between. The stream ends (OK) once the
//     service shuts down (below), after its last status, and at the
//     call's deadline (the client's timeout), if it has one.
//
// Shutdown: drpc_health_attach links the service to a server: when the
// server's shutdown begins (drpc_server_on_shutdown), graceful or not,
// every status becomes NOT_SERVING, every watcher is sent it, and the
// Watch streams end, before the server sends its GOAWAYs and waits for
// handlers; later drpc_health_set calls change nothing (DRPC_ESTATE).
// drpc_health_shutdown does the same without a server.
//
// Thread safety: every function may be called from any thread, but
// drpc_health_destroy, which must come after every server it is
// registered with (or attached to) has been destroyed.
#ifndef DRPC_HEALTH_H
#define DRPC_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <drpc/error.h>
#include <drpc/server.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DRPC_HEALTH_CHECK "/grpc.health.v1.Health/Check"
#define DRPC_HEALTH_WATCH "/grpc.health.v1.Health/Watch"

// drpc_health_status: HealthCheckResponse.ServingStatus, same values.
typedef enum drpc_health_status {
	DRPC_HEALTH_UNKNOWN         = 0,
	DRPC_HEALTH_SERVING         = 1,
	DRPC_HEALTH_NOT_SERVING     = 2,
	DRPC_HEALTH_SERVICE_UNKNOWN = 3, // Watch's answer for an unknown name
} drpc_health_status;

typedef struct drpc_health drpc_health;

// drpc_health_create makes a health service whose server ("") is
// SERVING, as gRPC's is. Errors: DRPC_EINVAL, DRPC_ENOMEM.
DRPC_API drpc_err drpc_health_create(drpc_health **hp);

// drpc_health_register adds Check and Watch to m (before m is given to a
// server, as every drpc_mux_register). Errors: as drpc_mux_register
// (DRPC_EEXIST if m has them already).
DRPC_API drpc_err drpc_health_register(drpc_health *h, drpc_mux *m);

// drpc_health_attach flips h to NOT_SERVING when s begins to shut down
// (above). h must outlive s. Errors: as drpc_server_on_shutdown.
DRPC_API drpc_err drpc_health_attach(drpc_health *h, drpc_server *s);

// drpc_health_set sets the status of service (copied; "" is the whole
// server) and tells its watchers. status: SERVING, NOT_SERVING or
// UNKNOWN. Errors: DRPC_EINVAL (NULL, or SERVICE_UNKNOWN or an unknown
// value), DRPC_ESTATE (shut down), DRPC_ENOMEM.
DRPC_API drpc_err drpc_health_set(
    drpc_health *h, const char *service, drpc_health_status status);

// drpc_health_get is the status of service (DRPC_HEALTH_SERVICE_UNKNOWN if
// never set; NULL h or service too).
DRPC_API drpc_health_status drpc_health_get(
    drpc_health *h, const char *service);

// drpc_health_shutdown sets every service NOT_SERVING for good and ends
// the Watch streams (what the attached server's shutdown does).
// Idempotent.
DRPC_API void drpc_health_shutdown(drpc_health *h);

// drpc_health_destroy frees h (NULL is a no-op), after its servers.
DRPC_API void drpc_health_destroy(drpc_health *h);

#ifdef __cplusplus
}
#endif

#endif // DRPC_HEALTH_H
