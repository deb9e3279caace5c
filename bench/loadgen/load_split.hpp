#pragma once

// How a run's load is laid over the client's threads, the same way for kv
// call slots and fan-in producers: item j (a slot, a producer) uses
// connection j % connections and connection c belongs to thread c % threads,
// so items spread evenly over connections and threads.

#include <chrono>
#include <cstdint>
#include <vector>

namespace troupe::loadgen {

inline int connection_of(int item, int connections) {
  return item % connections;
}
inline int thread_of_connection(int connection, int threads) {
  return connection % threads;
}

/// One thread's part of the run: in proportion to the items it carries.
struct thread_share {
  double rate = 0;          // open loop: its part of --rate; 0 in closed loop
  double phase = 0;         // open loop: spreads the threads' schedules apart
  std::uint64_t quota = 0;  // count runs: its part of --count

  /// Open loop: when this thread's k-th start is due, counting from `t0`.
  std::chrono::steady_clock::time_point due(std::chrono::steady_clock::time_point t0,
                                            std::uint64_t k) const;
  /// The first k due at or after `t`.
  std::uint64_t first_due_at_or_after(std::chrono::steady_clock::time_point t0,
                                      std::chrono::steady_clock::time_point t) const;
};

/// Splits `rate` and `count` over `threads` for `items` laid out as above;
/// the quotas add up to `count` exactly.
std::vector<thread_share> split_load(int items, int connections, int threads, double rate,
                                     std::uint64_t count);

} // namespace troupe::loadgen
