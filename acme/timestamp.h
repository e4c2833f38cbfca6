#pragma once

// RFC 3339 timestamps as ACME (order expiry, ARI windows) and usher's state
// files write them.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace usher::acme {

/// "2025-01-02T03:04:05Z" (fractional seconds and offsets accepted);
/// nullopt when unreadable.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);
/// UTC, whole seconds: "2025-01-02T03:04:05Z".
std::string format_rfc3339(std::chrono::system_clock::time_point when);

}  // namespace usher::acme
