#include <catch2/catch.hpp>

#include "support/test_system.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "troupe/rt/cancellation.hpp"
#include "troupe/rt/select.hpp"
#include "troupe/rt/timers.hpp"

using namespace std::chrono_literals;
using namespace troupe::rt;

namespace {

using troupe::test::test_system;

// What the work saw, filled from whatever thread the work ran on.
struct work_probe {
  std::atomic<bool> started{false};
  std::atomic<cancel_reason> cancelled_with{cancel_reason::none};
  std::atomic<int> late_offer_won{-1}; // 1 if a late value still won
  cancel_registration reg;
};

// Work that completes from its own thread after `d` unless cancelled first.
struct threaded_work {
  std::shared_ptr<work_probe> probe;
  std::chrono::milliseconds d;
  std::vector<std::thread>* threads;
  std::mutex* threads_mtx;

  void operator()(cancel_token tok, completer<int> complete) const {
    probe->started = true;
    auto p = probe;
    p->reg = tok.on_cancel([p](cancel_reason r) { p->cancelled_with = r; });
    std::lock_guard<std::mutex> lk(*threads_mtx);
    threads->emplace_back([p, complete, d = d] {
      std::this_thread::sleep_for(d);
      p->late_offer_won = complete(99) ? 1 : 0;
    });
  }
};

// Joined while the actor system still exists: the threads hold completers.
void join_all_threads(std::vector<std::thread>& threads) {
  for (auto& t : threads)
    t.join();
  threads.clear();
}

struct race_record {
  std::atomic<int> deliveries{0};
  std::promise<outcome<int>> first;
};

// Spawns an actor that runs one race and quits `linger` after the outcome,
// long enough to see a second delivery if there were one.
void run_race(caf::actor_system& sys, deadline dl, cancel_token tok, threaded_work work,
              std::shared_ptr<race_record> rec, std::chrono::milliseconds linger = 60ms) {
  sys.spawn([=](caf::event_based_actor* self) {
    race<int>(self, dl, tok, work, [self, rec, linger](outcome<int> o) {
      if (rec->deliveries.fetch_add(1) == 0)
        rec->first.set_value(std::move(o));
      after(self, linger, [self] { self->quit(); });
    });
  });
}

} // namespace

TEST_CASE("select: the result comes first", "[select]") {
  std::vector<std::thread> threads;
  std::mutex mtx;
  auto probe = std::make_shared<work_probe>();
  auto rec = std::make_shared<race_record>();
  auto first = rec->first.get_future();
  cancel_source caller;
  {
    test_system ts;
    run_race(*ts.sys, deadline::after(80ms), caller.token(),
             threaded_work{probe, 15ms, &threads, &mtx}, rec, 150ms);
    REQUIRE(first.wait_for(10s) == std::future_status::ready);
    // Loser: the caller's cancel, now deregistered, changes nothing.
    caller.cancel(cancel_reason::client_cancelled);
    join_all_threads(threads);
  }
  auto o = first.get();
  REQUIRE(o.has_value());
  CHECK(o.value() == 99);
  CHECK(probe->late_offer_won.load() == 1);
  CHECK(probe->cancelled_with.load() == cancel_reason::none);
  // The deadline (80 ms) passed while lingering: it was disposed.
  CHECK(rec->deliveries.load() == 1);
}

TEST_CASE("select: the deadline comes first", "[select]") {
  std::vector<std::thread> threads;
  std::mutex mtx;
  auto probe = std::make_shared<work_probe>();
  auto rec = std::make_shared<race_record>();
  auto first = rec->first.get_future();
  auto t0 = std::chrono::steady_clock::now();
  {
    test_system ts;
    run_race(*ts.sys, deadline::after(30ms), cancel_token{},
             threaded_work{probe, 150ms, &threads, &mtx}, rec, 180ms);
    REQUIRE(first.wait_for(10s) == std::future_status::ready);
    CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
    CHECK(std::chrono::steady_clock::now() - t0 < 140ms);
    join_all_threads(threads);
  }
  auto o = first.get();
  CHECK(o.deadline_exceeded());
  CHECK(o.reason() == cancel_reason::deadline_exceeded);
  CHECK(probe->started.load());
  CHECK(probe->cancelled_with.load() == cancel_reason::deadline_exceeded);
  CHECK(probe->late_offer_won.load() == 0);
  CHECK(rec->deliveries.load() == 1);
}

TEST_CASE("select: cancellation comes first", "[select]") {
  std::vector<std::thread> threads;
  std::mutex mtx;
  auto probe = std::make_shared<work_probe>();
  auto rec = std::make_shared<race_record>();
  auto first = rec->first.get_future();
  cancel_source caller;
  {
    test_system ts;
    run_race(*ts.sys, deadline::after(120ms), caller.token(),
             threaded_work{probe, 80ms, &threads, &mtx}, rec, 150ms);
    std::this_thread::sleep_for(20ms);
    caller.cancel(cancel_reason::client_cancelled);
    REQUIRE(first.wait_for(10s) == std::future_status::ready);
    join_all_threads(threads);
  }
  auto o = first.get();
  CHECK(o.cancelled());
  CHECK(o.reason() == cancel_reason::client_cancelled);
  CHECK(probe->cancelled_with.load() == cancel_reason::client_cancelled);
  CHECK(probe->late_offer_won.load() == 0);
  // Neither the late result (80 ms) nor the deadline (120 ms) got through.
  CHECK(rec->deliveries.load() == 1);
}

TEST_CASE("select: work whose deadline already passed is never started", "[select]") {
  std::vector<std::thread> threads;
  std::mutex mtx;
  auto probe = std::make_shared<work_probe>();
  auto rec = std::make_shared<race_record>();
  auto first = rec->first.get_future();
  {
    test_system ts;
    run_race(*ts.sys, deadline::after(0ms), cancel_token{},
             threaded_work{probe, 1ms, &threads, &mtx}, rec);
    REQUIRE(first.wait_for(10s) == std::future_status::ready);
  }
  CHECK(threads.empty());
  CHECK_FALSE(probe->started.load());
  CHECK(first.get().deadline_exceeded());
  CHECK(rec->deliveries.load() == 1);
}

TEST_CASE("select: an already-cancelled token never starts the work", "[select]") {
  std::vector<std::thread> threads;
  std::mutex mtx;
  auto probe = std::make_shared<work_probe>();
  auto rec = std::make_shared<race_record>();
  auto first = rec->first.get_future();
  cancel_source caller;
  caller.cancel(cancel_reason::shutting_down);
  {
    test_system ts;
    run_race(*ts.sys, deadline::never(), caller.token(),
             threaded_work{probe, 1ms, &threads, &mtx}, rec);
    REQUIRE(first.wait_for(10s) == std::future_status::ready);
  }
  CHECK_FALSE(probe->started.load());
  auto o = first.get();
  CHECK(o.cancelled());
  CHECK(o.reason() == cancel_reason::shutting_down);
}

TEST_CASE("select: a result offered inside start_work is delivered later and only once", "[select]") {
  std::atomic<int> deliveries{0};
  std::atomic<bool> race_returned{false};
  std::atomic<bool> delivered_inline{false};
  std::promise<int> got;
  auto got_f = got.get_future();
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      race<int>(
        self, deadline::after(50ms), cancel_token{},
        [](cancel_token, completer<int> complete) { CHECK(complete(1)); },
        [&, self](outcome<int> o) {
          if (!race_returned)
            delivered_inline = true;
          ++deliveries;
          got.set_value(o.has_value() ? o.value() : -1);
          // Past the deadline, which must not produce a second outcome.
          after(self, 100ms, [self] { self->quit(); });
        });
      race_returned = true;
    });
    REQUIRE(got_f.wait_for(10s) == std::future_status::ready);
  }
  CHECK(got_f.get() == 1);
  CHECK_FALSE(delivered_inline.load());
  CHECK(deliveries.load() == 1);
}

TEST_CASE("select: concurrent result and cancel deliver exactly one outcome each",
          "[select]") {
  constexpr int n = 200;
  std::vector<cancel_source> callers(n);
  std::vector<std::optional<completer<int>>> completers(n);
  std::vector<std::atomic<int>> deliveries(n);
  std::vector<std::atomic<int>> kinds(n); // 1 value, 2 cancelled, 3 other
  std::vector<std::atomic<int>> value_won(n);
  std::atomic<int> total{0};
  std::promise<void> armed;
  auto armed_f = armed.get_future();
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      for (int i = 0; i < n; ++i) {
        race<int>(
          self, deadline::after(5s), callers[i].token(),
          [&, i](cancel_token, completer<int> c) { completers[i].emplace(std::move(c)); },
          [&, i, self](outcome<int> o) {
            ++deliveries[i];
            kinds[i] = o.has_value() ? 1 : (o.cancelled() ? 2 : 3);
            if (++total == n)
              after(self, 50ms, [self] { self->quit(); });
          });
      }
      armed.set_value();
    });
    REQUIRE(armed_f.wait_for(10s) == std::future_status::ready);
    std::atomic<bool> go{false};
    std::thread a{[&] {
      while (!go)
        std::this_thread::yield();
      for (int i = 0; i < n; ++i)
        value_won[i] = (*completers[i])(i) ? 1 : 0;
    }};
    std::thread b{[&] {
      while (!go)
        std::this_thread::yield();
      for (int i = 0; i < n; ++i)
        callers[i].cancel(cancel_reason::client_cancelled);
    }};
    go = true;
    a.join();
    b.join();
    completers.clear();
  }
  for (int i = 0; i < n; ++i) {
    INFO("race " << i);
    REQUIRE(deliveries[i].load() == 1);
    CHECK(kinds[i].load() == (value_won[i].load() == 1 ? 1 : 2));
  }
}

TEST_CASE("select: the work is cancelled when the consuming actor quits first", "[select]") {
  auto probe = std::make_shared<work_probe>();
  std::atomic<int> deliveries{0};
  std::optional<completer<int>> held;
  {
    test_system ts;
    ts.sys->spawn([&](caf::event_based_actor* self) {
      race<int>(
        self, deadline::never(), cancel_token{},
        [&](cancel_token tok, completer<int> c) {
          probe->started = true;
          auto p = probe;
          p->reg = tok.on_cancel([p](cancel_reason r) { p->cancelled_with = r; });
          held.emplace(std::move(c));
        },
        [&](outcome<int>) { ++deliveries; });
      after(self, 20ms, [self] { self->quit(); });
    });
  }
  CHECK(probe->started.load());
  CHECK(probe->cancelled_with.load() == cancel_reason::shutting_down);
  CHECK(deliveries.load() == 0);
  REQUIRE(held);
  CHECK_FALSE((*held)(1));
}
