#include "driver/driver.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include <sys/prctl.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include "driver/call_slot.hpp"
#include "process.hpp"

namespace troupe::loadgen {

namespace {

using steady = std::chrono::steady_clock;
using ns = std::chrono::nanoseconds;

// Below this wait an open-loop worker stops trusting queue timeouts.
constexpr ns fine_wait = std::chrono::microseconds(2500);
constexpr ns fine_step = std::chrono::microseconds(200);

/// Read by the progress line while a worker writes: one writer each.
struct alignas(64) worker_progress {
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> in_flight{0};
};

struct timing {
  steady::time_point t0;             // first call scheduled
  steady::time_point measure_start;  // end of warm-up
  steady::time_point end;            // duration runs: no call scheduled from here on
  steady::time_point give_up;        // open loop: stop starting late calls
  bool count_mode = false;
};

/// One completion queue, its connections' call slots, one thread.
class worker {
public:
  worker(const options& o, const timing& t, std::atomic<bool>& stop, double rate,
         double phase, std::uint64_t quota)
    : o_(o), t_(t), stop_(stop), rate_(rate), phase_(phase), quota_(quota) {}

  void add_slot(std::unique_ptr<call_slot> s) {
    idle_.push_back(s.get());
    slots_.push_back(std::move(s));
  }

  void run();

  run_stats stats;
  worker_progress progress;

private:
  steady::time_point scheduled(std::uint64_t k) const {
    auto offset = (static_cast<double>(k) + phase_) * 1e9 / rate_;
    return t_.t0 + ns(static_cast<std::int64_t>(offset));
  }
  /// First schedule index at or after `t`.
  std::uint64_t first_index_at(steady::time_point t) const {
    auto x = std::chrono::duration<double>(t - t_.t0).count() * rate_ - phase_;
    return x <= 0 ? 0 : static_cast<std::uint64_t>(std::ceil(x));
  }
  bool may_start(steady::time_point intended, steady::time_point now) const {
    if (stop_.load(std::memory_order_relaxed))
      return false;
    if (t_.count_mode)
      return intended < t_.measure_start || measured_started_ < quota_;
    if (intended >= t_.end)
      return false;
    return !o_.open_loop() || now < t_.give_up;
  }
  void start(call_slot* s, steady::time_point intended, steady::time_point now);
  void finish(call_slot* s, steady::time_point now);
  void count_unsent();

  const options& o_;
  const timing& t_;
  std::atomic<bool>& stop_;
  double rate_;   // this worker's share; 0 in closed loop
  double phase_;  // open loop: spreads workers' schedules apart
  std::uint64_t quota_;
  std::uint64_t next_ = 0;  // open loop: next schedule index
  std::uint64_t measured_started_ = 0;
  std::uint64_t in_flight_ = 0;
  std::uint64_t done_ = 0;
  std::uint64_t failed_ = 0;
  // The queue outlives the slots, whose calls were bound to it.
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<call_slot>> slots_;
  std::vector<call_slot*> idle_;
};

void worker::start(call_slot* s, steady::time_point intended, steady::time_point now) {
  s->intended = intended;
  s->measured = intended >= t_.measure_start;
  if (s->measured) {
    ++measured_started_;
    if (o_.open_loop())
      stats.start_lag.record(static_cast<std::uint64_t>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<ns>(now - intended).count())));
  }
  s->start(&cq_, std::chrono::system_clock::now() + std::chrono::milliseconds(o_.deadline_ms));
  ++in_flight_;
  progress.in_flight.store(in_flight_, std::memory_order_relaxed);
}

void worker::finish(call_slot* s, steady::time_point now) {
  --in_flight_;
  idle_.push_back(s);
  auto code = static_cast<int>(s->status().error_code());
  if (s->measured) {
    // From the intended start: in open loop, time spent waiting for a free
    // slot is latency the schedule's caller would have seen.
    auto latency = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<ns>(now - s->intended).count()));
    stats.latency.record(latency);
    if (code == 0)
      stats.latency_ok.record(latency);
    stats.count_status(code);
    stats.last_done_ns = std::max<std::int64_t>(
      stats.last_done_ns, std::chrono::duration_cast<ns>(now - t_.measure_start).count());
  }
  progress.done.store(++done_, std::memory_order_relaxed);
  if (code != 0)
    progress.failed.store(++failed_, std::memory_order_relaxed);
  progress.in_flight.store(in_flight_, std::memory_order_relaxed);
}

void worker::count_unsent() {
  if (t_.count_mode) {
    stats.unsent = quota_ - std::min(quota_, measured_started_);
  } else if (o_.open_loop()) {
    auto first = first_index_at(t_.measure_start);
    auto past_end = first_index_at(t_.end);
    auto scheduled_in_window = past_end > first ? past_end - first : 0;
    stats.unsent = scheduled_in_window - std::min(scheduled_in_window, measured_started_);
  }
}

void worker::run() {
  for (;;) {
    auto now = steady::now();
    while (!idle_.empty()) {
      auto intended = o_.open_loop() ? scheduled(next_) : now;
      if (intended > now || !may_start(intended, now))
        break;
      auto* s = idle_.back();
      idle_.pop_back();
      start(s, intended, now);
      ++next_;
    }
    void* tag = nullptr;
    bool ok = false;
    bool waiting_on_schedule = o_.open_loop() && !idle_.empty()
                               && may_start(scheduled(next_), now);
    if (waiting_on_schedule) {
      // Queue timeouts land up to ~2 ms late (gRPC rounds them to whole
      // milliseconds), and in open loop any oversleep is charged to the calls
      // as latency: wait on the queue until shortly before the next start,
      // then poll it (only an infinitely past deadline really polls) between
      // short precise sleeps.
      auto coarse = std::chrono::duration_cast<ns>(scheduled(next_) - now) - fine_wait;
      auto deadline = coarse.count() > 0
                        ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                       gpr_time_from_nanos(coarse.count(), GPR_TIMESPAN))
                        : gpr_inf_past(GPR_CLOCK_MONOTONIC);
      auto r = cq_.AsyncNext(&tag, &ok, deadline);
      if (r == grpc::CompletionQueue::TIMEOUT && coarse.count() <= 0) {
        auto left = std::chrono::duration_cast<ns>(scheduled(next_) - steady::now());
        if (left.count() > 0)
          std::this_thread::sleep_for(std::min<ns>(left, fine_step));
      }
      if (r != grpc::CompletionQueue::GOT_EVENT)
        continue;
    } else if (in_flight_ > 0) {
      if (!cq_.Next(&tag, &ok))
        break;
    } else if (o_.open_loop() || idle_.empty() || !may_start(now, now)) {
      break;
    } else {
      continue;
    }
    auto* s = static_cast<call_slot*>(tag);
    if (s->on_event(ok))
      finish(s, steady::now());
  }
  count_unsent();
  cq_.Shutdown();
  void* tag;
  bool ok;
  while (cq_.Next(&tag, &ok)) {
  }
}

std::vector<std::shared_ptr<grpc::Channel>> open_channels(const options& o) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < o.connections; ++i) {
    grpc::ChannelArguments args;
    // A private subchannel pool plus an argument unique to the channel:
    // otherwise gRPC shares one TCP connection among equal channels.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("troupe.bench.connection", i);
    channels.push_back(
      grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args));
  }
  for (auto& ch : channels)
    ch->GetState(true);
  auto until = std::chrono::system_clock::now() + std::chrono::milliseconds(o.deadline_ms);
  int ready = 0;
  for (auto& ch : channels)
    ready += ch->WaitForConnected(until) ? 1 : 0;
  if (ready < o.connections && !o.quiet)
    std::fprintf(stderr, "troupe bench: %d of %d connections to %s ready after %ld ms; "
                         "calls on the others will fail and be counted\n",
                 ready, o.connections, o.target.c_str(), o.deadline_ms);
  return channels;
}

} // namespace

run_stats run_load(scenario& sc, const options& o, const std::string& label) {
  auto channels = open_channels(o);

  // Slot j uses channel j % connections, and channel c belongs to worker
  // c % threads: calls spread evenly over connections and threads.
  std::vector<int> slots_of(o.threads, 0);
  for (int j = 0; j < o.in_flight; ++j)
    ++slots_of[(j % o.connections) % o.threads];

  timing t;
  t.count_mode = o.count > 0;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<worker>> workers;
  std::uint64_t quota_left = o.count;
  for (int w = 0; w < o.threads; ++w) {
    double share = static_cast<double>(slots_of[w]) / o.in_flight;
    std::uint64_t quota = w + 1 == o.threads
                            ? quota_left
                            : static_cast<std::uint64_t>(static_cast<double>(o.count) * share);
    quota_left -= quota;
    workers.push_back(std::make_unique<worker>(o, t, stop, o.rate * share,
                                               static_cast<double>(w) / o.threads, quota));
  }
  for (int j = 0; j < o.in_flight; ++j) {
    int c = j % o.connections;
    workers[c % o.threads]->add_slot(sc.make_slot(channels[c], static_cast<std::uint64_t>(j) + 1));
  }

  t.t0 = steady::now();
  t.measure_start = t.t0 + ns(static_cast<std::int64_t>(o.warmup_s * 1e9));
  t.end = t.count_mode ? steady::time_point::max()
                       : t.measure_start + ns(static_cast<std::int64_t>(o.duration_s * 1e9));
  t.give_up = t.count_mode ? steady::time_point::max()
                           : t.end + std::chrono::milliseconds(o.deadline_ms);
  auto cpu_start = cpu_times::now();
  bool cpu_at_measure = o.warmup_s <= 0;

  std::atomic<int> running{o.threads};
  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([&running, wp = w.get()] {
      // The default 50 us of slack would land every open-loop start late.
      prctl(PR_SET_TIMERSLACK, 1000UL);
      wp->run();
      running.fetch_sub(1);
    });

  auto next_line = t.t0 + std::chrono::seconds(1);
  std::uint64_t last_done = 0;
  auto last_time = t.t0;
  run_stats total;
  while (running.load() > 0) {
    auto now = steady::now();
    if (!cpu_at_measure && now >= t.measure_start) {
      cpu_start = cpu_times::now();
      cpu_at_measure = true;
    }
    if (now >= next_line) {
      std::uint64_t done = 0, failed = 0, in_flight = 0;
      for (auto& w : workers) {
        done += w->progress.done.load(std::memory_order_relaxed);
        failed += w->progress.failed.load(std::memory_order_relaxed);
        in_flight += w->progress.in_flight.load(std::memory_order_relaxed);
      }
      double dt = std::chrono::duration<double>(now - last_time).count();
      if (!o.quiet)
        std::fprintf(stderr,
                     "[%6.1fs] %s%s: %9.1f calls/s, %llu done, %llu not OK, %llu in flight\n",
                     std::chrono::duration<double>(now - t.t0).count(), label.c_str(),
                     last_time < t.measure_start ? " (warm-up)" : "",
                     dt > 0 ? static_cast<double>(done - last_done) / dt : 0.0,
                     static_cast<unsigned long long>(done), static_cast<unsigned long long>(failed),
                     static_cast<unsigned long long>(in_flight));
      last_done = done;
      last_time = now;
      next_line += std::chrono::seconds(1);
    }
    if (wait_signal(std::chrono::milliseconds(20))) {
      if (stop.exchange(true)) {
        std::fprintf(stderr, "troupe bench: interrupted twice, exiting\n");
        _exit(130);
      }
      total.interrupted = true;
      std::fprintf(stderr, "troupe bench: stopping; calls in flight finish first\n");
    }
  }
  for (auto& th : threads)
    th.join();
  auto cpu_end = cpu_times::now();

  for (auto& w : workers)
    total.merge(w->stats);
  total.window_s = static_cast<double>(total.last_done_ns) / 1e9;
  total.cpu_user_s = cpu_end.user - cpu_start.user;
  total.cpu_system_s = cpu_end.system - cpu_start.system;
  return total;
}

} // namespace troupe::loadgen
