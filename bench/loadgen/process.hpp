#pragma once

// What both load generators (kv and fanin) ask of their own process.

#include <chrono>

namespace troupe::loadgen {

/// CPU this process has used so far, in seconds.
struct cpu_times {
  double user = 0;
  double system = 0;
  double total() const { return user + system; }
  static cpu_times now();
};

/// Waits up to `d` for SIGINT/SIGTERM (blocked in every thread); true if one
/// came.
bool wait_signal(std::chrono::milliseconds d);

} // namespace troupe::loadgen
