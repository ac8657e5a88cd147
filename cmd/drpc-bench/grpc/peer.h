// drpc-bench-grpc: the gRPC C++ (sync API) peer of drpc-bench's
// two-process mode (docs/benchmarks.md, "Two processes: raw TCP, libdrpc and
// gRPC C++").
//
//   drpc-bench-grpc --server ADDR                    serve bench.proto's
//       Bench service with a sync grpc::Server (ServerBuilder, default
//       thread pool settings) until SIGINT or SIGTERM; prints
//       "drpc-bench-grpc: serving on HOST:PORT" once it listens.
//   drpc-bench-grpc --client ADDR --workload W ...   run one workload
//       against such a server and print one line "result key=value ...":
//       the figures, this process's getrusage deltas around the timed
//       loop, and the server's (its GetUsage method, called just before
//       and just after the loop).
//
// The workloads mirror drpc-bench's: unary-latency (N sequential 16-byte
// echo calls after 200 warm-up ones; median and p99), unary-throughput
// (C callers sharing one channel for a fixed time; calls/s),
// server-stream (messages of S bytes back to back for a fixed time; the
// client checks each one's size) and bidi-latency (N 16-byte ping-pongs on
// one bidirectional stream after 200 warm-up ones).
//
// Files: main.cc (arguments, getrusage, main), server.cc, client.cc.
#ifndef DRPC_CMD_BENCH_GRPC_PEER_H
#define DRPC_CMD_BENCH_GRPC_PEER_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace peer
{

constexpr int64_t kNsPerMs = 1000000;
constexpr size_t  kSmall   = 16;  // the small payload, bytes
constexpr size_t  kWarmup  = 200; // untimed round trips before a loop
constexpr size_t  kMaxSize = static_cast<size_t>(4) << 20;

// options is the command line.
struct options {
	std::string server_addr;     // --server
	std::string client_addr;     // --client
	std::string workload;        // --workload
	size_t      calls   = 20000; // --calls: timed round trips
	size_t      warmup  = kWarmup;
	size_t      callers = 32;   // --callers
	int64_t     ms      = 2000; // --ms: duration of a timed workload
	size_t      size    = kSmall;
	long        parent  = 0; // --parent-pid: exit when it does (0: no)
};

// usage is getrusage(RUSAGE_SELF) of a process: every thread's.
struct usage {
	int64_t cpu_ns = 0;
	int64_t vcs    = 0; // voluntary context switches
	int64_t ivcs   = 0; // involuntary context switches
	int64_t minflt = 0; // minor page faults
};

usage   usage_now();
int64_t now_ns(); // CLOCK_MONOTONIC

// fill_pattern fills len bytes as drpc-bench does.
void fill_pattern(std::string *s, size_t len);

// watch_parent makes the process get SIGTERM when the process parent
// exits (prctl PR_SET_PDEATHSIG); false if parent is already gone.
bool watch_parent(long parent);

int run_server(const options &o);
int run_client(const options &o);

} // namespace peer

#endif // DRPC_CMD_BENCH_GRPC_PEER_H
