#include "core/yaml_schema.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <regex>

#include "core/units.h"

namespace usher::core {

namespace {

// Bounds the nesting of maps (routes within subroutes, `nots` within
// matchers): recursion depth, hence stack use, on hostile input.
constexpr int kMaxDepth = 64;

// Bounds the number of values read: YAML aliases can make a small file
// expand into an exponential number of nodes (the "billion laughs" shape).
constexpr int kMaxValues = 100'000;

constexpr std::string_view kDurationExamples = "a duration such as 250ms, 30s or 1m30s";

std::string quoted(std::string_view text) {
  return "`" + std::string(text) + "`";
}

// Reads a whole scalar as a decimal integer; nullopt on anything else.
template <class Int>
std::optional<Int> parse_integer(const YAML::Node& node) {
  if (!node.IsScalar()) return std::nullopt;
  const std::string& text = node.Scalar();
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// C0 controls and DEL: yaml-cpp writes some of them (`\r`) plain, where a
// reader drops them as line breaks or trailing white space.
bool has_control_character(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

void YamlReader::error(int line, std::string message, std::string hint) {
  diagnostics_.error(file_, line, std::move(message), std::move(hint));
}

bool YamlReader::enter(int line) {
  if (depth_ >= kMaxDepth) {
    if (!reported_depth_)
      error(line, "maps nest too deeply (more than " + std::to_string(kMaxDepth) + " levels)");
    reported_depth_ = true;
    return false;
  }
  ++depth_;
  return true;
}

bool YamlReader::take(int line) {
  if (++values_ <= kMaxValues) return true;
  if (values_ == kMaxValues + 1)
    error(line, "too many values (more than " + std::to_string(kMaxValues) + ", aliases included)");
  return false;
}

std::string YamlPlace::subject() const {
  return item ? "each item of " + quoted(key) : quoted(key);
}

int yaml_line(const YAML::Node& node, int fallback) {
  YAML::Mark mark = node.Mark();
  return mark.is_null() ? fallback : mark.line + 1;
}

bool looks_like_non_string(std::string_view text) {
  // YAML 1.1 (still the default of many readers) reads these words as
  // booleans or null; `=` and `<<` are its value and merge keys.
  static constexpr std::array<std::string_view, 13> kWords{
      "", "~", "null", "y", "n", "yes", "no", "on", "off", "true", "false", "=", "<<"};
  if (std::find(kWords.begin(), kWords.end(), lowercase(text)) != kWords.end()) return true;
  // Integers (decimal, binary, octal, hex, sexagesimal `1:30`), floats,
  // infinities and NaN, and dates, in YAML 1.1 and 1.2 spellings.
  static const std::regex kNumberOrDate(
      R"([-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-f_]+|[0-9][0-9_]*(:[0-5]?[0-9])*))"
      R"(|[-+]?([0-9][0-9_]*(:[0-5]?[0-9])*)?\.[0-9_]*(e[-+]?[0-9]+)?)"
      R"(|[-+]?[0-9][0-9_]*e[-+]?[0-9]+)"
      R"(|[-+]?\.inf|\.nan)"
      R"(|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([t \t].*)?)",
      std::regex::icase | std::regex::optimize);
  return std::regex_match(text.begin(), text.end(), kNumberOrDate);
}

void emit_string(YAML::Emitter& out, std::string_view text) {
  // yaml-cpp quotes what would break the syntax (`{`, `: `, `#`, `*`…) but
  // writes `on` or `1.1` plain, which readers then take for a bool or a number.
  if (looks_like_non_string(text) || has_control_character(text)) out << YAML::DoubleQuoted;
  out << std::string(text);
}

Codec<std::string> string_codec() {
  return {[](YAML::Emitter& out, const std::string& value) { emit_string(out, value); },
          [](const YAML::Node& node, const YamlPlace& place, YamlReader& r, std::string& out) {
            if (!node.IsScalar()) {
              r.error(place.line, place.subject() + " must be a string");
              return false;
            }
            out = node.Scalar();
            return true;
          }};
}

Codec<bool> bool_codec() {
  return {[](YAML::Emitter& out, const bool& value) { out << (value ? "true" : "false"); },
          [](const YAML::Node& node, const YamlPlace& place, YamlReader& r, bool& out) {
            // Only YAML 1.2's two spellings: `yes`/`on` would read differently
            // in other tools, and a config should mean one thing everywhere.
            if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false")) {
              out = node.Scalar() == "true";
              return true;
            }
            r.error(place.line, place.subject() + " must be true or false");
            return false;
          }};
}

Codec<int> int_codec() {
  return {[](YAML::Emitter& out, const int& value) { out << value; },
          [](const YAML::Node& node, const YamlPlace& place, YamlReader& r, int& out) {
            auto value = parse_integer<int>(node);
            if (!value) {
              r.error(place.line, place.subject() + " must be an integer");
              return false;
            }
            out = *value;
            return true;
          }};
}

Codec<uint16_t> port_codec() {
  return {[](YAML::Emitter& out, const uint16_t& value) { out << value; },
          [](const YAML::Node& node, const YamlPlace& place, YamlReader& r, uint16_t& out) {
            auto value = parse_integer<int64_t>(node);
            if (!value || *value < 1 || *value > 65535) {
              r.error(place.line, place.subject() + " must be an integer between 1 and 65535");
              return false;
            }
            out = static_cast<uint16_t>(*value);
            return true;
          }};
}

Codec<uint64_t> size_codec() {
  static const std::string kExpected = "expected a number of bytes, or a size such as 10KB or 1MiB";
  return {[](YAML::Emitter& out, const uint64_t& value) { out << value; },
          [](const YAML::Node& node, const YamlPlace& place, YamlReader& r, uint64_t& out) {
            if (!node.IsScalar()) {
              r.error(place.line, place.subject() + " must be a size", kExpected);
              return false;
            }
            auto value = parse_integer<uint64_t>(node);
            if (!value) value = parse_size(node.Scalar());
            if (!value) {
              r.error(place.line,
                      "invalid size " + quoted(node.Scalar()) + " for " + quoted(place.key),
                      kExpected);
              return false;
            }
            out = *value;
            return true;
          }};
}

Codec<Duration> duration_codec() {
  return {
      [](YAML::Emitter& out, const Duration& value) { emit_string(out, format_duration(value)); },
      [](const YAML::Node& node, const YamlPlace& place, YamlReader& r, Duration& out) {
        if (!node.IsScalar()) {
          r.error(place.line, place.subject() + " must be " + std::string(kDurationExamples));
          return false;
        }
        auto value = parse_duration(node.Scalar());
        if (!value) {
          r.error(place.line,
                  "invalid duration " + quoted(node.Scalar()) + " for " + quoted(place.key),
                  "expected " + std::string(kDurationExamples));
          return false;
        }
        out = *value;
        return true;
      }};
}

Codec<Template> template_codec() {
  auto text = string_codec();
  return {[text](YAML::Emitter& out, const Template& value) { text.write(out, value.raw); },
          [text](const YAML::Node& node, const YamlPlace& place, YamlReader& r, Template& out) {
            std::string raw;
            if (!text.read(node, place, r, raw)) return false;
            out = Template::parse(raw);
            return true;
          }};
}

Codec<StatusMatch> status_codec() {
  // A StatusMatch from 1 to 5 is a class: 5 means every 5xx status. Any
  // other value is written as an integer, so that even a value the
  // validator will reject survives a round trip unchanged.
  constexpr int kFirstClass = 1;
  constexpr int kLastClass = 5;
  static const std::string kExpected = "expected a status code such as 503 or a class such as 5xx";
  return {[](YAML::Emitter& out, const StatusMatch& value) {
            if (value >= kFirstClass && value <= kLastClass) {
              emit_string(out, std::to_string(value) + "xx");
            } else {
              out << value;
            }
          },
          [](const YAML::Node& node, const YamlPlace& place, YamlReader& r, StatusMatch& out) {
            if (!node.IsScalar()) {
              r.error(place.line, place.subject() + " must be a status", kExpected);
              return false;
            }
            const std::string& text = node.Scalar();
            if (text.size() == 3 && text.substr(1) == "xx" && text[0] >= '0' + kFirstClass &&
                text[0] <= '0' + kLastClass) {
              out = text[0] - '0';
              return true;
            }
            auto code = parse_integer<int>(node);
            if (!code) {
              r.error(place.line, "invalid status " + quoted(text) + " for " + quoted(place.key),
                      kExpected);
              return false;
            }
            out = *code;
            return true;
          }};
}

bool expect_map(const YAML::Node& node, const YamlPlace& place, YamlReader& r) {
  if (node.IsMap()) return true;
  r.error(place.line, place.subject() + " must be a map");
  return false;
}

namespace {

std::string expected_keys(const std::vector<BoundKey>& keys) {
  std::string out = "expected one of: ";
  for (size_t i = 0; i < keys.size(); ++i)
    out += (i ? ", " : "") + std::string(keys[i].key);
  return out;
}

}  // namespace

void read_entries(const YAML::Node& map, std::string_view what, const std::vector<BoundKey>& keys,
                  YamlReader& r, bool report_unknown) {
  std::vector<std::string> seen;
  int map_line = yaml_line(map, 0);
  for (const auto& entry : map) {
    int line = yaml_line(entry.first, map_line);
    if (!r.take(line)) return;
    if (!entry.first.IsScalar()) {
      r.error(line, "keys in " + std::string(what) + " must be strings");
      continue;
    }
    const std::string& name = entry.first.Scalar();
    auto bound =
        std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.key == name; });
    if (bound == keys.end()) {
      if (report_unknown)
        r.error(line, "unknown key " + quoted(name) + " in " + std::string(what),
                expected_keys(keys));
      continue;
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      r.error(line, "duplicate key " + quoted(name) + " in " + std::string(what));
      continue;
    }
    seen.push_back(name);
    bound->read(entry.second, YamlPlace{bound->key, line, false});
  }
}

}  // namespace usher::core
