#pragma once

// The kv service's shard actors. `kv.shards` of them; a key's shard is
// stable_key_hash(key) % shards. Each owns one storage handle and runs one
// storage call at a time: inline for `memory`, on the blocking pool for
// SQLite and PostgreSQL.

#include <caf/actor.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace troupe::rt {
class service_context;
}

namespace troupe::kv {

struct kv_settings {
  std::uint32_t shards = 8;
  std::string backend = "sqlite"; // sqlite | memory | postgres
  std::string path = "./data/kv.db";
  std::string dsn;
  std::chrono::milliseconds latency{0};
  std::uint32_t storage_concurrency = 0; // with latency: calls served at once (0: unlimited)
  std::chrono::milliseconds storage_timeout{5000};
  std::uint32_t max_pending = 10000;
};

class kv_shards {
public:
  /// Opens storage; throws std::runtime_error when it cannot (except a
  /// PostgreSQL that is down: shards retry it and answer UNAVAILABLE meanwhile).
  kv_shards(rt::service_context& ctx, kv_settings settings);
  ~kv_shards();
  kv_shards(const kv_shards&) = delete;
  kv_shards& operator=(const kv_shards&) = delete;

  const kv_settings& settings() const noexcept { return settings_; }
  /// The shard that owns `key`.
  const caf::actor& owner(const std::string& key) const;
  std::uint32_t index_of(const std::string& key) const;
  /// Every shard, by index.
  const std::vector<caf::actor>& all() const noexcept { return actors_; }

  /// Lets every shard quit; what they still hold ends UNAVAILABLE.
  void stop();

private:
  kv_settings settings_;
  std::vector<caf::actor> actors_;
};

} // namespace troupe::kv
