#include "kv/kv_module.hpp"

#include <spdlog/spdlog.h>

#include "kv/grpc_adapter.hpp"
#include "kv/kv_shards.hpp"
#include "troupe/rt/config.hpp"

namespace troupe::kv {

namespace {

class kv_module final : public rt::service_module {
public:
  std::string name() const override { return "kv"; }

  std::vector<std::string> grpc_service_names() const override {
    return {"troupe.kv.v1.KeyValue"};
  }

  void declare_config(rt::config_schema& s) const override {
    s.add_uint("kv.shards", 8, 1, 1024, "shard actors; a key's shard is a stable hash");
    s.add_choice("kv.backend", "sqlite", {"sqlite", "memory", "postgres"}, "storage backend");
    s.add_string("kv.path", "./data/kv.db", "SQLite database file (kv.backend=sqlite)");
    s.add_string("kv.dsn", "", "libpq connection string (kv.backend=postgres)");
    s.add_uint("kv.latency_ms", 0, 0, 600000,
               "simulated latency added to every storage call (a timer, not a thread)");
    s.add_uint("kv.max_pending", 10000, 1, 10'000'000,
               "calls in flight per shard before new ones are shed with RESOURCE_EXHAUSTED");
    s.add_uint("kv.max_value_bytes", 1024 * 1024, 0, 1024u * 1024 * 1024,
               "largest value a Put may store");
  }

  void start(rt::host_context& ctx) override {
    kv_settings s;
    s.shards = static_cast<std::uint32_t>(ctx.cfg.get_uint("kv.shards"));
    s.backend = ctx.cfg.get_string("kv.backend");
    s.path = ctx.cfg.get_string("kv.path");
    s.dsn = ctx.cfg.get_string("kv.dsn");
    s.latency = std::chrono::milliseconds(ctx.cfg.get_uint("kv.latency_ms"));
    s.max_pending = static_cast<std::uint32_t>(ctx.cfg.get_uint("kv.max_pending"));
    if (s.backend == "postgres" && s.dsn.empty())
      throw std::runtime_error("kv.backend is postgres but kv.dsn is empty");
    shards_ = std::make_unique<kv_shards>(ctx, s);
    adapter_ = make_grpc_adapter(*shards_, ctx.cfg.get_uint("kv.max_value_bytes"));
    spdlog::info("kv: {} shards on {}{}", s.shards, s.backend,
                 s.backend == "sqlite" ? " at " + s.path : std::string{});
  }

  std::vector<grpc::Service*> grpc_services() override { return {adapter_.get()}; }

  void stop() override {
    if (shards_)
      shards_->stop();
  }

private:
  std::unique_ptr<kv_shards> shards_;
  std::unique_ptr<v1::KeyValue::CallbackService> adapter_;
};

} // namespace

std::unique_ptr<rt::service_module> make_kv_module() {
  return std::make_unique<kv_module>();
}

} // namespace troupe::kv
