#pragma once

// The typed halves of calls (see rpc_link.hpp), one per method kind, and the
// functions that validate and dispatch them. Instantiated by the binders in
// service.hpp for each method a service declares. Not for service authors.

#include <caf/actor.hpp>
#include <caf/mailbox_element.hpp>

#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>

#include "troupe/rt/bidi_stream.hpp"
#include "troupe/rt/client_stream.hpp"
#include "troupe/rt/detail/rpc_link.hpp"
#include "troupe/rt/server_stream.hpp"
#include "troupe/rt/unary.hpp"

// Calls travel to actors by handle; they never leave the process.
namespace caf {
template <class Call>
struct allowed_unsafe_message_type<troupe::rt::call_ptr<Call>> : std::true_type {};
} // namespace caf

namespace troupe::rt::detail {

/// The message that hands a call to its actor, kept inside the call itself
/// so that dispatch allocates nothing. CAF lets mailbox elements manage
/// their own memory (memory_managed::request_deletion): consuming it only
/// drops what it holds.
template <class Handle>
class dispatch_element final : public caf::mailbox_element,
                               public caf::detail::type_erased_tuple_view<Handle> {
public:
  dispatch_element()
    : caf::mailbox_element(nullptr, caf::make_message_id(), {}),
      caf::detail::type_erased_tuple_view<Handle>(value) {}

  /// Loads the handle; the element keeps the call alive on its own as
  /// well, since the actor may move the handle out while CAF still holds
  /// the element.
  void load(Handle h) {
    value = std::move(h);
    keep_ = value.get();
    keep_->add_ref();
  }

  caf::type_erased_tuple& content() override { return *this; }
  const caf::type_erased_tuple& content() const override { return *this; }
  caf::message move_content_to_message() override { return caf::make_message(std::move(value)); }
  caf::message copy_content_to_message() const override { return caf::make_message(value); }
  // The last thing CAF does with the element. Dropping the handle may end
  // the call, and the reference may free it, with this element in it.
  void request_deletion(bool) const noexcept override {
    Handle{}.swap(value);
    auto* keep = keep_;
    keep->release();
  }

  mutable Handle value;

private:
  call_base* keep_ = nullptr;
};

/// Hands `element` to `dest`, running `dest` right here when this is a
/// pipeline thread and `dest` was idle. Defined in runtime/src.
void deliver(const caf::actor& dest, caf::mailbox_element& element);

/// The status of a call whose router found no actor to take it.
call_status no_owner_status(const method_spec& spec);

/// "request[3]: ..." for the message at `index` of a stream.
call_status for_message(std::size_t index, call_status status);

/// What a service declared for one method.
template <class Call>
struct binding {
  using request_type = typename Call::request_type;
  using handle = call_ptr<Call>;
  std::function<std::optional<call_status>(const request_type&)> validate;
  caf::actor target;
  std::function<caf::actor(const request_type&)> route;
  std::function<void(handle)> handler;
};

template <class Call>
const binding<Call>& binding_of(const method_spec& spec) {
  return *static_cast<const binding<Call>*>(spec.binding.get());
}

// -- unary --------------------------------------------------------------------

template <class Req, class Resp>
class unary_rpc_call final : public unary_call<Req, Resp>, public typed_rpc {
public:
  using call_type = unary_call<Req, Resp>;
  static constexpr bool takes_one_request = true;

  unary_rpc_call(rpc_link* link, const call_info* info, deadline due, const method_spec*)
    : call_type(info, due), link_(link) {}

  call_base& base() noexcept override { return *this; }
  google::protobuf::MessageLite& parse_target() noexcept override { return this->request(); }
  bool end_with(call_status status, cancel_reason reason) override {
    if (reason == cancel_reason::none)
      return this->fail(std::move(status));
    if (!this->end_early(reason))
      return false;
    link_->send_reply(std::move(status), nullptr);
    return true;
  }

  dispatch_element<call_ptr<call_type>> element;

private:
  void finish(call_status status, const Resp* response) override {
    link_->send_reply(std::move(status), response);
  }
  void free_call() noexcept override { link_->free_rpc(); }
  void dropped() noexcept override { this->fail(link_->dropped_status()); }

  rpc_link* link_;
};

// -- server streaming ---------------------------------------------------------

/// The writing side every streaming kind shares: forwards to the link.
template <class Base>
class writing_call : public Base, public typed_rpc {
public:
  writing_call(rpc_link* link, const call_info* info, deadline due)
    : Base(info, due), link_(link) {}

  using Base::push;
  push_result push(const google::protobuf::MessageLite& msg) override { return link_->push(msg); }
  push_result push_encoded(grpc::ByteBuffer& bytes) override { return link_->push_encoded(bytes); }
  void when_writable(std::function<void()> fn) override { link_->when_writable(std::move(fn)); }
  void send_headers() override { link_->send_headers(); }
  void finish(call_status status) override {
    if (this->claim())
      link_->finish_stream(std::move(status));
  }
  void on_end(std::function<void()> fn) override { link_->on_end(std::move(fn)); }

  call_base& base() noexcept override { return *this; }
  bool end_with(call_status status, cancel_reason reason) override {
    if (reason == cancel_reason::none) {
      if (!this->claim())
        return false;
      link_->finish_stream(std::move(status));
      return true;
    }
    if (!this->end_early(reason))
      return false;
    link_->abort_stream(std::move(status));
    return true;
  }

protected:
  void free_call() noexcept override { link_->free_rpc(); }
  void dropped() noexcept override { finish(link_->dropped_status()); }

  rpc_link* link_;
};

template <class Req, class Resp>
class server_streaming_rpc_call final : public writing_call<server_streaming_call<Req, Resp>> {
public:
  using call_type = server_streaming_call<Req, Resp>;
  static constexpr bool takes_one_request = true;

  server_streaming_rpc_call(rpc_link* link, const call_info* info, deadline due,
                            const method_spec*)
    : writing_call<call_type>(link, info, due) {}

  google::protobuf::MessageLite& parse_target() noexcept override { return this->request(); }

  dispatch_element<call_ptr<call_type>> element;
};

// -- the reading side ---------------------------------------------------------

/// Validates and hands over streamed messages; shared by client-streaming
/// and bidi calls.
template <class Req, class Call>
class message_reader {
public:
  explicit message_reader(const method_spec* spec) : spec_(spec) {}

  google::protobuf::MessageLite& target() noexcept { return incoming_; }

  void attach(std::shared_ptr<client_stream_handler<Req>> handler) {
    handler_ = std::move(handler);
  }

  /// nullopt when the message went to the handler; else the status that
  /// must end the call, which `claim` ended first (the handler has seen the
  /// status then and may have added trailers), or nullopt when it had ended.
  template <class Claim>
  std::optional<call_status> deliver_or_reject(std::size_t index, Claim claim) {
    auto& validate = binding_of<Call>(*spec_).validate;
    if (validate) {
      if (auto bad = validate(incoming_)) {
        incoming_.Clear();
        if (!claim())
          return std::nullopt;
        auto status = for_message(index, std::move(*bad));
        if (handler_)
          handler_->on_bad_message(status);
        return status;
      }
    }
    if (handler_)
      handler_->on_message(incoming_);
    incoming_.Clear();
    return std::nullopt;
  }
  void bad(call_status& status) {
    if (handler_)
      handler_->on_bad_message(status);
  }
  void client_done() {
    if (handler_)
      handler_->on_client_done();
  }
  void cancelled(cancel_reason reason) {
    if (handler_)
      handler_->on_cancel(reason);
  }
  void release() { handler_.reset(); }

private:
  const method_spec* spec_;
  Req incoming_;
  std::shared_ptr<client_stream_handler<Req>> handler_;
};

// -- client streaming ---------------------------------------------------------

template <class Req, class Resp>
class client_streaming_rpc_call final : public client_streaming_call<Req, Resp>, public typed_rpc {
public:
  using call_type = client_streaming_call<Req, Resp>;
  static constexpr bool takes_one_request = false;

  client_streaming_rpc_call(rpc_link* link, const call_info* info, deadline due,
                            const method_spec* spec)
    : call_type(info, due), link_(link), reader_(spec) {}

  void start(std::shared_ptr<client_stream_handler<Req>> handler, std::size_t credit) override {
    reader_.attach(std::move(handler));
    link_->start_reading(credit);
  }
  void grant(std::size_t n) override { link_->grant(n); }

  call_base& base() noexcept override { return *this; }
  google::protobuf::MessageLite& parse_target() noexcept override { return reader_.target(); }
  bool end_with(call_status status, cancel_reason reason) override {
    if (reason == cancel_reason::none)
      return this->fail(std::move(status));
    if (!this->end_early(reason))
      return false;
    link_->send_reply(std::move(status), nullptr);
    return true;
  }
  void deliver_message(std::size_t index) override {
    if (auto bad = reader_.deliver_or_reject(index, [this] { return this->claim(); }))
      link_->send_reply(std::move(*bad), nullptr);
  }
  void client_done() override { reader_.client_done(); }
  void call_over(cancel_reason reason) override {
    if (reason != cancel_reason::none)
      reader_.cancelled(reason);
    reader_.release();
  }
  void reject_message(call_status status) override {
    // Ended first, so that nothing the consumer does from here can answer
    // in its place; it may still add trailers to the status.
    if (!this->claim())
      return;
    reader_.bad(status);
    link_->send_reply(std::move(status), nullptr);
  }

  dispatch_element<call_ptr<call_type>> element;

private:
  void finish(call_status status, const Resp* response) override {
    link_->send_reply(std::move(status), response);
  }
  void free_call() noexcept override { link_->free_rpc(); }
  void dropped() noexcept override { this->fail(link_->dropped_status()); }

  rpc_link* link_;
  message_reader<Req, call_type> reader_;
};

// -- bidi streaming -----------------------------------------------------------

template <class Req, class Resp>
class bidi_streaming_rpc_call final : public writing_call<bidi_streaming_call<Req, Resp>> {
public:
  using call_type = bidi_streaming_call<Req, Resp>;
  static constexpr bool takes_one_request = false;

  bidi_streaming_rpc_call(rpc_link* link, const call_info* info, deadline due,
                          const method_spec* spec)
    : writing_call<call_type>(link, info, due), reader_(spec) {}

  void start(std::shared_ptr<client_stream_handler<Req>> handler, std::size_t credit) override {
    reader_.attach(std::move(handler));
    this->link_->start_reading(credit);
  }
  void grant(std::size_t n) override { this->link_->grant(n); }

  google::protobuf::MessageLite& parse_target() noexcept override { return reader_.target(); }
  void deliver_message(std::size_t index) override {
    if (auto bad = reader_.deliver_or_reject(index, [this] { return this->claim(); }))
      this->link_->finish_stream(std::move(*bad));
  }
  void reject_message(call_status status) override {
    if (!this->claim())
      return;
    reader_.bad(status);
    this->link_->finish_stream(std::move(status));
  }
  void client_done() override { reader_.client_done(); }
  void call_over(cancel_reason reason) override {
    if (reason != cancel_reason::none)
      reader_.cancelled(reason);
    reader_.release();
  }

  dispatch_element<call_ptr<call_type>> element;

private:
  message_reader<Req, call_type> reader_;
};

// -- construction and dispatch ------------------------------------------------

template <class Typed>
typed_rpc* construct_call(void* where, rpc_link* link, const call_info* info, deadline due,
                          const method_spec* spec) {
  return new (where) Typed(link, info, due, spec);
}

/// Validates the request (methods that take one) and hands the call to the
/// service: its handler, or the actor its router names.
template <class Typed>
void dispatch_call(typed_rpc* rpc, const method_spec& spec) {
  using call_type = typename Typed::call_type;
  auto* call = static_cast<Typed*>(rpc);
  const auto& b = binding_of<call_type>(spec);
  caf::actor dest;
  if constexpr (Typed::takes_one_request) {
    if (b.validate)
      if (auto bad = b.validate(call->request())) {
        call->end_with(std::move(*bad), cancel_reason::none);
        return;
      }
    if (b.route)
      dest = b.route(call->request());
  }
  if (b.handler) {
    b.handler(call_ptr<call_type>(call));
    return;
  }
  if (!dest)
    dest = b.target;
  if (!dest) {
    call->end_with(no_owner_status(spec), cancel_reason::none);
    return;
  }
  call->element.load(call_ptr<call_type>(call));
  deliver(dest, call->element);
}

} // namespace troupe::rt::detail
