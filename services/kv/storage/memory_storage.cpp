#include <map>

#include "kv/storage/scan_bounds.hpp"
#include "kv/storage/storage.hpp"

namespace troupe::kv {
namespace {

class memory_storage final : public storage {
 public:
  explicit memory_storage(shard_slot slot) : slot_(slot) {}

  std::optional<record> get(const std::string& key) override {
    const auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return record{key, it->second.value, it->second.version};
  }

  put_result put(const std::string& key, const std::string& value,
                 std::optional<std::uint64_t> if_version) override {
    const auto it = entries_.find(key);
    const std::uint64_t current = it == entries_.end() ? 0 : it->second.version;
    if (if_version && *if_version != current) return {false, current};
    if (it == entries_.end()) {
      entries_.emplace(key, entry{value, 1});
      return {true, 1};
    }
    it->second.value = value;
    return {true, ++it->second.version};
  }

  bool erase(const std::string& key) override { return entries_.erase(key) > 0; }

  std::vector<record> scan(const std::string& prefix, const std::string& start_after,
                           std::size_t limit) override {
    std::vector<record> out;
    const auto range = detail::scan_range(prefix, start_after);
    if (range.empty) return out;
    for (auto it = entries_.lower_bound(range.lower);
         it != entries_.end() && out.size() < limit; ++it) {
      if (range.upper && !(it->first < *range.upper)) break;
      // Handles never share data, but the shard still only answers for its
      // own keys so that every backend behaves alike.
      if (shard_of_key(it->first, slot_.count) != slot_.index) continue;
      out.push_back(record{it->first, it->second.value, it->second.version});
    }
    return out;
  }

 private:
  struct entry {
    std::string value;
    std::uint64_t version;
  };

  shard_slot slot_;
  // std::string's operator< compares as unsigned char, i.e. memcmp order.
  std::map<std::string, entry> entries_;
};

}  // namespace

std::unique_ptr<storage> open_memory_storage(shard_slot slot) {
  detail::check_slot(slot);
  return std::make_unique<memory_storage>(slot);
}

}  // namespace troupe::kv
