#pragma once

// Cancellation and deadlines shared by gRPC threads, actors and the blocking
// pool. Plain C++17 on purpose: this header is included from translation units
// that must stay free of CAF and gRPC headers.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace troupe::rt {

enum class cancel_reason { none, client_cancelled, deadline_exceeded, shutting_down };

// Never returns nullptr; unknown values map to "unknown".
const char* to_string(cancel_reason reason) noexcept;

namespace detail {

// Shared by one cancel_source, its tokens and registrations. Callbacks are
// kept in registration order so shutdown hooks run in a predictable sequence.
class cancel_state {
public:
  cancel_state() = default;
  cancel_state(const cancel_state&) = delete;
  cancel_state& operator=(const cancel_state&) = delete;
  ~cancel_state();

  // Read on hot paths (every streamed message), hence lock-free.
  cancel_reason reason() const noexcept {
    return reason_.load(std::memory_order_acquire);
  }

  bool cancel(cancel_reason reason);

  // Returns 0 when the callback already ran inline because the state was
  // cancelled; otherwise an id for deregister().
  std::uint64_t add(std::function<void(cancel_reason)>& fn);

  // After this returns, the callback is neither running on another thread nor
  // going to run. Running it on *this* thread (deregistering from inside the
  // callback) is tolerated: waiting for ourselves would deadlock.
  void deregister(std::uint64_t id) noexcept;

  // Links this state to a parent token; kept here so the link lives exactly
  // as long as the child.
  void set_parent_link(std::uint64_t id, std::shared_ptr<cancel_state> parent) noexcept {
    parent_id_ = id;
    parent_ = std::move(parent);
  }

private:
  std::atomic<cancel_reason> reason_{cancel_reason::none};
  std::mutex mtx_;
  std::condition_variable callback_done_;
  std::map<std::uint64_t, std::function<void(cancel_reason)>> callbacks_;
  std::uint64_t next_id_ = 1;
  std::uint64_t executing_id_ = 0;
  std::thread::id executing_thread_;
  std::shared_ptr<cancel_state> parent_;
  std::uint64_t parent_id_ = 0;
};

} // namespace detail

// Move-only handle returned by cancel_token::on_cancel. Destroying (or
// reset()ing) it deregisters the callback; if the callback is running on
// another thread at that moment, the destructor waits for it to finish, so
// objects the callback captures by reference may be destroyed right after.
// Discarding it deregisters at once, hence [[nodiscard]].
class [[nodiscard]] cancel_registration {
public:
  cancel_registration() noexcept = default;
  cancel_registration(cancel_registration&& other) noexcept
    : state_(std::move(other.state_)), id_(std::exchange(other.id_, 0)) {}
  cancel_registration& operator=(cancel_registration&& other) noexcept {
    if (this != &other) {
      reset();
      state_ = std::move(other.state_);
      id_ = std::exchange(other.id_, 0);
    }
    return *this;
  }
  cancel_registration(const cancel_registration&) = delete;
  cancel_registration& operator=(const cancel_registration&) = delete;
  ~cancel_registration() { reset(); }

  void reset() noexcept {
    if (state_ && id_ != 0)
      state_->deregister(id_);
    state_.reset();
    id_ = 0;
  }

  // True while a callback is registered and has not been deregistered (it
  // may already have run).
  bool active() const noexcept { return state_ != nullptr && id_ != 0; }

private:
  friend class cancel_token;
  cancel_registration(std::shared_ptr<detail::cancel_state> state, std::uint64_t id) noexcept
    : state_(std::move(state)), id_(id) {}

  std::shared_ptr<detail::cancel_state> state_;
  std::uint64_t id_ = 0;
};

// Cheap to copy (one shared_ptr). A default-constructed token is never
// cancelled and ignores on_cancel callbacks.
class cancel_token {
public:
  cancel_token() noexcept = default;

  bool cancelled() const noexcept { return reason() != cancel_reason::none; }
  cancel_reason reason() const noexcept {
    return state_ ? state_->reason() : cancel_reason::none;
  }
  bool can_be_cancelled() const noexcept { return state_ != nullptr; }

  // Runs `fn` exactly once when the source is cancelled, on the cancelling
  // thread and outside any internal lock. If already cancelled, `fn` runs
  // right here on the caller's thread before on_cancel returns, and the
  // returned registration is inactive. `fn` must not throw (an escaping
  // exception terminates).
  cancel_registration on_cancel(std::function<void(cancel_reason)> fn) const;

private:
  friend class cancel_source;
  explicit cancel_token(std::shared_ptr<detail::cancel_state> state) noexcept
    : state_(std::move(state)) {}

  std::shared_ptr<detail::cancel_state> state_;
};

// Owner side. Copies share the same state.
class cancel_source {
public:
  cancel_source();

  // A source that is cancelled (with the parent's reason) when `parent` is,
  // and can also be cancelled on its own without affecting the parent. The
  // link is dropped when the last copy of the child and its tokens go away.
  static cancel_source child_of(const cancel_token& parent);

  cancel_token token() const noexcept { return cancel_token{state_}; }

  // Idempotent: the first reason wins. Returns true only for the call that
  // actually cancelled. `cancel_reason::none` is rejected (returns false).
  // Registered callbacks run on this thread before cancel returns.
  bool cancel(cancel_reason reason);

  bool cancelled() const noexcept { return reason() != cancel_reason::none; }
  cancel_reason reason() const noexcept {
    return state_ ? state_->reason() : cancel_reason::none;
  }

private:
  std::shared_ptr<detail::cancel_state> state_;
};

// A point on the steady clock, or "never". gRPC reports deadlines on the
// system clock, which can jump; converting once at the edge keeps every
// comparison inside the host monotonic.
struct deadline {
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  time_point when = time_point::max();

  constexpr deadline() noexcept = default;
  constexpr explicit deadline(time_point at) noexcept : when(at) {}

  static constexpr deadline never() noexcept { return deadline{}; }

  // Saturates: a duration too large to represent yields never(); zero or
  // negative yields a deadline that is already expired at `now`.
  template <class Rep, class Period>
  static deadline after(std::chrono::duration<Rep, Period> d,
                        time_point now = clock::now()) noexcept {
    using wide = std::chrono::duration<long double, std::nano>;
    if (d <= std::chrono::duration<Rep, Period>::zero())
      return deadline{now};
    if (wide(d) >= wide(time_point::max() - now))
      return never();
    return deadline{now + std::chrono::ceil<clock::duration>(d)};
  }

  // system_clock::time_point::max() (gRPC's "no deadline") maps to never().
  static deadline from_system(std::chrono::system_clock::time_point at,
                              time_point steady_now = clock::now(),
                              std::chrono::system_clock::time_point system_now
                              = std::chrono::system_clock::now()) noexcept;

  // Inverse of from_system, for setting deadlines on outgoing gRPC calls.
  std::chrono::system_clock::time_point
  to_system(time_point steady_now = clock::now(),
            std::chrono::system_clock::time_point system_now
            = std::chrono::system_clock::now()) const noexcept;

  bool is_never() const noexcept { return when == time_point::max(); }

  bool expired(time_point now = clock::now()) const noexcept {
    return !is_never() && now >= when;
  }

  // clock::duration::max() for never(), zero once expired.
  clock::duration remaining(time_point now = clock::now()) const noexcept {
    if (is_never())
      return clock::duration::max();
    return now >= when ? clock::duration::zero() : when - now;
  }

  static constexpr deadline earliest(deadline a, deadline b) noexcept {
    return a.when <= b.when ? a : b;
  }

  friend constexpr bool operator==(deadline a, deadline b) noexcept { return a.when == b.when; }
  friend constexpr bool operator!=(deadline a, deadline b) noexcept { return a.when != b.when; }
  friend constexpr bool operator<(deadline a, deadline b) noexcept { return a.when < b.when; }
};

} // namespace troupe::rt
