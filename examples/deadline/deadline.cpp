// Slow work raced against the call's deadline, the call's cancellation and
// the service's own timeout: whichever comes first ends the call, and the
// work that lost stops at its next step.
#include <caf/all.hpp>

#include "deadline/v1/deadline.grpc.pb.h"
#include "troupe/rt/config.hpp"
#include "troupe/rt/host.hpp"
#include "troupe/rt/select.hpp"
#include "troupe/rt/timers.hpp"

namespace rt = troupe::rt;
namespace v1 = deadline::v1;
using compute_call = rt::unary<v1::ComputeRequest, v1::ComputeReply>;
using stats_call = rt::unary<v1::StatsRequest, v1::StatsReply>;

// Each step is one timer tick, so the actor serves other calls (Stats, other
// works) between the steps of a long work.
constexpr auto step_length = std::chrono::milliseconds(10);

struct worker_state {
  std::chrono::milliseconds work_timeout{0};
  v1::StatsReply stats;
};

using worker_actor = caf::stateful_actor<worker_state>*;

struct work {
  std::uint32_t steps = 0;
  std::uint32_t done = 0;
  std::uint64_t checksum = 0;
  rt::cancel_token token;
  rt::completer<v1::ComputeReply> complete;
};

void step(worker_actor self, std::shared_ptr<work> w) {
  auto& stats = self->state.stats;
  // Cancelled when the work lost the race: its result is no longer wanted.
  if (w->token.cancelled()) {
    stats.set_cancelled(stats.cancelled() + 1);
    stats.set_last_cancel_reason(rt::to_string(w->token.reason()));
    return;
  }
  ++w->done;
  w->checksum += std::uint64_t{w->done} * w->done;
  if (w->done < w->steps) {
    rt::after(self, step_length, [self, w] { step(self, w); });
    return;
  }
  stats.set_finished(stats.finished() + 1);
  v1::ComputeReply reply;
  reply.set_steps(w->done);
  reply.set_checksum(w->checksum);
  w->complete(std::move(reply));
}

void compute(worker_actor self, compute_call& call) {
  auto timeout = self->state.work_timeout;
  auto service_due = rt::deadline::after(timeout);
  bool timeout_first = service_due < call->due();
  auto steps = (call->request().work_ms() + step_length.count() - 1) / step_length.count();
  rt::race<v1::ComputeReply>(
    self, rt::deadline::earliest(call->due(), service_due), call->token(),
    [=](rt::cancel_token token, rt::completer<v1::ComputeReply> complete) {
      auto& stats = self->state.stats;
      stats.set_started(stats.started() + 1);
      auto w = std::make_shared<work>(
        work{static_cast<std::uint32_t>(steps), 0, 0, std::move(token), std::move(complete)});
      rt::after(self, step_length, [self, w] { step(self, w); });
    },
    [=](rt::outcome<v1::ComputeReply>&& o) {
      if (o.has_value())
        call->reply(std::move(o).value());
      else if (o.deadline_exceeded() && timeout_first)
        call->fail(rt::call_status::of(rt::status_code::deadline_exceeded,
                                       "work did not finish within "
                                         + std::to_string(timeout.count())
                                         + " ms (deadline.work_timeout_ms)"));
      else // the call itself ended (client cancel, its deadline): a no-op
        call->fail(rt::call_status::from_cancel(o.reason()));
    });
}

caf::behavior worker(worker_actor self, std::chrono::milliseconds work_timeout) {
  self->state.work_timeout = work_timeout;
  return {
    [=](compute_call& call) { compute(self, call); },
    [=](stats_call& call) { call->reply(self->state.stats); },
  };
}

std::optional<rt::call_status> check(const v1::ComputeRequest& r) {
  if (r.work_ms() < 1 || r.work_ms() > 600'000)
    return rt::call_status::invalid_argument("work_ms", "must be 1..600000");
  return std::nullopt;
}

class deadline_service final : public rt::service {
public:
  std::string name() const override { return "deadline"; }

  void declare_config(rt::config_schema& schema) const override {
    schema.add_uint("deadline.work_timeout_ms", 2000, 1, 3'600'000,
                    "a Compute still working after this long ends DEADLINE_EXCEEDED, "
                    "whatever the client's deadline");
  }

  void start(rt::service_context& ctx) override {
    auto timeout = std::chrono::milliseconds(ctx.cfg().get_uint("deadline.work_timeout_ms"));
    worker_ = ctx.system().spawn(worker, timeout);
    auto api = ctx.serve<v1::SlowWork>();
    api.unary<v1::ComputeRequest, v1::ComputeReply>("Compute").validate(check).to(worker_);
    api.unary<v1::StatsRequest, v1::StatsReply>("Stats").to(worker_);
  }

  void stop() override { caf::anon_send_exit(worker_, caf::exit_reason::user_shutdown); }

private:
  caf::actor worker_;
};

int main(int argc, char** argv) {
  rt::service_list services;
  services.push_back(std::make_unique<deadline_service>());
  return rt::serve(argc, argv, std::move(services));
}
