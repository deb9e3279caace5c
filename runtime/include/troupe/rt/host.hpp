#pragma once

#include <memory>
#include <vector>

#include "troupe/rt/config.hpp"
#include "troupe/rt/service_module.hpp"

namespace troupe::rt {

/// Keys of the host itself: server.*, runtime.*, log.*.
void declare_host_config(config_schema& schema);

/// Runs `troupe serve` until SIGTERM or SIGINT, then drains and returns the
/// process exit code. SIGINT and SIGTERM must already be blocked in every
/// thread (see block_shutdown_signals) so that only this function sees them.
int run_host(const config& cfg, std::vector<std::unique_ptr<service_module>> services);

/// Blocks SIGINT and SIGTERM in the calling thread; threads created later
/// inherit the mask. Call first thing in main.
void block_shutdown_signals();

/// Debian builds Abseil without NDEBUG, so every absl::Mutex (all of gRPC's
/// locks) records a lock-order graph to report deadlocks: measured here at
/// ~20% of a busy server's CPU per call. Turns that off; call in main.
void skip_abseil_deadlock_detection();

} // namespace troupe::rt
