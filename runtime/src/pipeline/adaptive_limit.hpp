#pragma once

// Adaptive concurrency limit, one per method: how many calls may be in
// flight inside the host (admitted, not yet answered by their service)
// before new ones are refused RESOURCE_EXHAUSTED at once, learnt from the
// calls' own latency (admission to answer). The idea of Netflix's
// concurrency-limits (Gradient2, Vegas) and Envoy's adaptive concurrency:
// latency that rises above what the method shows unloaded means calls are
// queueing somewhere (a busy shard, a database); admitting fewer keeps the
// admitted ones fast, and goodput at capacity, instead of queueing without
// bound.
//
// Each window (limits.adaptive.window_ms, and at least a few answers):
// - the floor, the latency the method shows unloaded, is the lowest latency
//   seen (the first calls after a quiet spell find no queue), allowed to
//   creep up by 0.1% a window so that a backend that really got slower is
//   learnt, but far too slowly for queueing to pass for normal;
// - queueing is a mean latency over tolerance x floor and more than a
//   millisecond above it (less, no client notices);
// - queueing is acted on only while demand exceeds what the method serves:
//   calls were refused, or the backlog outgrew what it had settled at. The
//   backlog is the mean number of calls in flight when one is answered; it
//   outgrows when it rises (by a tenth and by two calls) three windows
//   running, or three seconds running for an overload too mild to show in
//   short windows, to more than twice the highest it held without rising,
//   plus 64 (`outgrow_margin`). Clients that wait for their answers before
//   sending more (a pool of N connections, a window of N calls) build a
//   queue no longer than their N, however it jitters: refusing part of it
//   would turn waits into errors and serve nobody sooner. The margin keeps
//   such a window of up to 64 calls from passing for an overload even as it
//   first opens, when nothing has settled yet (a cold database, whose first
//   commits are slow, on one replica of several that a balancer fills
//   round-robin). An open-loop overload grows its queue without bound, and
//   outgrows any such mark within a few windows;
// - until such an overload is first seen there is no limit (slow start: a
//   pure delay with thousands in flight is never throttled; its windows are
//   a fifth as long, so that a sudden overload is caught within tens of
//   milliseconds); then the limit starts from the peak in flight, cut as
//   below;
// - a window whose peak in flight stayed under half the limit says nothing
//   about the limit (the method is not the bottleneck): no change;
// - no queueing: a limit that was reached grows by sqrt(limit);
// - queueing: the limit is cut in proportion, to tolerance/ratio of itself
//   (at most by half), and to no more than the calls the method completed
//   per second times tolerance x floor (Little's law: what keeps it busy
//   without a queue), never under the minimum. The second bound matters when
//   the peak in flight is far above that: an overload that filled a queue
//   before the first cut is drained at once, not over several windows.
// The arithmetic takes its clock and samples from the caller, for tests.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>

namespace troupe::rt {
class config;
class config_schema;
} // namespace troupe::rt

namespace troupe::rt::detail {

struct adaptive_limit_settings {
  bool enabled = true;
  double min = 8;
  double max = 100000;
  double tolerance = 1.5;
  std::chrono::nanoseconds window = std::chrono::milliseconds(50);
  std::size_t min_samples = 10;
  double floor_creep = 0.001;
  std::chrono::nanoseconds unnoticed = std::chrono::milliseconds(1);
};

void declare_adaptive_limit_config(config_schema& schema);
adaptive_limit_settings adaptive_limit_from(const config& cfg);

/// The limit's arithmetic over whole windows. Not thread-safe.
class gradient_limit {
public:
  explicit gradient_limit(const adaptive_limit_settings& s);

  /// One window: its mean and lowest latency, the most calls in flight at
  /// once during it, whether any call was refused for the limit, the calls
  /// completed per second in it (infinity: unknown, no Little's-law bound),
  /// the mean calls in flight as they were answered (negative: unknown,
  /// demand taken to exceed service) and the window's length.
  /// Returns the limit.
  double update(std::chrono::nanoseconds mean_rtt, std::chrono::nanoseconds min_rtt,
                double peak_in_flight, bool refused,
                double completed_per_s = std::numeric_limits<double>::infinity(),
                double backlog = -1,
                std::chrono::nanoseconds length = std::chrono::milliseconds(10));

  double limit() const noexcept { return limit_; }
  std::chrono::nanoseconds floor() const noexcept {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(floor_ns_));
  }
  bool slow_start() const noexcept { return slow_start_; }

private:
  /// Whether a series of backlogs has outgrown what it settled at before:
  /// up three steps running, to more than twice the highest it held
  /// without rising (which fades, so that an old peak does not hide a new
  /// overload for long), plus `outgrow_margin`.
  static constexpr double outgrow_margin = 64;
  struct growth {
    explicit growth(double decay) : settled_decay(decay) {}
    double settled_decay;
    double last = -1;
    double settled = 0;
    int steps = 0;
    bool outgrown = false;
    bool grew(double backlog);
  };

  adaptive_limit_settings s_;
  double limit_;
  double floor_ns_ = 0;
  bool slow_start_ = true;
  growth per_window_{0.998};
  growth per_second_{0.98};
  double second_backlog_s_ = 0; // backlog x seconds, this second so far
  double second_s_ = 0;
};

/// The thread-safe limiter a method's calls pass through.
class adaptive_limiter {
public:
  using clock = std::chrono::steady_clock;

  /// `method` names it in the log line written when the limit first
  /// engages (empty: no log).
  explicit adaptive_limiter(const adaptive_limit_settings& s, clock::time_point now = clock::now(),
                            std::string method = {});

  /// Takes a slot, or false when the limit is reached (the call is refused).
  bool try_acquire(clock::time_point now = clock::now());
  /// The call that took a slot is over, after `rtt`. `sample`: whether its
  /// latency says anything (not for calls the client cancelled).
  void release(std::chrono::nanoseconds rtt, bool sample, clock::time_point now = clock::now());

  std::int64_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  std::int64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  /// How long a refused client should wait: the unloaded latency, at least 1 ms.
  std::chrono::milliseconds pushback() const;

private:
  void maybe_update(clock::time_point now);

  const adaptive_limit_settings s_;
  const std::string method_;
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> limit_;
  // The window in progress.
  std::atomic<std::int64_t> sum_ns_{0};
  std::atomic<std::int64_t> min_ns_{INT64_MAX};
  std::atomic<std::int64_t> samples_{0};
  std::atomic<std::int64_t> answered_{0};
  std::atomic<std::int64_t> backlog_sum_{0}; // calls in flight, summed over answers
  std::atomic<std::int64_t> peak_{0};
  std::atomic<bool> refused_{false};
  std::atomic<clock::rep> window_start_;
  std::atomic<clock::rep> window_end_;
  std::atomic<std::int64_t> floor_ms_{1};
  std::mutex update_mtx_;
  gradient_limit limit_math_;
};

} // namespace troupe::rt::detail
