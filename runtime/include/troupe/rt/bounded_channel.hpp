#pragma once

// Fixed-capacity multi-producer / single-consumer hand-off between gRPC
// threads (producers) and an actor (consumer). Nothing in it blocks.
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
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace troupe::rt {

enum class send_result { accepted, full, closed };

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
  send_result try_send(T&& value) {
    std::shared_ptr<const std::function<void()>> wake;
    {
      std::lock_guard<std::mutex> lk(mtx_);
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
  // all waiting producers (their retry will see `closed`) and the consumer.
  // Returns true for the call that closed.
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
    }
    run_all(ready);
    poke(wake);
    return true;
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

  // Returns the consumer wake-up to run after unlocking, if this push made
  // the channel non-empty.
  std::shared_ptr<const std::function<void()>> push_locked(T&& value) {
    auto tail = head_ + count_;
    if (tail >= capacity_)
      tail -= capacity_;
    slots_[tail].emplace(std::move(value));
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
  // Ring buffer allocated once: the channel's footprint never changes.
  std::vector<std::optional<T>> slots_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  bool closed_ = false;
  std::vector<std::function<void()>> waiters_;
  // shared_ptr so a wake-up can be invoked outside the lock while another
  // thread replaces it.
  std::shared_ptr<const std::function<void()>> wakeup_;
};

} // namespace troupe::rt
