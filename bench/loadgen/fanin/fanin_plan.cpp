#include "fanin/fanin_plan.hpp"

#include <algorithm>

#include "fanin/stamp.hpp"
#include "fanin/topics.hpp"
#include "report_format.hpp"

namespace troupe::loadgen {

std::optional<fanin_plan> plan_fanin(const options& given, std::string& error) {
  if (given.value_bytes < stamp_bytes) {
    error = fmt("fanin needs --value-bytes of at least %zu (each payload carries its send time, "
                "producer and counter)",
                stamp_bytes);
    return std::nullopt;
  }
  fanin_plan plan;
  auto& o = plan.o;
  o = given;
  // The kv meaning of --in-flight does not apply: connections and threads
  // are bounded by producers instead.
  o.connections = std::min(given.connections, o.producers);
  o.threads = std::min(given.threads, o.connections);
  o.subscriber_threads = std::min(given.subscriber_threads, o.subscribers);
  plan.topics = topic_names(o.topic_prefix, o.topics);
  plan.producer_shares = split_load(o.producers, o.connections, o.threads, o.rate, o.count);
  return plan;
}

} // namespace troupe::loadgen
