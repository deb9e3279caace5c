#include "fanin/fanin_metrics.hpp"

namespace troupe::fanin {

fanin_metrics::fanin_metrics(rt::metrics::registry& registry, std::size_t labelled_topics)
  : cutoffs(registry.counter("troupe_fanin_subscriber_cutoffs_total",
                             "Subscribe streams ended RESOURCE_EXHAUSTED because the client read "
                             "slower than the topic published (fanin.subscriber_buffer) or fell "
                             "out of retention while catching up.")),
    throttled(registry.counter("troupe_fanin_producers_throttled_total",
                               "Times a Publish stream found its topic's queue full and stopped "
                               "being read until there was room (fanin.topic_queue).")),
    registry_(registry), labelled_topics_(labelled_topics) {}

topic_counters fanin_metrics::for_topic(const std::string& name) {
  std::string label = "other";
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (labelled_ < labelled_topics_) {
      ++labelled_;
      label = name;
    }
  }
  rt::metrics::labels l{{"topic", label}};
  topic_counters c;
  c.accepted = &registry_.counter("troupe_fanin_events_accepted_total",
                                  "Events a topic accepted from producers, numbered and retained.",
                                  l);
  c.delivered = &registry_.counter("troupe_fanin_events_delivered_total",
                                   "Events pushed into subscriber streams, one per subscriber.", l);
  c.replayed = &registry_.counter("troupe_fanin_events_replayed_total",
                                  "Delivered events that came from the retention ring to a "
                                  "subscriber resuming with start_after.",
                                  l);
  c.evicted = &registry_.counter("troupe_fanin_retention_evictions_total",
                                 "Events that fell out of a topic's retention (fanin.retention).",
                                 l);
  return c;
}

} // namespace troupe::fanin
