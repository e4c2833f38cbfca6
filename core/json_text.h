#pragma once

#include <string>
#include <string_view>

namespace usher::core {

/// Appends `text` as a JSON string literal (RFC 8259 §7): quotes, `"` and `\`
/// escaped, control characters as \u00XX; other bytes (UTF-8) as they are.
/// Shared by the ACME JSON writer and the access log.
void append_json_string(std::string_view text, std::string& out);

}  // namespace usher::core
