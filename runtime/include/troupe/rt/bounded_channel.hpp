#pragma once

// Fixed-capacity multi-producer / single-consumer hand-off between gRPC
// threads (producers) and an actor (consumer), or between plain threads.
//
// Back-pressure without unbounded queues: a producer that finds the channel
// full is not parked inside the channel with its value. It keeps its value,
// registers a one-shot notify_when_ready() callback and stops producing (a
// gRPC reactor simply does not start its next read) until called back, then
// retries. So memory is bounded by capacity plus one callback per producer.
//
// The consumer is poked through set_consumer_wakeup() only when the channel
// goes from empty to non-empty, so an actor receives one "drain me" message
// per burst rather than one per item. Protocol for the consumer: after a
// poke, drain until drain() returns 0 (or, when draining in bounded batches,
// re-schedule itself while size() > 0); then check closed_and_drained().

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/rt/cancellation.hpp"

namespace troupe::rt {

enum class send_result { accepted, full, closed };

inline const char* to_string(send_result r) noexcept {
  switch (r) {
    case send_result::accepted:
      return "accepted";
    case send_result::full:
      return "full";
    case send_result::closed:
      return "closed";
  }
  return "unknown";
}

template <class T>
class bounded_channel {
public:
  // Throws std::invalid_argument for capacity 0: such a channel could never
  // accept anything and every producer would wait forever.
  explicit bounded_channel(std::size_t capacity)
    : capacity_(capacity), slots_(check_capacity(capacity)) {}

  bounded_channel(const bounded_channel&) = delete;
  bounded_channel& operator=(const bounded_channel&) = delete;

  // `value` is moved from only when the result is `accepted`; on `full` or
  // `closed` the caller still owns it intact and can retry or fail the call.
  send_result try_send(T&& value) { return try_push(std::move(value)); }

  // Copies only when accepted.
  template <class U = T, std::enable_if_t<std::is_copy_constructible_v<U>, int> = 0>
  send_result try_send(const T& value) {
    return try_push(value);
  }

  // For plain threads only (tests, the blocking pool): never call this from
  // an actor or a gRPC callback, it parks the calling thread. Same ownership
  // rule as try_send. Returns `full` if the channel was still full when
  // `until` passed.
  send_result send_blocking(T&& value, deadline until = deadline::never()) {
    std::shared_ptr<const std::function<void()>> wake;
    {
      std::unique_lock<std::mutex> lk(mtx_);
      auto has_room = [this] { return closed_ || count_ < capacity_; };
      if (!has_room()) {
        ++blocked_senders_;
        if (until.is_never())
          not_full_.wait(lk, has_room);
        else
          not_full_.wait_until(lk, until.when, has_room);
        --blocked_senders_;
      }
      if (closed_)
        return send_result::closed;
      if (count_ == capacity_)
        return send_result::full;
      wake = push_locked(std::move(value));
    }
    poke(wake);
    return send_result::accepted;
  }

  // One-shot: `ready` runs once, outside the lock, when room appears or the
  // channel closes. If there is room (or it is closed) already, `ready` runs
  // right away on the caller's thread before this returns, so a producer
  // that saw `full` a moment ago cannot miss a slot freed in between. It
  // otherwise runs on the consumer's thread (or the closer's), so it must be
  // quick: typically it just re-arms the producer. Each producer must have
  // at most one pending callback; that is what bounds the waiter list.
  void notify_when_ready(std::function<void()> ready) {
    {
      std::lock_guard<std::mutex> lk(mtx_);
      if (!closed_ && count_ == capacity_) {
        waiters_.push_back(std::move(ready));
        return;
      }
    }
    if (ready)
      ready();
  }

  // Called outside the lock on the producer's thread that made the channel
  // non-empty, and once on close(). May be replaced at any time.
  void set_consumer_wakeup(std::function<void()> wake) {
    auto p = wake ? std::make_shared<const std::function<void()>>(std::move(wake)) : nullptr;
    std::lock_guard<std::mutex> lk(mtx_);
    wakeup_ = std::move(p);
  }

  // Consumer side.
  std::optional<T> try_receive() {
    std::optional<T> out;
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard<std::mutex> lk(mtx_);
      if (count_ == 0)
        return out;
      out.emplace(pop_locked());
      ready = room_appeared_locked();
    }
    run_all(ready);
    return out;
  }

  // Plain threads only, like send_blocking. Empty result: closed and
  // drained, or `until` passed.
  std::optional<T> receive_blocking(deadline until = deadline::never()) {
    std::optional<T> out;
    std::vector<std::function<void()>> ready;
    {
      std::unique_lock<std::mutex> lk(mtx_);
      auto has_item = [this] { return closed_ || count_ > 0; };
      if (!has_item()) {
        ++blocked_receivers_;
        if (until.is_never())
          not_empty_.wait(lk, has_item);
        else
          not_empty_.wait_until(lk, until.when, has_item);
        --blocked_receivers_;
      }
      if (count_ == 0)
        return out;
      out.emplace(pop_locked());
      ready = room_appeared_locked();
    }
    run_all(ready);
    return out;
  }

  // Pops up to `max` items in one critical section, wakes waiting producers,
  // then calls fn(T&&) for each item outside the lock (fn may send to this
  // very channel). Returns how many were popped. If fn throws, the items of
  // this batch not yet handed to fn are destroyed and the exception
  // propagates.
  template <class F>
  std::size_t drain(std::size_t max, F&& fn) {
    std::vector<T> batch;
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard<std::mutex> lk(mtx_);
      auto n = max < count_ ? max : count_;
      if (n == 0)
        return 0;
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i)
        batch.push_back(pop_locked());
      ready = room_appeared_locked();
    }
    run_all(ready);
    for (auto& item : batch)
      fn(std::move(item));
    return batch.size();
  }

  // Later sends return `closed`; what was accepted stays receivable. Wakes
  // all waiting producers (their retry will see `closed`), blocked threads,
  // and the consumer. Returns true for the call that closed.
  bool close() {
    std::vector<std::function<void()>> ready;
    std::shared_ptr<const std::function<void()>> wake;
    {
      std::lock_guard<std::mutex> lk(mtx_);
      if (closed_)
        return false;
      closed_ = true;
      ready.swap(waiters_);
      wake = wakeup_;
      not_full_.notify_all();
      not_empty_.notify_all();
    }
    run_all(ready);
    poke(wake);
    return true;
  }

  bool closed() const {
    std::lock_guard<std::mutex> lk(mtx_);
    return closed_;
  }

  // The consumer's "finished" signal: nothing more will ever arrive.
  bool closed_and_drained() const {
    std::lock_guard<std::mutex> lk(mtx_);
    return closed_ && count_ == 0;
  }

  std::size_t size() const {
    std::lock_guard<std::mutex> lk(mtx_);
    return count_;
  }

  std::size_t capacity() const noexcept { return capacity_; }

  // Producers currently parked through notify_when_ready (metrics, tests).
  std::size_t waiting_producers() const {
    std::lock_guard<std::mutex> lk(mtx_);
    return waiters_.size();
  }

private:
  static std::size_t check_capacity(std::size_t capacity) {
    if (capacity == 0)
      throw std::invalid_argument("bounded_channel: capacity must be at least 1");
    return capacity;
  }

  template <class U>
  send_result try_push(U&& value) {
    std::shared_ptr<const std::function<void()>> wake;
    {
      std::lock_guard<std::mutex> lk(mtx_);
      if (closed_)
        return send_result::closed;
      if (count_ == capacity_)
        return send_result::full;
      wake = push_locked(std::forward<U>(value));
    }
    poke(wake);
    return send_result::accepted;
  }

  // Returns the consumer wake-up to run after unlocking, if this push made
  // the channel non-empty.
  template <class U>
  std::shared_ptr<const std::function<void()>> push_locked(U&& value) {
    auto tail = head_ + count_;
    if (tail >= capacity_)
      tail -= capacity_;
    slots_[tail].emplace(std::forward<U>(value));
    if (blocked_receivers_ > 0)
      not_empty_.notify_one();
    return count_++ == 0 ? wakeup_ : nullptr;
  }

  T pop_locked() {
    auto& slot = slots_[head_];
    T out(std::move(*slot));
    slot.reset();
    if (++head_ == capacity_)
      head_ = 0;
    --count_;
    return out;
  }

  // Every parked producer is released, not just one per freed slot: a woken
  // producer may never retry (its stream got cancelled), and waking only it
  // would strand the others while the channel has room. Losers of the race
  // see `full` again and re-register, so the list stays bounded.
  std::vector<std::function<void()>> room_appeared_locked() {
    if (blocked_senders_ > 0)
      not_full_.notify_all();
    std::vector<std::function<void()>> ready;
    ready.swap(waiters_);
    return ready;
  }

  static void run_all(std::vector<std::function<void()>>& fns) {
    for (auto& f : fns)
      if (f)
        f();
  }

  static void poke(const std::shared_ptr<const std::function<void()>>& wake) {
    if (wake && *wake)
      (*wake)();
  }

  const std::size_t capacity_;
  mutable std::mutex mtx_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  // Ring buffer allocated once: the channel's footprint never changes.
  std::vector<std::optional<T>> slots_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  bool closed_ = false;
  std::size_t blocked_senders_ = 0;
  std::size_t blocked_receivers_ = 0;
  std::vector<std::function<void()>> waiters_;
  // shared_ptr so a wake-up can be invoked outside the lock while another
  // thread replaces it.
  std::shared_ptr<const std::function<void()>> wakeup_;
};

} // namespace troupe::rt
