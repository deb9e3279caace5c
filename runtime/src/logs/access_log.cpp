#include "logs/access_log.hpp"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "logs/utc_time.hpp"
#include "status_name.hpp"
#include "troupe/cli/json.hpp"

namespace troupe::rt::detail {

namespace {


bool is_hex(std::string_view s) noexcept {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

} // namespace

std::string_view trace_id_of(std::string_view tp) noexcept {
  // version "00": 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55 characters.
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
    return {};
  auto version = tp.substr(0, 2);
  auto id = tp.substr(3, 32);
  if (!is_hex(version) || version == "ff" || !is_hex(id) || !is_hex(tp.substr(36, 16))
      || id == "00000000000000000000000000000000")
    return {};
  return id;
}

access_log::mode access_log::parse_mode(const std::string& s) {
  if (s == "all")
    return mode::all;
  if (s == "errors")
    return mode::errors;
  return mode::off;
}

access_log::access_log(mode m, bool json) : mode_(m), json_(json) {
  if (mode_ == mode::off)
    return;
  // Its own thread and queue: at 8192 lines behind, the oldest go.
  pool_ = std::make_shared<spdlog::details::thread_pool>(8192, 1);
  logger_ = std::make_shared<spdlog::async_logger>(
    "access", std::make_shared<spdlog::sinks::stdout_sink_mt>(), pool_,
    spdlog::async_overflow_policy::overrun_oldest);
  logger_->set_pattern(json_ ? "%v" : "%Y-%m-%dT%H:%M:%S.%e access %v");
  logger_->set_level(spdlog::level::info);
  logger_->flush_on(spdlog::level::info);
}

access_log::~access_log() {
  if (logger_)
    logger_->flush();
}

void access_log::write(const access_record& r) {
  if (!logger_)
    return;
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f",
                static_cast<double>(r.took.count()) / 1e6);
  std::string line;
  line.reserve(256);
  if (json_) {
    line += "{\"ts\":\"" + utc_timestamp(std::chrono::system_clock::now()) + "\",\"level\":\"info\",\"log\":\"access\"";
    line += ",\"grpc_method\":\"" + cli::json_escape(r.method) + "\"";
    line += ",\"peer\":\"" + cli::json_escape(r.peer) + "\"";
    line += ",\"grpc_status\":\"";
    line += code_name(r.code);
    line += "\",\"duration_ms\":";
    line += duration;
    line += ",\"request_bytes\":" + std::to_string(r.request_bytes);
    line += ",\"response_bytes\":" + std::to_string(r.response_bytes);
    if (!r.trace_id.empty())
      line += ",\"trace_id\":\"" + std::string(r.trace_id) + "\"";
    if (r.code != status_code::ok && !r.message.empty())
      line += ",\"message\":\"" + cli::json_escape(r.message) + "\"";
    line += "}";
  } else {
    line += std::string(r.method) + " peer=" + r.peer + " status=" + code_name(r.code)
            + " duration_ms=" + duration + " request_bytes=" + std::to_string(r.request_bytes)
            + " response_bytes=" + std::to_string(r.response_bytes);
    if (!r.trace_id.empty())
      line += " trace_id=" + std::string(r.trace_id);
    if (r.code != status_code::ok && !r.message.empty())
      line += " message=\"" + cli::json_escape(r.message) + "\"";
  }
  logger_->info(line);
}

} // namespace troupe::rt::detail
