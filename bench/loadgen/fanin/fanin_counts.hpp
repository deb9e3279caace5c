#pragma once

// What a fan-in run counts: each producer thread and subscriber keeps its
// own, and the run adds them up for the report.

#include <chrono>
#include <cstdint>

#include "histogram.hpp"
#include "status_counts.hpp"

namespace troupe::loadgen {

/// What producers wrote and what the server said it accepted.
struct producer_totals {
  std::uint64_t published = 0;           // writes the client completed
  std::uint64_t published_in_window = 0;
  std::uint64_t unsent = 0;              // open loop: scheduled, never written
  std::uint64_t accepted = 0;            // the server's counts
  std::uint64_t accepted_unknown = 0;    // streams that ended without a count
  status_counts status{};
  latency_histogram start_lag;

  void merge(const producer_totals& o);
};

/// What subscribers received, as checked event by event.
struct delivery_counts {
  std::uint64_t delivered = 0;     // events new to the subscriber
  std::uint64_t in_window = 0;     // of those, delivered in the measuring window
  std::uint64_t gaps = 0;          // seqs skipped over
  std::uint64_t dups = 0;          // seqs seen before
  std::uint64_t missing = 0;       // accepted, never delivered
  std::uint64_t order_errors = 0;  // a producer's event before one it sent earlier
  std::uint64_t foreign = 0;       // events this run did not publish
  latency_histogram latency;       // publish to delivery, sent in the window
  std::chrono::steady_clock::time_point last_delivery{};

  void merge(const delivery_counts& o);
};

/// How a subscriber's calls ended and how it came back.
struct resubscribe_counts {
  status_counts status{};  // calls the server ended, not those we ended
  std::uint64_t cutoffs = 0;
  std::uint64_t resubscribes = 0;
  std::uint64_t out_of_range = 0;        // resumed past retention, then live
  std::uint64_t trailer_mismatches = 0;  // trailer resume point != what arrived

  void merge(const resubscribe_counts& o);
};

} // namespace troupe::loadgen
