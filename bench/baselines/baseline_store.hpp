#pragma once

// The in-memory key-value map both baselines serve, with troupe's version
// rules, striped by key so that handler threads rarely contend.

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace baseline {

struct entry {
  std::string value;
  std::uint64_t version = 0;
};

class store {
public:
  std::optional<entry> get(const std::string& key);
  /// Returns the new version, or nullopt when if_version does not match.
  std::optional<std::uint64_t> put(const std::string& key, const std::string& value,
                                   std::optional<std::uint64_t> if_version);

private:
  struct stripe {
    std::mutex mtx;
    std::unordered_map<std::string, entry> map;
  };
  stripe& stripe_of(const std::string& key);
  std::array<stripe, 64> stripes_;
};

/// Blocks SIGINT/SIGTERM in this thread (and the threads it starts later),
/// so that only wait_for_stop_signal sees them. Call first in main.
void block_stop_signals();
/// Waits for SIGINT or SIGTERM.
void wait_for_stop_signal();

/// The same Abseil setting troupe's main makes (Debian's Abseil records a
/// lock-order graph on every gRPC lock otherwise), so that comparisons
/// measure the designs, not a library setting. Call in main.
void skip_abseil_deadlock_detection();

/// `--name value` from argv, or the fallback.
std::string flag(int argc, char** argv, const std::string& name, const std::string& fallback);

} // namespace baseline
