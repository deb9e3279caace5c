#include "troupe/rt/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace troupe::rt {

namespace {

using std::chrono::milliseconds;

double seconds_between(std::chrono::steady_clock::time_point from,
                       std::chrono::steady_clock::time_point to) noexcept {
  return std::chrono::duration<double>(to - from).count();
}

// Floating-point refill can land a hair short of a whole token at the very
// instant retry_after promised it. Granting whatever would arrive within one
// clock tick (1 ns) keeps the promise; retry_after is rounded with the same
// one-tick slack so both sides agree.
double grant_tolerance(double rate, double n) noexcept {
  return 1e-9 * std::max(1.0, n) + rate * 1e-9;
}

void validate(double rate, double burst) {
  if (rate > 0 && !(burst > 0))
    throw std::invalid_argument("rate limiter: burst must be positive when a rate is set");
}

} // namespace

namespace detail {

void bucket_state::refill(double rate, double burst,
                          std::chrono::steady_clock::time_point now) noexcept {
  if (tokens >= burst) {
    last = now;
    return;
  }
  // Threads read the clock before taking the lock, so `now` can arrive
  // slightly out of order; time never runs backwards for the bucket.
  if (now <= last)
    return;
  tokens = std::min(burst, tokens + rate * seconds_between(last, now));
  last = now;
}

acquire_result bucket_state::acquire(double rate, double burst, double n,
                                     std::chrono::steady_clock::time_point now) noexcept {
  if (rate <= 0 || n <= 0)
    return {true, milliseconds{0}};
  refill(rate, burst, now);
  auto tol = grant_tolerance(rate, n);
  if (n > burst + tol)
    return {false, milliseconds::max()};
  if (tokens + tol >= n) {
    tokens = std::max(0.0, tokens - n);
    return {true, milliseconds{0}};
  }
  auto wait_ms = (n - tokens) / rate * 1000.0;
  auto whole = std::ceil(wait_ms - 1e-6);
  if (whole < 1)
    whole = 1;
  if (whole >= static_cast<double>(std::numeric_limits<milliseconds::rep>::max()))
    return {false, milliseconds::max()};
  return {false, milliseconds{static_cast<milliseconds::rep>(whole)}};
}

bool bucket_state::is_full(double rate, double burst,
                           std::chrono::steady_clock::time_point now) const noexcept {
  if (rate <= 0)
    return true;
  auto level = tokens;
  if (now > last)
    level += rate * seconds_between(last, now);
  return level + grant_tolerance(rate, burst) >= burst;
}

} // namespace detail

keyed_rate_limiter::keyed_rate_limiter(double rate_per_sec, double burst, std::size_t max_keys)
  : rate_(rate_per_sec), burst_(burst), max_keys_(max_keys) {
  validate(rate_per_sec, burst);
  if (max_keys == 0)
    throw std::invalid_argument("keyed_rate_limiter: max_keys must be at least 1");
  index_.reserve(max_keys);
}

acquire_result keyed_rate_limiter::try_acquire(std::string_view key, double n,
                                               clock::time_point now) {
  // An unlimited limiter must not spend memory remembering peers.
  if (rate_ <= 0)
    return {true, milliseconds{0}};
  std::lock_guard<std::mutex> lk(mtx_);
  if (auto it = index_.find(key); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
  } else {
    if (lru_.size() >= max_keys_) {
      index_.erase(std::string_view{lru_.back().key});
      lru_.pop_back();
      ++evictions_;
    }
    lru_.push_front(entry{std::string{key}, detail::bucket_state{burst_}});
    index_.emplace(std::string_view{lru_.front().key}, lru_.begin());
  }
  return lru_.front().bucket.acquire(rate_, burst_, n, now);
}

std::size_t keyed_rate_limiter::sweep(clock::time_point now) {
  std::lock_guard<std::mutex> lk(mtx_);
  std::size_t dropped = 0;
  for (auto it = lru_.begin(); it != lru_.end();) {
    if (it->bucket.is_full(rate_, burst_, now)) {
      index_.erase(std::string_view{it->key});
      it = lru_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  return dropped;
}

std::size_t keyed_rate_limiter::size() const {
  std::lock_guard<std::mutex> lk(mtx_);
  return lru_.size();
}

std::size_t keyed_rate_limiter::evictions() const {
  std::lock_guard<std::mutex> lk(mtx_);
  return evictions_;
}

} // namespace troupe::rt
