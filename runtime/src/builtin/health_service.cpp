#include "builtin/health_service.hpp"

#include <algorithm>

#include "grpc/health/v1/health.pb.h"

namespace troupe::rt::detail {

namespace hv1 = grpc::health::v1;
using watch_call = server_streaming<hv1::HealthCheckRequest, hv1::HealthCheckResponse>;

struct health_service::watcher {
  watch_call call;
  std::string service;
  int sent = -1; // last status pushed

  // Pushes `status` if it changed. Health answers are a few bytes and change
  // rarely: a client so slow that they pile up is cut off.
  void update(hv1::HealthCheckResponse::ServingStatus status) {
    if (sent == status)
      return;
    hv1::HealthCheckResponse r;
    r.set_status(status);
    if (call->push(r) == push_result::full)
      call->finish(call_status::of(status_code::resource_exhausted,
                                   "health watcher reads too slowly"));
    sent = status;
  }
};

namespace {

hv1::HealthCheckResponse::ServingStatus status_of(const std::map<std::string, bool>& serving,
                                                  const std::string& service) {
  auto it = serving.find(service);
  if (it == serving.end())
    return hv1::HealthCheckResponse::SERVICE_UNKNOWN;
  return it->second ? hv1::HealthCheckResponse::SERVING : hv1::HealthCheckResponse::NOT_SERVING;
}

} // namespace

void health_service::start(service_context& ctx) {
  auto api = ctx.serve("grpc.health.v1.Health");
  api.unary<hv1::HealthCheckRequest, hv1::HealthCheckResponse>("Check")
    .adaptive_limit(false) // load balancers must always get an answer
    .handle([this](unary<hv1::HealthCheckRequest, hv1::HealthCheckResponse> call) {
      hv1::HealthCheckResponse::ServingStatus status;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        status = status_of(serving_, call->request().service());
      }
      if (status == hv1::HealthCheckResponse::SERVICE_UNKNOWN) {
        call->fail(call_status::of(status_code::not_found,
                                   "service: '" + call->request().service() + "' is not served here"));
        return;
      }
      call->reply([&](hv1::HealthCheckResponse& r) { r.set_status(status); });
    });
  api.server_streaming<hv1::HealthCheckRequest, hv1::HealthCheckResponse>("Watch")
    .handle([this](watch_call call) {
      auto w = std::make_shared<watcher>();
      w->service = call->request().service();
      w->call = call;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (draining_) {
          call->finish(call_status::from_cancel(cancel_reason::shutting_down));
          return;
        }
        w->update(status_of(serving_, w->service));
        watchers_.push_back(w);
      }
      // The call holds the watcher weakly: the list is what keeps it. Runs
      // at once if the call is already over, hence outside the lock.
      call->on_end([this, weak = std::weak_ptr<watcher>(w)] {
        std::lock_guard<std::mutex> guard{mtx_};
        auto sp = weak.lock();
        watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), sp), watchers_.end());
      });
    });
}

void health_service::set_all(const std::vector<std::string>& services, bool serving) {
  std::lock_guard<std::mutex> guard{mtx_};
  serving_[""] = serving;
  for (const auto& s : services)
    serving_[s] = serving;
  notify_locked();
}

void health_service::notify_locked() {
  for (auto& w : watchers_)
    w->update(status_of(serving_, w->service));
}

void health_service::drain() {
  std::vector<std::shared_ptr<watcher>> ending;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    draining_ = true;
    for (auto& [_, serving] : serving_)
      serving = false;
    notify_locked();
    ending.swap(watchers_);
  }
  for (auto& w : ending)
    w->call->finish(call_status::from_cancel(cancel_reason::shutting_down));
}

} // namespace troupe::rt::detail
