#include <catch2/catch.hpp>

#include "troupe/rt/rate_limiter.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using troupe::rt::acquire_result;
using troupe::rt::keyed_rate_limiter;
using clock_type = std::chrono::steady_clock;

namespace {

// An arbitrary origin far from the clock's epoch, so nothing depends on the
// real time or on zero.
const clock_type::time_point t0 = clock_type::time_point{} + 100h;

// The bucket arithmetic every key of a keyed limiter runs, seen through one
// key.
struct one_key {
  keyed_rate_limiter limiter;
  one_key(double rate_per_sec, double burst) : limiter(rate_per_sec, burst, 1) {}
  acquire_result try_acquire(double n, clock_type::time_point now) {
    return limiter.try_acquire("key", n, now);
  }
};

} // namespace

TEST_CASE("token bucket grants the burst, then denies with the exact retry_after",
          "[rate_limiter]") {
  one_key bucket(10, 5);
  for (int i = 0; i < 5; ++i) {
    auto r = bucket.try_acquire(1, t0);
    REQUIRE(r.granted);
    CHECK(r.retry_after == 0ms);
  }
  auto denied = bucket.try_acquire(1, t0);
  CHECK_FALSE(denied.granted);
  CHECK(denied.retry_after == 100ms);

  // 99 ms later 0.99 tokens have accrued: 1 ms short.
  auto almost = bucket.try_acquire(1, t0 + 99ms);
  CHECK_FALSE(almost.granted);
  CHECK(almost.retry_after == 1ms);

  // Exactly when promised.
  CHECK(bucket.try_acquire(1, t0 + 100ms).granted);
  auto again = bucket.try_acquire(1, t0 + 100ms);
  CHECK_FALSE(again.granted);
  CHECK(again.retry_after == 100ms);
}

TEST_CASE("retry_after rounds up to whole milliseconds and is at least 1 ms",
          "[rate_limiter]") {
  SECTION("fractional wait rounds up") {
    one_key bucket(3, 1); // one token every 333.33 ms
    REQUIRE(bucket.try_acquire(1, t0).granted);
    auto r = bucket.try_acquire(1, t0);
    CHECK_FALSE(r.granted);
    CHECK(r.retry_after == 334ms);
    auto near = bucket.try_acquire(1, t0 + 333ms);
    CHECK_FALSE(near.granted);
    CHECK(near.retry_after == 1ms);
    CHECK(bucket.try_acquire(1, t0 + 334ms).granted);
  }
  SECTION("sub-millisecond wait is reported as 1 ms") {
    one_key bucket(1e6, 1);
    REQUIRE(bucket.try_acquire(1, t0).granted);
    auto r = bucket.try_acquire(1, t0);
    CHECK_FALSE(r.granted);
    CHECK(r.retry_after == 1ms);
    CHECK(bucket.try_acquire(1, t0 + 1us).granted);
  }
  SECTION("floating-point noise neither inflates retry_after nor denies on time") {
    // One token every k ms: 1000/k per second is inexact in binary for most
    // k (k = 11 gives a wait of 11.000000000000002 ms and a refill of
    // 0.99999999999999989 tokens after 11 ms).
    int wrong_retry = 0;
    int denied_on_time = 0;
    int granted_early = 0;
    for (int k = 2; k <= 300; ++k) {
      one_key bucket(1000.0 / k, 1);
      REQUIRE(bucket.try_acquire(1, t0).granted);
      auto r = bucket.try_acquire(1, t0);
      if (r.granted || r.retry_after != std::chrono::milliseconds(k))
        ++wrong_retry;
      if (bucket.try_acquire(1, t0 + std::chrono::milliseconds(k - 1)).granted)
        ++granted_early;
      if (!bucket.try_acquire(1, t0 + std::chrono::milliseconds(k)).granted)
        ++denied_on_time;
    }
    CHECK(wrong_retry == 0);
    CHECK(granted_early == 0);
    CHECK(denied_on_time == 0);
  }
  SECTION("multi-token requests wait for the whole amount") {
    one_key bucket(2, 4);
    REQUIRE(bucket.try_acquire(3, t0).granted);
    auto r = bucket.try_acquire(3, t0);
    CHECK_FALSE(r.granted);
    CHECK(r.retry_after == 1000ms); // 1 left, 2 more at 2/s
    CHECK(bucket.try_acquire(1, t0).granted);
    CHECK(bucket.try_acquire(0.5, t0 + 250ms).granted);
    CHECK_FALSE(bucket.try_acquire(0.5, t0 + 250ms).granted);
  }
}

TEST_CASE("refill is capped at the burst", "[rate_limiter]") {
  one_key bucket(100, 3);
  for (int i = 0; i < 3; ++i)
    REQUIRE(bucket.try_acquire(1, t0).granted);
  auto later = t0 + 1h;
  int granted = 0;
  while (bucket.try_acquire(1, later).granted)
    ++granted;
  CHECK(granted == 3);
  // Empty to the last crumb: a whole token is 10 ms away at 100/s.
  CHECK(bucket.try_acquire(1, later).retry_after == 10ms);
}

TEST_CASE("a request larger than the burst is never granted", "[rate_limiter]") {
  one_key bucket(10, 5);
  auto r = bucket.try_acquire(6, t0 + 1h);
  CHECK_FALSE(r.granted);
  CHECK(r.retry_after == std::chrono::milliseconds::max());
  // And it did not take anything.
  CHECK(bucket.try_acquire(5, t0 + 1h).granted);
}

TEST_CASE("time going backwards adds no tokens", "[rate_limiter]") {
  one_key bucket(10, 2);
  REQUIRE(bucket.try_acquire(2, t0).granted);
  CHECK_FALSE(bucket.try_acquire(1, t0 - 10s).granted);
  // The bucket still measures from t0, not from the earlier stamp.
  CHECK_FALSE(bucket.try_acquire(1, t0 + 50ms).granted);
  CHECK(bucket.try_acquire(1, t0 + 100ms).granted);
}

TEST_CASE("a zero or negative rate means unlimited", "[rate_limiter]") {
  one_key zero(0, 0);
  one_key negative(-1, 1);
  for (int i = 0; i < 10000; ++i) {
    REQUIRE(zero.try_acquire(1, t0).granted);
    REQUIRE(negative.try_acquire(100, t0).granted);
  }
  CHECK(zero.try_acquire(1, t0).retry_after == 0ms);
  CHECK_THROWS_AS(keyed_rate_limiter(10, 0, 1), std::invalid_argument);
}

TEST_CASE("concurrent acquirers at one instant share exactly the burst", "[rate_limiter]") {
  constexpr int burst = 100000;
  one_key bucket(1, burst);
  std::atomic<int> granted{0};
  std::mutex m;
  std::condition_variable cv;
  bool go = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      {
        std::unique_lock<std::mutex> lk(m);
        cv.wait(lk, [&] { return go; });
      }
      int mine = 0;
      for (int i = 0; i < burst / 2; ++i)
        if (bucket.try_acquire(1, t0).granted)
          ++mine;
      granted += mine;
    });
  {
    std::lock_guard<std::mutex> lk(m);
    go = true;
  }
  cv.notify_all();
  for (auto& t : threads)
    t.join();
  // 2x oversubscribed at one instant: a lost update would hand out more.
  CHECK(granted.load() == burst);
}

TEST_CASE("keyed limiter keeps an independent bucket per key", "[rate_limiter]") {
  keyed_rate_limiter limiter(10, 2, 16);
  REQUIRE(limiter.try_acquire("peer-a", 1, t0).granted);
  REQUIRE(limiter.try_acquire("peer-a", 1, t0).granted);
  auto denied = limiter.try_acquire("peer-a", 1, t0);
  CHECK_FALSE(denied.granted);
  CHECK(denied.retry_after == 100ms);

  CHECK(limiter.try_acquire("peer-b", 1, t0).granted);
  CHECK(limiter.try_acquire("/troupe.kv.v1.KeyValue/Get|peer-a", 1, t0).granted);
  CHECK(limiter.size() == 3);

  // string_view keys that do not outlive the call.
  std::string key = "peer-a";
  CHECK_FALSE(limiter.try_acquire(std::string_view{key}, 1, t0).granted);
  key = "overwritten";
  CHECK_FALSE(limiter.try_acquire("peer-a", 1, t0 + 50ms).granted);
  CHECK(limiter.try_acquire("peer-a", 1, t0 + 100ms).granted);
}

TEST_CASE("keyed limiter bounds the number of keys under a flood of peers",
          "[rate_limiter]") {
  keyed_rate_limiter limiter(1, 1, 100);
  std::size_t max_seen = 0;
  for (int i = 0; i < 20000; ++i) {
    auto key = "ipv4:10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":5000";
    REQUIRE(limiter.try_acquire(key, 1, t0 + std::chrono::microseconds(i)).granted);
    max_seen = std::max(max_seen, limiter.size());
  }
  CHECK(max_seen == 100);
  CHECK(limiter.size() == 100);
  CHECK(limiter.evictions() == 20000 - 100);
}

TEST_CASE("keyed limiter evicts the least recently used key", "[rate_limiter]") {
  keyed_rate_limiter limiter(1, 1, 2);
  REQUIRE(limiter.try_acquire("a", 1, t0).granted); // a now empty
  REQUIRE(limiter.try_acquire("b", 1, t0).granted);
  CHECK_FALSE(limiter.try_acquire("a", 1, t0).granted); // touches a: b is now LRU
  REQUIRE(limiter.try_acquire("c", 1, t0).granted);     // evicts b
  CHECK(limiter.size() == 2);
  // a kept its state (still empty); b comes back fresh because it was evicted.
  CHECK_FALSE(limiter.try_acquire("a", 1, t0).granted);
  CHECK(limiter.try_acquire("b", 1, t0).granted);
}

TEST_CASE("keyed limiter sweep drops only buckets that refilled", "[rate_limiter]") {
  keyed_rate_limiter limiter(10, 2, 100);
  REQUIRE(limiter.try_acquire("idle", 2, t0).granted);
  REQUIRE(limiter.try_acquire("busy", 2, t0 + 150ms).granted);
  REQUIRE(limiter.try_acquire("untouched", 0.5, t0 + 150ms).granted);
  CHECK(limiter.size() == 3);
  // At t0+200ms "idle" has refilled (2 tokens at 10/s take 200 ms), "busy"
  // has 0.5 and "untouched" has 2 again (its 0.5 came back after 50 ms).
  CHECK(limiter.sweep(t0 + 200ms) == 2);
  CHECK(limiter.size() == 1);
  CHECK_FALSE(limiter.try_acquire("busy", 1, t0 + 200ms).granted);
  CHECK(limiter.sweep(t0 + 1h) == 1);
  CHECK(limiter.size() == 0);
}

TEST_CASE("keyed limiter with no rate stores nothing", "[rate_limiter]") {
  keyed_rate_limiter limiter(0, 0, 4);
  for (int i = 0; i < 100; ++i)
    REQUIRE(limiter.try_acquire(std::to_string(i), 1, t0).granted);
  CHECK(limiter.size() == 0);
  CHECK_THROWS_AS(keyed_rate_limiter(1, 1, 0), std::invalid_argument);
}

TEST_CASE("keyed limiter is safe under concurrent use", "[rate_limiter]") {
  // 13 keys in 16 slots: nothing is evicted, so the hot key's burst is
  // shared by all threads and handed out exactly once.
  keyed_rate_limiter limiter(1, 10, 16);
  std::atomic<int> granted_hot{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (limiter.try_acquire("hot", 1, t0).granted)
          ++granted_hot;
        limiter.try_acquire("cold-" + std::to_string(t) + "-" + std::to_string(i % 3), 1, t0);
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(granted_hot.load() == 10);
  CHECK(limiter.size() == 13);
  CHECK(limiter.evictions() == 0);
}
