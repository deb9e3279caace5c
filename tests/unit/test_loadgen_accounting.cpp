// The load generator's own bookkeeping: its throughput figures mean nothing
// if it miscounts gaps, duplicates or what it was meant to send.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "fanin/delivery_ledger.hpp"
#include "fanin/stamp.hpp"
#include "load_split.hpp"

using troupe::loadgen::delivery_ledger;
using troupe::loadgen::run_clock;
using troupe::loadgen::split_load;

namespace {

/// Sent at `sent_unix_ns`: 0, long before any run, unless a test says.
std::string payload(std::uint32_t producer, std::uint64_t counter, std::int64_t sent_unix_ns = 0) {
  std::string p(troupe::loadgen::stamp_bytes + 4, 'x');
  troupe::loadgen::write_stamp(p, {sent_unix_ns, producer, counter});
  return p;
}

run_clock started_clock() {
  run_clock c;
  c.start(0, 60);
  return c;
}

} // namespace

TEST_CASE("ledger counts gaps and duplicates from the base seq on", "[loadgen]") {
  auto clock = started_clock();
  delivery_ledger ledger({"t-0", "t-1"}, 2, clock);
  ledger.set_base({10, 0});
  ledger.take("t-0", 11, payload(0, 0));
  ledger.take("t-0", 11, payload(0, 0)); // again
  ledger.take("t-0", 10, payload(0, 0)); // before the run
  ledger.take("t-0", 14, payload(0, 1)); // 12 and 13 skipped
  ledger.take("t-1", 1, payload(1, 0));
  CHECK(ledger.last_seen(0) == 14);
  CHECK(ledger.delivered_so_far() == 3);
  ledger.set_targets({15, 1});
  CHECK_FALSE(ledger.complete());
  auto c = ledger.counts();
  CHECK(c.delivered == 3);
  CHECK(c.dups == 2);
  CHECK(c.gaps == 2);
  CHECK(c.missing == 1);
  CHECK(c.order_errors == 0);
  CHECK(c.foreign == 0);
  ledger.take("t-0", 15, payload(0, 2));
  CHECK(ledger.complete());
  CHECK(ledger.counts().missing == 0);
}

TEST_CASE("ledger is not complete before it knows the targets", "[loadgen]") {
  auto clock = started_clock();
  delivery_ledger ledger({"t-0"}, 1, clock);
  CHECK_FALSE(ledger.complete());
  ledger.set_targets({0});
  CHECK(ledger.complete());
}

TEST_CASE("ledger checks each producer's order and spots foreign events", "[loadgen]") {
  auto clock = started_clock();
  auto now = clock.measure_start_unix;
  delivery_ledger ledger({"t-0"}, 2, clock);
  ledger.take("t-0", 1, payload(0, 5, now));
  ledger.take("t-0", 2, payload(1, 0, now)); // another producer: its own order
  ledger.take("t-0", 3, payload(0, 4, now)); // producer 0 went back
  ledger.take("t-0", 4, payload(7, 0, now)); // no such producer in this run
  ledger.take("t-0", 5, "short");       // no stamp
  ledger.take("other", 1, payload(0, 6));
  auto c = ledger.counts();
  CHECK(c.delivered == 5);
  CHECK(c.order_errors == 1);
  CHECK(c.foreign == 3);
  // Latency of the stamped events of this run only.
  CHECK(c.latency.count() == 3);
  CHECK(c.in_window == 5);
}

TEST_CASE("split_load gives every thread its items' part, quotas adding up", "[loadgen]") {
  // 10 items over 3 connections: 4, 3, 3; connections 0 and 2 on thread 0.
  auto shares = split_load(10, 3, 2, 1000, 1001);
  REQUIRE(shares.size() == 2);
  CHECK(shares[0].rate == Approx(700));
  CHECK(shares[1].rate == Approx(300));
  CHECK(shares[0].quota == 700);
  CHECK(shares[1].quota == 301);
  CHECK(shares[0].phase == 0);
  CHECK(shares[1].phase == 0.5);

  auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(100);
  auto& s = shares[1];
  CHECK(s.due(t0, 0) == t0 + std::chrono::nanoseconds(1666666));
  CHECK(s.first_due_at_or_after(t0, s.due(t0, 3)) == 3);
  CHECK(s.first_due_at_or_after(t0, s.due(t0, 3) + std::chrono::nanoseconds(1)) == 4);
}
