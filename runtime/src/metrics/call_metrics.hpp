#pragma once

// What the call pipeline counts for every method of every service, in the
// names of gRPC's own metrics (gRFC A66) plus troupe's shed and in-flight
// counts. One block per method and lane: a lane's thread is the only one
// that updates its block on the hot path, so the relaxed atomics below never
// bounce a cache line between cores. A scrape sums the blocks.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "troupe/rt/call_status.hpp"

namespace troupe::rt::detail {

/// Fixed buckets over integer units (nanoseconds, bytes).
template <std::size_t Bounds>
struct fixed_histogram {
  std::array<std::atomic<std::uint64_t>, Bounds + 1> counts{}; // last: +Inf
  std::atomic<std::uint64_t> sum{0};

  void observe(const std::array<std::uint64_t, Bounds>& bounds, std::uint64_t v) noexcept;
};

inline constexpr std::size_t latency_bounds = 41;
inline constexpr std::size_t size_bounds = 14;
inline constexpr std::size_t status_codes = 17;

/// gRFC A66's buckets: latency in nanoseconds, sizes in bytes.
const std::array<std::uint64_t, latency_bounds>& latency_bounds_ns();
const std::array<std::uint64_t, size_bounds>& size_bounds_bytes();

struct alignas(64) call_counts {
  std::atomic<std::uint64_t> started{0};
  std::array<fixed_histogram<latency_bounds>, status_codes> duration;
  std::array<fixed_histogram<size_bounds>, status_codes> received;
  std::array<fixed_histogram<size_bounds>, status_codes> sent;
  std::array<std::atomic<std::uint64_t>, shed_reasons> shed{};
};

/// One method's counts (or `other`'s: methods nobody serves).
class method_metrics {
public:
  method_metrics(std::string label, std::size_t lanes);

  void started(std::size_t lane) noexcept {
    blocks_[lane].started.fetch_add(1, std::memory_order_relaxed);
  }
  void ended(std::size_t lane, status_code code, shed_reason shed, std::chrono::nanoseconds took,
             std::uint64_t received, std::uint64_t sent) noexcept;

  const std::string& label() const noexcept { return label_; }

  /// The blocks summed, for a scrape.
  struct totals {
    std::uint64_t started = 0;
    struct histo {
      std::vector<std::uint64_t> counts; // not cumulative; last is +Inf
      std::uint64_t sum = 0;
      std::uint64_t count = 0;
    };
    std::array<histo, status_codes> duration, received, sent;
    std::array<std::uint64_t, shed_reasons> shed{};
    std::uint64_t ended = 0;
  };
  totals read() const;

private:
  std::string label_;
  std::unique_ptr<call_counts[]> blocks_;
  std::size_t lanes_;
};

/// Appends the pipeline's families for `methods` in the text format.
void write_call_metrics(const std::vector<const method_metrics*>& methods, std::string& out);

} // namespace troupe::rt::detail
