#pragma once

// First of {result, deadline, cancellation} wins; the losers are cancelled.
//
// select_first<T> is the thread-safe core: any thread may offer an outcome,
// one atomic exchange picks the winner, and the sink runs exactly once on the
// winning thread. It needs no actor. race() puts an actor around it: the
// deadline is a timer of that actor, the caller's cancel_token is watched,
// the work is started with a token of its own, and the winner is delivered
// to the actor through its mailbox, where the timer is disposed and the
// cancel callback deregistered before on_done runs.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <caf/scheduled_actor.hpp>

#include "troupe/rt/cancellation.hpp"
#include "troupe/rt/timers.hpp"

namespace troupe::rt {

enum class outcome_kind { value, deadline_exceeded, cancelled };

inline const char* to_string(outcome_kind kind) noexcept {
  switch (kind) {
    case outcome_kind::value:
      return "value";
    case outcome_kind::deadline_exceeded:
      return "deadline_exceeded";
    case outcome_kind::cancelled:
      return "cancelled";
  }
  return "unknown";
}

template <class T>
class outcome {
public:
  static outcome of_value(T value) {
    outcome o{outcome_kind::value, cancel_reason::none};
    o.value_.emplace(std::move(value));
    return o;
  }
  static outcome of_deadline() {
    return outcome{outcome_kind::deadline_exceeded, cancel_reason::deadline_exceeded};
  }
  static outcome of_cancel(cancel_reason reason) {
    return outcome{outcome_kind::cancelled, reason};
  }

  outcome_kind kind() const noexcept {
    return kind_;
  }
  bool has_value() const noexcept {
    return kind_ == outcome_kind::value;
  }
  bool deadline_exceeded() const noexcept {
    return kind_ == outcome_kind::deadline_exceeded;
  }
  bool cancelled() const noexcept {
    return kind_ == outcome_kind::cancelled;
  }

  /// Precondition: has_value().
  T& value() & {
    return *value_;
  }
  const T& value() const& {
    return *value_;
  }
  T&& value() && {
    return std::move(*value_);
  }

  /// none for a value, deadline_exceeded for a deadline, otherwise the
  /// reason the caller's token carried.
  cancel_reason reason() const noexcept {
    return reason_;
  }

private:
  outcome(outcome_kind kind, cancel_reason reason) : kind_(kind), reason_(reason) {
  }

  outcome_kind kind_;
  cancel_reason reason_;
  std::optional<T> value_;
};

/// One-shot, thread-safe arbiter. Create it with make_shared (offers may
/// outlive the creator).
template <class T>
class select_first {
public:
  using sink = std::function<void(outcome<T>&&)>;

  explicit select_first(sink on_decided) : sink_(std::move(on_decided)) {
  }
  select_first(const select_first&) = delete;
  select_first& operator=(const select_first&) = delete;

  /// Exactly one call over the object's lifetime returns true; that call
  /// cancels work_token() unless the winner is a value, then runs the sink on
  /// its own thread.
  bool offer(outcome<T> o) {
    if (decided_.exchange(true, std::memory_order_acq_rel))
      return false;
    if (!o.has_value())
      work_.cancel(o.reason());
    // Moved out so its captures are released once it has run.
    auto s = std::move(sink_);
    if (s)
      s(std::move(o));
    return true;
  }
  bool offer_value(T value) {
    // Checked first so a late result is not moved into a dead outcome.
    if (decided())
      return false;
    return offer(outcome<T>::of_value(std::move(value)));
  }
  bool offer_deadline() {
    return offer(outcome<T>::of_deadline());
  }
  bool offer_cancel(cancel_reason reason) {
    return offer(outcome<T>::of_cancel(reason));
  }

  bool decided() const noexcept {
    return decided_.load(std::memory_order_acquire);
  }

  /// For the work: cancelled with the winning reason when a deadline or a
  /// cancellation wins.
  cancel_token work_token() const noexcept {
    return work_.token();
  }

private:
  std::atomic<bool> decided_{false};
  sink sink_;
  cancel_source work_;
};

namespace detail {

template <class T>
struct race_state {
  // The sink may use `this`: whoever calls offer() holds a strong reference
  // to the state (completer, timer, token callback, abandon guard).
  race_state()
    : arbiter([this](outcome<T>&& o) {
        result.emplace(std::move(o));
        // Only the winner gets here. Moving the callback out drops its strong
        // reference to the actor now rather than whenever the work lets go.
        auto cb = std::move(deliver);
        cb.post();
      }) {
  }
  race_state(const race_state&) = delete;
  race_state& operator=(const race_state&) = delete;

  select_first<T> arbiter;
  // Written by the winning thread before it posts `deliver`, read in the
  // actor after the message arrives.
  std::optional<outcome<T>> result;
  actor_callback deliver;
  // Actor-side only.
  timer_handle deadline_timer;
  cancel_registration caller;
};

} // namespace detail

/// Handed to the work: call it with the result, from any thread, at most
/// usefully once. Returns true if the result won the race.
template <class T>
class completer {
public:
  /// One that belongs to no race: calling it does nothing.
  completer() noexcept = default;

  bool operator()(T value) const {
    return state_ && state_->arbiter.offer_value(std::move(value));
  }
  /// The race is decided; the work may stop early.
  bool done() const noexcept {
    return !state_ || state_->arbiter.decided();
  }

private:
  template <class U, class Start, class OnDone>
  friend void race(caf::scheduled_actor*, deadline, cancel_token, Start&&, OnDone&&);
  explicit completer(std::shared_ptr<detail::race_state<T>> st) noexcept : state_(std::move(st)) {
  }
  std::shared_ptr<detail::race_state<T>> state_;
};

/// Runs `start_work(cancel_token work_token, completer<T> complete)` and
/// delivers, later and exactly once in `self`'s context, whichever comes
/// first as `on_done(outcome<T>)`: the value passed to `complete`, the
/// deadline, or the cancellation of `token`. The losers are cancelled: the
/// deadline timer is disposed, the callback on `token` deregistered, and
/// `work_token` cancelled (with deadline_exceeded or the caller's reason)
/// when the work lost. If the deadline has passed or `token` is cancelled
/// already, the work is never started. If `self` quits before delivery, the
/// work is cancelled with shutting_down; called on an actor that is already
/// quitting, race() does nothing at all. Call in `self`'s context.
template <class T, class Start, class OnDone>
void race(caf::scheduled_actor* self, deadline dl, cancel_token token, Start&& start_work,
          OnDone&& on_done) {
  // Without an actor to deliver to nothing may start.
  if (detail::is_quitting(self))
    return;
  if (token.cancelled() || dl.expired()) {
    auto early = token.cancelled() ? outcome<T>::of_cancel(token.reason())
                                   : outcome<T>::of_deadline();
    auto cb = make_actor_callback(
      self, [early = std::move(early), on_done = std::forward<OnDone>(on_done)]() mutable {
        on_done(std::move(early));
      });
    cb.post();
    return;
  }
  auto st = std::make_shared<detail::race_state<T>>();
  // Owned by the delivery handler alone and destroyed with it: normally
  // right after it ran (a no-op then), but also when the actor quits before
  // delivery, in which case the work must stop.
  struct abandon_guard {
    explicit abandon_guard(std::shared_ptr<detail::race_state<T>> s) : st(std::move(s)) {
    }
    abandon_guard(const abandon_guard&) = delete;
    abandon_guard& operator=(const abandon_guard&) = delete;
    ~abandon_guard() {
      st->arbiter.offer_cancel(cancel_reason::shutting_down);
    }
    std::shared_ptr<detail::race_state<T>> st;
  };
  auto guard = std::make_shared<abandon_guard>(st);
  st->deliver = make_actor_callback(
    self, [guard, on_done = std::forward<OnDone>(on_done)]() mutable {
      auto& s = *guard->st;
      s.deadline_timer.cancel();
      s.caller.reset();
      on_done(std::move(*s.result));
    });
  std::weak_ptr<detail::race_state<T>> weak = st;
  if (!dl.is_never())
    st->deadline_timer = at(self, dl.when, [weak] {
      if (auto s = weak.lock())
        s->arbiter.offer_deadline();
    });
  if (token.can_be_cancelled())
    st->caller = token.on_cancel([weak](cancel_reason r) {
      if (auto s = weak.lock())
        s->arbiter.offer_cancel(r);
    });
  // The deadline may have passed while setting up, and the token may have
  // fired inline during on_cancel: either way the work stays unstarted.
  if (dl.expired())
    st->arbiter.offer_deadline();
  if (st->arbiter.decided())
    return;
  start_work(st->arbiter.work_token(), completer<T>{st});
}

} // namespace troupe::rt
