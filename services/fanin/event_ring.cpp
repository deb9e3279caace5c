#include "fanin/event_ring.hpp"

#include <stdexcept>

namespace troupe::fanin {

event_ring::event_ring(std::string topic, std::size_t capacity)
  : topic_(std::move(topic)), capacity_(capacity) {
  if (capacity_ == 0)
    throw std::invalid_argument("event_ring: capacity must be at least 1");
  scratch_.set_topic(topic_);
}

const encoded_event& event_ring::append(std::string&& payload, std::string&& producer,
                                        std::int64_t unix_nanos) {
  scratch_.set_seq(++last_seq_);
  scratch_.set_payload(std::move(payload));
  scratch_.set_producer(std::move(producer));
  scratch_.set_publish_unix_nanos(unix_nanos);
  auto encoded = encoded_event::encode(scratch_);
  if (slots_.size() < capacity_)
    return slots_.emplace_back(std::move(encoded));
  auto& slot = slots_[next_];
  if (++next_ == capacity_)
    next_ = 0;
  slot = std::move(encoded);
  return slot;
}

const encoded_event* event_ring::find(std::uint64_t seq) const noexcept {
  if (seq == 0 || seq > last_seq_ || seq < first_seq())
    return nullptr;
  // While growing, slot i holds seq i + 1; once full, `next_` is the oldest.
  if (slots_.size() < capacity_)
    return &slots_[seq - 1];
  auto age = static_cast<std::size_t>(seq - first_seq());
  auto index = next_ + age;
  if (index >= capacity_)
    index -= capacity_;
  return &slots_[index];
}

event_ring::resume_check event_ring::check_resume(std::uint64_t start_after) const noexcept {
  if (start_after > last_seq_)
    return resume_check::beyond_last;
  if (start_after + 1 < first_seq())
    return resume_check::too_old;
  return resume_check::ok;
}

} // namespace troupe::fanin
