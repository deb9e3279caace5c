#include "troupe_process.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace troupe::test {

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

// fork+exec with stdout/stderr to files; the child gets SIGINT/SIGTERM
// unblocked defaults and the given extra environment.
int spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
          const std::string& out_path, const std::string& err_path) {
  int pid = fork();
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_TRUNC);
    int err = open(err_path.c_str(), O_WRONLY | O_TRUNC);
    dup2(out, 1);
    dup2(err, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    for (auto& [k, v] : env)
      setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    std::string bin = TROUPE_BINARY;
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

command_result run_troupe(const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env,
                          std::chrono::milliseconds timeout) {
  auto out = temp_path("out");
  auto err = temp_path("err");
  int pid = spawn(args, env, out, err);
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

server_process::server_process(std::vector<std::string> extra_args,
                               std::map<std::string, std::string> env) {
  std::vector<std::string> args{"serve", "--server-listen", "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  log_path_ = temp_path("serve");
  auto out = temp_path("serve-out");
  pid_ = spawn(args, env, out, log_path_);
  unlink(out.c_str());
  static const std::regex listening(R"(listening on [0-9.]+:([0-9]+))");
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < until) {
    std::smatch m;
    auto text = read_file(log_path_);
    if (std::regex_search(text, m, listening)) {
      port_ = std::stoi(m[1]);
      return;
    }
    if (!running())
      FAIL("troupe serve exited with " << exit_code_.value_or(-1) << " before listening:\n"
                                       << text);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("troupe serve did not report its port within 30 s:\n" << read_file(log_path_));
}

server_process::~server_process() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(log_path_.c_str());
}

std::shared_ptr<grpc::Channel> server_process::channel() const {
  grpc::ChannelArguments args;
  // A fresh connection per channel, so tests do not share one by accident.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(target(), grpc::InsecureChannelCredentials(), args);
}

void server_process::send_signal(int sig) {
  if (pid_ > 0 && !exit_code_)
    kill(pid_, sig);
}

std::optional<int> server_process::wait_exit(std::chrono::milliseconds timeout) {
  if (!exit_code_)
    exit_code_ = wait_for(pid_, timeout);
  return exit_code_;
}

bool server_process::running() {
  return !wait_exit(std::chrono::milliseconds(0)).has_value();
}

std::string server_process::log() const {
  return read_file(log_path_);
}

const char* code_name(grpc::StatusCode code) {
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

} // namespace troupe::test
