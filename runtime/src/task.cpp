#include "troupe/rt/task.hpp"

#include <exception>

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

namespace troupe::rt {

const char* to_string(task_errc code) noexcept {
  switch (code) {
    case task_errc::cancelled:
      return "cancelled";
    case task_errc::deadline_exceeded:
      return "deadline_exceeded";
    case task_errc::shutting_down:
      return "shutting_down";
    case task_errc::failed:
      return "failed";
    case task_errc::internal:
      return "internal";
  }
  return "unknown";
}

task_errc task_errc_from(cancel_reason reason) noexcept {
  switch (reason) {
    case cancel_reason::deadline_exceeded:
      return task_errc::deadline_exceeded;
    case cancel_reason::shutting_down:
      return task_errc::shutting_down;
    default:
      return task_errc::cancelled;
  }
}

namespace detail {

namespace {

thread_local task_actor_base* running_task = nullptr;

// Marks the task actor whose code is on this thread's stack, restoring the
// previous one so nesting (a task body spawning and awaiting inline) is safe.
class running_scope {
public:
  explicit running_scope(task_actor_base* self) noexcept : prev_(running_task) {
    running_task = self;
  }
  ~running_scope() {
    running_task = prev_;
  }
  running_scope(const running_scope&) = delete;
  running_scope& operator=(const running_scope&) = delete;

private:
  task_actor_base* prev_;
};

std::string describe(const std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    return std::string{"task body threw: "} + e.what();
  } catch (...) {
    return "task body threw a non-standard exception";
  }
}

} // namespace

task_actor_base* current_task_actor() noexcept {
  return running_task;
}

task_core_base::task_core_base() = default;

task_core_base::~task_core_base() = default;

bool task_core_base::cancel(task_errc code, cancel_reason reason) {
  if (!fail(task_error{code, to_string(code)}))
    return false;
  source_.cancel(reason);
  return true;
}

void task_core_base::watch(const cancel_token& token, std::weak_ptr<task_core_base> self) {
  // Weak: the registration lives inside this record, a strong capture would
  // keep it alive through the caller's token forever.
  auto reg = token.on_cancel([self = std::move(self)](cancel_reason r) {
    if (auto core = self.lock())
      core->cancel(task_errc_from(r), r);
  });
  std::unique_lock<std::mutex> lk(mtx_);
  if (done_.load(std::memory_order_relaxed)) {
    lk.unlock();
    return; // `reg` deregisters on the way out, outside our lock
  }
  caller_ = std::move(reg);
}

void task_core_base::stop_worker() noexcept {
  caf::strong_actor_ptr worker;
  task_actor_base* ptr = nullptr;
  {
    std::lock_guard<std::mutex> lk(mtx_);
    if (worker_gone_)
      return;
    worker = std::move(worker_);
    ptr = worker_ptr_;
  }
  if (!worker)
    return; // stopped before
  if (ptr != nullptr && running_task == ptr) {
    ptr->quit();
    return;
  }
  // From any other thread the actor learns about it with its next message;
  // consume() then quits before running any handler.
  caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
}

task_actor_base::task_actor_base(caf::actor_config& cfg, std::shared_ptr<task_core_base> core)
  : caf::event_based_actor(cfg), core_(std::move(core)) {
  {
    // Runs inside spawn(), before the actor can be scheduled: the address is
    // known before any body code could complete the promise.
    std::lock_guard<std::mutex> lk(core_->mtx_);
    core_->worker_ = caf::strong_actor_ptr{ctrl()};
    core_->worker_ptr_ = this;
  }
  set_exception_handler([this](caf::scheduled_actor*, std::exception_ptr& eptr) -> caf::error {
    if (core_)
      core_->fail(task_error{task_errc::internal, describe(eptr)});
    return caf::exit_reason::unhandled_exception;
  });
}

task_actor_base::~task_actor_base() = default;

caf::behavior task_actor_base::make_behavior() {
  running_scope scope{this};
  if (!core_ || core_->done()) {
    quit();
    return {};
  }
  auto bhvr = start();
  if (core_->done())
    return {};
  if (bhvr)
    return bhvr;
  if (has_behavior())
    return {}; // the body installed its own with become()
  // Nothing to handle, but the promise is still open (a timer, a response or
  // another thread will complete it): stay alive until then.
  return caf::behavior{[](wake_atom) {}};
}

caf::invoke_message_result task_actor_base::consume(caf::mailbox_element& x) {
  if (!core_ || core_->done()) {
    quit();
    return caf::invoke_message_result::consumed;
  }
  running_scope scope{this};
  return caf::event_based_actor::consume(x);
}

void task_actor_base::on_exit() {
  if (!core_)
    return;
  // Released after the lock: it may be the last strong reference.
  caf::strong_actor_ptr doomed;
  {
    std::lock_guard<std::mutex> lk(core_->mtx_);
    core_->worker_gone_ = true;
    core_->worker_ptr_ = nullptr;
    doomed = std::move(core_->worker_);
  }
  core_->fail(task_error{task_errc::internal, "task actor exited before completing its promise"});
  core_.reset();
}

const char* task_actor_base::name() const {
  return "troupe.task";
}

} // namespace detail

} // namespace troupe::rt
