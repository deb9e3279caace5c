#include "troupe/rt/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "logs/utc_time.hpp"
#include "troupe/cli/json.hpp"

namespace troupe::rt {

namespace {

// spdlog patterns cannot escape the message, so JSON lines get their own
// formatter: a message with a quote or newline must still be one valid object.
class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line = "{\"ts\":\"";
    line += detail::utc_timestamp(msg.time);
    line += "\",\"level\":\"";
    line.append(level.data(), level.size());
    line += "\",\"thread\":";
    line += std::to_string(msg.thread_id);
    line += ",\"msg\":\"";
    line += cli::json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
    line += "\"}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

} // namespace

bool setup_logging(const std::string& level, const std::string& format) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return false;
  spdlog::drop("troupe");
  auto logger = spdlog::stderr_logger_mt("troupe");
  spdlog::set_default_logger(logger);
  spdlog::set_level(lvl);
  if (format == "json")
    logger->set_formatter(std::make_unique<json_formatter>());
  else
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  logger->flush_on(spdlog::level::info);
  return true;
}

} // namespace troupe::rt
