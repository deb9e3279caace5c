#include "troupe/loadgen/bench_command.hpp"

#include <algorithm>
#include <cstdio>

#include "driver/call_slot.hpp"
#include "driver/driver.hpp"
#include "fanin/fanin_bench.hpp"
#include "kv/kv_scenario.hpp"
#include "options.hpp"
#include "driver/run_report.hpp"

namespace troupe::loadgen {

// Exit codes: 0 the run completed with at least one OK call, 1 no call
// succeeded (or --populate failed), 2 usage.
int bench_command(const std::vector<std::string>& a) {
  std::string error;
  auto parsed = parse_options(a, error);
  if (!parsed) {
    if (error.empty()) {
      std::fputs(usage_text(), stdout);
      return 0;
    }
    std::fprintf(stderr, "troupe bench: %s (see troupe bench --help)\n", error.c_str());
    return 2;
  }
  auto& o = *parsed;
  if (is_fanin_scenario(o.scenario)) {
    if (o.populate) {
      std::fprintf(stderr, "troupe bench: --populate is for kv scenarios\n");
      return 2;
    }
    return run_fanin(o);
  }
  if (!is_kv_scenario(o.scenario)) {
    std::fprintf(stderr, "troupe bench: unknown scenario '%s' (see troupe bench --help)\n",
                 o.scenario.c_str());
    return 2;
  }

  if (o.populate) {
    auto fill = o;
    fill.rate = 0;
    fill.count = o.keys;
    fill.duration_s = 0;
    fill.warmup_s = 0;
    fill.in_flight = static_cast<int>(std::min<std::uint64_t>(o.in_flight, o.keys));
    fill.connections = std::min(fill.connections, fill.in_flight);
    fill.threads = std::min(fill.threads, fill.connections);
    auto populate = make_kv_populate(fill);
    auto filled = run_load(*populate, fill, "populate");
    if (filled.ok() != o.keys || filled.interrupted) {
      std::fprintf(stderr, "troupe bench: populate stored %llu of %llu keys:\n%s",
                   static_cast<unsigned long long>(filled.ok()),
                   static_cast<unsigned long long>(o.keys),
                   text_report(fill, filled).c_str());
      return 1;
    }
  }

  auto sc = make_kv_scenario(o);
  auto stats = run_load(*sc, o, o.scenario);
  if (o.json)
    std::printf("%s\n", json_report(o, stats).c_str());
  else
    std::fputs(text_report(o, stats).c_str(), stdout);
  std::fflush(stdout);
  if (stats.ok() == 0) {
    std::fprintf(stderr, "troupe bench: no call succeeded\n");
    return 1;
  }
  return 0;
}

} // namespace troupe::loadgen
