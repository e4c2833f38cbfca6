#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace usher::cmd {

/// One flag a verb accepts: `--name VALUE` / `--name=VALUE` when it takes a
/// value, `--name` alone when it is a switch.
struct FlagSpec {
  const char* name;
  bool takes_value;
  const char* help;
};

/// A parsed command line of one verb.
struct ParsedFlags {
  std::map<std::string, std::string> values;  // switches map to "true"
  std::vector<std::string> positional;

  bool has(const std::string& name) const { return values.count(name) > 0; }
  std::optional<std::string> get(const std::string& name) const;
};

/// Parses `args` against `specs`. On a mistake returns nullopt and sets
/// `error` to a message naming the offending argument.
std::optional<ParsedFlags> parse_flags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs, std::string* error);

}  // namespace usher::cmd
