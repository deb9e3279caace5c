#pragma once

// Every payload starts with when it was (meant to be) sent, which producer
// sent it and that producer's counter: the subscriber measures latency on
// the same machine clock and checks each producer's order.

#include <cstdint>
#include <cstring>
#include <string>

namespace troupe::loadgen {

constexpr std::size_t stamp_bytes = 20;

struct stamp {
  std::int64_t sent_unix_ns = 0;
  std::uint32_t producer = 0;
  std::uint64_t counter = 0;
};

/// Over the first stamp_bytes of `payload`, which must have them.
inline void write_stamp(std::string& payload, const stamp& s) {
  std::memcpy(payload.data(), &s.sent_unix_ns, 8);
  std::memcpy(payload.data() + 8, &s.producer, 4);
  std::memcpy(payload.data() + 12, &s.counter, 8);
}

/// False for a payload too short to carry a stamp.
inline bool read_stamp(const std::string& payload, stamp& s) {
  if (payload.size() < stamp_bytes)
    return false;
  std::memcpy(&s.sent_unix_ns, payload.data(), 8);
  std::memcpy(&s.producer, payload.data() + 8, 4);
  std::memcpy(&s.counter, payload.data() + 12, 8);
  return true;
}

} // namespace troupe::loadgen
