#include "pipeline/call_limits.hpp"

#include "troupe/rt/config.hpp"

namespace troupe::rt {

namespace {

double burst_or_rate(double burst, double rate) {
  return burst > 0 ? burst : rate;
}

std::optional<call_status> over_limit(const acquire_result& r, const char* which) {
  if (r.granted)
    return std::nullopt;
  return call_status::overloaded(std::string("rate limit exceeded (") + which + ")",
                                 r.retry_after, shed_reason::rate_limit);
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

namespace detail {

void call_limits::configure(const call_limit_settings& s) {
  per_method_.reset();
  per_peer_.reset();
  if (s.method_rps > 0)
    per_method_ = std::make_unique<keyed_rate_limiter>(
      s.method_rps, burst_or_rate(s.method_burst, s.method_rps), 1024);
  if (s.peer_rps > 0)
    per_peer_ = std::make_unique<keyed_rate_limiter>(
      s.peer_rps, burst_or_rate(s.peer_burst, s.peer_rps), s.max_peers);
}

std::optional<call_status> call_limits::admit(std::string_view method, const std::string& peer) {
  if (per_method_)
    if (auto bad = over_limit(per_method_->try_acquire(method), "limits.method_rps"))
      return bad;
  if (per_peer_)
    if (auto bad = over_limit(per_peer_->try_acquire(peer_address(peer)), "limits.peer_rps"))
      return bad;
  return std::nullopt;
}

std::string peer_address(const std::string& peer) {
  auto colon = peer.rfind(':');
  auto first = peer.find(':');
  if (colon == std::string::npos || colon == first)
    return peer;
  return peer.substr(0, colon);
}

} // namespace detail
} // namespace troupe::rt
