#pragma once

#include <memory>
#include <vector>

#include <grpcpp/completion_queue.h>

#include "fanin/start_gate.hpp"
#include "fanin/subscriber.hpp"

namespace troupe::loadgen {

/// A completion queue, the subscribers on it and the thread that runs them.
/// Subscribers share a few of these (--subscriber-threads) rather than
/// having a thread each: a thread per stream cost the client more in
/// context switches than in reading.
class subscriber_thread {
public:
  explicit subscriber_thread(start_gate& gate) : gate_(gate) {}

  subscriber* add(std::unique_ptr<subscriber> s) {
    subs_.push_back(std::move(s));
    return subs_.back().get();
  }

  /// Until every subscriber on it has finished.
  void run();

private:
  start_gate& gate_;
  grpc::CompletionQueue cq_; // outlives the subscribers' calls and alarms
  std::vector<std::unique_ptr<subscriber>> subs_;
};

} // namespace troupe::loadgen
