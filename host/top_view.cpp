#include "top_view.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace troupe::host {

namespace {

constexpr const char* started = "grpc_server_call_started_total";
constexpr const char* duration = "grpc_server_call_duration_seconds";

/// now - before for every sample of `name` with labels matching `match`,
/// keyed by the value of label `by`.
std::map<std::string, double> delta_by(const scrape& before, const scrape& now,
                                       const std::string& name, const std::string& by,
                                       const std::map<std::string, std::string>& match = {}) {
  std::map<std::string, double> out;
  auto add = [&](const scrape& s, double sign) {
    for (const auto& x : s.samples) {
      if (x.name != name)
        continue;
      bool ok = true;
      for (const auto& [k, v] : match) {
        auto it = x.labels.find(k);
        if (it == x.labels.end() || it->second != v)
          ok = false;
      }
      auto key = x.labels.find(by);
      if (ok && key != x.labels.end())
        out[key->second] += sign * x.value;
    }
  };
  add(now, 1);
  add(before, -1);
  return out;
}

std::string fit(const std::string& s, std::size_t width) {
  if (s.size() <= width)
    return s;
  return width > 3 ? s.substr(0, width - 3) + "..." : s.substr(0, width);
}

std::string ms(const std::optional<double>& v) {
  if (!v)
    return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, *v < 10 ? "%.2f" : "%.0f", *v);
  return buf;
}

} // namespace

std::optional<double> bucket_quantile(double q, std::vector<std::pair<double, double>> buckets) {
  std::sort(buckets.begin(), buckets.end());
  if (buckets.empty() || buckets.back().second <= 0)
    return std::nullopt;
  double total = buckets.back().second;
  double rank = q * total;
  double lower = 0, below = 0;
  for (const auto& [le, count] : buckets) {
    if (count >= rank) {
      if (std::isinf(le))
        return lower; // the largest finite bound, as histogram_quantile says
      if (count == below)
        return le;
      return lower + (le - lower) * (rank - below) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}

host_view view_between(const std::string& target, const scrape& before, const scrape& now) {
  host_view v;
  v.target = target;
  double dt = std::max(now.at - before.at, 1e-3);
  v.cpu_percent = 100 * (now.sum("process_cpu_seconds_total")
                         - before.sum("process_cpu_seconds_total")) / dt;
  v.rss_mib = now.sum("process_resident_memory_bytes") / (1024 * 1024);
  v.open_calls = now.sum("troupe_server_open_calls");
  v.blocking_queued = now.sum("troupe_blocking_pool_queued_jobs");
  v.blocking_busy = now.sum("troupe_blocking_pool_busy_threads");
  v.blocking_threads = now.sum("troupe_blocking_pool_threads");

  auto calls = delta_by(before, now, started, "grpc_method");
  auto ok = delta_by(before, now, duration + std::string("_count"), "grpc_method",
                     {{"grpc_status", "OK"}});
  auto ended = delta_by(before, now, duration + std::string("_count"), "grpc_method");
  auto shed = delta_by(before, now, "troupe_server_calls_shed_total", "grpc_method");
  auto in_flight = delta_by(scrape{}, now, "troupe_server_calls_in_flight", "grpc_method");
  for (const auto& [method, n] : calls) {
    method_row r;
    r.method = method;
    r.calls_per_s = n / dt;
    r.errors_per_s = (ended[method] - ok[method]) / dt;
    r.shed_per_s = shed[method] / dt;
    r.in_flight = in_flight[method];
    if (n <= 0 && r.in_flight <= 0)
      continue;
    // Buckets summed over statuses, then differenced between the scrapes.
    std::map<double, double> by_le;
    for (const auto* s : {&now, &before})
      for (const auto& x : s->samples) {
        if (x.name != duration + std::string("_bucket"))
          continue;
        auto m = x.labels.find("grpc_method");
        auto le = x.labels.find("le");
        if (m == x.labels.end() || le == x.labels.end() || m->second != method)
          continue;
        double bound = le->second == "+Inf" ? HUGE_VAL : std::strtod(le->second.c_str(), nullptr);
        by_le[bound] += (s == &now ? 1 : -1) * x.value;
      }
    std::vector<std::pair<double, double>> buckets(by_le.begin(), by_le.end());
    if (auto p = bucket_quantile(0.5, buckets))
      r.p50_ms = *p * 1000;
    if (auto p = bucket_quantile(0.99, buckets))
      r.p99_ms = *p * 1000;
    v.methods.push_back(std::move(r));
  }
  std::sort(v.methods.begin(), v.methods.end(), [](const method_row& a, const method_row& b) {
    return a.calls_per_s != b.calls_per_s ? a.calls_per_s > b.calls_per_s : a.method < b.method;
  });

  for (const auto& [topic, n] :
       delta_by(before, now, "troupe_fanin_events_delivered_total", "topic"))
    if (n > 0)
      v.topics.push_back({topic, n / dt});
  std::sort(v.topics.begin(), v.topics.end(),
            [](const topic_row& a, const topic_row& b) { return a.delivered_per_s > b.delivered_per_s; });
  if (v.topics.size() > 5)
    v.topics.resize(5);
  return v;
}

std::string render(const std::vector<host_view>& hosts, double interval_s, std::size_t width) {
  std::string out;
  char line[512];
  auto emit = [&](const std::string& s) {
    out += fit(s, width);
    out += '\n';
  };
  std::snprintf(line, sizeof line, "troupe top: %zu host%s, every %.1f s (Ctrl-C quits)",
                hosts.size(), hosts.size() == 1 ? "" : "s", interval_s);
  emit(line);
  for (const auto& h : hosts) {
    emit("");
    if (!h.error.empty()) {
      emit(h.target + "  unreachable: " + h.error);
      continue;
    }
    std::snprintf(line, sizeof line,
                  "%s  cpu %.0f%%  rss %.0f MiB  open calls %.0f  blocking %.0f queued, %.0f of "
                  "%.0f busy",
                  h.target.c_str(), h.cpu_percent, h.rss_mib, h.open_calls, h.blocking_queued,
                  h.blocking_busy, h.blocking_threads);
    emit(line);
    std::snprintf(line, sizeof line, "  %-44s %10s %8s %8s %8s %9s %8s", "METHOD", "CALLS/S",
                  "ERR/S", "P50 ms", "P99 ms", "IN FLIGHT", "SHED/S");
    emit(line);
    if (h.methods.empty())
      emit("  (no calls)");
    for (const auto& m : h.methods) {
      std::snprintf(line, sizeof line, "  %-44s %10.1f %8.1f %8s %8s %9.0f %8.1f",
                    fit(m.method, 44).c_str(), m.calls_per_s, m.errors_per_s, ms(m.p50_ms).c_str(),
                    ms(m.p99_ms).c_str(), m.in_flight, m.shed_per_s);
      emit(line);
    }
    if (!h.topics.empty()) {
      std::string t = "  busiest topics (delivered/s):";
      for (const auto& topic : h.topics) {
        std::snprintf(line, sizeof line, " %s %.0f", topic.topic.c_str(), topic.delivered_per_s);
        t += line;
      }
      emit(t);
    }
  }
  return out;
}

} // namespace troupe::host
