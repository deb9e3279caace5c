#pragma once

// The host's one call pipeline: what services declare, checked against the
// generated descriptors and served on gRPC's async API by one lane (thread
// and completion queue) per CPU. Methods nobody declared answer
// UNIMPLEMENTED through the pipeline too, so every reply carries the same
// trailers.

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <caf/actor_system.hpp>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/lane.hpp"
#include "pipeline/rpc.hpp"
#include "troupe/rt/service.hpp"

namespace troupe::rt::detail {

struct pipeline_settings {
  std::size_t lanes = 1;
  std::size_t max_message_bytes = 4 * 1024 * 1024;
  call_limit_settings limits;
  adaptive_limit_settings adaptive;
  std::string replica;
  // Requests kept waiting per method and lane: enough that a burst rarely
  // waits for the next to be posted, few enough to stay in cache.
  std::size_t unary_preposted = 32;
  std::size_t stream_preposted = 4;
  access_log::mode access_mode = access_log::mode::off;
  bool json_logs = false;
};

class pipeline final : public method_registry {
public:
  pipeline(caf::actor_system& system, pipeline_settings settings);
  ~pipeline();
  pipeline(const pipeline&) = delete;
  pipeline& operator=(const pipeline&) = delete;

  /// A service declared a method (during its start()).
  void add(method_spec spec) override;
  void add_interceptor(std::shared_ptr<interceptor> i);

  /// Checks what services declared against the descriptors, then registers
  /// the services and one completion queue per lane with `builder`. Throws
  /// std::runtime_error saying what is wrong.
  void install(grpc::ServerBuilder& builder);
  /// After the server started: posts requests and starts the lanes.
  void start();

  /// The per-method families (grpc_server_*, troupe_server_*), in the
  /// Prometheus text format. Safe from any thread once installed.
  void write_metrics(std::string& out) const;

  /// Full names of the gRPC services served, sorted.
  std::vector<std::string> service_names() const;

  /// New calls are refused UNAVAILABLE from now on.
  void begin_drain();
  /// Calls started and not over yet.
  std::int64_t open_calls() const noexcept;
  /// The grace is over: every call still open ends UNAVAILABLE now.
  void end_open_calls();
  /// After Server::Shutdown: waits up to `patience` for the services to let
  /// go of their calls, then stops the lanes.
  void stop(std::chrono::milliseconds patience);

private:
  void check_declarations() const;
  void post_unknown(lane& l);

  caf::actor_system& system_;
  pipeline_settings settings_;
  pipeline_state state_;
  std::vector<method_spec> declared_;
  std::deque<method_entry> methods_; // stable addresses: calls point here
  std::map<std::string, std::unique_ptr<raw_service>> services_;
  grpc::AsyncGenericService unknown_;
  std::vector<std::unique_ptr<lane>> lanes_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

} // namespace troupe::rt::detail
