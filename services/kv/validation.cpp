#include "kv/validation.hpp"

namespace troupe::kv {

std::optional<rt::call_status> check_key(const std::string& key, const char* field) {
  if (key.empty())
    return rt::call_status::invalid_argument(field, "must not be empty");
  if (key.size() > max_key_bytes)
    return rt::call_status::invalid_argument(
      field, "is " + std::to_string(key.size()) + " bytes, at most "
               + std::to_string(max_key_bytes) + " allowed");
  return std::nullopt;
}

std::optional<rt::call_status> check(const v1::GetRequest& r) {
  return check_key(r.key());
}

std::optional<rt::call_status> check(const v1::PutRequest& r, std::uint64_t max_value_bytes) {
  if (auto bad = check_key(r.key()))
    return bad;
  if (r.value().size() > max_value_bytes)
    return rt::call_status::invalid_argument(
      "value", "is " + std::to_string(r.value().size()) + " bytes, at most "
                 + std::to_string(max_value_bytes) + " allowed (kv.max_value_bytes)");
  return std::nullopt;
}

std::optional<rt::call_status> check(const v1::DeleteRequest& r) {
  return check_key(r.key());
}

std::optional<rt::call_status> check(const v1::MultiGetRequest& r) {
  for (int i = 0; i < r.keys_size(); ++i) {
    auto field = "keys[" + std::to_string(i) + "]";
    if (auto bad = check_key(r.keys(i), field.c_str()))
      return bad;
  }
  return std::nullopt;
}

std::optional<rt::call_status> check(const v1::ScanRequest& r) {
  if (r.limit() > max_scan_limit)
    return rt::call_status::invalid_argument(
      "limit", "is " + std::to_string(r.limit()) + ", at most "
                 + std::to_string(max_scan_limit) + " allowed");
  if (r.prefix().size() > max_key_bytes)
    return rt::call_status::invalid_argument("prefix", "longer than a key may be");
  if (r.start_after().size() > max_key_bytes)
    return rt::call_status::invalid_argument("start_after", "longer than a key may be");
  return std::nullopt;
}

std::uint32_t effective_scan_limit(std::uint32_t requested) {
  return requested == 0 ? default_scan_limit : requested;
}

} // namespace troupe::kv
