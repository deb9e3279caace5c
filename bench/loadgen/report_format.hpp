#pragma once

// Text and JSON pieces that both reports (kv and fanin) print the same way,
// so that bench/run and people read them alike.

#include <cstdint>
#include <string>

#include "histogram.hpp"
#include "options.hpp"
#include "process.hpp"
#include "status_counts.hpp"

namespace troupe::loadgen {

/// printf into a std::string (lines up to 511 characters).
std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));

/// Nanoseconds as milliseconds.
double ms(std::uint64_t ns);

/// `n` over `seconds`; 0 for an empty window.
double per_second(std::uint64_t n, double seconds);

/// This client's CPU microseconds per unit of work; 0 when there was none.
double cpu_us_each(const cpu_times& cpu, std::uint64_t n);

/// The gRPC name of status code `i` (0..16).
const char* code_name(std::size_t i);

/// "closed loop" or "open loop at 500.0 calls/s" (`unit` "calls", "events").
std::string loop_text(const options& o, const char* unit);

/// "latency    p50 ..  p90 ..  p99 ..  p99.9 ..  max .. ms  (N calls)",
/// the label padded to `width`.
std::string latency_line(const char* label, int width, const latency_histogram& h,
                         const char* unit);

/// "start lag  p50 ..  p99 ..  max .. ms behind schedule at `moment`".
std::string start_lag_line(int width, const latency_histogram& h, const char* moment);

/// "  OK 12  UNAVAILABLE 3" for the non-zero counts; `none` when all are 0.
std::string statuses_text(const status_counts& c, const char* none);

/// {"OK":12,"UNAVAILABLE":3} for the non-zero counts.
std::string statuses_json(const status_counts& c);

/// {"count":..,"min":..,"mean":..,"p50":..,"p90":..,"p99":..,"p999":..,"max":..} in ms.
std::string latency_json(const latency_histogram& h);

/// {"user":..,"system":..,"total":..} in seconds.
std::string cpu_json(const cpu_times& cpu);

/// `"scenario":..,"target":..,"mode":..,"rate_target":..`: the fields every
/// report opens with, without braces.
std::string json_run_fields(const options& o);

} // namespace troupe::loadgen
