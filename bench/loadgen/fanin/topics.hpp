#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

namespace troupe::loadgen {

/// "P-0", "P-1", ... for `prefix` P.
std::vector<std::string> topic_names(const std::string& prefix, int count);

/// Each topic's last seq from ListTopics, 0 for topics not created yet; on
/// failure nullopt, and `error` says why.
std::optional<std::vector<std::uint64_t>> topic_seqs(const std::shared_ptr<grpc::Channel>& ch,
                                                     const std::vector<std::string>& topics,
                                                     long deadline_ms, std::string& error);

/// The topics' last seqs once two readings 300 ms apart agree (publishes
/// still in the server have landed), or the last reading after `patience`;
/// empty if no reading succeeded.
std::vector<std::uint64_t> settled_topic_seqs(const std::shared_ptr<grpc::Channel>& ch,
                                              const std::vector<std::string>& topics,
                                              long deadline_ms,
                                              std::chrono::milliseconds patience);

} // namespace troupe::loadgen
