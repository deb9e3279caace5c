#include "pipeline/adaptive_limit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <spdlog/spdlog.h>

#include "troupe/rt/config.hpp"

namespace troupe::rt::detail {

void declare_adaptive_limit_config(config_schema& s) {
  s.add_bool("limits.adaptive.enabled", true,
             "adapt each unary method's concurrency limit to its latency; over it, calls are "
             "refused RESOURCE_EXHAUSTED at once");
  s.add_uint("limits.adaptive.min", 8, 1, 10'000'000, "lowest concurrency limit");
  s.add_uint("limits.adaptive.max", 100000, 1, 10'000'000, "highest concurrency limit");
  s.add_uint("limits.adaptive.tolerance_percent", 150, 101, 10000,
             "latency, in percent of the unloaded latency, taken as no queueing");
  s.add_uint("limits.adaptive.window_ms", 50, 1, 60'000, "how often the limit is recomputed");
}

adaptive_limit_settings adaptive_limit_from(const config& cfg) {
  adaptive_limit_settings s;
  s.enabled = cfg.get_bool("limits.adaptive.enabled");
  s.min = static_cast<double>(cfg.get_uint("limits.adaptive.min"));
  s.max = static_cast<double>(cfg.get_uint("limits.adaptive.max"));
  s.tolerance = static_cast<double>(cfg.get_uint("limits.adaptive.tolerance_percent")) / 100.0;
  s.window = std::chrono::milliseconds(cfg.get_uint("limits.adaptive.window_ms"));
  s.max = std::max(s.max, s.min);
  return s;
}

// -- gradient_limit -------------------------------------------------------------

gradient_limit::gradient_limit(const adaptive_limit_settings& s) : s_(s), limit_(s.max) {}

bool gradient_limit::growth::grew(double backlog) {
  bool up = last >= 0 && backlog >= last * 1.1 && backlog - last >= 2;
  if (up) {
    ++steps;
  } else {
    steps = 0;
    settled = std::max(settled * settled_decay, backlog);
  }
  last = backlog;
  outgrown = steps >= 3 && backlog >= 2 * settled + outgrow_margin;
  return outgrown;
}

double gradient_limit::update(std::chrono::nanoseconds mean_rtt, std::chrono::nanoseconds min_rtt,
                              double peak_in_flight, bool refused, double completed_per_s,
                              double backlog, std::chrono::nanoseconds length) {
  bool demand_exceeds_service = refused || backlog < 0;
  if (backlog >= 0) {
    auto seconds = static_cast<double>(length.count()) * 1e-9;
    demand_exceeds_service |= per_window_.grew(backlog);
    second_backlog_s_ += backlog * seconds;
    second_s_ += seconds;
    if (second_s_ >= 1) {
      per_second_.grew(second_backlog_s_ / second_s_);
      second_backlog_s_ = second_s_ = 0;
    }
    demand_exceeds_service |= per_second_.outgrown;
  }
  auto lowest = static_cast<double>(min_rtt.count());
  floor_ns_ = floor_ns_ == 0 ? lowest : std::min(floor_ns_ * (1 + s_.floor_creep), lowest);
  auto mean = static_cast<double>(mean_rtt.count());
  auto ratio = floor_ns_ > 0 ? mean / floor_ns_ : 1.0;
  auto unnoticed = static_cast<double>(s_.unnoticed.count());
  bool queueing = ratio > s_.tolerance && mean - floor_ns_ > unnoticed;
  auto cut = std::max(0.5, s_.tolerance / ratio);
  auto busy_without_queue = completed_per_s * floor_ns_ * 1e-9 * s_.tolerance;
  if (slow_start_) {
    if (queueing && demand_exceeds_service) {
      slow_start_ = false;
      limit_ = std::clamp(std::min(peak_in_flight * cut, busy_without_queue), s_.min, s_.max);
    }
    return limit_;
  }
  if (!refused && peak_in_flight < limit_ / 2)
    return limit_; // not the bottleneck: nothing to learn about the limit
  if (!queueing) {
    if (refused || peak_in_flight >= limit_)
      limit_ = std::min(s_.max, limit_ + std::sqrt(limit_));
    return limit_;
  }
  if (!demand_exceeds_service)
    return limit_; // a queue as long as its clients' windows: bounded, let it be
  limit_ = std::max(s_.min, std::min(limit_ * cut, busy_without_queue));
  return limit_;
}

// -- adaptive_limiter -----------------------------------------------------------

adaptive_limiter::adaptive_limiter(const adaptive_limit_settings& s, clock::time_point now,
                                   std::string method)
  : s_(s),
    method_(std::move(method)),
    limit_(static_cast<std::int64_t>(s.max)),
    window_start_(now.time_since_epoch().count()),
    window_end_((now + s.window / 5).time_since_epoch().count()),
    limit_math_(s) {}

bool adaptive_limiter::try_acquire(clock::time_point now) {
  auto before = in_flight_.fetch_add(1, std::memory_order_relaxed);
  if (before >= limit_.load(std::memory_order_relaxed)) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    refused_.store(true, std::memory_order_relaxed);
    maybe_update(now);
    return false;
  }
  auto peak = peak_.load(std::memory_order_relaxed);
  while (before + 1 > peak
         && !peak_.compare_exchange_weak(peak, before + 1, std::memory_order_relaxed)) {
  }
  maybe_update(now);
  return true;
}

void adaptive_limiter::release(std::chrono::nanoseconds rtt, bool sample, clock::time_point now) {
  auto backlog = in_flight_.fetch_sub(1, std::memory_order_relaxed);
  backlog_sum_.fetch_add(backlog, std::memory_order_relaxed);
  answered_.fetch_add(1, std::memory_order_relaxed);
  if (sample) {
    sum_ns_.fetch_add(rtt.count(), std::memory_order_relaxed);
    auto low = min_ns_.load(std::memory_order_relaxed);
    while (rtt.count() < low
           && !min_ns_.compare_exchange_weak(low, rtt.count(), std::memory_order_relaxed)) {
    }
    samples_.fetch_add(1, std::memory_order_relaxed);
  }
  maybe_update(now);
}

void adaptive_limiter::maybe_update(clock::time_point now) {
  if (now.time_since_epoch().count() < window_end_.load(std::memory_order_relaxed))
    return;
  std::unique_lock<std::mutex> lock{update_mtx_, std::try_to_lock};
  if (!lock.owns_lock())
    return; // another thread is closing this window
  if (now.time_since_epoch().count() < window_end_.load(std::memory_order_relaxed))
    return;
  // Too few completions to say anything yet: the window goes on. Refusals
  // with no completion at all mean every admitted call is slow: latency
  // will speak once they end.
  auto n = samples_.load(std::memory_order_relaxed);
  if (n == 0) {
    // Nothing completed (quiet, or every call slow): the rate of completions
    // is counted from when they start again.
    window_start_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    return;
  }
  if (n < static_cast<std::int64_t>(s_.min_samples) && !refused_.load(std::memory_order_relaxed))
    return;
  auto sum = sum_ns_.exchange(0, std::memory_order_relaxed);
  auto low = min_ns_.exchange(INT64_MAX, std::memory_order_relaxed);
  n = samples_.exchange(0, std::memory_order_relaxed);
  auto peak = peak_.exchange(in_flight_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  bool refused = refused_.exchange(false, std::memory_order_relaxed);
  auto answered = answered_.exchange(0, std::memory_order_relaxed);
  auto backlog = static_cast<double>(backlog_sum_.exchange(0, std::memory_order_relaxed))
                 / static_cast<double>(std::max<std::int64_t>(answered, 1));
  auto started = clock::time_point(clock::duration(window_start_.load(std::memory_order_relaxed)));
  auto elapsed = std::chrono::duration<double>(now - started).count();
  auto mean = std::chrono::nanoseconds(sum / n);
  bool was_slow_start = limit_math_.slow_start();
  auto limit = limit_math_.update(mean, std::chrono::nanoseconds(low), static_cast<double>(peak),
                                  refused, static_cast<double>(n) / std::max(elapsed, 1e-6),
                                  backlog,
                                  std::chrono::duration_cast<std::chrono::nanoseconds>(
                                    std::chrono::duration<double>(std::max(elapsed, 1e-6))));
  if (!method_.empty() && spdlog::should_log(spdlog::level::debug))
    spdlog::debug("{}: window of {:.1f} ms, {} answers, mean {:.2f} ms, lowest {:.2f} ms, peak {} "
                  "in flight, backlog {:.1f}, {}: limit {}",
                  method_, elapsed * 1e3, n, mean.count() / 1e6, static_cast<double>(low) / 1e6,
                  peak, backlog, refused ? "refusals" : "no refusal",
                  limit_math_.slow_start() ? "none" : std::to_string(static_cast<std::int64_t>(limit)));
  if (was_slow_start && !limit_math_.slow_start() && !method_.empty())
    spdlog::warn("{}: overloaded, concurrency limit now {} (mean latency {:.1f} ms over an "
                 "unloaded {:.1f} ms, {:.0f} calls in flight on average, {} refused); over it, "
                 "calls end RESOURCE_EXHAUSTED (limits.adaptive.*)",
                 method_, static_cast<std::int64_t>(limit), mean.count() / 1e6,
                 static_cast<double>(limit_math_.floor().count()) / 1e6, backlog,
                 refused ? "some" : "none yet");
  auto next_window = limit_math_.slow_start() ? s_.window / 5 : s_.window;
  window_start_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  window_end_.store((now + next_window).time_since_epoch().count(), std::memory_order_relaxed);
  limit_.store(static_cast<std::int64_t>(limit), std::memory_order_relaxed);
  floor_ms_.store(std::max<std::int64_t>(
                    1, std::chrono::duration_cast<std::chrono::milliseconds>(limit_math_.floor())
                         .count()),
                  std::memory_order_relaxed);
}

std::chrono::milliseconds adaptive_limiter::pushback() const {
  return std::chrono::milliseconds(floor_ms_.load(std::memory_order_relaxed));
}

} // namespace troupe::rt::detail
