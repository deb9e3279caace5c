#include <catch2/catch.hpp>

#include "support/test_system.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "troupe/rt/timers.hpp"

using namespace std::chrono_literals;
using namespace troupe::rt;

namespace {

using troupe::test::test_system;

using ping_atom = caf::atom_constant<caf::atom("tt_ping")>;

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds since(clock_type::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
}

} // namespace

TEST_CASE("after runs its callback once and no earlier than the delay", "[timers]") {
  std::atomic<int> fired{0};
  std::promise<std::chrono::milliseconds> first;
  auto first_f = first.get_future();
  auto t0 = clock_type::now();
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      after(self, 40ms, [&] {
        if (fired.fetch_add(1) == 0)
          first.set_value(since(t0));
      });
      // Stay around well past the due time to see a second firing if any.
      after(self, 150ms, [self] { self->quit(); });
    });
    REQUIRE(first_f.wait_for(10s) == std::future_status::ready);
  }
  CHECK(first_f.get() >= 40ms);
  CHECK(fired.load() == 1);
}

TEST_CASE("at runs its callback at the given time, or at once when it has passed",
          "[timers]") {
  std::promise<std::chrono::milliseconds> future_due;
  std::promise<std::chrono::milliseconds> past_due;
  auto future_f = future_due.get_future();
  auto past_f = past_due.get_future();
  auto t0 = clock_type::now();
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      auto now = self->clock().now();
      at(self, now + 60ms, [&, self] {
        future_due.set_value(since(t0));
        self->quit();
      });
      at(self, now - 1h, [&] { past_due.set_value(since(t0)); });
    });
    REQUIRE(future_f.wait_for(10s) == std::future_status::ready);
  }
  CHECK(future_f.get() >= 60ms);
  REQUIRE(past_f.wait_for(0s) == std::future_status::ready);
  CHECK(past_f.get() < 60ms);
}

TEST_CASE("a cancelled timer never fires", "[timers]") {
  std::atomic<int> fired{0};
  std::atomic<bool> was_active{false};
  std::atomic<bool> still_active{true};
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      auto h = after(self, 30ms, [&] { ++fired; });
      was_active = h.active();
      h.cancel();
      still_active = h.active();
      after(self, 120ms, [self] { self->quit(); });
    });
  }
  CHECK(was_active.load());
  CHECK_FALSE(still_active.load());
  CHECK(fired.load() == 0);
}

TEST_CASE("cancel wins even when the timeout already waits in the mailbox", "[timers]") {
  std::atomic<int> fired{0};
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      auto h = after(self, 10ms, [&] { ++fired; });
      // Hold the actor busy past the due time so the clock has already
      // delivered the timeout when cancel() runs.
      std::this_thread::sleep_for(60ms);
      h.cancel();
      after(self, 80ms, [self] { self->quit(); });
    });
  }
  CHECK(fired.load() == 0);
}

TEST_CASE("after lets the actor handle other messages while it waits", "[timers]") {
  std::atomic<int> pings{0};
  std::atomic<int> pings_at_wake{-1};
  std::promise<void> started;
  auto started_f = started.get_future();
  auto t0 = clock_type::now();
  std::chrono::milliseconds woke_after{0};
  {
    test_system ts;
    auto a = ts.sys->spawn([&](caf::event_based_actor* self) -> caf::behavior {
      after(self, 120ms, [&, self] {
        woke_after = since(t0);
        pings_at_wake = pings.load();
        self->quit();
      });
      started.set_value();
      return {
        [&](ping_atom) { ++pings; },
      };
    });
    REQUIRE(started_f.wait_for(10s) == std::future_status::ready);
    for (int i = 0; i < 3; ++i)
      caf::anon_send(a, ping_atom::value);
  }
  CHECK(pings_at_wake.load() == 3);
  CHECK(woke_after >= 120ms);
}

TEST_CASE("timers fire whatever behavior the actor has installed", "[timers]") {
  std::atomic<int> fired{0};
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) -> caf::behavior {
      after(self, 20ms, [&, self] {
        ++fired;
        self->quit();
      });
      // A behavior that handles nothing the timer could be confused with.
      self->become([](int) {});
      return {};
    });
  }
  CHECK(fired.load() == 1);
}

TEST_CASE("pending timers do not keep a quitting actor alive", "[timers]") {
  std::atomic<int> fired{0};
  auto t0 = clock_type::now();
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      after(self, 500ms, [&] { ++fired; });
      at(self, self->clock().now() + 5ms, [&] { ++fired; });
      self->quit();
    });
  }
  CHECK(fired.load() == 0);
  CHECK(since(t0) < 400ms);
}

TEST_CASE("actor_callback runs in the actor when posted from another thread", "[timers]") {
  std::atomic<int> runs{0};
  std::promise<actor_callback> made;
  auto made_f = made.get_future();
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      made.set_value(make_actor_callback(self, [&, self] {
        ++runs;
        self->quit();
      }));
    });
    REQUIRE(made_f.wait_for(10s) == std::future_status::ready);
    auto cb = made_f.get();
    std::thread poster{[cb] {
      CHECK(cb.post());
      cb.post(); // a second post finds no handler and is dropped
    }};
    poster.join();
  }
  CHECK(runs.load() == 1);
}
