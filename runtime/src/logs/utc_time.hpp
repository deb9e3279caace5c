#pragma once

#include <chrono>
#include <string>

namespace troupe::rt::detail {

/// "2026-12-04T21:07:21.963Z": log lines' timestamps, to the millisecond.
std::string utc_timestamp(std::chrono::system_clock::time_point t);

} // namespace troupe::rt::detail
