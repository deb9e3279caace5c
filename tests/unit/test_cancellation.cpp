#include <catch2/catch.hpp>

#include "support/test_latch.hpp"

#include "troupe/rt/cancellation.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using troupe::rt::cancel_reason;
using troupe::rt::cancel_registration;
using troupe::rt::cancel_source;
using troupe::rt::cancel_token;
using troupe::rt::deadline;

namespace {

using troupe::test::test_latch;

} // namespace

TEST_CASE("cancel_reason names are distinct and never null", "[cancellation]") {
  std::set<std::string> names;
  for (auto r : {cancel_reason::none, cancel_reason::client_cancelled,
                 cancel_reason::deadline_exceeded, cancel_reason::shutting_down}) {
    REQUIRE(to_string(r) != nullptr);
    names.insert(to_string(r));
  }
  CHECK(names.size() == 4);
  CHECK(std::strcmp(to_string(cancel_reason::deadline_exceeded), "deadline_exceeded") == 0);
  CHECK(to_string(static_cast<cancel_reason>(99)) != nullptr);
}

TEST_CASE("a default-constructed token is never cancelled", "[cancellation]") {
  cancel_token tok;
  CHECK_FALSE(tok.cancelled());
  CHECK_FALSE(tok.can_be_cancelled());
  CHECK(tok.reason() == cancel_reason::none);
  int calls = 0;
  auto reg = tok.on_cancel([&](cancel_reason) { ++calls; });
  CHECK_FALSE(reg.active());
  CHECK(calls == 0);
}

TEST_CASE("cancel is idempotent and the first reason wins", "[cancellation]") {
  cancel_source src;
  auto tok = src.token();
  auto copy = tok;
  CHECK(tok.can_be_cancelled());
  CHECK_FALSE(tok.cancelled());
  CHECK_FALSE(src.cancel(cancel_reason::none));
  CHECK_FALSE(tok.cancelled());

  CHECK(src.cancel(cancel_reason::client_cancelled));
  CHECK_FALSE(src.cancel(cancel_reason::shutting_down));
  CHECK_FALSE(cancel_source{src}.cancel(cancel_reason::deadline_exceeded));

  CHECK(tok.cancelled());
  CHECK(copy.cancelled());
  CHECK(src.token().reason() == cancel_reason::client_cancelled);
  CHECK(copy.reason() == cancel_reason::client_cancelled);
}

TEST_CASE("callbacks registered before cancel run exactly once, in order, with the reason",
          "[cancellation]") {
  cancel_source src;
  auto tok = src.token();
  std::vector<int> order;
  std::vector<cancel_reason> seen;
  auto a = tok.on_cancel([&](cancel_reason r) {
    order.push_back(1);
    seen.push_back(r);
  });
  auto b = tok.on_cancel([&](cancel_reason r) {
    order.push_back(2);
    seen.push_back(r);
  });
  CHECK(a.active());
  CHECK(order.empty());

  src.cancel(cancel_reason::deadline_exceeded);
  src.cancel(cancel_reason::shutting_down);
  REQUIRE(order == std::vector<int>{1, 2});
  CHECK(seen == std::vector<cancel_reason>{cancel_reason::deadline_exceeded,
                                           cancel_reason::deadline_exceeded});
  a.reset();
  b.reset();
  CHECK(order.size() == 2);
}

TEST_CASE("on_cancel after cancellation runs immediately on the caller's thread",
          "[cancellation]") {
  cancel_source src;
  std::thread([&] { src.cancel(cancel_reason::shutting_down); }).join();
  std::thread::id ran_on;
  cancel_reason got = cancel_reason::none;
  auto reg = src.token().on_cancel([&](cancel_reason r) {
    ran_on = std::this_thread::get_id();
    got = r;
  });
  CHECK(ran_on == std::this_thread::get_id());
  CHECK(got == cancel_reason::shutting_down);
  CHECK_FALSE(reg.active());
}

TEST_CASE("destroying or moving a registration controls deregistration", "[cancellation]") {
  cancel_source src;
  auto tok = src.token();
  int dropped = 0;
  int moved = 0;
  {
    auto reg = tok.on_cancel([&](cancel_reason) { ++dropped; });
  }
  auto first = tok.on_cancel([&](cancel_reason) { ++moved; });
  cancel_registration second{std::move(first)};
  CHECK_FALSE(first.active());
  CHECK(second.active());
  first.reset(); // a moved-from handle must not deregister the callback
  cancel_registration third;
  third = std::move(second);

  src.cancel(cancel_reason::client_cancelled);
  CHECK(dropped == 0);
  CHECK(moved == 1);
}

TEST_CASE("callbacks run outside the internal lock", "[cancellation]") {
  // Each of these re-enters the state from inside a callback; with the lock
  // held the cancelling thread would deadlock on itself.
  cancel_source src;
  auto tok = src.token();
  bool nested_ran = false;
  bool second_cancel = true;
  cancel_registration nested;
  cancel_registration late;
  auto reg = tok.on_cancel([&](cancel_reason) {
    CHECK(tok.cancelled());
    second_cancel = src.cancel(cancel_reason::shutting_down);
    nested = tok.on_cancel([&](cancel_reason) { nested_ran = true; });
    late.reset();
  });
  late = tok.on_cancel([](cancel_reason) {});
  CHECK(src.cancel(cancel_reason::client_cancelled));
  CHECK(nested_ran);
  CHECK_FALSE(second_cancel);
}

TEST_CASE("a callback may destroy its own registration", "[cancellation]") {
  cancel_source src;
  int calls = 0;
  cancel_registration self;
  self = src.token().on_cancel([&](cancel_reason) {
    ++calls;
    self.reset();
  });
  src.cancel(cancel_reason::client_cancelled);
  CHECK(calls == 1);
  CHECK_FALSE(self.active());
}

TEST_CASE("deregistering while the callback runs on another thread waits for it",
          "[cancellation]") {
  cancel_source src;
  test_latch started{1};
  test_latch release{1};
  std::atomic<bool> finished{false};
  auto reg = src.token().on_cancel([&](cancel_reason) {
    started.count_down();
    release.wait_for(5s);
    finished = true;
  });
  std::thread canceller([&] { src.cancel(cancel_reason::shutting_down); });
  REQUIRE(started.wait_for(2s));
  // The delay only gives a broken reset() time to return early; a correct
  // one passes however long it takes.
  std::thread opener([&] {
    std::this_thread::sleep_for(50ms);
    release.count_down();
  });
  reg.reset();
  CHECK(finished.load());
  canceller.join();
  opener.join();
}

TEST_CASE("registration and deregistration race safely with cancel", "[cancellation]") {
  constexpr int rounds = 2000;
  constexpr int regs = 32;
  int violations = 0;
  for (int round = 0; round < rounds; ++round) {
    cancel_source src;
    auto tok = src.token();
    std::vector<std::atomic<int>> runs(regs);
    std::vector<std::atomic<bool>> dead(regs);
    std::atomic<int> bad{0};
    test_latch go{1};
    std::thread canceller([&] {
      go.wait_for(2s);
      src.cancel(cancel_reason::shutting_down);
    });
    std::vector<cancel_registration> kept;
    for (int i = 0; i < regs; ++i) {
      if (i == regs / 4)
        go.count_down();
      auto reg = tok.on_cancel([&, i](cancel_reason r) {
        if (dead[i].load() || r != cancel_reason::shutting_down)
          ++bad;
        ++runs[i];
      });
      if (i % 2 == 1) {
        reg.reset();
        dead[i] = true; // from here on, the callback must never start
      } else {
        kept.push_back(std::move(reg));
      }
    }
    canceller.join();
    for (int i = 0; i < regs; ++i) {
      if (runs[i].load() > 1)
        ++violations;
      if (i % 2 == 0 && runs[i].load() != 1)
        ++violations;
    }
    violations += bad.load();
  }
  CHECK(violations == 0);
}

TEST_CASE("concurrent cancels: exactly one wins and callbacks run once", "[cancellation]") {
  for (int round = 0; round < 200; ++round) {
    cancel_source src;
    std::atomic<int> calls{0};
    auto reg = src.token().on_cancel([&](cancel_reason) { ++calls; });
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
        if (src.cancel(cancel_reason::client_cancelled))
          ++winners;
      });
    for (auto& t : threads)
      t.join();
    REQUIRE(winners.load() == 1);
    REQUIRE(calls.load() == 1);
  }
}

TEST_CASE("a child source follows its parent but not the other way round", "[cancellation]") {
  SECTION("parent cancel propagates with the parent's reason") {
    cancel_source parent;
    auto child = cancel_source::child_of(parent.token());
    auto grandchild = cancel_source::child_of(child.token());
    int child_calls = 0;
    auto reg = child.token().on_cancel([&](cancel_reason) { ++child_calls; });
    parent.cancel(cancel_reason::shutting_down);
    CHECK(child.token().reason() == cancel_reason::shutting_down);
    CHECK(grandchild.token().reason() == cancel_reason::shutting_down);
    CHECK(child_calls == 1);
  }
  SECTION("child cancel leaves the parent alone") {
    cancel_source parent;
    auto child = cancel_source::child_of(parent.token());
    CHECK(child.cancel(cancel_reason::client_cancelled));
    CHECK_FALSE(parent.cancelled());
    parent.cancel(cancel_reason::shutting_down);
    CHECK(child.reason() == cancel_reason::client_cancelled);
  }
  SECTION("child of an already cancelled parent starts cancelled") {
    cancel_source parent;
    parent.cancel(cancel_reason::deadline_exceeded);
    auto child = cancel_source::child_of(parent.token());
    CHECK(child.reason() == cancel_reason::deadline_exceeded);
  }
  SECTION("child of a default token is independent") {
    auto child = cancel_source::child_of(cancel_token{});
    CHECK_FALSE(child.cancelled());
    CHECK(child.cancel(cancel_reason::client_cancelled));
  }
}

TEST_CASE("deadline arithmetic with injected clocks", "[cancellation][deadline]") {
  using clock = deadline::clock;
  const auto t0 = clock::time_point{} + 1h;

  SECTION("after") {
    auto d = deadline::after(50ms, t0);
    CHECK_FALSE(d.is_never());
    CHECK_FALSE(d.expired(t0));
    CHECK_FALSE(d.expired(t0 + 49ms));
    CHECK(d.expired(t0 + 50ms));
    CHECK(d.remaining(t0 + 20ms) == 30ms);
    CHECK(d.remaining(t0 + 60ms) == clock::duration::zero());
    CHECK(deadline::after(0ms, t0).expired(t0));
    CHECK(deadline::after(-5ms, t0).expired(t0));
    CHECK(deadline::after(std::chrono::duration<double, std::milli>(1.5), t0).when
          == t0 + 1500us);
  }
  SECTION("never and saturation") {
    auto n = deadline::never();
    CHECK(n.is_never());
    CHECK(deadline{}.is_never());
    CHECK_FALSE(n.expired(clock::time_point::max()));
    CHECK(n.remaining(t0) == clock::duration::max());
    CHECK(deadline::after(std::chrono::hours::max(), t0).is_never());
    CHECK(deadline::after(std::chrono::duration<double>(1e300), t0).is_never());
  }
  SECTION("ordering") {
    auto a = deadline::after(10ms, t0);
    auto b = deadline::after(20ms, t0);
    CHECK(a < b);
    CHECK(deadline::earliest(b, a) == a);
    CHECK(deadline::earliest(deadline::never(), b) == b);
  }
  SECTION("real clock") {
    CHECK_FALSE(deadline::after(1h).expired());
    CHECK(deadline::after(-1ms).expired());
  }
}

TEST_CASE("deadline conversion from gRPC's system_clock deadlines", "[cancellation][deadline]") {
  using sys = std::chrono::system_clock;
  const auto t0 = deadline::clock::time_point{} + 1h;
  const auto s0 = sys::time_point{} + std::chrono::hours(24 * 365 * 50);

  CHECK(deadline::from_system(sys::time_point::max(), t0, s0).is_never());
  CHECK(deadline::from_system(sys::time_point::max()).is_never());

  auto d = deadline::from_system(s0 + 2s, t0, s0);
  CHECK(d.when == t0 + 2s);
  CHECK(d.to_system(t0, s0) == s0 + 2s);
  CHECK(deadline::from_system(s0 - 1s, t0, s0).expired(t0));
  CHECK(deadline::from_system(sys::time_point::min(), t0, s0).expired(t0));
  CHECK(deadline::never().to_system(t0, s0) == sys::time_point::max());

  auto real = deadline::from_system(sys::now() + 10s);
  CHECK(real.remaining() > 9s);
  CHECK(real.remaining() <= 10s);
}
