#pragma once

#include <string>

#include "fanin/fanin_counts.hpp"
#include "options.hpp"
#include "process.hpp"

namespace troupe::loadgen {

/// What a fan-in run measured, summed over producers and subscribers.
struct fanin_result {
  bool interrupted = false;
  bool drained = true;   // every subscriber got every accepted event in time
  double window_s = 0;   // deliveries counted for the rate
  double publish_s = 0;  // writes counted for the publish rate
  cpu_times cpu;         // this client's, from the first event to the end
  delivery_counts deliveries;
  resubscribe_counts resubscribes;
  producer_totals producers;
};

/// The human report: a few aligned lines.
std::string fanin_text_report(const options& o, const fanin_result& r);

/// One JSON object (no trailing newline), latencies in milliseconds:
/// bench/run and the tests read its fields by name.
std::string fanin_json_report(const options& o, const fanin_result& r);

} // namespace troupe::loadgen
