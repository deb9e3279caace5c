#include "load_split.hpp"

#include <cmath>

namespace troupe::loadgen {

using ns = std::chrono::nanoseconds;

std::chrono::steady_clock::time_point thread_share::due(std::chrono::steady_clock::time_point t0,
                                                        std::uint64_t k) const {
  auto offset = (static_cast<double>(k) + phase) * 1e9 / rate;
  return t0 + ns(static_cast<std::int64_t>(offset));
}

std::uint64_t thread_share::first_due_at_or_after(std::chrono::steady_clock::time_point t0,
                                                  std::chrono::steady_clock::time_point t) const {
  auto x = std::chrono::duration<double>(t - t0).count() * rate - phase;
  return x <= 0 ? 0 : static_cast<std::uint64_t>(std::ceil(x));
}

std::vector<thread_share> split_load(int items, int connections, int threads, double rate,
                                     std::uint64_t count) {
  std::vector<int> items_of(threads, 0);
  for (int j = 0; j < items; ++j)
    ++items_of[thread_of_connection(connection_of(j, connections), threads)];
  std::vector<thread_share> shares;
  std::uint64_t quota_left = count;
  for (int w = 0; w < threads; ++w) {
    double part = static_cast<double>(items_of[w]) / items;
    std::uint64_t quota = w + 1 == threads
                            ? quota_left
                            : static_cast<std::uint64_t>(static_cast<double>(count) * part);
    quota_left -= quota;
    shares.push_back({rate * part, static_cast<double>(w) / threads, quota});
  }
  return shares;
}

} // namespace troupe::loadgen
