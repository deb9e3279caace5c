#pragma once

// A unary call as the service answering it sees it: the parsed, validated
// request, and one answer. Whichever comes first of {reply/fail, client
// cancel, deadline, shutdown} ends the call; the others become no-ops, so the
// answering side never needs to know whether the client is still there, and
// work can check open() to skip calls nobody waits for.

#include <utility>

#include "troupe/rt/call.hpp"

namespace troupe::rt {

template <class Request, class Response>
class unary_call : public call_base {
public:
  using request_type = Request;
  using response_type = Response;

  /// Parsed and validated by the pipeline. Mutable so that the answering
  /// side may move strings out of it.
  Request& request() noexcept { return request_; }
  const Request& request() const noexcept { return request_; }

  /// Builds the response with `fill(Response&)` and ends the call OK.
  /// Returns false (and does not call fill) when the call already ended.
  template <class F>
  bool reply(F&& fill) {
    if (!claim())
      return false;
    std::forward<F>(fill)(response_);
    finish(call_status::success(), &response_);
    return true;
  }
  bool reply(Response response) {
    return reply([&](Response& r) { r = std::move(response); });
  }

  /// Ends the call with `status`; false when it already ended.
  bool fail(call_status status) {
    if (!claim())
      return false;
    finish(std::move(status), nullptr);
    return true;
  }

protected:
  unary_call(const call_info* info, deadline due) noexcept : call_base(info, due) {}

  /// Sends the answer (response only with an OK status).
  virtual void finish(call_status status, const Response* response) = 0;

private:
  Request request_;
  Response response_;
};

/// The handle services receive for a unary method.
template <class Request, class Response>
using unary = call_ptr<unary_call<Request, Response>>;

} // namespace troupe::rt
