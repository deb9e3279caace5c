// Rate limits through the real binary: calls over a limit end with
// RESOURCE_EXHAUSTED and a pushback that is long enough and not longer.

#include <catch2/catch.hpp>

#include <thread>

#include "troupe/kv/v1/kv.grpc.pb.h"
#include "troupe_process.hpp"

using namespace std::chrono_literals;
using troupe::test::code_name;
using troupe::test::server_process;
namespace kv = troupe::kv::v1;

namespace {

struct outcome {
  grpc::StatusCode code;
  std::string message;
  long pushback_ms = -1;
};

outcome get(kv::KeyValue::Stub& stub, const std::string& key) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  kv::GetRequest req;
  req.set_key(key);
  kv::GetResponse resp;
  auto st = stub.Get(&ctx, req, &resp);
  outcome o{st.error_code(), st.error_message()};
  auto& trailers = ctx.GetServerTrailingMetadata();
  auto it = trailers.find("grpc-retry-pushback-ms");
  if (it != trailers.end())
    o.pushback_ms = std::stol(std::string(it->second.data(), it->second.size()));
  return o;
}

} // namespace

TEST_CASE("a method over its rate limit is told when to retry", "[limits]") {
  server_process server({"--kv-backend", "memory", "--limits-method-rps", "20",
                         "--limits-method-burst", "5"});
  auto stub = kv::KeyValue::NewStub(server.channel());
  int ok = 0;
  std::vector<outcome> refused;
  for (int i = 0; i < 30; ++i) {
    auto o = get(*stub, "k");
    if (o.code == grpc::StatusCode::OK)
      ++ok;
    else
      refused.push_back(o);
  }
  // The burst, plus what refilled at 20/s while the loop ran.
  CHECK(ok >= 5);
  CHECK(ok <= 12);
  REQUIRE_FALSE(refused.empty());
  for (auto& o : refused) {
    CHECK(code_name(o.code) == std::string("RESOURCE_EXHAUSTED"));
    CHECK(o.message.find("limits.method_rps") != std::string::npos);
    // One token takes 50 ms at 20/s.
    CHECK(o.pushback_ms >= 1);
    CHECK(o.pushback_ms <= 50);
  }
  // Waiting as told is enough.
  std::this_thread::sleep_for(std::chrono::milliseconds(refused.back().pushback_ms + 5));
  CHECK(get(*stub, "k").code == grpc::StatusCode::OK);
}

TEST_CASE("per-peer limits apply per client address", "[limits]") {
  server_process server({"--kv-backend", "memory", "--limits-peer-rps", "1",
                         "--limits-peer-burst", "3"});
  // Two connections from the same address share one bucket.
  auto a = kv::KeyValue::NewStub(server.channel());
  auto b = kv::KeyValue::NewStub(server.channel());
  int ok = 0;
  for (int i = 0; i < 4; ++i) {
    ok += get(*a, "k").code == grpc::StatusCode::OK;
    ok += get(*b, "k").code == grpc::StatusCode::OK;
  }
  CHECK(ok == 3);
  auto refused = get(*a, "k");
  CHECK(code_name(refused.code) == std::string("RESOURCE_EXHAUSTED"));
  CHECK(refused.pushback_ms > 500);
  CHECK(refused.pushback_ms <= 1000);
}

TEST_CASE("without limits nothing is refused", "[limits]") {
  server_process server({"--kv-backend", "memory"});
  auto stub = kv::KeyValue::NewStub(server.channel());
  for (int i = 0; i < 200; ++i)
    REQUIRE(get(*stub, "k").code == grpc::StatusCode::OK);
}
