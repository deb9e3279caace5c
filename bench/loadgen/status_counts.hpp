#pragma once

#include <array>
#include <cstdint>

namespace troupe::loadgen {

/// Calls counted per gRPC status code 0..16.
inline constexpr std::size_t status_code_count = 17;
using status_counts = std::array<std::uint64_t, status_code_count>;

/// A code outside 0..16 is counted as UNKNOWN (2), so the counts always
/// add up to the calls made.
inline void count_status(status_counts& counts, int code) {
  auto i = code >= 0 && static_cast<std::size_t>(code) < status_code_count
             ? static_cast<std::size_t>(code) : 2;
  ++counts[i];
}

inline void add_counts(status_counts& into, const status_counts& from) {
  for (std::size_t i = 0; i < into.size(); ++i)
    into[i] += from[i];
}

inline std::uint64_t total(const status_counts& counts) {
  std::uint64_t n = 0;
  for (auto c : counts)
    n += c;
  return n;
}

} // namespace troupe::loadgen
