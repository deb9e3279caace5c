#include "fanin/subscription.hpp"

#include <algorithm>

#include "fanin/validation.hpp"

namespace troupe::fanin {

subscription::subscription(std::uint64_t id, stream_ptr stream, std::vector<std::string> topics,
                           std::size_t buffer, notify_fn notify,
                           rt::metrics::counter* cutoffs)
  : id_(id),
    stream_(std::move(stream)),
    topics_(std::move(topics)),
    buffer_(buffer),
    notify_(std::move(notify)),
    cutoffs_(cutoffs),
    delivered_(topics_.size(), 0),
    known_(topics_.size(), false),
    unregistered_(topics_.size()),
    undrained_(topics_.size()) {}

bool subscription::open() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return !ended_ && stream_->open();
}

bool subscription::registered(std::size_t slot, std::uint64_t delivered) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    delivered_[slot] = delivered;
    known_[slot] = true;
  }
  if (unregistered_.fetch_sub(1, std::memory_order_acq_rel) != 1)
    return false;
  {
    // Under the lock: an end decided by another topic is then either
    // before this (no headers) or after (its Finish follows them).
    std::lock_guard<std::mutex> guard{mtx_};
    if (ended_ || !stream_->open())
      return false;
    stream_->send_headers();
  }
  for (std::size_t s = 0; s < topics_.size(); ++s)
    if (s != slot)
      notify_(s, sub_signal::start);
  return true;
}

subscription::outcome subscription::deliver(std::size_t slot, const encoded_event& event,
                                            bool live) {
  auto message = event.message();
  rt::call_status status;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (ended_)
      return outcome::ended;
    switch (stream_->push_encoded(message)) {
      case rt::push_result::accepted:
        delivered_[slot] = event.seq();
        return outcome::accepted;
      case rt::push_result::ended:
        ended_ = true;
        return outcome::ended;
      case rt::push_result::full:
        if (!live)
          return outcome::full;
        break;
    }
    status = rt::call_status::of(
      rt::status_code::resource_exhausted,
      "subscriber too slow: its buffer of " + std::to_string(buffer_)
        + " events (fanin.subscriber_buffer) overflowed on topic '" + topics_[slot]
        + "'; resubscribe with start_after from the troupe-last-seq-<topic> trailers");
    claim_end_locked(status, true);
  }
  if (cutoffs_ != nullptr)
    cutoffs_->add();
  stream_->finish(std::move(status));
  return outcome::ended;
}

void subscription::wait_writable(std::size_t slot) {
  {
    std::lock_guard<std::mutex> guard{writable_mtx_};
    if (std::find(waiting_.begin(), waiting_.end(), slot) == waiting_.end())
      waiting_.push_back(slot);
    if (armed_)
      return;
    armed_ = true;
  }
  // The stream keeps one callback; several topics share it through here.
  stream_->when_writable([weak = weak_from_this()] {
    if (auto self = weak.lock())
      self->on_writable();
  });
}

void subscription::on_writable() {
  std::vector<std::size_t> slots;
  {
    std::lock_guard<std::mutex> guard{writable_mtx_};
    slots.swap(waiting_);
    armed_ = false;
  }
  for (auto s : slots)
    notify_(s, sub_signal::writable);
}

bool subscription::claim_end_locked(rt::call_status& status, bool with_positions) {
  if (ended_)
    return false;
  ended_ = true;
  if (with_positions)
    for (std::size_t s = 0; s < topics_.size(); ++s)
      if (known_[s])
        status.trailers.emplace_back(last_seq_key(topics_[s]), std::to_string(delivered_[s]));
  return true;
}

void subscription::cut_off(std::string why) {
  auto status = rt::call_status::of(rt::status_code::resource_exhausted, std::move(why));
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!claim_end_locked(status, true))
      return;
  }
  if (cutoffs_ != nullptr)
    cutoffs_->add();
  stream_->finish(std::move(status));
}

void subscription::fail(rt::call_status status) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!claim_end_locked(status, false))
      return;
  }
  stream_->finish(std::move(status));
}

void subscription::drained(std::size_t) {
  if (undrained_.fetch_sub(1, std::memory_order_acq_rel) != 1)
    return;
  auto status = rt::call_status::from_cancel(rt::cancel_reason::shutting_down);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!claim_end_locked(status, true))
      return;
  }
  stream_->finish(std::move(status));
}

void subscription::forget_everywhere() {
  for (std::size_t s = 0; s < topics_.size(); ++s)
    notify_(s, sub_signal::ended);
}

std::uint64_t subscription::delivered(std::size_t slot) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return delivered_[slot];
}

} // namespace troupe::fanin
