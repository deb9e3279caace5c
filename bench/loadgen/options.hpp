#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "troupe/cli/flags.hpp"

namespace troupe::loadgen {

struct options {
  std::string scenario;
  std::string target = "127.0.0.1:50051";
  int connections = 4;
  int threads = 1;
  int in_flight = 64;
  double rate = 0;          // calls/s; 0 means closed loop
  double duration_s = 0;    // 0 with count == 0 means the default duration
  std::uint64_t count = 0;  // measured calls; 0 means run for duration_s
  double warmup_s = 0;
  std::uint64_t keys = 10000;
  std::size_t value_bytes = 100;
  long deadline_ms = 5000;
  double put_ratio = 0.1;
  bool populate = false;
  bool json = false;
  bool quiet = false;

  // fanin
  int producers = 50;           // Publish streams
  int subscribers = 4;          // Subscribe streams, each to every topic
  int subscriber_threads = 2;   // completion-queue threads the subscribers share
  int topics = 1;               // producer i publishes to topic i % topics
  double subscriber_rate = 0;   // events/s each subscriber reads; 0 means as fast as it can
  std::string topic_prefix = "bench-fanin";
  double drain_s = 10;          // after publishing ends, how long subscribers may catch up

  bool open_loop() const { return rate > 0; }
};

inline constexpr double default_duration_s = 10;

/// Parses `troupe bench SCENARIO [options]`; on a usage error returns
/// nullopt and sets `error`. `--help` yields nullopt with an empty error.
std::optional<options> parse_options(const cli::args& a, std::string& error);

const char* usage_text();

} // namespace troupe::loadgen
