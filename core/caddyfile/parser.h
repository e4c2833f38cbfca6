#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/caddyfile/token.h"
#include "core/diagnostic.h"

namespace usher::core::caddyfile {

/// The outside world the parser reads: environment variables (for `{$VAR}`)
/// and files (for `import`). Tests inject both; the defaults read the process
/// environment and the file system.
struct ParseOptions {
  /// Returns the value of an environment variable, or nullopt when unset.
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  /// Reads a whole file; throws std::runtime_error with a message on failure.
  std::function<std::string(const std::string& path)> read_file;
  /// Expands an import glob pattern to the matching paths, sorted.
  std::function<std::vector<std::string>(const std::string& pattern)> glob;
};

/// Parses Caddyfile text into server blocks: substitutes `{$ENV}`, lexes,
/// groups tokens into blocks and segments, defines snippets and expands
/// `import` (files, globs, snippets with arguments), detecting cycles.
/// Problems go to `diagnostics` (with file:line); after a syntax error it stops
/// and returns what it parsed so far, so callers check diagnostics.has_errors().
std::vector<ServerBlock> parse(std::string_view text, const std::string& filename,
                               Diagnostics& diagnostics, const ParseOptions& options = {});

}  // namespace usher::core::caddyfile
