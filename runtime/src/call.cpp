#include "troupe/rt/call.hpp"

namespace troupe::rt {

const char* to_string(method_kind kind) noexcept {
  switch (kind) {
    case method_kind::unary:
      return "unary";
    case method_kind::server_streaming:
      return "server-streaming";
    case method_kind::client_streaming:
      return "client-streaming";
    case method_kind::bidi_streaming:
      return "bidi-streaming";
  }
  return "unknown";
}

call_base::~call_base() {
  delete source_.load(std::memory_order_acquire);
}

cancel_token call_base::token() {
  auto* s = source_.load(std::memory_order_acquire);
  if (s == nullptr) {
    // Most calls never ask: the source (a shared state) is made on demand.
    auto* fresh = new cancel_source();
    if (source_.compare_exchange_strong(s, fresh, std::memory_order_acq_rel))
      s = fresh;
    else
      delete fresh;
    // Ended before anyone asked: the token must say so too.
    auto why = reason_.load(std::memory_order_acquire);
    if (why != cancel_reason::none)
      s->cancel(why);
  }
  return s->token();
}

bool call_base::end_early(cancel_reason reason) noexcept {
  if (!claim())
    return false;
  reason_.store(reason, std::memory_order_release);
  if (auto* s = source_.load(std::memory_order_acquire))
    s->cancel(reason);
  return true;
}

call_status call_status::from_cancel(cancel_reason reason) {
  switch (reason) {
    case cancel_reason::deadline_exceeded:
      return of(status_code::deadline_exceeded, "deadline exceeded before the call was answered");
    case cancel_reason::shutting_down:
      return of(status_code::unavailable, "server is shutting down");
    case cancel_reason::client_cancelled:
    case cancel_reason::none:
      break;
  }
  return of(status_code::cancelled, "call cancelled");
}

} // namespace troupe::rt

namespace troupe::rt {

const char* to_string(shed_reason r) noexcept {
  switch (r) {
    case shed_reason::none:
      return "none";
    case shed_reason::rate_limit:
      return "rate_limit";
    case shed_reason::max_pending:
      return "max_pending";
    case shed_reason::adaptive_limit:
      return "adaptive_limit";
    case shed_reason::blocking_queue_full:
      return "blocking_queue_full";
    case shed_reason::shutting_down:
      return "shutting_down";
    case shed_reason::overloaded:
      break;
  }
  return "overloaded";
}

} // namespace troupe::rt
