#include "fanin/fanin_report.hpp"

#include "report_format.hpp"
#include "troupe/cli/json.hpp"

namespace troupe::loadgen {

namespace {

constexpr int label_width = 12;

unsigned long long u(std::uint64_t v) {
  return static_cast<unsigned long long>(v);
}

const char* plural(int n) {
  return n == 1 ? "" : "s";
}

} // namespace

std::string fanin_text_report(const options& o, const fanin_result& r) {
  const auto& d = r.deliveries;
  const auto& p = r.producers;
  const auto& re = r.resubscribes;
  std::string out;
  out += fmt("fanin against %s: %d producer%s -> %d topic%s -> %d subscriber%s, %zu-byte "
             "payloads, %s%s\n",
             o.target.c_str(), o.producers, plural(o.producers), o.topics, plural(o.topics),
             o.subscribers, plural(o.subscribers), o.value_bytes,
             loop_text(o, "events").c_str(), r.interrupted ? " (interrupted)" : "");
  if (o.subscriber_rate > 0)
    out += fmt("%-*s each reads at most %.1f events/s\n", label_width, "subscribers",
               o.subscriber_rate);
  auto expected = p.accepted * static_cast<std::uint64_t>(o.subscribers);
  out += fmt("%-*s %.1f events/s summed over subscribers (%llu in %.3f s)\n", label_width,
             "delivered", per_second(d.in_window, r.window_s), u(d.in_window), r.window_s);
  out += fmt("%-*s %.1f events/s (%llu written, %llu accepted%s)\n", label_width, "published",
             per_second(p.published_in_window, r.publish_s), u(p.published), u(p.accepted),
             p.accepted_unknown ? fmt(", %llu streams did not say", u(p.accepted_unknown)).c_str()
                                : "");
  out += fmt("%-*s %llu of %llu expected (accepted x subscribers): %llu gaps, %llu duplicates, "
             "%llu missing at the end, %llu out of producer order%s\n",
             label_width, "check", u(d.delivered), u(expected), u(d.gaps), u(d.dups),
             u(d.missing), u(d.order_errors),
             d.foreign ? fmt(", %llu events not from this run", u(d.foreign)).c_str() : "");
  out += fmt("%-*s %llu cut-offs, %llu resubscribes (%llu after falling out of retention), "
             "%llu trailer mismatches\n",
             label_width, "resubscribe", u(re.cutoffs), u(re.resubscribes), u(re.out_of_range),
             u(re.trailer_mismatches));
  out += fmt("%-*s%s\n", label_width, "publish", statuses_text(p.status, "  (none)").c_str());
  out += fmt("%-*s%s\n", label_width, "subscribe", statuses_text(re.status, "  (none)").c_str());
  if (p.unsent > 0)
    out += fmt("%-*s %llu scheduled events never written: the producers fell behind\n",
               label_width, "unsent", u(p.unsent));
  out += latency_line("latency", label_width, d.latency, "events");
  if (o.open_loop())
    out += start_lag_line(label_width, p.start_lag, "write");
  out += fmt("%-*s %.3f s (user %.3f, system %.3f) = %.2f us per delivered event in this "
             "client\n",
             label_width, "cpu", r.cpu.total(), r.cpu.user, r.cpu.system,
             cpu_us_each(r.cpu, d.delivered));
  return out;
}

std::string fanin_json_report(const options& o, const fanin_result& r) {
  using cli::json_number;
  const auto& d = r.deliveries;
  const auto& p = r.producers;
  const auto& re = r.resubscribes;
  auto n = [](auto v) { return std::to_string(v); };
  auto flag = [](bool b) { return std::string(b ? "true" : "false"); };
  std::string out = "{" + json_run_fields(o);
  out += ",\"producers\":" + n(o.producers);
  out += ",\"topics\":" + n(o.topics);
  out += ",\"subscribers\":" + n(o.subscribers);
  out += ",\"value_bytes\":" + n(o.value_bytes);
  out += ",\"subscriber_rate\":"
         + (o.subscriber_rate > 0 ? json_number(o.subscriber_rate, 3) : std::string("null"));
  out += ",\"connections\":" + n(o.connections);
  out += ",\"threads\":" + n(o.threads);
  out += ",\"subscriber_threads\":" + n(o.subscriber_threads);
  out += ",\"interrupted\":" + flag(r.interrupted);
  out += ",\"elapsed_s\":" + json_number(r.window_s, 6);
  out += ",\"rate\":" + json_number(per_second(d.in_window, r.window_s), 3);
  out += ",\"publish_elapsed_s\":" + json_number(r.publish_s, 6);
  out += ",\"publish_rate\":" + json_number(per_second(p.published_in_window, r.publish_s), 3);
  out += ",\"published\":" + n(p.published);
  out += ",\"accepted\":" + n(p.accepted);
  out += ",\"accepted_unknown\":" + n(p.accepted_unknown);
  out += ",\"expected\":" + n(p.accepted * static_cast<std::uint64_t>(o.subscribers));
  out += ",\"delivered\":" + n(d.delivered);
  out += ",\"delivered_in_window\":" + n(d.in_window);
  out += ",\"gaps\":" + n(d.gaps);
  out += ",\"dups\":" + n(d.dups);
  out += ",\"missing\":" + n(d.missing);
  out += ",\"order_errors\":" + n(d.order_errors);
  out += ",\"foreign\":" + n(d.foreign);
  out += ",\"drained\":" + flag(r.drained);
  out += ",\"cutoffs\":" + n(re.cutoffs);
  out += ",\"resubscribes\":" + n(re.resubscribes);
  out += ",\"out_of_range\":" + n(re.out_of_range);
  out += ",\"trailer_mismatches\":" + n(re.trailer_mismatches);
  out += ",\"unsent\":" + n(p.unsent);
  out += ",\"publish_status\":" + statuses_json(p.status);
  out += ",\"subscribe_status\":" + statuses_json(re.status);
  out += ",\"latency_ms\":" + latency_json(d.latency);
  if (o.open_loop())
    out += ",\"start_lag_ms\":" + latency_json(p.start_lag);
  out += ",\"cpu_s\":" + cpu_json(r.cpu);
  out += ",\"cpu_us_per_event\":" + json_number(cpu_us_each(r.cpu, d.delivered), 3);
  out += "}";
  return out;
}

} // namespace troupe::loadgen
