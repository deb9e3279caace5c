#include "logs/utc_time.hpp"

#include <cstdio>
#include <ctime>

namespace troupe::rt::detail {

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto secs = system_clock::to_time_t(t);
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms));
  return ts;
}

} // namespace troupe::rt::detail
