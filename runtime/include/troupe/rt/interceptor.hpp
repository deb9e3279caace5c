#pragma once

// The call pipeline's seam for cross-cutting concerns (metrics, tracing,
// access control): every call of every method, ours and a user's, passes
// through each installed interceptor, without the service doing anything.

#include <chrono>
#include <optional>

#include "troupe/rt/call.hpp"

namespace troupe::rt {

class interceptor {
public:
  virtual ~interceptor() = default;

  /// Before the request is parsed, after shutdown refusal and rate limits.
  /// A status refuses the call with it (e.g. UNAUTHENTICATED). Runs on the
  /// gRPC thread that received the call: keep it short, never block.
  virtual std::optional<call_status> before(const call_info& /*call*/) { return std::nullopt; }

  /// Once, when the call is over: answered, refused, failed or cancelled.
  /// `status` is what the client was told (CANCELLED / DEADLINE_EXCEEDED
  /// when it went away first).
  virtual void after(const call_info& /*call*/, const call_status& /*status*/,
                     std::chrono::nanoseconds /*took*/) {}
};

} // namespace troupe::rt
