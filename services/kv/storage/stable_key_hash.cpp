#include "kv/storage/storage.hpp"

namespace troupe::kv {

std::uint64_t stable_key_hash(std::string_view key) {
  // See storage.hpp: this exact definition is part of the on-disk format.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

std::uint32_t shard_of_key(std::string_view key, std::uint32_t shard_count) {
  return static_cast<std::uint32_t>(stable_key_hash(key) % shard_count);
}

}  // namespace troupe::kv
