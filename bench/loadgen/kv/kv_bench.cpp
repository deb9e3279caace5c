#include "kv/kv_bench.hpp"

#include <algorithm>
#include <cstdio>

#include "driver/call_slot.hpp"
#include "driver/driver.hpp"
#include "driver/run_report.hpp"
#include "kv/kv_scenario.hpp"

namespace troupe::loadgen {

namespace {

/// Puts every key once before the measured run, so that Gets find what they
/// ask for; one Put per key, so no more calls in flight than keys.
bool populate(const options& o) {
  auto fill = o;
  fill.rate = 0;
  fill.count = o.keys;
  fill.duration_s = 0;
  fill.warmup_s = 0;
  fill.in_flight = static_cast<int>(std::min<std::uint64_t>(o.in_flight, o.keys));
  fill.connections = std::min(fill.connections, fill.in_flight);
  fill.threads = std::min(fill.threads, fill.connections);
  auto puts = make_kv_populate(fill);
  auto filled = run_load(*puts, fill, "populate");
  if (filled.ok() == o.keys && !filled.interrupted)
    return true;
  std::fprintf(stderr, "troupe bench: populate stored %llu of %llu keys:\n%s",
               static_cast<unsigned long long>(filled.ok()),
               static_cast<unsigned long long>(o.keys), text_report(fill, filled).c_str());
  return false;
}

} // namespace

int run_kv(const options& o) {
  if (o.populate && !populate(o))
    return 1;
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
