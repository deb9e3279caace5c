#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "troupe/kv/v1/kv.pb.h"
#include "troupe/rt/call_status.hpp"

namespace troupe::kv {

inline constexpr std::size_t max_key_bytes = 1024;
inline constexpr std::uint32_t default_scan_limit = 1000;
inline constexpr std::uint32_t max_scan_limit = 10000;

/// Each returns the INVALID_ARGUMENT status naming the offending field, or
/// nothing when the request is valid.
std::optional<rt::call_status> check_key(const std::string& key, const char* field = "key");
std::optional<rt::call_status> check(const v1::GetRequest& r);
std::optional<rt::call_status> check(const v1::PutRequest& r, std::uint64_t max_value_bytes);
std::optional<rt::call_status> check(const v1::DeleteRequest& r);
std::optional<rt::call_status> check(const v1::MultiGetRequest& r);
std::optional<rt::call_status> check(const v1::ScanRequest& r);

/// 0 means the default.
std::uint32_t effective_scan_limit(std::uint32_t requested);

} // namespace troupe::kv
