#pragma once

// A bidirectional-streaming call: the reading side of a client stream (reads
// with credit, each message parsed and validated) and the writing side of a
// server stream (a bounded buffer, one write in flight).

#include "troupe/rt/client_stream.hpp"
#include "troupe/rt/server_stream.hpp"

namespace troupe::rt {

template <class Request, class Response>
class bidi_streaming_call : public server_stream, public stream_reader<Request> {
public:
  using request_type = Request;
  using response_type = Response;

  using server_stream::push;
  push_result push(const Response& msg) {
    return push(static_cast<const google::protobuf::MessageLite&>(msg));
  }

protected:
  bidi_streaming_call(const call_info* info, deadline due) noexcept : server_stream(info, due) {}
};

/// The handle services receive for a bidi-streaming method.
template <class Request, class Response>
using bidi_streaming = call_ptr<bidi_streaming_call<Request, Response>>;

} // namespace troupe::rt
