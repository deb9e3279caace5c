#include "logs/library_logs.hpp"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace troupe::rt::detail {

namespace {

/// At most `per_second` lines a second, in bursts of as many.
class line_budget {
public:
  explicit line_budget(double per_second) : rate_(per_second), tokens_(per_second) {}

  /// True when this line may be written; `dropped` is then set to the lines
  /// suppressed since the last one written.
  bool take(std::uint64_t& dropped) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto now = std::chrono::steady_clock::now();
    tokens_ = std::min(rate_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
    if (tokens_ < 1) {
      ++dropped_;
      return false;
    }
    tokens_ -= 1;
    dropped = dropped_;
    dropped_ = 0;
    return true;
  }

private:
  std::mutex mtx_;
  double rate_;
  double tokens_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  std::uint64_t dropped_ = 0;
};

line_budget grpc_budget{10};
line_budget protobuf_budget{10};

void write(spdlog::level::level_enum level, const char* library, line_budget& budget,
           const char* file, int line, const std::string& message) {
  if (!spdlog::should_log(level))
    return;
  std::uint64_t dropped = 0;
  if (!budget.take(dropped))
    return;
  if (dropped > 0)
    spdlog::warn("{}: {} log lines suppressed (more than 10 a second)", library, dropped);
  spdlog::log(level, "{} {}:{}: {}", library, file, line, message);
}

void grpc_log(gpr_log_func_args* args) {
  auto level = spdlog::level::err;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG)
    level = spdlog::level::debug;
  else if (args->severity == GPR_LOG_SEVERITY_INFO)
    level = spdlog::level::info;
  write(level, "grpc", grpc_budget, args->file, args->line, args->message);
}

// protobuf reports requests it cannot parse (invalid UTF-8 in a string, for
// one); the pipeline already answers those INVALID_ARGUMENT, so they are
// debug lines, not errors.
void protobuf_log(google::protobuf::LogLevel level, const char* file, int line,
                  const std::string& message) {
  auto to = level >= google::protobuf::LOGLEVEL_FATAL ? spdlog::level::critical
                                                       : spdlog::level::debug;
  write(to, "protobuf", protobuf_budget, file, line, message);
}

} // namespace

void route_library_logs() {
  gpr_set_log_function(&grpc_log);
  google::protobuf::SetLogHandler(&protobuf_log);
}

} // namespace troupe::rt::detail
