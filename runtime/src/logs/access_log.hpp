#pragma once

// log.access: one line per call on stdout (off | errors | all), written by
// an async spdlog logger whose queue drops the oldest line when full, so a
// slow stdout never holds up the thread that ended the call.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "troupe/rt/call_status.hpp"

namespace spdlog {
class logger;
namespace details {
class thread_pool;
}
} // namespace spdlog

namespace troupe::rt::detail {

struct access_record {
  std::string_view method; // service/method, or the path of an unknown one
  std::string peer;
  status_code code = status_code::ok;
  std::string_view message;
  std::chrono::nanoseconds took{0};
  std::uint64_t request_bytes = 0;
  std::uint64_t response_bytes = 0;
  std::string_view trace_id; // empty: the call carried no valid traceparent
};

class access_log {
public:
  enum class mode { off, errors, all };

  /// `json`: one JSON object per line, as log.format=json.
  access_log(mode m, bool json);
  ~access_log();

  bool wants(status_code code) const noexcept {
    return mode_ == mode::all || (mode_ == mode::errors && code != status_code::ok);
  }
  void write(const access_record& r);

  static mode parse_mode(const std::string& s);

private:
  mode mode_;
  bool json_;
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::logger> logger_;
};

/// The trace id of a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"), or
/// empty when it is not a valid one.
std::string_view trace_id_of(std::string_view traceparent) noexcept;

} // namespace troupe::rt::detail
