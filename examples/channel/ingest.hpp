#pragma once

// One Ingest call has two halves joined by a bounded channel: the reading
// side (producer.cpp, on gRPC threads) puts items in, a deliberately slow
// actor (consumer.cpp) takes them out and answers the call.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include "channel/v1/channel.pb.h"
#include "troupe/rt/bounded_channel.hpp"
#include "troupe/rt/client_stream.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace rt = troupe::rt;
namespace v1 = channel::v1;

using ingest_call = rt::client_streaming<v1::Item, v1::Summary>;

struct ingest_pipe {
  explicit ingest_pipe(std::size_t capacity) : items(capacity) {}

  rt::bounded_channel<v1::Item> items;
  std::atomic<std::uint64_t> times_full{0};
  // The stream ended without the client finishing it (a bad item, a
  // cancel, shutdown): the pipeline answers the call, the consumer stops.
  std::atomic<bool> abandoned{false};

  void abandon() {
    abandoned.store(true); // before close(): the consumer it wakes must see it
    items.close();
  }
};

/// Spawns the actor that takes the items out of `pipe`, spending `per_item`
/// on each, and answers `call` once the client is done and the pipe empty.
void spawn_consumer(caf::actor_system& system, ingest_call call, std::shared_ptr<ingest_pipe> pipe,
                    std::chrono::milliseconds per_item);

/// Reads the items of `call` into `pipe`, one granted read at a time.
void read_into(ingest_call call, std::shared_ptr<ingest_pipe> pipe);
