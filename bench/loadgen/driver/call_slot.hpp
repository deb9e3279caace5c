#pragma once

// What the driver needs from a scenario: reusable call slots on the
// driver's completion queues, so a new kind of call plugs in without
// touching the driver. Calls must end by themselves: fan-in streams end in a
// handshake and have their own runner (fanin/fanin_bench.hpp).

#include <chrono>
#include <cstdint>
#include <memory>

#include <grpcpp/channel.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/status.h>

namespace troupe::loadgen {

/// One position for a call in flight, reused call after call so the steady
/// state allocates little beyond what gRPC itself needs per call.
class call_slot {
public:
  virtual ~call_slot() = default;

  /// Starts one call on `cq`; each of its events carries tag().
  virtual void start(grpc::CompletionQueue* cq,
                     std::chrono::system_clock::time_point deadline) = 0;

  /// One event of this slot's call; true once the call has ended and
  /// status() holds how. Streaming calls see several events per call.
  virtual bool on_event(bool ok) = 0;

  virtual const grpc::Status& status() const = 0;

  void* tag() { return this; }

  // The driver's bookkeeping for the call in flight.
  std::chrono::steady_clock::time_point intended{};
  bool measured = false;
};

class scenario {
public:
  virtual ~scenario() = default;

  /// A slot whose calls go over `channel`; `seed` differs per slot so
  /// random choices (keys, operations) do not march in step.
  virtual std::unique_ptr<call_slot> make_slot(const std::shared_ptr<grpc::Channel>& channel,
                                               std::uint64_t seed) = 0;
};

} // namespace troupe::loadgen
