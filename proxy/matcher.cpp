#include "proxy/matcher.h"

#include <algorithm>

#include "core/diagnostic.h"
#include "proxy/handler.h"

namespace usher::proxy {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower_copy(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

// `lower` is already lower case; `text` is compared folded.
bool equals_folded(std::string_view text, std::string_view lower) {
  if (text.size() != lower.size()) return false;
  for (size_t i = 0; i < text.size(); ++i)
    if (ascii_lower(text[i]) != lower[i]) return false;
  return true;
}

bool contains_folded(std::string_view text, std::string_view lower) {
  if (lower.size() > text.size()) return false;
  for (size_t i = 0; i + lower.size() <= text.size(); ++i)
    if (equals_folded(text.substr(i, lower.size()), lower)) return true;
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes the character at `i` of a percent-encoded text and advances `i`.
char decode_at(std::string_view text, size_t& i, bool plus_is_space) {
  const char c = text[i++];
  if (c == '+' && plus_is_space) return ' ';
  if (c != '%' || i + 2 > text.size()) return c;
  const int hi = hex_value(text[i]);
  const int lo = hex_value(text[i + 1]);
  if (hi < 0 || lo < 0) return c;
  i += 2;
  return static_cast<char>(hi * 16 + lo);
}

// Compares a percent-encoded query component with a plain string without
// decoding it into a buffer.
bool decoded_equals(std::string_view encoded, std::string_view plain) {
  size_t i = 0;
  size_t j = 0;
  while (i < encoded.size()) {
    if (j >= plain.size() || decode_at(encoded, i, true) != plain[j]) return false;
    ++j;
  }
  return j == plain.size();
}

bool has_dot_segment_at(std::string_view rest) {
  return rest == "." || rest == ".." || rest.starts_with("./") || rest.starts_with("../");
}

// True when the path has doubled slashes or `.`/`..` segments.
bool has_unclean_segments(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '/') continue;
    const std::string_view rest = path.substr(i + 1);
    if ((!rest.empty() && rest.front() == '/') || has_dot_segment_at(rest)) return true;
  }
  return false;
}

// True when clean_request_path would change `path`.
bool needs_cleaning(std::string_view path) {
  return path.find('%') != std::string_view::npos || has_unclean_segments(path);
}

// Resolves dot segments and merges slashes in place (the text only shrinks).
// Go's path.Clean plus Caddy's rule that a trailing slash survives.
void clean_in_place(std::string& s) {
  const bool trailing_slash = s.size() > 1 && s.back() == '/';
  size_t w = 1;  // s[0, w) is the cleaned prefix, "/" or "/a/b" without a final slash
  size_t r = 1;
  while (r < s.size()) {
    if (s[r] == '/') {
      ++r;
      continue;
    }
    size_t end = s.find('/', r);
    if (end == std::string::npos) end = s.size();
    const std::string_view segment(s.data() + r, end - r);
    if (segment == "..") {
      const size_t slash = s.rfind('/', w - 1);
      w = (slash == std::string::npos || slash == 0) ? 1 : slash;
    } else if (segment != ".") {
      if (w > 1) s[w++] = '/';
      std::copy(s.begin() + static_cast<std::ptrdiff_t>(r),
                s.begin() + static_cast<std::ptrdiff_t>(end),
                s.begin() + static_cast<std::ptrdiff_t>(w));
      w += end - r;
    }
    r = end;
  }
  s.resize(w);
  if (trailing_slash && w > 1) s += '/';
}

// Go's path.Match restricted to `*` and `?`, neither crossing `/`;
// `pattern` is lower case and `text` is compared folded.
bool glob_matches(std::string_view pattern, std::string_view text) {
  size_t p = 0;
  size_t i = 0;
  size_t star = std::string_view::npos;
  size_t star_text = 0;
  while (i < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = i;
      continue;
    }
    if (p < pattern.size() &&
        (pattern[p] == '?' ? text[i] != '/' : pattern[p] == ascii_lower(text[i]))) {
      ++p;
      ++i;
      continue;
    }
    if (star == std::string_view::npos || text[star_text] == '/') return false;
    p = star + 1;
    i = ++star_text;
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

// Each `*` label of `pattern` matches one label of `host`.
bool labels_match(std::string_view pattern, std::string_view host) {
  while (true) {
    const size_t pd = pattern.find('.');
    const size_t hd = host.find('.');
    const std::string_view pl = pattern.substr(0, pd);
    const std::string_view hl = host.substr(0, hd);
    if (pl == "*" ? hl.empty() : !equals_folded(hl, pl)) return false;
    if (pd == std::string_view::npos || hd == std::string_view::npos)
      return pd == std::string_view::npos && hd == std::string_view::npos;
    pattern.remove_prefix(pd + 1);
    host.remove_prefix(hd + 1);
  }
}

[[noreturn]] void throw_matcher_error(const std::string& message) {
  throw core::ConfigError("", 0, message);
}

std::vector<core::IpRange> compile_ranges(const std::vector<std::string>& specs,
                                          std::string_view matcher) {
  std::vector<core::IpRange> out;
  for (const std::string& spec : core::expand_private_ranges(specs)) {
    auto range = core::IpRange::parse(spec);
    if (!range)
      throw_matcher_error(std::string(matcher) + " matcher: invalid ip range `" + spec + "`");
    out.push_back(*range);
  }
  return out;
}

bool any_range_contains(const std::vector<core::IpRange>& ranges, const core::IpAddress& a) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const core::IpRange& r) { return r.contains(a); });
}

// The query string split at `&` one pair at a time.
struct QueryPair {
  std::string_view key;
  std::string_view value;
};

QueryPair next_pair(std::string_view& query) {
  const size_t amp = query.find('&');
  const std::string_view pair = query.substr(0, amp);
  query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
  const size_t eq = pair.find('=');
  if (eq == std::string_view::npos) return {pair, {}};
  return {pair.substr(0, eq), pair.substr(eq + 1)};
}

}  // namespace

void percent_decode_into(std::string_view text, std::string& out, bool plus_is_space) {
  for (size_t i = 0; i < text.size();)
    out += decode_at(text, i, plus_is_space);
}

std::string_view clean_request_path(std::string_view raw, std::string& scratch) {
  if (raw.empty() || raw.front() != '/' || !needs_cleaning(raw)) return raw;
  scratch.clear();
  percent_decode_into(raw, scratch);
  // A decoded path may not start with `/` any more only if it was empty.
  if (scratch.empty() || scratch.front() != '/') scratch.insert(scratch.begin(), '/');
  clean_in_place(scratch);
  return scratch;
}

void clean_path_in_place(std::string& path) {
  if (!path.empty() && path.front() == '/' && has_unclean_segments(path)) clean_in_place(path);
}

core::IpAddress to_ip_address(const asio::ip::address& address) {
  core::IpAddress out;
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
    out.v4 = true;
  } else {
    const auto bytes = address.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.end(), out.bytes.begin());
  }
  return out;
}

// ------------------------------------------------------------- patterns

PathPattern::PathPattern(std::string_view pattern) : text_(lower_copy(pattern)) {
  const auto stars = std::count(text_.begin(), text_.end(), '*');
  const bool leading = !text_.empty() && text_.front() == '*';
  const bool trailing = !text_.empty() && text_.back() == '*';
  if (text_ == "*") {
    kind_ = Kind::kAny;
  } else if (stars == 2 && leading && trailing) {
    kind_ = Kind::kContains;
    text_ = text_.substr(1, text_.size() - 2);
  } else if (stars == 1 && leading) {
    kind_ = Kind::kSuffix;
    text_.erase(0, 1);
  } else if (stars == 1 && trailing) {
    kind_ = Kind::kPrefix;
    text_.pop_back();
  } else if (stars == 0 && text_.find('?') == std::string::npos) {
    kind_ = Kind::kExact;
  } else {
    kind_ = Kind::kGlob;
  }
}

bool PathPattern::matches(std::string_view path) const {
  switch (kind_) {
    case Kind::kAny:
      return true;
    case Kind::kExact:
      return equals_folded(path, text_);
    case Kind::kPrefix:
      return path.size() >= text_.size() && equals_folded(path.substr(0, text_.size()), text_);
    case Kind::kSuffix:
      return path.size() >= text_.size() &&
             equals_folded(path.substr(path.size() - text_.size()), text_);
    case Kind::kContains:
      return contains_folded(path, text_);
    case Kind::kGlob:
      return glob_matches(text_, path);
  }
  return false;
}

HostPattern::HostPattern(std::string_view pattern)
    : text_(lower_copy(pattern)), wildcard_(pattern.find('*') != std::string_view::npos) {}

bool HostPattern::matches(std::string_view host) const {
  return wildcard_ ? labels_match(text_, host) : equals_folded(host, text_);
}

bool CompiledMatcher::ValuePattern::matches(std::string_view value) const {
  switch (kind) {
    case Kind::kAnyNonEmpty:
      return !value.empty();
    case Kind::kExact:
      return value == text;
    case Kind::kPrefix:
      return value.starts_with(text);
    case Kind::kSuffix:
      return value.ends_with(text);
    case Kind::kContains:
      return value.find(text) != std::string_view::npos;
  }
  return false;
}

// ------------------------------------------------------------- compiling

CompiledMatcher::ValuePattern CompiledMatcher::compile_value(const std::string& value) {
  using Kind = ValuePattern::Kind;
  const bool leading = value.starts_with('*');
  const bool trailing = value.size() > 1 && value.ends_with('*');
  if (value == "*") return {Kind::kAnyNonEmpty, {}};
  if (leading && trailing) return {Kind::kContains, value.substr(1, value.size() - 2)};
  if (leading) return {Kind::kSuffix, value.substr(1)};
  if (trailing) return {Kind::kPrefix, value.substr(0, value.size() - 1)};
  return {Kind::kExact, value};
}

// `http`, `https`, `grpc`, `http/1.0`, `http/1.1`, `http/2`, `http/3`, and
// `http/N+` for that version or newer, as Caddy's protocol matcher.
CompiledMatcher::Protocol CompiledMatcher::compile_protocol(std::string_view text) {
  using Kind = Protocol::Kind;
  const std::string name = lower_copy(text);
  if (name.empty()) return {};
  if (name == "http") return {Kind::kHttp};
  if (name == "https") return {Kind::kHttps};
  if (name == "grpc") return {Kind::kGrpc};
  static constexpr struct {
    std::string_view name;
    int major;
    int minor;
  } kVersions[] = {{"http/1.0", 1, 0}, {"http/1.1", 1, 1}, {"http/2", 2, 0}, {"http/3", 3, 0}};
  std::string_view version = name;
  const bool or_newer = version.ends_with('+');
  if (or_newer) version.remove_suffix(1);
  for (const auto& row : kVersions)
    if (row.name == version) return {Kind::kVersion, row.major, row.minor, or_newer};
  throw_matcher_error("protocol matcher: unknown protocol `" + std::string(text) + "`");
}

CompiledMatcher::CompiledMatcher(const core::MatcherSet& set)
    : methods_(set.methods),
      remote_ranges_(compile_ranges(set.remote_ip, "remote_ip")),
      client_ranges_(compile_ranges(set.client_ip, "client_ip")),
      protocol_(compile_protocol(set.protocol)) {
  for (const std::string& p : set.paths)
    paths_.emplace_back(p);
  for (const std::string& h : set.hosts)
    hosts_.emplace_back(h);
  for (const core::HeaderMatch& h : set.headers) {
    HeaderCondition condition;
    condition.absent = h.name.starts_with('!');
    condition.name = condition.absent ? h.name.substr(1) : h.name;
    for (const std::string& v : h.values)
      condition.values.push_back(compile_value(v));
    headers_.push_back(std::move(condition));
  }
  for (const core::QueryMatch& q : set.query) {
    auto same_key = [&](const QueryCondition& c) { return c.key == q.key; };
    auto it = std::find_if(query_.begin(), query_.end(), same_key);
    if (it == query_.end()) it = query_.insert(query_.end(), QueryCondition{q.key, {}});
    it->values.push_back(q.value);
  }
  for (const core::MatcherSet& n : set.nots)
    nots_.emplace_back(n);
}

// -------------------------------------------------------------- matching

bool CompiledMatcher::matches(const HttpRequest& request, const ConnectionInfo& connection,
                              std::string_view client_ip) const {
  // Cheapest conditions first; each returns true when it has no values.
  return method_matches(request) && host_matches(request) &&
         protocol_matches(request, connection) && path_matches(request) && headers_match(request) &&
         query_matches(request) && remote_ip_matches(connection) && client_ip_matches(client_ip) &&
         nots_match(request, connection, client_ip);
}

bool CompiledMatcher::matches(RequestContext& ctx) const {
  return matches(ctx.request(), ctx.exchange.connection(), ctx.client_ip);
}

bool CompiledMatcher::method_matches(const HttpRequest& request) const {
  return methods_.empty() ||
         std::find(methods_.begin(), methods_.end(), request.method) != methods_.end();
}

bool CompiledMatcher::host_matches(const HttpRequest& request) const {
  return hosts_.empty() || std::any_of(hosts_.begin(), hosts_.end(), [&](const HostPattern& h) {
           return h.matches(request.host);
         });
}

bool CompiledMatcher::path_matches(const HttpRequest& request) const {
  if (paths_.empty()) return true;
  // Per thread, so that its capacity is reused and no lock is needed.
  thread_local std::string scratch;
  const std::string_view path = clean_request_path(request.path, scratch);
  return std::any_of(paths_.begin(), paths_.end(),
                     [&](const PathPattern& p) { return p.matches(path); });
}

bool CompiledMatcher::protocol_matches(const HttpRequest& request,
                                       const ConnectionInfo& connection) const {
  using Kind = Protocol::Kind;
  switch (protocol_.kind) {
    case Kind::kNone:
      return true;
    case Kind::kHttp:
      return !connection.tls;
    case Kind::kHttps:
      return connection.tls;
    case Kind::kGrpc: {
      const std::string* type = request.headers.find("Content-Type");
      return type != nullptr && type->starts_with("application/grpc");
    }
    case Kind::kVersion: {
      const int have = request.version_major * 10 + request.version_minor;
      const int want = protocol_.major * 10 + protocol_.minor;
      if (protocol_.or_newer) return have >= want;
      return request.version_major == protocol_.major &&
             (protocol_.major != 1 || request.version_minor == protocol_.minor);
    }
  }
  return false;
}

bool CompiledMatcher::headers_match(const HttpRequest& request) const {
  return std::all_of(headers_.begin(), headers_.end(),
                     [&](const HeaderCondition& c) { return header_matches(c, request); });
}

bool CompiledMatcher::header_matches(const HeaderCondition& condition,
                                     const HttpRequest& request) const {
  bool present = false;
  auto value_matches = [&](std::string_view value) {
    present = true;
    return std::any_of(condition.values.begin(), condition.values.end(),
                       [&](const ValuePattern& v) { return v.matches(value); });
  };
  bool matched = false;
  // HTTP/2 carries the host in :authority, not in a Host field.
  if (header_name_equals(condition.name, "Host") && !request.headers.contains("Host")) {
    matched = value_matches(request.authority);
  } else {
    for (const Header& h : request.headers.fields())
      if (header_name_equals(h.name, condition.name) && value_matches(h.value)) matched = true;
  }
  if (condition.absent) return !present;
  return condition.values.empty() ? present : matched;
}

bool CompiledMatcher::query_matches(const HttpRequest& request) const {
  if (query_.empty()) return true;
  // Go's url.ParseQuery rejects `;`, and Caddy then matches nothing.
  if (request.query.find(';') != std::string::npos) return false;
  return std::all_of(query_.begin(), query_.end(), [&](const QueryCondition& c) {
    std::string_view rest = request.query;
    while (!rest.empty()) {
      const QueryPair pair = next_pair(rest);
      if (!decoded_equals(pair.key, c.key)) continue;
      for (const std::string& v : c.values)
        if (v == "*" || decoded_equals(pair.value, v)) return true;
    }
    return false;
  });
}

bool CompiledMatcher::remote_ip_matches(const ConnectionInfo& connection) const {
  return remote_ranges_.empty() ||
         any_range_contains(remote_ranges_, to_ip_address(connection.remote_address));
}

bool CompiledMatcher::client_ip_matches(std::string_view client_ip) const {
  if (client_ranges_.empty()) return true;
  const auto address = core::IpAddress::parse(client_ip);
  return address && any_range_contains(client_ranges_, *address);
}

bool CompiledMatcher::nots_match(const HttpRequest& request, const ConnectionInfo& connection,
                                 std::string_view client_ip) const {
  return std::none_of(nots_.begin(), nots_.end(), [&](const CompiledMatcher& m) {
    return m.matches(request, connection, client_ip);
  });
}

}  // namespace usher::proxy
