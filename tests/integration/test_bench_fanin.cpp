// `troupe bench fanin` against a real `troupe serve`: the load generator's
// own bookkeeping (accepted, delivered, gaps, duplicates, resubscribes) must
// agree with what the server did, or its throughput figures mean nothing.

#include <catch2/catch.hpp>

#include <regex>

#include "troupe_process.hpp"

using troupe::test::run_troupe;
using troupe::test::server_process;

namespace {

/// A top-level number field of the bench's JSON report; -1 when absent.
double field(const std::string& json, const std::string& name) {
  std::smatch m;
  std::regex re("\"" + name + "\":(-?[0-9.]+)");
  return std::regex_search(json, m, re) ? std::stod(m[1]) : -1;
}

/// The body of an object field such as "publish_status".
std::string object(const std::string& json, const std::string& name) {
  std::smatch m;
  std::regex re("\"" + name + "\":\\{([^}]*)\\}");
  return std::regex_search(json, m, re) ? m[1].str() : std::string();
}

} // namespace

TEST_CASE("bench fanin: every accepted event reaches every subscriber once, in order",
          "[cli][fanin]") {
  server_process server({"--kv-backend", "memory"});
  // 10,000 events per topic: no more than a topic retains, so even a
  // subscriber cut off on this busy machine can resume without loss.
  auto r = run_troupe({"bench", "fanin", "--target", server.target(), "--producers", "10",
                       "--topics", "2", "--subscribers", "3", "--count", "20000", "--json",
                       "--quiet"},
                      {}, std::chrono::seconds(120));
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(field(r.out, "accepted") == 20000);
  CHECK(field(r.out, "published") == 20000);
  CHECK(field(r.out, "expected") == 60000);
  CHECK(field(r.out, "delivered") == 60000);
  CHECK(field(r.out, "gaps") == 0);
  CHECK(field(r.out, "dups") == 0);
  CHECK(field(r.out, "missing") == 0);
  CHECK(field(r.out, "order_errors") == 0);
  CHECK(field(r.out, "foreign") == 0);
  CHECK(field(r.out, "trailer_mismatches") == 0);
  CHECK(object(r.out, "publish_status") == "\"OK\":10");
  CHECK(field(r.out, "rate") > 0);
  CHECK(field(r.out, "p99") > 0);
}

TEST_CASE("bench fanin: a cut-off subscriber resubscribes from the trailers and loses nothing",
          "[cli][fanin]") {
  // A 16-event buffer and a subscriber reading 2,000 events/s while four
  // producers publish as fast as they can: it must be cut off. 5,000 events
  // stay within retention, so resuming from the trailers loses nothing.
  server_process server({"--kv-backend", "memory", "--fanin-subscriber-buffer", "16"});
  auto r = run_troupe({"bench", "fanin", "--target", server.target(), "--producers", "4",
                       "--subscribers", "1", "--subscriber-rate", "2000", "--count", "5000",
                       "--drain", "60", "--json", "--quiet"},
                      {}, std::chrono::seconds(120));
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(field(r.out, "cutoffs") >= 1);
  CHECK(field(r.out, "resubscribes") >= 1);
  CHECK(field(r.out, "out_of_range") == 0);
  CHECK(object(r.out, "subscribe_status").find("RESOURCE_EXHAUSTED") != std::string::npos);
  CHECK(field(r.out, "accepted") == 5000);
  CHECK(field(r.out, "delivered") == 5000);
  CHECK(field(r.out, "gaps") == 0);
  CHECK(field(r.out, "dups") == 0);
  CHECK(field(r.out, "missing") == 0);
  CHECK(field(r.out, "order_errors") == 0);
  CHECK(field(r.out, "trailer_mismatches") == 0);
}

TEST_CASE("bench fanin: usage errors exit 2", "[cli][fanin]") {
  auto r = run_troupe({"bench", "fanin", "--value-bytes", "8"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--value-bytes") != std::string::npos);
  r = run_troupe({"bench", "fanin", "--subscribers", "0"});
  CHECK(r.exit_code == 2);
}
