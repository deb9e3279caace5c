#pragma once

#include <cstdint>

#include "histogram.hpp"
#include "process.hpp"
#include "status_counts.hpp"

namespace troupe::loadgen {

/// What one driver run measured: each worker fills its own, then they are
/// merged.
struct run_stats {
  latency_histogram latency;     // every measured call, whatever its status
  latency_histogram latency_ok;  // only calls that ended OK
  latency_histogram start_lag;   // open loop: actual start minus scheduled start
  status_counts status{};
  std::uint64_t unsent = 0;  // open loop: scheduled in the window but never started
  std::int64_t last_done_ns = 0;  // since the measuring window opened

  // Filled by the driver after the workers are merged.
  double window_s = 0;
  cpu_times cpu;
  bool interrupted = false;

  std::uint64_t calls() const { return total(status); }
  std::uint64_t ok() const { return status[0]; }

  void merge(const run_stats& o) {
    latency.merge(o.latency);
    latency_ok.merge(o.latency_ok);
    start_lag.merge(o.start_lag);
    add_counts(status, o.status);
    unsent += o.unsent;
    if (o.last_done_ns > last_done_ns)
      last_done_ns = o.last_done_ns;
  }
};

} // namespace troupe::loadgen
