#include "fanin/trailers.hpp"

#include "troupe/cli/flags.hpp"

namespace troupe::loadgen {

std::string last_seq_key(const std::string& topic) {
  std::string key = "troupe-last-seq-";
  for (char c : topic)
    key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  return key;
}

std::optional<std::uint64_t> trailer_u64(const grpc::ClientContext& ctx, const std::string& key) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(key);
  std::uint64_t n = 0;
  if (it == md.end() || !cli::to_u64(std::string(it->second.data(), it->second.size()), n))
    return std::nullopt;
  return n;
}

} // namespace troupe::loadgen
