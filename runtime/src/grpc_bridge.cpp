#include "troupe/rt/grpc_bridge.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <unistd.h>

namespace troupe::rt {

namespace {

std::atomic<bool> draining{false};
std::atomic<std::int64_t> calls_open{0};

const std::string& replica_name() {
  static const std::string name = [] {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0)
      return std::string{"unknown"};
    return std::string{buf};
  }();
  return name;
}

} // namespace

call_status call_status::from_cancel(cancel_reason reason) {
  switch (reason) {
    case cancel_reason::deadline_exceeded:
      return of(status_code::deadline_exceeded, "deadline exceeded before the call was answered");
    case cancel_reason::shutting_down:
      return of(status_code::unavailable, "server is shutting down");
    case cancel_reason::client_cancelled:
    case cancel_reason::none:
      break;
  }
  return of(status_code::cancelled, "call cancelled");
}

grpc::Status to_grpc_status(const call_status& status) {
  if (status.code == status_code::internal)
    spdlog::error("call failed with INTERNAL: {}", status.message);
  if (status.ok())
    return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code), status.message);
}

void add_trailers(grpc::CallbackServerContext* ctx, const call_status& status) {
  ctx->AddTrailingMetadata("troupe-replica", replica_name());
  if (status.retry_pushback.count() >= 0)
    ctx->AddTrailingMetadata("grpc-retry-pushback-ms", std::to_string(status.retry_pushback.count()));
  for (auto& [k, v] : status.trailers)
    ctx->AddTrailingMetadata(k, v);
}

void mark_server_draining() {
  draining.store(true, std::memory_order_release);
}

bool server_draining() {
  return draining.load(std::memory_order_acquire);
}

void note_call_opened() {
  calls_open.fetch_add(1, std::memory_order_relaxed);
}

void note_call_closed() {
  calls_open.fetch_sub(1, std::memory_order_release);
}

std::int64_t open_calls() {
  return calls_open.load(std::memory_order_acquire);
}

deadline deadline_of(const grpc::CallbackServerContext* ctx) {
  auto d = ctx->deadline();
  if (d == std::chrono::system_clock::time_point::max())
    return deadline::never();
  return deadline::from_system(d);
}

cancel_reason reason_for_cancel(const grpc::CallbackServerContext* ctx) {
  if (server_draining())
    return cancel_reason::shutting_down;
  if (deadline_of(ctx).expired())
    return cancel_reason::deadline_exceeded;
  return cancel_reason::client_cancelled;
}

grpc::ServerUnaryReactor* finish_now(grpc::CallbackServerContext* ctx, const call_status& status) {
  add_trailers(ctx, status);
  auto* r = ctx->DefaultReactor();
  r->Finish(to_grpc_status(status));
  return r;
}

} // namespace troupe::rt
