#include "fanin/publisher.hpp"

#include <chrono>


namespace troupe::fanin {

namespace {

std::int64_t unix_nanos_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

publisher::publisher(topic_lookup lookup, rt::metrics::counter* throttled)
  : lookup_(std::move(lookup)), throttled_(throttled) {}

void publisher::attach(stream_ptr stream) {
  stream_ = std::move(stream);
  stream_->start(shared_from_this(), 1);
}

void publisher::on_message(v1::PublishRequest& msg) {
  if (!cached_topic_ || cached_name_ != msg.topic()) {
    auto found = lookup_(msg.topic());
    if (auto* status = std::get_if<rt::call_status>(&found)) {
      end(std::move(*status));
      return;
    }
    cached_topic_ = std::get<std::shared_ptr<topic_inlet>>(std::move(found));
    cached_name_ = msg.topic();
  }
  auto event = std::make_unique<inbound_event>();
  event->payload = std::move(*msg.mutable_payload());
  event->producer = std::move(*msg.mutable_producer());
  event->unix_nanos = unix_nanos_now();
  offer(cached_topic_, std::move(event));
}

void publisher::offer(std::shared_ptr<topic_inlet> topic, inbound_ptr event) {
  rt::send_result result;
  {
    // Counting under the lock keeps `troupe-accepted` exact when shutdown
    // ends the call while a message is being offered.
    std::lock_guard<std::mutex> guard{mtx_};
    if (ended_)
      return;
    result = topic->queue.try_send(std::move(event));
    if (result == rt::send_result::accepted) {
      ++accepted_;
    } else if (result == rt::send_result::full) {
      held_ = std::move(event);
      held_topic_ = topic;
    }
  }
  switch (result) {
    case rt::send_result::accepted:
      stream_->grant(1);
      return;
    case rt::send_result::closed:
      end(rt::call_status::from_cancel(rt::cancel_reason::shutting_down));
      return;
    case rt::send_result::full:
      if (throttled_ != nullptr)
        throttled_->add();
      // No credit is granted until the held message is in: the stream stops
      // being read. A weak reference, so a producer that goes away while
      // waiting is freed at once and its callback becomes a no-op.
      topic->queue.notify_when_ready([weak = weak_from_this()] {
        if (auto self = weak.lock())
          self->retry();
      });
      return;
  }
}

void publisher::retry() {
  inbound_ptr event;
  std::shared_ptr<topic_inlet> topic;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!held_ || ended_)
      return;
    event = std::move(held_);
    topic = std::move(held_topic_);
  }
  offer(std::move(topic), std::move(event));
}

void publisher::on_client_done() {
  std::uint64_t count = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (ended_)
      return;
    ended_ = true;
    count = accepted_;
  }
  stream_->reply([count](v1::PublishResponse& r) { r.set_accepted(count); });
}

void publisher::on_cancel(rt::cancel_reason) {
  std::lock_guard<std::mutex> guard{mtx_};
  ended_ = true;
  held_.reset();
  held_topic_.reset();
}

void publisher::on_bad_message(rt::call_status& status) {
  std::lock_guard<std::mutex> guard{mtx_};
  ended_ = true;
  held_.reset();
  held_topic_.reset();
  status.trailers.emplace_back("troupe-accepted", std::to_string(accepted_));
}

void publisher::shut_down() {
  end(rt::call_status::from_cancel(rt::cancel_reason::shutting_down));
}

void publisher::end(rt::call_status status) {
  std::uint64_t count = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (ended_)
      return;
    ended_ = true;
    held_.reset();
    held_topic_.reset();
    count = accepted_;
  }
  status.trailers.emplace_back("troupe-accepted", std::to_string(count));
  if (stream_)
    stream_->fail(std::move(status));
}

std::uint64_t publisher::accepted() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return accepted_;
}

bool publisher::holding() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return held_ != nullptr;
}

} // namespace troupe::fanin
