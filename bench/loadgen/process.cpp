#include "process.hpp"

#include <csignal>
#include <ctime>

#include <sys/resource.h>

namespace troupe::loadgen {

cpu_times cpu_times::now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return {seconds(ru.ru_utime), seconds(ru.ru_stime)};
}

bool wait_signal(std::chrono::milliseconds d) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec ts{static_cast<time_t>(d.count() / 1000), static_cast<long>(d.count() % 1000) * 1000000};
  return sigtimedwait(&set, nullptr, &ts) > 0;
}

} // namespace troupe::loadgen
