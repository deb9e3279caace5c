#include "fanin/fanin_module.hpp"

#include <spdlog/spdlog.h>

#include "fanin/grpc_adapter.hpp"
#include "fanin/topics.hpp"
#include "troupe/rt/config.hpp"

namespace troupe::fanin {

namespace {

class fanin_module final : public rt::service_module {
public:
  std::string name() const override { return "fanin"; }

  std::vector<std::string> grpc_service_names() const override {
    return {"troupe.fanin.v1.FanIn"};
  }

  void declare_config(rt::config_schema& s) const override {
    s.add_uint("fanin.retention", 10000, 1, 100'000'000,
               "events each topic keeps for replay (Subscribe start_after)");
    s.add_uint("fanin.subscriber_buffer", 1024, 1, 10'000'000,
               "events buffered per subscriber; a live subscriber that overflows it ends "
               "RESOURCE_EXHAUSTED with troupe-last-seq-<topic> trailers");
    s.add_uint("fanin.topic_queue", 1024, 1, 10'000'000,
               "events waiting per topic; producers of a full topic are no longer read "
               "(HTTP/2 flow control throttles them)");
    s.add_uint("fanin.max_payload_bytes", 64 * 1024, 0, 1024u * 1024 * 1024,
               "largest event payload a producer may publish");
    s.add_uint("fanin.max_topics", 10000, 1, 10'000'000,
               "topics that may exist (never deleted); more are refused RESOURCE_EXHAUSTED");
    s.add_uint("fanin.topic_delay_ms", 0, 0, 600000,
               "simulated processing time after each batch a topic takes in (a timer, not a "
               "thread): a deliberately slow topic, to watch producers being throttled");
  }

  void start(rt::host_context& ctx) override {
    fanin_settings s;
    s.retention = ctx.cfg.get_uint("fanin.retention");
    s.subscriber_buffer = ctx.cfg.get_uint("fanin.subscriber_buffer");
    s.topic_queue = ctx.cfg.get_uint("fanin.topic_queue");
    s.max_payload_bytes = ctx.cfg.get_uint("fanin.max_payload_bytes");
    s.max_topics = ctx.cfg.get_uint("fanin.max_topics");
    s.topic_delay = std::chrono::milliseconds(ctx.cfg.get_uint("fanin.topic_delay_ms"));
    topics_ = std::make_unique<fanin_topics>(ctx.system, s);
    adapter_ = make_grpc_adapter(*topics_);
    spdlog::info("fanin: retention {} events, subscriber buffer {}, topic queue {}, at most {} "
                 "topics",
                 s.retention, s.subscriber_buffer, s.topic_queue, s.max_topics);
  }

  std::vector<grpc::Service*> grpc_services() override { return {adapter_.get()}; }

  void drain() override {
    if (topics_)
      topics_->drain();
  }

  void stop() override {
    if (topics_)
      topics_->stop();
  }

private:
  std::unique_ptr<fanin_topics> topics_;
  std::unique_ptr<grpc::Service> adapter_;
};

} // namespace

std::unique_ptr<rt::service_module> make_fanin_module() {
  return std::make_unique<fanin_module>();
}

} // namespace troupe::fanin
