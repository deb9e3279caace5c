#pragma once

// Rate limits applied where calls enter the host, before any actor sees
// them: one token bucket per method and one per client address. A call over
// a limit ends with RESOURCE_EXHAUSTED and `grpc-retry-pushback-ms`, the
// time until a token will be there, so well-behaved clients back off exactly
// as long as needed.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "troupe/rt/call_status.hpp"
#include "troupe/rt/rate_limiter.hpp"

namespace troupe::rt {

class config;
class config_schema;

struct call_limit_settings {
  double method_rps = 0; // 0: no limit
  double method_burst = 0; // 0: one second's worth
  double peer_rps = 0;
  double peer_burst = 0;
  std::size_t max_peers = 100000;
};

void declare_call_limit_config(config_schema& schema);
call_limit_settings call_limits_from(const config& cfg);

namespace detail {

class call_limits {
public:
  void configure(const call_limit_settings& settings);

  /// Whether any limit is on: the common case costs one branch.
  bool active() const noexcept { return per_method_ || per_peer_; }

  /// nullopt when the call may proceed, else the status to end it with.
  /// `method` is "service/method", `peer` gRPC's peer string.
  std::optional<call_status> admit(std::string_view method, const std::string& peer);

private:
  std::unique_ptr<keyed_rate_limiter> per_method_;
  std::unique_ptr<keyed_rate_limiter> per_peer_;
};

/// "ipv4:127.0.0.1:5000" -> "ipv4:127.0.0.1": limits apply per client
/// address, not per connection.
std::string peer_address(const std::string& peer);

} // namespace detail
} // namespace troupe::rt
