// drpc call: JSON requests -> the method's input type (libprotobuf's
// proto3 JSON mapping on dynamic messages) -> bytes through libdrpc's C
// API -> replies printed as JSON, one object per line.
//
// Input: -d JSON, -d @FILE or -d @- (stdin). A unary or server-streaming
// method takes one JSON object (it may span lines; none given: {}); a
// client-streaming or bidi method one object per line (blank lines
// skipped; none given: no request). Every request is parsed before
// anything is sent, except for a bidi call reading stdin, which sends each
// line as it comes so that input and output interleave: a bad line there
// cancels the call (what went before was sent).
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>

#include "drpc.h"

namespace drpccli {

namespace gp = google::protobuf;

namespace {

// Codec turns JSON into request bytes and reply bytes into JSON.
class Codec {
public:
	Codec(const gp::MethodDescriptor *m, bool emit_defaults)
	    : factory_(m->file()->pool()), in_(m->input_type()),
	      out_(m->output_type())
	{
		print_.always_print_primitive_fields = emit_defaults;
	}

	// encode parses one JSON object; false with *err naming the cause.
	bool encode(const std::string &json, std::string *bytes, std::string *err)
	{
		std::unique_ptr<gp::Message> msg(
		    factory_.GetPrototype(in_)->New());
		gp::util::JsonParseOptions opts;
		auto st = gp::util::JsonStringToMessage(json, msg.get(), opts);
		if (!st.ok()) {
			// The parser may add lines pointing at the place.
			std::string why(st.message());
			why  = why.substr(0, why.find('\n'));
			*err = "invalid JSON for " + in_->full_name() + ": " + why;
			return false;
		}
		if (!msg->SerializeToString(bytes)) {
			*err = "cannot encode " + in_->full_name();
			return false;
		}
		return true;
	}

	// print writes one reply as a line of JSON.
	void print(const void *data, size_t len, size_t index)
	{
		std::unique_ptr<gp::Message> msg(
		    factory_.GetPrototype(out_)->New());
		if (!msg->ParseFromArray(data, static_cast<int>(len))) {
			fail(EXIT_REMOTE, "reply " + std::to_string(index) +
			                      " is not a valid " + out_->full_name());
		}
		std::string json;
		auto        st = gp::util::MessageToJsonString(*msg, &json, print_);
		if (!st.ok()) {
			fail(EXIT_REMOTE, "reply " + std::to_string(index) +
			                      ": cannot print as JSON: " +
			                      std::string(st.message()));
		}
		std::printf("%s\n", json.c_str());
		std::fflush(stdout);
	}

private:
	gp::DynamicMessageFactory factory_;
	const gp::Descriptor     *in_;
	const gp::Descriptor     *out_;
	gp::util::JsonPrintOptions print_;
};

// read_fd reads fd to its end; a failed read (EISDIR for a directory,
// EIO) is a bad input, never an empty request.
std::string
read_fd(const std::string &what, int fd)
{
	std::string out;
	char        chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			fail(EXIT_USAGE, "-d: cannot read " + what + ": " +
			                     std::strerror(errno));
		}
		if (n == 0) {
			return out;
		}
		out.append(chunk, static_cast<size_t>(n));
	}
}

// input_text is what -d gives: the text itself, a file's or stdin's.
std::string
input_text(const Options &o)
{
	if (o.data == "@-") {
		return read_fd("stdin", 0);
	}
	if (!o.data.empty() && o.data[0] == '@') {
		std::string path = o.data.substr(1);
		int         fd   = open(path.c_str(), O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fail(EXIT_USAGE, "-d " + o.data + ": cannot open " + path +
			                     ": " + std::strerror(errno));
		}
		try {
			std::string text = read_fd(path, fd);
			close(fd);
			return text;
		} catch (...) {
			close(fd);
			throw;
		}
	}
	return o.data;
}

bool
blank(const std::string &s)
{
	return s.find_first_not_of(" \t\r\n") == std::string::npos;
}

// Requests: every request of the call, encoded before the call starts.
std::vector<std::string>
encode_all(const Options &o, Codec &codec, bool stream_in)
{
	std::vector<std::string> out;
	std::string              text = o.have_data ? input_text(o) : "";
	std::string              err;
	if (!stream_in) {
		std::string bytes;
		if (!codec.encode(blank(text) ? "{}" : text, &bytes, &err)) {
			fail(EXIT_USAGE, "request: " + err);
		}
		out.push_back(std::move(bytes));
		return out;
	}
	std::istringstream lines(text);
	std::string        line;
	for (size_t n = 1; std::getline(lines, line); n++) {
		std::string bytes;
		if (blank(line)) {
			continue;
		}
		if (!codec.encode(line, &bytes, &err)) {
			fail(EXIT_USAGE, "request line " + std::to_string(n) + ": " +
			                     err);
		}
		out.push_back(std::move(bytes));
	}
	return out;
}

[[noreturn]] void
fail_stream(drpc_stream *s)
{
	drpc_status st = {};
	drpc_stream_status(s, &st);
	std::string line = status_line(st);
	Exit        e    = exit_for(st);
	drpc_status_reset(&st);
	fail(e, line);
}

[[noreturn]] void
fail_code(drpc_err rv, const std::string &what)
{
	drpc_status st = {};
	st.code        = rv;
	fail(exit_for(st), what + ": " + status_line(st));
}

// Stream owns a client stream.
struct Stream {
	drpc_stream *s = nullptr;
	~Stream() { drpc_stream_destroy(s); }
};

// recv_all prints every reply until the end; at most max replies
// (client streaming: one).
void
recv_all(drpc_stream *s, Codec &codec, size_t max)
{
	for (size_t n = 1;; n++) {
		void    *data = nullptr;
		size_t   len  = 0;
		drpc_err rv   = drpc_stream_recv(s, &data, &len);
		if (rv == DRPC_EOF) {
			if (max == 1 && n == 1) {
				fail(EXIT_REMOTE, "the server ended the call "
				                  "without a reply");
			}
			return;
		}
		if (rv != DRPC_OK) {
			fail_stream(s);
		}
		try {
			codec.print(data, len, n);
		} catch (...) {
			drpc_free(data);
			throw;
		}
		drpc_free(data);
		if (n == max) {
			return;
		}
	}
}

// LineSender sends stdin's lines on a bidi stream as they come, on a
// thread of its own; stop() wakes it through a pipe if it waits for input.
class LineSender {
public:
	LineSender(drpc_stream *s, Codec &codec) : s_(s), codec_(codec)
	{
		if (pipe(wake_) != 0) {
			fail(EXIT_USAGE, std::string("pipe: ") + std::strerror(errno));
		}
		thread_ = std::thread([this] { run(); });
	}
	~LineSender()
	{
		stop();
		close(wake_[0]);
		close(wake_[1]);
	}
	void stop()
	{
		if (thread_.joinable()) {
			char c = 0;
			if (write(wake_[1], &c, 1) < 0) {
				// the pipe is ours and empty: cannot fail
			}
			thread_.join();
		}
	}
	// bad is the cause of a bad line ("" if none).
	std::string bad()
	{
		std::lock_guard<std::mutex> g(mu_);
		return bad_;
	}

private:
	void run()
	{
		std::string buf;
		size_t      line_no = 0;
		for (;;) {
			size_t nl;
			while ((nl = buf.find('\n')) != std::string::npos) {
				std::string line = buf.substr(0, nl);
				buf.erase(0, nl + 1);
				if (!send_line(line, ++line_no)) {
					return;
				}
			}
			struct pollfd p[2] = {{0, POLLIN, 0}, {wake_[0], POLLIN, 0}};
			if (poll(p, 2, -1) < 0) {
				if (errno == EINTR) {
					continue;
				}
				break;
			}
			if (p[1].revents != 0) {
				return; // stopped: the call is over
			}
			char    chunk[4096];
			ssize_t n = read(0, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR) {
				continue;
			}
			if (n <= 0) {
				break;
			}
			buf.append(chunk, static_cast<size_t>(n));
		}
		if (!buf.empty() && !send_line(buf, ++line_no)) {
			return;
		}
		drpc_stream_close_send(s_);
	}

	bool send_line(const std::string &line, size_t n)
	{
		std::string bytes, err;
		if (blank(line)) {
			return true;
		}
		if (!codec_.encode(line, &bytes, &err)) {
			std::lock_guard<std::mutex> g(mu_);
			bad_ = "request line " + std::to_string(n) + ": " + err +
			       " (the call was cancelled)";
			drpc_stream_cancel(s_);
			return false;
		}
		// A failed send means the call ended: recv tells how.
		return drpc_stream_send(s_, bytes.data(), bytes.size()) == DRPC_OK;
	}

	drpc_stream *s_;
	Codec       &codec_;
	int          wake_[2];
	std::thread  thread_;
	std::mutex   mu_;
	std::string  bad_; // under mu_
};

// Sender sends prepared requests on a thread of its own (bidi).
void
send_all(drpc_stream *s, const std::vector<std::string> *reqs)
{
	for (const auto &r : *reqs) {
		if (drpc_stream_send(s, r.data(), r.size()) != DRPC_OK) {
			return; // the call ended: recv tells how
		}
	}
	drpc_stream_close_send(s);
}

} // namespace

int
call(const Options &o, Conn &conn, Source &src, const std::string &method)
{
	size_t slash = method.find('/', 1);
	if (method.size() < 4 || method[0] != '/' || slash == std::string::npos ||
	    slash == 1 || slash + 1 == method.size() ||
	    method.find('/', slash + 1) != std::string::npos) {
		fail(EXIT_USAGE, "method \"" + method +
		                     "\": expected /pkg.Service/Method");
	}
	std::string svc_name = method.substr(1, slash - 1);
	std::string m_name   = method.substr(slash + 1);
	const gp::ServiceDescriptor *svc =
	    src.pool()->FindServiceByName(svc_name);
	if (svc == nullptr) {
		fail(EXIT_USAGE, "unknown service " + svc_name + ": " +
		                     src.not_found(svc_name));
	}
	const gp::MethodDescriptor *m = svc->FindMethodByName(m_name);
	if (m == nullptr) {
		std::string have;
		for (int i = 0; i < svc->method_count(); i++) {
			have += (i > 0 ? ", " : "") + svc->method(i)->name();
		}
		fail(EXIT_USAGE, "unknown method " + m_name + " in service " +
		                     svc_name + " (it has: " + have + ")");
	}

	Codec codec(m, o.emit_defaults);
	bool  cs   = m->client_streaming();
	bool  ss   = m->server_streaming();
	bool  lazy = cs && ss && o.data == "@-";
	std::vector<std::string> reqs;
	if (!lazy) {
		reqs = encode_all(o, codec, cs);
	}

	std::vector<drpc_md_pair> md;
	for (const auto &h : o.headers) {
		md.push_back(drpc_md_str(h.first.c_str(), h.second.c_str()));
	}
	drpc_call_opts co = {};
	co.md             = md.empty() ? nullptr : md.data();
	co.nmd            = md.size();
	co.timeout_ms     = o.timeout_ms;
	drpc_conn *c      = conn.get();

	if (!cs && !ss) {
		void       *reply = nullptr;
		size_t      len   = 0;
		drpc_status st    = {};
		if (drpc_invoke(c, nullptr, method.c_str(), reqs[0].data(),
		        reqs[0].size(), &co, &reply, &len, &st) != DRPC_OK) {
			std::string line = status_line(st);
			Exit        e    = exit_for(st);
			drpc_status_reset(&st);
			fail(e, line);
		}
		try {
			codec.print(reply, len, 1);
		} catch (...) {
			drpc_free(reply);
			throw;
		}
		drpc_free(reply);
		return EXIT_OK;
	}
	Stream   st;
	drpc_err rv;
	if (!cs) {
		rv = drpc_stream_open_request(&st.s, c, nullptr, method.c_str(),
		    reqs[0].data(), reqs[0].size(), &co);
	} else {
		rv = drpc_stream_open(&st.s, c, nullptr, method.c_str(), &co);
	}
	if (rv != DRPC_OK) {
		fail_code(rv, "cannot start the call");
	}
	if (!cs) {
		recv_all(st.s, codec, 0);
	} else if (!ss) {
		for (const auto &r : reqs) {
			if (drpc_stream_send(st.s, r.data(), r.size()) != DRPC_OK) {
				break; // the call ended: recv tells how
			}
		}
		drpc_stream_close_send(st.s);
		recv_all(st.s, codec, 1);
	} else if (lazy) {
		LineSender sender(st.s, codec);
		try {
			recv_all(st.s, codec, 0);
		} catch (const Failure &) {
			sender.stop();
			if (!sender.bad().empty()) {
				fail(EXIT_USAGE, sender.bad());
			}
			throw;
		}
		sender.stop();
		if (!sender.bad().empty()) {
			fail(EXIT_USAGE, sender.bad());
		}
	} else {
		std::thread t(send_all, st.s, &reqs);
		try {
			recv_all(st.s, codec, 0);
		} catch (...) {
			drpc_stream_cancel(st.s);
			t.join();
			throw;
		}
		t.join();
	}
	return EXIT_OK;
}

} // namespace drpccli
