#include "options.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace troupe::loadgen {

namespace {

bool to_double(const std::string& s, double& out) {
  if (s.empty())
    return false;
  errno = 0;
  char* end = nullptr;
  auto v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v) || v < 0)
    return false;
  out = v;
  return true;
}

} // namespace

const char* usage_text() {
  return "usage: troupe bench SCENARIO [options]\n"
         "\n"
         "scenarios:\n"
         "  kv-get     Get of random keys (see --populate)\n"
         "  kv-put     Put of random keys\n"
         "  kv-mixed   Get or Put of random keys, Put with probability --put-ratio\n"
         "  fanin      --producers Publish streams into --topics topics, --subscribers\n"
         "             Subscribe streams to all of them: delivered events/s, publish-to-\n"
         "             delivery latency, and every seq checked (gaps, duplicates, order);\n"
         "             cut-off subscribers resubscribe with start_after\n"
         "\n"
         "options:\n"
         "  --target HOST:PORT   server (127.0.0.1:50051)\n"
         "  --connections N      channels, each its own TCP connection (4)\n"
         "  --threads N          completion-queue threads (1)\n"
         "  --in-flight N        calls in flight at most, over all connections (64)\n"
         "  --rate R             open loop: R calls/s on a fixed schedule; latency counts\n"
         "                       from the scheduled start (default: closed loop)\n"
         "  --duration S         measure for S seconds (10 unless --count)\n"
         "  --count N            measure N calls instead\n"
         "  --warmup S           run S seconds first, unmeasured (0)\n"
         "  --keys N             key space (10000)\n"
         "  --value-bytes N      size of put values (100)\n"
         "  --put-ratio F        kv-mixed: share of Puts, 0..1 (0.1)\n"
         "  --deadline-ms N      per-call deadline (5000)\n"
         "  --populate           Put every key once before measuring\n"
         "  --json               one JSON object on stdout instead of the text report\n"
         "\n"
         "fanin options (--connections, --threads, --rate, --duration, --count, --warmup,\n"
         "--value-bytes and --deadline-ms apply too: connections and threads carry the\n"
         "producers, --rate and --count are events over all producers, --deadline-ms\n"
         "bounds connecting and subscribing):\n"
         "  --producers N        Publish streams (50)\n"
         "  --subscribers N      Subscribe streams, one connection each (4)\n"
         "  --subscriber-threads N  completion-queue threads the subscribers share (2)\n"
         "  --topics N           topics; producer i publishes to topic i % N (1)\n"
         "  --topic-prefix P     topics are P-0, P-1, ... (bench-fanin)\n"
         "  --subscriber-rate R  each subscriber reads at most R events/s (as fast as it can)\n"
         "  --drain S            after publishing, wait up to S s for subscribers (10)\n"
         "  --quiet              no progress lines on stderr\n"
         "\n"
         "Every call ends in a gRPC status and is counted under its name. Exit 0 when\n"
         "the run completed with at least one OK call, 1 otherwise, 2 on usage errors.\n";
}

std::optional<options> parse_options(const cli::args& a, std::string& error) {
  auto parsed = cli::parse_flags(a, {"--populate", "--json", "--quiet", "--help"});
  options o;
  for (auto& [flag, value] : parsed.flags) {
    std::uint64_t n = 0;
    double d = 0;
    auto bad = [&] {
      error = "bad value '" + value + "' for " + flag;
      return std::nullopt;
    };
    auto positive_int = [&](auto& dst, std::uint64_t limit) {
      if (!cli::to_u64(value, n) || n == 0 || n > limit)
        return false;
      dst = static_cast<std::remove_reference_t<decltype(dst)>>(n);
      return true;
    };
    if (flag == "--help") {
      error.clear();
      return std::nullopt;
    } else if (flag == "--target") {
      if (value.empty())
        return bad();
      o.target = value;
    } else if (flag == "--connections") {
      if (!positive_int(o.connections, 10000))
        return bad();
    } else if (flag == "--threads") {
      if (!positive_int(o.threads, 256))
        return bad();
    } else if (flag == "--in-flight") {
      if (!positive_int(o.in_flight, 1000000))
        return bad();
    } else if (flag == "--rate") {
      if (!to_double(value, o.rate) || o.rate <= 0)
        return bad();
    } else if (flag == "--duration") {
      if (!to_double(value, o.duration_s) || o.duration_s <= 0)
        return bad();
    } else if (flag == "--count") {
      if (!positive_int(o.count, UINT64_MAX))
        return bad();
    } else if (flag == "--warmup") {
      if (!to_double(value, o.warmup_s))
        return bad();
    } else if (flag == "--keys") {
      if (!positive_int(o.keys, 1000000000))
        return bad();
    } else if (flag == "--value-bytes") {
      if (!cli::to_u64(value, n) || n > (64u << 20))
        return bad();
      o.value_bytes = n;
    } else if (flag == "--put-ratio") {
      if (!to_double(value, d) || d > 1)
        return bad();
      o.put_ratio = d;
    } else if (flag == "--deadline-ms") {
      if (!positive_int(o.deadline_ms, 86400000))
        return bad();
    } else if (flag == "--producers") {
      if (!positive_int(o.producers, 100000))
        return bad();
    } else if (flag == "--subscribers") {
      if (!positive_int(o.subscribers, 10000))
        return bad();
    } else if (flag == "--subscriber-threads") {
      if (!positive_int(o.subscriber_threads, 256))
        return bad();
    } else if (flag == "--topics") {
      if (!positive_int(o.topics, 10000))
        return bad();
    } else if (flag == "--topic-prefix") {
      if (value.empty())
        return bad();
      o.topic_prefix = value;
    } else if (flag == "--subscriber-rate") {
      if (!to_double(value, o.subscriber_rate) || o.subscriber_rate <= 0)
        return bad();
    } else if (flag == "--drain") {
      if (!to_double(value, o.drain_s))
        return bad();
    } else if (flag == "--populate") {
      o.populate = value != "false";
    } else if (flag == "--json") {
      o.json = value != "false";
    } else if (flag == "--quiet") {
      o.quiet = value != "false";
    } else {
      error = "unknown flag " + flag;
      return std::nullopt;
    }
  }
  if (parsed.positional.size() != 1) {
    error = parsed.positional.empty() ? "missing SCENARIO"
                                      : "unexpected argument '" + parsed.positional[1] + "'";
    return std::nullopt;
  }
  o.scenario = parsed.positional[0];
  if (o.count > 0 && o.duration_s > 0) {
    error = "--count and --duration exclude each other";
    return std::nullopt;
  }
  if (o.count == 0 && o.duration_s == 0)
    o.duration_s = default_duration_s;
  // A connection without a call slot, or a thread without a connection,
  // would only idle: the report shows the effective numbers.
  o.connections = std::min(o.connections, o.in_flight);
  o.threads = std::min(o.threads, o.connections);
  return o;
}

} // namespace troupe::loadgen
