#pragma once

// grpc.health.v1.Health, served through the call pipeline like any service:
// its replies carry the same trailers, and a request that does not parse
// gets the same INVALID_ARGUMENT as anywhere else. "" is the host as a
// whole; every served gRPC service has its own entry.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "troupe/rt/service.hpp"

namespace troupe::rt::detail {

class health_service final : public service {
public:
  std::string name() const override { return "health"; }
  void start(service_context& ctx) override;
  /// Watch streams get NOT_SERVING and end UNAVAILABLE.
  void drain() override;

  /// "" and every one of `services` become SERVING (or NOT_SERVING).
  void set_all(const std::vector<std::string>& services, bool serving);

  struct watcher;

private:
  void notify_locked();

  std::mutex mtx_;
  std::map<std::string, bool> serving_;
  std::vector<std::shared_ptr<watcher>> watchers_;
  bool draining_ = false;
};

} // namespace troupe::rt::detail
