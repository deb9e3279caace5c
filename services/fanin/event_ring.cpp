#include "fanin/event_ring.hpp"

#include <stdexcept>

namespace troupe::fanin {

event_ring::event_ring(std::string topic, std::size_t capacity)
  : topic_(std::move(topic)), capacity_(capacity) {
  if (capacity_ == 0)
    throw std::invalid_argument("event_ring: capacity must be at least 1");
}

const v1::Event& event_ring::append(std::string&& payload, std::string&& producer,
                                    std::int64_t unix_nanos) {
  v1::Event* slot;
  if (slots_.size() < capacity_) {
    slot = &slots_.emplace_back();
    slot->set_topic(topic_);
  } else {
    slot = &slots_[next_];
    if (++next_ == capacity_)
      next_ = 0;
  }
  slot->set_seq(++last_seq_);
  slot->set_payload(std::move(payload));
  slot->set_producer(std::move(producer));
  slot->set_publish_unix_nanos(unix_nanos);
  return *slot;
}

const v1::Event* event_ring::find(std::uint64_t seq) const noexcept {
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
