// Where descriptors come from: .proto files (libprotobuf's compiler
// Importer), a FileDescriptorSet, or the server's reflection service
// (docs/protocol.md §17), read lazily through a DescriptorDatabase so that
// only the files a command needs are asked for. And the connection.
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

#include "drpc.h"

namespace drpccli {

namespace gp = google::protobuf;

// Connection.

Conn::~Conn()
{
	drpc_conn_destroy(conn_);
	drpc_tls_config_destroy(tls_);
}

static void
tls_check(drpc_err rv, const std::string &what, const drpc_cause &why)
{
	if (rv != DRPC_OK) {
		fail(EXIT_USAGE, what + ": " +
		                     (why.text[0] != '\0' ? why.text
		                                           : drpc_strerror(rv)));
	}
}

drpc_conn *
Conn::get()
{
	if (conn_ != nullptr) {
		return conn_;
	}
	if (opts_.addr.empty()) {
		fail(EXIT_USAGE, "this command needs the server's address");
	}
	drpc_conn_opts co = {};
	co.multiplex      = opts_.multiplex;
	if (opts_.tls) {
		drpc_cause why = {};
		tls_check(drpc_tls_config_create(&tls_, DRPC_TLS_CLIENT, &why),
		    "TLS configuration", why);
		if (!opts_.cacert.empty()) {
			tls_check(drpc_tls_config_set_ca(
			              tls_, opts_.cacert.c_str(), nullptr, &why),
			    "--cacert " + opts_.cacert, why);
		}
		if (!opts_.cert.empty() || !opts_.key.empty()) {
			if (opts_.cert.empty() || opts_.key.empty()) {
				fail(EXIT_USAGE, "--cert and --key go together");
			}
			tls_check(drpc_tls_config_set_cert_files(tls_,
			              opts_.cert.c_str(), opts_.key.c_str(), &why),
			    "--cert " + opts_.cert + " --key " + opts_.key, why);
		}
		if (!opts_.servername.empty()) {
			tls_check(drpc_tls_config_set_server_name(
			              tls_, opts_.servername.c_str()),
			    "--servername " + opts_.servername, why);
		}
		if (opts_.insecure) {
			drpc_tls_config_set_verify(tls_, false);
		}
		co.tls = tls_;
	}
	drpc_cause cause = {};
	drpc_err   rv    = drpc_dial_cause(&conn_, opts_.addr.c_str(), &co, &cause);
	if (rv != DRPC_OK) {
		fail(rv == DRPC_EINVAL ? EXIT_USAGE : EXIT_CONN, cause.text);
	}
	return conn_;
}

// Sources.

namespace {

// ProtoErrors collects the parser's errors as "file:line:col: message",
// or "file: message" for an error of the whole file (line -1: not found,
// say).
class ProtoErrors : public gp::compiler::MultiFileErrorCollector {
public:
	void AddError(const std::string &file, int line, int col,
	    const std::string &msg) override
	{
		if (!first.empty()) {
			return;
		}
		if (line < 0) {
			first = file + ": " + msg;
		} else {
			first = file + ":" + std::to_string(line + 1) + ":" +
			        std::to_string(col + 1) + ": " + msg;
		}
	}
	std::string first;
};

// PoolErrors records the first error of building a file in a pool.
class PoolErrors : public gp::DescriptorPool::ErrorCollector {
public:
	void AddError(const std::string &file, const std::string &element,
	    const gp::Message *, ErrorLocation, const std::string &msg) override
	{
		if (first.empty()) {
			first = file + ": " + element + ": " + msg;
		}
	}
	std::string first;
};

// shorten keeps a name quoted in a message to one readable line.
std::string
shorten(const std::string &name)
{
	if (name.size() <= 80) {
		return name;
	}
	return name.substr(0, 60) + "... (" + std::to_string(name.size()) +
	       " bytes)";
}

std::string
pool_not_found(const std::string &symbol, const std::string &where)
{
	return "no symbol " + shorten(symbol) + " in " + where;
}

class ProtoSource : public Source {
public:
	explicit ProtoSource(const Options &o)
	{
		for (const auto &dir : o.import_paths) {
			tree_.MapPath("", dir);
		}
		if (o.import_paths.empty()) {
			tree_.MapPath("", ".");
		}
		// The well-known types and protobuf-c.proto, last.
		tree_.MapPath("", "/usr/include");
		importer_.reset(new gp::compiler::Importer(&tree_, &errors_));
		for (const auto &p : o.protos) {
			std::string virt, shadow;
			auto        r = tree_.DiskFileToVirtualFile(p, &virt, &shadow);
			if (r == gp::compiler::DiskSourceTree::NO_MAPPING) {
				virt = p; // a name relative to an import path
			} else if (r == gp::compiler::DiskSourceTree::SHADOWED) {
				fail(EXIT_USAGE, p + " is shadowed by " + shadow +
				                     " in the import paths");
			} else if (r == gp::compiler::DiskSourceTree::CANNOT_OPEN) {
				fail(EXIT_USAGE, "cannot open " + p + ": " +
				                     std::strerror(errno));
			}
			const gp::FileDescriptor *f = importer_->Import(virt);
			if (f == nullptr) {
				fail(EXIT_USAGE,
				    errors_.first.empty()
				        ? "cannot import " + p +
				              " (not found in the import paths)"
				        : errors_.first);
			}
			files_.push_back(f);
		}
	}
	const gp::DescriptorPool *pool() override { return importer_->pool(); }
	std::vector<std::string> services() override
	{
		std::vector<std::string> v;
		for (auto f : files_) {
			for (int i = 0; i < f->service_count(); i++) {
				v.push_back(f->service(i)->full_name());
			}
		}
		return v;
	}
	std::string not_found(const std::string &symbol) override
	{
		return pool_not_found(symbol, "the --proto files");
	}

private:
	gp::compiler::DiskSourceTree            tree_;
	ProtoErrors                             errors_;
	std::unique_ptr<gp::compiler::Importer> importer_;
	std::vector<const gp::FileDescriptor *> files_;
};

class SetSource : public Source {
public:
	explicit SetSource(const std::string &path) : path_(path)
	{
		std::ifstream in(path, std::ios::binary);
		if (!in) {
			fail(EXIT_USAGE, "cannot open " + path + ": " +
			                     std::strerror(errno));
		}
		gp::FileDescriptorSet set;
		if (!set.ParseFromIstream(&in)) {
			fail(EXIT_USAGE, path + ": not a FileDescriptorSet");
		}
		for (const auto &f : set.file()) {
			// Sets concatenated (`cat a.pb b.pb`) repeat the files
			// both import: the same file twice is one file.
			gp::FileDescriptorProto have;
			if (db_.FindFileByName(f.name(), &have)) {
				if (have.SerializeAsString() != f.SerializeAsString()) {
					fail(EXIT_USAGE, path + ": two different files " +
					                     "named " + f.name());
				}
				continue;
			}
			if (!db_.Add(f)) {
				fail(EXIT_USAGE, path + ": " + f.name() +
				                     " conflicts with another file");
			}
			for (const auto &s : f.service()) {
				services_.push_back(f.package().empty()
				                        ? s.name()
				                        : f.package() + "." + s.name());
			}
		}
		pool_.reset(new gp::DescriptorPool(&db_, &errors_));
	}
	const gp::DescriptorPool *pool() override { return pool_.get(); }
	std::vector<std::string> services() override { return services_; }
	std::string              not_found(const std::string &symbol) override
	{
		if (!errors_.first.empty()) {
			return path_ + ": " + errors_.first;
		}
		return pool_not_found(symbol, path_);
	}

private:
	std::string                         path_;
	gp::SimpleDescriptorDatabase        db_;
	PoolErrors                          errors_;
	std::unique_ptr<gp::DescriptorPool> pool_;
	std::vector<std::string>            services_;
};

// Reflection: unary calls of the three methods; each request and reply
// is one length-delimited field 1 (repeated in replies).

std::string
encode_name(const std::string &name)
{
	std::string out;
	{
		gp::io::StringOutputStream raw(&out);
		gp::io::CodedOutputStream  cos(&raw);
		cos.WriteTag(0x0a);
		cos.WriteVarint32(static_cast<uint32_t>(name.size()));
		cos.WriteString(name);
	}
	return out;
}

// decode_repeated reads the field-1 values of a reply; false if malformed.
bool
decode_repeated(const void *data, size_t len, std::vector<std::string> *out)
{
	gp::io::CodedInputStream in(
	    static_cast<const uint8_t *>(data), static_cast<int>(len));
	for (;;) {
		uint32_t tag = in.ReadTag();
		if (tag == 0) {
			return in.CurrentPosition() == static_cast<int>(len);
		}
		if (tag == 0x0a) {
			uint32_t    n;
			std::string s;
			if (!in.ReadVarint32(&n) ||
			    !in.ReadString(&s, static_cast<int>(n))) {
				return false;
			}
			out->push_back(std::move(s));
		} else if (!gp::internal::WireFormatLite::SkipField(&in, tag)) {
			return false;
		}
	}
}

class ReflectionDb : public gp::DescriptorDatabase {
public:
	ReflectionDb(Conn &conn, const Options &o) : conn_(conn), opts_(o) {}

	// ask calls method with a name; the reply's fields in *out. false
	// (and last_ the reason) when the call failed.
	bool ask(const char *method, const std::string &name,
	    std::vector<std::string> *out, bool *not_found)
	{
		std::string    req = name.empty() ? "" : encode_name(name);
		drpc_call_opts co  = {};
		co.timeout_ms      = opts_.timeout_ms;
		void       *reply  = nullptr;
		size_t      n      = 0;
		drpc_status st     = {};
		drpc_err    rv = drpc_invoke(conn_.get(), nullptr, method,
		       req.data(), req.size(), &co, &reply, &n, &st);
		*not_found     = false;
		if (rv != DRPC_OK) {
			// A lost connection, the deadline of --timeout (ours or
			// the server's), a local failure: the lookup failed, which
			// says nothing of whether the server answers reflection.
			if (!st.remote || st.remote_code == DRPC_ETIMEDOUT ||
			    st.remote_code == DRPC_ECANCELED) {
				std::string line = status_line(st);
				Exit        e    = exit_for(st);
				drpc_status_reset(&st);
				fail(e, "asking the server's reflection service: " +
				            line);
			}
			*not_found = st.remote_code == 5;
			if (st.remote_code == 0 || st.remote_code == 12) {
				// Unimplemented (libdrpc's unknown method), or no code
				// at all (Go drpc's "unknown rpc"): no reflection here.
				unsupported_ = opts_.addr + " does not answer reflection (" +
				               status_line(st) +
				               "); give the .proto files with --proto, or "
				               "--descriptor-set";
			} else if (!*not_found) {
				// The service is there and refused: its own error, as
				// such. InvalidArgument is about what we asked for (a
				// name too long, say); anything else is the server's.
				std::string line = status_line(st);
				bool        bad  = st.remote_code == 3;
				drpc_status_reset(&st);
				if (bad) {
					fail(EXIT_USAGE,
					    "the server's reflection service refused \"" +
					        shorten(name) + "\": " + line);
				}
				fail(EXIT_REMOTE,
				    "the server's reflection service failed: " + line);
			}
			drpc_status_reset(&st);
			return false;
		}
		bool ok = decode_repeated(reply, n, out);
		drpc_free(reply);
		if (!ok) {
			unsupported_ = std::string("malformed reflection reply from ") +
			               method;
		}
		return ok;
	}

	// fetch asks method for name and caches the files of the answer;
	// *nf (if given) tells a NotFound answer.
	bool fetch(const char *method, const std::string &name,
	    gp::FileDescriptorProto *out, bool by_file, bool *nf = nullptr)
	{
		std::vector<std::string> blobs;
		bool                     not_found;
		if (!ask(method, name, &blobs, &not_found)) {
			if (nf != nullptr) {
				*nf = not_found;
			}
			return false;
		}
		for (const auto &b : blobs) {
			gp::FileDescriptorProto f;
			if (!f.ParseFromString(b)) {
				unsupported_ = "malformed descriptor from " + opts_.addr;
				return false;
			}
			gp::FileDescriptorProto have;
			if (!cache_.FindFileByName(f.name(), &have)) {
				if (++files_ > kMaxFiles) {
					unsupported_ = opts_.addr + ": reflection names "
					               "more than " +
					               std::to_string(kMaxFiles) +
					               " files (an endless chain of "
					               "imports?)";
					return false;
				}
				cache_.Add(f);
			}
		}
		return by_file ? cache_.FindFileByName(name, out)
		               : cache_.FindFileContainingSymbol(name, out);
	}

	bool FindFileByName(
	    const std::string &name, gp::FileDescriptorProto *out) override
	{
		return cache_.FindFileByName(name, out) ||
		       fetch(DRPC_REFLECT_FILE_BY_FILENAME, name, out, true);
	}
	// FindFileContainingSymbol asks for sym; if the server knows no such
	// symbol, for its parent, and so on up (as grpcurl does): the
	// reflection service knows messages, enums, services and methods,
	// and a field or an enum value ("pkg.Msg.field") is in its parent's
	// file. The pool then finds sym in that file, or not.
	bool FindFileContainingSymbol(
	    const std::string &sym, gp::FileDescriptorProto *out) override
	{
		std::string name = sym;
		for (;;) {
			bool nf = false;
			if (cache_.FindFileContainingSymbol(name, out) ||
			    fetch(DRPC_REFLECT_FILE_CONTAINING_SYMBOL, name, out,
			        false, &nf)) {
				return true;
			}
			size_t dot = name.rfind('.');
			if (!nf || dot == std::string::npos || dot == 0) {
				return false;
			}
			name.resize(dot);
		}
	}
	bool FindFileContainingExtension(
	    const std::string &, int, gp::FileDescriptorProto *) override
	{
		return false;
	}

	const std::string &unsupported() const { return unsupported_; }

private:
	// kMaxFiles bounds the files a server may hand over: the descriptor
	// pool builds a file's imports recursively, so a server answering
	// an endless chain of imports would otherwise overflow the stack.
	static constexpr size_t kMaxFiles = 1000;

	Conn                        &conn_;
	const Options               &opts_;
	gp::SimpleDescriptorDatabase cache_;
	size_t                       files_ = 0; // files in cache_
	std::string                  unsupported_;
};

class ReflectionSource : public Source {
public:
	ReflectionSource(Conn &conn, const Options &o)
	    : db_(conn, o), pool_(&db_, &errors_)
	{
	}
	const gp::DescriptorPool *pool() override { return &pool_; }
	std::vector<std::string> services() override
	{
		std::vector<std::string> v;
		bool                     nf;
		if (!db_.ask(DRPC_REFLECT_LIST_SERVICES, "", &v, &nf)) {
			fail(EXIT_USAGE, db_.unsupported());
		}
		return v;
	}
	std::string not_found(const std::string &symbol) override
	{
		if (!db_.unsupported().empty()) {
			return db_.unsupported();
		}
		if (!errors_.first.empty()) {
			return "the server's descriptors do not build: " +
			       errors_.first;
		}
		return "the server knows no symbol " + shorten(symbol) +
		       " (by reflection)";
	}

private:
	ReflectionDb       db_;
	PoolErrors         errors_;
	gp::DescriptorPool pool_;
};

} // namespace

std::unique_ptr<Source>
make_source(const Options &o, Conn &conn)
{
	if (!o.protos.empty() && !o.descriptor_set.empty()) {
		fail(EXIT_USAGE, "give --proto or --descriptor-set, not both");
	}
	if (!o.protos.empty()) {
		return std::unique_ptr<Source>(new ProtoSource(o));
	}
	if (!o.import_paths.empty()) {
		fail(EXIT_USAGE, "-I needs --proto");
	}
	if (!o.descriptor_set.empty()) {
		return std::unique_ptr<Source>(new SetSource(o.descriptor_set));
	}
	return std::unique_ptr<Source>(new ReflectionSource(conn, o));
}

} // namespace drpccli
