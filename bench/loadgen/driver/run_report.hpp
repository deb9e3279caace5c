#pragma once

#include <string>

#include "driver/run_stats.hpp"
#include "options.hpp"

namespace troupe::loadgen {

/// The human report of a driver run: a few aligned lines.
std::string text_report(const options& o, const run_stats& s);

/// One JSON object (no trailing newline), latencies in milliseconds:
/// bench/run reads its fields by name.
std::string json_report(const options& o, const run_stats& s);

} // namespace troupe::loadgen
