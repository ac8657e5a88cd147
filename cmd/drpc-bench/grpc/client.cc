// drpc-bench-grpc --client: one workload against a drpc-bench-grpc
// server, then one line "result key=value ..." on stdout (peer.h). Every
// reply is checked; a failure is reported on stderr and the exit status
// is 1.
//
// The keys: workload; ops (calls, messages or round trips timed) and
// elapsed_ns; median_us and p99_us for the latency workloads (computed as
// drpc-bench computes them: the median of the sorted samples, the
// ceil(0.99 n)-th for p99); cpu_ns, vcs, ivcs, minflt: this process's
// getrusage delta over the timed loop; srv_cpu_ns, srv_vcs, srv_ivcs,
// srv_minflt: the server's, from GetUsage just before and just after it.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <grpcpp/grpcpp.h>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench.grpc.pb.h"
#include "peer.h"

namespace
{

using drpcbench::Bench;
using drpcbench::DownloadRequest;
using drpcbench::Payload;
using grpc::ClientContext;
using grpc::Status;

void
report(const char *what, const Status &st)
{
	std::fprintf(stderr, "drpc-bench-grpc: %s: status %d: %s\n", what,
	    static_cast<int>(st.error_code()), st.error_message().c_str());
}

// costs are the getrusage snapshots of both processes around a loop.
struct costs {
	peer::usage self0, self1, srv0, srv1;
};

class bench_client
{
      public:
	explicit bench_client(const peer::options &o) : o_(o)
	{
	}

	bool connect();
	int  unary_latency();
	int  unary_throughput();
	int  server_stream();
	int  bidi_latency();

      private:
	bool srv_usage(peer::usage *u);
	bool begin(costs *c);
	bool end(costs *c);
	void print(uint64_t ops, int64_t elapsed_ns, const costs &c,
	    const std::string &extra) const;

	const peer::options           &o_;
	std::shared_ptr<grpc::Channel> channel_;
	std::unique_ptr<Bench::Stub>   stub_;
};

bool
bench_client::connect()
{
	channel_ = grpc::CreateChannel(
	    o_.client_addr, grpc::InsecureChannelCredentials());
	if (!channel_->WaitForConnected(
	        std::chrono::system_clock::now() + std::chrono::seconds(10))) {
		std::fprintf(stderr, "drpc-bench-grpc: cannot connect to %s\n",
		    o_.client_addr.c_str());
		return false;
	}
	stub_ = Bench::NewStub(channel_);
	return true;
}

bool
bench_client::srv_usage(peer::usage *u)
{
	ClientContext    ctx;
	drpcbench::Usage reply;
	Status           st;

	ctx.set_deadline(
	    std::chrono::system_clock::now() + std::chrono::seconds(10));
	st = stub_->GetUsage(&ctx, drpcbench::UsageRequest(), &reply);
	if (!st.ok()) {
		report("GetUsage", st);
		return false;
	}
	u->cpu_ns = reply.cpu_ns();
	u->vcs    = reply.vcs();
	u->ivcs   = reply.ivcs();
	u->minflt = reply.minflt();
	return true;
}

// begin takes the server's usage, then ours; end ours, then the server's:
// the timed loop lies between the two snapshots of each process.
bool
bench_client::begin(costs *c)
{
	if (!srv_usage(&c->srv0)) {
		return false;
	}
	c->self0 = peer::usage_now();
	return true;
}

bool
bench_client::end(costs *c)
{
	c->self1 = peer::usage_now();
	return srv_usage(&c->srv1);
}

void
bench_client::print(uint64_t ops, int64_t elapsed_ns, const costs &c,
    const std::string &extra) const
{
	std::printf("result workload=%s ops=%llu elapsed_ns=%lld%s "
	            "cpu_ns=%lld vcs=%lld ivcs=%lld minflt=%lld "
	            "srv_cpu_ns=%lld srv_vcs=%lld srv_ivcs=%lld "
	            "srv_minflt=%lld\n",
	    o_.workload.c_str(), static_cast<unsigned long long>(ops),
	    static_cast<long long>(elapsed_ns), extra.c_str(),
	    static_cast<long long>(c.self1.cpu_ns - c.self0.cpu_ns),
	    static_cast<long long>(c.self1.vcs - c.self0.vcs),
	    static_cast<long long>(c.self1.ivcs - c.self0.ivcs),
	    static_cast<long long>(c.self1.minflt - c.self0.minflt),
	    static_cast<long long>(c.srv1.cpu_ns - c.srv0.cpu_ns),
	    static_cast<long long>(c.srv1.vcs - c.srv0.vcs),
	    static_cast<long long>(c.srv1.ivcs - c.srv0.ivcs),
	    static_cast<long long>(c.srv1.minflt - c.srv0.minflt));
	std::fflush(stdout);
}

// latency_text sorts the samples: " median_us=M p99_us=P".
std::string
latency_text(std::vector<int64_t> *lat)
{
	std::vector<int64_t> &v = *lat;
	size_t                n = v.size();
	size_t                i = (n * 99 + 99) / 100 - 1; // ceil(0.99 n) - 1
	int64_t               m;
	char                  buf[96];

	std::sort(v.begin(), v.end());
	m = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	std::snprintf(buf, sizeof(buf), " median_us=%.3f p99_us=%.3f",
	    static_cast<double>(m) / 1e3, static_cast<double>(v[i]) / 1e3);
	return buf;
}

// unary_one makes one echo call and checks the reply.
bool
unary_one(Bench::Stub *stub, const Payload &req, size_t i)
{
	ClientContext ctx;
	Payload       reply;
	Status        st = stub->Unary(&ctx, req, &reply);
	char          what[64];

	if (!st.ok()) {
		std::snprintf(what, sizeof(what), "unary call %zu", i);
		report(what, st);
		return false;
	}
	if (reply.data() != req.data()) {
		std::fprintf(stderr,
		    "drpc-bench-grpc: unary call %zu: wrong reply (%zu "
		    "bytes)\n",
		    i, reply.data().size());
		return false;
	}
	return true;
}

int
bench_client::unary_latency()
{
	Payload              req;
	std::vector<int64_t> lat(o_.calls);
	costs                c;

	peer::fill_pattern(req.mutable_data(), peer::kSmall);
	for (size_t i = 0; i < o_.warmup; i++) {
		if (!unary_one(stub_.get(), req, i)) {
			return 1;
		}
	}
	if (!begin(&c)) {
		return 1;
	}
	int64_t t0 = peer::now_ns();
	for (size_t i = 0; i < o_.calls; i++) {
		int64_t s = peer::now_ns();

		if (!unary_one(stub_.get(), req, i)) {
			return 1;
		}
		lat[i] = peer::now_ns() - s;
	}
	int64_t t1 = peer::now_ns();
	if (!end(&c)) {
		return 1;
	}
	print(o_.calls, t1 - t0, c, latency_text(&lat));
	return 0;
}

// tput_shared is what the callers of unary_throughput share.
struct tput_shared {
	std::mutex              mu;
	std::condition_variable cv;
	bool                    open    = false; // guarded by mu
	int64_t                 stop_ns = 0;     // set before open
	std::atomic<bool>       abort{false};
};

void
tput_caller(Bench::Stub *stub, tput_shared *sh, uint64_t *calls)
{
	Payload req;

	peer::fill_pattern(req.mutable_data(), peer::kSmall);
	{
		std::unique_lock<std::mutex> lk(sh->mu);

		sh->cv.wait(lk, [sh] { return sh->open; });
	}
	while (!sh->abort.load(std::memory_order_relaxed) &&
	       peer::now_ns() < sh->stop_ns) {
		if (!unary_one(stub, req, static_cast<size_t>(*calls))) {
			sh->abort.store(true);
			return;
		}
		(*calls)++;
	}
}

int
bench_client::unary_throughput()
{
	tput_shared              sh;
	std::vector<std::thread> callers;
	std::vector<uint64_t>    calls(o_.callers, 0);
	Payload                  req;
	uint64_t                 total = 0;
	costs                    c;

	peer::fill_pattern(req.mutable_data(), peer::kSmall);
	for (size_t i = 0; i < o_.warmup; i++) {
		if (!unary_one(stub_.get(), req, i)) {
			return 1;
		}
	}
	for (size_t i = 0; i < o_.callers; i++) {
		callers.emplace_back(tput_caller, stub_.get(), &sh, &calls[i]);
	}
	if (!begin(&c)) {
		sh.abort.store(true);
	}
	int64_t t0 = peer::now_ns();
	{
		std::lock_guard<std::mutex> lk(sh.mu);

		sh.stop_ns = t0 + o_.ms * peer::kNsPerMs;
		sh.open    = true;
	}
	sh.cv.notify_all();
	for (std::thread &t : callers) {
		t.join();
	}
	int64_t t1 = peer::now_ns();
	if (sh.abort.load() || !end(&c)) {
		return 1;
	}
	for (uint64_t n : calls) {
		total += n;
	}
	print(total, t1 - t0, c, "");
	return 0;
}

int
bench_client::server_stream()
{
	ClientContext   ctx;
	DownloadRequest req;
	Payload         m;
	uint64_t        msgs = 0;
	costs           c;
	Status          st;
	char            extra[48];

	req.set_size(static_cast<uint32_t>(o_.size));
	req.set_duration_ms(static_cast<uint32_t>(o_.ms));
	if (!begin(&c)) {
		return 1;
	}
	int64_t t0     = peer::now_ns();
	auto    reader = stub_->Download(&ctx, req);
	while (reader->Read(&m)) {
		if (m.data().size() != o_.size) {
			std::fprintf(stderr,
			    "drpc-bench-grpc: server stream: a %zu-byte "
			    "message, expected %zu\n",
			    m.data().size(), o_.size);
			ctx.TryCancel();
			(void) reader->Finish();
			return 1;
		}
		msgs++;
	}
	st         = reader->Finish();
	int64_t t1 = peer::now_ns();
	if (!st.ok()) {
		report("server stream", st);
		return 1;
	}
	if (!end(&c)) {
		return 1;
	}
	std::snprintf(extra, sizeof(extra), " size=%zu", o_.size);
	print(msgs, t1 - t0, c, extra);
	return 0;
}

// bidi_trips makes n ping-pongs on stream; lat (may be null) gets each
// one's duration.
bool
bidi_trips(grpc::ClientReaderWriter<Payload, Payload> *stream,
    const Payload &msg, size_t n, std::vector<int64_t> *lat)
{
	Payload reply;

	for (size_t i = 0; i < n; i++) {
		int64_t s = peer::now_ns();

		if (!stream->Write(msg) || !stream->Read(&reply)) {
			std::fprintf(stderr,
			    "drpc-bench-grpc: bidi: round trip %zu: the "
			    "stream broke\n",
			    i);
			return false;
		}
		if (reply.data() != msg.data()) {
			std::fprintf(stderr,
			    "drpc-bench-grpc: bidi: round trip %zu: wrong "
			    "reply\n",
			    i);
			return false;
		}
		if (lat != nullptr) {
			(*lat)[i] = peer::now_ns() - s;
		}
	}
	return true;
}

int
bench_client::bidi_latency()
{
	ClientContext        ctx;
	Payload              msg;
	Payload              extra;
	std::vector<int64_t> lat(o_.calls);
	costs                c;
	bool                 ok = false;
	int64_t              t0 = 0;
	int64_t              t1 = 0;
	Status               st;

	peer::fill_pattern(msg.mutable_data(), peer::kSmall);
	auto stream = stub_->Bidi(&ctx);
	if (bidi_trips(stream.get(), msg, o_.warmup, nullptr) && begin(&c)) {
		t0 = peer::now_ns();
		ok = bidi_trips(stream.get(), msg, o_.calls, &lat);
		t1 = peer::now_ns();
		ok = ok && end(&c);
	}
	if (!ok) {
		ctx.TryCancel();
	}
	if (ok && (!stream->WritesDone() || stream->Read(&extra))) {
		std::fprintf(stderr, "drpc-bench-grpc: bidi: the stream did "
		                     "not end cleanly\n");
		ok = false;
	}
	st = stream->Finish();
	if (ok && !st.ok()) {
		report("bidi", st);
		ok = false;
	}
	if (!ok) {
		return 1;
	}
	print(o_.calls, t1 - t0, c, latency_text(&lat));
	return 0;
}

} // namespace

namespace peer
{

int
run_client(const options &o)
{
	bench_client c(o);

	if (o.workload != "unary-latency" && o.workload != "unary-throughput" &&
	    o.workload != "server-stream" && o.workload != "bidi-latency") {
		std::fprintf(stderr, "drpc-bench-grpc: unknown workload %s\n",
		    o.workload.c_str());
		return 2;
	}
	if (!c.connect()) {
		return 1;
	}
	if (o.workload == "unary-latency") {
		return c.unary_latency();
	}
	if (o.workload == "unary-throughput") {
		return c.unary_throughput();
	}
	if (o.workload == "server-stream") {
		return c.server_stream();
	}
	return c.bidi_latency();
}

} // namespace peer
