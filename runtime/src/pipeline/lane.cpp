#include "pipeline/lane.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include "pipeline/rpc.hpp"
#include "troupe/rt/detail/typed_calls.hpp"
#include "troupe/rt/inline_execution.hpp"

namespace troupe::rt {

namespace detail {

namespace {

// How much actor work a lane runs before it polls its queue again: a busy
// actor keeps its messages flowing without a hop, yet cannot keep the lane
// from its own calls for long.
constexpr std::size_t max_messages_per_resume = 64;
constexpr std::size_t max_messages_per_round = 1024;
// Replies held back at most this many events.
constexpr std::size_t max_deferred = 32;

thread_local lane* this_thread_lane = nullptr;

} // namespace

lane::lane(caf::actor_system& system, std::size_t index,
           std::unique_ptr<grpc::ServerCompletionQueue> cq)
  : caf::execution_unit(&system), index_(index), cq_(std::move(cq)) {}

lane::~lane() {
  // Jobs left at the end belong to actors the system will clean up; hand
  // them back so their references are released there.
  for (auto* job : ready_)
    system_->scheduler().enqueue(job);
}

lane* lane::current() noexcept {
  return this_thread_lane;
}

void lane::exec_later(caf::resumable* job) {
  ready_.push_back(job);
}

void lane::run_ready() {
  if (running_)
    return; // the round already under way on this thread runs it
  running_ = true;
  std::size_t budget = max_messages_per_round;
  std::size_t i = 0;
  for (; i < ready_.size() && budget >= max_messages_per_resume; ++i) {
    auto* job = ready_[i];
    budget -= max_messages_per_resume;
    switch (job->resume(this, max_messages_per_resume)) {
      case caf::resumable::resume_later:
        ready_.push_back(job); // keeps its reference; runs again, maybe next round
        break;
      case caf::resumable::done:
      case caf::resumable::awaiting_message:
      case caf::resumable::shutdown_execution_unit:
        caf::intrusive_ptr_release(job);
        break;
    }
  }
  ready_.erase(ready_.begin(), ready_.begin() + static_cast<std::ptrdiff_t>(i));
  running_ = false;
}

void lane::run() {
  this_thread_lane = this;
  for (;;) {
    void* tag = nullptr;
    bool ok = false;
    // With work left over from the last round, only peek at the queue.
    auto wait = ready_.empty() && deferred_.empty() ? gpr_inf_future(GPR_CLOCK_REALTIME)
                                                    : gpr_time_0(GPR_CLOCK_REALTIME);
    auto status = cq_->AsyncNext(&tag, &ok, wait);
    if (status == grpc::CompletionQueue::SHUTDOWN)
      break;
    if (status == grpc::CompletionQueue::GOT_EVENT)
      static_cast<event*>(tag)->complete(ok);
    else
      send_deferred(); // nothing else at hand
    run_ready();
    if (deferred_.size() >= max_deferred)
      send_deferred();
  }
  // Nothing is deferred here: a held reply keeps its call open, so the
  // server's shutdown, and with it the queue's, waits for the loop above to
  // send it.
  while (!ready_.empty())
    run_ready();
  this_thread_lane = nullptr;
}

void lane::send_deferred() {
  // A send only starts a gRPC batch, whose completion comes through the
  // queue: nothing here defers again or re-enters. Swapping keeps both
  // vectors' capacity.
  sending_.swap(deferred_);
  for (auto* send : sending_)
    send->send_now();
  sending_.clear();
}

void lane::track(rpc_base* call) {
  std::lock_guard<std::mutex> guard{calls_mtx_};
  call->prev_ = nullptr;
  call->next_ = calls_;
  if (calls_)
    calls_->prev_ = call;
  calls_ = call;
  call->tracked_ = true;
}

void lane::untrack(rpc_base* call) {
  std::lock_guard<std::mutex> guard{calls_mtx_};
  if (!call->tracked_)
    return;
  if (call->prev_)
    call->prev_->next_ = call->next_;
  else
    calls_ = call->next_;
  if (call->next_)
    call->next_->prev_ = call->prev_;
  call->prev_ = call->next_ = nullptr;
  call->tracked_ = false;
}

std::vector<rpc_base*> lane::open_calls_snapshot() {
  std::vector<rpc_base*> out;
  std::lock_guard<std::mutex> guard{calls_mtx_};
  for (auto* c = calls_; c != nullptr; c = c->next_) {
    // Tracked calls hold their done reference, so this one is safe to take.
    c->typed()->base().add_ref();
    out.push_back(c);
  }
  return out;
}

namespace {

void enqueue_here(caf::abstract_actor* dest, caf::mailbox_element_ptr element) {
  if (auto* here = lane::current()) {
    dest->enqueue(std::move(element), here);
    here->run_ready();
    return;
  }
  dest->enqueue(std::move(element), nullptr);
}

} // namespace

void deliver(const caf::actor& dest, caf::mailbox_element& element) {
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(dest);
  caf::mailbox_element_ptr owned{&element};
  if (ptr == nullptr)
    return; // the disposer drops the handle: the call ends unanswered
  enqueue_here(ptr, std::move(owned));
}

} // namespace detail

void send_inline(const caf::actor& dest, caf::message msg) {
  auto* ptr = caf::actor_cast<caf::abstract_actor*>(dest);
  if (ptr == nullptr)
    return;
  detail::enqueue_here(ptr, caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                                      caf::mailbox_element::forwarding_stack{},
                                                      std::move(msg)));
}

} // namespace troupe::rt
