#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <grpcpp/completion_queue.h>

#include "fanin/fanin_counts.hpp"
#include "fanin/producer_stream.hpp"
#include "fanin/run_clock.hpp"
#include "load_split.hpp"
#include "options.hpp"

namespace troupe::loadgen {

/// A completion queue, its producers' streams and one thread. Closed loop:
/// each stream writes again as soon as its last write completed (gRPC holds
/// a write until flow control lets it go). Open loop: the thread's share of
/// --rate is laid out on a fixed schedule, round robin over its streams; an
/// event due while its stream is still busy waits in that stream's backlog,
/// keeping its due time, so the wait counts as latency.
class producer_thread {
public:
  /// `tickets`: closed-loop count runs, events left to write over all threads.
  producer_thread(const options& o, const run_clock& clock, std::atomic<bool>& stop,
                  std::atomic<std::int64_t>& tickets, const thread_share& share)
    : o_(o), clock_(clock), stop_(stop), tickets_(tickets), share_(share) {}

  void add(std::unique_ptr<producer_stream> s) { streams_.push_back(std::move(s)); }
  /// Until every stream has ended.
  void run();

  producer_totals totals;
  std::vector<std::uint64_t> accepted_per_topic;
  std::atomic<std::uint64_t> published_so_far{0};

private:
  std::chrono::steady_clock::time_point scheduled(std::uint64_t k) const {
    return share_.due(clock_.t0, k);
  }
  bool open_loop() const { return o_.open_loop(); }
  bool count_mode() const { return o_.count > 0; }
  /// No more events will be started: time is up, the count is reached or
  /// the run was interrupted.
  bool sending_over(std::chrono::steady_clock::time_point now) const;
  /// Open loop: puts every event now due in its stream's backlog.
  void schedule_due(std::chrono::steady_clock::time_point now);
  /// A stream with nothing in flight: write, close or wait.
  void advance(producer_stream& s, std::chrono::steady_clock::time_point now);
  void on_event(producer_stream& s, bool ok);
  void end_scheduling();
  /// Publishing is over but the server has not taken our last writes and
  /// closed within --deadline-ms: give up on them.
  void give_up_if_stuck(std::chrono::steady_clock::time_point now);
  /// Waits for a completion until the next event is due (or the end of a
  /// closed-loop duration run, or a while); TIMEOUT when none came.
  grpc::CompletionQueue::NextStatus wait_for_event(std::chrono::steady_clock::time_point now,
                                                   void*& tag, bool& ok);
  bool backlogs_empty() const;
  void drop_backlog(producer_stream& s);

  const options& o_;
  const run_clock& clock_;
  std::atomic<bool>& stop_;
  std::atomic<std::int64_t>& tickets_;
  thread_share share_;
  std::chrono::steady_clock::time_point over_since_ = std::chrono::steady_clock::time_point::max();
  bool cancelled_ = false;
  std::uint64_t next_ = 0; // open loop: next schedule index
  bool scheduling_over_ = false;
  std::size_t live_ = 0;
  grpc::CompletionQueue cq_; // outlives the streams bound to it
  std::vector<std::unique_ptr<producer_stream>> streams_;
};

} // namespace troupe::loadgen
