#include "troupe/rt/cancellation.hpp"

namespace troupe::rt {

const char* to_string(cancel_reason reason) noexcept {
  switch (reason) {
    case cancel_reason::none:
      return "none";
    case cancel_reason::client_cancelled:
      return "client_cancelled";
    case cancel_reason::deadline_exceeded:
      return "deadline_exceeded";
    case cancel_reason::shutting_down:
      return "shutting_down";
  }
  return "unknown";
}

namespace detail {

namespace {

// noexcept turns a throwing callback into std::terminate at the call site
// instead of unwinding through cancel() with the state half-updated.
void run_callback(const std::function<void(cancel_reason)>& fn, cancel_reason reason) noexcept {
  if (fn)
    fn(reason);
}

} // namespace

cancel_state::~cancel_state() {
  if (parent_ && parent_id_ != 0)
    parent_->deregister(parent_id_);
}

bool cancel_state::cancel(cancel_reason reason) {
  if (reason == cancel_reason::none)
    return false;
  std::unique_lock<std::mutex> lk(mtx_);
  if (reason_.load(std::memory_order_relaxed) != cancel_reason::none)
    return false;
  reason_.store(reason, std::memory_order_release);
  executing_thread_ = std::this_thread::get_id();
  while (!callbacks_.empty()) {
    auto it = callbacks_.begin();
    executing_id_ = it->first;
    {
      auto fn = std::move(it->second);
      callbacks_.erase(it);
      lk.unlock();
      run_callback(fn, reason);
      // `fn` is destroyed here, still unlocked: its captures may own a
      // registration or a child state whose destructor locks this state.
    }
    lk.lock();
    executing_id_ = 0;
    callback_done_.notify_all();
  }
  executing_thread_ = std::thread::id{};
  return true;
}

std::uint64_t cancel_state::add(std::function<void(cancel_reason)>& fn) {
  {
    std::lock_guard<std::mutex> lk(mtx_);
    if (reason_.load(std::memory_order_relaxed) == cancel_reason::none) {
      auto id = next_id_++;
      callbacks_.emplace(id, std::move(fn));
      return id;
    }
  }
  run_callback(fn, reason());
  return 0;
}

void cancel_state::deregister(std::uint64_t id) noexcept {
  // Declared before the lock so it is destroyed after unlocking, for the same
  // reason as in cancel().
  std::function<void(cancel_reason)> doomed;
  std::unique_lock<std::mutex> lk(mtx_);
  if (auto it = callbacks_.find(id); it != callbacks_.end()) {
    doomed = std::move(it->second);
    callbacks_.erase(it);
    lk.unlock();
    return;
  }
  if (executing_id_ == id && executing_thread_ != std::this_thread::get_id())
    callback_done_.wait(lk, [&] { return executing_id_ != id; });
}

} // namespace detail

cancel_registration cancel_token::on_cancel(std::function<void(cancel_reason)> fn) const {
  if (!state_)
    return {};
  auto id = state_->add(fn);
  if (id == 0)
    return {};
  return cancel_registration{state_, id};
}

cancel_source::cancel_source() : state_(std::make_shared<detail::cancel_state>()) {}

cancel_source cancel_source::child_of(const cancel_token& parent) {
  cancel_source child;
  if (!parent.state_)
    return child;
  // Weak: a parent (say, the host's shutdown source) must not keep every
  // finished call's child state alive.
  std::function<void(cancel_reason)> forward
    = [weak = std::weak_ptr<detail::cancel_state>(child.state_)](cancel_reason r) {
        if (auto s = weak.lock())
          s->cancel(r);
      };
  if (auto id = parent.state_->add(forward); id != 0)
    child.state_->set_parent_link(id, parent.state_);
  return child;
}

bool cancel_source::cancel(cancel_reason reason) {
  return state_ ? state_->cancel(reason) : false;
}

deadline deadline::from_system(std::chrono::system_clock::time_point at, time_point steady_now,
                               std::chrono::system_clock::time_point system_now) noexcept {
  if (at == std::chrono::system_clock::time_point::max())
    return never();
  if (at <= system_now)
    return deadline{steady_now};
  return after(at - system_now, steady_now);
}

std::chrono::system_clock::time_point
deadline::to_system(time_point steady_now, std::chrono::system_clock::time_point system_now) const
  noexcept {
  using sys = std::chrono::system_clock;
  if (is_never())
    return sys::time_point::max();
  if (when <= steady_now)
    return system_now;
  auto left = when - steady_now;
  using wide = std::chrono::duration<long double, std::nano>;
  if (wide(left) >= wide(sys::time_point::max() - system_now))
    return sys::time_point::max();
  return system_now + std::chrono::ceil<sys::duration>(left);
}

} // namespace troupe::rt
