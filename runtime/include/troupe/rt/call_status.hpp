#pragma once

// How a call ends, as services say it. Kept free of gRPC headers so actor
// code compiles fast; the pipeline maps it to grpc::Status in one place.

#include <chrono>
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

struct call_status {
  status_code code = status_code::ok;
  std::string message;
  /// When >= 0, sent as trailing metadata `grpc-retry-pushback-ms`.
  std::chrono::milliseconds retry_pushback{-1};
  std::vector<std::pair<std::string, std::string>> trailers;

  bool ok() const { return code == status_code::ok; }

  static call_status success() { return {}; }
  /// Bad input: the message always starts with the field's name.
  static call_status invalid_argument(const std::string& field, const std::string& why) {
    return {status_code::invalid_argument, field + ": " + why, std::chrono::milliseconds(-1), {}};
  }
  /// Load shedding and rate limits: tells the client when to try again.
  static call_status overloaded(std::string what, std::chrono::milliseconds pushback) {
    return {status_code::resource_exhausted, std::move(what), pushback, {}};
  }
  static call_status of(status_code code, std::string message) {
    return {code, std::move(message), std::chrono::milliseconds(-1), {}};
  }
  /// The status a call gets when it ends for `reason` before it was answered.
  static call_status from_cancel(cancel_reason reason);
};

} // namespace troupe::rt
