#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/diagnostic.h"

namespace usher::core::caddyfile {

/// Looks up one environment variable; nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// Caddyfile text after `{$VAR}` substitution. A value may contain newlines;
/// those are not lines of the file the user wrote, so their offsets are kept
/// and the lexer does not count them when numbering lines.
struct ExpandedText {
  std::string text;
  std::vector<size_t> synthetic_newlines;  // sorted offsets into text of '\n' that came from values
};

/// Replaces every `{$VAR}` and `{$VAR:default}` in `text`, before lexing, as
/// Caddy does (so one value may become several tokens, and a value is never
/// expanded again). An unset variable without a default becomes empty and is
/// reported as a warning naming the variable, the file and the line.
/// `{$` with no `}` later on the same line, or with an empty or blank name,
/// is left as written.
ExpandedText substitute_env(std::string_view text, const std::string& file, const EnvLookup& getenv,
                            Diagnostics& diagnostics);

/// The process environment, for ParseOptions::getenv.
std::optional<std::string> process_getenv(const std::string& name);

}  // namespace usher::core::caddyfile
