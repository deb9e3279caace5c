#include "troupe/cli/flags.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace troupe::cli {

parsed_flags parse_flags(const args& a, const std::vector<std::string>& switches) {
  parsed_flags out;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& arg = a[i];
    if (arg.rfind("--", 0) != 0 || arg == "--") {
      out.positional.push_back(arg);
      continue;
    }
    auto eq = arg.find('=');
    if (eq != std::string::npos) {
      out.flags.emplace_back(arg.substr(0, eq), arg.substr(eq + 1));
      continue;
    }
    bool is_switch = std::find(switches.begin(), switches.end(), arg) != switches.end();
    if (is_switch || i + 1 == a.size()) {
      out.flags.emplace_back(arg, is_switch ? "true" : "");
      continue;
    }
    out.flags.emplace_back(arg, a[++i]);
  }
  return out;
}

bool to_u64(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s[0] == '-')
    return false;
  errno = 0;
  char* end = nullptr;
  auto v = std::strtoull(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  out = v;
  return true;
}

} // namespace troupe::cli
