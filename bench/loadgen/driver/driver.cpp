#include "driver/driver.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include <grpc/support/time.h>

#include "driver/call_slot.hpp"
#include "grpc_client.hpp"
#include "load_split.hpp"

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
  worker(const options& o, const timing& t, std::atomic<bool>& stop, const thread_share& share)
    : o_(o), t_(t), stop_(stop), share_(share) {}

  void add_slot(std::unique_ptr<call_slot> s) {
    idle_.push_back(s.get());
    slots_.push_back(std::move(s));
  }

  void run();

  run_stats stats;
  worker_progress progress;

private:
  steady::time_point scheduled(std::uint64_t k) const { return share_.due(t_.t0, k); }
  bool may_start(steady::time_point intended, steady::time_point now) const {
    if (stop_.load(std::memory_order_relaxed))
      return false;
    if (t_.count_mode)
      return intended < t_.measure_start || measured_started_ < share_.quota;
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
  thread_share share_;
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
    count_status(stats.status, code);
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
    stats.unsent = share_.quota - std::min(share_.quota, measured_started_);
  } else if (o_.open_loop()) {
    auto first = share_.first_due_at_or_after(t_.t0, t_.measure_start);
    auto past_end = share_.first_due_at_or_after(t_.t0, t_.end);
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
  shut_down_and_drain(cq_);
}

std::vector<std::shared_ptr<grpc::Channel>> open_channels(const options& o) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < o.connections; ++i)
    channels.push_back(open_channel(o.target, std::to_string(i)));
  auto ready = connect_all(channels, std::chrono::system_clock::now()
                                       + std::chrono::milliseconds(o.deadline_ms));
  if (ready < channels.size() && !o.quiet)
    std::fprintf(stderr, "troupe bench: %zu of %d connections to %s ready after %ld ms; "
                         "calls on the others will fail and be counted\n",
                 ready, o.connections, o.target.c_str(), o.deadline_ms);
  return channels;
}

} // namespace

run_stats run_load(scenario& sc, const options& o, const std::string& label) {
  auto channels = open_channels(o);

  timing t;
  t.count_mode = o.count > 0;
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<worker>> workers;
  for (const auto& share : split_load(o.in_flight, o.connections, o.threads, o.rate, o.count))
    workers.push_back(std::make_unique<worker>(o, t, stop, share));
  for (int j = 0; j < o.in_flight; ++j) {
    int c = connection_of(j, o.connections);
    workers[thread_of_connection(c, o.threads)]->add_slot(
      sc.make_slot(channels[c], static_cast<std::uint64_t>(j) + 1));
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
      tighten_timer_slack();
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
    if (wait_for_stop_signal(std::chrono::milliseconds(20), stop, "calls in flight finish first"))
      total.interrupted = true;
  }
  for (auto& th : threads)
    th.join();
  auto cpu_end = cpu_times::now();

  for (auto& w : workers)
    total.merge(w->stats);
  total.window_s = static_cast<double>(total.last_done_ns) / 1e9;
  total.cpu = cpu_end - cpu_start;
  return total;
}

} // namespace troupe::loadgen
