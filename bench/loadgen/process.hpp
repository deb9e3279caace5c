#pragma once

// What both load generators (kv and fanin) ask of their own process.

#include <atomic>
#include <chrono>

namespace troupe::loadgen {

/// CPU this process has used, in seconds: the client's own cost belongs in
/// every report, since it shares the machine with the server.
struct cpu_times {
  double user = 0;
  double system = 0;
  double total() const { return user + system; }
  static cpu_times now();
};

inline cpu_times operator-(const cpu_times& end, const cpu_times& start) {
  return {end.user - start.user, end.system - start.system};
}

/// For threads that start calls on a schedule: the kernel's default 50 us of
/// timer slack would land every open-loop start late.
void tighten_timer_slack();

/// Waits up to `d` for SIGINT/SIGTERM (blocked in every thread). The first
/// sets `stop`, prints `stopping_note` and returns true, so the run ends with
/// a report; a second exits at once with 130.
bool wait_for_stop_signal(std::chrono::milliseconds d, std::atomic<bool>& stop,
                          const char* stopping_note);

} // namespace troupe::loadgen
