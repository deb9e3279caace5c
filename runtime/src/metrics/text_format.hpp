#pragma once

// Pieces of the Prometheus text exposition format (version 0.0.4).

#include <cstdint>
#include <string>
#include <string_view>

namespace troupe::rt::detail {

/// "# HELP name help\n# TYPE name type\n", help escaped.
void write_header(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help);
/// A label value with \, " and newline escaped (without the quotes).
void append_label_value(std::string& out, std::string_view value);
void append_number(std::string& out, std::uint64_t v);
void append_number(std::string& out, std::int64_t v);
/// Shortest form that reads back the same; NaN and infinities as Prometheus
/// spells them.
void append_number(std::string& out, double v);

} // namespace troupe::rt::detail
