// The deadline example through the real host: which of work, client
// deadline, client cancel and service timeout wins, and that the work that
// lost really stopped (Stats counts it cancelled, never finished).
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include "deadline/v1/deadline.grpc.pb.h"
#include "troupe/rt/testing/host_process.hpp"

namespace v1 = deadline::v1;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using troupe::rt::testing::host_process;

namespace {

grpc::Status compute(v1::SlowWork::Stub& stub, std::uint32_t work_ms,
                     std::chrono::milliseconds deadline, v1::ComputeReply& reply) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  v1::ComputeRequest req;
  req.set_work_ms(work_ms);
  return stub.Compute(&ctx, req, &reply);
}

v1::StatsReply stats(v1::SlowWork::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::StatsReply reply;
  REQUIRE(stub.Stats(&ctx, v1::StatsRequest{}, &reply).ok());
  return reply;
}

// The work notices it lost at its next step: poll a little, never sleep long.
v1::StatsReply stats_when(v1::SlowWork::Stub& stub, std::function<bool(const v1::StatsReply&)> ok) {
  auto until = clock_type::now() + 10s;
  auto s = stats(stub);
  while (!ok(s) && clock_type::now() < until) {
    std::this_thread::sleep_for(10ms);
    s = stats(stub);
  }
  return s;
}

bool settled(const v1::StatsReply& s) {
  return s.started() > 0 && s.finished() + s.cancelled() == s.started();
}

} // namespace

TEST_CASE("work that fits every deadline answers after all its steps") {
  host_process host{DEADLINE_BINARY};
  auto stub = v1::SlowWork::NewStub(host.channel());
  v1::ComputeReply reply;
  auto began = clock_type::now();
  REQUIRE(compute(*stub, 100, 10s, reply).ok());
  CHECK(clock_type::now() - began >= 100ms);
  CHECK(reply.steps() == 10);
  CHECK(reply.checksum() == 385); // 1 + 4 + ... + 100
  auto s = stats(*stub);
  CHECK(s.started() == 1);
  CHECK(s.finished() == 1);
  CHECK(s.cancelled() == 0);
}

TEST_CASE("a short client deadline ends DEADLINE_EXCEEDED and cancels the work") {
  host_process host{DEADLINE_BINARY};
  auto stub = v1::SlowWork::NewStub(host.channel());
  v1::ComputeReply reply;
  auto began = clock_type::now();
  auto status = compute(*stub, 60'000, 500ms, reply);
  CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(clock_type::now() - began < 5s);
  auto s = stats_when(*stub, settled);
  CHECK(s.started() == 1);
  CHECK(s.cancelled() == 1);
  CHECK(s.finished() == 0);
  CHECK(s.last_cancel_reason() == "deadline_exceeded");
}

TEST_CASE("a client cancel stops the work") {
  host_process host{DEADLINE_BINARY};
  auto stub = v1::SlowWork::NewStub(host.channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  v1::ComputeRequest req;
  req.set_work_ms(60'000);
  v1::ComputeReply reply;
  auto call = std::async(std::launch::async, [&] { return stub->Compute(&ctx, req, &reply); });
  // Cancel only once the work is under way, so it is the work that stops.
  REQUIRE(stats_when(*stub, [](const v1::StatsReply& s) { return s.started() == 1; }).started()
          == 1);
  ctx.TryCancel();
  CHECK(call.get().error_code() == grpc::StatusCode::CANCELLED);
  auto s = stats_when(*stub, settled);
  CHECK(s.cancelled() == 1);
  CHECK(s.finished() == 0);
  CHECK(s.last_cancel_reason() == "client_cancelled");
}

TEST_CASE("the service's own timeout ends the call with a status naming its config key") {
  host_process host{DEADLINE_BINARY, {"--deadline-work-timeout-ms", "1000"}};
  auto stub = v1::SlowWork::NewStub(host.channel());
  v1::ComputeReply reply;
  auto began = clock_type::now();
  auto status = compute(*stub, 60'000, 30s, reply);
  auto took = clock_type::now() - began;
  CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(status.error_message() == "work did not finish within 1000 ms (deadline.work_timeout_ms)");
  CHECK(took >= 1000ms);
  CHECK(took < 10s);
  auto s = stats_when(*stub, settled);
  CHECK(s.cancelled() == 1);
  CHECK(s.finished() == 0);
  CHECK(s.last_cancel_reason() == "deadline_exceeded");

  // Work shorter than the timeout still finishes.
  REQUIRE(compute(*stub, 50, 30s, reply).ok());
  CHECK(reply.steps() == 5);
  CHECK(stats(*stub).finished() == 1);
}

TEST_CASE("a Compute without work is refused, naming the field") {
  host_process host{DEADLINE_BINARY};
  auto stub = v1::SlowWork::NewStub(host.channel());
  v1::ComputeReply reply;
  auto status = compute(*stub, 0, 5s, reply);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message() == "work_ms: must be 1..600000");
}
