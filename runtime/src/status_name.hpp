#pragma once

// The names clients print for status codes ("OK", "INVALID_ARGUMENT"), as
// metrics labels and log fields spell them.

#include "troupe/cli/status_name.hpp"
#include "troupe/rt/call_status.hpp"

namespace troupe::rt::detail {

inline const char* code_name(status_code code) noexcept {
  return cli::status_code_name(static_cast<grpc::StatusCode>(code));
}

} // namespace troupe::rt::detail
