#pragma once

// What producers see of a topic: its bounded inbound queue and a few
// counters. Free of CAF and gRPC so the Publish path compiles, and is tested,
// on its own.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "troupe/rt/bounded_channel.hpp"
#include "troupe/rt/call_status.hpp"

namespace troupe::fanin {

struct inbound_event {
  std::string payload;
  std::string producer;
  std::int64_t unix_nanos = 0;
};

// Boxed so that a queue's fixed slot array (fanin.topic_queue slots for
// every topic, idle or not) costs a pointer per slot instead of a whole event.
using inbound_ptr = std::unique_ptr<inbound_event>;

struct topic_inlet {
  topic_inlet(std::string topic, std::size_t queue_capacity)
    : name(std::move(topic)), queue(queue_capacity) {}

  const std::string name;
  rt::bounded_channel<inbound_ptr> queue;
  // Written by the topic actor, read by ListTopics without a round trip.
  std::atomic<std::uint64_t> last_seq{0};
  std::atomic<std::uint32_t> subscribers{0};
};

/// The topic called `name`, created on first use; or why it cannot be had
/// (too many topics, shutting down).
using topic_lookup =
  std::function<std::variant<std::shared_ptr<topic_inlet>, rt::call_status>(const std::string& name)>;

} // namespace troupe::fanin
