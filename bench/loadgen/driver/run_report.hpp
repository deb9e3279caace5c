#pragma once

#include <string>

#include "options.hpp"
#include "driver/run_stats.hpp"

namespace troupe::loadgen {

/// The human report: a few aligned lines.
std::string text_report(const options& o, const run_stats& s);

/// One JSON object (no trailing newline), latencies in milliseconds.
std::string json_report(const options& o, const run_stats& s);

} // namespace troupe::loadgen
