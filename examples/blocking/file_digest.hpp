#pragma once

// Reading and hashing a file: plain blocking code that knows nothing of
// actors or gRPC, the kind that must only ever run on a blocking-pool thread.

#include <cstdint>
#include <optional>
#include <string>

#include "troupe/rt/cancellation.hpp"

namespace blocking {

struct file_digest {
  std::uint64_t fnv1a64 = 0;
  std::uint64_t bytes = 0;
};

/// Blocks for as long as opening and reading `path` take (a slow disk, a
/// network mount, a pipe nobody writes to yet). Stops between chunks once
/// `stop` is cancelled, returning nullopt. Throws std::system_error.
std::optional<file_digest> digest_file(const std::string& path, const troupe::rt::cancel_token& stop);

} // namespace blocking
