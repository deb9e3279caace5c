// The smallest troupe service: one actor answers one unary method.
#include <caf/all.hpp>

#include "greeter/v1/greeter.grpc.pb.h"
#include "troupe/rt/host.hpp"

namespace rt = troupe::rt;
namespace v1 = greeter::v1;
using hello_call = rt::unary<v1::HelloRequest, v1::HelloReply>;

// The actor owns its state; calls reach it one at a time, as messages.
struct greeter_state {
  std::uint64_t greeted = 0;
};

caf::behavior greeter_actor(caf::stateful_actor<greeter_state>* self) {
  return {
    [=](hello_call& call) {
      auto n = ++self->state.greeted;
      call->reply([&](v1::HelloReply& reply) {
        reply.set_message("Hello, " + call->request().name() + "! (greeting " + std::to_string(n)
                          + ")");
      });
    },
  };
}

std::optional<rt::call_status> check(const v1::HelloRequest& r) {
  if (r.name().empty())
    return rt::call_status::invalid_argument("name", "must not be empty");
  return std::nullopt;
}

class greeter_service final : public rt::service {
public:
  std::string name() const override { return "greeter"; }

  void start(rt::service_context& ctx) override {
    actor_ = ctx.system().spawn(greeter_actor);
    ctx.serve<v1::Greeter>()
      .unary<v1::HelloRequest, v1::HelloReply>("SayHello")
      .validate(check)
      .to(actor_);
  }

  void stop() override { caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown); }

private:
  caf::actor actor_;
};

int main(int argc, char** argv) {
  rt::service_list services;
  services.push_back(std::make_unique<greeter_service>());
  return rt::serve(argc, argv, std::move(services));
}
