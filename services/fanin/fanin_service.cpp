#include "fanin/fanin_service.hpp"

#include <spdlog/spdlog.h>

#include "fanin/topics.hpp"
#include "fanin/validation.hpp"
#include "troupe/fanin/v1/fanin.grpc.pb.h"
#include "troupe/rt/config.hpp"

namespace troupe::fanin {

namespace {

using publish_call = rt::client_streaming<v1::PublishRequest, v1::PublishResponse>;
using subscribe_call = rt::server_streaming<v1::SubscribeRequest, v1::Event>;
using list_call = rt::unary<v1::ListTopicsRequest, v1::ListTopicsResponse>;

class fanin_service final : public rt::service {
public:
  std::string name() const override { return "fanin"; }

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
    s.add_uint("fanin.metrics_topics", 20, 0, 10'000,
               "topics with their own series in /metrics (the first ones created); the "
               "others are counted together as topic=\"other\"");
    s.add_uint("fanin.topic_delay_ms", 0, 0, 600000,
               "simulated processing time after each batch a topic takes in (a timer, not a "
               "thread): a deliberately slow topic, to watch producers being throttled");
  }

  void start(rt::service_context& ctx) override {
    const auto& cfg = ctx.cfg();
    fanin_settings s;
    s.retention = cfg.get_uint("fanin.retention");
    s.subscriber_buffer = cfg.get_uint("fanin.subscriber_buffer");
    s.topic_queue = cfg.get_uint("fanin.topic_queue");
    s.max_payload_bytes = cfg.get_uint("fanin.max_payload_bytes");
    s.max_topics = cfg.get_uint("fanin.max_topics");
    s.topic_delay = std::chrono::milliseconds(cfg.get_uint("fanin.topic_delay_ms"));
    s.metrics_topics = cfg.get_uint("fanin.metrics_topics");
    topics_ = std::make_unique<fanin_topics>(ctx.system(), s, ctx.metrics());
    auto& topics = *topics_;

    auto api = ctx.serve<v1::FanIn>();
    api.client_streaming<v1::PublishRequest, v1::PublishResponse>("Publish")
      .validate([max = s.max_payload_bytes](const v1::PublishRequest& r) { return check(r, max); })
      .refusal_trailer("troupe-accepted", "0")
      .handle([&topics](publish_call call) { topics.open_publisher()->attach(std::move(call)); });
    api.server_streaming<v1::SubscribeRequest, v1::Event>("Subscribe")
      .validate([](const v1::SubscribeRequest& r) { return check(r); })
      .stream_buffer(static_cast<std::size_t>(s.subscriber_buffer))
      .handle([&topics](subscribe_call call) {
        const auto& req = call->request();
        std::vector<std::string> names(req.topics().begin(), req.topics().end());
        std::map<std::string, std::uint64_t> start_after(req.start_after().begin(),
                                                         req.start_after().end());
        topics.subscribe(names, start_after, std::move(call));
      });
    // Counters the topic actors publish: answered here, no actor round trip.
    api.unary<v1::ListTopicsRequest, v1::ListTopicsResponse>("ListTopics")
      .handle([&topics](list_call call) {
        auto listed = topics.list();
        call->reply([&](v1::ListTopicsResponse& r) {
          for (auto& t : listed) {
            auto* info = r.add_topics();
            info->set_name(std::move(t.name));
            info->set_last_seq(t.last_seq);
            info->set_subscribers(t.subscribers);
          }
        });
      });

    spdlog::info("fanin: retention {} events, subscriber buffer {}, topic queue {}, at most {} "
                 "topics",
                 s.retention, s.subscriber_buffer, s.topic_queue, s.max_topics);
  }

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
};

} // namespace

std::unique_ptr<rt::service> make_fanin_service() {
  return std::make_unique<fanin_service>();
}

} // namespace troupe::fanin
