#include <catch2/catch.hpp>

#include "support/test_latch.hpp"

#include "troupe/rt/blocking_pool.hpp"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using troupe::rt::blocking_job;
using troupe::rt::blocking_pool;
using troupe::rt::cancel_reason;
using troupe::rt::cancel_source;
using troupe::rt::deadline;
using troupe::rt::submit_result;

namespace {

using troupe::test::test_latch;

std::string current_thread_name() {
  char buf[32] = {};
  pthread_getname_np(pthread_self(), buf, sizeof buf);
  return buf;
}

blocking_job job_that(std::function<void()> run) {
  blocking_job job;
  job.run = std::move(run);
  return job;
}

// Tests declare everything their jobs touch before the pool, so the pool is
// destroyed (threads joined) first.

// Occupies every pool thread until opened, so later jobs stay queued. The
// latches are shared with the jobs so a failing test cannot leave a worker
// waiting on a destroyed latch.
struct plug {
  std::shared_ptr<test_latch> started;
  std::shared_ptr<test_latch> release = std::make_shared<test_latch>(1);

  plug(blocking_pool& pool, int threads) : started(std::make_shared<test_latch>(threads)) {
    for (int i = 0; i < threads; ++i)
      REQUIRE(pool.try_submit(job_that([started = started, release = release] {
                started->count_down();
                release->wait_for(5s);
              }))
              == submit_result::accepted);
    REQUIRE(started->wait_for(2s));
  }
  ~plug() { open(); }
  void open() { release->count_down(); }
};

// Waits for a condition another thread will make true; polling is fine here
// because nothing in the pool signals "idle" and the bound keeps it honest.
template <class Pred>
bool eventually(Pred pred) {
  auto until = std::chrono::steady_clock::now() + 2s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::yield();
  }
  return true;
}

} // namespace

TEST_CASE("pool arguments are validated", "[blocking_pool]") {
  CHECK_THROWS_AS(blocking_pool(0, 4, "x"), std::invalid_argument);
  CHECK_THROWS_AS(blocking_pool(1, 0, "x"), std::invalid_argument);
}

TEST_CASE("jobs run on named pool threads", "[blocking_pool]") {
  SECTION("custom name") {
    std::mutex m;
    std::set<std::string> names;
    std::set<std::thread::id> ids;
    test_latch done{2};
    test_latch both_running{2};
    blocking_pool pool(2, 8, "sqlite");
    CHECK(pool.threads() == 2);
    for (int i = 0; i < 2; ++i)
      REQUIRE(pool.try_submit(job_that([&] {
                {
                  std::lock_guard<std::mutex> lk(m);
                  names.insert(current_thread_name());
                  ids.insert(std::this_thread::get_id());
                }
                // Holding both threads ensures both names get recorded.
                both_running.count_down();
                both_running.wait_for(2s);
                done.count_down();
              }))
              == submit_result::accepted);
    REQUIRE(done.wait_for(2s));
    CHECK(names == std::set<std::string>{"sqlite-0", "sqlite-1"});
    CHECK(ids.count(std::this_thread::get_id()) == 0);
  }
  SECTION("default and over-long names fit the 15-character limit") {
    std::string seen_default;
    std::string seen_long;
    {
      test_latch done{1};
      blocking_pool pool(1, 1, "");
      REQUIRE(pool.try_submit(job_that([&] {
                seen_default = current_thread_name();
                done.count_down();
              }))
              == submit_result::accepted);
      REQUIRE(done.wait_for(2s));
    }
    {
      test_latch done{1};
      blocking_pool pool(1, 1, "a-very-long-pool-name");
      REQUIRE(pool.try_submit(job_that([&] {
                seen_long = current_thread_name();
                done.count_down();
              }))
              == submit_result::accepted);
      REQUIRE(done.wait_for(2s));
    }
    CHECK(seen_default == "troupe-blk-0");
    CHECK(seen_long.size() == 15);
    CHECK(seen_long.substr(seen_long.size() - 2) == "-0");
  }
}

TEST_CASE("a full queue is refused at once, without stalling the caller", "[blocking_pool]") {
  std::atomic<int> ran{0};
  bool skipped_called = false;
  blocking_pool pool(1, 2, "full");
  plug p(pool, 1);
  CHECK(pool.running() == 1);

  REQUIRE(pool.try_submit(job_that([&] { ++ran; })) == submit_result::accepted);
  REQUIRE(pool.try_submit(job_that([&] { ++ran; })) == submit_result::accepted);
  CHECK(pool.queued() == 2);

  blocking_job extra = job_that([&] { ++ran; });
  extra.skipped = [&](cancel_reason) { skipped_called = true; };
  auto start = std::chrono::steady_clock::now();
  auto result = pool.try_submit(std::move(extra));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(result == submit_result::queue_full);
  CHECK(took < 50ms);
  CHECK(pool.queued() == 2);

  p.open();
  REQUIRE(eventually([&] { return ran.load() == 2 && pool.running() == 0; }));
  CHECK(pool.queued() == 0);
  CHECK_FALSE(skipped_called);
  CHECK(pool.completed() == 3);
}

TEST_CASE("idle threads do not count against the queue capacity", "[blocking_pool]") {
  test_latch release{1};
  test_latch started{2};
  std::atomic<int> accepted{0};
  blocking_pool pool(2, 1, "idle");
  // Both workers must be parked before the burst, otherwise they are not
  // idle yet and the burst would legitimately be refused.
  REQUIRE(eventually([&] { return pool.idle() == 2; }));
  for (int i = 0; i < 3; ++i)
    if (pool.try_submit(job_that([&] {
          started.count_down();
          release.wait_for(5s);
        }))
        == submit_result::accepted)
      ++accepted;
  CHECK(accepted.load() == 3);
  CHECK(started.wait_for(2s));
  CHECK(pool.try_submit(job_that([] {})) == submit_result::queue_full);
  release.count_down();
}

TEST_CASE("an expired job is never started and is skipped as deadline_exceeded",
          "[blocking_pool]") {
  std::atomic<bool> side_effect{false};
  std::atomic<int> skips{0};
  cancel_reason why = cancel_reason::none;
  test_latch skipped{1};
  std::atomic<int> after_ran{0};
  blocking_pool pool(1, 4, "expiry");
  plug p(pool, 1);

  blocking_job job;
  job.run = [&] { side_effect = true; };
  job.skipped = [&](cancel_reason r) {
    why = r;
    ++skips;
    skipped.count_down();
  };
  const auto due = deadline::after(20ms);
  job.due = due;
  REQUIRE(pool.try_submit(std::move(job)) == submit_result::accepted);

  REQUIRE(pool.try_submit(job_that([&] { ++after_ran; })) == submit_result::accepted);

  // Not synchronisation: the point is for the deadline to pass while queued.
  std::this_thread::sleep_until(due.when);
  while (!due.expired())
    std::this_thread::yield();
  p.open();
  REQUIRE(skipped.wait_for(2s));
  REQUIRE(eventually([&] { return after_ran.load() == 1; }));
  CHECK_FALSE(side_effect.load());
  CHECK(skips.load() == 1);
  CHECK(why == cancel_reason::deadline_exceeded);
  CHECK(pool.skipped() == 1);
}

TEST_CASE("a cancelled job is never started and is skipped with the token's reason",
          "[blocking_pool]") {
  cancel_source src;
  std::atomic<bool> side_effect{false};
  cancel_reason why = cancel_reason::none;
  test_latch skipped{1};
  blocking_pool pool(1, 4, "cancel");
  plug p(pool, 1);

  blocking_job job;
  job.run = [&] { side_effect = true; };
  job.skipped = [&](cancel_reason r) {
    why = r;
    skipped.count_down();
  };
  job.token = src.token();
  // The token's reason wins over an also-expired deadline: it says why.
  job.due = deadline::after(-1ms);
  REQUIRE(pool.try_submit(std::move(job)) == submit_result::accepted);
  src.cancel(cancel_reason::client_cancelled);

  p.open();
  REQUIRE(skipped.wait_for(2s));
  CHECK_FALSE(side_effect.load());
  CHECK(why == cancel_reason::client_cancelled);
}

TEST_CASE("a live job runs and its skipped callback is not called", "[blocking_pool]") {
  cancel_source src;
  test_latch ran{1};
  bool skipped_called = false;
  blocking_pool pool(1, 4, "live");
  blocking_job job;
  job.run = [&] { ran.count_down(); };
  job.skipped = [&](cancel_reason) { skipped_called = true; };
  job.token = src.token();
  job.due = deadline::after(10s);
  REQUIRE(pool.try_submit(std::move(job)) == submit_result::accepted);
  REQUIRE(ran.wait_for(2s));
  pool.stop();
  CHECK_FALSE(skipped_called);
  CHECK(pool.completed() == 1);
}

TEST_CASE("stop skips queued work, lets running work finish, and refuses new work",
          "[blocking_pool]") {
  test_latch started{1};
  test_latch release{1};
  std::atomic<bool> running_finished{false};
  std::atomic<int> queued_ran{0};
  std::vector<cancel_reason> reasons;
  std::mutex reasons_mtx;
  test_latch both_skipped{2};
  blocking_pool pool(1, 4, "stop");
  REQUIRE(pool.try_submit(job_that([&] {
            started.count_down();
            release.wait_for(5s);
            running_finished = true;
          }))
          == submit_result::accepted);
  REQUIRE(started.wait_for(2s));

  for (int i = 0; i < 2; ++i) {
    blocking_job job = job_that([&] { ++queued_ran; });
    job.skipped = [&](cancel_reason r) {
      {
        std::lock_guard<std::mutex> lk(reasons_mtx);
        reasons.push_back(r);
      }
      both_skipped.count_down();
    };
    REQUIRE(pool.try_submit(std::move(job)) == submit_result::accepted);
  }

  std::thread stopper([&] { pool.stop(); });
  // Queued jobs are skipped right away, not after the running job ends.
  REQUIRE(both_skipped.wait_for(2s));
  CHECK_FALSE(running_finished.load());
  CHECK(pool.try_submit(job_that([&] { ++queued_ran; })) == submit_result::stopped);
  release.count_down();
  stopper.join();

  CHECK(running_finished.load());
  CHECK(queued_ran.load() == 0);
  CHECK(reasons
        == std::vector<cancel_reason>{cancel_reason::shutting_down, cancel_reason::shutting_down});
  CHECK(pool.queued() == 0);
  CHECK(pool.running() == 0);
  pool.stop(); // idempotent
  CHECK(pool.try_submit(job_that([] {})) == submit_result::stopped);
}

TEST_CASE("the destructor stops the pool and skips what is still queued", "[blocking_pool]") {
  std::atomic<int> ran{0};
  std::atomic<int> skipped{0};
  test_latch started{1};
  test_latch release{1};
  {
    blocking_pool pool(1, 8, "dtor");
    REQUIRE(pool.try_submit(job_that([&] {
              started.count_down();
              release.wait_for(5s);
            }))
            == submit_result::accepted);
    REQUIRE(started.wait_for(2s));
    for (int i = 0; i < 5; ++i) {
      blocking_job job = job_that([&] { ++ran; });
      job.skipped = [&](cancel_reason r) {
        if (r == cancel_reason::shutting_down)
          ++skipped;
        // The running job may only end once the destructor is skipping, so
        // the worker can never reach the queued jobs first.
        release.count_down();
      };
      REQUIRE(pool.try_submit(std::move(job)) == submit_result::accepted);
    }
  }
  CHECK(ran.load() == 0);
  CHECK(skipped.load() == 5);
}

TEST_CASE("stop from a pool thread is refused rather than deadlocking", "[blocking_pool]") {
  test_latch done{1};
  bool threw = false;
  blocking_pool pool(1, 1, "self");
  REQUIRE(pool.try_submit(job_that([&] {
            try {
              pool.stop();
            } catch (const std::logic_error&) {
              threw = true;
            }
            done.count_down();
          }))
          == submit_result::accepted);
  REQUIRE(done.wait_for(2s));
  CHECK(threw);
}

TEST_CASE("a throwing job does not take its worker down", "[blocking_pool]") {
  test_latch after{1};
  blocking_pool pool(1, 4, "throw");
  REQUIRE(pool.try_submit(job_that([] { throw std::runtime_error("boom"); }))
          == submit_result::accepted);
  REQUIRE(pool.try_submit(job_that([&] { after.count_down(); })) == submit_result::accepted);
  REQUIRE(after.wait_for(2s));
  CHECK(pool.faulted() == 1);
}

TEST_CASE("stress: every accepted job either runs or is skipped, exactly once",
          "[blocking_pool]") {
  constexpr int submitters = 4;
  constexpr int per_submitter = 2000;
  std::vector<std::atomic<int>> outcomes(submitters * per_submitter);
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  std::atomic<int> stopped{0};
  cancel_source src;
  {
    blocking_pool pool(3, 16, "stress");
    std::vector<std::thread> threads;
    for (int s = 0; s < submitters; ++s)
      threads.emplace_back([&, s] {
        for (int i = 0; i < per_submitter; ++i) {
          auto slot = s * per_submitter + i;
          blocking_job job;
          job.run = [&, slot] { ++outcomes[slot]; };
          job.skipped = [&, slot](cancel_reason) { ++outcomes[slot]; };
          if (i % 3 == 0)
            job.token = src.token();
          switch (pool.try_submit(std::move(job))) {
            case submit_result::accepted:
              ++accepted;
              break;
            case submit_result::queue_full:
              ++refused;
              std::this_thread::yield();
              break;
            case submit_result::stopped:
              ++stopped;
              break;
          }
          if (s == 0 && i == per_submitter / 2)
            src.cancel(cancel_reason::client_cancelled);
        }
      });
    for (auto& t : threads)
      t.join();
    pool.stop();
    CHECK(pool.completed() + pool.skipped() == static_cast<std::uint64_t>(accepted.load()));
  }
  int once = 0;
  int never = 0;
  int more = 0;
  for (auto& o : outcomes) {
    auto v = o.load();
    if (v == 1)
      ++once;
    else if (v == 0)
      ++never;
    else
      ++more;
  }
  CHECK(more == 0);
  CHECK(once == accepted.load());
  CHECK(never == refused.load() + stopped.load());
  CHECK(stopped.load() == 0);
}
