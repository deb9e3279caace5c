#include "fanin/grpc_adapter.hpp"

#include "fanin/topics.hpp"
#include "fanin/validation.hpp"
#include "troupe/rt/call_limits.hpp"
#include "troupe/rt/grpc_bridge.hpp"

namespace troupe::fanin {

namespace {

// Subscribe is registered raw: its responses are events the topic already
// serialized once for all subscribers (see encoded_event.hpp), so the
// stream writes bytes, and its request is parsed here.
using service_base = v1::FanIn::WithCallbackMethod_Publish<
  v1::FanIn::WithRawCallbackMethod_Subscribe<v1::FanIn::WithCallbackMethod_ListTopics<v1::FanIn::Service>>>;

class fanin_service final : public service_base {
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

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(grpc::CallbackServerContext* ctx,
                                                        const grpc::ByteBuffer* raw) override {
    using reactor = rt::write_reactor<grpc::ByteBuffer>;
    auto stream = reactor::start(ctx, static_cast<std::size_t>(topics_.settings().subscriber_buffer));
    if (auto limited = rt::admit_call(ctx, "/troupe.fanin.v1.FanIn/Subscribe")) {
      stream->finish(std::move(*limited));
      return reactor::reactor(stream);
    }
    v1::SubscribeRequest request;
    grpc::ByteBuffer bytes(*raw); // parsing consumes the buffer it is given
    if (!grpc::SerializationTraits<v1::SubscribeRequest>::Deserialize(&bytes, &request).ok()) {
      stream->finish(rt::call_status::invalid_argument(
        "request", "not a valid troupe.fanin.v1.SubscribeRequest message"));
      return reactor::reactor(stream);
    }
    if (auto bad = check(request)) {
      stream->finish(std::move(*bad));
      return reactor::reactor(stream);
    }
    std::vector<std::string> topics(request.topics().begin(), request.topics().end());
    std::map<std::string, std::uint64_t> start_after(request.start_after().begin(),
                                                     request.start_after().end());
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

std::unique_ptr<grpc::Service> make_grpc_adapter(fanin_topics& topics) {
  return std::make_unique<fanin_service>(topics);
}

} // namespace troupe::fanin
