#pragma once

// What every call a service answers has in common, whatever its kind: it is
// open until exactly one party ends it (the service's answer, or the client
// going away, its deadline, or shutdown), it has a deadline and a
// cancellation token, and it describes itself (method, peer, metadata).
//
// Calls are reference counted. The pipeline keeps a call alive while gRPC
// works on it; the service holds it through call_ptr handles. When the last
// handle goes while the call is still open, nobody can ever answer it, so the
// pipeline ends it (INTERNAL: a service bug; UNAVAILABLE during shutdown)
// instead of leaving the client waiting.
//
// Free of gRPC and CAF headers on purpose: actor code includes it.

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "troupe/rt/call_status.hpp"
#include "troupe/rt/cancellation.hpp"

namespace google::protobuf {
class MethodDescriptor;
} // namespace google::protobuf

namespace troupe::rt {

enum class method_kind { unary, server_streaming, client_streaming, bidi_streaming };

const char* to_string(method_kind kind) noexcept;

/// One method of a served gRPC service, from the generated descriptors.
struct method_info {
  std::string path;    // "/troupe.kv.v1.KeyValue/Get", as on the wire
  std::string service; // "troupe.kv.v1.KeyValue"
  std::string name;    // "Get"
  std::string label;   // "troupe.kv.v1.KeyValue/Get", for logs and metrics
  method_kind kind = method_kind::unary;
  const google::protobuf::MethodDescriptor* descriptor = nullptr;
};

/// A call as interceptors and services may inspect it. Valid as long as the
/// call it belongs to.
class call_info {
public:
  virtual const method_info& method() const noexcept = 0;
  /// "ipv4:127.0.0.1:5000"
  virtual std::string peer() const = 0;
  /// First value of request metadata `key` (lowercase), if the client sent it.
  virtual std::optional<std::string_view> metadata(std::string_view key) const = 0;
  virtual deadline due() const noexcept = 0;
  virtual std::chrono::steady_clock::time_point started() const noexcept = 0;

protected:
  ~call_info() = default;
};

class call_base {
public:
  call_base(const call_base&) = delete;
  call_base& operator=(const call_base&) = delete;

  /// False once the call was answered, or ended early.
  bool open() const noexcept { return !ended_.load(std::memory_order_acquire); }
  deadline due() const noexcept { return due_; }
  /// Why the call ended early (client cancel, deadline, shutdown), or none.
  cancel_reason ended_because() const noexcept {
    return reason_.load(std::memory_order_acquire);
  }
  /// Cancelled, with ended_because(), when the call ends early. Hand it to
  /// work done for the call (blocking jobs, tasks, outgoing calls) so that
  /// work nobody waits for stops. Made on first use; thread-safe.
  cancel_token token();
  const call_info& info() const noexcept { return *info_; }

  // Reference counting, for call_ptr and the pipeline.
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      free_call();
  }
  void add_handle() noexcept {
    handles_.fetch_add(1, std::memory_order_relaxed);
    add_ref();
  }
  void release_handle() noexcept {
    if (handles_.fetch_sub(1, std::memory_order_acq_rel) == 1 && open())
      dropped();
    release();
  }

  /// The call ended early for `reason`: claims its end, records why and
  /// cancels its token. False when it had already ended.
  bool end_early(cancel_reason reason) noexcept;

protected:
  call_base(const call_info* info, deadline due) noexcept : info_(info), due_(due) {}
  virtual ~call_base();

  /// Exactly one caller gets true: the one that ends the call.
  bool claim() noexcept { return !ended_.exchange(true, std::memory_order_acq_rel); }

  /// The last reference is gone: the owner frees the memory.
  virtual void free_call() noexcept = 0;
  /// The last handle is gone while the call is open.
  virtual void dropped() noexcept = 0;

private:
  std::atomic<int> refs_{1};
  std::atomic<int> handles_{0};
  std::atomic<bool> ended_{false};
  std::atomic<cancel_reason> reason_{cancel_reason::none};
  std::atomic<cancel_source*> source_{nullptr};
  const call_info* info_;
  deadline due_;
};

/// A handle to a call: what services pass around (in actor messages, in
/// their state). Cheap to copy.
template <class Call>
class call_ptr {
public:
  call_ptr() noexcept = default;
  /// Takes a new handle on `p`.
  explicit call_ptr(Call* p) noexcept : ptr_(p) {
    if (ptr_)
      ptr_->add_handle();
  }
  call_ptr(const call_ptr& o) noexcept : call_ptr(o.ptr_) {}
  call_ptr(call_ptr&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)) {}
  template <class Other, class = std::enable_if_t<std::is_convertible_v<Other*, Call*>>>
  call_ptr(call_ptr<Other> o) noexcept : ptr_(o.detach()) {}
  call_ptr& operator=(call_ptr o) noexcept {
    std::swap(ptr_, o.ptr_);
    return *this;
  }
  ~call_ptr() {
    if (ptr_)
      ptr_->release_handle();
  }

  Call* operator->() const noexcept { return ptr_; }
  Call& operator*() const noexcept { return *ptr_; }
  Call* get() const noexcept { return ptr_; }
  explicit operator bool() const noexcept { return ptr_ != nullptr; }
  void reset() noexcept { call_ptr{}.swap(*this); }
  void swap(call_ptr& o) noexcept { std::swap(ptr_, o.ptr_); }

  /// Gives up the handle without releasing it (for conversions).
  Call* detach() noexcept { return std::exchange(ptr_, nullptr); }

private:
  Call* ptr_ = nullptr;
};

} // namespace troupe::rt
