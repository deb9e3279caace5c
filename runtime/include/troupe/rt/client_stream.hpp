#pragma once

// A client-streaming call as the consuming actor sees it. Reads are issued
// only while the consumer has granted credit, so a consumer that cannot keep
// up stops reading and HTTP/2 flow control throttles the client, instead of
// messages piling up in memory.

#include <cstddef>
#include <memory>

#include "troupe/rt/unary_call.hpp"

namespace troupe::rt {

/// Receives what the client sends. Called on gRPC threads, one call at a
/// time per stream, never concurrently with itself.
template <class Request>
class client_stream_handler {
public:
  virtual ~client_stream_handler() = default;
  /// One message; it consumed one unit of credit.
  virtual void on_message(Request& msg) = 0;
  /// The client finished writing; no more messages come.
  virtual void on_client_done() = 0;
  /// The call ended early (client cancel, deadline, shutdown).
  virtual void on_cancel(cancel_reason) {}
};

template <class Request, class Response>
class client_stream : public unary_call<Response> {
public:
  /// Allows `n` more reads. Safe from any thread.
  virtual void grant(std::size_t n) = 0;

protected:
  client_stream(Response* response, deadline due) : unary_call<Response>(response, due) {}
};

template <class Request, class Response>
using client_stream_ptr = call_ptr<client_stream<Request, Response>>;

} // namespace troupe::rt
