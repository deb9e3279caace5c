#include "fanin/fanin_bench.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "fanin/fanin_plan.hpp"
#include "fanin/fanin_report.hpp"
#include "fanin/producer_thread.hpp"
#include "fanin/run_clock.hpp"
#include "fanin/start_gate.hpp"
#include "fanin/subscriber.hpp"
#include "fanin/subscriber_thread.hpp"
#include "fanin/topics.hpp"
#include "grpc_client.hpp"
#include "load_split.hpp"
#include "process.hpp"

namespace troupe::loadgen {

namespace {

using steady = std::chrono::steady_clock;
using ns = std::chrono::nanoseconds;
using channels = std::vector<std::shared_ptr<grpc::Channel>>;

/// One run, in the order its steps must happen: subscribers registered
/// before the base seqs are read, the clock fixed before anything is
/// published, the targets known before subscribers can be done.
class fanin_run {
public:
  explicit fanin_run(const fanin_plan& plan)
    : plan_(plan), o_(plan.o), gate_(plan.o.subscribers),
      tickets_(static_cast<std::int64_t>(plan.o.count)) {}

  int run();

private:
  bool connect();
  void start_subscribers();
  /// Waits until every subscriber has registered, then reads where each
  /// topic stands: the run's events are the ones after that.
  bool register_subscribers(std::string& error);
  void start_producers();
  void publish();
  /// Each topic's last accepted seq: the base plus what producers say was
  /// accepted, or the topics' own seqs where a stream did not say.
  std::vector<std::uint64_t> accepted_targets();
  void drain();
  void stop_subscribers();
  int abandon(const std::string& why);
  void collect();
  /// A progress line once a second unless --quiet.
  void progress(const char* phase);
  bool interrupted();

  const fanin_plan& plan_;
  const options& o_;
  channels pub_channels_, sub_channels_;
  run_clock clock_;
  start_gate gate_;
  std::vector<std::uint64_t> base_;
  // The threads own the subscribers (their calls are bound to the threads'
  // queues); subs_ only points at them.
  std::vector<std::unique_ptr<subscriber_thread>> sub_workers_;
  std::vector<subscriber*> subs_;
  std::vector<std::thread> sub_threads_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> tickets_;
  std::vector<std::unique_ptr<producer_thread>> producers_;
  steady::time_point published_end_{};
  cpu_times cpu_start_;
  fanin_result r_;

  steady::time_point next_line_{};
  steady::time_point last_line_{};
  std::uint64_t last_published_ = 0;
  std::uint64_t last_delivered_ = 0;
};

bool fanin_run::connect() {
  channel_options long_streams;
  long_streams.retries = false;
  auto paced = long_streams;
  paced.bdp_probe = o_.subscriber_rate <= 0;
  for (int i = 0; i < o_.connections; ++i)
    pub_channels_.push_back(open_channel(o_.target, "pub" + std::to_string(i), long_streams));
  for (int i = 0; i < o_.subscribers; ++i)
    sub_channels_.push_back(open_channel(o_.target, "sub" + std::to_string(i), paced));
  auto all = pub_channels_;
  all.insert(all.end(), sub_channels_.begin(), sub_channels_.end());
  auto until = std::chrono::system_clock::now() + std::chrono::milliseconds(o_.deadline_ms);
  return connect_all(all, until) == all.size();
}

void fanin_run::start_subscribers() {
  for (int w = 0; w < o_.subscriber_threads; ++w)
    sub_workers_.push_back(std::make_unique<subscriber_thread>(gate_));
  for (int i = 0; i < o_.subscribers; ++i)
    subs_.push_back(sub_workers_[i % o_.subscriber_threads]->add(std::make_unique<subscriber>(
      sub_channels_[i], plan_.topics, static_cast<std::size_t>(o_.producers), o_.subscriber_rate,
      clock_, gate_)));
  for (auto& w : sub_workers_)
    sub_threads_.emplace_back([wp = w.get()] { wp->run(); });
}

bool fanin_run::register_subscribers(std::string& error) {
  if (!gate_.wait_ready(std::chrono::milliseconds(o_.deadline_ms))) {
    error = "subscribers did not get their Subscribe response headers within "
            + std::to_string(o_.deadline_ms) + " ms";
    return false;
  }
  auto base = topic_seqs(sub_channels_[0], plan_.topics, o_.deadline_ms, error);
  if (!base)
    return false;
  base_ = *base;
  for (auto* s : subs_)
    s->ledger().set_base(base_);
  return true;
}

void fanin_run::start_producers() {
  for (const auto& share : plan_.producer_shares)
    producers_.push_back(std::make_unique<producer_thread>(o_, clock_, stop_, tickets_, share));
  for (int p = 0; p < o_.producers; ++p) {
    int c = connection_of(p, o_.connections);
    auto t = plan_.topic_of(p);
    producers_[thread_of_connection(c, o_.threads)]->add(std::make_unique<producer_stream>(
      static_cast<std::uint32_t>(p), t, plan_.topics[t], o_.value_bytes, pub_channels_[c]));
  }
}

void fanin_run::publish() {
  clock_.start(o_.warmup_s, o_.count == 0 ? o_.duration_s : 0);
  gate_.open();
  cpu_start_ = cpu_times::now();
  next_line_ = clock_.t0 + std::chrono::seconds(1);
  last_line_ = clock_.t0;

  std::atomic<int> running{static_cast<int>(producers_.size())};
  std::vector<std::thread> threads;
  for (auto& w : producers_)
    threads.emplace_back([&running, wp = w.get()] {
      wp->run();
      running.fetch_sub(1);
    });
  while (running.load() > 0) {
    progress(steady::now() < clock_.measure_start ? " (warm-up)" : "");
    interrupted();
  }
  for (auto& th : threads)
    th.join();
  published_end_ = steady::now();
  for (auto& w : producers_)
    r_.producers.merge(w->totals);
}

std::vector<std::uint64_t> fanin_run::accepted_targets() {
  auto targets = base_;
  for (auto& w : producers_)
    for (std::size_t t = 0; t < targets.size(); ++t)
      targets[t] += w->accepted_per_topic[t];
  if (r_.producers.accepted_unknown == 0)
    return targets;
  auto settled = settled_topic_seqs(sub_channels_[0], plan_.topics, o_.deadline_ms,
                                    std::chrono::seconds(5));
  return settled.empty() ? targets : settled;
}

void fanin_run::drain() {
  auto targets = accepted_targets();
  for (auto* s : subs_)
    s->ledger().set_targets(targets);
  auto drain_until = published_end_ + ns(static_cast<std::int64_t>(o_.drain_s * 1e9));
  for (;;) {
    bool all = true;
    for (auto* s : subs_)
      all = s->ledger().complete() && all;
    if (all)
      return;
    if (steady::now() >= drain_until || interrupted()) {
      r_.drained = false;
      return;
    }
    progress(" (draining)");
  }
}

void fanin_run::stop_subscribers() {
  for (auto* s : subs_)
    s->stop();
  gate_.open();
  for (auto& th : sub_threads_)
    th.join();
}

int fanin_run::abandon(const std::string& why) {
  std::fprintf(stderr, "troupe bench: %s\n", why.c_str());
  stop_subscribers();
  return 1;
}

void fanin_run::collect() {
  r_.cpu = cpu_times::now() - cpu_start_;
  for (auto* s : subs_) {
    r_.deliveries.merge(s->ledger().counts());
    r_.resubscribes.merge(s->resubscribes());
  }
  // Duration runs: the window publishing ran for after warm-up. Count runs:
  // from the end of warm-up to the last delivery.
  auto window_end =
    o_.count == 0 ? std::min(clock_.end, published_end_) : r_.deliveries.last_delivery;
  auto seconds_from_start = [&](steady::time_point t) {
    return std::max(0.0, std::chrono::duration<double>(t - clock_.measure_start).count());
  };
  r_.window_s = seconds_from_start(window_end);
  r_.publish_s = seconds_from_start(std::min(clock_.end, published_end_));
}

void fanin_run::progress(const char* phase) {
  auto now = steady::now();
  if (now < next_line_)
    return;
  std::uint64_t published = 0, delivered = 0, cutoffs = 0;
  for (auto& w : producers_)
    published += w->published_so_far.load(std::memory_order_relaxed);
  for (auto* s : subs_) {
    delivered += s->ledger().delivered_so_far();
    cutoffs += s->cutoffs_so_far();
  }
  double dt = std::chrono::duration<double>(now - last_line_).count();
  if (!o_.quiet)
    std::fprintf(stderr,
                 "[%6.1fs] fanin%s: %9.1f published/s, %9.1f delivered/s, %llu delivered, %llu "
                 "cut-offs\n",
                 std::chrono::duration<double>(now - clock_.t0).count(), phase,
                 dt > 0 ? static_cast<double>(published - last_published_) / dt : 0.0,
                 dt > 0 ? static_cast<double>(delivered - last_delivered_) / dt : 0.0,
                 static_cast<unsigned long long>(delivered),
                 static_cast<unsigned long long>(cutoffs));
  last_published_ = published;
  last_delivered_ = delivered;
  last_line_ = now;
  next_line_ += std::chrono::seconds(1);
}

bool fanin_run::interrupted() {
  if (!wait_for_stop_signal(std::chrono::milliseconds(20), stop_,
                            "subscribers get what was accepted first"))
    return false;
  r_.interrupted = true;
  return true;
}

int fanin_run::run() {
  if (!connect()) {
    std::fprintf(stderr, "troupe bench: cannot connect to %s within %ld ms\n", o_.target.c_str(),
                 o_.deadline_ms);
    return 1;
  }
  start_subscribers();
  std::string error;
  if (!register_subscribers(error))
    return abandon(error);
  start_producers();
  publish();
  drain();
  stop_subscribers();
  collect();

  if (o_.json)
    std::printf("%s\n", fanin_json_report(o_, r_).c_str());
  else
    std::fputs(fanin_text_report(o_, r_).c_str(), stdout);
  std::fflush(stdout);
  if (r_.deliveries.delivered == 0) {
    std::fprintf(stderr, "troupe bench: no event was delivered\n");
    return 1;
  }
  return 0;
}

} // namespace

bool is_fanin_scenario(const std::string& name) {
  return name == "fanin";
}

int run_fanin(const options& given) {
  std::string error;
  auto plan = plan_fanin(given, error);
  if (!plan) {
    std::fprintf(stderr, "troupe bench: %s\n", error.c_str());
    return 2;
  }
  return fanin_run(*plan).run();
}

} // namespace troupe::loadgen
