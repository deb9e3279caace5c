#pragma once

// JSON text written by hand: the clients print one object per line and the
// runtime logs JSON lines, and nothing else needs a JSON library.

#include <string>
#include <string_view>

namespace troupe::cli {

/// `text` escaped for use inside a JSON string literal.
std::string json_escape(std::string_view text);

/// A quoted JSON string; bytes >= 0x80 pass through, so `s` must be UTF-8.
std::string json_string(std::string_view s);

bool valid_utf8(std::string_view s);

std::string base64(std::string_view bytes);

/// `"value":"..."` for UTF-8 bytes, else `"value_base64":"..."`, so that
/// binary values survive a JSON reader.
std::string json_bytes_field(std::string_view name, std::string_view bytes);

/// A number with `decimals` digits after the point, never NaN or inf.
std::string json_number(double v, int decimals);

} // namespace troupe::cli
