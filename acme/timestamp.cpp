#include "acme/timestamp.h"

#include <cstdio>
#include <ctime>

namespace usher::acme {

namespace {

// Offset "+hh:mm" / "-hh:mm" / "Z" at `pos`; nullopt when malformed.
std::optional<std::chrono::seconds> parse_offset(std::string_view text, size_t pos) {
  if (pos >= text.size()) return std::nullopt;
  if ((text[pos] == 'Z' || text[pos] == 'z') && pos + 1 == text.size()) {
    return std::chrono::seconds(0);
  }
  if ((text[pos] != '+' && text[pos] != '-') || text.size() != pos + 6) return std::nullopt;
  int hours = 0;
  int minutes = 0;
  std::string rest(text.substr(pos + 1));
  if (std::sscanf(rest.c_str(), "%2d:%2d", &hours, &minutes) != 2) return std::nullopt;
  auto offset = std::chrono::hours(hours) + std::chrono::minutes(minutes);
  return text[pos] == '+' ? offset : -offset;
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
  std::tm parts{};
  std::string head(text.substr(0, 19));
  if (head.size() != 19) return std::nullopt;
  int consumed = 0;
  if (std::sscanf(head.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &parts.tm_year, &parts.tm_mon,
                  &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9')
      ++pos;  // sub-second: dropped
  }
  auto offset = parse_offset(text, pos);
  if (!offset) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&parts)) - *offset;
}

std::string format_rfc3339(std::chrono::system_clock::time_point when) {
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm parts{};
  gmtime_r(&t, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return buffer;
}

}  // namespace usher::acme
