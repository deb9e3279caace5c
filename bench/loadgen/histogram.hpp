#pragma once

#include <cstdint>
#include <vector>

namespace troupe::loadgen {

/// Latency histogram with log-linear buckets: 128 per power of two, so any
/// reported value is within 1/256 (0.4%) of a recorded one, from 1 ns to
/// hours, in a fixed 58 KiB and with no allocation per sample.
class latency_histogram {
public:
  static constexpr int sub_bits = 7;
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;

  latency_histogram();

  void record(std::uint64_t ns) {
    ++counts_[index_of(ns)];
    ++count_;
    sum_ += ns;
    if (ns < min_)
      min_ = ns;
    if (ns > max_)
      max_ = ns;
  }
  void merge(const latency_histogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  /// The value at quantile q (0..1): the midpoint of its bucket, clamped to
  /// the exact min and max; 0 when empty.
  std::uint64_t quantile(double q) const;

  static std::size_t index_of(std::uint64_t v) {
    if (v < sub_count)
      return static_cast<std::size_t>(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - sub_bits;
    return static_cast<std::size_t>(shift + 1) * sub_count + ((v >> shift) - sub_count);
  }
  static std::uint64_t lowest_in(std::size_t index);
  static std::uint64_t width_of(std::size_t index);

private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

} // namespace troupe::loadgen
