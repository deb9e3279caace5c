#include "troupe/loadgen/bench_command.hpp"

#include <cstdio>

#include "fanin/fanin_bench.hpp"
#include "kv/kv_bench.hpp"
#include "kv/kv_scenario.hpp"
#include "options.hpp"

namespace troupe::loadgen {

// Exit codes: 0 the run completed with at least one OK call, 1 no call
// succeeded (or --populate failed), 2 usage.
int bench_command(const std::vector<std::string>& args) {
  std::string error;
  auto parsed = parse_options(args, error);
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
  return run_kv(o);
}

} // namespace troupe::loadgen
