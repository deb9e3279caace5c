#include "kv/kv_service.hpp"

#include <spdlog/spdlog.h>

#include "kv/kv_shards.hpp"
#include "kv/multi_get.hpp"
#include "kv/scan.hpp"
#include "kv/validation.hpp"
#include "troupe/kv/v1/kv.grpc.pb.h"
#include "troupe/rt/config.hpp"

namespace troupe::kv {

namespace {

// Entries of a Scan buffered per call before the merge pauses.
constexpr std::size_t scan_stream_buffer = 64;

class kv_service final : public rt::service {
public:
  std::string name() const override { return "kv"; }

  void declare_config(rt::config_schema& s) const override {
    s.add_uint("kv.shards", 8, 1, 1024, "shard actors; a key's shard is a stable hash");
    s.add_choice("kv.backend", "sqlite", {"sqlite", "memory", "postgres"}, "storage backend");
    s.add_string("kv.path", "./data/kv.db", "SQLite database file (kv.backend=sqlite)");
    s.add_string("kv.dsn", "", "libpq connection string (kv.backend=postgres)");
    s.add_uint("kv.latency_ms", 0, 0, 600000,
               "simulated latency added to every storage call (a timer, not a thread)");
    s.add_uint("kv.storage_concurrency", 0, 0, 1'000'000,
               "with kv.latency_ms: storage calls a shard's simulated storage serves at once, "
               "the others wait their turn as behind a database's connections (0: unlimited, "
               "a pure delay)");
    s.add_uint("kv.storage_timeout_ms", 5000, 1, 3'600'000,
               "a blocking storage call not answered by then ends UNAVAILABLE");
    s.add_uint("kv.max_pending", 10000, 1, 10'000'000,
               "calls in flight per shard before new ones are shed with RESOURCE_EXHAUSTED");
    s.add_uint("kv.max_value_bytes", 1024 * 1024, 0, 1024u * 1024 * 1024,
               "largest value a Put may store");
  }

  void start(rt::service_context& ctx) override {
    const auto& cfg = ctx.cfg();
    kv_settings s;
    s.shards = static_cast<std::uint32_t>(cfg.get_uint("kv.shards"));
    s.backend = cfg.get_string("kv.backend");
    s.path = cfg.get_string("kv.path");
    s.dsn = cfg.get_string("kv.dsn");
    s.latency = std::chrono::milliseconds(cfg.get_uint("kv.latency_ms"));
    s.storage_concurrency = static_cast<std::uint32_t>(cfg.get_uint("kv.storage_concurrency"));
    s.storage_timeout = std::chrono::milliseconds(cfg.get_uint("kv.storage_timeout_ms"));
    s.max_pending = static_cast<std::uint32_t>(cfg.get_uint("kv.max_pending"));
    if (s.backend == "postgres" && s.dsn.empty())
      throw std::runtime_error("kv.backend is postgres but kv.dsn is empty");
    shards_ = std::make_unique<kv_shards>(ctx, s);
    auto max_value = cfg.get_uint("kv.max_value_bytes");
    const kv_shards& shards = *shards_;

    auto api = ctx.serve<v1::KeyValue>();
    api.unary<v1::GetRequest, v1::GetResponse>("Get")
      .validate([](const v1::GetRequest& r) { return check(r); })
      .to([&shards](const v1::GetRequest& r) { return shards.owner(r.key()); });
    api.unary<v1::PutRequest, v1::PutResponse>("Put")
      .validate([max_value](const v1::PutRequest& r) { return check(r, max_value); })
      .to([&shards](const v1::PutRequest& r) { return shards.owner(r.key()); });
    api.unary<v1::DeleteRequest, v1::DeleteResponse>("Delete")
      .validate([](const v1::DeleteRequest& r) { return check(r); })
      .to([&shards](const v1::DeleteRequest& r) { return shards.owner(r.key()); });
    api.unary<v1::MultiGetRequest, v1::MultiGetResponse>("MultiGet")
      .validate([](const v1::MultiGetRequest& r) { return check(r); })
      .handle([&shards](multi_get_call call) { multi_get(shards, std::move(call)); });
    api.server_streaming<v1::ScanRequest, v1::Entry>("Scan")
      .validate([](const v1::ScanRequest& r) { return check(r); })
      .stream_buffer(scan_stream_buffer)
      .handle([&shards](scan_call call) { scan(shards, std::move(call)); });

    spdlog::info("kv: {} shards on {}{}", s.shards, s.backend,
                 s.backend == "sqlite" ? " at " + s.path : std::string{});
  }

  void stop() override {
    if (shards_)
      shards_->stop();
  }

private:
  std::unique_ptr<kv_shards> shards_;
};

} // namespace

std::unique_ptr<rt::service> make_kv_service() {
  return std::make_unique<kv_service>();
}

} // namespace troupe::kv
