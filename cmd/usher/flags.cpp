#include "cmd/usher/flags.h"

#include <algorithm>

namespace usher::cmd {

std::optional<std::string> ParsedFlags::get(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

namespace {

const FlagSpec* find_spec(const std::vector<FlagSpec>& specs, const std::string& name) {
  auto it =
      std::find_if(specs.begin(), specs.end(), [&](const FlagSpec& s) { return name == s.name; });
  return it == specs.end() ? nullptr : &*it;
}

}  // namespace

std::optional<ParsedFlags> parse_flags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs, std::string* error) {
  ParsedFlags parsed;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || arg.size() < 2 || arg[0] != '-' || arg == "-") {
      parsed.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    // Accept both --name and -name, as Go's flag package (and so caddy) does.
    std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<std::string> inline_value;
    if (auto eq = body.find('='); eq != std::string::npos) {
      inline_value = body.substr(eq + 1);
      body.resize(eq);
    }
    const FlagSpec* spec = find_spec(specs, body);
    if (spec == nullptr) {
      *error = "unknown flag `" + arg + "`";
      return std::nullopt;
    }
    if (!spec->takes_value) {
      if (inline_value) {
        *error = "flag `--" + body + "` takes no value";
        return std::nullopt;
      }
      parsed.values[body] = "true";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        *error = "flag `--" + body + "` needs a value";
        return std::nullopt;
      }
      inline_value = args[++i];
    }
    parsed.values[body] = *inline_value;
  }
  return parsed;
}

}  // namespace usher::cmd
