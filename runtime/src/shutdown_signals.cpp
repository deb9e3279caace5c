#include "shutdown_signals.hpp"

#include <absl/synchronization/mutex.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>
#include <unistd.h>

namespace troupe::rt::detail {

namespace {

sigset_t shutdown_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

} // namespace

void block_shutdown_signals() {
  auto set = shutdown_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_shutdown_signal() {
  auto set = shutdown_set();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

void exit_on_second_signal() {
  std::thread([] {
    auto again = wait_for_shutdown_signal();
    spdlog::warn("received {} again: exiting without draining",
                 again == SIGINT ? "SIGINT" : "SIGTERM");
    spdlog::default_logger()->flush();
    _exit(1);
  }).detach();
}

void skip_abseil_deadlock_detection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

} // namespace troupe::rt::detail
