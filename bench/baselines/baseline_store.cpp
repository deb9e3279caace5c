#include "baseline_store.hpp"

#include <absl/synchronization/mutex.h>

#include <csignal>
#include <functional>

namespace baseline {

store::stripe& store::stripe_of(const std::string& key) {
  return stripes_[std::hash<std::string>{}(key) % stripes_.size()];
}

std::optional<entry> store::get(const std::string& key) {
  auto& s = stripe_of(key);
  std::lock_guard<std::mutex> guard{s.mtx};
  auto i = s.map.find(key);
  if (i == s.map.end())
    return std::nullopt;
  return i->second;
}

std::optional<std::uint64_t> store::put(const std::string& key, const std::string& value,
                                        std::optional<std::uint64_t> if_version) {
  auto& s = stripe_of(key);
  std::lock_guard<std::mutex> guard{s.mtx};
  auto i = s.map.find(key);
  std::uint64_t current = i == s.map.end() ? 0 : i->second.version;
  if (if_version && *if_version != current)
    return std::nullopt;
  auto& e = s.map[key];
  e.value = value;
  e.version = current + 1;
  return e.version;
}

namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

} // namespace

void block_stop_signals() {
  auto set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void wait_for_stop_signal() {
  auto set = stop_signals();
  int sig = 0;
  sigwait(&set, &sig);
}

void skip_abseil_deadlock_detection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

std::string flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (argv[i] == "--" + name)
      return argv[i + 1];
  return fallback;
}

} // namespace baseline
