#include <catch2/catch.hpp>

#include "support/test_latch.hpp"

#include "troupe/rt/bounded_channel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using troupe::rt::bounded_channel;
using troupe::rt::send_result;

namespace {

using troupe::test::test_latch;

std::vector<int> drain_all(bounded_channel<int>& ch) {
  std::vector<int> out;
  ch.drain(ch.capacity() + 1, [&](int v) { out.push_back(v); });
  return out;
}

} // namespace

TEST_CASE("a zero-capacity channel is rejected", "[channel]") {
  CHECK_THROWS_AS(bounded_channel<int>(0), std::invalid_argument);
}

TEST_CASE("a full channel never grows: exactly capacity sends are accepted", "[channel]") {
  constexpr int capacity = 64;
  constexpr int producers = 4;
  constexpr int attempts = 5000;
  bounded_channel<int> ch(capacity);
  std::atomic<int> accepted{0};
  std::atomic<int> full{0};
  std::atomic<int> other{0};
  test_latch go{1};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&] {
      go.wait_for(2s);
      for (int i = 0; i < attempts; ++i) {
        switch (ch.try_send(int{i})) {
          case send_result::accepted:
            ++accepted;
            break;
          case send_result::full:
            ++full;
            break;
          default:
            ++other;
        }
      }
    });
  go.count_down();
  for (auto& t : threads)
    t.join();
  CHECK(accepted.load() == capacity);
  CHECK(full.load() == producers * attempts - capacity);
  CHECK(other.load() == 0);
  CHECK(ch.size() == capacity);
  CHECK(ch.capacity() == capacity);
  CHECK(drain_all(ch).size() == capacity);
  CHECK(ch.size() == 0);
}

TEST_CASE("a rejected value is left with the caller", "[channel]") {
  bounded_channel<std::unique_ptr<int>> ch(1);
  auto first = std::make_unique<int>(1);
  REQUIRE(ch.try_send(std::move(first)) == send_result::accepted);
  CHECK(first == nullptr); // accepted: moved in

  auto second = std::make_unique<int>(2);
  CHECK(ch.try_send(std::move(second)) == send_result::full);
  REQUIRE(second != nullptr);
  CHECK(*second == 2);

  ch.close();
  CHECK(ch.try_send(std::move(second)) == send_result::closed);
  REQUIRE(second != nullptr);
  CHECK(*second == 2);

  auto got = ch.try_receive();
  REQUIRE(got);
  CHECK(**got == 1);
}

TEST_CASE("items come out in FIFO order across ring wrap-around", "[channel]") {
  bounded_channel<int> ch(3);
  int next_in = 0;
  int next_out = 0;
  for (int round = 0; round < 20; ++round) {
    // Bounded so a channel that never reports `full` fails instead of hanging.
    for (int k = 0; k < 10 && ch.try_send(int{next_in}) == send_result::accepted; ++k)
      ++next_in;
    CHECK(ch.size() == 3);
    for (int k = 0; k < 1 + round % 3; ++k) {
      auto v = ch.try_receive();
      REQUIRE(v);
      CHECK(*v == next_out++);
    }
  }
  for (auto v : drain_all(ch))
    CHECK(v == next_out++);
  CHECK(next_out == next_in);
  CHECK_FALSE(ch.try_receive());
}

TEST_CASE("a waiting producer is woken exactly when room appears", "[channel]") {
  bounded_channel<int> ch(2);
  REQUIRE(ch.try_send(0) == send_result::accepted);
  REQUIRE(ch.try_send(1) == send_result::accepted);
  REQUIRE(ch.try_send(2) == send_result::full);

  int woken = 0;
  ch.notify_when_ready([&] { ++woken; });
  CHECK(woken == 0);
  CHECK(ch.waiting_producers() == 1);

  // Nothing that leaves the channel full may release the waiter.
  CHECK(ch.try_send(3) == send_result::full);
  CHECK(ch.size() == 2);
  CHECK(woken == 0);

  SECTION("by try_receive") {
    REQUIRE(ch.try_receive() == 0);
  }
  SECTION("by drain") {
    CHECK(ch.drain(1, [](int) {}) == 1);
  }
  CHECK(woken == 1);
  CHECK(ch.waiting_producers() == 0);

  // One-shot: refilling and emptying again does not call it a second time.
  REQUIRE(ch.try_send(2) == send_result::accepted);
  drain_all(ch);
  CHECK(woken == 1);
}

TEST_CASE("every parked producer is released when room appears", "[channel]") {
  bounded_channel<int> ch(1);
  REQUIRE(ch.try_send(0) == send_result::accepted);
  int woken = 0;
  for (int p = 0; p < 5; ++p)
    ch.notify_when_ready([&] { ++woken; });
  CHECK(ch.waiting_producers() == 5);
  REQUIRE(ch.try_receive());
  CHECK(woken == 5);
}

TEST_CASE("notify_when_ready runs at once when there is room or the channel is closed",
          "[channel]") {
  bounded_channel<int> ch(1);
  int woken = 0;
  ch.notify_when_ready([&] { ++woken; });
  CHECK(woken == 1);
  CHECK(ch.waiting_producers() == 0);

  REQUIRE(ch.try_send(1) == send_result::accepted);
  ch.close();
  ch.notify_when_ready([&] { ++woken; });
  CHECK(woken == 2);
  CHECK(ch.waiting_producers() == 0);
}

TEST_CASE("the ready callback may retry the send from inside", "[channel]") {
  // Runs outside the lock: a retry from within must neither deadlock nor fail.
  bounded_channel<int> ch(1);
  REQUIRE(ch.try_send(1) == send_result::accepted);
  send_result retried = send_result::closed;
  ch.notify_when_ready([&] { retried = ch.try_send(2); });
  REQUIRE(ch.try_receive() == 1);
  CHECK(retried == send_result::accepted);
  CHECK(ch.try_receive() == 2);
}

TEST_CASE("close rejects sends, wakes waiters, and keeps accepted items drainable",
          "[channel]") {
  bounded_channel<int> ch(8);
  for (int i = 0; i < 8; ++i)
    REQUIRE(ch.try_send(int{i}) == send_result::accepted);
  int woken = 0;
  ch.notify_when_ready([&] { ++woken; });
  ch.notify_when_ready([&] { ++woken; });

  CHECK(ch.close());
  CHECK_FALSE(ch.close());
  CHECK(woken == 2);
  CHECK(ch.try_send(99) == send_result::closed);
  CHECK_FALSE(ch.closed_and_drained());

  std::vector<int> got;
  CHECK(ch.drain(3, [&](int v) { got.push_back(v); }) == 3);
  CHECK_FALSE(ch.closed_and_drained());
  CHECK(ch.drain(100, [&](int v) { got.push_back(v); }) == 5);
  CHECK(got == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(ch.closed_and_drained());
  CHECK(ch.drain(100, [](int) {}) == 0);
  CHECK_FALSE(ch.try_receive());
}

TEST_CASE("the consumer is poked only on empty-to-non-empty transitions and on close",
          "[channel]") {
  bounded_channel<int> ch(4);
  int pokes = 0;
  ch.set_consumer_wakeup([&] { ++pokes; });
  REQUIRE(ch.try_send(1) == send_result::accepted);
  REQUIRE(ch.try_send(2) == send_result::accepted);
  REQUIRE(ch.try_send(3) == send_result::accepted);
  CHECK(pokes == 1);
  REQUIRE(ch.try_receive() == 1);
  REQUIRE(ch.try_send(4) == send_result::accepted);
  CHECK(pokes == 1);
  drain_all(ch);
  REQUIRE(ch.try_send(5) == send_result::accepted);
  CHECK(pokes == 2);
  drain_all(ch);

  // The wake-up runs outside the lock, so it can inspect the channel.
  std::size_t seen = 0;
  ch.set_consumer_wakeup([&] {
    ++pokes;
    seen = ch.size();
  });
  REQUIRE(ch.try_send(6) == send_result::accepted);
  CHECK(pokes == 3);
  CHECK(seen == 1);
  drain_all(ch);
  ch.close();
  CHECK(pokes == 4);
}

TEST_CASE("drain honours max and calls fn outside the lock", "[channel]") {
  bounded_channel<int> ch(10);
  for (int i = 0; i < 10; ++i)
    REQUIRE(ch.try_send(int{i}) == send_result::accepted);
  std::vector<int> got;
  std::vector<std::size_t> sizes;
  auto n = ch.drain(4, [&](int v) {
    got.push_back(v);
    sizes.push_back(ch.size());
    // Re-entering from fn would deadlock if fn ran under the lock.
    CHECK(ch.try_send(100 + v) == send_result::accepted);
  });
  CHECK(n == 4);
  CHECK(got == std::vector<int>{0, 1, 2, 3});
  // The batch left the channel before fn ran.
  CHECK(sizes.front() == 6);
  CHECK(ch.size() == 10);
  CHECK(ch.drain(0, [](int) {}) == 0);
  CHECK(ch.size() == 10);
}

TEST_CASE("stress: every item from every producer arrives exactly once and in order",
          "[channel]") {
  constexpr std::uint64_t producers = 4;
  constexpr std::uint64_t per_producer = 20000;
  constexpr std::size_t capacity = 64;
  bounded_channel<std::uint64_t> ch(capacity);

  std::mutex poke_mtx;
  std::condition_variable poke_cv;
  bool poked = false;
  ch.set_consumer_wakeup([&] {
    std::lock_guard<std::mutex> lk(poke_mtx);
    poked = true;
    poke_cv.notify_one();
  });

  std::atomic<int> stalls{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (std::uint64_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (std::uint64_t i = 0; i < per_producer;) {
        std::uint64_t item = (p << 32) | i;
        // Reactor-style producer: park on a callback, never block in the
        // channel. A lost wake-up shows up as a timeout here.
        auto r = ch.try_send(std::move(item));
        if (r == send_result::accepted) {
          ++i;
          continue;
        }
        if (r != send_result::full) {
          ++unexpected;
          return;
        }
        auto ready = std::make_shared<test_latch>(1);
        ch.notify_when_ready([ready] { ready->count_down(); });
        if (!ready->wait_for(5s)) {
          ++stalls;
          return;
        }
      }
    });
  }

  std::vector<std::uint64_t> next(producers, 0);
  std::uint64_t received = 0;
  std::uint64_t out_of_order = 0;
  std::size_t max_size = 0;
  bool consumer_stalled = false;
  std::thread consumer([&] {
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(poke_mtx);
        if (!poke_cv.wait_for(lk, 5s, [&] { return poked; })) {
          consumer_stalled = true;
          return;
        }
        poked = false;
      }
      for (;;) {
        max_size = std::max(max_size, ch.size());
        auto n = ch.drain(16, [&](std::uint64_t v) {
          auto p = v >> 32;
          auto i = v & 0xffffffffu;
          if (p >= producers || next[p] != i)
            ++out_of_order;
          else
            ++next[p];
          ++received;
        });
        if (n == 0)
          break;
      }
      if (ch.closed_and_drained())
        return;
    }
  });

  for (auto& t : threads)
    t.join();
  ch.close();
  consumer.join();

  CHECK(stalls.load() == 0);
  CHECK(unexpected.load() == 0);
  CHECK_FALSE(consumer_stalled);
  CHECK(out_of_order == 0);
  CHECK(received == producers * per_producer);
  for (std::uint64_t p = 0; p < producers; ++p)
    CHECK(next[p] == per_producer);
  CHECK(max_size <= capacity);
  CHECK(ch.closed_and_drained());
  CHECK(ch.waiting_producers() == 0);
}
