// A bounded channel between a client stream and a slow actor: a client that
// writes faster than the actor works is held back by HTTP/2 flow control,
// and what the server holds per stream stays bounded by the channel's
// capacity, however much the client sends.

#include "channel/v1/channel.grpc.pb.h"
#include "ingest.hpp"
#include "troupe/rt/config.hpp"
#include "troupe/rt/host.hpp"

std::optional<rt::call_status> check(const v1::Item& item) {
  if (item.seq() == 0)
    return rt::call_status::invalid_argument("seq", "must be 1 or more");
  return std::nullopt;
}

class channel_service final : public rt::service {
public:
  std::string name() const override { return "channel"; }

  void declare_config(rt::config_schema& s) const override {
    s.add_uint("channel.capacity", 8, 1, 1'000'000,
               "items of one Ingest stream that may wait for the consumer");
    s.add_uint("channel.delay_ms", 10, 0, 60'000,
               "time the consumer spends on each item (a timer, not a sleeping thread)");
  }

  void start(rt::service_context& ctx) override {
    auto capacity = ctx.cfg().get_uint("channel.capacity");
    auto per_item = std::chrono::milliseconds(ctx.cfg().get_uint("channel.delay_ms"));
    ctx.serve<v1::Ingestor>()
      .client_streaming<v1::Item, v1::Summary>("Ingest")
      .validate(check)
      .handle([&system = ctx.system(), capacity, per_item](ingest_call call) {
        auto pipe = std::make_shared<ingest_pipe>(capacity);
        // The consumer first: it must be listening before the first item.
        spawn_consumer(system, call, pipe, per_item);
        read_into(std::move(call), std::move(pipe));
      });
  }
};

int main(int argc, char** argv) {
  rt::service_list services;
  services.push_back(std::make_unique<channel_service>());
  return rt::serve(argc, argv, std::move(services));
}
