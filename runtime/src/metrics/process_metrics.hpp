#pragma once

// The process_* families every Prometheus client exports, read from /proc
// when scraped.

#include <string>

namespace troupe::rt::detail {

void write_process_metrics(std::string& out);

} // namespace troupe::rt::detail
