#pragma once

// Calls without gRPC, for unit tests of a service's actors and handlers:
// each fake records how the service ended it and what it wrote, and lets the
// test play the client (grant credit, read, cancel). Integration tests use
// the real host instead (see docs/SERVICES.md, "test it").

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/support/byte_buffer.h>

#include "troupe/rt/client_stream.hpp"
#include "troupe/rt/server_stream.hpp"
#include "troupe/rt/unary.hpp"

namespace troupe::rt::testing {

class fake_call_info final : public call_info {
public:
  explicit fake_call_info(std::string label = "test.Service/Method") {
    method_.label = label;
    auto slash = label.find('/');
    method_.service = label.substr(0, slash);
    method_.name = slash == std::string::npos ? label : label.substr(slash + 1);
    method_.path = "/" + label;
  }
  const method_info& method() const noexcept override { return method_; }
  std::string peer() const override { return "ipv4:127.0.0.1:1"; }
  std::optional<std::string_view> metadata(std::string_view) const override {
    return std::nullopt;
  }
  deadline due() const noexcept override { return deadline::never(); }
  std::chrono::steady_clock::time_point started() const noexcept override { return {}; }

private:
  method_info method_;
};

namespace detail {

/// Fakes are freed when the last reference goes, like real calls.
template <class Call>
call_ptr<Call> hand_out(Call* fake) {
  call_ptr<Call> h{fake};
  fake->release(); // the creator's reference: the handle owns it now
  return h;
}

} // namespace detail

/// A unary call: the test reads `status` and `response` once `finished`.
template <class Req, class Resp>
class fake_unary final : public unary_call<Req, Resp> {
public:
  /// A handle on a new fake and the fake itself (alive while handles are).
  static std::pair<unary<Req, Resp>, fake_unary*> make(Req request = {},
                                                       deadline due = deadline::never()) {
    auto* f = new fake_unary(due);
    f->request() = std::move(request);
    return {detail::hand_out<unary_call<Req, Resp>>(f), f};
  }
  /// The client goes away (or the deadline passes) before an answer.
  bool cancel(cancel_reason reason = cancel_reason::client_cancelled) {
    return this->end_early(reason);
  }

  bool finished = false;
  call_status status;
  Resp response;

private:
  explicit fake_unary(deadline due) : unary_call<Req, Resp>(&info_, due) {}
  void finish(call_status s, const Resp* r) override {
    finished = true;
    status = std::move(s);
    if (r)
      response = *r;
  }
  void free_call() noexcept override { delete this; }
  void dropped() noexcept override {
    this->fail(call_status::of(status_code::internal, "dropped without an answer"));
  }
  fake_call_info info_;
};

/// A client-streaming call: the test feeds messages to the consumer the
/// service attached, spending the credit it granted.
template <class Req, class Resp>
class fake_client_stream final : public client_streaming_call<Req, Resp> {
public:
  static std::pair<client_streaming<Req, Resp>, fake_client_stream*> make() {
    auto* f = new fake_client_stream();
    return {detail::hand_out<client_streaming_call<Req, Resp>>(f), f};
  }

  void start(std::shared_ptr<client_stream_handler<Req>> h, std::size_t n) override {
    handler = std::move(h);
    credit += n;
  }
  void grant(std::size_t n) override { credit += n; }

  /// One message from the client; false when the consumer had no credit.
  bool send(Req msg) {
    if (credit == 0 || !handler)
      return false;
    --credit;
    handler->on_message(msg);
    return true;
  }

  std::shared_ptr<client_stream_handler<Req>> handler;
  std::size_t credit = 0;
  bool finished = false;
  call_status status;
  Resp response;

private:
  fake_client_stream() : client_streaming_call<Req, Resp>(&info_, deadline::never()) {}
  void finish(call_status s, const Resp* r) override {
    finished = true;
    status = std::move(s);
    if (r)
      response = *r;
  }
  void free_call() noexcept override { delete this; }
  void dropped() noexcept override {
    this->fail(call_status::of(status_code::internal, "dropped without an answer"));
  }
  fake_call_info info_;
};

/// A server stream whose client reads only when the test says so; it keeps
/// the bytes written, one entry per message.
class fake_server_stream final : public server_stream {
public:
  static std::pair<server_stream_ptr, fake_server_stream*> make(std::size_t capacity) {
    auto* f = new fake_server_stream(capacity);
    return {detail::hand_out<server_stream>(f), f};
  }

  push_result push(const google::protobuf::MessageLite& msg) override {
    std::string bytes;
    msg.SerializeToString(&bytes);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    return push_encoded(buffer);
  }
  push_result push_encoded(grpc::ByteBuffer& bytes) override {
    if (!open() || finishing)
      return push_result::ended;
    if (buffered.size() >= capacity_)
      return push_result::full;
    buffered.push_back(std::move(bytes));
    return push_result::accepted;
  }
  void when_writable(std::function<void()> fn) override { writable_ = std::move(fn); }
  void send_headers() override { ++headers; }
  void finish(call_status s) override {
    if (!this->claim())
      return;
    finishing = true;
    status = std::move(s);
  }
  void on_end(std::function<void()> fn) override { on_end_ = std::move(fn); }

  /// The client took `n` messages: room wakes the producer.
  std::deque<grpc::ByteBuffer> read(std::size_t n) {
    std::deque<grpc::ByteBuffer> out;
    while (n-- > 0 && !buffered.empty()) {
      out.push_back(std::move(buffered.front()));
      buffered.pop_front();
    }
    if (!out.empty() && writable_)
      std::exchange(writable_, nullptr)();
    return out;
  }
  bool waiting_for_room() const { return static_cast<bool>(writable_); }
  std::string trailer(const std::string& key) const {
    for (auto& [k, v] : status.trailers)
      if (k == key)
        return v;
    return "";
  }

  std::deque<grpc::ByteBuffer> buffered;
  int headers = 0;
  bool finishing = false;
  call_status status;

private:
  explicit fake_server_stream(std::size_t capacity)
    : server_stream(&info_, deadline::never()), capacity_(capacity) {}
  void free_call() noexcept override { delete this; }
  void dropped() noexcept override {
    finish(call_status::of(status_code::internal, "dropped without an answer"));
  }

  fake_call_info info_;
  std::size_t capacity_;
  std::function<void()> writable_;
  std::function<void()> on_end_;
};

} // namespace troupe::rt::testing
