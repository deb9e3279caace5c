#include "metrics/call_metrics.hpp"

#include <algorithm>

#include "metrics/text_format.hpp"
#include "status_name.hpp"

namespace troupe::rt::detail {

namespace {


template <std::size_t Bounds>
void add_into(const fixed_histogram<Bounds>& h, method_metrics::totals::histo& into) {
  if (into.counts.empty())
    into.counts.assign(Bounds + 1, 0);
  for (std::size_t i = 0; i <= Bounds; ++i) {
    auto n = h.counts[i].load(std::memory_order_relaxed);
    into.counts[i] += n;
    into.count += n;
  }
  into.sum += h.sum.load(std::memory_order_relaxed);
}

template <std::size_t Bounds>
void write_histogram_series(const std::string& name, const std::string& labels,
                            const std::array<std::uint64_t, Bounds>& bounds, double units_per_value,
                            const method_metrics::totals::histo& h, std::string& out) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= Bounds; ++i) {
    cumulative += h.counts[i];
    out += name;
    out += "_bucket{";
    out += labels;
    out += ",le=\"";
    if (i < Bounds)
      append_number(out, static_cast<double>(bounds[i]) / units_per_value);
    else
      out += "+Inf";
    out += "\"} ";
    append_number(out, cumulative);
    out += '\n';
  }
  out += name + "_sum{" + labels + "} ";
  append_number(out, static_cast<double>(h.sum) / units_per_value);
  out += '\n';
  out += name + "_count{" + labels + "} ";
  append_number(out, h.count);
  out += '\n';
}

std::string method_label(const std::string& method) {
  std::string out = "grpc_method=\"";
  append_label_value(out, method);
  out += '"';
  return out;
}

} // namespace

template <std::size_t Bounds>
void fixed_histogram<Bounds>::observe(const std::array<std::uint64_t, Bounds>& bounds,
                                      std::uint64_t v) noexcept {
  // Buckets are upper-inclusive (le): the first bound >= v.
  auto at = std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin();
  counts[static_cast<std::size_t>(at)].fetch_add(1, std::memory_order_relaxed);
  sum.fetch_add(v, std::memory_order_relaxed);
}

const std::array<std::uint64_t, latency_bounds>& latency_bounds_ns() {
  // gRFC A66: 0, 0.00001, 0.00005, ... 100 seconds.
  static const std::array<std::uint64_t, latency_bounds> b = {
    0,          10'000,      50'000,      100'000,     300'000,     600'000,     800'000,
    1'000'000,  2'000'000,   3'000'000,   4'000'000,   5'000'000,   6'000'000,   8'000'000,
    10'000'000, 13'000'000,  16'000'000,  20'000'000,  25'000'000,  30'000'000,  40'000'000,
    50'000'000, 65'000'000,  80'000'000,  100'000'000, 130'000'000, 160'000'000, 200'000'000,
    250'000'000, 300'000'000, 400'000'000, 500'000'000, 650'000'000, 800'000'000,
    1'000'000'000, 2'000'000'000, 5'000'000'000, 10'000'000'000, 20'000'000'000,
    50'000'000'000, 100'000'000'000,
  };
  return b;
}

const std::array<std::uint64_t, size_bounds>& size_bounds_bytes() {
  // gRFC A66: 0, 1024, 2048, 4096, 16384, ... 4 GiB.
  static const std::array<std::uint64_t, size_bounds> b = {
    0,        1024,      2048,       4096,       16384,       65536,       262144,
    1048576,  4194304,   16777216,   67108864,   268435456,   1073741824,  4294967296,
  };
  return b;
}

method_metrics::method_metrics(std::string label, std::size_t lanes)
  : label_(std::move(label)), blocks_(new call_counts[std::max<std::size_t>(lanes, 1)]),
    lanes_(std::max<std::size_t>(lanes, 1)) {}

void method_metrics::ended(std::size_t lane, status_code code, shed_reason shed,
                           std::chrono::nanoseconds took, std::uint64_t received,
                           std::uint64_t sent) noexcept {
  auto& b = blocks_[lane < lanes_ ? lane : 0];
  auto c = static_cast<std::size_t>(code);
  if (c >= status_codes)
    c = static_cast<std::size_t>(status_code::unknown);
  b.duration[c].observe(latency_bounds_ns(), static_cast<std::uint64_t>(std::max<std::int64_t>(
                                               took.count(), 0)));
  b.received[c].observe(size_bounds_bytes(), received);
  b.sent[c].observe(size_bounds_bytes(), sent);
  if (shed != shed_reason::none)
    b.shed[static_cast<std::size_t>(shed)].fetch_add(1, std::memory_order_relaxed);
}

method_metrics::totals method_metrics::read() const {
  totals t;
  // Ends are read before starts: a call that starts and ends between the
  // two reads can then only make in-flight read high, never negative.
  for (std::size_t l = 0; l < lanes_; ++l) {
    const auto& b = blocks_[l];
    for (std::size_t c = 0; c < status_codes; ++c) {
      add_into(b.duration[c], t.duration[c]);
      add_into(b.received[c], t.received[c]);
      add_into(b.sent[c], t.sent[c]);
    }
    for (std::size_t r = 0; r < shed_reasons; ++r)
      t.shed[r] += b.shed[r].load(std::memory_order_relaxed);
  }
  for (const auto& d : t.duration)
    t.ended += d.count;
  for (std::size_t l = 0; l < lanes_; ++l)
    t.started += blocks_[l].started.load(std::memory_order_relaxed);
  return t;
}

void write_call_metrics(const std::vector<const method_metrics*>& methods, std::string& out) {
  std::vector<method_metrics::totals> all;
  all.reserve(methods.size());
  for (const auto* m : methods)
    all.push_back(m->read());

  write_header(out, "grpc_server_call_started_total", "counter",
               "Calls started, per method (gRFC A66 grpc.server.call.started).");
  for (std::size_t i = 0; i < methods.size(); ++i) {
    out += "grpc_server_call_started_total{" + method_label(methods[i]->label()) + "} ";
    append_number(out, all[i].started);
    out += '\n';
  }

  struct histogram_family {
    const char* name;
    const char* help;
    std::array<method_metrics::totals::histo, status_codes> method_metrics::totals::*field;
    bool latency;
  };
  const histogram_family families[] = {
    {"grpc_server_call_duration_seconds",
     "Time from a call's arrival to its end, per method and status (gRFC A66 "
     "grpc.server.call.duration).",
     &method_metrics::totals::duration, true},
    {"grpc_server_call_rcvd_total_compressed_message_size_bytes",
     "Request bytes a call received, summed over its messages, per method and status (gRFC "
     "A66; message bytes as decoded: troupe does not compress).",
     &method_metrics::totals::received, false},
    {"grpc_server_call_sent_total_compressed_message_size_bytes",
     "Response bytes a call sent, summed over its messages, per method and status (gRFC A66; "
     "message bytes as encoded: troupe does not compress).",
     &method_metrics::totals::sent, false},
  };
  for (const auto& f : families) {
    write_header(out, f.name, "histogram", f.help);
    for (std::size_t i = 0; i < methods.size(); ++i) {
      const auto& per_code = all[i].*(f.field);
      for (std::size_t c = 0; c < status_codes; ++c) {
        if (per_code[c].count == 0)
          continue;
        auto labels = method_label(methods[i]->label()) + ",grpc_status=\""
                      + code_name(static_cast<status_code>(c)) + "\"";
        if (f.latency)
          write_histogram_series(f.name, labels, latency_bounds_ns(), 1e9, per_code[c], out);
        else
          write_histogram_series(f.name, labels, size_bounds_bytes(), 1.0, per_code[c], out);
      }
    }
  }

  write_header(out, "troupe_server_calls_in_flight", "gauge",
               "Calls started and not over yet, per method.");
  for (std::size_t i = 0; i < methods.size(); ++i) {
    out += "troupe_server_calls_in_flight{" + method_label(methods[i]->label()) + "} ";
    append_number(out, all[i].started >= all[i].ended ? all[i].started - all[i].ended : 0);
    out += '\n';
  }

  write_header(out, "troupe_server_calls_shed_total", "counter",
               "Calls refused to shed load, per method and reason (RESOURCE_EXHAUSTED or, "
               "while shutting down, UNAVAILABLE).");
  for (std::size_t i = 0; i < methods.size(); ++i)
    for (std::size_t r = 1; r < shed_reasons; ++r) {
      if (all[i].shed[r] == 0)
        continue;
      out += "troupe_server_calls_shed_total{" + method_label(methods[i]->label())
             + ",reason=\"" + to_string(static_cast<shed_reason>(r)) + "\"} ";
      append_number(out, all[i].shed[r]);
      out += '\n';
    }
}

} // namespace troupe::rt::detail
