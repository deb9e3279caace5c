#pragma once

// The real troupe binary for integration tests, through the host test
// helpers every service gets (troupe/rt/testing/host_process.hpp).

#include <string>
#include <vector>

#include "troupe/rt/testing/host_process.hpp"

namespace troupe::test {

using rt::testing::command_result;

/// Runs `troupe ARGS...` to completion (at most `timeout`).
inline command_result run_troupe(const std::vector<std::string>& args,
                                 const std::map<std::string, std::string>& env = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return rt::testing::run_command(TROUPE_BINARY, args, env, timeout);
}

/// `troupe serve` on a free loopback port, stopped with SIGKILL if a test
/// leaves it running.
class server_process : public rt::testing::host_process {
public:
  explicit server_process(std::vector<std::string> extra_args = {},
                          std::map<std::string, std::string> env = {})
    : host_process(TROUPE_BINARY, serve_with(std::move(extra_args)), std::move(env)) {}

private:
  static std::vector<std::string> serve_with(std::vector<std::string> extra) {
    extra.insert(extra.begin(), "serve");
    return extra;
  }
};

inline const char* code_name(grpc::StatusCode code) {
  return rt::testing::status_name(code);
}

} // namespace troupe::test
