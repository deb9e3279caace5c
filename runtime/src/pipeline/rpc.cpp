#include "pipeline/rpc.hpp"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <spdlog/spdlog.h>

#include <new>

#include "pipeline/stream_rpc.hpp"
#include "pipeline/unary_rpc.hpp"

namespace troupe::rt::detail {

// -- raw_service --------------------------------------------------------------

int raw_service::add_method(const std::string& path, method_kind kind) {
  paths_.push_back(std::make_unique<std::string>(path));
  auto type = kind == method_kind::unary ? grpc::internal::RpcMethod::NORMAL_RPC
                                         : grpc::internal::RpcMethod::BIDI_STREAMING;
  AddMethod(new grpc::internal::RpcServiceMethod(paths_.back()->c_str(), type, nullptr));
  auto index = static_cast<int>(paths_.size() - 1);
  MarkMethodRaw(index);
  return index;
}

void raw_service::request_unary(int index, grpc::ServerContext* ctx, grpc::ByteBuffer* request,
                                grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>* responder,
                                grpc::ServerCompletionQueue* cq, void* tag) {
  RequestAsyncUnary(index, ctx, request, responder, cq, cq, tag);
}

void raw_service::request_stream(
  int index, grpc::ServerContext* ctx,
  grpc::ServerAsyncReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream,
  grpc::ServerCompletionQueue* cq, void* tag) {
  RequestAsyncBidiStreaming(index, ctx, stream, cq, cq, tag);
}

// -- status mapping -----------------------------------------------------------

grpc::Status to_grpc_status(const call_status& status) {
  if (status.ok())
    return grpc::Status::OK;
  if (status.code == status_code::internal)
    spdlog::error("call failed with INTERNAL: {}", status.message);
  return grpc::Status(static_cast<grpc::StatusCode>(status.code), status.message);
}

bool serialize(const google::protobuf::MessageLite& msg, grpc::ByteBuffer& out) {
  bool own = false;
  return grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::MessageLite>(msg, &out,
                                                                                      &own)
    .ok();
}

// -- rpc_base -----------------------------------------------------------------

rpc_base::rpc_base(pipeline_state& state, const method_entry& method, lane& home)
  : state_(state), method_(method), home_(home) {
  state_.live_objects.fetch_add(1, std::memory_order_relaxed);
}

rpc_base::~rpc_base() {
  state_.live_objects.fetch_sub(1, std::memory_order_release);
}

namespace {

// Plain new when the default alignment will do: the aligned overload goes
// through memalign, several hundred instructions a call slower.
std::size_t call_align(const method_spec& spec) {
  return std::max({alignof(unary_rpc), alignof(stream_rpc), spec.typed_align});
}

void* allocate_call(std::size_t size, std::size_t align) {
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__)
    return ::operator new(size);
  return ::operator new(size, std::align_val_t{align});
}

void free_call_memory(void* mem, std::size_t align) noexcept {
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__)
    ::operator delete(mem);
  else
    ::operator delete(mem, std::align_val_t{align});
}

} // namespace

rpc_base* rpc_base::make(pipeline_state& state, const method_entry& method, lane& home) {
  const auto& spec = method.spec;
  bool unary = spec.kind == method_kind::unary;
  std::size_t core = unary ? sizeof(unary_rpc) : sizeof(stream_rpc);
  std::size_t offset = (core + spec.typed_align - 1) / spec.typed_align * spec.typed_align;
  void* mem = allocate_call(offset + spec.typed_size, call_align(spec));
  void* typed = static_cast<char*>(mem) + offset;
  if (unary)
    return new (mem) unary_rpc(state, method, home, typed);
  return new (mem) stream_rpc(state, method, home, typed);
}

void rpc_base::free_rpc() noexcept {
  auto align = call_align(method_.spec);
  typed_->~typed_rpc();
  this->~rpc_base();
  free_call_memory(this, align);
}

void rpc_base::discard() noexcept {
  auto align = call_align(method_.spec);
  this->~rpc_base();
  free_call_memory(this, align);
}

void rpc_base::begin() {
  started_ = std::chrono::steady_clock::now();
  auto d = ctx_.deadline();
  due_ = d == std::chrono::system_clock::time_point::max() ? deadline::never()
                                                           : deadline::from_system(d);
  typed_ = method_.spec.construct(typed_storage_, this, this, due_, &method_.spec);
  method_.metrics->started(home_.index());
  state_.open_calls.fetch_add(1, std::memory_order_relaxed);
  home_.track(this);
}

std::optional<call_status> rpc_base::admit() {
  // Between SIGTERM and the server's own shutdown the port still accepts:
  // new calls are refused here so that only calls already in flight finish.
  if (state_.draining.load(std::memory_order_acquire)) {
    auto refused = call_status::from_cancel(cancel_reason::shutting_down);
    refused.shed = shed_reason::shutting_down;
    return refused;
  }
  if (state_.limits.active())
    if (auto limited = state_.limits.admit(method_.info.label, ctx_.peer()))
      return limited;
  if (auto* limiter = method_.limiter.get()) {
    if (!limiter->try_acquire(started_))
      return call_status::overloaded(method_.info.label + " is at its adaptive concurrency limit ("
                                       + std::to_string(limiter->limit())
                                       + " calls in flight; limits.adaptive.*)",
                                     limiter->pushback(), shed_reason::adaptive_limit);
    holds_slot_.store(true, std::memory_order_relaxed);
  }
  for (auto& i : state_.interceptors)
    if (auto refused = i->before(*this))
      return refused;
  return std::nullopt;
}

void rpc_base::release_slot(bool sample) {
  if (!holds_slot_.load(std::memory_order_relaxed)
      || !holds_slot_.exchange(false, std::memory_order_acq_rel))
    return;
  auto now = std::chrono::steady_clock::now();
  method_.limiter->release(now - started_, sample, now);
}

void rpc_base::refuse(call_status status) {
  for (const auto& t : method_.spec.refusal_trailers)
    status.trailers.push_back(t);
  typed_->end_with(std::move(status), cancel_reason::none);
}

std::optional<call_status> rpc_base::parse(grpc::ByteBuffer& bytes, const char* what) {
  auto size = bytes.Length();
  bytes_received_ += size;
  if (size > state_.max_message_bytes)
    return call_status::of(status_code::resource_exhausted,
                           std::string(what) + ": " + std::to_string(size) + " bytes, more than "
                             + std::to_string(state_.max_message_bytes)
                             + " allowed (server.max_message_bytes)");
  auto& target = typed_->parse_target();
  if (!grpc::GenericDeserialize<grpc::ProtoBufferReader, google::protobuf::MessageLite>(&bytes,
                                                                                        &target)
         .ok())
    return call_status::invalid_argument(what, "not a valid " + target.GetTypeName());
  return std::nullopt;
}

cancel_reason rpc_base::why_cancelled() const noexcept {
  if (state_.grace_over.load(std::memory_order_acquire))
    return cancel_reason::shutting_down;
  // A client whose deadline passes cancels the stream (RST_STREAM), and its
  // deadline runs ahead of ours by the request's transit: its cancel can
  // arrive a moment before our deadline passes. Within that moment it is the
  // deadline's doing.
  constexpr auto transit_slack = std::chrono::milliseconds(20);
  if (due_.expired(deadline::clock::now() + transit_slack))
    return cancel_reason::deadline_exceeded;
  return cancel_reason::client_cancelled;
}

cancel_reason rpc_base::settle(bool cancelled_by_grpc) {
  if (!cancelled_by_grpc)
    return cancel_reason::none;
  auto reason = why_cancelled();
  if (typed_->base().end_early(reason))
    record(call_status::from_cancel(reason));
  return reason;
}

void rpc_base::over(cancel_reason reason) {
  // However it ended early (gRPC's cancel, or the host at the end of the
  // grace period), its consumer hears why.
  if (reason == cancel_reason::none)
    reason = typed_->base().ended_because();
  typed_->call_over(reason);
  home_.untrack(this);
  state_.open_calls.fetch_sub(1, std::memory_order_release);
  // A client that went away says nothing about how long calls take here.
  release_slot(reason != cancel_reason::client_cancelled);
  auto took = std::chrono::steady_clock::now() - started_;
  method_.metrics->ended(home_.index(), told_code_, told_shed_, took, bytes_received_,
                         bytes_sent_);
  if (state_.access && state_.access->wants(told_code_))
    log_access(took);
  if (!state_.interceptors.empty()) {
    call_status told = call_status::of(told_code_, told_message_);
    for (auto& i : state_.interceptors)
      i->after(*this, told, took);
  }
  typed_->base().release(); // the reference the call held while it was open
}

void rpc_base::record(const call_status& status) {
  if (recorded_)
    return;
  recorded_ = true;
  told_code_ = status.code;
  told_shed_ = status.shed;
  if (!state_.interceptors.empty() || (state_.access && state_.access->wants(status.code)))
    told_message_ = status.message;
}

void rpc_base::log_access(std::chrono::nanoseconds took) {
  access_record r;
  r.method = method_.info.label;
  r.peer = ctx_.peer();
  r.code = told_code_;
  r.message = told_message_;
  r.took = took;
  r.request_bytes = bytes_received_;
  r.response_bytes = bytes_sent_;
  if (auto tp = metadata("traceparent"))
    r.trace_id = trace_id_of(*tp);
  state_.access->write(r);
}

void rpc_base::add_trailers(const call_status& status) {
  ctx_.AddTrailingMetadata("troupe-replica", state_.replica);
  if (status.retry_pushback.count() >= 0)
    ctx_.AddTrailingMetadata("grpc-retry-pushback-ms",
                             std::to_string(status.retry_pushback.count()));
  for (auto& [k, v] : status.trailers)
    ctx_.AddTrailingMetadata(k, v);
}

grpc::Status rpc_base::to_grpc(const call_status& status) const {
  return to_grpc_status(status);
}

void rpc_base::shut_down() {
  typed_->end_with(call_status::from_cancel(cancel_reason::shutting_down),
                   cancel_reason::shutting_down);
}

std::string rpc_base::peer() const {
  return ctx_.peer();
}

std::optional<std::string_view> rpc_base::metadata(std::string_view key) const {
  const auto& md = ctx_.client_metadata();
  auto it = md.find(grpc::string_ref(key.data(), key.size()));
  if (it == md.end())
    return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

call_status rpc_base::dropped_status() const {
  if (state_.draining.load(std::memory_order_acquire))
    return call_status::from_cancel(cancel_reason::shutting_down);
  return call_status::of(status_code::internal,
                         method_.info.label + ": the service dropped the call without answering");
}

namespace {

[[noreturn]] void misuse(const method_info& m, const char* what) {
  spdlog::critical("{} ({}) used as if it were another kind: {}", m.label, to_string(m.kind), what);
  std::abort();
}

} // namespace

void rpc_base::send_reply(call_status&&, const google::protobuf::MessageLite*) {
  misuse(method_.info, "send_reply");
}
push_result rpc_base::push(const google::protobuf::MessageLite&) {
  misuse(method_.info, "push");
}
push_result rpc_base::push_encoded(grpc::ByteBuffer&) {
  misuse(method_.info, "push_encoded");
}
void rpc_base::when_writable(std::function<void()>) {
  misuse(method_.info, "when_writable");
}
void rpc_base::send_headers() {
  misuse(method_.info, "send_headers");
}
void rpc_base::finish_stream(call_status&&) {
  misuse(method_.info, "finish_stream");
}
void rpc_base::abort_stream(call_status&&) {
  misuse(method_.info, "abort_stream");
}
void rpc_base::on_end(std::function<void()>) {
  misuse(method_.info, "on_end");
}
void rpc_base::start_reading(std::size_t) {
  misuse(method_.info, "start_reading");
}
void rpc_base::grant(std::size_t) {
  misuse(method_.info, "grant");
}

} // namespace troupe::rt::detail

namespace troupe::rt::detail {

call_status no_owner_status(const method_spec& spec) {
  return call_status::of(status_code::unavailable,
                         spec.service + "/" + spec.method + ": no actor is there to answer");
}

call_status for_message(std::size_t index, call_status status) {
  status.message = "request[" + std::to_string(index) + "]." + status.message;
  return status;
}

} // namespace troupe::rt::detail
