#include "pipeline/pipeline.hpp"

#include <google/protobuf/descriptor.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "pipeline/unary_rpc.hpp"

namespace troupe::rt::detail {

namespace {

method_kind method_kind_of(const google::protobuf::MethodDescriptor& m) {
  if (m.client_streaming() && m.server_streaming())
    return method_kind::bidi_streaming;
  if (m.client_streaming())
    return method_kind::client_streaming;
  if (m.server_streaming())
    return method_kind::server_streaming;
  return method_kind::unary;
}

std::string method_list(const google::protobuf::ServiceDescriptor& s) {
  std::string out;
  for (int i = 0; i < s.method_count(); ++i)
    out += (i ? ", " : "") + s.method(i)->name();
  return out;
}

/// A call of a method nobody serves: UNIMPLEMENTED, with our trailers.
class unknown_rpc final {
public:
  unknown_rpc(pipeline_state& state, grpc::AsyncGenericService& service, lane& home)
    : state_(state), service_(service), home_(home), stream_(&ctx_) {
    state_.live_objects.fetch_add(1, std::memory_order_relaxed);
  }
  ~unknown_rpc() { state_.live_objects.fetch_sub(1, std::memory_order_release); }

  void post() { service_.RequestCall(&ctx_, &stream_, home_.cq(), home_.cq(), &arrived_tag_); }

private:
  void arrived(bool ok) {
    if (!ok) {
      delete this;
      return;
    }
    (new unknown_rpc(state_, service_, home_))->post();
    started_ = std::chrono::steady_clock::now();
    state_.unknown_methods->started(home_.index());
    ctx_.AddTrailingMetadata("troupe-replica", state_.replica);
    stream_.Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                "method " + ctx_.method() + " is not served here"),
                   &finished_tag_);
  }
  void finished(bool) {
    auto took = std::chrono::steady_clock::now() - started_;
    state_.unknown_methods->ended(home_.index(), status_code::unimplemented, shed_reason::none,
                                  took, 0, 0);
    if (state_.access && state_.access->wants(status_code::unimplemented)) {
      access_record r;
      r.method = ctx_.method();
      r.peer = ctx_.peer();
      r.code = status_code::unimplemented;
      r.message = "method is not served here";
      r.took = took;
      state_.access->write(r);
    }
    delete this;
  }

  pipeline_state& state_;
  grpc::AsyncGenericService& service_;
  lane& home_;
  grpc::GenericServerContext ctx_;
  grpc::GenericServerAsyncReaderWriter stream_;
  std::chrono::steady_clock::time_point started_{};
  tag<unknown_rpc, &unknown_rpc::arrived> arrived_tag_{this};
  tag<unknown_rpc, &unknown_rpc::finished> finished_tag_{this};
};

constexpr std::size_t unknown_preposted = 4;

} // namespace

void post_request(pipeline_state& state, const method_entry& method, lane& home) {
  rpc_base::make(state, method, home)->post();
}

pipeline::pipeline(caf::actor_system& system, pipeline_settings settings)
  : system_(system), settings_(std::move(settings)) {
  state_.replica = settings_.replica;
  state_.max_message_bytes = settings_.max_message_bytes;
  state_.limits.configure(settings_.limits);
  state_.unknown_methods = std::make_unique<method_metrics>("other", settings_.lanes);
  if (settings_.access_mode != access_log::mode::off)
    state_.access = std::make_unique<access_log>(settings_.access_mode, settings_.json_logs);
}

pipeline::~pipeline() {
  stop(std::chrono::milliseconds(0));
}

void pipeline::add(method_spec spec) {
  declared_.push_back(std::move(spec));
}

void pipeline::add_interceptor(std::shared_ptr<interceptor> i) {
  state_.interceptors.push_back(std::move(i));
}

void pipeline::check_declarations() const {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  std::set<std::string> bound;
  std::set<std::string> served;
  for (const auto& spec : declared_) {
    const auto* svc = pool->FindServiceByName(spec.service);
    if (svc == nullptr)
      throw std::runtime_error("gRPC service " + spec.service
                               + " is not known (is its generated code linked?)");
    const auto* m = svc->FindMethodByName(spec.method);
    if (m == nullptr)
      throw std::runtime_error(spec.service + " has no method " + spec.method + " (it has "
                               + method_list(*svc) + ")");
    auto label = spec.service + "/" + spec.method;
    if (method_kind_of(*m) != spec.kind)
      throw std::runtime_error(label + " is " + to_string(method_kind_of(*m)) + ", declared as "
                               + to_string(spec.kind));
    if (m->input_type() != spec.request_type)
      throw std::runtime_error(label + " takes " + m->input_type()->full_name()
                               + ", declared with " + spec.request_type->full_name());
    if (m->output_type() != spec.response_type)
      throw std::runtime_error(label + " returns " + m->output_type()->full_name()
                               + ", declared with " + spec.response_type->full_name());
    if (!bound.insert(label).second)
      throw std::runtime_error(label + " is declared twice");
    served.insert(spec.service);
  }
  for (const auto& name : served) {
    const auto* svc = pool->FindServiceByName(name);
    for (int i = 0; i < svc->method_count(); ++i) {
      auto label = name + "/" + svc->method(i)->name();
      if (!bound.count(label))
        throw std::runtime_error(label + " has no handler: every method of a served service "
                                 "must be declared");
    }
  }
}

void pipeline::install(grpc::ServerBuilder& builder) {
  check_declarations();
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (auto& spec : declared_) {
    auto& svc = services_[spec.service];
    if (!svc)
      svc = std::make_unique<raw_service>();
    auto& m = methods_.emplace_back();
    m.info.service = spec.service;
    m.info.name = spec.method;
    m.info.label = spec.service + "/" + spec.method;
    m.info.path = "/" + m.info.label;
    m.info.kind = spec.kind;
    m.info.descriptor = pool->FindServiceByName(spec.service)->FindMethodByName(spec.method);
    m.service = svc.get();
    m.index = svc->add_method(m.info.path, spec.kind);
    m.preposted = spec.kind == method_kind::unary ? settings_.unary_preposted
                                                  : settings_.stream_preposted;
    if (spec.adaptive_limit && settings_.adaptive.enabled)
      m.limiter = std::make_unique<adaptive_limiter>(settings_.adaptive,
                                                     adaptive_limiter::clock::now(),
                                                     m.info.label);
    m.metrics = std::make_unique<method_metrics>(m.info.label, settings_.lanes);
    m.spec = std::move(spec);
  }
  declared_.clear();
  for (auto& [_, svc] : services_)
    builder.RegisterService(svc.get());
  builder.RegisterAsyncGenericService(&unknown_);
  for (std::size_t i = 0; i < settings_.lanes; ++i)
    lanes_.push_back(std::make_unique<lane>(system_, i, builder.AddCompletionQueue()));
}

void pipeline::post_unknown(lane& l) {
  (new unknown_rpc(state_, unknown_, l))->post();
}

void pipeline::start() {
  for (auto& l : lanes_) {
    for (auto& m : methods_)
      for (std::size_t i = 0; i < m.preposted; ++i)
        post_request(state_, m, *l);
    for (std::size_t i = 0; i < unknown_preposted; ++i)
      post_unknown(*l);
  }
  for (auto& l : lanes_)
    threads_.emplace_back([lp = l.get()] { lp->run(); });
}

void pipeline::write_metrics(std::string& out) const {
  std::vector<const method_metrics*> all;
  for (const auto& m : methods_)
    all.push_back(m.metrics.get());
  all.push_back(state_.unknown_methods.get());
  write_call_metrics(all, out);
}

std::vector<std::string> pipeline::service_names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : services_)
    out.push_back(name);
  return out;
}

void pipeline::begin_drain() {
  state_.draining.store(true, std::memory_order_release);
}

std::int64_t pipeline::open_calls() const noexcept {
  return state_.open_calls.load(std::memory_order_acquire);
}

void pipeline::end_open_calls() {
  state_.draining.store(true, std::memory_order_release);
  state_.grace_over.store(true, std::memory_order_release);
  for (auto& l : lanes_) {
    for (auto* call : l->open_calls_snapshot()) {
      call->shut_down();
      call->typed()->base().release();
    }
  }
}

void pipeline::stop(std::chrono::milliseconds patience) {
  if (stopped_ || lanes_.empty())
    return;
  stopped_ = true;
  // Operations on a call whose queue is shut down would abort the process:
  // give the services' actors time to let go of their calls first.
  auto until = std::chrono::steady_clock::now() + patience;
  while (state_.live_objects.load(std::memory_order_acquire) > 0
         && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (auto left = state_.live_objects.load(std::memory_order_acquire); left > 0)
    spdlog::warn("{} calls still referenced by services when the pipeline stopped", left);
  for (auto& l : lanes_)
    l->cq()->Shutdown();
  for (auto& t : threads_)
    t.join();
  threads_.clear();
}

} // namespace troupe::rt::detail
