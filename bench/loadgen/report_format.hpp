#pragma once

// Text and JSON pieces both bench reports (kv and fanin) print the same way.

#include <cstdint>
#include <string>

#include "histogram.hpp"
#include "driver/run_stats.hpp"

namespace troupe::loadgen {

/// printf into a std::string (lines up to 511 characters).
std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));

/// Nanoseconds as milliseconds.
double ms(std::uint64_t ns);

/// The gRPC name of status code `i` (0..16).
const char* code_name(std::size_t i);

/// "  OK 12  UNAVAILABLE 3" for the non-zero counts; `none` when all are 0.
std::string statuses_text(const status_counts& c, const char* none);

/// {"OK":12,"UNAVAILABLE":3} for the non-zero counts.
std::string statuses_json(const status_counts& c);

/// {"count":..,"min":..,"mean":..,"p50":..,"p90":..,"p99":..,"p999":..,"max":..} in ms.
std::string latency_json(const latency_histogram& h);

} // namespace troupe::loadgen
