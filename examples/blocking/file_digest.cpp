#include "file_digest.hpp"

#include <cerrno>
#include <fcntl.h>
#include <system_error>
#include <unistd.h>

namespace blocking {

namespace {

// Closes the descriptor on every way out, exceptions included.
struct fd_guard {
  int fd;
  ~fd_guard() { ::close(fd); }
};

[[noreturn]] void fail(const std::string& path) {
  throw std::system_error(errno, std::generic_category(), path);
}

} // namespace

std::optional<file_digest> digest_file(const std::string& path, const troupe::rt::cancel_token& stop) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail(path);
  fd_guard guard{fd};
  file_digest d;
  d.fnv1a64 = 0xcbf29ce484222325ULL;
  char chunk[64 * 1024];
  for (;;) {
    if (stop.cancelled())
      return std::nullopt;
    auto n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail(path);
    if (n == 0)
      return d;
    for (ssize_t i = 0; i < n; ++i)
      d.fnv1a64 = (d.fnv1a64 ^ static_cast<unsigned char>(chunk[i])) * 0x100000001b3ULL;
    d.bytes += static_cast<std::uint64_t>(n);
  }
}

} // namespace blocking
