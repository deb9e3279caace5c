#pragma once

#include <string>

#include "driver/run_stats.hpp"
#include "options.hpp"

namespace troupe::loadgen {

class scenario;

/// Runs `s` with the load shape of `o` (connections, threads, in flight,
/// closed or open loop, warm-up, duration or count) and returns what was
/// measured. Progress goes to stderr each second unless `o.quiet`, labelled
/// `label`. SIGINT/SIGTERM (blocked in every thread) end the run early with
/// a report; a second one exits at once.
run_stats run_load(scenario& s, const options& o, const std::string& label);

} // namespace troupe::loadgen
