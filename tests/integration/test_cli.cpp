// The troupe client commands as a user runs them: `troupe kv ...` and
// `troupe bench ...` against a real `troupe serve`, judged by their stdout,
// stderr and exit codes.

#include <catch2/catch.hpp>

#include <regex>

#include "troupe_process.hpp"

using troupe::test::run_troupe;
using troupe::test::server_process;

namespace {

std::vector<std::string> with_target(const server_process& s, std::vector<std::string> args) {
  args.push_back("--target");
  args.push_back(s.target());
  return args;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

/// A number field of the bench's JSON object, such as "calls" or, inside
/// "status", "RESOURCE_EXHAUSTED"; -1 when absent.
double json_field(const std::string& json, const std::string& name) {
  std::smatch m;
  std::regex re("\"" + name + "\":(-?[0-9.]+)");
  return std::regex_search(json, m, re) ? std::stod(m[1]) : -1;
}

/// The status counts of a bench JSON report, which must be its own object.
std::string status_object(const std::string& json) {
  std::smatch m;
  std::regex re("\"status\":\\{([^}]*)\\}");
  return std::regex_search(json, m, re) ? m[1].str() : std::string();
}

double sum_of_counts(const std::string& status) {
  double sum = 0;
  std::regex re("\"[A-Z_]+\":([0-9]+)");
  for (std::sregex_iterator it(status.begin(), status.end(), re), end; it != end; ++it)
    sum += std::stod((*it)[1]);
  return sum;
}

} // namespace

TEST_CASE("kv put, get, delete, scan and multiget round trip", "[cli]") {
  server_process server({"--kv-backend", "memory"});

  auto put = run_troupe(with_target(server, {"kv", "put", "fruit/apple", "red"}));
  REQUIRE(put.exit_code == 0);
  CHECK(put.out == "1\n");
  put = run_troupe(with_target(server, {"kv", "put", "fruit/apple", "green"}));
  CHECK(put.out == "2\n");
  REQUIRE(run_troupe(with_target(server, {"kv", "put", "fruit/fig", "purple"})).exit_code == 0);
  REQUIRE(run_troupe(with_target(server, {"kv", "put", "veg/leek", "white"})).exit_code == 0);

  SECTION("get prints the value, and the version when verbose") {
    auto get = run_troupe(with_target(server, {"kv", "get", "fruit/apple", "--verbose"}));
    CHECK(get.exit_code == 0);
    CHECK(get.out == "green\n");
    CHECK(contains(get.err, "version 2"));
    auto json = run_troupe(with_target(server, {"kv", "get", "fruit/apple", "--json"}));
    CHECK(json.out
          == "{\"key\":\"fruit/apple\",\"found\":true,\"value\":\"green\",\"version\":2}\n");
  }

  SECTION("put reads the value from stdin for -, and honours --if-version") {
    // run_troupe gives the child /dev/null as stdin: an empty value.
    auto put_stdin = run_troupe(with_target(server, {"kv", "put", "empty", "-"}));
    CHECK(put_stdin.exit_code == 0);
    auto get = run_troupe(with_target(server, {"kv", "get", "empty"}));
    CHECK(get.exit_code == 0);
    CHECK(get.out == "\n");

    auto ok = run_troupe(with_target(server, {"kv", "put", "fruit/fig", "dark", "--if-version", "1"}));
    CHECK(ok.exit_code == 0);
    CHECK(ok.out == "2\n");
    auto stale = run_troupe(
      with_target(server, {"kv", "put", "fruit/fig", "pale", "--if-version", "1"}));
    CHECK(stale.exit_code == 1);
    CHECK(starts_with(stale.err, "ABORTED: "));
  }

  SECTION("scan lists entries in key order, filtered and limited") {
    auto all = run_troupe(with_target(server, {"kv", "scan"}));
    CHECK(all.exit_code == 0);
    CHECK(all.out == "fruit/apple\tgreen\t2\nfruit/fig\tpurple\t1\nveg/leek\twhite\t1\n");
    auto fruit = run_troupe(with_target(server, {"kv", "scan", "--prefix", "fruit/"}));
    CHECK(fruit.out == "fruit/apple\tgreen\t2\nfruit/fig\tpurple\t1\n");
    auto page = run_troupe(
      with_target(server, {"kv", "scan", "--start-after", "fruit/apple", "--limit", "1"}));
    CHECK(page.out == "fruit/fig\tpurple\t1\n");
    auto json = run_troupe(with_target(server, {"kv", "scan", "--prefix", "veg/", "--json"}));
    CHECK(json.out == "{\"key\":\"veg/leek\",\"found\":true,\"value\":\"white\",\"version\":1}\n");
  }

  SECTION("multiget answers every key in request order") {
    auto mg = run_troupe(with_target(server, {"kv", "multiget", "veg/leek", "nope", "fruit/fig"}));
    CHECK(mg.exit_code == 0);
    CHECK(mg.out == "veg/leek\twhite\t1\nnope\t\t0\nfruit/fig\tpurple\t1\n");
    auto json = run_troupe(with_target(server, {"kv", "multiget", "nope", "--json"}));
    CHECK(json.out == "{\"key\":\"nope\",\"found\":false}\n");
  }

  SECTION("delete reports whether the key existed; get of a deleted key fails") {
    auto del = run_troupe(with_target(server, {"kv", "delete", "fruit/apple"}));
    CHECK(del.exit_code == 0);
    CHECK(del.out == "deleted\n");
    auto again = run_troupe(with_target(server, {"kv", "delete", "fruit/apple", "--json"}));
    CHECK(again.exit_code == 0);
    CHECK(again.out == "{\"key\":\"fruit/apple\",\"existed\":false}\n");
    auto get = run_troupe(with_target(server, {"kv", "get", "fruit/apple"}));
    CHECK(get.exit_code == 1);
    CHECK(get.out.empty());
    CHECK(starts_with(get.err, "NOT_FOUND: "));
    CHECK(contains(get.err, "not found"));
  }

  SECTION("-- ends the flags, so keys may look like flags") {
    auto p = run_troupe({"kv", "put", "--target", server.target(), "--", "--odd", "--value"});
    CHECK(p.exit_code == 0);
    auto g = run_troupe({"kv", "--target", server.target(), "get", "--", "--odd"});
    CHECK(g.exit_code == 0);
    CHECK(g.out == "--value\n");
    // After --, even --target is a KEY: get then has two keys, a usage error.
    auto two = run_troupe({"kv", "get", "--", "--odd", "--target", server.target()});
    CHECK(two.exit_code == 2);
  }
}

TEST_CASE("kv prints non-OK statuses by name and exits 1; usage errors exit 2", "[cli]") {
  server_process server({"--kv-backend", "memory"});

  SECTION("an invalid key is INVALID_ARGUMENT naming the field") {
    auto r = run_troupe(with_target(server, {"kv", "get", ""}));
    CHECK(r.exit_code == 1);
    CHECK(starts_with(r.err, "INVALID_ARGUMENT: "));
    CHECK(contains(r.err, "key"));
    auto p = run_troupe(with_target(server, {"kv", "put", std::string(2000, 'k'), "v"}));
    CHECK(p.exit_code == 1);
    CHECK(starts_with(p.err, "INVALID_ARGUMENT: "));
    CHECK(contains(p.err, "key"));
  }

  SECTION("an unreachable target is UNAVAILABLE") {
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    auto r = run_troupe({"kv", "get", "a", "--target", "127.0.0.1:1", "--deadline-ms", "3000"});
    CHECK(r.exit_code == 1);
    CHECK(starts_with(r.err, "UNAVAILABLE: "));
  }

  SECTION("usage errors") {
    for (auto args : std::vector<std::vector<std::string>>{
           {"kv"},
           {"kv", "get"},
           {"kv", "frobnicate", "a"},
           {"kv", "get", "a", "--bogus", "1"},
           {"kv", "scan", "--limit", "many"},
           {"kv", "get", "a", "--if-version", "3"},
           {"kv", "get", "a", "--deadline-ms", "0"}}) {
      auto r = run_troupe(with_target(server, args));
      INFO(args[args.size() > 1 ? 1 : 0] << " " << r.err);
      CHECK(r.exit_code == 2);
      CHECK(starts_with(r.err, "troupe kv: "));
    }
    auto help = run_troupe({"kv", "--help"});
    CHECK(help.exit_code == 0);
    CHECK(contains(help.out, "multiget"));
  }
}

TEST_CASE("bench kv-get counts every call it makes", "[bench]") {
  server_process server({"--kv-backend", "memory"});

  auto r = run_troupe(with_target(server, {"bench", "kv-get", "--json", "--count", "2000",
                                           "--populate", "--keys", "300", "--quiet"}));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK(json_field(r.out, "calls") == 2000);
  CHECK(json_field(r.out, "ok") == 2000);
  CHECK(status_object(r.out) == "\"OK\":2000");
  CHECK(json_field(r.out, "p99") > 0);
  CHECK(json_field(r.out, "total") > 0);  // client CPU seconds

  // --populate stored every key once.
  auto scan = run_troupe(with_target(server, {"kv", "scan", "--prefix", "bench/"}));
  CHECK(std::count(scan.out.begin(), scan.out.end(), '\n') == 300);
}

TEST_CASE("bench prints a text report and progress lines", "[bench]") {
  server_process server({"--kv-backend", "memory"});
  auto r = run_troupe(with_target(server, {"bench", "kv-mixed", "--duration", "1.5",
                                           "--put-ratio", "0.5", "--connections", "2",
                                           "--threads", "2", "--in-flight", "8"}));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "closed loop, 8 in flight, 2 connections, 2 threads"));
  CHECK(std::regex_search(r.out, std::regex("status +OK [0-9]+\n")));
  CHECK(std::regex_search(r.out, std::regex("p50 [0-9.]+  p90 [0-9.]+  p99 [0-9.]+  p99.9 "
                                            "[0-9.]+  max [0-9.]+ ms")));
  CHECK(contains(r.out, "us/call in this client"));
  CHECK(contains(r.err, "[   1.0s] kv-mixed: "));
}

TEST_CASE("bench counts RESOURCE_EXHAUSTED from a server that sheds load", "[bench]") {
  // One shard taking 200 ms per call with 5 pending at most: most of 100 in
  // flight are shed at once.
  server_process server({"--kv-backend", "memory", "--kv-shards", "1", "--kv-max-pending", "5",
                         "--kv-latency-ms", "200"});
  auto r = run_troupe(with_target(server, {"bench", "kv-get", "--in-flight", "100", "--duration",
                                           "2", "--json", "--quiet"}));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto status = status_object(r.out);
  auto calls = json_field(r.out, "calls");
  CHECK(json_field(status, "RESOURCE_EXHAUSTED") > 0);
  CHECK(json_field(status, "OK") > 0);
  CHECK(sum_of_counts(status) == calls);
  CHECK(json_field(r.out, "errors") == calls - json_field(status, "OK"));
}

TEST_CASE("bench in open loop keeps its schedule", "[bench]") {
  server_process server({"--kv-backend", "memory"});
  auto r = run_troupe(with_target(server, {"bench", "kv-get", "--rate", "500", "--duration", "2",
                                           "--json", "--quiet"}));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(json_field(r.out, "calls") == Approx(1000).epsilon(0.1));
  CHECK(json_field(r.out, "rate") == Approx(500).epsilon(0.1));
  CHECK(json_field(r.out, "unsent") == 0);
  CHECK(contains(r.out, "\"start_lag_ms\":"));
}

TEST_CASE("bench exits 1 when no call succeeds, 2 on usage errors", "[bench]") {
  auto r = run_troupe({"bench", "kv-get", "--target", "127.0.0.1:1", "--duration", "0.3",
                       "--deadline-ms", "300", "--json", "--quiet"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK(json_field(r.out, "UNAVAILABLE") > 0);
  CHECK(json_field(r.out, "ok") == 0);

  for (auto args : std::vector<std::vector<std::string>>{{"bench"},
                                                         {"bench", "kv-nothing"},
                                                         {"bench", "kv-get", "--rate", "fast"},
                                                         {"bench", "kv-get", "--count", "5",
                                                          "--duration", "1"}}) {
    auto u = run_troupe(args);
    CHECK(u.exit_code == 2);
    CHECK(starts_with(u.err, "troupe bench: "));
  }
}
