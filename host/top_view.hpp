#pragma once

// What `troupe top` shows of one host between two scrapes: rates, latency
// percentiles from the histogram buckets that filled in between (as
// Prometheus's histogram_quantile computes them), and the gauges as they are.

#include <optional>
#include <string>
#include <vector>

#include "metrics_scrape.hpp"

namespace troupe::host {

struct method_row {
  std::string method;
  double calls_per_s = 0;
  double errors_per_s = 0; // calls that ended with another status than OK
  std::optional<double> p50_ms, p99_ms;
  double in_flight = 0;
  double shed_per_s = 0;
};

struct topic_row {
  std::string topic;
  double delivered_per_s = 0;
};

struct host_view {
  std::string target;
  std::string error; // set: it could not be read, the rest is empty
  double cpu_percent = 0;
  double rss_mib = 0;
  double open_calls = 0;
  double blocking_queued = 0, blocking_busy = 0, blocking_threads = 0;
  std::vector<method_row> methods; // busiest first; idle ones left out
  std::vector<topic_row> topics;   // busiest first, at most 5
};

host_view view_between(const std::string& target, const scrape& before, const scrape& now);

/// `q` in (0, 1) of cumulative buckets (upper bound, count); nullopt when
/// they hold no observation.
std::optional<double> bucket_quantile(double q, std::vector<std::pair<double, double>> buckets);

/// The whole screen, one line per row, `width` columns at most.
std::string render(const std::vector<host_view>& hosts, double interval_s, std::size_t width);

} // namespace troupe::host
