// A stream each way and one both ways, in one service: how each side of a
// stream is paced (count.cpp, sum.cpp, chat.cpp).

#include "streams/v1/streams.grpc.pb.h"
#include "streams.hpp"
#include "troupe/rt/host.hpp"

constexpr std::int64_t max_magnitude = 1'000'000'000;

std::optional<rt::call_status> check(const v1::Number& n) {
  // Keeps the total of any stream a client could send (billions of numbers)
  // inside an int64.
  if (n.value() < -max_magnitude || n.value() > max_magnitude)
    return rt::call_status::invalid_argument("value", "must be within +-1000000000");
  return std::nullopt;
}

class streams_service final : public rt::service {
public:
  std::string name() const override { return "streams"; }

  void start(rt::service_context& ctx) override {
    auto api = ctx.serve<v1::Streams>();
    api.server_streaming<v1::CountRequest, v1::Number>("Count")
      .stream_buffer(32) // numbers the server holds, at most, that the client has not taken
      .handle([&system = ctx.system()](count_call call) { count(system, std::move(call)); });
    api.client_streaming<v1::Number, v1::Total>("Sum").validate(check).handle(sum);
    api.bidi_streaming<v1::Line, v1::Line>("Chat").handle(chat);
  }
};

int main(int argc, char** argv) {
  rt::service_list services;
  services.push_back(std::make_unique<streams_service>());
  return rt::serve(argc, argv, std::move(services));
}
