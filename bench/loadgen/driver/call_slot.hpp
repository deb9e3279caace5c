#pragma once

// What the bench driver needs from a scenario: reusable call slots that run
// on the driver's completion queues. New services (e.g. fan-in streams)
// plug in by implementing these two classes; the driver stays the same.

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

/// xorshift64*: a few cycles per number, plenty for picking keys.
class fast_rng {
public:
  explicit fast_rng(std::uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ull | 1) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dull;
  }
  /// Uniform in [0, n).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  /// Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

private:
  std::uint64_t state_;
};

} // namespace troupe::loadgen
