#pragma once

// A unary call as the answering side sees it. The gRPC bridge creates one per
// call; an actor answers it exactly once with reply() or fail(). Whichever
// comes first of {answer, client cancel, deadline, shutdown} ends the call and
// the others become no-ops, so an actor never needs to know whether the client
// is still there, and work can check open() to skip calls nobody waits for.

#include <atomic>
#include <utility>

#include "troupe/rt/call_status.hpp"
#include "troupe/rt/cancellation.hpp"

namespace troupe::rt {

/// Shared ownership between the gRPC reactor and whoever will answer.
class call_refcount {
public:
  virtual ~call_refcount() = default;
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete this;
  }

private:
  std::atomic<int> refs_{1};
};

/// Intrusive pointer to a call; cheap to copy into actor messages.
template <class Call>
class call_ptr {
public:
  call_ptr() noexcept = default;
  /// Adopts one reference (the creator's).
  static call_ptr adopt(Call* p) noexcept {
    call_ptr r;
    r.ptr_ = p;
    return r;
  }
  static call_ptr share(Call* p) noexcept {
    p->add_ref();
    return adopt(p);
  }
  call_ptr(const call_ptr& o) noexcept : ptr_(o.ptr_) {
    if (ptr_)
      ptr_->add_ref();
  }
  call_ptr(call_ptr&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)) {}
  call_ptr& operator=(call_ptr o) noexcept {
    std::swap(ptr_, o.ptr_);
    return *this;
  }
  ~call_ptr() {
    if (ptr_)
      ptr_->release();
  }
  Call* operator->() const noexcept { return ptr_; }
  Call& operator*() const noexcept { return *ptr_; }
  Call* get() const noexcept { return ptr_; }
  explicit operator bool() const noexcept { return ptr_ != nullptr; }

private:
  Call* ptr_ = nullptr;
};

/// State shared by every kind of call: open until someone claims the end.
class call_base : public call_refcount {
public:
  /// False once the call was answered, cancelled, expired or shut down.
  bool open() const noexcept { return !ended_.load(std::memory_order_acquire); }
  deadline due() const noexcept { return due_; }
  /// Why the call ended early, or none.
  cancel_reason ended_because() const noexcept {
    return cancel_reason_.load(std::memory_order_acquire);
  }

protected:
  explicit call_base(deadline due) : due_(due) {}
  /// Exactly one caller gets true: the one that ends the call.
  bool claim() noexcept { return !ended_.exchange(true, std::memory_order_acq_rel); }
  void note_cancel(cancel_reason r) noexcept {
    cancel_reason_.store(r, std::memory_order_release);
  }

private:
  std::atomic<bool> ended_{false};
  std::atomic<cancel_reason> cancel_reason_{cancel_reason::none};
  deadline due_;
};

template <class Response>
class unary_call : public call_base {
public:
  /// Builds the response with `fill(Response&)` and ends the call OK.
  /// Returns false (and does not call fill) when the call already ended.
  template <class F>
  bool reply(F&& fill) {
    if (!claim())
      return false;
    fill(*response_);
    finish_claimed(call_status::success());
    return true;
  }

  /// Ends the call with `status`; false when it already ended.
  bool fail(call_status status) {
    if (!claim())
      return false;
    finish_claimed(std::move(status));
    return true;
  }

protected:
  unary_call(Response* response, deadline due) : call_base(due), response_(response) {}
  virtual void finish_claimed(call_status status) = 0;

  Response* response_;
};

template <class Response>
using unary_call_ptr = call_ptr<unary_call<Response>>;

} // namespace troupe::rt
