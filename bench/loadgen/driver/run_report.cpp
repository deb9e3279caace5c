#include "driver/run_report.hpp"

#include "report_format.hpp"
#include "troupe/cli/json.hpp"

namespace troupe::loadgen {

using cli::json_number;
using cli::json_string;

namespace {

std::string text_latency(const char* label, const latency_histogram& h) {
  return fmt("%-10s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  (%llu calls)\n",
             label, ms(h.quantile(0.5)), ms(h.quantile(0.9)), ms(h.quantile(0.99)),
             ms(h.quantile(0.999)), ms(h.max()), static_cast<unsigned long long>(h.count()));
}

double achieved_rate(const run_stats& s) {
  return s.window_s > 0 ? static_cast<double>(s.calls()) / s.window_s : 0;
}

double cpu_us_per_call(const run_stats& s) {
  auto calls = s.calls();
  return calls ? (s.cpu_user_s + s.cpu_system_s) * 1e6 / static_cast<double>(calls) : 0;
}

} // namespace

std::string text_report(const options& o, const run_stats& s) {
  std::string out;
  out += fmt("%s against %s: %s, %d in flight, %d connections, %d thread%s%s\n",
             o.scenario.c_str(), o.target.c_str(),
             o.open_loop() ? fmt("open loop at %.1f calls/s", o.rate).c_str() : "closed loop",
             o.in_flight, o.connections, o.threads, o.threads == 1 ? "" : "s",
             s.interrupted ? " (interrupted)" : "");
  out += fmt("%-10s %llu in %.3f s = %.1f calls/s\n", "calls",
             static_cast<unsigned long long>(s.calls()), s.window_s, achieved_rate(s));
  out += fmt("%-10s%s\n", "status", statuses_text(s.status, "  (no calls)").c_str());
  if (s.unsent > 0)
    out += fmt("%-10s %llu scheduled calls never started: the client fell behind\n", "unsent",
               static_cast<unsigned long long>(s.unsent));
  out += text_latency("latency", s.latency);
  if (s.ok() != s.calls())
    out += text_latency("latency OK", s.latency_ok);
  if (o.open_loop())
    out += fmt("%-10s p50 %.3f  p99 %.3f  max %.3f ms behind schedule at start\n", "start lag",
               ms(s.start_lag.quantile(0.5)), ms(s.start_lag.quantile(0.99)),
               ms(s.start_lag.max()));
  out += fmt("%-10s %.3f s (user %.3f, system %.3f) = %.1f us/call in this client\n", "cpu",
             s.cpu_user_s + s.cpu_system_s, s.cpu_user_s, s.cpu_system_s, cpu_us_per_call(s));
  return out;
}

std::string json_report(const options& o, const run_stats& s) {
  std::string out = "{";
  out += "\"scenario\":" + json_string(o.scenario);
  out += ",\"target\":" + json_string(o.target);
  out += ",\"mode\":" + std::string(o.open_loop() ? "\"open\"" : "\"closed\"");
  out += ",\"rate_target\":" + (o.open_loop() ? json_number(o.rate, 3) : std::string("null"));
  out += ",\"in_flight\":" + std::to_string(o.in_flight);
  out += ",\"connections\":" + std::to_string(o.connections);
  out += ",\"threads\":" + std::to_string(o.threads);
  out += ",\"interrupted\":" + std::string(s.interrupted ? "true" : "false");
  out += ",\"calls\":" + std::to_string(s.calls());
  out += ",\"ok\":" + std::to_string(s.ok());
  out += ",\"errors\":" + std::to_string(s.calls() - s.ok());
  out += ",\"unsent\":" + std::to_string(s.unsent);
  out += ",\"elapsed_s\":" + json_number(s.window_s, 6);
  out += ",\"rate\":" + json_number(achieved_rate(s), 3);
  out += ",\"status\":" + statuses_json(s.status);
  out += ",\"latency_ms\":" + latency_json(s.latency);
  out += ",\"latency_ok_ms\":" + latency_json(s.latency_ok);
  if (o.open_loop())
    out += ",\"start_lag_ms\":" + latency_json(s.start_lag);
  out += ",\"cpu_s\":{\"user\":" + json_number(s.cpu_user_s, 3)
         + ",\"system\":" + json_number(s.cpu_system_s, 3)
         + ",\"total\":" + json_number(s.cpu_user_s + s.cpu_system_s, 3) + "}";
  out += ",\"cpu_us_per_call\":" + json_number(cpu_us_per_call(s), 2);
  out += "}";
  return out;
}

} // namespace troupe::loadgen
