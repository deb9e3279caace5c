#pragma once

// One-shot timers (an actor's non-blocking sleep) and thread-safe re-entry
// into an actor.
//
// CAF 0.17 has neither disposable timers nor "run this in the actor" actions.
// What it does have, and what every scheduled_actor handles no matter which
// behavior is installed (or whether it is awaiting a response), is the table
// of multiplexed response handlers: a message carrying a registered response
// id runs its handler, and the clock can deliver such a message at a point in
// time (a request timeout) and withdraw it again. Everything here is built on
// that, so timers work in any actor without the actor's behavior knowing.
//
// One CAF rule carries over: while an actor waits in request(...).await(...),
// CAF holds back every other message, timer ticks included, until the awaited
// response arrives. Prefer then() in actors that use timers.
//
// Threading: functions taking `self` must run in that actor's context (inside
// one of its handlers or make_behavior), like every other `self->` call.
// timer_handle::cancel() also belongs to the owner. actor_callback::post() is
// safe from any thread.

#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <caf/actor_clock.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/atom.hpp>
#include <caf/behavior.hpp>
#include <caf/error.hpp>
#include <caf/message_id.hpp>
#include <caf/scheduled_actor.hpp>

namespace troupe::rt {

using timer_duration = caf::actor_clock::duration_type;
using timer_point = caf::actor_clock::time_point; // on std::chrono::steady_clock

/// Payload of a posted actor_callback.
using wake_atom = caf::atom_constant<caf::atom("trp_wake")>;

namespace detail {

/// Rounds up so that a positive delay never becomes "now", and saturates
/// instead of overflowing.
template <class Rep, class Period>
timer_duration to_timer_duration(std::chrono::duration<Rep, Period> d) noexcept {
  using wide = std::chrono::duration<long double, std::nano>;
  if (d <= std::chrono::duration<Rep, Period>::zero())
    return timer_duration::zero();
  if (wide(d) >= wide(timer_duration::max() / 2))
    return timer_duration::max() / 2;
  return std::chrono::ceil<timer_duration>(d);
}

/// True once `self` called quit() or terminated. Handlers registered after
/// that point would keep a quitting actor alive, so nothing registers then.
bool is_quitting(const caf::scheduled_actor* self) noexcept;

/// Registers `bhvr` under a fresh response id of `self` and returns the id.
caf::message_id add_hook(caf::scheduled_actor* self, caf::behavior bhvr);

/// Removes the handler for `rid` without running it (owner context).
void drop_hook(caf::scheduled_actor* self, caf::message_id rid) noexcept;

class timer_state {
public:
  virtual ~timer_state() = default;
  virtual void fire() = 0;
  virtual void release() noexcept = 0;

  caf::scheduled_actor* self = nullptr;
  caf::message_id rid;
  timer_point due;
  bool armed = false;     // a handler and a clock entry exist
  bool cancelled = false;
  bool firing = false;    // fn is on the stack right now
  bool finished = false;  // it has fired
};

template <class F>
class timer_impl final : public timer_state {
public:
  template <class G>
  explicit timer_impl(G&& fn) {
    fn_.emplace(std::forward<G>(fn));
  }
  void fire() override {
    if (fn_)
      (*fn_)();
  }
  void release() noexcept override {
    fn_.reset();
  }

private:
  std::optional<F> fn_;
};

void arm_timer(const std::shared_ptr<timer_state>& st);

} // namespace detail

/// Handle of a timer started with after() or at(). Copies
/// refer to the same timer. Dropping every handle does not stop the timer.
class timer_handle {
public:
  timer_handle() noexcept = default;

  /// After this returns, the callback does not run again, even when its
  /// timeout message is already waiting in the mailbox. Releases the callback
  /// and the clock entry right away. Call from the owning actor only;
  /// calling it from inside the callback itself is fine.
  void cancel() noexcept;

  /// Scheduled and neither cancelled nor (for one-shot timers) fired yet.
  bool active() const noexcept;

  bool valid() const noexcept {
    return state_ != nullptr;
  }

private:
  friend struct timer_access;
  explicit timer_handle(std::shared_ptr<detail::timer_state> st) noexcept
    : state_(std::move(st)) {
  }
  std::shared_ptr<detail::timer_state> state_;
};

struct timer_access {
  template <class F>
  static timer_handle start(caf::scheduled_actor* self, timer_point due, F&& fn) {
    if (detail::is_quitting(self))
      return {};
    auto st = std::make_shared<detail::timer_impl<std::decay_t<F>>>(std::forward<F>(fn));
    st->self = self;
    st->due = due;
    detail::arm_timer(st);
    return timer_handle{std::move(st)};
  }
};

/// Runs `fn()` once in `self`'s context after `delay`; meanwhile the actor
/// keeps handling its other messages. Costs one clock entry and one response
/// handler, no thread. Cancel the returned handle to abandon `fn`.
template <class Rep, class Period, class F>
timer_handle after(caf::scheduled_actor* self, std::chrono::duration<Rep, Period> delay,
                   F&& fn) {
  auto due = self->clock().now() + detail::to_timer_duration(delay);
  return timer_access::start(self, due, std::forward<F>(fn));
}

/// Runs `fn()` once in `self`'s context at `due` (immediately if past).
template <class F>
timer_handle at(caf::scheduled_actor* self, timer_point due, F&& fn) {
  return timer_access::start(self, due, std::forward<F>(fn));
}

/// A one-shot way back into an actor's context from any thread: created in
/// the actor, post()ed from anywhere, and the function then runs once in the
/// actor, in mailbox order. Later posts, and posts after the actor quit, are
/// dropped. It holds a strong reference: an actor nobody else references
/// stays alive while something still means to call it back (as a pending
/// request would), instead of being collected as unreachable.
class actor_callback {
public:
  actor_callback() noexcept = default;

  /// Thread-safe. Returns false for an invalid callback.
  bool post() const;

  bool valid() const noexcept {
    return static_cast<bool>(owner_);
  }

private:
  template <class F>
  friend actor_callback make_actor_callback(caf::scheduled_actor* self, F&& fn);

  caf::strong_actor_ptr owner_;
  caf::message_id rid_;
};

/// Must be called in `self`'s context. On an actor that is quitting it
/// returns an invalid callback whose post() does nothing.
template <class F>
actor_callback make_actor_callback(caf::scheduled_actor* self, F&& fn) {
  actor_callback cb;
  if (detail::is_quitting(self))
    return cb;
  cb.rid_ = detail::add_hook(
    self, caf::behavior{[f = std::forward<F>(fn)](wake_atom) mutable { f(); }});
  cb.owner_ = caf::strong_actor_ptr{self->ctrl()};
  return cb;
}

} // namespace troupe::rt
