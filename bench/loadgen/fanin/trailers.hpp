#pragma once

// What the fan-in server says in trailing metadata when it ends a stream.

#include <cstdint>
#include <optional>
#include <string>

#include <grpcpp/client_context.h>

namespace troupe::loadgen {

/// The trailer naming `topic`'s resume point (the last seq the call got).
/// Header names are lowercase on the wire.
std::string last_seq_key(const std::string& topic);

/// Trailer `key` as a whole number; nullopt when absent or not a number.
std::optional<std::uint64_t> trailer_u64(const grpc::ClientContext& ctx, const std::string& key);

} // namespace troupe::loadgen
