#pragma once

// Runs the real troupe binary for integration tests.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

namespace troupe::test {

struct command_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `troupe ARGS...` to completion (at most `timeout`).
command_result run_troupe(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// `troupe serve` on a free loopback port, stopped with SIGKILL if a test
/// leaves it running.
class server_process {
public:
  explicit server_process(std::vector<std::string> extra_args = {},
                          std::map<std::string, std::string> env = {});
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  std::shared_ptr<grpc::Channel> channel() const;

  void send_signal(int sig);
  /// The exit code, or nullopt if it is still running after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();
  std::string log() const;

private:
  int pid_ = -1;
  int port_ = 0;
  std::string log_path_;
  std::optional<int> exit_code_;
};

const char* code_name(grpc::StatusCode code);

} // namespace troupe::test
