#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "troupe/rt/flags.hpp"

namespace troupe::host {

using args = std::vector<std::string>;

int serve_command(const args& a);
int health_command(const args& a);
int kv_command(const args& a);
int bench_command(const args& a);

using rt::parse_flags;
using rt::parsed_flags;
using rt::to_u64;

} // namespace troupe::host
