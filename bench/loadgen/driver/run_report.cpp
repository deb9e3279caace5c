#include "driver/run_report.hpp"

#include "report_format.hpp"
#include "troupe/cli/json.hpp"

namespace troupe::loadgen {

namespace {

constexpr int label_width = 10;

std::string latency_text(const char* label, const latency_histogram& h) {
  return latency_line(label, label_width, h, "calls");
}

} // namespace

std::string text_report(const options& o, const run_stats& s) {
  std::string out;
  out += fmt("%s against %s: %s, %d in flight, %d connections, %d thread%s%s\n",
             o.scenario.c_str(), o.target.c_str(), loop_text(o, "calls").c_str(), o.in_flight,
             o.connections, o.threads, o.threads == 1 ? "" : "s",
             s.interrupted ? " (interrupted)" : "");
  out += fmt("%-*s %llu in %.3f s = %.1f calls/s\n", label_width, "calls",
             static_cast<unsigned long long>(s.calls()), s.window_s,
             per_second(s.calls(), s.window_s));
  out += fmt("%-*s%s\n", label_width, "status", statuses_text(s.status, "  (no calls)").c_str());
  if (s.unsent > 0)
    out += fmt("%-*s %llu scheduled calls never started: the client fell behind\n", label_width,
               "unsent",
               static_cast<unsigned long long>(s.unsent));
  out += latency_text("latency", s.latency);
  if (s.ok() != s.calls())
    out += latency_text("latency OK", s.latency_ok);
  if (o.open_loop())
    out += start_lag_line(label_width, s.start_lag, "start");
  out += fmt("%-*s %.3f s (user %.3f, system %.3f) = %.1f us/call in this client\n", label_width,
             "cpu", s.cpu.total(), s.cpu.user, s.cpu.system, cpu_us_each(s.cpu, s.calls()));
  return out;
}

std::string json_report(const options& o, const run_stats& s) {
  using cli::json_number;
  std::string out = "{" + json_run_fields(o);
  out += ",\"in_flight\":" + std::to_string(o.in_flight);
  out += ",\"connections\":" + std::to_string(o.connections);
  out += ",\"threads\":" + std::to_string(o.threads);
  out += ",\"interrupted\":" + std::string(s.interrupted ? "true" : "false");
  out += ",\"calls\":" + std::to_string(s.calls());
  out += ",\"ok\":" + std::to_string(s.ok());
  out += ",\"errors\":" + std::to_string(s.calls() - s.ok());
  out += ",\"unsent\":" + std::to_string(s.unsent);
  out += ",\"elapsed_s\":" + json_number(s.window_s, 6);
  out += ",\"rate\":" + json_number(per_second(s.calls(), s.window_s), 3);
  out += ",\"status\":" + statuses_json(s.status);
  out += ",\"latency_ms\":" + latency_json(s.latency);
  out += ",\"latency_ok_ms\":" + latency_json(s.latency_ok);
  if (o.open_loop())
    out += ",\"start_lag_ms\":" + latency_json(s.start_lag);
  out += ",\"cpu_s\":" + cpu_json(s.cpu);
  out += ",\"cpu_us_per_call\":" + json_number(cpu_us_each(s.cpu, s.calls()), 2);
  out += "}";
  return out;
}

} // namespace troupe::loadgen
