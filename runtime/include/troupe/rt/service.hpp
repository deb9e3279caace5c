#pragma once

// How a service plugs into the host. A service spawns its actors and opens
// its storage in start(), and declares there, method by method, who answers
// each method of the gRPC services it serves:
//
//   auto api = ctx.serve<v1::Greeter>();
//   api.unary<v1::HelloRequest, v1::HelloReply>("SayHello")
//      .validate(check_hello)
//      .to(greeter_actor);
//
// Every call then goes through the host's one call pipeline, in this order:
// refusal while shutting down, rate limits, adaptive concurrency limit,
// interceptors (metrics, tracing, auth), size limit, parsing (a body that is
// not a valid request ends INVALID_ARGUMENT naming its type), the service's
// validation, then dispatch to the actor (as a message holding the call's
// handle) or handler. Deadlines, cancellation and the status mapping are
// the pipeline's too: a service never calls any of these steps itself.
//
// Method names, kinds and message types are checked at start-up against the
// generated descriptors; a method left without an answer stops start-up.

#include <caf/actor.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "troupe/rt/call_status.hpp"
#include "troupe/rt/cancellation.hpp"
#include "troupe/rt/detail/typed_calls.hpp"

namespace caf {
class actor_system;
} // namespace caf

namespace troupe::rt {

class blocking_pool;
class config;
class config_schema;
namespace metrics {
class registry;
} // namespace metrics

namespace detail {

/// Collects what services declare; the host serves it. runtime/src.
class method_registry {
public:
  virtual void add(method_spec spec) = 0;

protected:
  ~method_registry() = default;
};

template <class Call>
struct kind_of;
template <class Req, class Resp>
struct kind_of<unary_call<Req, Resp>> {
  static constexpr method_kind value = method_kind::unary;
  using typed = unary_rpc_call<Req, Resp>;
};
template <class Req, class Resp>
struct kind_of<server_streaming_call<Req, Resp>> {
  static constexpr method_kind value = method_kind::server_streaming;
  using typed = server_streaming_rpc_call<Req, Resp>;
};
template <class Req, class Resp>
struct kind_of<client_streaming_call<Req, Resp>> {
  static constexpr method_kind value = method_kind::client_streaming;
  using typed = client_streaming_rpc_call<Req, Resp>;
};
template <class Req, class Resp>
struct kind_of<bidi_streaming_call<Req, Resp>> {
  static constexpr method_kind value = method_kind::bidi_streaming;
  using typed = bidi_streaming_rpc_call<Req, Resp>;
};

} // namespace detail

/// Declares who answers one method. Finish with to() or handle().
template <class Call>
class method_binder {
public:
  using request_type = typename Call::request_type;
  using response_type = typename Call::response_type;
  using handle_type = call_ptr<Call>;
  using typed = typename detail::kind_of<Call>::typed;

  /// Checked before the service sees the request; for streams, on every
  /// message. Return call_status::invalid_argument(field, why) to refuse.
  method_binder& validate(std::function<std::optional<call_status>(const request_type&)> fn) {
    binding_->validate = std::move(fn);
    return *this;
  }
  /// Messages a writing side buffers before push() says `full`.
  method_binder& stream_buffer(std::size_t messages) {
    spec_.stream_buffer = messages;
    return *this;
  }
  /// Whether the adaptive concurrency limit guards this method (on by
  /// default for unary methods, off for streams).
  method_binder& adaptive_limit(bool on) {
    spec_.adaptive_limit = on;
    return *this;
  }

  /// A trailer every call of this method carries when the pipeline refuses
  /// it before the service saw it (while shutting down, over a limit), so
  /// clients find the same trailers on every way a call ends: e.g.
  /// troupe-accepted: 0 on a Publish stream refused at the door.
  method_binder& refusal_trailer(std::string key, std::string value) {
    spec_.refusal_trailers.emplace_back(std::move(key), std::move(value));
    return *this;
  }

  /// Every call goes to `actor` as a message holding its handle, e.g.
  /// `[=](rt::unary<Req, Resp>& call) { ... }` in the actor's behavior.
  void to(caf::actor actor) {
    binding_->target = std::move(actor);
    commit();
  }
  /// The router picks the actor from the validated request (methods that
  /// take one request: unary and server-streaming).
  void to(std::function<caf::actor(const request_type&)> router) {
    static_assert(typed::takes_one_request,
                  "streamed requests arrive after dispatch: route them with handle()");
    binding_->route = std::move(router);
    commit();
  }
  /// `fn(handle)` runs right away on the gRPC thread that received the
  /// call. It must not block; it answers, or hands the call on.
  void handle(std::function<void(handle_type)> fn) {
    binding_->handler = std::move(fn);
    commit();
  }

private:
  friend class grpc_service;
  method_binder(detail::method_registry& registry, std::string service, std::string method)
    : registry_(registry), binding_(std::make_shared<detail::binding<Call>>()) {
    spec_.service = std::move(service);
    spec_.method = std::move(method);
    spec_.kind = detail::kind_of<Call>::value;
    spec_.request_type = request_type::descriptor();
    spec_.response_type = response_type::descriptor();
    spec_.adaptive_limit = spec_.kind == method_kind::unary;
    spec_.typed_size = sizeof(typed);
    spec_.typed_align = alignof(typed);
    spec_.construct = &detail::construct_call<typed>;
    spec_.dispatch = &detail::dispatch_call<typed>;
  }
  void commit() {
    spec_.binding = binding_;
    registry_.add(spec_);
  }

  detail::method_registry& registry_;
  std::shared_ptr<detail::binding<Call>> binding_;
  detail::method_spec spec_;
};

/// The methods of one gRPC service, as a service declares them.
class grpc_service {
public:
  template <class Req, class Resp>
  method_binder<unary_call<Req, Resp>> unary(std::string method) {
    return {registry_, name_, std::move(method)};
  }
  template <class Req, class Resp>
  method_binder<server_streaming_call<Req, Resp>> server_streaming(std::string method) {
    return {registry_, name_, std::move(method)};
  }
  template <class Req, class Resp>
  method_binder<client_streaming_call<Req, Resp>> client_streaming(std::string method) {
    return {registry_, name_, std::move(method)};
  }
  template <class Req, class Resp>
  method_binder<bidi_streaming_call<Req, Resp>> bidi_streaming(std::string method) {
    return {registry_, name_, std::move(method)};
  }

  const std::string& name() const noexcept { return name_; }

private:
  friend class service_context;
  grpc_service(detail::method_registry& registry, std::string name)
    : registry_(registry), name_(std::move(name)) {}

  detail::method_registry& registry_;
  std::string name_;
};

/// What the host gives a service at start.
class service_context {
public:
  service_context(caf::actor_system& system, const config& cfg, blocking_pool& blocking,
                  cancel_token shutdown, detail::method_registry& registry,
                  metrics::registry& metrics)
    : system_(system), cfg_(cfg), blocking_(blocking), shutdown_(std::move(shutdown)),
      registry_(registry), metrics_(metrics) {}

  caf::actor_system& system() const noexcept { return system_; }
  const config& cfg() const noexcept { return cfg_; }
  /// Threads for blocking calls (files, databases); see blocking_pool.hpp.
  blocking_pool& blocking() const noexcept { return blocking_; }
  /// Cancelled (shutting_down) when the shutdown grace period is over: for
  /// work of the service's own (background jobs), not for calls, which the
  /// pipeline ends.
  cancel_token shutdown_token() const { return shutdown_; }
  /// The service's own metrics, served on the host's /metrics beside the
  /// per-method ones the pipeline keeps; see metrics.hpp.
  metrics::registry& metrics() const noexcept { return metrics_; }

  /// Declares methods of the gRPC service `full_name`, e.g.
  /// "troupe.kv.v1.KeyValue".
  grpc_service serve(std::string full_name) { return {registry_, std::move(full_name)}; }
  /// The same, named by the generated service class.
  template <class GeneratedService>
  grpc_service serve() {
    return serve(GeneratedService::service_full_name());
  }

private:
  caf::actor_system& system_;
  const config& cfg_;
  blocking_pool& blocking_;
  cancel_token shutdown_;
  detail::method_registry& registry_;
  metrics::registry& metrics_;
};

/// One service the host runs: its actors, its storage, the methods it
/// answers.
class service {
public:
  virtual ~service() = default;

  /// Short name, for logs and config sections, e.g. "kv".
  virtual std::string name() const = 0;
  /// Config keys of the service (section `name()`).
  virtual void declare_config(config_schema& schema) const;
  /// Spawns actors, opens storage, declares every method it answers.
  /// Throws std::exception to stop start-up with its message.
  virtual void start(service_context& ctx) = 0;
  /// Shutdown began: calls in flight still finish, but streams that would
  /// never end by themselves should end now (UNAVAILABLE, with whatever
  /// trailers let clients resume elsewhere).
  virtual void drain() {}
  /// The gRPC server has stopped: let every actor of this service quit.
  virtual void stop() {}
};

} // namespace troupe::rt
