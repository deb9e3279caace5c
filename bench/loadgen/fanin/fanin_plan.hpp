#pragma once

#include <optional>
#include <string>
#include <vector>

#include "load_split.hpp"
#include "options.hpp"

namespace troupe::loadgen {

/// A fan-in run's layout, fixed before anything connects.
struct fanin_plan {
  /// The options, with connections, threads and subscriber threads bounded
  /// by what they carry (the report shows these effective numbers).
  options o;
  std::vector<std::string> topics;
  /// Per producer thread: its part of --rate and --count.
  std::vector<thread_share> producer_shares;

  /// Producer p publishes to topic p % topics.
  std::size_t topic_of(int producer) const {
    return static_cast<std::size_t>(producer % o.topics);
  }
};

/// nullopt, with `error` saying why, for options a fan-in run cannot use.
std::optional<fanin_plan> plan_fanin(const options& given, std::string& error);

} // namespace troupe::loadgen
