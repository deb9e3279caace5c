#pragma once

// Token buckets for admission control per method and/or per peer. Every call
// takes an explicit `now` (defaulting to the steady clock) so behaviour can be
// tested at exact instants.

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace troupe::rt {

struct acquire_result {
  bool granted = false;
  // Zero when granted. When denied: the time until the requested tokens will
  // have accumulated, rounded up to whole milliseconds and at least 1 ms, so
  // a caller retrying exactly then is granted (absent other takers).
  // milliseconds::max() when the request exceeds the burst and can never be
  // granted.
  std::chrono::milliseconds retry_after{0};
};

namespace detail {

// One bucket's arithmetic; keyed_rate_limiter provides the locking.
struct bucket_state {
  double tokens = 0;
  std::chrono::steady_clock::time_point last{};

  // Starts full; a full bucket does not depend on `last`, so the creation
  // time is irrelevant and callers may inject any clock origin.
  explicit bucket_state(double burst) noexcept : tokens(burst) {}

  void refill(double rate, double burst, std::chrono::steady_clock::time_point now) noexcept;
  acquire_result acquire(double rate, double burst, double n,
                         std::chrono::steady_clock::time_point now) noexcept;
  // True once the bucket holds its full burst again: from then on it behaves
  // exactly like a freshly created one, so forgetting it loses nothing.
  bool is_full(double rate, double burst, std::chrono::steady_clock::time_point now) const noexcept;
};

} // namespace detail

// One bucket per key (method name, peer address, or both joined), created on
// first use with a full burst. At most `max_keys` buckets are kept: creating
// one more evicts the least recently used. A flood of distinct peers
// therefore costs bounded memory; the price is that an evicted peer comes
// back with a fresh burst.
class keyed_rate_limiter {
public:
  using clock = std::chrono::steady_clock;

  // Throws std::invalid_argument if max_keys is 0, or rate > 0 with
  // burst <= 0.
  keyed_rate_limiter(double rate_per_sec, double burst, std::size_t max_keys);

  acquire_result try_acquire(std::string_view key, double n = 1, clock::time_point now = clock::now());

  // Drops buckets that have refilled to their burst (idle long enough to be
  // indistinguishable from new ones). Returns how many were dropped. Meant
  // for a periodic timer so memory shrinks back after a flood.
  std::size_t sweep(clock::time_point now = clock::now());

  std::size_t size() const;
  std::size_t max_keys() const noexcept { return max_keys_; }
  double rate() const noexcept { return rate_; }
  double burst() const noexcept { return burst_; }
  // Buckets dropped to stay within max_keys (not counting sweep()).
  std::size_t evictions() const;

private:
  struct entry {
    std::string key;
    detail::bucket_state bucket;
  };
  using lru_list = std::list<entry>;

  const double rate_;
  const double burst_;
  const std::size_t max_keys_;
  mutable std::mutex mtx_;
  // Front = most recently used. std::list nodes never move, so the map can
  // key on views of the strings they own and be probed with a string_view
  // without allocating.
  lru_list lru_;
  std::unordered_map<std::string_view, lru_list::iterator> index_;
  std::size_t evictions_ = 0;
};

} // namespace troupe::rt
