#pragma once

#include <chrono>
#include <cstdint>

namespace troupe::loadgen {

/// The clocks every producer and subscriber thread agrees on, fixed before
/// anything is published. Stamps carry Unix nanoseconds, but they are taken
/// as an offset from one steady reading (unix_of), so latencies are immune to
/// wall-clock adjustments during the run.
struct run_clock {
  std::chrono::steady_clock::time_point t0;
  std::chrono::steady_clock::time_point measure_start;
  // Duration runs: publishing stops here; count runs: max().
  std::chrono::steady_clock::time_point end = std::chrono::steady_clock::time_point::max();
  std::int64_t unix0 = 0;
  std::int64_t measure_start_unix = 0;

  std::int64_t unix_of(std::chrono::steady_clock::time_point t) const {
    return unix0 + std::chrono::duration_cast<std::chrono::nanoseconds>(t - t0).count();
  }

  /// Fixes the clock now: warm-up ends `warmup_s` later, and duration runs
  /// (`duration_s` > 0) publish for that long after it.
  void start(double warmup_s, double duration_s);
};

inline void run_clock::start(double warmup_s, double duration_s) {
  using ns = std::chrono::nanoseconds;
  t0 = std::chrono::steady_clock::now();
  unix0 = std::chrono::duration_cast<ns>(std::chrono::system_clock::now().time_since_epoch())
            .count();
  measure_start = t0 + ns(static_cast<std::int64_t>(warmup_s * 1e9));
  measure_start_unix = unix_of(measure_start);
  if (duration_s > 0)
    end = measure_start + ns(static_cast<std::int64_t>(duration_s * 1e9));
}

} // namespace troupe::loadgen
