#pragma once

// The contract between the host and one service. The host owns the actor
// system, the blocking pool and the gRPC server; a service plugs its actors
// and its gRPC adapter into them and never sees the others.

#include <string>
#include <vector>

namespace caf {
class actor_system;
}
namespace grpc {
class Service;
}

namespace troupe::rt {

class blocking_pool;
class config;
class config_schema;
class lifecycle;

struct host_context {
  caf::actor_system& system;
  const config& cfg;
  blocking_pool& blocking;
  lifecycle& life;
};

class service_module {
public:
  virtual ~service_module() = default;

  /// Short name used in logs and config sections, e.g. "kv".
  virtual std::string name() const = 0;
  /// Fully qualified gRPC service names, for health status.
  virtual std::vector<std::string> grpc_service_names() const = 0;
  virtual void declare_config(config_schema& schema) const = 0;
  /// Spawns actors and opens storage. Throws std::runtime_error to abort start-up.
  virtual void start(host_context& ctx) = 0;
  /// Called once, after start; the host registers them with the gRPC server.
  virtual std::vector<grpc::Service*> grpc_services() = 0;
  /// Shutdown began: end open streams so the server can drain.
  virtual void drain() {}
  /// The gRPC server has stopped: let every actor of this service quit.
  virtual void stop() {}
};

} // namespace troupe::rt
