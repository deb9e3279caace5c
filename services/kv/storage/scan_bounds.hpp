// Helpers shared by the storage backends; not part of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kv/storage/storage.hpp"

namespace troupe::kv::detail {

// The byte range a scan covers, in the only shape a B-tree can use directly:
// keys k with lower <= k (and k < *upper when set).
struct key_range {
  std::string lower;
  std::optional<std::string> upper;
  bool empty = false;
};

key_range scan_range(const std::string& prefix, const std::string& start_after);

// SQL stores the 64-bit key hash in a signed column, where `%` truncates
// towards zero. The unsigned remainder is recovered with
//   (hash % count + count + CASE WHEN hash < 0 THEN wrap ELSE 0 END) % count
// where wrap = 2^64 mod count: a negative stored value stands for
// hash + 2^64.
struct shard_filter {
  std::int64_t count = 1;
  std::int64_t wrap = 0;
  std::int64_t index = 0;
};

shard_filter make_shard_filter(shard_slot slot);

// Throws std::invalid_argument for an impossible slot.
void check_slot(shard_slot slot);

// The stored (signed) form of stable_key_hash(key).
std::int64_t stored_key_hash(const std::string& key);

}  // namespace troupe::kv::detail
