#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>

#include "troupe/fanin/v1/fanin.grpc.pb.h"

namespace troupe::loadgen {

/// One Publish stream. One operation of it is in flight at a time, so the
/// completion queue tag is the stream itself; its producer thread decides
/// what comes next.
class producer_stream {
public:
  producer_stream(std::uint32_t index, std::size_t topic, const std::string& topic_name,
                  std::size_t value_bytes, const std::shared_ptr<grpc::Channel>& channel);

  enum class state { starting, ready, writing, closing, finishing, done };

  void start(grpc::CompletionQueue* cq);
  /// Stamps the next event as sent at `sent_unix_ns` and writes it.
  void write(std::int64_t sent_unix_ns, std::chrono::steady_clock::time_point sent);
  void close();
  void finish();
  void cancel() { ctx_.TryCancel(); }
  void idle() { state_ = state::ready; }
  void done() { state_ = state::done; }
  /// Closing or closed: it writes nothing more.
  bool ended() const {
    return state_ == state::closing || state_ == state::finishing || state_ == state::done;
  }

  /// What the server said it accepted, if it said: the response on OK, else
  /// the troupe-accepted trailer.
  std::optional<std::uint64_t> accepted() const;

  state current() const { return state_; }
  std::chrono::steady_clock::time_point sent() const { return sent_; }
  const grpc::Status& status() const { return status_; }

  const std::uint32_t index;
  const std::size_t topic;
  std::deque<std::int64_t> backlog; // open loop: due send times (unix ns) waiting

private:
  std::unique_ptr<troupe::fanin::v1::FanIn::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientAsyncWriter<troupe::fanin::v1::PublishRequest>> writer_;
  troupe::fanin::v1::PublishRequest req_;
  troupe::fanin::v1::PublishResponse resp_;
  grpc::Status status_;
  state state_ = state::starting;
  std::uint64_t counter_ = 0;
  std::chrono::steady_clock::time_point sent_{};
};

} // namespace troupe::loadgen
