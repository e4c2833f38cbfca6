#include "core/caddyfile/arguments.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

#include "core/ip_range.h"
#include "core/units.h"

namespace usher::core::caddyfile {

namespace {

// Names further than this from every known name get no suggestion: a
// suggestion for a word the user did not mean is worse than none.
constexpr size_t kMaxSuggestionDistance = 2;

// Optimal string alignment distance: insertions, deletions, substitutions
// and swaps of two neighbours (the typos people make) each cost one.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> dp(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i)
    dp[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j)
    dp[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      dp[i][j] = std::min({dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        dp[i][j] = std::min(dp[i][j], dp[i - 2][j - 2] + 1);
    }
  }
  return dp[a.size()][b.size()];
}

std::string backticked(std::string_view s) {
  return "`" + std::string(s) + "`";
}

std::optional<int> to_int(std::string_view s) {
  int value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

}  // namespace

// ------------------------------------------------------------ error shapes

std::string_view suggest(std::string_view name, std::span<const std::string_view> known) {
  std::string_view best;
  size_t best_distance = kMaxSuggestionDistance + 1;
  // Very short names are one typo away from everything short.
  const size_t limit = name.size() <= 3 ? 1 : kMaxSuggestionDistance;
  for (std::string_view candidate : known) {
    const size_t distance = edit_distance(name, candidate);
    if (distance <= limit && distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string quoted_list(std::span<const std::string_view> names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += backticked(names[i]);
  }
  return out;
}

ConfigError unknown_name_error(const Token& at, std::string_view kind, std::string_view owner,
                               std::span<const std::string_view> known, std::string fallback_hint) {
  std::string message = "unknown " + std::string(kind) + " " + backticked(at.text);
  if (!owner.empty()) message += " in " + backticked(owner);
  const std::string_view near = suggest(at.text, known);
  std::string hint =
      near.empty() ? std::move(fallback_hint) : "did you mean " + backticked(near) + "?";
  return Dispenser::error_at(at, std::move(message), std::move(hint));
}

ConfigError missing_arg_error(const Token& at, std::string_view name, std::string_view what) {
  return Dispenser::error_at(at, backticked(name) + " expects " + std::string(what));
}

ConfigError too_many_args_error(const Token& at, std::string_view name, size_t max,
                                const std::vector<Token>& args) {
  std::string listed;
  for (const Token& t : args)
    listed += (listed.empty() ? "" : ", ") + backticked(t.text);
  std::string limit = max == 0   ? "no arguments"
                      : max == 1 ? "at most 1 argument"
                                 : "at most " + std::to_string(max) + " arguments";
  return Dispenser::error_at(at, backticked(name) + " takes " + limit + ", got " +
                                     std::to_string(args.size()) + " (" + listed + ")");
}

ConfigError invalid_value_error(const Token& at, std::string_view kind, std::string_view name,
                                std::string_view expected) {
  return Dispenser::error_at(
      at, "invalid " + std::string(kind) + " " + backticked(at.text) + " for " + backticked(name),
      "expected " + std::string(expected));
}

ConfigError no_block_error(const Token& at, std::string_view name) {
  return Dispenser::error_at(at, backticked(name) + " does not take a block");
}

ConfigError unsupported_error(const Token& at, std::string_view what, std::string hint) {
  return Dispenser::error_at(at, std::string(what) + " is not supported yet", std::move(hint));
}

// --------------------------------------------------------------- arguments

std::vector<Token> take_args(Dispenser& d, std::string_view name, size_t min, size_t max,
                             std::string_view what) {
  const Token owner = d.token();
  std::vector<Token> args = d.remaining_arg_tokens();
  if (args.size() < min) throw missing_arg_error(owner, name, what);
  if (args.size() > max) throw too_many_args_error(owner, name, max, args);
  return args;
}

Token take_one(Dispenser& d, std::string_view name, std::string_view what) {
  return take_args(d, name, 1, 1, what).front();
}

void take_none(Dispenser& d, std::string_view name) {
  take_args(d, name, 0, 0, "");
}

void expect_line_end(Dispenser& d, std::string_view name) {
  const Token owner = d.token();
  if (d.count_remaining_args() > 0) {
    std::vector<Token> rest = d.remaining_arg_tokens();
    throw Dispenser::error_at(rest.front(), "unexpected argument " + backticked(rest.front().text) +
                                                " after " + backticked(name));
  }
  if (d.next_is_block_open()) throw no_block_error(owner, name);
}

void expect_segment_end(Dispenser& d, std::string_view name) {
  expect_line_end(d, name);
  if (d.next()) throw d.error("unexpected " + backticked(d.val()) + " after " + backticked(name));
}

// ------------------------------------------------------------------ values

Duration parse_duration_arg(const Token& t, std::string_view name) {
  const auto d = parse_duration(t.text);
  if (!d)
    throw invalid_value_error(t, "duration", name, "a duration like `30s`, `1m30s` or `250ms`");
  return *d;
}

uint64_t parse_size_arg(const Token& t, std::string_view name) {
  const auto size = parse_size(t.text);
  if (!size)
    throw invalid_value_error(t, "size", name, "a size like `10MB`, `512KiB` or `1048576`");
  return *size;
}

int parse_int_arg(const Token& t, std::string_view name, int min, int max) {
  const auto value = to_int(t.text);
  if (!value || *value < min || *value > max) {
    const std::string range =
        max == std::numeric_limits<int>::max()
            ? "an integer of at least " + std::to_string(min)
            : "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    throw invalid_value_error(t, "number", name, range);
  }
  return *value;
}

uint16_t parse_port_arg(const Token& t, std::string_view name) {
  const auto value = to_int(t.text);
  if (!value || *value < 1 || *value > 65535)
    throw invalid_value_error(t, "port", name, "a number from 1 to 65535");
  return static_cast<uint16_t>(*value);
}

StatusMatch parse_status_match_arg(const Token& t, std::string_view name) {
  const std::string& s = t.text;
  if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' && (s[1] == 'x' || s[1] == 'X') &&
      (s[2] == 'x' || s[2] == 'X'))
    return s[0] - '0';
  const auto code = to_int(s);
  if (!code || *code < 100 || *code > 599)
    throw invalid_value_error(t, "status", name, "a code like `200` or a class like `2xx`");
  return *code;
}

int parse_status_arg(const Token& t, std::string_view name) {
  const auto code = to_int(t.text);
  if (!code || *code < 100 || *code > 599)
    throw invalid_value_error(t, "status code", name, "a number from 100 to 599");
  return *code;
}

std::string parse_ip_range_arg(const Token& t, std::string_view name, bool allow_private) {
  if (allow_private && t.text == "private_ranges") return t.text;
  // The proxy's own parser decides, so that both accept the same ranges.
  if (!IpRange::parse(t.text)) {
    std::string expected = "an address or CIDR range like `10.0.0.0/8` or `::1`";
    if (allow_private) expected += ", or `private_ranges`";
    throw invalid_value_error(t, "IP range", name, expected);
  }
  return t.text;
}

std::string parse_choice_arg(const Token& t, std::string_view name,
                             std::span<const std::string_view> choices) {
  if (std::find(choices.begin(), choices.end(), t.text) != choices.end()) return t.text;
  throw invalid_value_error(t, "value", name, quoted_list(choices));
}

// --------------------------------------------------------------- headers

namespace {

// Strips the prefixes of a header field: `>` (defer) then one of `+ - ?`.
struct HeaderField {
  bool defer = false;
  char op = 0;  // '+', '-', '?' or 0
  std::string name;
};

HeaderField split_header_field(const std::string& text) {
  HeaderField f;
  std::string_view s = text;
  if (!s.empty() && s.front() == '>') {
    f.defer = true;
    s.remove_prefix(1);
  }
  if (!s.empty() && (s.front() == '+' || s.front() == '-' || s.front() == '?')) {
    f.op = s.front();
    s.remove_prefix(1);
  }
  f.name = std::string(s);
  return f;
}

}  // namespace

HeaderOp parse_header_op(const Token& field, const std::vector<Token>& rest, bool response) {
  const HeaderField f = split_header_field(field.text);
  const std::string shown = field.text;
  if (f.name.empty()) throw missing_arg_error(field, shown, "a header name after the prefix");
  if (f.defer && !response)
    throw Dispenser::error_at(field, "the defer prefix `>` in " + backticked(shown) +
                                         " only applies to response headers");
  if (f.op == '?')
    throw unsupported_error(field, "the set-if-absent prefix `?` in " + backticked(shown),
                            "write `" + f.name + " VALUE` to always set it");
  HeaderOp op;
  op.name = f.name;
  op.defer = f.defer;
  if (f.op == '-') {
    if (!rest.empty()) throw too_many_args_error(field, shown, 0, rest);
    op.op = HeaderOp::Op::kDelete;
    // As Caddy does: a deleted response header is deleted after the handler
    // ran, else an upstream could set it again.
    op.defer = op.defer || response;
    return op;
  }
  if (rest.empty())
    throw Dispenser::error_at(field, backticked(shown) + " expects a value",
                              f.op == '+' ? "" : "to delete the header write `-" + f.name + "`");
  if (rest.size() > 2) throw too_many_args_error(field, shown, 2, rest);
  if (f.op == '+' && rest.size() > 1) throw too_many_args_error(field, shown, 1, rest);
  if (rest.size() == 2) {
    op.op = HeaderOp::Op::kReplace;
    op.search = rest[0].text;
    op.value = Template::parse(rest[1].text);
    return op;
  }
  op.op = f.op == '+' ? HeaderOp::Op::kAdd : HeaderOp::Op::kSet;
  op.value = Template::parse(rest[0].text);
  return op;
}

}  // namespace usher::core::caddyfile
