#pragma once

// One Publish stream as the topics see it. Reads are granted one at a time:
// a message (parsed and validated by the pipeline) is offered to its topic's
// bounded queue, and only once the queue accepted it is the next read allowed. When the queue is
// full the publisher holds that one message, asks the queue to call back
// when there is room, and reads nothing meanwhile, so HTTP/2 flow control
// throttles the client and memory stays bounded by one message per stream.
// One stream's messages are accepted one after another, hence in order.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "fanin/inbound.hpp"
#include "troupe/fanin/v1/fanin.pb.h"
#include "troupe/rt/client_stream.hpp"
#include "troupe/rt/call.hpp"
#include "troupe/rt/metrics.hpp"

namespace troupe::fanin {

class publisher final : public rt::client_stream_handler<v1::PublishRequest>,
                        public std::enable_shared_from_this<publisher> {
public:
  using stream_ptr = rt::client_streaming<v1::PublishRequest, v1::PublishResponse>;

  /// `throttled` (may be null) counts the times a full topic stops the stream.
  explicit publisher(topic_lookup lookup, rt::metrics::counter* throttled = nullptr);

  /// Becomes the call's consumer and allows the first read.
  void attach(stream_ptr stream);

  void on_message(v1::PublishRequest& msg) override;
  void on_client_done() override;
  void on_cancel(rt::cancel_reason reason) override;
  /// Nothing after a bad message is taken; the status says how many were.
  void on_bad_message(rt::call_status& status) override;

  /// Ends the call UNAVAILABLE because the server is shutting down; what
  /// was accepted stays accepted and is reported in `troupe-accepted`.
  void shut_down();

  std::uint64_t accepted() const;
  /// Whether a message waits for room in its topic's queue (tests).
  bool holding() const;

private:
  void offer(std::shared_ptr<topic_inlet> topic, inbound_ptr event);
  void retry();
  /// Ends the call with `status` plus a `troupe-accepted` trailer.
  void end(rt::call_status status);

  topic_lookup lookup_;
  rt::metrics::counter* const throttled_;
  stream_ptr stream_;

  // Only on_message touches these, and the reactor never runs it
  // concurrently with itself.
  std::string cached_name_;
  std::shared_ptr<topic_inlet> cached_topic_;

  // on_message, the queue's ready callback (on the topic's thread), cancel
  // and shutdown meet here.
  mutable std::mutex mtx_;
  std::uint64_t accepted_ = 0;
  inbound_ptr held_;
  std::shared_ptr<topic_inlet> held_topic_;
  bool ended_ = false;
};

} // namespace troupe::fanin
