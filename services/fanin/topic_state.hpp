#pragma once

// Everything one topic actor knows, as plain C++ so it can be tested without
// an actor system: the retention ring, the subscribers' cursors, replay
// pacing and live fan-out. The actor calls it one message at a time.
//
// A subscriber is either live (it has everything up to the previous batch:
// new events are pushed straight into its stream, and a full buffer cuts it
// off) or catching up (replay: events are taken from the ring as fast as its
// stream accepts them; when the buffer is full the topic waits for room
// instead of flooding it, and moves on to live once it reaches the newest
// event). Replay and registration happen in one step of the actor, so there
// is no gap or duplicate where replay meets live delivery.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fanin/event_ring.hpp"
#include "fanin/fanin_metrics.hpp"
#include "fanin/inbound.hpp"
#include "fanin/subscription.hpp"

namespace troupe::fanin {

class topic_state {
public:
  topic_state(std::string name, std::size_t retention, topic_counters counters = {});

  const std::string& name() const noexcept { return ring_.topic(); }
  const event_ring& ring() const noexcept { return ring_; }
  std::uint64_t last_seq() const noexcept { return ring_.last_seq(); }
  std::size_t subscriber_count() const noexcept { return entries_.size(); }

  /// Registers `sub` for its topic `slot`, replaying from `start_after` + 1
  /// (default: only what comes next). Ends the call OUT_OF_RANGE when that
  /// is no longer retained or not yet published, UNAVAILABLE while draining.
  void add(const std::shared_ptr<subscription>& sub, std::size_t slot,
           std::optional<std::uint64_t> start_after);
  void start(std::uint64_t sub_id);
  void writable(std::uint64_t sub_id);
  void remove(std::uint64_t sub_id);

  /// Gives the event the next seq; fan_out() delivers it.
  void append(inbound_event&& event);
  /// Delivers everything appended since the last call.
  void fan_out();

  /// Shutdown: nothing more is appended. Every subscriber gets what the
  /// topic has for it, then its stream ends OK.
  void begin_drain();
  bool draining() const noexcept { return draining_; }

private:
  struct entry {
    std::shared_ptr<subscription> sub;
    std::size_t slot = 0;
    std::uint64_t next = 1; // next seq to deliver
    bool started = false;
    bool waiting = false; // for room in the stream
    bool drained = false;
  };

  entry* find(std::uint64_t sub_id);
  void erase(std::uint64_t sub_id);
  /// Delivers from e.next on; false when the subscriber is gone.
  bool advance(entry& e, bool live);

  event_ring ring_;
  topic_counters counters_;
  std::vector<entry> entries_;
  std::uint64_t fanned_out_ = 0;
  bool draining_ = false;
};

} // namespace troupe::fanin
