#pragma once

// A server-streaming call as the producing actor sees it: a bounded buffer in
// front of the client. One write is in flight at a time; when the client reads
// slowly the buffer fills, push() says `full`, and the producer waits for
// when_writable() instead of queueing without bound.

#include <functional>

#include "troupe/rt/unary_call.hpp"

namespace troupe::rt {

enum class push_result { accepted, full, ended };

template <class Message>
class server_stream : public call_base {
public:
  /// Takes `msg` only when accepted.
  virtual push_result push(Message& msg) = 0;
  /// One-shot: `fn` runs (on some gRPC thread) once the buffer has drained
  /// to half its capacity or the stream ended. Replaces an earlier
  /// registration.
  virtual void when_writable(std::function<void()> fn) = 0;
  /// Sends the response headers now (e.g. once a subscription is registered).
  virtual void send_headers() = 0;
  /// Ends the stream after everything accepted so far has been written.
  virtual void finish(call_status status) = 0;
  /// Called once when the call ends for any reason, on some thread.
  virtual void on_end(std::function<void()> fn) = 0;

protected:
  explicit server_stream(deadline due) : call_base(due) {}
};

template <class Message>
using server_stream_ptr = call_ptr<server_stream<Message>>;

} // namespace troupe::rt
