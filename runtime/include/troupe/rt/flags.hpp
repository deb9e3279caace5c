#pragma once

// Command-line flags the way serve() reads them: `--name value` and
// `--name=value`; a switch (or a flag with nothing after it) takes "true"
// (or ""). For your own commands beside serve, too.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace troupe::rt {

struct parsed_flags {
  std::vector<std::pair<std::string, std::string>> flags;
  std::vector<std::string> positional;
};

parsed_flags parse_flags(const std::vector<std::string>& args,
                         const std::vector<std::string>& switches);

/// A flag's value as a whole number without sign; false for anything else.
bool to_u64(const std::string& s, std::uint64_t& out);

} // namespace troupe::rt
