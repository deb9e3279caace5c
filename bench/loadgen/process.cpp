#include "process.hpp"

#include <csignal>
#include <cstdio>
#include <ctime>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace troupe::loadgen {

cpu_times cpu_times::now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return {seconds(ru.ru_utime), seconds(ru.ru_stime)};
}

void tighten_timer_slack() {
  prctl(PR_SET_TIMERSLACK, 1000UL);
}

bool wait_for_stop_signal(std::chrono::milliseconds d, std::atomic<bool>& stop,
                          const char* stopping_note) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec ts{static_cast<time_t>(d.count() / 1000), static_cast<long>(d.count() % 1000) * 1000000};
  if (sigtimedwait(&set, nullptr, &ts) <= 0)
    return false;
  if (stop.exchange(true)) {
    std::fprintf(stderr, "troupe bench: interrupted twice, exiting\n");
    _exit(130);
  }
  std::fprintf(stderr, "troupe bench: stopping; %s\n", stopping_note);
  return true;
}

} // namespace troupe::loadgen
