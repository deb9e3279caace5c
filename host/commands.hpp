#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace troupe::host {

using args = std::vector<std::string>;

int serve_command(const args& a);
int health_command(const args& a);
int kv_command(const args& a);
int bench_command(const args& a);

/// `--name value` and `--name=value` pairs; bare `--name` before another
/// flag or at the end takes `bare_value`.
struct parsed_flags {
  std::vector<std::pair<std::string, std::string>> flags;
  std::vector<std::string> positional;
};
parsed_flags parse_flags(const args& a, const std::vector<std::string>& switches);

/// A flag's value as a whole number without sign; false for anything else.
bool to_u64(const std::string& s, std::uint64_t& out);

} // namespace troupe::host
