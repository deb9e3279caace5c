#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "commands.hpp"
#include "troupe/cli/json.hpp"
#include "troupe/cli/status_name.hpp"
#include "troupe/kv/v1/kv.grpc.pb.h"

namespace troupe::host {

namespace {

namespace v1 = troupe::kv::v1;
using cli::json_bytes_field;
using cli::json_string;

const char* usage_text =
  "usage: troupe kv COMMAND [options] [--] ARGS\n"
  "\n"
  "commands:\n"
  "  get KEY                 print the value and a newline (version on stderr with --verbose)\n"
  "  put KEY VALUE|-         store VALUE (- reads it from stdin); print the new version\n"
  "      [--if-version N]    only if the current version is N (0: only if absent)\n"
  "  delete KEY              print \"deleted\" or \"absent\"\n"
  "  scan [--prefix P] [--start-after K] [--limit N]\n"
  "                          print key<TAB>value<TAB>version per entry, in key order\n"
  "  multiget KEY...         the same line per key, in order; absent keys show\n"
  "                          an empty value and version 0\n"
  "\n"
  "options:\n"
  "  --target HOST:PORT      server (127.0.0.1:50051)\n"
  "  --deadline-ms N         deadline of the call (5000)\n"
  "  --json                  JSON lines instead: {\"key\",\"found\",\"value\",\"version\"};\n"
  "                          values that are not UTF-8 come as \"value_base64\"\n"
  "  --verbose               get: also print the version\n"
  "\n"
  "Values are printed as raw bytes: use --json when they may hold tabs or newlines.\n"
  "Arguments after -- are never flags (for keys or values starting with --).\n"
  "Exit: 0 OK; 1 a non-OK status, printed as \"NAME: message\" on stderr, or get of\n"
  "an absent key (\"NOT_FOUND: key ... not found\"); 2 usage error.\n";

int usage_error(const std::string& why) {
  std::fprintf(stderr, "troupe kv: %s (see troupe kv --help)\n", why.c_str());
  return 2;
}

struct kv_options {
  std::string target = "127.0.0.1:50051";
  std::uint64_t deadline_ms = 5000;
  bool json = false;
  bool verbose = false;
  std::optional<std::uint64_t> if_version;
  std::string prefix;
  std::string start_after;
  std::uint64_t limit = 0;
  std::vector<std::string> positional;
};

class kv_client {
public:
  explicit kv_client(const kv_options& o) : o_(o) {
    grpc::ChannelArguments args;
    // Multiget of many large values may exceed gRPC's 4 MiB default.
    args.SetMaxReceiveMessageSize(-1);
    stub_ = v1::KeyValue::NewStub(
      grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args));
  }

  void prepare(grpc::ClientContext& ctx) const {
    ctx.set_deadline(std::chrono::system_clock::now()
                     + std::chrono::milliseconds(o_.deadline_ms));
  }
  v1::KeyValue::Stub& stub() { return *stub_; }

private:
  const kv_options& o_;
  std::unique_ptr<v1::KeyValue::Stub> stub_;
};

int failed(const grpc::Status& st) {
  std::fprintf(stderr, "%s: %s\n", cli::status_code_name(st.error_code()),
               st.error_message().c_str());
  return 1;
}

void write_raw(const std::string& bytes) {
  std::fwrite(bytes.data(), 1, bytes.size(), stdout);
}

void print_entry(const kv_options& o, const std::string& key, bool found,
                 const std::string& value, std::uint64_t version) {
  if (o.json) {
    std::string line = "{\"key\":" + json_string(key) + ",\"found\":" + (found ? "true" : "false");
    if (found)
      line += "," + json_bytes_field("value", value) + ",\"version\":" + std::to_string(version);
    std::printf("%s}\n", line.c_str());
    return;
  }
  write_raw(key);
  std::fputc('\t', stdout);
  write_raw(value);
  std::printf("\t%llu\n", static_cast<unsigned long long>(found ? version : 0));
}

int kv_get(kv_client& c, const kv_options& o) {
  if (o.positional.size() != 1)
    return usage_error("get takes one KEY");
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::GetRequest req;
  req.set_key(o.positional[0]);
  v1::GetResponse resp;
  auto st = c.stub().Get(&ctx, req, &resp);
  if (!st.ok())
    return failed(st);
  if (o.json) {
    print_entry(o, req.key(), resp.found(), resp.value(), resp.version());
  } else if (resp.found()) {
    write_raw(resp.value());
    std::fputc('\n', stdout);
    if (o.verbose)
      std::fprintf(stderr, "version %llu\n", static_cast<unsigned long long>(resp.version()));
  }
  if (!resp.found()) {
    // The call succeeded, but a script asking for one key wants to know it
    // got nothing, as it would from a NOT_FOUND status.
    std::fprintf(stderr, "NOT_FOUND: key %s not found\n", json_string(req.key()).c_str());
    return 1;
  }
  return 0;
}

bool read_stdin(std::string& out) {
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0)
    out.append(buf, n);
  return !std::ferror(stdin);
}

int kv_put(kv_client& c, const kv_options& o) {
  if (o.positional.size() != 2)
    return usage_error("put takes KEY and VALUE (or - for stdin)");
  v1::PutRequest req;
  req.set_key(o.positional[0]);
  if (o.positional[1] == "-") {
    if (!read_stdin(*req.mutable_value())) {
      std::fprintf(stderr, "troupe kv: reading stdin: %s\n", std::strerror(errno));
      return 1;
    }
  } else {
    req.set_value(o.positional[1]);
  }
  if (o.if_version)
    req.set_if_version(*o.if_version);
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::PutResponse resp;
  auto st = c.stub().Put(&ctx, req, &resp);
  if (!st.ok())
    return failed(st);
  if (o.json)
    std::printf("{\"key\":%s,\"version\":%llu}\n", json_string(req.key()).c_str(),
                static_cast<unsigned long long>(resp.version()));
  else
    std::printf("%llu\n", static_cast<unsigned long long>(resp.version()));
  return 0;
}

int kv_delete(kv_client& c, const kv_options& o) {
  if (o.positional.size() != 1)
    return usage_error("delete takes one KEY");
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::DeleteRequest req;
  req.set_key(o.positional[0]);
  v1::DeleteResponse resp;
  auto st = c.stub().Delete(&ctx, req, &resp);
  if (!st.ok())
    return failed(st);
  if (o.json)
    std::printf("{\"key\":%s,\"existed\":%s}\n", json_string(req.key()).c_str(),
                resp.existed() ? "true" : "false");
  else
    std::printf("%s\n", resp.existed() ? "deleted" : "absent");
  return 0;
}

int kv_scan(kv_client& c, const kv_options& o) {
  if (!o.positional.empty())
    return usage_error("scan takes no arguments (use --prefix, --start-after, --limit)");
  v1::ScanRequest req;
  req.set_prefix(o.prefix);
  req.set_start_after(o.start_after);
  req.set_limit(static_cast<std::uint32_t>(o.limit));
  grpc::ClientContext ctx;
  c.prepare(ctx);
  auto reader = c.stub().Scan(&ctx, req);
  v1::Entry e;
  while (reader->Read(&e))
    print_entry(o, e.key(), true, e.value(), e.version());
  auto st = reader->Finish();
  std::fflush(stdout);
  return st.ok() ? 0 : failed(st);
}

int kv_multiget(kv_client& c, const kv_options& o) {
  if (o.positional.empty())
    return usage_error("multiget takes one or more KEYs");
  v1::MultiGetRequest req;
  for (auto& k : o.positional)
    req.add_keys(k);
  grpc::ClientContext ctx;
  c.prepare(ctx);
  v1::MultiGetResponse resp;
  auto st = c.stub().MultiGet(&ctx, req, &resp);
  if (!st.ok())
    return failed(st);
  for (auto& e : resp.entries())
    print_entry(o, e.key(), e.found(), e.value(), e.version());
  return 0;
}

} // namespace

// Exit codes: 0 OK, 1 non-OK status or get of an absent key, 2 usage.
int kv_command(const args& a) {
  // A one-shot client has nothing to drain: let Ctrl-C end it the usual way.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

  // After "--" every argument is positional, so keys and values may start with "--".
  auto dashdash = std::find(a.begin(), a.end(), "--");
  auto parsed = parse_flags(args(a.begin(), dashdash), {"--json", "--verbose", "--help"});
  if (dashdash != a.end())
    parsed.positional.insert(parsed.positional.end(), dashdash + 1, a.end());

  kv_options o;
  for (auto& [flag, value] : parsed.flags) {
    std::uint64_t n = 0;
    if (flag == "--help") {
      std::fputs(usage_text, stdout);
      return 0;
    } else if (flag == "--target" && !value.empty()) {
      o.target = value;
    } else if (flag == "--deadline-ms" && to_u64(value, n) && n > 0) {
      o.deadline_ms = n;
    } else if (flag == "--json") {
      o.json = value != "false";
    } else if (flag == "--verbose") {
      o.verbose = value != "false";
    } else if (flag == "--if-version" && to_u64(value, n)) {
      o.if_version = n;
    } else if (flag == "--prefix") {
      o.prefix = value;
    } else if (flag == "--start-after") {
      o.start_after = value;
    } else if (flag == "--limit" && to_u64(value, n) && n <= UINT32_MAX) {
      o.limit = n;
    } else if (flag == "--target" || flag == "--deadline-ms" || flag == "--if-version"
               || flag == "--limit") {
      return usage_error("bad value '" + value + "' for " + flag);
    } else {
      return usage_error("unknown flag " + flag);
    }
  }
  if (parsed.positional.empty())
    return usage_error("missing COMMAND");
  auto cmd = parsed.positional[0];
  o.positional.assign(parsed.positional.begin() + 1, parsed.positional.end());

  auto only_for = [&](const char* flag, const char* command) {
    for (auto& f : parsed.flags)
      if (f.first == flag && cmd != command)
        return false;
    return true;
  };
  if (!only_for("--if-version", "put"))
    return usage_error("--if-version applies to put only");
  for (auto* f : {"--prefix", "--start-after", "--limit"})
    if (!only_for(f, "scan"))
      return usage_error(std::string(f) + " applies to scan only");

  int (*run)(kv_client&, const kv_options&) = nullptr;
  if (cmd == "get")
    run = kv_get;
  else if (cmd == "put")
    run = kv_put;
  else if (cmd == "delete")
    run = kv_delete;
  else if (cmd == "scan")
    run = kv_scan;
  else if (cmd == "multiget")
    run = kv_multiget;
  else
    return usage_error("unknown command '" + cmd + "'");
  kv_client client(o);
  int rc = run(client, o);
  std::fflush(stdout);
  return rc;
}

} // namespace troupe::host
