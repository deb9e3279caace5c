#pragma once

#include <atomic>

#include "troupe/rt/cancellation.hpp"

namespace troupe::rt {

/// Host-wide shutdown state. The token is cancelled with
/// cancel_reason::shutting_down once the grace period is over: a service
/// watches it for work of its own that must stop then (background jobs,
/// outgoing streams). Calls still open need no watching; the host ends them
/// through the bridge, whose select then cancels their waits.
class lifecycle {
public:
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  void begin_drain() { draining_.store(true, std::memory_order_release); }

  cancel_token shutdown_token() const { return shutdown_.token(); }
  void cancel_remaining_work() { shutdown_.cancel(cancel_reason::shutting_down); }

private:
  std::atomic<bool> draining_{false};
  cancel_source shutdown_;
};

} // namespace troupe::rt
