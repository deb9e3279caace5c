#pragma once

// fan-in's own /metrics families, registered through the host's public
// metrics API like any service's. Per-topic series are bounded: the first
// fanin.metrics_topics topics get their own `topic` label, later ones share
// `topic="other"` (a topic never changes series, so counters stay monotonic).

#include <cstddef>
#include <mutex>
#include <string>

#include "troupe/rt/metrics.hpp"

namespace troupe::fanin {

/// One topic's counters; null members count nothing (unit tests).
struct topic_counters {
  rt::metrics::counter* accepted = nullptr;  // events numbered and retained
  rt::metrics::counter* delivered = nullptr; // events pushed into subscriber streams
  rt::metrics::counter* replayed = nullptr;  // of those, from the retention ring on resume
  rt::metrics::counter* evicted = nullptr;   // events that fell out of retention
};

inline void bump(rt::metrics::counter* c, std::uint64_t n = 1) noexcept {
  if (c != nullptr && n > 0)
    c->add(n);
}

class fanin_metrics {
public:
  fanin_metrics(rt::metrics::registry& registry, std::size_t labelled_topics);

  /// Called once per topic, when it is created.
  topic_counters for_topic(const std::string& name);

  rt::metrics::counter& cutoffs;   // subscribers cut off (buffer or retention)
  rt::metrics::counter& throttled; // times a producer waited for room in a topic

private:
  rt::metrics::registry& registry_;
  std::size_t labelled_topics_;
  std::mutex mtx_;
  std::size_t labelled_ = 0;
};

} // namespace troupe::fanin
