// drpc-bench-grpc's arguments, shared helpers and main (peer.h describes
// the tool).
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "peer.h"

namespace peer
{

usage
usage_now()
{
	struct rusage ru;
	usage         u;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		u.cpu_ns = (static_cast<int64_t>(ru.ru_utime.tv_sec) +
		               static_cast<int64_t>(ru.ru_stime.tv_sec)) *
		               1000000000 +
		           (static_cast<int64_t>(ru.ru_utime.tv_usec) +
		               static_cast<int64_t>(ru.ru_stime.tv_usec)) *
		               1000;
		u.vcs    = ru.ru_nvcsw;
		u.ivcs   = ru.ru_nivcsw;
		u.minflt = ru.ru_minflt;
	}
	return u;
}

int64_t
now_ns()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void
fill_pattern(std::string *s, size_t len)
{
	s->resize(len);
	for (size_t i = 0; i < len; i++) {
		(*s)[i] = static_cast<char>(static_cast<uint8_t>(i * 7 + 1));
	}
}

bool
watch_parent(long parent)
{
	if (parent <= 0) {
		return true;
	}
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
		std::fprintf(stderr, "drpc-bench-grpc: prctl: %s\n",
		    std::strerror(errno));
		return false;
	}
	// The parent may have exited before the prctl: then we were
	// re-parented and nobody will signal us.
	return static_cast<long>(getppid()) == parent;
}

} // namespace peer

namespace
{

void
usage_text(FILE *f)
{
	std::fprintf(f,
	    "usage: drpc-bench-grpc --server HOST:PORT [--parent-pid PID]\n"
	    "       drpc-bench-grpc --client HOST:PORT --workload W "
	    "[options] [--parent-pid PID]\n"
	    "  W: unary-latency      --calls N (default 20000) --warmup N "
	    "(200)\n"
	    "     unary-throughput   --callers C (32) --ms T (2000)\n"
	    "     server-stream      --size S (16) --ms T (2000)\n"
	    "     bidi-latency       --calls N (20000) --warmup N (200)\n"
	    "  --parent-pid PID      exit when process PID exits "
	    "(drpc-bench passes its own)\n"
	    "The client prints one line: result key=value ... "
	    "(docs/benchmarks.md).\n");
}

bool
parse_num(const char *s, long long lo, long long hi, long long *v)
{
	char *end;

	errno = 0;
	*v    = std::strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *v >= lo && *v <= hi;
}

// parse_args fills o; false (with a message) on bad usage.
bool
parse_args(int argc, char **argv, peer::options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a   = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : nullptr;
		long long   v   = 0;
		bool        ok  = true;

		if (std::strcmp(a, "--help") == 0 ||
		    std::strcmp(a, "-h") == 0) {
			usage_text(stdout);
			std::exit(0);
		}
		if (val == nullptr) {
			std::fprintf(stderr,
			    "drpc-bench-grpc: unknown option or missing value: "
			    "%s\n",
			    a);
			return false;
		}
		i++;
		if (std::strcmp(a, "--server") == 0) {
			o->server_addr = val;
		} else if (std::strcmp(a, "--client") == 0) {
			o->client_addr = val;
		} else if (std::strcmp(a, "--workload") == 0) {
			o->workload = val;
		} else if (std::strcmp(a, "--calls") == 0) {
			ok       = parse_num(val, 1, 100000000, &v);
			o->calls = static_cast<size_t>(v);
		} else if (std::strcmp(a, "--warmup") == 0) {
			ok        = parse_num(val, 0, 100000000, &v);
			o->warmup = static_cast<size_t>(v);
		} else if (std::strcmp(a, "--callers") == 0) {
			ok         = parse_num(val, 1, 4096, &v);
			o->callers = static_cast<size_t>(v);
		} else if (std::strcmp(a, "--ms") == 0) {
			ok    = parse_num(val, 1, 3600000, &v);
			o->ms = v;
		} else if (std::strcmp(a, "--size") == 0) {
			ok = parse_num(
			    val, 1, static_cast<long long>(peer::kMaxSize), &v);
			o->size = static_cast<size_t>(v);
		} else if (std::strcmp(a, "--parent-pid") == 0) {
			ok        = parse_num(val, 1, 1LL << 31, &v);
			o->parent = static_cast<long>(v);
		} else {
			std::fprintf(
			    stderr, "drpc-bench-grpc: unknown option %s\n", a);
			return false;
		}
		if (!ok) {
			std::fprintf(stderr,
			    "drpc-bench-grpc: %s: bad value \"%s\"\n", a, val);
			return false;
		}
	}
	if (o->server_addr.empty() == o->client_addr.empty()) {
		std::fprintf(stderr, "drpc-bench-grpc: give one of --server "
		                     "and --client\n");
		return false;
	}
	if (!o->client_addr.empty() && o->workload.empty()) {
		std::fprintf(stderr, "drpc-bench-grpc: --client needs "
		                     "--workload\n");
		return false;
	}
	return true;
}

} // namespace

int
main(int argc, char **argv)
{
	peer::options o;

	if (!parse_args(argc, argv, &o)) {
		usage_text(stderr);
		return 2;
	}
	// A peer whose reader went away gets EPIPE, not a signal.
	std::signal(SIGPIPE, SIG_IGN);
	if (!peer::watch_parent(o.parent)) {
		std::fprintf(
		    stderr, "drpc-bench-grpc: parent %ld is gone\n", o.parent);
		return 1;
	}
	return o.server_addr.empty() ? peer::run_client(o)
	                             : peer::run_server(o);
}
