#pragma once

// Input rules of troupe.fanin.v1.FanIn. Each check returns the
// INVALID_ARGUMENT status naming the offending field, or nothing.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "troupe/fanin/v1/fanin.pb.h"
#include "troupe/rt/call_status.hpp"

namespace troupe::fanin {

inline constexpr std::size_t max_topic_bytes = 128;
inline constexpr std::size_t max_producer_bytes = 256;

/// [A-Za-z0-9._-]{1,128}
bool valid_topic_name(const std::string& topic) noexcept;

std::optional<rt::call_status> check_topic(const std::string& topic, const std::string& field);

/// One message of a Publish stream.
std::optional<rt::call_status> check(const v1::PublishRequest& r, std::uint64_t max_payload_bytes);

/// Non-empty list of valid topics; start_after only for listed topics; no
/// two topics that would share a trailing-metadata key.
std::optional<rt::call_status> check(const v1::SubscribeRequest& r);

/// `troupe-last-seq-<topic>`: HTTP/2 header names are lowercase, so the
/// topic's letters are lowercased.
std::string last_seq_key(const std::string& topic);

} // namespace troupe::fanin
