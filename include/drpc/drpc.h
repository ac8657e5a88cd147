// libdrpc: DRPC with many concurrent streams over one connection.
// Including this header includes every public header. docs/api.md walks
// through the API; each header documents its functions.
#ifndef DRPC_DRPC_H
#define DRPC_DRPC_H

#include <drpc/channel.h>
#include <drpc/conn.h>
#include <drpc/conninfo.h>
#include <drpc/ctx.h>
#include <drpc/error.h>
#include <drpc/flow.h>
#include <drpc/health.h>
#include <drpc/intercept.h>
#include <drpc/log.h>
#include <drpc/metadata.h>
#include <drpc/multiplex.h>
#include <drpc/pb.h>
#include <drpc/peer.h>
#include <drpc/reflect.h>
#include <drpc/server.h>
#include <drpc/stats.h>
#include <drpc/stream.h>
#include <drpc/stub.h>
#include <drpc/transport.h>

#endif // DRPC_DRPC_H
