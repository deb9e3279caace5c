#pragma once

// gRPC client plumbing both load generators share.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>

namespace troupe::loadgen {

struct channel_options {
  /// gRPC keeps every message a client stream sends, for a transparent
  /// retry, until the stream has sent grpc.per_rpc_retry_buffer_size
  /// (256 KiB); then it frees them all at once. With 50 producers crossing
  /// that mark together (~2,150 events into each stream), the free stalled
  /// the producer thread for 25-35 ms in the middle of every run, which
  /// showed as publish latency of whichever server was measured. Long-lived
  /// streams turn retries off.
  bool retries = true;
  /// A paced reader should look slow to the server: with BDP probing the
  /// window grows until megabytes wait unread in this process.
  bool bdp_probe = true;
};

/// A channel over its own TCP connection, as a separate client would have:
/// a private subchannel pool, and `name` (unique per channel) so that gRPC
/// does not share one connection among otherwise equal channels.
std::shared_ptr<grpc::Channel> open_channel(const std::string& target, const std::string& name,
                                            const channel_options& opts = {});

/// Starts connecting every channel at once, then waits until `until`; how
/// many are connected.
std::size_t connect_all(const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                        std::chrono::system_clock::time_point until);

/// Shuts `cq` down and takes what is left on it: gRPC requires a queue to be
/// drained before it is destroyed.
void shut_down_and_drain(grpc::CompletionQueue& cq);

} // namespace troupe::loadgen
