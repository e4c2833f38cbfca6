#include "core/units.h"

#include <array>
#include <cctype>
#include <cmath>
#include <limits>

namespace usher::core {

namespace {

struct Unit {
  std::string_view name;
  double millis;
};

// Longest names first so that "ms" is not read as "m" followed by "s".
constexpr std::array<Unit, 6> kDurationUnits{{
    {"ms", 1.0},
    {"h", 3'600'000.0},
    {"m", 60'000.0},
    {"s", 1'000.0},
    {"d", 86'400'000.0},
    {"us", 0.001},
}};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads a decimal number (digits with an optional fraction) at text[pos].
std::optional<double> read_number(std::string_view text, size_t& pos) {
  size_t start = pos;
  while (pos < text.size() && (is_digit(text[pos]) || text[pos] == '.'))
    ++pos;
  if (pos == start) return std::nullopt;
  std::string digits(text.substr(start, pos - start));
  if (digits.find('.') != digits.rfind('.') || digits == ".") return std::nullopt;
  return std::stod(digits);
}

std::optional<double> read_unit(std::string_view text, size_t& pos) {
  for (const auto& unit : kDurationUnits) {
    if (text.substr(pos, unit.name.size()) == unit.name) {
      pos += unit.name.size();
      return unit.millis;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  bool bare_integer = true;
  for (char c : text)
    bare_integer = bare_integer && is_digit(c);
  if (bare_integer) {
    if (text.size() > 12) return std::nullopt;
    auto seconds = std::stoll(std::string(text));
    return Duration(negative ? -seconds * 1000 : seconds * 1000);
  }
  double total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    auto number = read_number(text, pos);
    if (!number) return std::nullopt;
    auto unit = read_unit(text, pos);
    if (!unit) return std::nullopt;
    total += *number * *unit;
  }
  if (total > 1e15) return std::nullopt;
  auto millis = static_cast<int64_t>(std::llround(total));
  return Duration(negative ? -millis : millis);
}

std::string format_duration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out = ms < 0 ? "-" : "";
  uint64_t rest = ms < 0 ? static_cast<uint64_t>(-ms) : static_cast<uint64_t>(ms);
  constexpr std::array<std::pair<uint64_t, const char*>, 4> kParts{
      {{3'600'000, "h"}, {60'000, "m"}, {1'000, "s"}, {1, "ms"}}};
  for (const auto& [size, name] : kParts) {
    if (rest >= size) {
      out += std::to_string(rest / size) + name;
      rest %= size;
    }
  }
  return out;
}

std::optional<uint64_t> parse_size(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size() && (is_digit(text[pos]) || text[pos] == '.'))
    ++pos;
  if (pos == 0) return std::nullopt;
  std::string number(text.substr(0, pos));
  if (number.find('.') != number.rfind('.')) return std::nullopt;
  std::string unit;
  for (char c : text.substr(pos))
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  struct SizeUnit {
    std::string_view name;
    double factor;
  };
  constexpr std::array<SizeUnit, 11> kUnits{{{"", 1},
                                             {"b", 1},
                                             {"kb", 1e3},
                                             {"mb", 1e6},
                                             {"gb", 1e9},
                                             {"tb", 1e12},
                                             {"kib", 1024.0},
                                             {"mib", 1024.0 * 1024},
                                             {"gib", 1024.0 * 1024 * 1024},
                                             {"tib", 1024.0 * 1024 * 1024 * 1024},
                                             {"k", 1e3}}};
  for (const auto& u : kUnits) {
    if (unit == u.name) {
      double value = std::stod(number) * u.factor;
      if (!(value >= 0) || value > static_cast<double>(std::numeric_limits<int64_t>::max()))
        return std::nullopt;
      return static_cast<uint64_t>(std::llround(value));
    }
  }
  return std::nullopt;
}

}  // namespace usher::core
