#pragma once

// Metrics a service adds to the host's /metrics, beside the ones the call
// pipeline keeps for every method (grpc_server_*, troupe_server_*).
//
// Register once, at start-up or when a new thing appears (a topic, a
// shard), and keep the reference: updating it afterwards is one relaxed
// atomic add, no lock and no allocation, safe from any thread.
//
//   auto& took = ctx.metrics().histogram("troupe_kv_storage_duration_seconds",
//                                        "Storage calls, by backend and op",
//                                        rt::metrics::latency_buckets(),
//                                        {{"backend", "sqlite"}, {"op", "get"}});
//   took.observe(seconds);
//
// The same name may be registered with several label sets; help text and
// kind must then agree. Names follow Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]*,
// counters end in _total.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace troupe::rt::metrics {

using labels = std::vector<std::pair<std::string, std::string>>;

class counter {
public:
  void add(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::uint64_t> value_{0};
};

class gauge {
public:
  void set(std::int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<std::int64_t> value_{0};
};

/// Fixed buckets, counted with atomics: observe() is a short search and two
/// relaxed adds.
class histogram {
public:
  /// `bounds`: upper bounds, ascending (the +Inf bucket is implicit).
  explicit histogram(std::vector<double> bounds);

  void observe(double value) noexcept;

  struct snapshot {
    std::vector<std::uint64_t> cumulative; // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  snapshot read() const;
  const std::vector<double>& bounds() const noexcept { return bounds_; }

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_; // bounds_.size() + 1
  std::atomic<std::uint64_t> sum_micros_{0};             // sum in millionths
};

/// gRFC A66's latency buckets, in seconds (0 to 100 s).
const std::vector<double>& latency_buckets();
/// gRFC A66's size buckets, in bytes (0 to 4 GiB).
const std::vector<double>& size_buckets();

/// What a service registers its metrics with; the host serves them.
class registry {
public:
  registry();
  ~registry();
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  metrics::counter& counter(const std::string& name, const std::string& help,
                            const labels& l = {});
  metrics::gauge& gauge(const std::string& name, const std::string& help, const labels& l = {});
  metrics::histogram& histogram(const std::string& name, const std::string& help,
                                const std::vector<double>& bounds, const labels& l = {});
  /// A gauge read when scraped (a queue's depth, a pool's busy threads).
  /// `read` runs on the metrics server's thread: it must be thread-safe
  /// and must not block.
  void gauge_fn(const std::string& name, const std::string& help, const labels& l,
                std::function<double()> read);

  /// Appends every registered metric in the Prometheus text format.
  void write_text(std::string& out) const;

private:
  struct family;
  family& family_of(const std::string& name, const std::string& help, int kind);

  mutable std::mutex mtx_;
  std::vector<std::unique_ptr<family>> families_;
};

} // namespace troupe::rt::metrics
