// Microbenchmarks of the runtime's hot paths. Compare within one run only:
//   build/bench/micro/troupe_micro_bench --benchmark_repetitions=3
// The unary "bridge" cases are the path a gRPC call takes into an actor and
// back, minus gRPC itself: inline (send_inline) versus the plain scheduler hop.

#include <benchmark/benchmark.h>

#include <caf/all.hpp>

#include <atomic>
#include <thread>

#include "troupe/rt/bounded_channel.hpp"
#include "troupe/rt/inline_execution.hpp"
#include "troupe/rt/unary_call.hpp"

namespace {

struct answer {
  int value = 0;
};

// Stands in for the gRPC reactor: records that the call was finished.
class counting_call final : public troupe::rt::unary_call<answer> {
public:
  explicit counting_call(std::atomic<int>* finished)
    : unary_call<answer>(&response_, troupe::rt::deadline::never()), finished_(finished) {}

private:
  void finish_claimed(troupe::rt::call_status) override {
    finished_->fetch_add(1, std::memory_order_release);
  }
  answer response_;
  std::atomic<int>* finished_;
};

using call_ptr = troupe::rt::unary_call_ptr<answer>;

} // namespace

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(call_ptr)

namespace {

using get_atom = caf::atom_constant<caf::atom("get")>;

caf::behavior answering_actor(caf::event_based_actor*) {
  return {
    [](get_atom, call_ptr& call) { call->reply([](answer& a) { a.value = 42; }); },
    [](int x) { return x + 1; },
  };
}

struct actor_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor target;
  actor_fixture() {
    cfg.set("scheduler.max-threads", 2);
    cfg.set("scheduler.policy", caf::atom("sharing"));
    sys = std::make_unique<caf::actor_system>(cfg);
    target = sys->spawn(answering_actor);
  }
  ~actor_fixture() {
    caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
    target = nullptr;
  }
};

void channel_send_receive(benchmark::State& state) {
  troupe::rt::bounded_channel<int> ch{1024};
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i)
      ch.try_send(i);
    ch.drain(64, [](int v) { benchmark::DoNotOptimize(v); });
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(channel_send_receive);

void channel_two_producers(benchmark::State& state) {
  troupe::rt::bounded_channel<int> ch{1024};
  std::atomic<bool> stop{false};
  std::thread other([&] {
    while (!stop.load(std::memory_order_relaxed))
      ch.try_send(1);
  });
  std::int64_t received = 0;
  for (auto _ : state) {
    ch.try_send(2);
    received += static_cast<std::int64_t>(ch.drain(64, [](int v) { benchmark::DoNotOptimize(v); }));
  }
  stop = true;
  other.join();
  state.SetItemsProcessed(received);
}
BENCHMARK(channel_two_producers)->UseRealTime();

void actor_request_round_trip(benchmark::State& state) {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  for (auto _ : state) {
    self->request(f.target, caf::infinite, 1).receive([](int r) { benchmark::DoNotOptimize(r); },
                                                      [](caf::error&) {});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(actor_request_round_trip)->UseRealTime();

void unary_into_actor(benchmark::State& state, bool inline_execution) {
  actor_fixture f;
  troupe::rt::set_inline_execution(inline_execution);
  std::atomic<int> finished{0};
  int sent = 0;
  for (auto _ : state) {
    auto call = call_ptr::adopt(new counting_call(&finished));
    troupe::rt::send_inline(f.target, caf::make_message(get_atom::value, std::move(call)));
    ++sent;
    while (finished.load(std::memory_order_acquire) != sent) {
    }
  }
  troupe::rt::set_inline_execution(true);
  state.SetItemsProcessed(state.iterations());
}

void unary_bridge_inline(benchmark::State& state) {
  unary_into_actor(state, true);
}
BENCHMARK(unary_bridge_inline)->UseRealTime();

void unary_bridge_scheduler_hop(benchmark::State& state) {
  unary_into_actor(state, false);
}
BENCHMARK(unary_bridge_scheduler_hop)->UseRealTime();

} // namespace
