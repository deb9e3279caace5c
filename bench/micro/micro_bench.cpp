// Microbenchmarks of the runtime's hot paths. Compare within one run only:
//   build/bench/micro/troupe_micro_bench --benchmark_repetitions=3

#include <benchmark/benchmark.h>

#include <caf/all.hpp>

#include <atomic>
#include <thread>

#include "troupe/rt/bounded_channel.hpp"

namespace {

caf::behavior answering_actor(caf::event_based_actor*) {
  return {
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
      ch.try_send(int{i});
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

} // namespace
