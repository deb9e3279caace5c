#pragma once

// Spawned tasks: a body runs as its own CAF actor and completes a promise,
// possibly long after it returned (after timers, requests, or from another
// thread). Awaiting never blocks an actor: the continuation comes back
// through the awaiting actor's mailbox.
//
// Cost per task: one actor, one shared completion record, one cancel source.
// The completion record is thread-safe and independent of any actor, so a
// promise may be completed from gRPC or blocking-pool threads.
//
// Cancellation: cancel() (or the cancel_token passed to spawn_task) decides
// the outcome at once, cancels the token the body was given, and stops the
// task actor. From the moment the outcome is decided, no handler of the task
// actor runs any more (its timers included); a handler that is already
// running finishes, since nothing can preempt it.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <caf/actor_control_block.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>

#include "troupe/rt/call_status.hpp"
#include "troupe/rt/cancellation.hpp"
#include "troupe/rt/timers.hpp"

namespace troupe::rt {
template <class T>
class task;
template <class T>
class task_promise;
} // namespace troupe::rt

// Tasks, promises and tokens travel between actors of one process; they are
// never serialized.
namespace caf {
template <class T>
struct allowed_unsafe_message_type<troupe::rt::task<T>> : std::true_type {};
template <class T>
struct allowed_unsafe_message_type<troupe::rt::task_promise<T>> : std::true_type {};
template <>
struct allowed_unsafe_message_type<troupe::rt::cancel_token> : std::true_type {};
} // namespace caf

namespace troupe::rt {

enum class task_errc {
  cancelled = 1,     // task::cancel(), or the caller's token (client_cancelled)
  deadline_exceeded, // the caller's token was cancelled for its deadline
  shutting_down,     // the caller's token was cancelled by host shutdown
  failed,            // the body reported an application error
  internal,          // the body threw or its actor died before completing
};

const char* to_string(task_errc code) noexcept;

/// What the outcome of a cancelled task is, given why it was cancelled.
task_errc task_errc_from(cancel_reason reason) noexcept;

struct task_error {
  task_error() = default;
  task_error(task_errc c, std::string m, std::optional<call_status> s = std::nullopt)
    : code(c), message(std::move(m)), status(std::move(s)) {}

  task_errc code = task_errc::internal;
  std::string message;
  /// For a task that failed on behalf of a call: the status that call
  /// should end with (e.g. RESOURCE_EXHAUSTED with its pushback).
  std::optional<call_status> status;

  /// The task did not fail on its own but was stopped from outside.
  bool is_cancellation() const noexcept {
    return code == task_errc::cancelled || code == task_errc::deadline_exceeded
           || code == task_errc::shutting_down;
  }
};

/// Either the task's value or the reason it has none.
template <class T>
class task_result {
public:
  static_assert(!std::is_same_v<T, task_error>, "task<task_error> would be ambiguous");

  task_result(T value) : v_(std::in_place_index<0>, std::move(value)) {
  }
  task_result(task_error err) : v_(std::in_place_index<1>, std::move(err)) {
  }

  bool ok() const noexcept {
    return v_.index() == 0;
  }
  explicit operator bool() const noexcept {
    return ok();
  }

  /// Precondition: ok().
  T& value() & {
    return std::get<0>(v_);
  }
  const T& value() const& {
    return std::get<0>(v_);
  }
  T&& value() && {
    return std::get<0>(std::move(v_));
  }

  /// Precondition: !ok().
  const task_error& error() const {
    return std::get<1>(v_);
  }

private:
  std::variant<T, task_error> v_;
};

template <class T>
class task;
template <class T>
class task_promise;

namespace detail {

class task_actor_base;
struct task_access;

/// The part of a task's completion record that does not depend on T.
class task_core_base {
public:
  task_core_base();
  virtual ~task_core_base();
  task_core_base(const task_core_base&) = delete;
  task_core_base& operator=(const task_core_base&) = delete;

  bool done() const noexcept {
    return done_.load(std::memory_order_acquire);
  }

  /// Thread-safe. Decides the outcome as `err` unless already decided.
  virtual bool fail(task_error err) = 0;

  /// Thread-safe: fail() with a cancellation code, then cancel the body's
  /// token with `reason`.
  bool cancel(task_errc code, cancel_reason reason);

  cancel_token body_token() const noexcept {
    return source_.token();
  }

  /// Called once by spawn_task to follow the caller's token.
  void watch(const cancel_token& token, std::weak_ptr<task_core_base> self);

protected:
  // Everything after the outcome is stored (under mtx_, done_ set): runs
  // the waiters, drops the caller-token registration and stops the actor.
  template <class Waiters, class Outcome>
  void settle(Waiters& waiters, const Outcome& outcome);

  void stop_worker() noexcept;

  std::atomic<bool> done_{false};
  std::mutex mtx_;

private:
  friend class task_actor_base;

  // Strong on purpose: nobody else need hold the task actor (handles only
  // see this record), and an unreferenced actor would be collected as
  // unreachable while its promise is still open. Released once done.
  caf::strong_actor_ptr worker_;
  bool worker_gone_ = false;     // on_exit already ran
  task_actor_base* worker_ptr_ = nullptr;
  cancel_source source_;         // the body's token
  cancel_registration caller_;   // on the token given to spawn_task
};

/// The task actor currently running on this thread, if any, so completing a
/// promise from inside its own actor can quit right away instead of sending
/// itself a message.
task_actor_base* current_task_actor() noexcept;

template <class T>
class task_core final : public task_core_base {
public:
  using waiter = std::function<void(const task_result<T>&)>;

  bool complete(task_result<T> r) {
    std::vector<waiter> ws;
    {
      std::lock_guard<std::mutex> lk(mtx_);
      if (done_.load(std::memory_order_relaxed))
        return false;
      outcome_.emplace(std::move(r));
      done_.store(true, std::memory_order_release);
      ws.swap(waiters_);
    }
    settle(ws, *outcome_);
    return true;
  }

  bool fail(task_error err) override {
    return complete(task_result<T>{std::move(err)});
  }

  /// Runs `w` on the completing thread, or right here if already done.
  void on_complete(waiter w) {
    {
      std::lock_guard<std::mutex> lk(mtx_);
      if (!done_.load(std::memory_order_relaxed)) {
        waiters_.push_back(std::move(w));
        return;
      }
    }
    w(*outcome_);
  }

  /// Precondition: done() returned true on this thread, or a message sent
  /// after completion was received.
  const task_result<T>& outcome() const {
    return *outcome_;
  }

private:
  std::optional<task_result<T>> outcome_;
  std::vector<waiter> waiters_;
};

template <class Waiters, class Outcome>
void task_core_base::settle(Waiters& waiters, const Outcome& outcome) {
  for (auto& w : waiters)
    w(outcome);
  waiters.clear();
  cancel_registration caller;
  {
    std::lock_guard<std::mutex> lk(mtx_);
    caller = std::move(caller_);
  }
  caller.reset();
  stop_worker();
}

/// The actor a task body runs in. Non-template so that the message
/// interception lives in one translation unit.
class task_actor_base : public caf::event_based_actor {
public:
  task_actor_base(caf::actor_config& cfg, std::shared_ptr<task_core_base> core);
  ~task_actor_base() override;

  caf::behavior make_behavior() final;
  caf::invoke_message_result consume(caf::mailbox_element& x) override;
  void on_exit() override;
  const char* name() const override;

protected:
  /// Runs the body; an empty behavior means "keep the actor alive until the
  /// promise is completed".
  virtual caf::behavior start() = 0;

  std::shared_ptr<task_core_base> core_;
};

template <class T, class F>
class task_actor final : public task_actor_base {
public:
  template <class G>
  task_actor(caf::actor_config& cfg, std::shared_ptr<task_core<T>> core, G&& body)
    : task_actor_base(cfg, core), typed_core_(std::move(core)), body_(std::forward<G>(body)) {
  }

protected:
  caf::behavior start() override {
    task_promise<T> promise{std::move(typed_core_)};
    // The actor holds a copy as long as it lives: its exit, not the body
    // dropping its copy, is what says the promise can no longer be kept
    // (and a body that throws is reported as such).
    held_ = promise;
    auto body = std::move(body_);
    if constexpr (std::is_convertible_v<std::invoke_result_t<F&, caf::event_based_actor*,
                                                             task_promise<T>>,
                                        caf::behavior>) {
      return body(this, std::move(promise));
    } else {
      body(this, std::move(promise));
      return {};
    }
  }

private:
  std::shared_ptr<task_core<T>> typed_core_;
  F body_;
  task_promise<T> held_;
};

} // namespace detail

namespace detail {

/// Shared by every copy of one promise: when the last copy goes without an
/// outcome, nothing can complete the task any more, and it fails at once
/// rather than keep its awaiters waiting forever.
template <class T>
struct promise_keeper {
  explicit promise_keeper(std::shared_ptr<task_core<T>> c) noexcept : core(std::move(c)) {}
  promise_keeper(const promise_keeper&) = delete;
  promise_keeper& operator=(const promise_keeper&) = delete;
  ~promise_keeper() {
    if (core && !core->done())
      core->fail(task_error{task_errc::internal, "the task's promise was dropped unanswered"});
  }
  std::shared_ptr<task_core<T>> core;
};

} // namespace detail

/// The body's side of a task. Copyable; the first completion wins and later
/// ones (including any after cancellation) return false and are ignored.
/// When every copy is gone without an outcome the task fails (internal).
template <class T>
class task_promise {
public:
  task_promise() noexcept = default;

  bool set_value(T value) const {
    return keeper_ && keeper_->core->complete(task_result<T>{std::move(value)});
  }
  bool set_error(task_error err) const {
    return keeper_ && keeper_->core->complete(task_result<T>{std::move(err)});
  }
  bool set_error(task_errc code, std::string message) const {
    return set_error(task_error{code, std::move(message)});
  }

  /// Cancelled when the task is cancelled; hand it to work that runs outside
  /// the task actor (blocking pool, outgoing calls) so that it stops too.
  cancel_token token() const noexcept {
    return keeper_ ? keeper_->core->body_token() : cancel_token{};
  }

  /// The outcome is decided (by this promise or by cancellation).
  bool done() const noexcept {
    return !keeper_ || keeper_->core->done();
  }

private:
  template <class, class>
  friend class detail::task_actor;
  friend struct detail::task_access;
  explicit task_promise(std::shared_ptr<detail::task_core<T>> core)
    : keeper_(std::make_shared<detail::promise_keeper<T>>(std::move(core))) {
  }
  std::shared_ptr<detail::promise_keeper<T>> keeper_;
};

/// The status a call should end with when the task it waited for failed:
/// the status the task carried, the cancellation's, or INTERNAL.
inline call_status status_of(const task_error& err) {
  if (err.status)
    return *err.status;
  switch (err.code) {
    case task_errc::cancelled:
      return call_status::from_cancel(cancel_reason::client_cancelled);
    case task_errc::deadline_exceeded:
      return call_status::from_cancel(cancel_reason::deadline_exceeded);
    case task_errc::shutting_down:
      return call_status::from_cancel(cancel_reason::shutting_down);
    case task_errc::failed:
    case task_errc::internal:
      break;
  }
  return call_status::of(status_code::internal, err.message);
}

/// Handle to a spawned task, like a JoinHandle. Copyable; dropping every
/// handle detaches the task (it keeps running).
template <class T>
class task {
public:
  task() noexcept = default;

  bool valid() const noexcept {
    return core_ != nullptr;
  }
  bool done() const noexcept {
    return core_ && core_->done();
  }

  /// Thread-safe. No-op when the task already finished.
  void cancel() const {
    if (core_)
      core_->cancel(task_errc::cancelled, cancel_reason::client_cancelled);
  }

  /// The outcome, if decided; a copy, since several parties may await.
  std::optional<task_result<T>> try_result() const {
    if (!done())
      return std::nullopt;
    return core_->outcome();
  }

  /// Awaits from inside an actor without blocking it: exactly one of
  /// `on_value(const T&)` / `on_error(const task_error&)` runs later in
  /// `self`'s context. Call in `self`'s context.
  template <class OnValue, class OnError>
  void then(caf::scheduled_actor* self, OnValue on_value, OnError on_error) const {
    auto core = core_;
    if (!core)
      return;
    auto cb = make_actor_callback(
      self, [core, on_value = std::move(on_value), on_error = std::move(on_error)]() mutable {
        const auto& r = core->outcome();
        if (r.ok())
          on_value(r.value());
        else
          on_error(r.error());
      });
    core->on_complete([cb](const task_result<T>&) { cb.post(); });
  }

  /// For tests and non-actor threads only: blocks the calling thread until
  /// the task is done or `timeout` passes (then nullopt). Never call it from
  /// an actor: it would hold a scheduler thread.
  template <class Rep, class Period>
  std::optional<task_result<T>> await_blocking(std::chrono::duration<Rep, Period> timeout) const {
    if (!core_)
      return std::nullopt;
    auto signal = std::make_shared<std::promise<void>>();
    auto ready = signal->get_future();
    core_->on_complete([signal](const task_result<T>&) { signal->set_value(); });
    if (ready.wait_for(timeout) != std::future_status::ready)
      return std::nullopt;
    return core_->outcome();
  }

private:
  friend struct detail::task_access;
  explicit task(std::shared_ptr<detail::task_core<T>> core) noexcept : core_(std::move(core)) {
  }
  std::shared_ptr<detail::task_core<T>> core_;
};

namespace detail {

struct task_access {
  template <class T>
  static task<T> make(std::shared_ptr<task_core<T>> core) noexcept {
    return task<T>{std::move(core)};
  }
  template <class T>
  static const std::shared_ptr<task_core<T>>& core(const task<T>& t) noexcept {
    return t.core_;
  }
  template <class T>
  static task_promise<T> promise(std::shared_ptr<task_core<T>> core) noexcept {
    return task_promise<T>{std::move(core)};
  }
};

} // namespace detail

/// Spawns `body(caf::event_based_actor* self, task_promise<T> promise)` as a
/// new actor. The body may return void or a caf::behavior for the task actor
/// to handle further messages with; either way the actor lives until the
/// promise is completed (so the body may finish later from timers, response
/// handlers or other threads) and quits right after. `token` is the caller's
/// cancellation (say, a gRPC client going away): when it fires the task ends
/// with task_errc_from(reason). An already-cancelled token spawns nothing.
/// A body that never completes its promise keeps its actor, and with it the
/// actor system's shutdown, waiting: give it a token or cancel it.
template <class T, class F>
task<T> spawn_task(caf::actor_system& sys, F&& body, cancel_token token = {}) {
  auto core = std::make_shared<detail::task_core<T>>();
  if (token.cancelled()) {
    core->fail(task_error{task_errc_from(token.reason()), to_string(token.reason())});
    return detail::task_access::make(std::move(core));
  }
  sys.spawn<detail::task_actor<T, std::decay_t<F>>>(core, std::forward<F>(body));
  if (token.can_be_cancelled())
    core->watch(token, core);
  return detail::task_access::make(std::move(core));
}

namespace detail {

/// The arbitration both try_joins share: `settle` runs exactly once, on the
/// thread that completes the last task or fails the first, with every value
/// in input order or with that first error (after cancelling the rest).
template <class T, class Settle>
void try_join_core(std::vector<task<T>> tasks, Settle settle) {
  struct state {
    std::vector<task<T>> tasks;
    std::atomic<std::size_t> remaining{0};
    std::atomic<bool> settled{false};
    Settle settle;
    explicit state(Settle s) : settle(std::move(s)) {}
  };
  auto st = std::make_shared<state>(std::move(settle));
  st->remaining.store(tasks.size());
  st->tasks = std::move(tasks);
  auto fail_first = [st](task_error err) {
    if (st->settled.exchange(true, std::memory_order_acq_rel))
      return;
    for (auto& t : st->tasks)
      t.cancel();
    st->settle(task_result<std::vector<T>>{std::move(err)});
  };
  auto succeed = [st] {
    std::vector<T> values;
    values.reserve(st->tasks.size());
    for (auto& t : st->tasks)
      values.push_back(task_access::core(t)->outcome().value());
    st->settle(task_result<std::vector<T>>{std::move(values)});
  };
  if (st->tasks.empty()) {
    st->settled.store(true);
    succeed();
    return;
  }
  for (auto& t : st->tasks) {
    if (!task_access::core(t)) {
      fail_first(task_error{task_errc::internal, "invalid task handle"});
      continue;
    }
    task_access::core(t)->on_complete([st, fail_first, succeed](const task_result<T>& r) {
      if (!r.ok()) {
        fail_first(r.error());
        return;
      }
      if (st->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1
          && !st->settled.exchange(true, std::memory_order_acq_rel))
        succeed();
    });
  }
}

} // namespace detail

/// Waits for every task to succeed: `on_ok(std::vector<T>)` in input order.
/// The first failure cancels all the others and is reported alone through
/// `on_error(const task_error&)`. Exactly one of the two runs, in `self`'s
/// context.
template <class T, class OnOk, class OnError>
void try_join(caf::scheduled_actor* self, std::vector<task<T>> tasks, OnOk on_ok,
              OnError on_error) {
  auto outcome = std::make_shared<std::optional<task_result<std::vector<T>>>>();
  auto cb = make_actor_callback(
    self, [outcome, on_ok = std::move(on_ok), on_error = std::move(on_error)]() mutable {
      auto& r = **outcome;
      if (r.ok())
        on_ok(std::move(r).value());
      else
        on_error(r.error());
    });
  detail::try_join_core(std::move(tasks), [outcome, cb](task_result<std::vector<T>> r) {
    outcome->emplace(std::move(r));
    cb.post();
  });
}

/// try_join for code that is not an actor (a gRPC handler, another
/// thread): exactly one of `on_ok` / `on_error` runs, on the thread that
/// completes the last task or fails the first.
template <class T, class OnOk, class OnError>
void try_join(std::vector<task<T>> tasks, OnOk on_ok, OnError on_error) {
  detail::try_join_core(std::move(tasks), [on_ok = std::move(on_ok), on_error = std::move(
                                                                        on_error)](
                                            task_result<std::vector<T>> r) mutable {
    if (r.ok())
      on_ok(std::move(r).value());
    else
      on_error(r.error());
  });
}

/// A task whose outcome another party supplies, e.g. the actor a request is
/// sent to: the promise travels with the request. When `parent` fires the
/// task ends cancelled, and so does the promise's token(), so the work it
/// stands for can stop.
template <class T>
std::pair<task<T>, task_promise<T>> make_task(cancel_token parent = {}) {
  auto core = std::make_shared<detail::task_core<T>>();
  if (parent.cancelled())
    core->cancel(task_errc_from(parent.reason()), parent.reason());
  else if (parent.can_be_cancelled())
    core->watch(parent, core);
  return {detail::task_access::make(core), detail::task_access::promise(std::move(core))};
}

} // namespace troupe::rt
