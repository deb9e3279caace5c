#pragma once

// The fan-in service's actors as the gRPC adapter sees them: no CAF headers
// here, and of gRPC only the byte buffer that carries encoded events.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fanin/encoded_event.hpp"
#include "fanin/publisher.hpp"
#include "troupe/fanin/v1/fanin.pb.h"
#include "troupe/rt/server_stream.hpp"

namespace caf {
class actor_system;
}

namespace troupe::rt::metrics {
class registry;
}

namespace troupe::fanin {

struct fanin_settings {
  std::uint64_t retention = 10000;
  std::uint64_t subscriber_buffer = 1024;
  std::uint64_t topic_queue = 1024;
  std::uint64_t max_payload_bytes = 64 * 1024;
  std::uint64_t max_topics = 10000;
  std::uint64_t metrics_topics = 20; // with a `topic` label of their own
  // Simulated processing time after each batch a topic takes in (a timer,
  // not a thread): makes a topic slow on purpose, to see producers throttled.
  std::chrono::milliseconds topic_delay{0};
};

struct topic_info {
  std::string name;
  std::uint64_t last_seq = 0;
  std::uint32_t subscribers = 0;
};

/// One actor per topic, created on first use (never deleted, at most
/// fanin.max_topics). Producers write into a topic's bounded queue from
/// gRPC threads; the topic actor drains it in batches, numbers the events,
/// keeps the last fanin.retention of them and pushes each into every
/// subscriber's bounded stream.
class fanin_topics {
public:
  fanin_topics(caf::actor_system& system, fanin_settings settings,
               rt::metrics::registry& metrics);
  ~fanin_topics();
  fanin_topics(const fanin_topics&) = delete;
  fanin_topics& operator=(const fanin_topics&) = delete;

  const fanin_settings& settings() const;

  /// The consumer of a new Publish stream; attach() the call to it.
  std::shared_ptr<publisher> open_publisher();

  /// Registers `stream` with every topic (validated, duplicates removed);
  /// the stream's headers go out once all of them registered. Each message
  /// written to it is one serialized troupe.fanin.v1.Event.
  void subscribe(const std::vector<std::string>& topics,
                 const std::map<std::string, std::uint64_t>& start_after,
                 rt::server_stream_ptr stream);

  /// Sorted by name.
  std::vector<topic_info> list() const;

  /// Shutdown began: producers end UNAVAILABLE (what they got accepted
  /// stays), topics deliver what they accepted, then subscriber streams end
  /// UNAVAILABLE with where to resume.
  void drain();
  /// Lets every actor quit.
  void stop();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::fanin
