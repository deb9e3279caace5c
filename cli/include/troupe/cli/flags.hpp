#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace troupe::cli {

/// A command's arguments, after the command name.
using args = std::vector<std::string>;

/// `--name value` and `--name=value` pairs; a name listed in `switches`
/// takes "true", and any other bare `--name` at the end takes "".
struct parsed_flags {
  std::vector<std::pair<std::string, std::string>> flags;
  std::vector<std::string> positional;
};
parsed_flags parse_flags(const args& a, const std::vector<std::string>& switches);

/// A flag's value as a whole number without sign; false for anything else.
bool to_u64(const std::string& s, std::uint64_t& out);

} // namespace troupe::cli
