#pragma once

#include <array>
#include <cstdint>

#include "histogram.hpp"

namespace troupe::loadgen {

/// gRPC status codes 0..16; anything else is counted as UNKNOWN (2).
inline constexpr std::size_t status_code_count = 17;
using status_counts = std::array<std::uint64_t, status_code_count>;

/// What one run measured: each worker fills its own, then they are merged.
struct run_stats {
  latency_histogram latency;     // every measured call, whatever its status
  latency_histogram latency_ok;  // only calls that ended OK
  latency_histogram start_lag;   // open loop: actual start minus scheduled start
  status_counts status{};
  std::uint64_t unsent = 0;  // open loop: scheduled in the window but never started
  std::int64_t last_done_ns = 0;  // since the measuring window opened

  // Filled by the driver after the workers are merged.
  double window_s = 0;
  double cpu_user_s = 0;
  double cpu_system_s = 0;
  bool interrupted = false;

  void count_status(int code) {
    auto i = code >= 0 && static_cast<std::size_t>(code) < status_code_count
               ? static_cast<std::size_t>(code) : 2;
    ++status[i];
  }
  std::uint64_t calls() const {
    std::uint64_t n = 0;
    for (auto c : status)
      n += c;
    return n;
  }
  std::uint64_t ok() const { return status[0]; }

  void merge(const run_stats& o) {
    latency.merge(o.latency);
    latency_ok.merge(o.latency_ok);
    start_lag.merge(o.start_lag);
    for (std::size_t i = 0; i < status.size(); ++i)
      status[i] += o.status[i];
    unsent += o.unsent;
    if (o.last_done_ns > last_done_ns)
      last_done_ns = o.last_done_ns;
  }
};

} // namespace troupe::loadgen
