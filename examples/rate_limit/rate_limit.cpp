// A per-user rate limit the service enforces itself: one token bucket per
// user, checked before the call costs the service anything else.

#include <caf/all.hpp>

#include <unordered_map>

#include "rate_limit/v1/rate_limit.grpc.pb.h"
#include "troupe/rt/config.hpp"
#include "troupe/rt/host.hpp"
#include "troupe/rt/inline_execution.hpp"
#include "troupe/rt/rate_limiter.hpp"

namespace rt = troupe::rt;
namespace v1 = rate_limit::v1;
using send_call = rt::unary<v1::SendRequest, v1::SendReply>;

struct outbox_state {
  std::unordered_map<std::string, std::uint64_t> sent;
};

// Only calls within their user's limit get here.
caf::behavior outbox(caf::stateful_actor<outbox_state>* self) {
  return {
    [=](send_call& call) {
      auto n = ++self->state.sent[call->request().user()];
      call->reply([&](v1::SendReply& reply) { reply.set_sent(n); });
    },
  };
}

constexpr std::size_t max_user_bytes = 64;

std::optional<rt::call_status> check(const v1::SendRequest& r) {
  if (r.user().empty())
    return rt::call_status::invalid_argument("user", "must not be empty");
  // Users are the limiter's keys: bounded keys keep its memory bounded.
  if (r.user().size() > max_user_bytes)
    return rt::call_status::invalid_argument("user", "must be at most "
                                                       + std::to_string(max_user_bytes) + " bytes");
  return std::nullopt;
}

class rate_limit_service final : public rt::service {
public:
  std::string name() const override { return "rate_limit"; }

  void declare_config(rt::config_schema& s) const override {
    s.add_uint("rate_limit.user_rps", 5, 0, 1'000'000,
               "messages per second each user may send (0: unlimited)");
    s.add_uint("rate_limit.user_burst", 10, 1, 1'000'000,
               "messages a user may send at once, after being idle");
    s.add_uint("rate_limit.max_users", 100'000, 1, 100'000'000,
               "users tracked at once; beyond that the least recent one is forgotten "
               "(and comes back with a full burst)");
  }

  void start(rt::service_context& ctx) override {
    const auto& cfg = ctx.cfg();
    rps_ = cfg.get_uint("rate_limit.user_rps");
    burst_ = cfg.get_uint("rate_limit.user_burst");
    limiter_ = std::make_unique<rt::keyed_rate_limiter>(
      static_cast<double>(rps_), static_cast<double>(burst_), cfg.get_uint("rate_limit.max_users"));
    outbox_ = ctx.system().spawn(outbox);
    ctx.serve<v1::Messages>()
      .unary<v1::SendRequest, v1::SendReply>("Send")
      .validate(check)
      .handle([this](send_call call) { admit(std::move(call)); });
  }

  void stop() override { caf::anon_send_exit(outbox_, caf::exit_reason::user_shutdown); }

private:
  // On the gRPC thread, after parsing and validation (the key is a request
  // field) but before the hop to the actor: a refused call costs no more.
  void admit(send_call call) {
    const auto& user = call->request().user();
    auto acquired = limiter_->try_acquire(user);
    if (!acquired.granted) {
      call->fail(rt::call_status::overloaded(
        "user '" + user + "' is over its limit of " + std::to_string(rps_)
          + " messages per second, bursts of " + std::to_string(burst_)
          + " (rate_limit.user_rps, rate_limit.user_burst)",
        acquired.retry_after, rt::shed_reason::rate_limit));
      return;
    }
    rt::send_inline(outbox_, caf::make_message(std::move(call)));
  }

  std::uint64_t rps_ = 0;
  std::uint64_t burst_ = 0;
  std::unique_ptr<rt::keyed_rate_limiter> limiter_;
  caf::actor outbox_;
};

int main(int argc, char** argv) {
  rt::service_list services;
  services.push_back(std::make_unique<rate_limit_service>());
  return rt::serve(argc, argv, std::move(services));
}
