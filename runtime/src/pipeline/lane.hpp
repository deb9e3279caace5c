#pragma once

// A lane is one pipeline thread: it polls its own gRPC completion queue and
// runs actors inline. The host starts one lane per CPU it may use. A call is
// received, parsed, dispatched and (when its actor answers at once) finished
// on one lane, without a thread hop: sending to an idle actor from a lane
// runs that actor right here, through CAF's own mailbox protocol (still one
// thread at a time per actor). An actor busy elsewhere just gets the message.
//
// Budgets keep a flooded actor from capturing the lane: after a round of
// work the lane polls its queue again before it goes on with the rest.

#include <grpcpp/grpcpp.h>

#include <caf/actor_system.hpp>
#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace troupe::rt::detail {

/// A completion-queue tag.
class event {
public:
  virtual void complete(bool ok) = 0;

protected:
  ~event() = default;
};

/// A tag that calls `Fn` on its owner.
template <class Owner, void (Owner::*Fn)(bool)>
class tag final : public event {
public:
  explicit tag(Owner* owner) noexcept : owner_(owner) {}
  void complete(bool ok) override { (owner_->*Fn)(ok); }

private:
  Owner* owner_;
};

class rpc_base;

/// A reply held back until the lane has no more work at hand (see
/// lane::defer).
class deferred_send {
public:
  virtual void send_now() = 0;

protected:
  ~deferred_send() = default;
};

class lane final : public caf::execution_unit {
public:
  lane(caf::actor_system& system, std::size_t index,
       std::unique_ptr<grpc::ServerCompletionQueue> cq);
  ~lane() override;

  std::size_t index() const noexcept { return index_; }
  grpc::ServerCompletionQueue* cq() const noexcept { return cq_.get(); }

  /// The thread body: polls the queue until it is shut down and drained.
  void run();

  /// CAF: `job` became runnable by a send made on this lane's thread.
  void exec_later(caf::resumable* job) override;
  /// Runs what is runnable, within one round's budget.
  void run_ready();

  /// The lane whose thread this is, or nullptr.
  static lane* current() noexcept;

  /// Holds `send` until this lane's queue has nothing ready or a few more
  /// events were handled, so that replies leave in bursts: one wake-up of
  /// a client reads several. Only from this lane's thread.
  void defer(deferred_send* send) { deferred_.push_back(send); }

  // Calls started on this lane and not over yet, for shutdown.
  void track(rpc_base* call);
  void untrack(rpc_base* call);
  std::vector<rpc_base*> open_calls_snapshot();
  std::mutex& calls_mutex() noexcept { return calls_mtx_; }

private:
  const std::size_t index_;
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  void send_deferred();

  std::vector<caf::resumable*> ready_;
  std::vector<deferred_send*> deferred_;
  std::vector<deferred_send*> sending_;
  bool running_ = false;

  std::mutex calls_mtx_;
  rpc_base* calls_ = nullptr; // intrusive list, see rpc_base::prev_/next_
};

} // namespace troupe::rt::detail
