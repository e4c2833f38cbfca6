// Request matchers: the matcher token that may start a directive's arguments
// (`*`, `/path`, `@name`) and named matcher definitions (`@name TYPE args` or
// `@name { … }`), one parse function per matcher type.

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

#include "core/caddyfile/directives.h"

namespace usher::core::caddyfile {

namespace {

constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

using MatcherFn = void (*)(Dispenser& d, MatcherSet& set);

struct MatcherType {
  std::string_view name;
  MatcherFn parse;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

void parse_path(Dispenser& d, MatcherSet& set) {
  for (const Token& t : take_args(d, "path", 1, kNoLimit, "one or more paths like `/api/*`")) {
    // `*.php` (a suffix pattern) is the one path that may not start with `/`.
    if (t.text.empty() || (t.text.front() != '/' && t.text.front() != '*'))
      throw invalid_value_error(t, "path", "path", "a path starting with `/`, like `/api/*`");
    set.paths.push_back(t.text);
  }
}

void parse_host(Dispenser& d, MatcherSet& set) {
  for (const Token& t : take_args(d, "host", 1, kNoLimit, "one or more host names"))
    set.hosts.push_back(lower(t.text));
}

void parse_method(Dispenser& d, MatcherSet& set) {
  for (const Token& t : take_args(d, "method", 1, kNoLimit, "one or more methods like `GET`"))
    set.methods.push_back(upper(t.text));
}

void parse_header(Dispenser& d, MatcherSet& set) {
  std::vector<Token> args = take_args(d, "header", 1, kNoLimit, "a header name and its values");
  std::vector<std::string> values;
  for (size_t i = 1; i < args.size(); ++i)
    values.push_back(args[i].text);
  // Several lines for one header merge into one condition, as in Caddy.
  for (HeaderMatch& existing : set.headers) {
    if (existing.name == args[0].text) {
      existing.values.insert(existing.values.end(), values.begin(), values.end());
      return;
    }
  }
  set.headers.push_back({args[0].text, std::move(values)});
}

void parse_query(Dispenser& d, MatcherSet& set) {
  for (const Token& t : take_args(d, "query", 1, kNoLimit, "one or more `key=value` pairs")) {
    const size_t eq = t.text.find('=');
    if (eq == std::string::npos || eq == 0)
      throw invalid_value_error(t, "query condition", "query", "a `key=value` pair like `page=*`");
    set.query.push_back({t.text.substr(0, eq), t.text.substr(eq + 1)});
  }
}

void parse_ip_list(Dispenser& d, std::string_view name, std::vector<std::string>& out) {
  for (const Token& t :
       take_args(d, name, 1, kNoLimit, "one or more IP ranges like `10.0.0.0/8`")) {
    if (t.text == "forwarded")
      throw unsupported_error(t, "`forwarded` in `remote_ip`", "use `client_ip` instead");
    out.push_back(parse_ip_range_arg(t, name, true));
  }
}

void parse_remote_ip(Dispenser& d, MatcherSet& set) {
  parse_ip_list(d, "remote_ip", set.remote_ip);
}
void parse_client_ip(Dispenser& d, MatcherSet& set) {
  parse_ip_list(d, "client_ip", set.client_ip);
}

constexpr std::array<std::string_view, 6> kProtocols{"http",     "https",  "grpc",
                                                     "http/1.1", "http/2", "http/3"};

void parse_protocol(Dispenser& d, MatcherSet& set) {
  const Token t = take_one(d, "protocol", "a protocol like `https`");
  if (!set.protocol.empty())
    throw Dispenser::error_at(t, "`protocol` is given twice in one matcher");
  set.protocol = parse_choice_arg(t, "protocol", kProtocols);
}

void parse_not(Dispenser& d, MatcherSet& set);

// Matcher types Caddy has and usher cannot evaluate yet.
constexpr std::array<std::string_view, 7> kUnsupportedMatchers{
    "expression", "path_regexp", "header_regexp", "file", "vars", "vars_regexp", "remote_host"};

constexpr std::array<MatcherType, 9> kMatcherTypes{{
    {"path", parse_path},
    {"host", parse_host},
    {"method", parse_method},
    {"header", parse_header},
    {"query", parse_query},
    {"remote_ip", parse_remote_ip},
    {"client_ip", parse_client_ip},
    {"protocol", parse_protocol},
    {"not", parse_not},
}};

// Parses one `TYPE args…` line into `set`; the cursor is on TYPE.
void parse_matcher_line(Dispenser& d, MatcherSet& set) {
  const Token type = d.token();
  for (const MatcherType& row : kMatcherTypes) {
    if (row.name == type.text) {
      row.parse(d, set);
      expect_line_end(d, type.text);
      return;
    }
  }
  if (std::find(kUnsupportedMatchers.begin(), kUnsupportedMatchers.end(), type.text) !=
      kUnsupportedMatchers.end())
    throw unsupported_error(type, "matcher `" + type.text + "`");
  std::array<std::string_view, kMatcherTypes.size()> names{};
  for (size_t i = 0; i < names.size(); ++i)
    names[i] = kMatcherTypes[i].name;
  throw unknown_name_error(type, "matcher type", "", names, "expected " + quoted_list(names));
}

// Parses the lines of a matcher block into `set`, reporting each bad line.
void parse_matcher_block(Dispenser& d, MatcherSet& set) {
  for (int nesting = d.nesting(); d.next_block(nesting);) {
    try {
      parse_matcher_line(d, set);
    } catch (const ConfigError& e) {
      d.report(e);
    }
  }
}

// `not TYPE args` or `not { … }`: each `not` is one more condition that must
// not hold.
void parse_not(Dispenser& d, MatcherSet& set) {
  MatcherSet negated;
  if (d.next_arg()) {
    parse_matcher_line(d, negated);
  } else if (d.next_is_block_open()) {
    parse_matcher_block(d, negated);
  } else {
    throw missing_arg_error(d.token(), "not", "a matcher like `path /admin/*` or a block");
  }
  set.nots.push_back(std::move(negated));
}

std::string unknown_matcher_hint(const std::string& name, const MatcherDefs& defs) {
  std::vector<std::string_view> names;
  for (const auto& [defined, unused] : defs)
    names.push_back(defined);
  const std::string_view near = suggest(name, names);
  if (!near.empty()) return "did you mean `" + std::string(near) + "`?";
  if (names.empty()) return "define it in the same block, e.g. `" + name + " path /api/*`";
  return "defined here: " + quoted_list(names);
}

}  // namespace

bool is_matcher_token(const Token& t) {
  if (t.quoted || t.text.empty()) return false;
  return t.text == "*" || t.text.front() == '/' || (t.text.front() == '@' && t.text.size() > 1);
}

bool take_matcher(Dispenser& d, const Scope& scope, Route& route) {
  if (!d.next_arg()) return false;
  const Token t = d.token();
  if (!is_matcher_token(t)) {
    d.prev();
    return false;
  }
  if (t.text == "*") return true;
  if (t.text.front() == '/') {
    route.match = MatcherSet{};
    route.match->paths.push_back(t.text);
    return true;
  }
  const auto found = scope.matchers.find(t.text);
  if (found == scope.matchers.end())
    throw Dispenser::error_at(t, "unknown matcher `" + t.text + "`",
                              unknown_matcher_hint(t.text, scope.matchers));
  route.matcher_name = t.text;
  route.match = found->second.set;
  return true;
}

void parse_matcher_definition(Dispenser& d, MatcherDefs& defs) {
  const Token name = d.token();
  if (const auto existing = defs.find(name.text); existing != defs.end()) {
    const Origin& first = existing->second.origin;
    throw Dispenser::error_at(name, "matcher `" + name.text + "` is defined more than once",
                              "first defined at " + first.file + ":" + std::to_string(first.line));
  }
  // Defined even when a line of it is wrong, so that its uses do not report
  // a second, misleading "unknown matcher".
  NamedMatcher& def = defs[name.text];
  def.origin = {name.file, name.line};
  try {
    if (d.next_arg()) {
      // Caddy reads a quoted first argument as a CEL expression.
      if (d.token().quoted) throw unsupported_error(d.token(), "matcher `expression`");
      parse_matcher_line(d, def.set);
    } else if (d.next_is_block_open()) {
      parse_matcher_block(d, def.set);
    } else {
      throw missing_arg_error(name, name.text, "a matcher like `path /api/*` or a block");
    }
  } catch (const ConfigError& e) {
    d.report(e);
  }
}

}  // namespace usher::core::caddyfile
