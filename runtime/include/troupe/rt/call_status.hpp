#pragma once

// How a call ends, as services say it. Kept free of gRPC headers so actor
// code compiles fast; the pipeline maps it to grpc::Status in one place.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "troupe/rt/cancellation.hpp"

namespace troupe::rt {

/// The gRPC status codes, with the same numbers.
enum class status_code {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};

/// Why a call was shed, counted per method in troupe_server_calls_shed_total.
enum class shed_reason : std::uint8_t {
  none,
  rate_limit,          // limits.method_rps / limits.peer_rps
  max_pending,         // a service's own queue bound (e.g. kv.max_pending)
  adaptive_limit,      // the method's adaptive concurrency limit
  blocking_queue_full, // runtime.blocking_queue
  shutting_down,       // new calls after SIGTERM
  overloaded,          // any other load shedding
};
inline constexpr std::size_t shed_reasons = 7;
/// "rate_limit", "max_pending", ...: the metric's `reason` label.
const char* to_string(shed_reason r) noexcept;

struct call_status {
  status_code code = status_code::ok;
  std::string message;
  /// When >= 0, sent as trailing metadata `grpc-retry-pushback-ms`.
  std::chrono::milliseconds retry_pushback{-1};
  std::vector<std::pair<std::string, std::string>> trailers;
  shed_reason shed = shed_reason::none;

  bool ok() const { return code == status_code::ok; }

  static call_status success() { return {}; }
  /// Bad input: the message always starts with the field's name.
  static call_status invalid_argument(const std::string& field, const std::string& why) {
    return {status_code::invalid_argument, field + ": " + why, std::chrono::milliseconds(-1), {},
            shed_reason::none};
  }
  /// Load shedding and rate limits: tells the client when to try again.
  /// `why` is what /metrics counts it as.
  static call_status overloaded(std::string what, std::chrono::milliseconds pushback,
                                shed_reason why = shed_reason::overloaded) {
    return {status_code::resource_exhausted, std::move(what), pushback, {}, why};
  }
  static call_status of(status_code code, std::string message) {
    return {code, std::move(message), std::chrono::milliseconds(-1), {}, shed_reason::none};
  }
  /// The status a call gets when it ends for `reason` before it was answered.
  static call_status from_cancel(cancel_reason reason);
};

} // namespace troupe::rt
