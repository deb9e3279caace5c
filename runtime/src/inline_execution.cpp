#include "troupe/rt/inline_execution.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/execution_unit.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <atomic>
#include <vector>

namespace troupe::rt {

namespace {

std::atomic<bool> inline_enabled{true};

// How much actor work one send from a gRPC thread may run before the rest
// goes to the scheduler: a busy actor keeps its messages flowing without a
// hop, yet cannot capture a gRPC thread for long. Handlers that run nested
// (an actor finishing a call can make gRPC deliver the next one on the same
// thread) add their actors to the same round instead of starting their own.
constexpr size_t max_messages_per_resume = 64;
constexpr size_t max_messages_per_round = 1024;

class inline_unit final : public caf::execution_unit {
public:
  explicit inline_unit(caf::actor_system* sys) : caf::execution_unit(sys) {}

  void exec_later(caf::resumable* job) override { pending_.push_back(job); }

  void run_pending() {
    if (running_)
      return; // the round already under way on this thread runs it
    running_ = true;
    size_t budget = max_messages_per_round;
    for (size_t i = 0; i < pending_.size(); ++i) {
      auto* job = pending_[i];
      if (budget < max_messages_per_resume) {
        system_->scheduler().enqueue(job);
        continue;
      }
      budget -= max_messages_per_resume;
      switch (job->resume(this, max_messages_per_resume)) {
        case caf::resumable::resume_later:
          pending_.push_back(job); // keeps the reference; runs again this round
          break;
        case caf::resumable::done:
        case caf::resumable::awaiting_message:
        case caf::resumable::shutdown_execution_unit:
          caf::intrusive_ptr_release(job);
          break;
      }
    }
    pending_.clear();
    running_ = false;
  }

  caf::actor_system* system_ptr() const { return system_; }

private:
  std::vector<caf::resumable*> pending_;
  bool running_ = false;
};

thread_local inline_unit* this_thread_unit = nullptr;

inline_unit* unit_for(caf::actor_system& sys) {
  auto* unit = this_thread_unit;
  if (unit == nullptr || unit->system_ptr() != &sys) {
    // One unit per thread; a thread that serves a second actor system (tests)
    // gets a fresh one. The old one is leaked only in that rare case.
    static thread_local std::vector<std::unique_ptr<inline_unit>> owned;
    owned.push_back(std::make_unique<inline_unit>(&sys));
    unit = this_thread_unit = owned.back().get();
  }
  return unit;
}

} // namespace

void set_inline_execution(bool enabled) {
  inline_enabled.store(enabled, std::memory_order_relaxed);
}

bool inline_execution_enabled() {
  return inline_enabled.load(std::memory_order_relaxed);
}

void send_inline(const caf::actor& dest, caf::message msg) {
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(dest);
  if (ptr == nullptr)
    return;
  auto element = caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                           caf::mailbox_element::forwarding_stack{},
                                           std::move(msg));
  if (!inline_execution_enabled()) {
    ptr->enqueue(std::move(element), nullptr);
    return;
  }
  auto* unit = unit_for(ptr->home_system());
  ptr->enqueue(std::move(element), unit);
  unit->run_pending();
}

} // namespace troupe::rt
