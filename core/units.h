#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.h"

namespace usher::core {

/// Parses a Go-style duration as Caddy accepts it: `30s`, `1m30s`, `250ms`,
/// `1.5h`, `2d` (days, as Caddy allows), or a bare integer meaning seconds.
/// Negative values are allowed (`-1` for flush_interval). nullopt when invalid.
std::optional<Duration> parse_duration(std::string_view text);

/// Formats a duration the way parse_duration reads it, shortest form first:
/// `30s`, `1m30s`, `250ms`, `2h`, `-1ms`.
std::string format_duration(Duration d);

/// Parses a size: `1048576`, `10KB`, `10KiB`, `5MB`, `1GiB` (kB/MB/GB are
/// powers of 1000 and KiB/MiB/GiB powers of 1024, as in Caddy; case-insensitive
/// units). nullopt when invalid or when it overflows.
std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace usher::core
