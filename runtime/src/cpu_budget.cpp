#include "cpu_budget.hpp"

#include <sched.h>

#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

namespace troupe::rt::detail {

namespace {

std::size_t affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    auto n = CPU_COUNT(&set);
    if (n > 0)
      return static_cast<std::size_t>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

/// The cgroup (v2: the unified one) of this process, as a path under /sys/fs/cgroup.
std::string own_cgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // "0::/path" (v2) or "4:cpu,cpuacct:/path" (v1)
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos)
      continue;
    auto controllers = line.substr(first + 1, second - first - 1);
    auto path = line.substr(second + 1);
    if (controller.empty() ? controllers.empty()
                           : ("," + controllers + ",").find("," + controller + ",")
                               != std::string::npos)
      return path;
  }
  return "/";
}

std::optional<double> quota_v2() {
  // In a container the process's cgroup is usually mounted as the root.
  for (auto dir : {"/sys/fs/cgroup" + own_cgroup(""), std::string("/sys/fs/cgroup")}) {
    std::ifstream in(dir + "/cpu.max");
    std::string quota;
    double period = 0;
    if (!(in >> quota >> period))
      continue;
    if (quota == "max" || period <= 0)
      return std::nullopt;
    return std::stod(quota) / period;
  }
  return std::nullopt;
}

std::optional<double> quota_v1() {
  for (auto dir : {"/sys/fs/cgroup/cpu" + own_cgroup("cpu"), std::string("/sys/fs/cgroup/cpu"),
                   "/sys/fs/cgroup/cpu,cpuacct" + own_cgroup("cpu")}) {
    std::ifstream q(dir + "/cpu.cfs_quota_us");
    std::ifstream p(dir + "/cpu.cfs_period_us");
    double quota = 0;
    double period = 0;
    if (!(q >> quota) || !(p >> period))
      continue;
    if (quota <= 0 || period <= 0)
      return std::nullopt;
    return quota / period;
  }
  return std::nullopt;
}

std::optional<double> cgroup_quota() {
  if (auto q = quota_v2())
    return q;
  return quota_v1();
}

} // namespace

std::size_t usable_cpus() {
  auto n = affinity_cpus();
  if (auto q = cgroup_quota())
    n = std::min(n, static_cast<std::size_t>(std::max(1.0, std::ceil(*q - 1e-9))));
  return std::max<std::size_t>(1, n);
}

std::string cpu_budget_summary() {
  std::ostringstream out;
  out << "affinity " << affinity_cpus();
  if (auto q = cgroup_quota())
    out << ", cgroup quota " << *q;
  else
    out << ", no cgroup quota";
  return out.str();
}

} // namespace troupe::rt::detail
