#pragma once

// One scrape of a host's /metrics, parsed: what `troupe top` reads.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace troupe::host {

struct sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct scrape {
  std::vector<sample> samples;
  double at = 0; // seconds on the steady clock when it was read

  /// Sum over every sample of `name` whose labels include `match`.
  double sum(const std::string& name, const std::map<std::string, std::string>& match = {}) const;
};

/// Parses the Prometheus text format; lines it does not understand are
/// skipped.
std::vector<sample> parse_exposition(const std::string& text);

/// GET http://<target>/metrics (target "host:port"). nullopt with `error`
/// set when it cannot be read within `timeout_ms`.
std::optional<scrape> fetch_metrics(const std::string& target, long timeout_ms,
                                    std::string& error);

} // namespace troupe::host
