#include "metrics/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "metrics/text_format.hpp"

namespace troupe::rt::detail {

namespace {

struct proc_stat {
  double cpu_seconds = 0;
  double start_time = 0; // seconds since the epoch
  std::int64_t threads = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t resident_bytes = 0;
  bool ok = false;
};

double boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

proc_stat read_stat() {
  proc_stat s;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line))
    return s;
  // The command name (field 2) may hold spaces: fields count from after ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return s;
  std::istringstream rest(line.substr(close + 2));
  std::string f[50];
  for (int i = 0; i < 50 && rest >> f[i]; ++i) {
  }
  // f[0] is field 3 (state): utime 14, stime 15, num_threads 20,
  // starttime 22, vsize 23, rss 24.
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  try {
    s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    s.threads = std::stoll(f[17]);
    s.start_time = boot_time() + std::stod(f[19]) / ticks;
    s.virtual_bytes = std::stoull(f[20]);
    s.resident_bytes = static_cast<std::uint64_t>(std::stod(f[21]) * page);
    s.ok = true;
  } catch (const std::exception&) {
  }
  return s;
}

std::int64_t open_fds() {
  std::int64_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.')
        ++n;
    closedir(d);
    --n; // the one opendir holds
  }
  return n;
}

void gauge_line(std::string& out, const char* name, const char* type, const char* help,
                double v) {
  write_header(out, name, type, help);
  out += name;
  out += ' ';
  append_number(out, v);
  out += '\n';
}

} // namespace

void write_process_metrics(std::string& out) {
  auto s = read_stat();
  if (s.ok) {
    gauge_line(out, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.", s.cpu_seconds);
    gauge_line(out, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.", s.start_time);
    gauge_line(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
               static_cast<double>(s.resident_bytes));
    gauge_line(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
               static_cast<double>(s.virtual_bytes));
    gauge_line(out, "process_threads", "gauge", "Number of OS threads in the process.",
               static_cast<double>(s.threads));
  }
  gauge_line(out, "process_open_fds", "gauge", "Number of open file descriptors.",
             static_cast<double>(open_fds()));
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
    gauge_line(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
               lim.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(lim.rlim_cur));
}

} // namespace troupe::rt::detail
