#include "report_format.hpp"

#include <cstdarg>
#include <cstdio>

#include "troupe/cli/json.hpp"
#include "troupe/cli/status_name.hpp"

namespace troupe::loadgen {

using cli::json_number;
using cli::json_string;

std::string fmt(const char* format, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, format);
  std::vsnprintf(buf, sizeof buf, format, ap);
  va_end(ap);
  return buf;
}

double ms(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

double per_second(std::uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0;
}

double cpu_us_each(const cpu_times& cpu, std::uint64_t n) {
  return n ? cpu.total() * 1e6 / static_cast<double>(n) : 0;
}

const char* code_name(std::size_t i) {
  return cli::status_code_name(static_cast<grpc::StatusCode>(i));
}

std::string loop_text(const options& o, const char* unit) {
  return o.open_loop() ? fmt("open loop at %.1f %s/s", o.rate, unit) : "closed loop";
}

std::string latency_line(const char* label, int width, const latency_histogram& h,
                         const char* unit) {
  return fmt("%-*s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  (%llu %s)\n", width,
             label, ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)),
             ms(h.quantile(0.999)), ms(h.max()), static_cast<unsigned long long>(h.count()),
             unit);
}

std::string start_lag_line(int width, const latency_histogram& h, const char* moment) {
  return fmt("%-*s p50 %.3f  p99 %.3f  max %.3f ms behind schedule at %s\n", width, "start lag",
             ms(h.quantile(0.5)), ms(h.quantile(0.99)), ms(h.max()), moment);
}

std::string statuses_text(const status_counts& c, const char* none) {
  std::string out;
  for (std::size_t i = 0; i < c.size(); ++i)
    if (c[i] > 0)
      out += fmt("  %s %llu", code_name(i), static_cast<unsigned long long>(c[i]));
  return out.empty() ? none : out;
}

std::string statuses_json(const status_counts& c) {
  std::string out = "{";
  bool first = true;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (c[i] == 0)
      continue;
    out += (first ? "" : ",") + json_string(code_name(i)) + ":" + std::to_string(c[i]);
    first = false;
  }
  return out + "}";
}

std::string latency_json(const latency_histogram& h) {
  auto n = [](std::uint64_t ns) { return json_number(ms(ns), 3); };
  return "{\"count\":" + std::to_string(h.count()) + ",\"min\":" + n(h.min())
         + ",\"mean\":" + json_number(h.mean() / 1e6, 3) + ",\"p50\":" + n(h.quantile(0.5))
         + ",\"p90\":" + n(h.quantile(0.9)) + ",\"p99\":" + n(h.quantile(0.99))
         + ",\"p999\":" + n(h.quantile(0.999)) + ",\"max\":" + n(h.max()) + "}";
}

std::string cpu_json(const cpu_times& cpu) {
  return "{\"user\":" + json_number(cpu.user, 3) + ",\"system\":" + json_number(cpu.system, 3)
         + ",\"total\":" + json_number(cpu.total(), 3) + "}";
}

std::string json_run_fields(const options& o) {
  return "\"scenario\":" + json_string(o.scenario) + ",\"target\":" + json_string(o.target)
         + ",\"mode\":" + (o.open_loop() ? "\"open\"" : "\"closed\"")
         + ",\"rate_target\":" + (o.open_loop() ? json_number(o.rate, 3) : "null");
}

} // namespace troupe::loadgen
