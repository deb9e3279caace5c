#pragma once

#include <string>

#include "bench_options.hpp"
#include "bench_stats.hpp"

namespace troupe::host::bench {

/// The human report: a few aligned lines.
std::string text_report(const options& o, const run_stats& s);

/// One JSON object (no trailing newline), latencies in milliseconds.
std::string json_report(const options& o, const run_stats& s);

} // namespace troupe::host::bench
