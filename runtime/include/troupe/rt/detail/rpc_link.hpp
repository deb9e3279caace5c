#pragma once

// Plumbing between the two halves of one call, which live in one allocation:
// the gRPC half (runtime/src/pipeline: server context, async ops, tags) and
// the typed half (the call the service sees: unary_call<Req, Resp> and
// friends, with the parsed messages). Neither half includes the other's
// headers, so service code compiles without gRPC and the pipeline without
// the services' message types. Not for service authors.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "troupe/rt/call_status.hpp"
#include "troupe/rt/server_stream.hpp"

namespace google::protobuf {
class Descriptor;
class MessageLite;
} // namespace google::protobuf

namespace troupe::rt::detail {

/// The gRPC half, as the typed half calls it. Implemented in runtime/src.
class rpc_link {
public:
  /// The call's last reference is gone: free both halves.
  virtual void free_rpc() noexcept = 0;
  /// How a call whose service dropped every handle unanswered ends.
  virtual call_status dropped_status() const = 0;

  // Unary and client-streaming calls: the one answer.
  virtual void send_reply(call_status&& status, const google::protobuf::MessageLite* response) = 0;

  // The writing side of server-streaming and bidi calls.
  virtual push_result push(const google::protobuf::MessageLite& msg) = 0;
  virtual push_result push_encoded(grpc::ByteBuffer& bytes) = 0;
  virtual void when_writable(std::function<void()> fn) = 0;
  virtual void send_headers() = 0;
  /// Ends the stream once what was accepted has been written.
  virtual void finish_stream(call_status&& status) = 0;
  /// Ends the stream as soon as the write in flight is done, dropping what
  /// is still buffered (shutdown).
  virtual void abort_stream(call_status&& status) = 0;
  virtual void on_end(std::function<void()> fn) = 0;

  // The reading side of client-streaming and bidi calls.
  virtual void start_reading(std::size_t credit) = 0;
  virtual void grant(std::size_t n) = 0;

protected:
  ~rpc_link() = default;
};

/// The typed half, as the gRPC half calls it. Implemented by the templates
/// in typed_calls.hpp.
class typed_rpc {
public:
  virtual ~typed_rpc() = default;
  virtual call_base& base() noexcept = 0;
  /// Where the pipeline parses the request (unary, server-streaming) or the
  /// next streamed message (client-streaming, bidi).
  virtual google::protobuf::MessageLite& parse_target() noexcept = 0;
  /// Ends the call from the pipeline's side (refused, invalid, shutdown):
  /// claims it, and for `reason` != none also cancels its token.
  virtual bool end_with(call_status status, cancel_reason reason) = 0;

  // Streamed messages, in order, on the call's gRPC thread.
  /// The message in parse_target() parsed: validate it and hand it over.
  /// `index` counts messages from 0. Clears parse_target() afterwards.
  virtual void deliver_message(std::size_t /*index*/) {}
  /// A streamed message did not parse; `status` names its index.
  virtual void reject_message(call_status /*status*/) {}
  virtual void client_done() {}
  /// The call is over (done on the gRPC side), early for `reason` or not:
  /// let go of the consumer, which may hold the call (a cycle otherwise).
  virtual void call_over(cancel_reason /*reason*/) {}
};

/// Everything the pipeline needs to serve one method of a service, built by
/// the binders in service.hpp from the service's typed declarations.
struct method_spec {
  std::string service;  // full name of the gRPC service
  std::string method;   // short name
  method_kind kind = method_kind::unary;
  const google::protobuf::Descriptor* request_type = nullptr;
  const google::protobuf::Descriptor* response_type = nullptr;
  /// Buffer of a writing side, in messages.
  std::size_t stream_buffer = 64;
  /// Whether the adaptive concurrency limit guards this method.
  bool adaptive_limit = true;
  /// Trailers a call of this method carries when the pipeline refuses it
  /// before the service saw it (shutdown, limits, interceptors).
  std::vector<std::pair<std::string, std::string>> refusal_trailers;

  // The typed half: its size, how to build it in place, how to hand a
  // parsed call to the service (validation, then dispatch).
  std::size_t typed_size = 0;
  std::size_t typed_align = alignof(std::max_align_t);
  typed_rpc* (*construct)(void* where, rpc_link* link, const call_info* info, deadline due,
                          const method_spec* spec) = nullptr;
  void (*dispatch)(typed_rpc* call, const method_spec& spec) = nullptr;
  /// The typed binding (validator, router, handler) `construct` and
  /// `dispatch` cast back to.
  std::shared_ptr<void> binding;
};

} // namespace troupe::rt::detail
