// drpc, the command-line client (docs/cli.md): shared declarations.
//
//   main.cc    arguments, list, describe, exit statuses
//   source.cc  where descriptors come from: --proto, --descriptor-set, or
//              the server's reflection service (docs/protocol.md §17)
//   call.cc    call: JSON in, the call through libdrpc's C API, JSON out
//
// The tool is C++ for libprotobuf: its descriptor pool, dynamic messages
// and JSON mapping (docs/cli.md says why); every call goes through
// libdrpc's C API with raw bytes. Errors end the program through fail(),
// with one line on stderr and the exit status of their class.
// Errors of the usage class are found before anything is sent.
#ifndef DRPC_CMD_DRPC_DRPC_H
#define DRPC_CMD_DRPC_DRPC_H

#include <drpc/drpc.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor_database.h>
#include <memory>
#include <string>
#include <vector>

namespace drpccli {

// Exit statuses, one per class of failure.
enum Exit {
	EXIT_OK     = 0,
	EXIT_REMOTE = 1, // the call ended with an error status
	EXIT_USAGE  = 2, // bad arguments or input; nothing was sent
	EXIT_CONN   = 3, // cannot connect, or the connection was lost
	EXIT_INTERNAL = 4, // out of memory, a failure inside libprotobuf
};

// Failure ends the command: main prints "drpc: " and msg on stderr (one
// line) and exits with status, after every
// destructor ran (the tool is checked leak-free under valgrind).
struct Failure {
	Exit        status;
	std::string msg;
};

// fail throws a Failure. Never from a thread but main's.
[[noreturn]] void fail(Exit status, const std::string &msg);

// Options of every subcommand (main.cc fills them in).
struct Options {
	std::string              addr; // "tcp://host:port" etc., "" if none
	std::vector<std::string> protos;
	std::vector<std::string> import_paths;
	std::string              descriptor_set;
	std::string              data; // -d: JSON, @file or @-
	bool                     have_data = false;
	std::vector<std::pair<std::string, std::string>> headers;
	int64_t                  timeout_ms = 0;
	drpc_multiplex_mode      multiplex  = DRPC_MULTIPLEX_AUTO;
	bool                     tls        = false;
	std::string              cacert, cert, key, servername;
	bool                     insecure      = false;
	bool                     emit_defaults = false;
};

// Conn is the connection to opts.addr, dialled on first use.
class Conn {
public:
	explicit Conn(const Options &o) : opts_(o) {}
	~Conn();
	Conn(const Conn &)            = delete;
	Conn &operator=(const Conn &) = delete;
	drpc_conn *get(); // dials, or fails with EXIT_CONN / EXIT_USAGE

private:
	const Options   &opts_;
	drpc_conn       *conn_ = nullptr;
	drpc_tls_config *tls_  = nullptr;
};

// Source is where descriptors come from.
class Source {
public:
	virtual ~Source() = default;
	virtual const google::protobuf::DescriptorPool *pool() = 0;
	// services lists the services the source offers (full names).
	virtual std::vector<std::string> services() = 0;
	// explain turns a symbol that was not found into the reason.
	virtual std::string not_found(const std::string &symbol) = 0;
};

// make_source picks --proto, --descriptor-set or reflection over conn.
std::unique_ptr<Source> make_source(const Options &o, Conn &conn);

// status_line formats a call's failure: "NotFound (5): message".
std::string status_line(const drpc_status &st);
// exit_for is the exit status for a failed call's status.
Exit exit_for(const drpc_status &st);

// call runs `drpc call` of method ("/pkg.Svc/Method").
int call(const Options &o, Conn &conn, Source &src, const std::string &method);

} // namespace drpccli

#endif // DRPC_CMD_DRPC_DRPC_H
