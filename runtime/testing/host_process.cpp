#include "troupe/rt/testing/host_process.hpp"

#include <algorithm>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace troupe::rt::testing {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp_path(const char* tag) {
  std::string name = std::string("/tmp/troupe-test-") + tag + "-XXXXXX";
  int fd = mkstemp(name.data());
  close(fd);
  return name;
}

// fork+exec with stdout/stderr to files and the given extra environment.
// The child starts with no signals blocked, whatever the test runner does.
int spawn(const std::string& binary, const std::vector<std::string>& args,
          const std::map<std::string, std::string>& env, const std::string& out_path,
          const std::string& err_path) {
  int pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    int out = open(out_path.c_str(), O_WRONLY | O_TRUNC);
    int err = open(err_path.c_str(), O_WRONLY | O_TRUNC);
    dup2(out, 1);
    dup2(err, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    for (auto& [k, v] : env)
      setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    std::string bin = binary;
    argv.push_back(bin.data());
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

std::optional<int> wait_for(int pid, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    int r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() > until)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

} // namespace

command_result run_command(const std::string& binary, const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env,
                           std::chrono::milliseconds timeout) {
  auto out = temp_path("out");
  auto err = temp_path("err");
  int pid = spawn(binary, args, env, out, err);
  auto code = wait_for(pid, timeout);
  if (!code) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  command_result r{code.value_or(-1), read_file(out), read_file(err)};
  unlink(out.c_str());
  unlink(err.c_str());
  return r;
}

host_process::host_process(std::string binary, std::vector<std::string> args,
                           std::map<std::string, std::string> env) {
  args.push_back("--server-listen");
  args.push_back("127.0.0.1:0");
  // Hosts started side by side must not fight over the default 9464.
  if (std::find(args.begin(), args.end(), "--metrics-listen") == args.end()) {
    args.push_back("--metrics-listen");
    args.push_back("127.0.0.1:0");
  }
  log_path_ = temp_path("host");
  auto out = temp_path("host-out");
  pid_ = spawn(binary, args, env, out, log_path_);
  unlink(out.c_str());
  static const std::regex listening(R"(listening on [0-9.]+:([0-9]+))");
  static const std::regex metrics_at(R"(metrics on http://[0-9.]+:([0-9]+)/metrics)");
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < until) {
    std::smatch m;
    auto text = read_file(log_path_);
    if (std::regex_search(text, m, listening)) {
      port_ = std::stoi(m[1]);
      if (std::regex_search(text, m, metrics_at))
        metrics_port_ = std::stoi(m[1]);
      return;
    }
    if (!running()) {
      unlink(log_path_.c_str());
      throw std::runtime_error(binary + " exited with " + std::to_string(exit_code_.value_or(-1))
                               + " before listening:\n" + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto text = read_file(log_path_);
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  unlink(log_path_.c_str());
  throw std::runtime_error(binary + " did not report its port within 30 s:\n" + text);
}

host_process::~host_process() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(log_path_.c_str());
}

std::shared_ptr<grpc::Channel> host_process::channel() const {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(target(), grpc::InsecureChannelCredentials(), args);
}

void host_process::send_signal(int sig) {
  if (pid_ > 0 && !exit_code_)
    kill(pid_, sig);
}

std::optional<int> host_process::wait_exit(std::chrono::milliseconds timeout) {
  if (!exit_code_)
    exit_code_ = wait_for(pid_, timeout);
  return exit_code_;
}

bool host_process::running() {
  return !wait_exit(std::chrono::milliseconds(0)).has_value();
}

std::string host_process::log() const {
  return read_file(log_path_);
}

const char* status_name(grpc::StatusCode code) {
  static const char* names[] = {"OK",
                                "CANCELLED",
                                "UNKNOWN",
                                "INVALID_ARGUMENT",
                                "DEADLINE_EXCEEDED",
                                "NOT_FOUND",
                                "ALREADY_EXISTS",
                                "PERMISSION_DENIED",
                                "RESOURCE_EXHAUSTED",
                                "FAILED_PRECONDITION",
                                "ABORTED",
                                "OUT_OF_RANGE",
                                "UNIMPLEMENTED",
                                "INTERNAL",
                                "UNAVAILABLE",
                                "DATA_LOSS",
                                "UNAUTHENTICATED"};
  auto i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? names[i] : "?";
}

} // namespace troupe::rt::testing
