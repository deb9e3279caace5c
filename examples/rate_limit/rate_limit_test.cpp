// The rate limit through the real host. Token buckets are exact: a bucket of
// burst B refilling R per second grants at most B + R * t calls within t
// seconds, so the counts below are bounds that hold however slow the
// machine is, and equal the burst whenever the calls take under a second.
#include <catch2/catch.hpp>

#include <thread>

#include "rate_limit/v1/rate_limit.grpc.pb.h"
#include "troupe/rt/testing/host_process.hpp"

namespace v1 = rate_limit::v1;
using troupe::rt::testing::host_process;
using std::chrono::milliseconds;

namespace {

struct sent {
  grpc::Status status;
  v1::SendReply reply;
  long pushback_ms = -1; // grpc-retry-pushback-ms, when the server sent it
};

sent send(v1::Messages::Stub& stub, const std::string& user) {
  grpc::ClientContext ctx;
  v1::SendRequest req;
  req.set_user(user);
  req.set_text("hi");
  sent s;
  s.status = stub.Send(&ctx, req, &s.reply);
  const auto& trailers = ctx.GetServerTrailingMetadata();
  if (auto it = trailers.find("grpc-retry-pushback-ms"); it != trailers.end())
    s.pushback_ms = std::stol(std::string(it->second.data(), it->second.size()));
  return s;
}

struct until_refused {
  int accepted = 0;
  sent refused;
  double seconds = 0; // from before the first call to after the refused one
};

/// Sends, call i as user_of(i), until a call is refused (at most 20).
template <class UserOf>
until_refused send_until_refused(v1::Messages::Stub& stub, UserOf user_of) {
  until_refused r;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    auto s = send(stub, user_of(i));
    if (!s.status.ok()) {
      r.refused = s;
      break;
    }
    ++r.accepted;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

} // namespace

TEST_CASE("a user gets its burst, then RESOURCE_EXHAUSTED naming the limit, with a pushback") {
  host_process host{RATE_LIMIT_BINARY,
                    {"--rate-limit-user-rps", "1", "--rate-limit-user-burst", "3"}};
  auto stub = v1::Messages::NewStub(host.channel());

  auto ada = send_until_refused(*stub, [](int) { return "ada"; });
  CHECK(ada.accepted >= 3);
  CHECK(ada.accepted <= 3 + static_cast<int>(ada.seconds)); // 3 when under a second
  CHECK(ada.refused.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(ada.refused.status.error_message()
        == "user 'ada' is over its limit of 1 messages per second, bursts of 3 "
           "(rate_limit.user_rps, rate_limit.user_burst)");
  // The time until the next token: at most one token's worth at 1 per second.
  CHECK(ada.refused.pushback_ms > 0);
  CHECK(ada.refused.pushback_ms <= 1000);

  SECTION("other users are unaffected") {
    auto bob = send_until_refused(*stub, [](int) { return "bob"; });
    CHECK(bob.accepted >= 3);
    CHECK(bob.accepted <= 3 + static_cast<int>(bob.seconds));
  }

  SECTION("after the pushback the user is let in again, and refused calls were never counted") {
    std::this_thread::sleep_for(milliseconds(ada.refused.pushback_ms));
    auto again = send(*stub, "ada");
    REQUIRE(again.status.ok());
    // The outbox saw only the accepted calls.
    CHECK(again.reply.sent() == static_cast<std::uint64_t>(ada.accepted) + 1);
  }
}

TEST_CASE("the host's own limits.method_rps applies to every user of the method") {
  // The service's per-user limit is generous; the host-wide one is not.
  host_process host{RATE_LIMIT_BINARY, {"--limits-method-rps", "1", "--limits-method-burst", "2"}};
  auto stub = v1::Messages::NewStub(host.channel());
  // A different user each time: only the host's limit can refuse.
  auto r = send_until_refused(*stub, [](int i) { return "user-" + std::to_string(i); });
  CHECK(r.accepted >= 2);
  CHECK(r.accepted <= 2 + static_cast<int>(r.seconds));
  CHECK(r.refused.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(r.refused.status.error_message() == "rate limit exceeded (limits.method_rps)");
  CHECK(r.refused.pushback_ms > 0);
  CHECK(r.refused.pushback_ms <= 1000);
}

TEST_CASE("a request without a user is refused, naming the field") {
  host_process host{RATE_LIMIT_BINARY};
  auto stub = v1::Messages::NewStub(host.channel());
  grpc::ClientContext ctx;
  v1::SendReply reply;
  auto status = stub->Send(&ctx, v1::SendRequest{}, &reply);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message() == "user: must not be empty");
}
