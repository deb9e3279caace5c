#include "histogram.hpp"

#include <algorithm>
#include <cmath>

namespace troupe::loadgen {

latency_histogram::latency_histogram()
  : counts_((64 - sub_bits + 1) * sub_count, 0) {}

void latency_histogram::merge(const latency_histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::uint64_t latency_histogram::lowest_in(std::size_t index) {
  if (index < sub_count)
    return index;
  auto octave = index / sub_count;
  return (sub_count + index % sub_count) << (octave - 1);
}

std::uint64_t latency_histogram::width_of(std::size_t index) {
  if (index < sub_count)
    return 1;
  return std::uint64_t{1} << (index / sub_count - 1);
}

std::uint64_t latency_histogram::quantile(double q) const {
  if (count_ == 0)
    return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      auto mid = lowest_in(i) + (width_of(i) - 1) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

} // namespace troupe::loadgen
