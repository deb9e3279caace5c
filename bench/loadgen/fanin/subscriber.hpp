#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/alarm.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>

#include "fanin/delivery_ledger.hpp"
#include "fanin/fanin_counts.hpp"
#include "fanin/run_clock.hpp"
#include "fanin/start_gate.hpp"
#include "troupe/fanin/v1/fanin.grpc.pb.h"

namespace troupe::loadgen {

class subscriber;

/// A completion queue tag: the subscriber, and whether it is its pacing alarm.
struct subscriber_tag {
  subscriber* owner;
  bool alarm;
};

/// One Subscribe stream to every topic, run on a subscriber thread's
/// completion queue, as a client must run it: when the server cuts it off
/// (RESOURCE_EXHAUSTED), it resubscribes right after what the trailers say
/// the call got. It reads at --subscriber-rate if set, and ends its own call
/// once its ledger has every accepted event.
class subscriber {
public:
  subscriber(const std::shared_ptr<grpc::Channel>& channel, const std::vector<std::string>& topics,
             std::size_t producers, double rate, const run_clock& clock, start_gate& gate);

  // On the subscriber thread.
  void start(grpc::CompletionQueue* cq);
  /// Starts reading once the gate opened; for subscribers parked on it.
  void resume();
  /// One completion; true when the subscriber just finished for good.
  bool on_event(bool ok, bool alarm);

  // From the main thread.
  delivery_ledger& ledger() { return ledger_; }
  /// Ends the call in progress and any resubscribing.
  void stop();
  std::uint64_t cutoffs_so_far() const { return cutoffs_.load(std::memory_order_relaxed); }

  /// Once the subscriber threads are joined.
  resubscribe_counts resubscribes() const;

private:
  enum class state { subscribing, headers, parked, reading, pausing, finishing, done };

  void read();
  void pace_or_read();
  void finish();
  bool finished();
  void resubscribe_after_cutoff();

  std::unique_ptr<troupe::fanin::v1::FanIn::Stub> stub_;
  const std::vector<std::string> topics_;
  const double rate_;
  start_gate& gate_;
  delivery_ledger ledger_;
  grpc::CompletionQueue* cq_ = nullptr;
  subscriber_tag call_tag_{this, false};
  subscriber_tag alarm_tag_{this, true};

  state state_ = state::subscribing;
  bool first_ = true;
  bool ended_by_us_ = false;  // it had everything and cancelled its own call
  std::map<std::string, std::uint64_t> start_after_;
  std::unique_ptr<grpc::ClientAsyncReader<troupe::fanin::v1::Event>> reader_;
  troupe::fanin::v1::Event event_;
  grpc::Status status_;
  grpc::Alarm alarm_;
  std::chrono::steady_clock::time_point next_read_{};
  resubscribe_counts resubscribes_;
  std::atomic<std::uint64_t> cutoffs_{0};

  // The call's context is replaced on each resubscribe while stop() may
  // cancel it from the main thread.
  std::mutex ctx_mtx_;
  std::unique_ptr<grpc::ClientContext> ctx_;
  bool alarm_set_ = false;
  bool stopping_ = false;
};

} // namespace troupe::loadgen
