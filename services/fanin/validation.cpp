#include "fanin/validation.hpp"

#include <unordered_map>

namespace troupe::fanin {

namespace {

bool topic_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
         || c == '_' || c == '-';
}

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

bool valid_topic_name(const std::string& topic) noexcept {
  if (topic.empty() || topic.size() > max_topic_bytes)
    return false;
  for (char c : topic)
    if (!topic_char(c))
      return false;
  return true;
}

std::optional<rt::call_status> check_topic(const std::string& topic, const std::string& field) {
  if (topic.empty())
    return rt::call_status::invalid_argument(field, "must not be empty");
  if (topic.size() > max_topic_bytes)
    return rt::call_status::invalid_argument(
      field, "is " + std::to_string(topic.size()) + " bytes, at most "
               + std::to_string(max_topic_bytes) + " allowed");
  if (!valid_topic_name(topic))
    return rt::call_status::invalid_argument(field, "must match [A-Za-z0-9._-]{1,128}");
  return std::nullopt;
}

std::optional<rt::call_status> check(const v1::PublishRequest& r, std::uint64_t max_payload_bytes) {
  if (auto bad = check_topic(r.topic(), "topic"))
    return bad;
  if (r.payload().size() > max_payload_bytes)
    return rt::call_status::invalid_argument(
      "payload", "is " + std::to_string(r.payload().size()) + " bytes, at most "
                   + std::to_string(max_payload_bytes) + " allowed (fanin.max_payload_bytes)");
  if (r.producer().size() > max_producer_bytes)
    return rt::call_status::invalid_argument(
      "producer", "is " + std::to_string(r.producer().size()) + " bytes, at most "
                    + std::to_string(max_producer_bytes) + " allowed");
  return std::nullopt;
}

std::optional<rt::call_status> check(const v1::SubscribeRequest& r) {
  if (r.topics_size() == 0)
    return rt::call_status::invalid_argument("topics", "at least one topic is required");
  // The key each topic's last-seq trailer will use, to refuse two topics
  // that a client could not tell apart in the trailers.
  std::unordered_map<std::string, const std::string*> keys;
  for (int i = 0; i < r.topics_size(); ++i) {
    const auto& t = r.topics(i);
    if (auto bad = check_topic(t, "topics[" + std::to_string(i) + "]"))
      return bad;
    auto [it, fresh] = keys.emplace(last_seq_key(t), &t);
    if (!fresh && *it->second != t)
      return rt::call_status::invalid_argument(
        "topics", "'" + *it->second + "' and '" + t
                    + "' differ only in letter case; one subscription cannot tell their "
                      "troupe-last-seq-<topic> trailers apart (header names are lowercase)");
  }
  for (const auto& [topic, seq] : r.start_after()) {
    bool listed = false;
    for (const auto& t : r.topics())
      listed = listed || t == topic;
    if (!listed)
      return rt::call_status::invalid_argument("start_after",
                                               "names topic '" + topic + "' not in topics");
  }
  return std::nullopt;
}

std::string last_seq_key(const std::string& topic) {
  std::string key = "troupe-last-seq-";
  key.reserve(key.size() + topic.size());
  for (char c : topic)
    key.push_back(ascii_lower(c));
  return key;
}

} // namespace troupe::fanin
