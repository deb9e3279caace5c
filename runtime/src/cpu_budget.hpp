#pragma once

#include <cstddef>
#include <string>

namespace troupe::rt::detail {

/// CPUs this process may really use: the affinity mask, capped by the
/// cgroup CPU quota (a container given `cpus: 1` gets 1, rounded up). Reads
/// cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us / cpu.cfs_period_us).
std::size_t usable_cpus();

/// Where that figure came from, for the start-up log ("affinity 2, cgroup
/// quota 1.00").
std::string cpu_budget_summary();

} // namespace troupe::rt::detail
