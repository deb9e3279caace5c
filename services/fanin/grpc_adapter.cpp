#include "fanin/grpc_adapter.hpp"

#include "fanin/topics.hpp"
#include "fanin/validation.hpp"
#include "troupe/rt/call_limits.hpp"
#include "troupe/rt/grpc_bridge.hpp"

namespace troupe::fanin {

namespace {

class fanin_service final : public v1::FanIn::CallbackService {
public:
  explicit fanin_service(fanin_topics& topics) : topics_(topics) {}

  grpc::ServerReadReactor<v1::PublishRequest>* Publish(grpc::CallbackServerContext* ctx,
                                                       v1::PublishResponse* resp) override {
    using reactor = rt::read_reactor<v1::PublishRequest, v1::PublishResponse>;
    auto handler = topics_.open_publisher();
    // No credit until the handler holds the call: it grants reads itself,
    // one at a time, as its topics accept the messages.
    auto stream = reactor::start(ctx, resp, handler, 0);
    if (auto limited = rt::admit_call(ctx, "/troupe.fanin.v1.FanIn/Publish"))
      stream->fail(std::move(*limited));
    else
      handler->attach(stream);
    return reactor::reactor(stream);
  }

  grpc::ServerWriteReactor<v1::Event>* Subscribe(grpc::CallbackServerContext* ctx,
                                                 const v1::SubscribeRequest* req) override {
    using reactor = rt::write_reactor<v1::Event>;
    auto stream = reactor::start(ctx, static_cast<std::size_t>(topics_.settings().subscriber_buffer));
    if (auto limited = rt::admit_call(ctx, "/troupe.fanin.v1.FanIn/Subscribe")) {
      stream->finish(std::move(*limited));
      return reactor::reactor(stream);
    }
    if (auto bad = check(*req)) {
      stream->finish(std::move(*bad));
      return reactor::reactor(stream);
    }
    std::vector<std::string> topics(req->topics().begin(), req->topics().end());
    std::map<std::string, std::uint64_t> start_after(req->start_after().begin(),
                                                     req->start_after().end());
    topics_.subscribe(topics, start_after, stream);
    return reactor::reactor(stream);
  }

  grpc::ServerUnaryReactor* ListTopics(grpc::CallbackServerContext* ctx,
                                       const v1::ListTopicsRequest*,
                                       v1::ListTopicsResponse* resp) override {
    if (auto limited = rt::admit_call(ctx, "/troupe.fanin.v1.FanIn/ListTopics"))
      return rt::finish_now(ctx, *limited);
    // Counters the topic actors publish: answered here, no actor round trip.
    auto call = rt::unary_reactor<v1::ListTopicsResponse>::start(ctx, resp);
    auto topics = topics_.list();
    call->reply([&](v1::ListTopicsResponse& r) {
      for (auto& t : topics) {
        auto* info = r.add_topics();
        info->set_name(std::move(t.name));
        info->set_last_seq(t.last_seq);
        info->set_subscribers(t.subscribers);
      }
    });
    return rt::unary_reactor<v1::ListTopicsResponse>::reactor(call);
  }

private:
  fanin_topics& topics_;
};

} // namespace

std::unique_ptr<v1::FanIn::CallbackService> make_grpc_adapter(fanin_topics& topics) {
  return std::make_unique<fanin_service>(topics);
}

} // namespace troupe::fanin
