#pragma once

// A client-streaming call as the consuming side sees it. Messages are read
// only while the consumer has granted credit, so a consumer that cannot keep
// up stops reading and HTTP/2 flow control throttles the client instead of
// messages piling up in memory. Every message is parsed and validated by the
// pipeline first; one that is not valid ends the call INVALID_ARGUMENT naming
// its index, and nothing after it reaches the consumer.

#include <cstddef>
#include <memory>
#include <utility>

#include "troupe/rt/call.hpp"

namespace troupe::rt {

/// Receives what the client sends. Called on the call's gRPC thread, one
/// call at a time per stream, never concurrently with itself.
template <class Request>
class client_stream_handler {
public:
  virtual ~client_stream_handler() = default;
  /// One valid message; it used one unit of credit.
  virtual void on_message(Request& msg) = 0;
  /// The client finished writing; no more messages come.
  virtual void on_client_done() = 0;
  /// The call ended early (client cancel, deadline, shutdown): whoever
  /// waits on this consumer can stop.
  virtual void on_cancel(cancel_reason) {}
  /// Message `status` names did not parse or is invalid. The call has
  /// ended already (no answer of the consumer's can win any more); it goes
  /// out with `status` right after this, which may add trailers.
  virtual void on_bad_message(call_status& /*status*/) {}
};

/// The reading side, shared by client-streaming and bidi calls.
template <class Request>
class stream_reader {
public:
  /// Attaches the consumer and allows `credit` reads. Call once.
  virtual void start(std::shared_ptr<client_stream_handler<Request>> handler,
                     std::size_t credit) = 0;
  /// Allows `n` more reads. Safe from any thread.
  virtual void grant(std::size_t n) = 0;

protected:
  ~stream_reader() = default;
};

template <class Request, class Response>
class client_streaming_call : public call_base, public stream_reader<Request> {
public:
  using request_type = Request;
  using response_type = Response;

  /// Builds the response with `fill(Response&)` and ends the call OK.
  template <class F>
  bool reply(F&& fill) {
    if (!claim())
      return false;
    std::forward<F>(fill)(response_);
    finish(call_status::success(), &response_);
    return true;
  }
  bool fail(call_status status) {
    if (!claim())
      return false;
    finish(std::move(status), nullptr);
    return true;
  }

protected:
  client_streaming_call(const call_info* info, deadline due) noexcept : call_base(info, due) {}
  virtual void finish(call_status status, const Response* response) = 0;

private:
  Response response_;
};

/// The handle services receive for a client-streaming method.
template <class Request, class Response>
using client_streaming = call_ptr<client_streaming_call<Request, Response>>;

} // namespace troupe::rt
