// Storage backends of troupe.kv.v1.KeyValue.
//
// Threading contract: a handle is confined to one caller at a time (the owning
// shard serialises its calls, possibly from different pool threads), so a
// handle is not thread-safe. Several handles may point at the same database
// and are then used concurrently; every backend stays correct under that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::kv {

struct record {
  std::string key;
  std::string value;
  std::uint64_t version = 0;
};

struct put_result {
  bool applied = false;
  // Applied: the new version. Not applied: the current version, 0 when the
  // key is absent.
  std::uint64_t version = 0;
};

// Thrown by every backend operation and factory.
struct storage_error : std::runtime_error {
  enum class kind {
    // The database cannot be reached or is busy right now; retrying later may
    // succeed (gRPC UNAVAILABLE).
    unavailable,
    // Anything else (gRPC INTERNAL).
    internal,
  };

  storage_error(kind k, const std::string& message)
      : std::runtime_error(message), what_kind(k) {}

  kind what_kind;
};

// Persistent format: this value is stored next to every key in the SQL
// backends and decides which shard owns a key, so it must never change across
// runs, platforms or versions. Definition: FNV-1a 64 over the key bytes
// (offset basis 0xcbf29ce484222325, prime 0x100000001b3), then the MurmurHash3
// fmix64 finaliser (x ^= x >> 33; x *= 0xff51afd7ed558ccd; x ^= x >> 33;
// x *= 0xc4ceb9fe1a85ec53; x ^= x >> 33). The finaliser matters: plain FNV-1a
// keeps its low bits a function of the low bits of each byte only, so
// `hash % 8` would put "a", "i", "q" and "y" on the same shard.
std::uint64_t stable_key_hash(std::string_view key);

// The shard that owns `key` among `shard_count` (> 0) shards.
std::uint32_t shard_of_key(std::string_view key, std::uint32_t shard_count);

class storage {
 public:
  virtual ~storage() = default;

  virtual std::optional<record> get(const std::string& key) = 0;

  // if_version: nullopt = unconditional; 0 = only if absent; n = only if the
  // current version is n. Versions are 1 on create (also when re-created after
  // an erase) and grow by 1 on every applied put. Durable (committed) before
  // returning.
  virtual put_result put(const std::string& key, const std::string& value,
                         std::optional<std::uint64_t> if_version) = 0;

  // Returns whether the key existed.
  virtual bool erase(const std::string& key) = 0;

  // Keys owned by this handle's shard slot only, starting with `prefix`,
  // strictly greater than `start_after`, ascending by bytes (memcmp order,
  // never locale collation), at most `limit` of them.
  virtual std::vector<record> scan(const std::string& prefix,
                                   const std::string& start_after,
                                   std::size_t limit) = 0;
};

// Which shard a handle serves: scan returns only keys with
// shard_of_key(key, count) == index. Factories throw std::invalid_argument
// when count == 0 or index >= count.
struct shard_slot {
  std::uint32_t index = 0;
  std::uint32_t count = 1;
};

// A private std::map per handle: handles never share data. For tests and
// benchmarks.
std::unique_ptr<storage> open_memory_storage(shard_slot slot);

// One database file shared by every shard, one connection per handle. Creates
// the parent directories, the file and the schema as needed.
std::unique_ptr<storage> open_sqlite_storage(const std::string& path,
                                             shard_slot slot);

// One libpq connection per handle; `dsn` is a libpq connection string or URI.
// Creates the schema. Throws storage_error(unavailable) when the server cannot
// be reached; a lost connection is re-established on the next call.
std::unique_ptr<storage> open_postgres_storage(const std::string& dsn,
                                               shard_slot slot);

}  // namespace troupe::kv
