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

const char* code_name(std::size_t i) {
  return cli::status_code_name(static_cast<grpc::StatusCode>(i));
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

} // namespace troupe::loadgen
