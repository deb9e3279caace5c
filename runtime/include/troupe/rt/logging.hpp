#pragma once

#include <string>

namespace troupe::rt {

/// Installs the process-wide spdlog logger on stderr. `format` is `text` or
/// `json` (one JSON object per line, for log shippers). Returns false and
/// leaves logging unchanged when `level` is unknown.
bool setup_logging(const std::string& level, const std::string& format);

} // namespace troupe::rt
