// The adaptive concurrency limit, driven with synthetic latencies and a
// clock of the test's own: no sleeps.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <vector>

#include "pipeline/adaptive_limit.hpp"

using namespace std::chrono_literals;
using troupe::rt::detail::adaptive_limit_settings;
using troupe::rt::detail::adaptive_limiter;
using troupe::rt::detail::gradient_limit;

namespace {

adaptive_limit_settings settings() {
  adaptive_limit_settings s;
  s.min = 8;
  s.max = 5000;
  s.tolerance = 2.0;
  return s;
}

/// Out of slow start with `limit`: a 5 ms floor, then a window queueing at
/// 4x the floor with twice `limit` in flight (cut by half).
gradient_limit limited_at(double limit) {
  gradient_limit g{settings()};
  g.update(5ms, 5ms, 0, false);
  g.update(20ms, 15ms, 2 * limit, false);
  REQUIRE_FALSE(g.slow_start());
  REQUIRE(g.limit() == Approx(limit).epsilon(0.01));
  return g;
}

} // namespace

TEST_CASE("until queueing is seen there is no limit, however many calls are in flight",
          "[adaptive]") {
  gradient_limit g{settings()};
  CHECK(g.limit() == 5000);
  for (int i = 0; i < 50; ++i)
    g.update(200ms, 190ms, 4000, false); // a pure delay, thousands in flight
  CHECK(g.slow_start());
  CHECK(g.limit() == 5000);
}

TEST_CASE("the first queueing sets the limit from the peak in flight, cut in proportion",
          "[adaptive]") {
  gradient_limit g{settings()};
  g.update(5ms, 5ms, 10, false);
  // 3x the floor with 300 in flight: to 2/3 of 300 (the floor creeps 0.1%).
  CHECK(g.update(15ms, 9ms, 300, false) == Approx(200).epsilon(0.01));
  CHECK_FALSE(g.slow_start());
}

TEST_CASE("queueing cuts the limit, at most by half, never under the minimum", "[adaptive]") {
  auto g = limited_at(100);
  CHECK(g.update(15ms, 10ms, 100, false) == Approx(100 * 2.0 / 3.0).epsilon(0.01));
  CHECK(g.update(50ms, 40ms, 100, true) == Approx(100 * 2.0 / 3.0 / 2).epsilon(0.01));
  for (int i = 0; i < 20; ++i)
    g.update(50ms, 40ms, 1000, true);
  CHECK(g.limit() == 8);
}

TEST_CASE("without queueing a limit that is reached grows by its square root", "[adaptive]") {
  auto g = limited_at(100);
  auto l = g.limit();
  CHECK(g.update(5ms, 5ms, l, false) == Approx(l + std::sqrt(l))); // reached
  l = g.limit();
  CHECK(g.update(5ms, 5ms, 80, true) == Approx(l + std::sqrt(l))); // a call was refused
  l = g.limit();
  CHECK(g.update(5ms, 5ms, 90, false) == l); // neither: no reason to grow
}

TEST_CASE("a method far from its limit teaches nothing about it", "[adaptive]") {
  auto g = limited_at(100);
  CHECK(g.update(500ms, 400ms, 49, false) == Approx(100).epsilon(0.01)); // 100x, under half
  CHECK(g.update(5ms, 5ms, 10, false) == Approx(100).epsilon(0.01));
}

TEST_CASE("a rise no client notices is not queueing", "[adaptive]") {
  gradient_limit g{settings()};
  g.update(20us, 20us, 2, false);
  // 10x the floor, but 180 us above it: under a millisecond.
  g.update(200us, 150us, 2, true);
  CHECK(g.slow_start());
}

TEST_CASE("the floor is the lowest latency seen, creeping up far slower than queueing grows",
          "[adaptive]") {
  gradient_limit g{settings()};
  g.update(9ms, 5ms, 0, false);
  CHECK(g.floor() == 5ms);
  g.update(9ms, 4ms, 0, false); // lower: taken at once
  CHECK(g.floor() == 4ms);
  for (int i = 0; i < 100; ++i) // 5 s of windows with nothing under 40 ms
    g.update(60ms, 40ms, 0, false);
  CHECK(g.floor() > 4ms);
  CHECK(g.floor() < 4.5ms); // +0.1% a window
}

namespace {

/// An open-loop overload: `burst` calls admitted at `t`, then windows of
/// 10 ms, each taking in `arriving` more and answering 20, one at the 5 ms
/// floor and the rest ever later. Returns the limit after each window.
std::vector<std::int64_t> growing_backlog(adaptive_limiter& l,
                                          std::chrono::steady_clock::time_point t, int burst,
                                          int arriving, int windows) {
  for (int i = 0; i < burst; ++i)
    REQUIRE(l.try_acquire(t));
  std::vector<std::int64_t> limits;
  for (int k = 1; k <= windows; ++k) {
    auto start = t + (k - 1) * 10ms;
    for (int i = 0; i < arriving; ++i)
      l.try_acquire(start + 1ms);
    l.release(5ms, true, start + 5ms);
    for (int i = 0; i < 19; ++i)
      l.release(k * 10ms, true, start + 9ms);
    // The first call after the window's end closes it (admitted under the
    // old limit).
    l.try_acquire(start + 10ms);
    limits.push_back(l.limit());
  }
  return limits;
}

} // namespace

TEST_CASE("the limiter refuses at the limit and learns once a window closes", "[adaptive]") {
  auto s = settings();
  auto t = std::chrono::steady_clock::now();
  adaptive_limiter l{s, t};
  // 50 arrive at once, then 100 every 10 ms while 20 are answered, ever
  // later. Queueing from the second window on, but a growing backlog is an
  // overload only once it has grown three windows running to more than
  // twice where it started (a client opening its window of calls looks
  // like one or two such steps).
  auto limits = growing_backlog(l, t, 50, 100, 4);
  CHECK(limits[0] == 5000);
  CHECK(limits[1] == 5000);
  CHECK(limits[2] == 5000);
  // Then: 20 answers in 10 ms at a 5 ms floor keep 10 busy, 20 with a
  // tolerance of 2, where half the peak (393) would admit 196.
  CHECK(limits[3] == Approx(20).margin(1));
  CHECK(l.in_flight() == 374);
  CHECK_FALSE(l.try_acquire(t + 41ms));
  CHECK(l.pushback() == 5ms);
}

TEST_CASE("a burst that is not followed by more is left to drain", "[adaptive]") {
  auto t = std::chrono::steady_clock::now();
  adaptive_limiter l{settings(), t};
  // 200 at once, answered ever later, nothing more arriving: queueing, but
  // the backlog only shrinks.
  auto limits = growing_backlog(l, t, 200, 0, 8);
  CHECK(limits.back() == 5000);
}

TEST_CASE("a queue no longer than its clients' windows is left alone", "[adaptive]") {
  gradient_limit g{settings()};
  // 64 clients, each sending its next call when the last is answered, over
  // a backend that serves 8 at once: 8x the floor, and 64 in flight,
  // window after window.
  g.update(5ms, 5ms, 10, false, 1000, 5);
  g.update(20ms, 15ms, 40, false, 1600, 30); // the clients open their windows
  g.update(35ms, 30ms, 64, false, 1600, 60);
  for (int i = 0; i < 200; ++i) // 2 s, jittering as clients do
    g.update(40ms, 35ms, 64, false, 1600, i % 4 == 3 ? 30 : 16 + 14 * (i % 4));
  CHECK(g.slow_start());
  // With a limit learnt from an earlier overload, the same holds it.
  auto l = limited_at(100);
  for (int i = 0; i < 200; ++i)
    CHECK(l.update(40ms, 35ms, 100, false, 1600, 99) == Approx(100).epsilon(0.01));
  // A backlog that outgrows where it settled, three windows running, is an
  // overload.
  l.update(40ms, 35ms, 100, false, 1600, 130);
  l.update(40ms, 35ms, 100, false, 1600, 170);
  CHECK(l.update(40ms, 35ms, 100, false, 1600, 99) == Approx(100).epsilon(0.01)); // fell back
  l.update(40ms, 35ms, 100, false, 1600, 130);
  l.update(40ms, 35ms, 100, false, 1600, 170);
  CHECK(l.update(40ms, 35ms, 100, false, 1600, 270) < 100); // over 2 x 99 + 64
}

TEST_CASE("a window of 64 calls opening on a cold backend is not an overload", "[adaptive]") {
  // The container test's first second on one of three replicas behind a
  // round-robin balancer: a client opens 64 calls, the replica's
  // PostgreSQL is cold and slow to commit, so its share of the window
  // piles up there, window after window, while the latency climbs to 60x
  // the unloaded 1.2 ms. Nothing had settled before: the queue rises from
  // nothing, and stops at the client's 64.
  gradient_limit g{settings()};
  g.update(1200us, 1200us, 2, false, 1600, 1);
  const double backlog[] = {3, 7, 14, 26, 40, 48, 56, 62, 64, 64, 63, 64};
  double latency_ms = 2;
  for (auto b : backlog) {
    latency_ms = std::min(72.0, latency_ms * 2);
    g.update(std::chrono::microseconds(static_cast<int>(latency_ms * 1000)), 1200us, b + 2, false,
             700, b);
  }
  CHECK(g.slow_start());
}

TEST_CASE("a jittering backlog of a client's window never engages the limit", "[adaptive]") {
  // Get's backlog, window after window, on one of three replicas sharing
  // two cores with PostgreSQL, the load balancer and a client keeping 64
  // calls in flight (the container test, log.level=debug): queueing in
  // every window, and jumps of 4x from one window to the next.
  const double measured[] = {
    9.6,  4.7,  2.8,  3.2,  7.9,  5.2,  2.4,  11.6, 4.5,  5.4,  2.9,  8.4,  4.0,  4.4,  1.7,
    1.4,  6.9,  13.3, 4.0,  9.5,  15.9, 17.0, 14.9, 9.6,  4.7,  11.0, 6.4,  8.2,  7.6,  8.2,
    9.5,  7.5,  3.1,  1.7,  6.5,  12.6, 16.2, 21.4, 9.0,  7.4,  5.8,  21.1, 37.5, 22.0, 7.6,
    4.8,  3.9,  5.8,  4.5,  2.5,  4.7,  9.6,  14.8};
  gradient_limit g{settings()};
  for (int round = 0; round < 20; ++round)
    for (auto backlog : measured)
      g.update(4ms, 300us, backlog * 1.5, false, 1000, backlog);
  CHECK(g.slow_start());
}

TEST_CASE("an overload too mild to show in short windows shows second after second",
          "[adaptive]") {
  gradient_limit g{settings()};
  // 5% more arrive than are answered: the backlog grows by 80 calls a
  // second, under a tenth a window of 10 ms.
  double backlog = 8;
  int windows = 0;
  for (; windows < 1000 && g.slow_start(); ++windows) {
    g.update(40ms, 5ms, backlog, false, 1600, backlog);
    backlog += 0.8;
  }
  CHECK_FALSE(g.slow_start());
  CHECK(windows > 200);
  CHECK(windows <= 401); // within 4 s
}

TEST_CASE("queueing cuts no further than Little's law says keeps the method busy",
          "[adaptive]") {
  auto g = limited_at(100);
  // 1,000 calls a second at a 5 ms floor keep 5 busy; 10 with a tolerance
  // of 2.
  CHECK(g.update(15ms, 10ms, 100, false, 1000) == Approx(10).epsilon(0.01));
  CHECK(g.update(15ms, 10ms, 100, false, 100) == 8); // never under the minimum
}

TEST_CASE("calls the client cancelled are not latency samples", "[adaptive]") {
  auto s = settings();
  s.min_samples = 3;
  auto t = std::chrono::steady_clock::now();
  adaptive_limiter l{s, t};
  for (int i = 0; i < 6; ++i)
    REQUIRE(l.try_acquire(t));
  for (int i = 0; i < 3; ++i)
    l.release(5ms, true, t + 1ms);
  for (int i = 0; i < 3; ++i)
    l.release(900ms, false, t + 1ms); // would look like queueing if counted
  REQUIRE(l.try_acquire(t + 100ms));
  CHECK(l.limit() == 5000);
}

namespace {

/// A storage with `servers` connections, each call taking `service` once it
/// has one, offered `rate` calls per second (evenly spaced) for `duration`,
/// or, with `clients`, that many clients each sending its next call once the
/// last is answered (a refused one tries again 1 ms later): what the limiter
/// admits, and the latency of what it admits.
struct simulation {
  int servers = 8;
  std::chrono::microseconds service = 5ms;
  double rate = 0;
  int clients = 0;
  std::chrono::seconds duration{30};
  // The simulated clock, carried from one run to the next.
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();

  struct result {
    double goodput = 0; // admitted and answered, per second
    double p99_ms = 0;  // of admitted calls
    double refused_share = 0;
  };

  result run(adaptive_limiter& limiter, std::chrono::seconds measure_from = 10s) {
    using clock = std::chrono::steady_clock;
    auto t0 = now;
    auto step = std::chrono::nanoseconds(static_cast<long>(1e9 / (rate > 0 ? rate : 1)));
    std::deque<clock::time_point> queue; // admitted, waiting for a connection: arrival times
    std::vector<std::pair<clock::time_point, clock::time_point>> busy; // (end, arrival)
    std::vector<double> latencies;
    long answered = 0, refused = 0, offered = 0;
    auto next_arrival = t0;
    auto end = t0 + duration;
    std::vector<clock::time_point> client_ready(static_cast<std::size_t>(clients), t0);
    auto arrive = [&] {
      bool measured = now >= t0 + measure_from;
      offered += measured;
      if (!limiter.try_acquire(now)) {
        refused += measured;
        return false;
      }
      queue.push_back(now);
      return true;
    };
    // Arrivals stop at `end`; what was admitted is still answered.
    for (; now < end || !busy.empty() || !queue.empty(); now += 100us) {
      // Calls whose service is over answer; their connection takes the next.
      for (auto it = busy.begin(); it != busy.end();) {
        if (it->first > now) {
          ++it;
          continue;
        }
        auto rtt = now - it->second;
        limiter.release(std::chrono::duration_cast<std::chrono::nanoseconds>(rtt), true, now);
        if (it->second >= t0 + measure_from && it->second < end) {
          ++answered;
          latencies.push_back(std::chrono::duration<double, std::milli>(rtt).count());
        }
        it = busy.erase(it);
        if (clients > 0)
          client_ready.push_back(now);
      }
      while (static_cast<int>(busy.size()) < servers && !queue.empty()) {
        busy.emplace_back(now + service, queue.front());
        queue.pop_front();
      }
      if (clients > 0) {
        std::vector<clock::time_point> waiting;
        for (auto ready : client_ready) {
          if (ready > now || now >= end || !arrive())
            waiting.push_back(ready > now || now >= end ? ready : now + 1ms);
        }
        client_ready.swap(waiting);
        if (now >= end)
          client_ready.clear();
        continue;
      }
      for (; next_arrival <= now && now < end; next_arrival += step)
        arrive();
    }
    result r;
    auto seconds = std::chrono::duration<double>(duration - measure_from).count();
    r.goodput = answered / seconds;
    std::sort(latencies.begin(), latencies.end());
    r.p99_ms = latencies.empty() ? 0 : latencies[latencies.size() * 99 / 100];
    r.refused_share = offered ? static_cast<double>(refused) / offered : 0;
    return r;
  }
};

} // namespace

TEST_CASE("overloaded 3x, the limit keeps goodput at capacity and latency near unloaded",
          "[adaptive]") {
  simulation sim;
  double capacity = sim.servers / std::chrono::duration<double>(sim.service).count(); // 1600/s
  adaptive_limit_settings s; // the host's defaults
  adaptive_limiter unloaded_limiter{s, sim.now};
  sim.rate = capacity * 0.5;
  auto unloaded = sim.run(unloaded_limiter);
  adaptive_limiter limiter{s, sim.now};
  sim.rate = capacity * 3;
  // Measured from the first call: the overload starts at once, and what is
  // admitted before the limit first bites counts too.
  auto loaded = sim.run(limiter, 0s);
  INFO("capacity " << capacity << "/s; unloaded p99 " << unloaded.p99_ms << " ms; overloaded: "
                   << loaded.goodput << "/s, p99 " << loaded.p99_ms << " ms, limit "
                   << limiter.limit() << ", refused " << loaded.refused_share);
  CHECK(unloaded.refused_share == 0);
  CHECK(loaded.goodput >= 0.9 * capacity);
  CHECK(loaded.p99_ms <= 3 * unloaded.p99_ms);
  // After the overload, at 90% of capacity everything is admitted again.
  sim.rate = capacity * 0.9;
  sim.duration = 6s;
  auto after = sim.run(limiter, 1s);
  INFO("after: " << after.goodput << "/s, refused " << after.refused_share);
  CHECK(after.refused_share < 0.01);
  CHECK(after.goodput >= 0.85 * capacity);
}

TEST_CASE("a pure delay with thousands in flight is not throttled", "[adaptive]") {
  // 2000 in flight, 200 ms each: no queue anywhere.
  simulation sim;
  sim.servers = 100000; // no capacity limit: the delay is all there is
  sim.service = 200ms;
  sim.rate = 10000;
  sim.duration = 12s;
  adaptive_limiter limiter{adaptive_limit_settings{}, sim.now};
  auto r = sim.run(limiter, 2s);
  INFO("limit " << limiter.limit() << ", goodput " << r.goodput << ", refused "
                << r.refused_share);
  CHECK(r.refused_share == 0);
  CHECK(r.goodput >= 0.99 * sim.rate);
}

TEST_CASE("clients that wait for their answers are never refused, however long their queue",
          "[adaptive]") {
  // 64 clients over 8 connections: every call waits for 7 others, 8x the
  // unloaded latency, and the queue never grows past 64.
  simulation sim;
  sim.clients = 64;
  sim.duration = 12s;
  adaptive_limiter limiter{adaptive_limit_settings{}, sim.now};
  auto r = sim.run(limiter, 0s);
  double capacity = sim.servers / std::chrono::duration<double>(sim.service).count();
  INFO("limit " << limiter.limit() << ", goodput " << r.goodput << ", p99 " << r.p99_ms
                << " ms, refused " << r.refused_share);
  CHECK(r.refused_share == 0);
  CHECK(r.goodput >= 0.95 * capacity);
}
