#pragma once

// The host: an actor system, a blocking pool and the gRPC server with its
// call pipeline, running the services it is given until SIGTERM or SIGINT,
// then draining them. One call embeds it in any main():
//
//   int main(int argc, char** argv) {
//     std::vector<std::unique_ptr<troupe::rt::service>> services;
//     services.push_back(std::make_unique<greeter_service>());
//     return troupe::rt::serve(argc, argv, std::move(services));
//   }

#include <memory>
#include <string>
#include <vector>

#include "troupe/rt/config.hpp"
#include "troupe/rt/interceptor.hpp"
#include "troupe/rt/service.hpp"

namespace troupe::rt {

using service_list = std::vector<std::unique_ptr<service>>;

struct host_options {
  /// Run on every call of every method, in this order.
  std::vector<std::shared_ptr<interceptor>> interceptors;
};

/// `troupe serve`: reads the configuration (`--config FILE`, env vars
/// TROUPE_SECTION_NAME, flags `--section-name VALUE`; flags beat env beat
/// file beat defaults), `--help` lists every key, `--print-config` prints
/// the effective values with their sources; then runs the host. `args` are
/// the arguments after the program (and command) name. Returns the exit
/// code: 0 after a clean shutdown, 1 when start-up failed, 2 for bad usage.
int serve(const std::vector<std::string>& args, service_list services, host_options options = {});
/// The same with main()'s arguments (argv[0] is skipped).
int serve(int argc, char** argv, service_list services, host_options options = {});

/// Keys of the host itself: server.*, runtime.*, limits.*, log.*.
void declare_host_config(config_schema& schema);

/// Runs a host with a loaded configuration until SIGTERM or SIGINT (which
/// must already be blocked in every thread: serve() does that), then drains
/// it and returns the exit code.
int run_host(const config& cfg, service_list services, host_options options = {});

} // namespace troupe::rt
