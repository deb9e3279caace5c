#pragma once

// The gRPC half of a call (see rpc_link.hpp) and what every call shares:
// admission (shutdown refusal, rate limits, interceptors, size), parsing,
// trailers and the status mapping, in one place for every method of every
// service.

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "logs/access_log.hpp"
#include "metrics/call_metrics.hpp"
#include "pipeline/lane.hpp"
#include "troupe/rt/call.hpp"
#include "pipeline/adaptive_limit.hpp"
#include "pipeline/call_limits.hpp"
#include "troupe/rt/detail/rpc_link.hpp"
#include "troupe/rt/interceptor.hpp"

namespace troupe::rt::detail {

class raw_service;

/// One method as the pipeline serves it.
struct method_entry {
  method_spec spec;
  method_info info;
  raw_service* service = nullptr;
  int index = 0;       // in its raw_service
  std::size_t preposted = 0; // requests kept waiting per lane
  std::unique_ptr<adaptive_limiter> limiter; // null: the method has none
  std::unique_ptr<method_metrics> metrics;
};

/// What all calls of one host share.
struct pipeline_state {
  std::string replica;
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  call_limits limits;
  std::vector<std::shared_ptr<interceptor>> interceptors;
  std::unique_ptr<method_metrics> unknown_methods; // grpc_method="other"
  std::unique_ptr<access_log> access;              // null: log.access=off

  std::atomic<bool> draining{false};   // new calls are refused
  std::atomic<bool> grace_over{false}; // calls still open are being ended
  std::atomic<std::int64_t> open_calls{0};
  std::atomic<std::int64_t> live_objects{0};
};

/// grpc::Service whose methods are all raw (bytes in, bytes out) and async:
/// troupe, not gRPC, parses requests, so that a body that does not parse
/// gets INVALID_ARGUMENT naming its type.
class raw_service final : public grpc::Service {
public:
  /// Streaming kinds are registered as bidi streams: the pipeline reads the
  /// one request of a server-streaming call itself and can tell when a
  /// client sends a second one.
  int add_method(const std::string& path, method_kind kind);

  void request_unary(int index, grpc::ServerContext* ctx, grpc::ByteBuffer* request,
                     grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>* responder,
                     grpc::ServerCompletionQueue* cq, void* tag);
  void request_stream(int index, grpc::ServerContext* ctx,
                      grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream,
                      grpc::ServerCompletionQueue* cq, void* tag);

private:
  std::vector<std::unique_ptr<std::string>> paths_; // gRPC keeps the char pointers
};

class rpc_base : public rpc_link, public call_info {
public:
  rpc_base(pipeline_state& state, const method_entry& method, lane& home);
  virtual ~rpc_base();

  /// Asks gRPC for the next call of this method on this lane.
  virtual void post() = 0;

  /// Shutdown's grace is over: ends the call UNAVAILABLE now.
  void shut_down();

  // call_info
  const method_info& method() const noexcept override { return method_.info; }
  std::string peer() const override;
  std::optional<std::string_view> metadata(std::string_view key) const override;
  deadline due() const noexcept override { return due_; }
  std::chrono::steady_clock::time_point started() const noexcept override { return started_; }

  // rpc_link: what a kind does not use is a bug to call.
  void free_rpc() noexcept override;
  call_status dropped_status() const override;
  void send_reply(call_status&& status, const google::protobuf::MessageLite* response) override;
  push_result push(const google::protobuf::MessageLite& msg) override;
  push_result push_encoded(grpc::ByteBuffer& bytes) override;
  void when_writable(std::function<void()> fn) override;
  void send_headers() override;
  void finish_stream(call_status&& status) override;
  void abort_stream(call_status&& status) override;
  void on_end(std::function<void()> fn) override;
  void start_reading(std::size_t credit) override;
  void grant(std::size_t n) override;

  typed_rpc* typed() const noexcept { return typed_; }

  /// Allocates a call of `method` (gRPC half with room for the typed half).
  static rpc_base* make(pipeline_state& state, const method_entry& method, lane& home);

protected:
  /// The call arrived: builds the typed half, starts the clock, tracks it.
  void begin();
  /// Shutdown refusal, rate limits, interceptors. nullopt: go on.
  std::optional<call_status> admit();
  /// Ends a call the service never saw, with the method's refusal trailers.
  void refuse(call_status status);
  /// The service answered (or the call ended): the adaptive limit gets its
  /// slot back, and the latency as a sample when `sample`. Once per call.
  void release_slot(bool sample);
  /// Parses `bytes` into the typed half's parse target; or the status.
  std::optional<call_status> parse(grpc::ByteBuffer& bytes, const char* what);
  /// The done tag came: if gRPC cancelled the call (client, deadline,
  /// shutdown) it ends early now. Returns why, or none.
  cancel_reason settle(bool cancelled_by_grpc);
  /// Then the call is over: consumers let go, interceptors hear the end,
  /// and the reference held while the call was open goes.
  void over(cancel_reason reason);
  /// Adds troupe-replica and the status's own trailers.
  void add_trailers(const call_status& status);
  grpc::Status to_grpc(const call_status& status) const;
  /// Remembers what the client is told, for interceptors.
  void record(const call_status& status);
  /// log.access: the call's line, when its status is one to log.
  void log_access(std::chrono::nanoseconds took);
  /// A request that never arrived (server shutting down): frees at once.
  void discard() noexcept;
  cancel_reason why_cancelled() const noexcept;

  pipeline_state& state_;
  const method_entry& method_;
  lane& home_;
  grpc::ServerContext ctx_;
  typed_rpc* typed_ = nullptr;
  void* typed_storage_ = nullptr;
  std::chrono::steady_clock::time_point started_{};
  deadline due_;
  status_code told_code_ = status_code::ok;
  shed_reason told_shed_ = shed_reason::none;
  std::string told_message_;
  std::uint64_t bytes_received_ = 0; // message bytes, for /metrics
  std::uint64_t bytes_sent_ = 0;
  bool recorded_ = false;
  std::atomic<bool> holds_slot_{false}; // of the method's adaptive limit

private:
  friend class lane;
  rpc_base* prev_ = nullptr;
  rpc_base* next_ = nullptr;
  bool tracked_ = false;
};

/// Serializes `msg` into `out`; false only on a serializer failure.
bool serialize(const google::protobuf::MessageLite& msg, grpc::ByteBuffer& out);

/// troupe's status mapping, the one place call_status becomes grpc::Status.
grpc::Status to_grpc_status(const call_status& status);

} // namespace troupe::rt::detail
