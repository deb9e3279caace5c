#pragma once

// A server-streaming call as the producing side sees it: a bounded buffer in
// front of the client. One write is in flight at a time; when the client
// reads slowly the buffer fills, push() says `full`, and the producer waits
// for when_writable() instead of queueing without bound.

#include <functional>

#include "troupe/rt/call.hpp"

namespace google::protobuf {
class MessageLite;
} // namespace google::protobuf
namespace grpc {
class ByteBuffer;
} // namespace grpc

namespace troupe::rt {

enum class push_result { accepted, full, ended };

/// The stream of responses, whatever their type.
class server_stream : public call_base {
public:
  /// Serializes `msg` into the buffer when there is room.
  virtual push_result push(const google::protobuf::MessageLite& msg) = 0;
  /// Bytes already serialized as one response message (shared, not copied:
  /// one encoding can go to many streams). Takes `bytes` only when accepted.
  virtual push_result push_encoded(grpc::ByteBuffer& bytes) = 0;
  /// One-shot: `fn` runs (on some thread) once the buffer has drained to
  /// half its capacity, or the stream ended. Replaces an earlier one.
  virtual void when_writable(std::function<void()> fn) = 0;
  /// Sends the response headers now (e.g. once a subscription is registered).
  virtual void send_headers() = 0;
  /// Ends the stream after everything accepted so far has been written.
  virtual void finish(call_status status) = 0;
  /// Runs once when the call is over for any reason, on some thread.
  virtual void on_end(std::function<void()> fn) = 0;

protected:
  server_stream(const call_info* info, deadline due) noexcept : call_base(info, due) {}
};

template <class Request, class Response>
class server_streaming_call : public server_stream {
public:
  using request_type = Request;
  using response_type = Response;

  Request& request() noexcept { return request_; }
  const Request& request() const noexcept { return request_; }

  using server_stream::push;
  push_result push(const Response& msg) {
    return push(static_cast<const google::protobuf::MessageLite&>(msg));
  }

protected:
  server_streaming_call(const call_info* info, deadline due) noexcept : server_stream(info, due) {}

private:
  Request request_;
};

/// The handle services receive for a server-streaming method.
template <class Request, class Response>
using server_streaming = call_ptr<server_streaming_call<Request, Response>>;

using server_stream_ptr = call_ptr<server_stream>;

} // namespace troupe::rt
