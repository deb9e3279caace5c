// The troupe binary as a user meets it: start-up, config, health,
// reflection and graceful shutdown, through a real gRPC client.

#include <catch2/catch.hpp>

#include <csignal>
#include <future>
#include <sstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "troupe/kv/v1/kv.grpc.pb.h"
#include "troupe_process.hpp"

using namespace std::chrono_literals;
using troupe::test::code_name;
using troupe::test::run_troupe;
using troupe::test::server_process;
namespace health = grpc::health::v1;
namespace kv = troupe::kv::v1;

namespace {

health::HealthCheckResponse::ServingStatus check(const std::shared_ptr<grpc::Channel>& ch,
                                                 const std::string& service,
                                                 grpc::Status* status_out = nullptr) {
  auto stub = health::Health::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  health::HealthCheckRequest req;
  req.set_service(service);
  health::HealthCheckResponse resp;
  auto st = stub->Check(&ctx, req, &resp);
  if (status_out)
    *status_out = st;
  return resp.status();
}

std::vector<std::string> list_services(const std::shared_ptr<grpc::Channel>& ch) {
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("*");
  REQUIRE(stream->Write(req));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  std::vector<std::string> names;
  while (stream->Read(&resp))
    for (auto& s : resp.list_services_response().service())
      names.push_back(s.name());
  REQUIRE(stream->Finish().ok());
  return names;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

grpc::Status slow_get(const std::shared_ptr<grpc::Channel>& ch, const std::string& key,
                      std::chrono::milliseconds deadline = 30s) {
  auto stub = kv::KeyValue::NewStub(ch);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  kv::GetRequest req;
  req.set_key(key);
  kv::GetResponse resp;
  return stub->Get(&ctx, req, &resp);
}

} // namespace

TEST_CASE("version prints the version", "[host]") {
  auto r = run_troupe({"version"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.rfind("troupe ", 0) == 0);
}

TEST_CASE("print-config shows each value with its source", "[host]") {
  auto r = run_troupe({"serve", "--print-config", "--log-level", "debug"},
                      {{"TROUPE_SERVER_SHUTDOWN_GRACE_MS", "1234"}});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("log.level = debug") != std::string::npos);
  CHECK(r.out.find("# flag (--log-level)") != std::string::npos);
  CHECK(r.out.find("server.shutdown_grace_ms = 1234") != std::string::npos);
  CHECK(r.out.find("# env (TROUPE_SERVER_SHUTDOWN_GRACE_MS)") != std::string::npos);
  CHECK(r.out.find("server.listen = 127.0.0.1:50051") != std::string::npos);
}

TEST_CASE("a bad config value stops start-up naming key and source", "[host]") {
  auto r = run_troupe({"serve"}, {{"TROUPE_RUNTIME_THREADS", "many"}});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("runtime.threads") != std::string::npos);
  CHECK(r.err.find("TROUPE_RUNTIME_THREADS") != std::string::npos);
  auto r2 = run_troupe({"serve", "--no-such-key", "1"});
  CHECK(r2.exit_code == 2);
  CHECK(r2.err.find("--no-such-key") != std::string::npos);
}

TEST_CASE("an address in use fails start-up with a clear message", "[host]") {
  server_process first({"--kv-backend", "memory"});
  auto r = run_troupe({"serve", "--server-listen", first.target(), "--kv-backend", "memory"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot listen on " + first.target()) != std::string::npos);
}

TEST_CASE("health reports SERVING overall and per service", "[host]") {
  server_process server({"--kv-backend", "memory"});
  auto ch = server.channel();
  CHECK(check(ch, "") == health::HealthCheckResponse::SERVING);
  CHECK(check(ch, "troupe.kv.v1.KeyValue") == health::HealthCheckResponse::SERVING);
  grpc::Status st;
  check(ch, "no.such.Service", &st);
  CHECK(code_name(st.error_code()) == std::string("NOT_FOUND"));

  auto probe = run_troupe({"health", "--target", server.target()});
  CHECK(probe.exit_code == 0);
  CHECK(probe.out == "SERVING\n");
  auto per_service = run_troupe(
    {"health", "--target", server.target(), "--service", "troupe.kv.v1.KeyValue"});
  CHECK(per_service.exit_code == 0);
}

TEST_CASE("health probe fails when nothing listens", "[host]") {
  auto r = run_troupe({"health", "--target", "127.0.0.1:1", "--deadline-ms", "500"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("UNAVAILABLE") != std::string::npos);
}

TEST_CASE("reflection lists the services", "[host]") {
  server_process server({"--kv-backend", "memory"});
  auto names = list_services(server.channel());
  CHECK(contains(names, "troupe.kv.v1.KeyValue"));
  CHECK(contains(names, "grpc.health.v1.Health"));
  CHECK(contains(names, "grpc.reflection.v1alpha.ServerReflection"));
}

TEST_CASE("the start-up line is JSON when log.format is json", "[host]") {
  server_process server({"--kv-backend", "memory", "--log-format", "json"});
  auto log = server.log();
  auto at = log.find("listening on");
  REQUIRE(at != std::string::npos);
  auto start = log.rfind('\n', at);
  start = start == std::string::npos ? 0 : start + 1;
  auto line = log.substr(start, log.find('\n', at) - start);
  CHECK(line.front() == '{');
  CHECK(line.back() == '}');
  CHECK(line.find("\"level\":\"info\"") != std::string::npos);
  CHECK(line.find("\"msg\":\"troupe ") != std::string::npos);
  // Every line is one object.
  std::istringstream lines(log);
  for (std::string l; std::getline(lines, l);)
    CHECK((l.front() == '{' && l.back() == '}'));
}

TEST_CASE("SIGTERM lets calls in flight finish, refuses new ones, exits 0", "[host][shutdown]") {
  server_process server({"--kv-backend", "memory", "--kv-latency-ms", "1500",
                         "--server-shutdown-grace-ms", "10000"});
  auto ch = server.channel();
  REQUIRE(check(ch, "") == health::HealthCheckResponse::SERVING);
  std::vector<std::future<grpc::Status>> calls;
  for (int i = 0; i < 50; ++i)
    calls.push_back(std::async(std::launch::async, [&, i] {
      return slow_get(ch, "k" + std::to_string(i));
    }));
  std::this_thread::sleep_for(500ms); // all 50 are now waiting on storage
  server.send_signal(SIGTERM);
  std::this_thread::sleep_for(200ms);

  // A new connection during the drain is refused.
  auto late = slow_get(server.channel(), "late", 2s);
  CHECK_FALSE(late.ok());
  CHECK(code_name(late.error_code()) == std::string("UNAVAILABLE"));

  int ok = 0;
  for (auto& c : calls) {
    auto st = c.get();
    if (st.ok())
      ++ok;
    else
      UNSCOPED_INFO(code_name(st.error_code()) << ": " << st.error_message());
  }
  CHECK(ok == 50);
  auto code = server.wait_exit(10s);
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(server.log().find("received SIGTERM") != std::string::npos);
}

TEST_CASE("after the grace period the rest is cancelled and the process exits",
          "[host][shutdown]") {
  server_process server({"--kv-backend", "memory", "--kv-latency-ms", "20000",
                         "--server-shutdown-grace-ms", "500"});
  auto ch = server.channel();
  std::vector<std::future<grpc::Status>> calls;
  for (int i = 0; i < 10; ++i)
    calls.push_back(std::async(std::launch::async, [&, i] {
      return slow_get(ch, "k" + std::to_string(i));
    }));
  std::this_thread::sleep_for(300ms);
  auto t0 = std::chrono::steady_clock::now();
  server.send_signal(SIGTERM);
  auto code = server.wait_exit(10s);
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(took < 3s);
  for (auto& c : calls) {
    auto st = c.get();
    CHECK_FALSE(st.ok());
  }
}

TEST_CASE("a second signal forces exit", "[host][shutdown]") {
  server_process server({"--kv-backend", "memory", "--kv-latency-ms", "20000",
                         "--server-shutdown-grace-ms", "60000"});
  auto ch = server.channel();
  auto call = std::async(std::launch::async, [&] { return slow_get(ch, "k"); });
  std::this_thread::sleep_for(300ms);
  server.send_signal(SIGINT);
  std::this_thread::sleep_for(300ms);
  CHECK(server.running());
  server.send_signal(SIGINT);
  auto code = server.wait_exit(5s);
  REQUIRE(code);
  CHECK(*code == 1);
  CHECK_FALSE(call.get().ok());
}

TEST_CASE("shutdown_delay_ms: NOT_SERVING at once, calls still served until the delay ends",
          "[host][shutdown]") {
  server_process server({"--kv-backend", "memory", "--server-shutdown-delay-ms", "1000"});
  auto ch = server.channel();
  REQUIRE(check(ch, "") == health::HealthCheckResponse::SERVING);
  server.send_signal(SIGTERM);
  std::this_thread::sleep_for(200ms);
  CHECK(check(ch, "") == health::HealthCheckResponse::NOT_SERVING);
  CHECK(slow_get(ch, "during-delay", 2s).ok());
  std::this_thread::sleep_for(1200ms);
  auto after = slow_get(ch, "after-delay", 2s);
  CHECK(code_name(after.error_code()) == std::string("UNAVAILABLE"));
  auto code = server.wait_exit(10s);
  REQUIRE(code);
  CHECK(*code == 0);
}
