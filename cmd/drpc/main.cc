// drpc: a command-line client for any DRPC server (docs/cli.md).
//
//   drpc list     [ADDR] [options]
//   drpc describe [ADDR] SYMBOL [options]
//   drpc call     ADDR /pkg.Service/Method [-d JSON|@file|@-] [options]
//   drpc dump     [--max-size N] [--frames-only] [FILE...]
//
// Exit statuses (drpc.h): 0 success, 1 the call ended with an error
// status, 2 bad arguments or input (nothing sent), 3 no connection, 4 an
// internal error (out of memory, a failure inside libprotobuf). `drpc
// dump` is drpc-dump (cmd/drpc-dump/dump.c, the same code), with its exit
// statuses: 1 malformed input or an I/O error, 2 bad usage.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>

#include <google/protobuf/stubs/logging.h>

#include "../drpc-dump/dump.h"
#include "drpc.h"

namespace drpccli {

namespace gp = google::protobuf;

void
fail(Exit status, const std::string &msg)
{
	throw Failure{status, msg};
}

static const char *const code_names[] = {"OK", "Canceled", "Unknown",
    "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
    "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
    "Unauthenticated"};

std::string
status_line(const drpc_status &st)
{
	std::string name;
	uint64_t    code;
	if (st.remote) {
		code = st.remote_code;
		name = code == 0 ? "Unknown" : code <= 16 ? code_names[code] : "Code";
	} else {
		code = static_cast<uint64_t>(st.code);
		name = code <= 16 ? code_names[code] : drpc_err_name(st.code);
	}
	std::string msg = st.message != nullptr && st.message[0] != '\0'
	                      ? st.message
	                      : drpc_strerror(st.code);
	if (st.remote && st.remote_code == 0) {
		return name + " (no code): " + msg;
	}
	return name + " (" + std::to_string(code) + "): " + msg;
}

Exit
exit_for(const drpc_status &st)
{
	if (st.remote) {
		return EXIT_REMOTE;
	}
	switch (st.code) {
	case DRPC_EUNAVAIL:
	case DRPC_EIO:
	case DRPC_ECLOSED:
	case DRPC_EPROTO:
	case DRPC_ETRUNC:
	case DRPC_EVARINT:
	case DRPC_EKIND:
		return EXIT_CONN;
	default:
		return EXIT_REMOTE;
	}
}

static const char usage_text[] =
    "usage:\n"
    "  drpc list     [ADDR] [source]\n"
    "  drpc describe [ADDR] SYMBOL [source]\n"
    "  drpc call     ADDR /pkg.Service/Method [-d JSON | -d @FILE | -d @-]\n"
    "                [source] [-H key:value]... [--timeout DURATION]\n"
    "                [--emit-defaults] [--one-stream | --multiplex]\n"
    "                [--tls [--cacert F] [--cert F --key F] [--servername N]\n"
    "                 [--insecure]]\n"
    "  drpc dump     [--max-size N] [--frames-only] [FILE...]\n"
    "                decode recorded DRPC bytes, as drpc-dump does\n"
    "                ('drpc dump --help')\n"
    "source: --proto FILE... [-I DIR]... | --descriptor-set FILE | nothing:\n"
    "        the server's reflection service (ADDR is then required)\n"
    "ADDR: host:port, tcp://host:port, tls://host:port or unix:///path\n"
    "DURATION: 1.5s, 300ms, 2m, 1h (a bare number is seconds)\n"
    "exit status: 0 ok, 1 the call failed, 2 bad usage or input (nothing\n"
    "sent), 3 no connection, 4 internal error. docs/cli.md has the details.\n";

// usage ends a bad invocation: one line naming what is wrong (the whole
// text is for `drpc --help`).
[[noreturn]] static void
usage(const std::string &why)
{
	fail(EXIT_USAGE, why + "; try 'drpc --help'");
}

// parse_duration reads Go-style durations into milliseconds (rounded up).
static int64_t
parse_duration(const std::string &s)
{
	static const struct {
		const char *unit;
		double      ms;
	} units[] = {{"ms", 1}, {"us", 1e-3}, {"ns", 1e-6}, {"s", 1e3},
	    {"m", 60e3}, {"h", 3600e3}, {"", 1e3}};
	char  *end;
	errno    = 0;
	double v = std::strtod(s.c_str(), &end);
	if (end == s.c_str() || errno != 0 || !(v > 0)) {
		usage("--timeout " + s + ": not a positive duration");
	}
	for (const auto &u : units) {
		if (std::strcmp(end, u.unit) == 0) {
			double ms = v * u.ms;
			if (ms > 9e15) {
				usage("--timeout " + s + ": too long");
			}
			int64_t r = static_cast<int64_t>(ms);
			return r < ms ? r + 1 : r;
		}
	}
	usage("--timeout " + s + ": unknown unit \"" + end +
	      "\" (ns, us, ms, s, m, h)");
}

static std::string
normal_addr(const std::string &a, bool tls)
{
	if (a.find("://") != std::string::npos) {
		return a;
	}
	return (tls ? "tls://" : "tcp://") + a;
}

// The options that take a string, and those that set a flag.
static const std::pair<const char *, std::string Options::*>
    string_options[] = {
        {"--descriptor-set", &Options::descriptor_set},
        {"--cacert", &Options::cacert},
        {"--cert", &Options::cert},
        {"--key", &Options::key},
        {"--servername", &Options::servername},
};
static const std::pair<const char *, bool Options::*> flag_options[] = {
    {"--tls", &Options::tls},
    {"--insecure", &Options::insecure},
    {"--emit-defaults", &Options::emit_defaults},
};

// parse splits argv into options and positional arguments.
static void
parse(int argc, char **argv, Options *o, std::vector<std::string> *pos)
{
	for (int i = 2; i < argc; i++) {
		std::string a = argv[i];
		std::string val;
		bool        has_val = false;
		if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
			size_t eq = a.find('=');
			if (eq != std::string::npos) {
				val     = a.substr(eq + 1);
				a       = a.substr(0, eq);
				has_val = true;
			}
		}
		auto next = [&]() -> std::string {
			if (has_val) {
				return val;
			}
			if (i + 1 >= argc) {
				usage(a + " needs a value");
			}
			return argv[++i];
		};
		auto flag = [&]() {
			if (has_val) {
				usage(a + " takes no value");
			}
		};
		std::string Options::*str  = nullptr;
		bool Options::*       on   = nullptr;
		for (const auto &e : string_options) {
			str = a == e.first ? e.second : str;
		}
		for (const auto &e : flag_options) {
			on = a == e.first ? e.second : on;
		}
		if (str != nullptr) {
			o->*str = next();
		} else if (on != nullptr) {
			flag();
			o->*on = true;
		} else if (a == "-d" || a == "--data") {
			if (o->have_data) {
				usage("-d given twice");
			}
			o->data      = next();
			o->have_data = true;
		} else if (a == "--proto") {
			o->protos.push_back(next());
		} else if (a == "-I" || a == "--import-path") {
			o->import_paths.push_back(next());
		} else if (a.size() > 2 && a.compare(0, 2, "-I") == 0) {
			o->import_paths.push_back(a.substr(2));
		} else if (a == "-H" || a == "--header") {
			std::string h     = next();
			size_t      colon = h.find(':');
			if (colon == std::string::npos || colon == 0) {
				usage("-H " + h + ": expected key:value");
			}
			size_t v = colon + 1;
			while (v < h.size() && h[v] == ' ') {
				v++;
			}
			o->headers.emplace_back(h.substr(0, colon), h.substr(v));
		} else if (a == "--timeout") {
			o->timeout_ms = parse_duration(next());
		} else if (a == "--one-stream") {
			flag();
			o->multiplex = DRPC_MULTIPLEX_OFF;
		} else if (a == "--multiplex") {
			flag();
			o->multiplex = DRPC_MULTIPLEX_ON;
		} else if (a == "--") {
			for (i++; i < argc; i++) {
				pos->push_back(argv[i]);
			}
		} else if (a.size() > 1 && a[0] == '-') {
			usage("unknown option " + a);
		} else {
			pos->push_back(a);
		}
	}
	if (!o->tls && (!o->cacert.empty() || !o->cert.empty() ||
	                   !o->key.empty() || !o->servername.empty() ||
	                   o->insecure)) {
		usage("--cacert, --cert, --key, --servername and --insecure need "
		      "--tls");
	}
}

static const char *
kind_name(const gp::MethodDescriptor *m)
{
	if (m->client_streaming()) {
		return m->server_streaming() ? "bidi" : "client-streaming";
	}
	return m->server_streaming() ? "server-streaming" : "unary";
}

static int
cmd_list(Source &src)
{
	for (const auto &name : src.services()) {
		const gp::ServiceDescriptor *s =
		    src.pool()->FindServiceByName(name);
		std::printf("%s\n", name.c_str());
		if (s == nullptr) {
			std::printf("  (no descriptor: %s)\n",
			    src.not_found(name).c_str());
			continue;
		}
		for (int i = 0; i < s->method_count(); i++) {
			const gp::MethodDescriptor *m = s->method(i);
			std::printf("  /%s/%s  %s  %s -> %s\n", name.c_str(),
			    m->name().c_str(), kind_name(m),
			    m->input_type()->full_name().c_str(),
			    m->output_type()->full_name().c_str());
		}
	}
	return EXIT_OK;
}

static int
cmd_describe(Source &src, std::string sym)
{
	const gp::DescriptorPool *p = src.pool();
	if (!sym.empty() && sym[0] == '.') {
		sym = sym.substr(1);
	}
	if (!sym.empty() && sym[0] == '/') { // "/pkg.Svc/Method"
		size_t slash = sym.find('/', 1);
		if (slash != std::string::npos) {
			sym[slash] = '.';
		}
		sym = sym.substr(1);
	}
	if (auto s = p->FindServiceByName(sym)) {
		std::printf("%s is a service:\n%s", sym.c_str(),
		    s->DebugString().c_str());
	} else if (auto m = p->FindMessageTypeByName(sym)) {
		std::printf("%s is a message:\n%s", sym.c_str(),
		    m->DebugString().c_str());
	} else if (auto e = p->FindEnumTypeByName(sym)) {
		std::printf("%s is an enum:\n%s", sym.c_str(),
		    e->DebugString().c_str());
	} else if (auto md = p->FindMethodByName(sym)) {
		std::printf("%s is a %s method:\n%s", sym.c_str(), kind_name(md),
		    md->DebugString().c_str());
	} else if (auto f = p->FindFieldByName(sym)) {
		std::printf("%s is a field of %s:\n%s", sym.c_str(),
		    f->containing_type()->full_name().c_str(),
		    f->DebugString().c_str());
	} else if (auto v = p->FindEnumValueByName(sym)) {
		std::printf("%s is a value of enum %s:\n%s = %d;\n", sym.c_str(),
		    v->type()->full_name().c_str(), v->name().c_str(),
		    v->number());
	} else {
		fail(EXIT_USAGE, src.not_found(sym));
	}
	return EXIT_OK;
}

static int
run(int argc, char **argv)
{
	if (argc < 2) {
		usage("no command");
	}
	std::string cmd = argv[1];
	if (cmd == "dump") { // its own options, help and exit statuses
		return drpc_dump_main("drpc dump", argc - 1, argv + 1);
	}
	for (int i = 1; i < argc && std::strcmp(argv[i], "--") != 0; i++) {
		if (std::strcmp(argv[i], "-h") == 0 ||
		    std::strcmp(argv[i], "--help") == 0 || (i == 1 && cmd == "help")) {
			std::fputs(usage_text, stdout);
			return EXIT_OK;
		}
	}
	Options                  o;
	std::vector<std::string> pos;
	parse(argc, argv, &o, &pos);
	bool offline = !o.protos.empty() || !o.descriptor_set.empty();
	// ADDR may be left out when the descriptors come from files.
	size_t want = cmd == "list" ? 0 : 1;
	if (cmd != "list" && cmd != "describe" && cmd != "call") {
		usage("unknown command \"" + cmd + "\"");
	}
	if (pos.size() == want + 1) {
		o.addr = normal_addr(pos[0], o.tls);
		pos.erase(pos.begin());
	} else if (pos.size() != want || !offline || cmd == "call") {
		usage(cmd + ": expected " +
		      (cmd == "list"       ? "ADDR"
		          : cmd == "describe" ? "ADDR SYMBOL"
		                              : "ADDR /pkg.Service/Method") +
		      (offline && cmd != "call" ? " (ADDR optional with --proto)"
		                                : ""));
	}
	if (o.have_data && cmd != "call") {
		usage("-d is for call");
	}
	Conn                    conn(o);
	std::unique_ptr<Source> src = make_source(o, conn);
	if (cmd == "list") {
		return cmd_list(*src);
	}
	if (cmd == "describe") {
		return cmd_describe(*src, pos[0]);
	}
	return call(o, conn, *src, pos[0]);
}

} // namespace drpccli

// quiet_log keeps libprotobuf from printing lines of its own (a
// descriptor database's "symbol conflicts" and the like, which the tool
// reports itself, in its own words); only a fatal one, which ends the
// program (as an exception main catches, or abort), is printed.
static void
quiet_log(google::protobuf::LogLevel level, const char *file, int line,
    const std::string &msg)
{
	if (level == google::protobuf::LOGLEVEL_FATAL) {
		std::fflush(stdout);
		std::fprintf(stderr, "drpc: internal error: libprotobuf %s:%d: %s\n",
		    file, line, msg.c_str());
	}
}

int
main(int argc, char **argv)
{
	int rv;
	google::protobuf::SetLogHandler(quiet_log);
	try {
		rv = drpccli::run(argc, argv);
	} catch (const drpccli::Failure &f) {
		std::fflush(stdout);
		std::fprintf(stderr, "drpc: %s\n", f.msg.c_str());
		rv = f.status;
	} catch (const std::bad_alloc &) {
		std::fflush(stdout);
		std::fprintf(stderr, "drpc: internal error: out of memory\n");
		rv = drpccli::EXIT_INTERNAL;
	} catch (const std::exception &e) {
		std::fflush(stdout);
		std::fprintf(stderr, "drpc: internal error: %s\n", e.what());
		rv = drpccli::EXIT_INTERNAL;
	}
	google::protobuf::ShutdownProtobufLibrary();
	return rv;
}
