#include "core/caddyfile/env.h"

#include <algorithm>
#include <cstdlib>

namespace usher::core::caddyfile {
namespace {

constexpr std::string_view kOpen = "{$";
constexpr char kClose = '}';
constexpr char kDefaultSeparator = ':';

/// One `{$NAME[:default]}` found in the text.
struct EnvReference {
  size_t begin = 0;  // offset of `{$`
  size_t end = 0;    // offset just past `}`
  std::string name;
  std::optional<std::string> fallback;
};

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

/// Reads the reference starting at `begin` (which holds `{$`); nullopt when it
/// is not one we substitute, so the text stays as written.
std::optional<EnvReference> read_reference(std::string_view text, size_t begin) {
  size_t close = begin + kOpen.size();
  while (close < text.size() && text[close] != kClose && text[close] != '\n')
    ++close;
  if (close >= text.size() || text[close] != kClose) return std::nullopt;
  std::string_view inner = text.substr(begin + kOpen.size(), close - begin - kOpen.size());
  EnvReference ref{begin, close + 1, {}, std::nullopt};
  size_t separator = inner.find(kDefaultSeparator);
  ref.name = std::string(inner.substr(0, separator));
  if (separator != std::string_view::npos) ref.fallback = std::string(inner.substr(separator + 1));
  if (ref.name.empty() || std::any_of(ref.name.begin(), ref.name.end(), is_blank)) {
    return std::nullopt;
  }
  return ref;
}

/// Appends `value` to `out`, remembering where its newlines land.
void append_value(ExpandedText& out, const std::string& value) {
  for (char c : value) {
    if (c == '\n') out.synthetic_newlines.push_back(out.text.size());
    out.text.push_back(c);
  }
}

std::string resolve(const EnvReference& ref, const std::string& file, int line,
                    const EnvLookup& getenv, Diagnostics& diagnostics) {
  if (auto value = getenv(ref.name)) return *value;
  if (ref.fallback) return *ref.fallback;
  diagnostics.warning(file, line, "environment variable `" + ref.name + "` is not set",
                      "set it, or give a default with {$" + ref.name + ":default}");
  return {};
}

}  // namespace

ExpandedText substitute_env(std::string_view text, const std::string& file, const EnvLookup& getenv,
                            Diagnostics& diagnostics) {
  ExpandedText out;
  out.text.reserve(text.size());
  int line = 1;  // line of the original text, for warnings
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, kOpen.size(), kOpen) == 0) {
      if (auto ref = read_reference(text, i)) {
        append_value(out, resolve(*ref, file, line, getenv, diagnostics));
        i = ref->end;
        continue;
      }
    }
    if (text[i] == '\n') ++line;
    out.text.push_back(text[i++]);
  }
  return out;
}

std::optional<std::string> process_getenv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace usher::core::caddyfile
