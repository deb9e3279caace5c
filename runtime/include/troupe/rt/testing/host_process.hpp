#pragma once

// The real host, for integration tests: a host binary (troupe, or your own
// main() that calls rt::serve) started on a free loopback port, its log, its
// signals, its exit code. Link troupe_testing.
//
//   troupe::rt::testing::host_process host{GREETER_BINARY};
//   auto stub = v1::Greeter::NewStub(host.channel());

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace troupe::rt::testing {

struct command_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `binary ARGS...` to completion (killed after `timeout`).
command_result run_command(const std::string& binary, const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

class host_process {
public:
  /// Starts `binary ARGS... --server-listen 127.0.0.1:0` (for troupe itself,
  /// ARGS start with "serve") and waits until it logs its port. Throws
  /// std::runtime_error, with the log, if it exits or says nothing for 30 s.
  explicit host_process(std::string binary, std::vector<std::string> args = {},
                        std::map<std::string, std::string> env = {});
  /// Kills the host (SIGKILL) if the test left it running.
  ~host_process();
  host_process(const host_process&) = delete;
  host_process& operator=(const host_process&) = delete;

  int port() const { return port_; }
  /// The port of its /metrics endpoint; 0 when it serves none.
  int metrics_port() const { return metrics_port_; }
  /// The host's process id (e.g. to read its /proc entries).
  int pid() const { return pid_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  /// A new connection of its own (not shared with other channels).
  std::shared_ptr<grpc::Channel> channel() const;

  void send_signal(int sig);
  /// The exit code (128 + signal when killed), or nullopt if still running
  /// after `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();
  /// What the host wrote to stderr so far.
  std::string log() const;

private:
  int pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string log_path_;
  std::optional<int> exit_code_;
};

/// "DEADLINE_EXCEEDED" for grpc::StatusCode::DEADLINE_EXCEEDED.
const char* status_name(grpc::StatusCode code);

} // namespace troupe::rt::testing
