// drpc-bench-grpc --server: bench.proto's Bench service on a sync
// grpc::Server built the way a user would build one (ServerBuilder,
// insecure credentials, default thread pool settings), serving until
// SIGINT or SIGTERM.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <grpcpp/grpcpp.h>
#include <memory>
#include <pthread.h>
#include <string>

#include "bench.grpc.pb.h"
#include "peer.h"

namespace
{

using drpcbench::DownloadRequest;
using drpcbench::Payload;
using drpcbench::Usage;
using drpcbench::UsageRequest;
using grpc::ServerContext;
using grpc::Status;

class bench_service final : public drpcbench::Bench::Service
{
      public:
	// Unary echoes the request.
	Status Unary(
	    ServerContext *, const Payload *req, Payload *reply) override
	{
		reply->set_data(req->data());
		return Status::OK;
	}

	// Download sends messages of req->size() bytes back to back for
	// req->duration_ms(), as drpc-bench's Download handler does.
	Status Download(ServerContext *ctx, const DownloadRequest *req,
	    grpc::ServerWriter<Payload> *w) override
	{
		Payload msg;
		int64_t stop;

		if (req->size() == 0 || req->size() > peer::kMaxSize) {
			return Status(grpc::StatusCode::INVALID_ARGUMENT,
			    "size out of range");
		}
		peer::fill_pattern(msg.mutable_data(), req->size());
		stop =
		    peer::now_ns() +
		    static_cast<int64_t>(req->duration_ms()) * peer::kNsPerMs;
		do {
			if (!w->Write(msg)) {
				return Status(grpc::StatusCode::CANCELLED,
				    "the client went away");
			}
		} while (peer::now_ns() < stop && !ctx->IsCancelled());
		return Status::OK;
	}

	// Bidi echoes every message until the client ends its side.
	Status Bidi(ServerContext *,
	    grpc::ServerReaderWriter<Payload, Payload> *stream) override
	{
		Payload m;

		while (stream->Read(&m)) {
			if (!stream->Write(m)) {
				return Status(grpc::StatusCode::CANCELLED,
				    "the client went away");
			}
		}
		return Status::OK;
	}

	// GetUsage reports this process's getrusage.
	Status GetUsage(
	    ServerContext *, const UsageRequest *, Usage *u) override
	{
		peer::usage now = peer::usage_now();

		u->set_cpu_ns(now.cpu_ns);
		u->set_vcs(now.vcs);
		u->set_ivcs(now.ivcs);
		u->set_minflt(now.minflt);
		return Status::OK;
	}
};

// with_port replaces the port of HOST:PORT ("[v6]:PORT" too).
std::string
with_port(const std::string &addr, int port)
{
	size_t colon = addr.rfind(':');

	return (colon == std::string::npos ? addr : addr.substr(0, colon)) +
	       ":" + std::to_string(port);
}

} // namespace

namespace peer
{

int
run_server(const options &o)
{
	bench_service                 svc;
	grpc::ServerBuilder           builder;
	std::unique_ptr<grpc::Server> server;
	sigset_t                      set;
	int                           port = 0;
	int                           sig  = 0;
	int                           err;

	// Block the signals before gRPC starts its threads, so that only
	// sigwait gets them.
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if ((err = pthread_sigmask(SIG_BLOCK, &set, nullptr)) != 0) {
		std::fprintf(stderr, "drpc-bench-grpc: pthread_sigmask: %s\n",
		    std::strerror(err));
		return 1;
	}
	builder.AddListeningPort(
	    o.server_addr, grpc::InsecureServerCredentials(), &port);
	builder.RegisterService(&svc);
	server = builder.BuildAndStart();
	if (server == nullptr || port == 0) {
		std::fprintf(stderr, "drpc-bench-grpc: cannot serve on %s\n",
		    o.server_addr.c_str());
		return 1;
	}
	std::printf("drpc-bench-grpc: serving on %s (gRPC %s; SIGINT or "
	            "SIGTERM stops)\n",
	    with_port(o.server_addr, port).c_str(), grpc::Version().c_str());
	std::fflush(stdout);
	if ((err = sigwait(&set, &sig)) != 0) {
		std::fprintf(stderr, "drpc-bench-grpc: sigwait: %s\n",
		    std::strerror(err));
	}
	server->Shutdown(
	    std::chrono::system_clock::now() + std::chrono::seconds(2));
	server->Wait();
	std::printf("drpc-bench-grpc: server stopped\n");
	return 0;
}

} // namespace peer
