#include "kv/storage/scan_bounds.hpp"

#include <cstring>
#include <limits>
#include <stdexcept>

namespace troupe::kv::detail {

key_range scan_range(const std::string& prefix, const std::string& start_after) {
  key_range range;
  // "Strictly greater than start_after" equals "at least start_after + NUL",
  // its immediate successor in byte order; that folds both lower bounds into
  // one inclusive bound.
  if (start_after < prefix) {
    range.lower = prefix;
  } else {
    range.lower = start_after;
    range.lower.push_back('\0');
  }
  // Every key with the prefix sorts below the prefix with its last non-0xff
  // byte incremented; a prefix of only 0xff bytes (or none) has no bound.
  std::string upper = prefix;
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xff)
    upper.pop_back();
  if (!upper.empty()) {
    upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
    range.empty = !(range.lower < upper);
    range.upper = std::move(upper);
  }
  return range;
}

shard_filter make_shard_filter(shard_slot slot) {
  check_slot(slot);
  const std::uint64_t count = slot.count;
  shard_filter f;
  f.count = static_cast<std::int64_t>(count);
  f.wrap = static_cast<std::int64_t>(
      (std::numeric_limits<std::uint64_t>::max() % count + 1) % count);
  f.index = static_cast<std::int64_t>(slot.index);
  return f;
}

void check_slot(shard_slot slot) {
  if (slot.count == 0 || slot.index >= slot.count)
    throw std::invalid_argument("kv storage: shard slot " +
                                std::to_string(slot.index) + " of " +
                                std::to_string(slot.count) + " is impossible");
}

std::int64_t stored_key_hash(const std::string& key) {
  const std::uint64_t h = stable_key_hash(key);
  // Two's-complement reinterpretation, written portably.
  std::int64_t out;
  std::memcpy(&out, &h, sizeof out);
  return out;
}

}  // namespace troupe::kv::detail
