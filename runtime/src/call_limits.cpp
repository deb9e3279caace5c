#include "troupe/rt/call_limits.hpp"

#include <grpcpp/grpcpp.h>

#include <atomic>

#include "troupe/rt/config.hpp"
#include "troupe/rt/grpc_bridge.hpp"
#include "troupe/rt/rate_limiter.hpp"

namespace troupe::rt {

namespace {

struct limiters {
  std::unique_ptr<keyed_rate_limiter> per_method;
  std::unique_ptr<keyed_rate_limiter> per_peer;
};

// Written once at start-up, before the server accepts calls.
std::shared_ptr<limiters> installed;
std::atomic<bool> any_limit{false};

double burst_or_rate(double burst, double rate) {
  return burst > 0 ? burst : rate;
}

std::optional<call_status> over_limit(const acquire_result& r, const char* which) {
  if (r.granted)
    return std::nullopt;
  return call_status::overloaded(std::string("rate limit exceeded (") + which + ")",
                                 r.retry_after);
}

} // namespace

void declare_call_limit_config(config_schema& s) {
  s.add_uint("limits.method_rps", 0, 0, 100'000'000,
             "calls per second allowed per gRPC method (0: unlimited)");
  s.add_uint("limits.method_burst", 0, 0, 100'000'000,
             "calls a method may take at once (0: one second's worth)");
  s.add_uint("limits.peer_rps", 0, 0, 100'000'000,
             "calls per second allowed per client address (0: unlimited)");
  s.add_uint("limits.peer_burst", 0, 0, 100'000'000,
             "calls a client address may make at once (0: one second's worth)");
}

call_limit_settings call_limits_from(const config& cfg) {
  call_limit_settings s;
  s.method_rps = static_cast<double>(cfg.get_uint("limits.method_rps"));
  s.method_burst = static_cast<double>(cfg.get_uint("limits.method_burst"));
  s.peer_rps = static_cast<double>(cfg.get_uint("limits.peer_rps"));
  s.peer_burst = static_cast<double>(cfg.get_uint("limits.peer_burst"));
  return s;
}

void configure_call_limits(const call_limit_settings& s) {
  auto l = std::make_shared<limiters>();
  if (s.method_rps > 0)
    l->per_method = std::make_unique<keyed_rate_limiter>(
      s.method_rps, burst_or_rate(s.method_burst, s.method_rps), 1024);
  if (s.peer_rps > 0)
    l->per_peer = std::make_unique<keyed_rate_limiter>(
      s.peer_rps, burst_or_rate(s.peer_burst, s.peer_rps), s.max_peers);
  installed = l;
  any_limit.store(l->per_method || l->per_peer, std::memory_order_release);
}

std::string peer_address(const std::string& peer) {
  auto colon = peer.rfind(':');
  auto first = peer.find(':');
  if (colon == std::string::npos || colon == first)
    return peer;
  return peer.substr(0, colon);
}

std::optional<call_status> admit_call(grpc::CallbackServerContext* ctx, std::string_view method) {
  // Between SIGTERM and the server's own shutdown the port still accepts:
  // new calls are refused here so that only calls already in flight finish.
  if (server_draining())
    return call_status::from_cancel(cancel_reason::shutting_down);
  if (!any_limit.load(std::memory_order_acquire))
    return std::nullopt; // the common case costs one load
  auto& l = *installed;
  if (l.per_method)
    if (auto bad = over_limit(l.per_method->try_acquire(method), "limits.method_rps"))
      return bad;
  if (l.per_peer)
    if (auto bad = over_limit(l.per_peer->try_acquire(peer_address(ctx->peer())),
                              "limits.peer_rps"))
      return bad;
  return std::nullopt;
}

} // namespace troupe::rt
