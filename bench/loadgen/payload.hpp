#pragma once

#include <cstddef>
#include <string>

namespace troupe::loadgen {

/// `n` bytes of "abc...zab...": kv's put values and the filler after each
/// fan-in payload's stamp, so both load generators send the same bytes.
inline std::string filler_bytes(std::size_t n) {
  std::string v(n, 'a');
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<char>('a' + i % 26);
  return v;
}

} // namespace troupe::loadgen
