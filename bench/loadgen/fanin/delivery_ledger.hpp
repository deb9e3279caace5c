#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "fanin/fanin_counts.hpp"
#include "fanin/run_clock.hpp"

namespace troupe::loadgen {

/// One subscriber's bookkeeping: each topic's seqs must come 1, 2, 3...
/// from where the run began, with no gap or repeat across resubscribes, and
/// each producer's events in the order it sent them. It also knows when the
/// subscriber has everything, so the run can end without waiting out --drain.
class delivery_ledger {
public:
  delivery_ledger(const std::vector<std::string>& topics, std::size_t producers,
                  const run_clock& clock);

  // On the subscriber's thread.
  void take(const std::string& topic, std::uint64_t seq, const std::string& payload);
  /// The last seq taken of topic `i`: where a resubscribe resumes.
  std::uint64_t last_seen(std::size_t i) const { return last_seen_[i]; }

  // From the main thread.
  /// Before the subscriber reads: the topics' last seq when publishing began.
  void set_base(const std::vector<std::uint64_t>& base);
  /// Every topic's last accepted seq, once publishing is over.
  void set_targets(const std::vector<std::uint64_t>& targets);
  /// Every target reached; false before the targets are known.
  bool complete() const;
  std::uint64_t delivered_so_far() const { return delivered_.load(std::memory_order_relaxed); }

  /// Once the subscriber's thread is joined.
  delivery_counts counts() const;

private:
  const run_clock& clock_;
  std::unordered_map<std::string, std::size_t> topic_index_;
  std::vector<std::uint64_t> last_seen_;                   // per topic, subscriber thread only
  std::vector<std::atomic<std::uint64_t>> progress_seen_;  // the same, for other threads
  std::vector<std::atomic<std::uint64_t>> targets_;
  std::atomic<bool> have_targets_{false};
  std::vector<std::uint64_t> next_counter_;  // per producer
  std::atomic<std::uint64_t> delivered_{0};
  delivery_counts counts_;
};

} // namespace troupe::loadgen
