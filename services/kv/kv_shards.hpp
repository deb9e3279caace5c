#pragma once

// The kv service's actors as the gRPC adapter sees them: no CAF or gRPC
// headers here, so each side compiles on its own.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "troupe/kv/v1/kv.pb.h"
#include "troupe/rt/server_stream.hpp"
#include "troupe/rt/unary_call.hpp"

namespace troupe::rt {
struct host_context;
}

namespace troupe::kv {

struct kv_settings {
  std::uint32_t shards = 8;
  std::string backend = "sqlite"; // sqlite | memory | postgres
  std::string path = "./data/kv.db";
  std::string dsn;
  std::chrono::milliseconds latency{0};
  std::uint32_t max_pending = 10000;
};

/// `kv.shards` shard actors, each owning one storage handle and serialising
/// the storage calls of its keys. Every method returns at once; the call is
/// answered later by a shard (or at once, when it is shed).
class kv_shards {
public:
  /// Opens storage; throws std::runtime_error when it cannot (except a
  /// PostgreSQL that is down: shards retry it and answer UNAVAILABLE meanwhile).
  kv_shards(rt::host_context& ctx, kv_settings settings);
  ~kv_shards();

  void get(std::string key, rt::unary_call_ptr<v1::GetResponse> call);
  void put(std::string key, std::string value, std::optional<std::uint64_t> if_version,
           rt::unary_call_ptr<v1::PutResponse> call);
  void erase(std::string key, rt::unary_call_ptr<v1::DeleteResponse> call);
  void multi_get(std::vector<std::string> keys, rt::unary_call_ptr<v1::MultiGetResponse> call);
  void scan(std::string prefix, std::string start_after, std::uint32_t limit,
            rt::server_stream_ptr<v1::Entry> stream);

  /// Lets every actor quit; calls still queued end UNAVAILABLE.
  void stop();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::kv
