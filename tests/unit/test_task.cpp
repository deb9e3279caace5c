#include <catch2/catch.hpp>

#include "support/test_system.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "troupe/rt/cancellation.hpp"
#include "troupe/rt/task.hpp"
#include "troupe/rt/timers.hpp"

using namespace std::chrono_literals;
using namespace troupe::rt;

namespace {

using troupe::test::test_system;

using clock_type = std::chrono::steady_clock;

std::chrono::milliseconds since(clock_type::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
}

// A task that waits (on a timer, not a thread) and then returns `value`, flagging
// `side_effect` right before completing.
task<int> sleepy(caf::actor_system& sys, std::chrono::milliseconds d, int value,
                 std::atomic<bool>* side_effect = nullptr, cancel_token token = {}) {
  return spawn_task<int>(
    sys,
    [d, value, side_effect](caf::event_based_actor* self, task_promise<int> p) {
      after(self, d, [p, value, side_effect] {
        if (side_effect)
          *side_effect = true;
        p.set_value(value);
      });
    },
    token);
}

task<int> failing(caf::actor_system& sys, std::chrono::milliseconds d, std::string what) {
  return spawn_task<int>(sys, [d, what](caf::event_based_actor* self, task_promise<int> p) {
    after(self, d, [p, what] { p.set_error(task_errc::failed, what); });
  });
}

} // namespace

TEST_CASE("a task's value reaches an awaiting actor without blocking it", "[task]") {
  std::promise<int> got;
  auto got_f = got.get_future();
  {
    test_system ts;
    auto t = sleepy(*ts.sys, 20ms, 7);
    ts.sys->spawn([&, t](caf::event_based_actor* self) {
      t.then(
        self,
        [&, self](const int& v) {
          got.set_value(v);
          self->quit();
        },
        [&, self](const task_error&) {
          got.set_value(-1);
          self->quit();
        });
    });
    REQUIRE(got_f.wait_for(10s) == std::future_status::ready);
  }
  CHECK(got_f.get() == 7);
}

TEST_CASE("await_blocking returns the value also when another thread completes it",
          "[task]") {
  test_system ts;
  SECTION("completed inside the body") {
    auto t = spawn_task<std::string>(
      *ts.sys, [](caf::event_based_actor*, task_promise<std::string> p) { p.set_value("hi"); });
    auto r = t.await_blocking(1s);
    REQUIRE(r);
    REQUIRE(r->ok());
    CHECK(r->value() == "hi");
  }
  SECTION("completed later by a foreign thread while the idle actor waits") {
    std::thread worker;
    auto t = spawn_task<int>(*ts.sys, [&](caf::event_based_actor*, task_promise<int> p) {
      worker = std::thread{[p] {
        std::this_thread::sleep_for(40ms);
        p.set_value(5);
      }};
    });
    auto r = t.await_blocking(1s);
    worker.join();
    REQUIRE(r);
    REQUIRE(r->ok());
    CHECK(r->value() == 5);
  }
}

TEST_CASE("a cancelled task's later side effects never happen", "[task]") {
  std::atomic<bool> side_effect{false};
  std::promise<cancel_token> body_token;
  auto body_token_f = body_token.get_future();
  {
    test_system ts;
    auto t = spawn_task<int>(*ts.sys, [&](caf::event_based_actor* self, task_promise<int> p) {
      body_token.set_value(p.token());
      after(self, 80ms, [&, p] {
        side_effect = true;
        p.set_value(1);
      });
    });
    REQUIRE(body_token_f.wait_for(10s) == std::future_status::ready);
    std::this_thread::sleep_for(10ms);
    t.cancel();
    auto r = t.await_blocking(1s);
    REQUIRE(r);
    REQUIRE_FALSE(r->ok());
    CHECK(r->error().code == task_errc::cancelled);
    CHECK(r->error().is_cancellation());
    // Well past the sleep's due time.
    std::this_thread::sleep_for(150ms);
  }
  CHECK_FALSE(side_effect.load());
  auto tok = body_token_f.get();
  CHECK(tok.cancelled());
  CHECK(tok.reason() == cancel_reason::client_cancelled);
}

TEST_CASE("cancellation stops a task even when its timer message is already queued", "[task]") {
  std::atomic<bool> side_effect{false};
  std::promise<void> started;
  auto started_f = started.get_future();
  {
    test_system ts;
    auto t = spawn_task<int>(*ts.sys, [&](caf::event_based_actor* self, task_promise<int> p) {
      after(self, 5ms, [&, p] {
        side_effect = true;
        p.set_value(1);
      });
      started.set_value();
      // Busy past the timer's due time: its message is queued when the
      // task gets cancelled from outside.
      std::this_thread::sleep_for(80ms);
    });
    REQUIRE(started_f.wait_for(10s) == std::future_status::ready);
    std::this_thread::sleep_for(30ms);
    t.cancel();
    auto r = t.await_blocking(1s);
    REQUIRE(r);
    CHECK_FALSE(r->ok());
  }
  CHECK_FALSE(side_effect.load());
}

TEST_CASE("a task follows the caller's cancel_token", "[task]") {
  std::atomic<bool> side_effect{false};
  test_system ts;
  SECTION("cancelled while running") {
    cancel_source caller;
    auto t = sleepy(*ts.sys, 100ms, 1, &side_effect, caller.token());
    std::this_thread::sleep_for(10ms);
    caller.cancel(cancel_reason::deadline_exceeded);
    auto r = t.await_blocking(1s);
    REQUIRE(r);
    REQUIRE_FALSE(r->ok());
    CHECK(r->error().code == task_errc::deadline_exceeded);
    std::this_thread::sleep_for(150ms);
    CHECK_FALSE(side_effect.load());
  }
  SECTION("already cancelled so the body never runs") {
    std::atomic<bool> ran{false};
    cancel_source caller;
    caller.cancel(cancel_reason::shutting_down);
    auto t = spawn_task<int>(
      *ts.sys,
      [&](caf::event_based_actor*, task_promise<int> p) {
        ran = true;
        p.set_value(1);
      },
      caller.token());
    auto r = t.await_blocking(1s);
    REQUIRE(r);
    REQUIRE_FALSE(r->ok());
    CHECK(r->error().code == task_errc::shutting_down);
    CHECK_FALSE(ran.load());
  }
  SECTION("finishing first leaves the token's later cancel harmless") {
    cancel_source caller;
    auto t = sleepy(*ts.sys, 5ms, 3, &side_effect, caller.token());
    auto r = t.await_blocking(1s);
    caller.cancel(cancel_reason::client_cancelled);
    REQUIRE(r);
    REQUIRE(r->ok());
    CHECK(r->value() == 3);
    CHECK(t.try_result()->ok());
  }
}

TEST_CASE("a throwing body fails its task with internal", "[task]") {
  test_system ts;
  auto t = spawn_task<int>(*ts.sys, [](caf::event_based_actor*, task_promise<int>) {
    throw std::runtime_error("boom");
  });
  auto r = t.await_blocking(1s);
  REQUIRE(r);
  REQUIRE_FALSE(r->ok());
  CHECK(r->error().code == task_errc::internal);
  CHECK(r->error().message.find("boom") != std::string::npos);
}

TEST_CASE("try_join returns the first error and cancels the slow siblings", "[task]") {
  std::atomic<bool> slow_a{false};
  std::atomic<bool> slow_c{false};
  std::atomic<int> deliveries{0};
  std::promise<task_error> got;
  auto got_f = got.get_future();
  auto t0 = clock_type::now();
  std::chrono::milliseconds error_after{0};
  std::vector<task<int>> tasks;
  {
    test_system ts;
    tasks = {sleepy(*ts.sys, 100ms, 1, &slow_a), failing(*ts.sys, 20ms, "first"),
             sleepy(*ts.sys, 150ms, 3, &slow_c), failing(*ts.sys, 60ms, "second")};
    ts.sys->spawn([&](caf::event_based_actor* self) {
      try_join(
        self, tasks,
        [&, self](std::vector<int>) {
          ++deliveries;
          self->quit();
        },
        [&, self](const task_error& e) {
          ++deliveries;
          error_after = since(t0);
          got.set_value(e);
          self->quit();
        });
    });
    REQUIRE(got_f.wait_for(10s) == std::future_status::ready);
    // Past every sibling's due time.
    std::this_thread::sleep_for(200ms);
  }
  auto e = got_f.get();
  CHECK(e.code == task_errc::failed);
  CHECK(e.message == "first");
  CHECK(error_after < 90ms);
  CHECK(deliveries.load() == 1);
  CHECK_FALSE(slow_a.load());
  CHECK_FALSE(slow_c.load());
  CHECK(tasks[0].try_result()->error().code == task_errc::cancelled);
  CHECK(tasks[2].try_result()->error().code == task_errc::cancelled);
  CHECK(tasks[3].try_result()->error().code == task_errc::cancelled);
}

TEST_CASE("try_join yields the values in input order when all succeed", "[task]") {
  std::promise<std::vector<int>> got;
  auto got_f = got.get_future();
  {
    test_system ts;
    std::vector<task<int>> tasks{sleepy(*ts.sys, 50ms, 10), sleepy(*ts.sys, 5ms, 20),
                                 sleepy(*ts.sys, 25ms, 30)};
    ts.sys->spawn([&, tasks](caf::event_based_actor* self) {
      try_join(
        self, tasks,
        [&, self](std::vector<int> vs) {
          got.set_value(std::move(vs));
          self->quit();
        },
        [&, self](const task_error&) {
          got.set_value({});
          self->quit();
        });
    });
    REQUIRE(got_f.wait_for(10s) == std::future_status::ready);
  }
  CHECK(got_f.get() == std::vector<int>{10, 20, 30});
}

TEST_CASE("try_join of nothing succeeds at once with no values", "[task]") {
  std::promise<std::optional<std::size_t>> got;
  auto got_f = got.get_future();
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      try_join(
        self, std::vector<task<int>>{},
        [&, self](std::vector<int> vs) {
          got.set_value(vs.size());
          self->quit();
        },
        [&, self](const task_error&) {
          got.set_value(std::nullopt);
          self->quit();
        });
    });
    REQUIRE(got_f.wait_for(10s) == std::future_status::ready);
  }
  CHECK(got_f.get() == std::optional<std::size_t>{0});
}

TEST_CASE("a task body may keep its own behavior until it completes", "[task]") {
  test_system ts;
  auto t = spawn_task<int>(*ts.sys, [](caf::event_based_actor* self, task_promise<int> p) {
    // Talks to itself through its own behavior, then completes from there.
    auto me = caf::actor_cast<caf::actor>(self);
    after(self, 10ms, [self, me] { self->send(me, 41); });
    return caf::behavior{[p](int x) { p.set_value(x + 1); }};
  });
  auto r = t.await_blocking(1s);
  REQUIRE(r);
  REQUIRE(r->ok());
  CHECK(r->value() == 42);
}

TEST_CASE("make_task: a promise every copy of which is dropped fails its task at once",
          "[task]") {
  auto [t, promise] = make_task<int>();
  {
    auto copy = promise; // copies share one fate
    promise = task_promise<int>{};
  }
  auto r = t.try_result();
  REQUIRE(r);
  REQUIRE_FALSE(r->ok());
  CHECK(r->error().code == task_errc::internal);
  CHECK(r->error().message.find("dropped") != std::string::npos);
}

TEST_CASE("make_task: the parent's cancellation ends the task and the promise's token", "[task]") {
  cancel_source parent;
  auto [t, promise] = make_task<int>(parent.token());
  CHECK_FALSE(promise.token().cancelled());
  parent.cancel(cancel_reason::deadline_exceeded);
  CHECK(promise.token().cancelled());
  auto r = t.try_result();
  REQUIRE(r);
  CHECK(r->error().code == task_errc::deadline_exceeded);
  CHECK_FALSE(promise.set_value(1)); // too late
  CHECK(status_of(r->error()).code == status_code::deadline_exceeded);
}

TEST_CASE("status_of: the status a task failed with, or what its failure means for a call",
          "[task]") {
  CHECK(status_of(task_error{task_errc::failed, "x",
                             call_status::of(status_code::not_found, "gone")})
          .code == status_code::not_found);
  CHECK(status_of(task_error{task_errc::shutting_down, "x"}).code == status_code::unavailable);
  CHECK(status_of(task_error{task_errc::cancelled, "x"}).code == status_code::cancelled);
  auto internal = status_of(task_error{task_errc::internal, "broke"});
  CHECK(internal.code == status_code::internal);
  CHECK(internal.message == "broke");
}
