#pragma once

// The last `capacity` events of one topic, for replay, in wire form: each
// event is serialized once here and the same bytes go to every subscriber.
// The ring grows slot by slot up to its capacity, so an idle topic with a
// large retention costs almost nothing; once full, the oldest slot is reused.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fanin/encoded_event.hpp"
#include "troupe/fanin/v1/fanin.pb.h"

namespace troupe::fanin {

class event_ring {
public:
  /// `capacity` >= 1 (fanin.retention).
  event_ring(std::string topic, std::size_t capacity);

  /// Assigns the next seq (1, 2, 3, ...) and keeps the event, dropping the
  /// oldest when full.
  const encoded_event& append(std::string&& payload, std::string&& producer, std::int64_t unix_nanos);

  /// 0 before the first event.
  std::uint64_t last_seq() const noexcept { return last_seq_; }
  /// The oldest retained seq; last_seq() + 1 while nothing is retained.
  std::uint64_t first_seq() const noexcept { return last_seq_ + 1 - slots_.size(); }
  std::size_t size() const noexcept { return slots_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }
  const std::string& topic() const noexcept { return topic_; }

  /// The event with `seq`, or nullptr when it is not (or no longer) retained.
  const encoded_event* find(std::uint64_t seq) const noexcept;

  enum class resume_check { ok, too_old, beyond_last };
  /// Whether a subscriber that already has everything up to `start_after`
  /// can continue from here without a gap.
  resume_check check_resume(std::uint64_t start_after) const noexcept;

private:
  std::string topic_;
  std::size_t capacity_;
  std::vector<encoded_event> slots_;
  v1::Event scratch_; // reused for every event: its strings keep their capacity
  std::size_t next_ = 0; // slot the next event goes to once the ring is full
  std::uint64_t last_seq_ = 0;
};

} // namespace troupe::fanin
