#pragma once

// grpc.reflection.v1alpha.ServerReflection, served through the call
// pipeline: any gRPC tool can list the services and fetch their
// descriptors, and its replies carry the same trailers as every other. On
// one stream each file goes out once; later answers name only what is new.

#include <functional>
#include <string>
#include <vector>

#include "troupe/rt/service.hpp"

namespace troupe::rt::detail {

class reflection_service final : public service {
public:
  /// `served` lists the gRPC services the host serves, when asked.
  explicit reflection_service(std::function<std::vector<std::string>()> served)
    : served_(std::move(served)) {}

  std::string name() const override { return "reflection"; }
  void start(service_context& ctx) override;

private:
  std::function<std::vector<std::string>()> served_;
};

} // namespace troupe::rt::detail
