#pragma once

// One Subscribe call, shared by the topic actors it listens to. Each topic
// delivers into the same bounded stream; the subscription keeps, per topic,
// the last seq the stream accepted, so that whichever way the stream ends it
// can say where to resume (`troupe-last-seq-<topic>` trailers).
//
// Its lock is held across stream->push() so that no topic slips an event in
// after another topic decided to end the stream: the trailers then name
// exactly what the client got. Callbacks the stream may run inline (room
// again, call ended) never take that lock.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fanin/encoded_event.hpp"
#include "troupe/rt/call_status.hpp"
#include "troupe/rt/metrics.hpp"
#include "troupe/rt/server_stream.hpp"

namespace troupe::fanin {

/// What a subscription asks of the topic in one of its slots.
enum class sub_signal {
  start,    // every topic registered and headers went out: start delivering
  writable, // the stream has room again
  ended,    // the call is over: forget the subscription
};

class subscription : public std::enable_shared_from_this<subscription> {
public:
  using stream_ptr = rt::server_stream_ptr;
  /// How a signal reaches the topic of `slot` (a message to its actor).
  using notify_fn = std::function<void(std::size_t slot, sub_signal)>;

  /// `cutoffs` (may be null) counts the times this stream is cut off.
  subscription(std::uint64_t id, stream_ptr stream, std::vector<std::string> topics,
               std::size_t buffer, notify_fn notify, rt::metrics::counter* cutoffs = nullptr);

  std::uint64_t id() const noexcept { return id_; }
  std::size_t size() const noexcept { return topics_.size(); }
  const std::string& topic(std::size_t slot) const { return topics_[slot]; }
  bool open() const;

  /// The topic of `slot` registered; it will deliver from `delivered` + 1
  /// on. The last topic to register sends the response headers, tells the
  /// others to start, and gets true: it starts at once itself.
  bool registered(std::size_t slot, std::uint64_t delivered);

  enum class outcome { accepted, full, ended };
  /// Pushes `event` (a reference to its bytes) for the topic of `slot`.
  /// With `live`, a full buffer means the client reads slower than the
  /// topic publishes: the stream is ended RESOURCE_EXHAUSTED (and `ended`
  /// returned). Otherwise (replay, paced by the topic) `full` is returned
  /// and the topic waits.
  outcome deliver(std::size_t slot, const encoded_event& event, bool live);

  /// Signals `writable` to the topic of `slot` once the stream has room.
  /// One registration with the stream serves every waiting topic.
  void wait_writable(std::size_t slot);

  /// Ends RESOURCE_EXHAUSTED with every topic's last-seq trailer.
  void cut_off(std::string why);
  /// Ends with `status` (an error before delivery started, e.g. OUT_OF_RANGE).
  void fail(rt::call_status status);
  /// Shutdown: the topic of `slot` delivered all it will; once every topic
  /// has, the stream ends UNAVAILABLE after what is buffered, with the
  /// last-seq trailers a client resumes from on another replica.
  void drained(std::size_t slot);

  /// The call ended: every topic forgets this subscription.
  void forget_everywhere();

  /// Last seq accepted into the stream for `slot` (tests, trailers).
  std::uint64_t delivered(std::size_t slot) const;

private:
  void on_writable();
  /// Claims the end under the lock; false when already ended.
  bool claim_end_locked(rt::call_status& status, bool with_positions);

  const std::uint64_t id_;
  const stream_ptr stream_;
  const std::vector<std::string> topics_;
  const std::size_t buffer_;
  const notify_fn notify_;
  rt::metrics::counter* const cutoffs_;

  mutable std::mutex mtx_;
  std::vector<std::uint64_t> delivered_; // per slot
  std::vector<bool> known_;              // per slot: registered
  bool ended_ = false;

  std::atomic<std::size_t> unregistered_;
  std::atomic<std::size_t> undrained_;

  std::mutex writable_mtx_;
  std::vector<std::size_t> waiting_;
  bool armed_ = false;
};

} // namespace troupe::fanin
