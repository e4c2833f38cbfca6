#include "core/placeholder.h"

#include <algorithm>
#include <cctype>

namespace usher::core {
namespace {

using Kind = PlaceholderKind;

// Names that take no argument, short (Caddyfile) and long (Caddy JSON) form.
struct ExactName {
  std::string_view name;
  Kind kind;
};

constexpr ExactName kExactNames[] = {
    {"host", Kind::kHost},
    {"http.request.host", Kind::kHost},
    {"hostport", Kind::kHostport},
    {"http.request.hostport", Kind::kHostport},
    {"port", Kind::kPort},
    {"http.request.port", Kind::kPort},
    {"uri", Kind::kUri},
    {"http.request.uri", Kind::kUri},
    {"path", Kind::kPath},
    {"http.request.uri.path", Kind::kPath},
    {"dir", Kind::kDir},
    {"http.request.uri.path.dir", Kind::kDir},
    {"file", Kind::kFile},
    {"http.request.uri.path.file", Kind::kFile},
    {"query", Kind::kQuery},
    {"http.request.uri.query", Kind::kQuery},
    {"scheme", Kind::kScheme},
    {"http.request.scheme", Kind::kScheme},
    {"method", Kind::kMethod},
    {"http.request.method", Kind::kMethod},
    {"remote", Kind::kRemote},
    {"http.request.remote", Kind::kRemote},
    {"remote_host", Kind::kRemoteHost},
    {"http.request.remote.host", Kind::kRemoteHost},
    {"remote_port", Kind::kRemotePort},
    {"http.request.remote.port", Kind::kRemotePort},
    {"client_ip", Kind::kClientIp},
    {"http.vars.client_ip", Kind::kClientIp},
    {"tls_server_name", Kind::kTlsServerName},
    {"http.request.tls.server_name", Kind::kTlsServerName},
    {"upstream_hostport", Kind::kUpstreamHostport},
    {"rp.upstream.hostport", Kind::kUpstreamHostport},  // Caddy's `{rp.*}` shorthand
    {"http.reverse_proxy.upstream.hostport", Kind::kUpstreamHostport},
    {"err.status_code", Kind::kErrorStatusCode},
    {"http.error.status_code", Kind::kErrorStatusCode},
    {"err.status_text", Kind::kErrorStatusText},
    {"http.error.status_text", Kind::kErrorStatusText},
    {"err.message", Kind::kErrorMessage},
    {"http.error.message", Kind::kErrorMessage},
};

// A DNS name has at most 127 labels (253 characters, one-letter labels), so a
// larger index can never have a value and is surely a typo.
constexpr int kMaxLabelIndex = 126;

// RFC 9110 §5.6.2: tchar. Header and cookie names are tokens.
bool is_tchar(char c) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         kSymbols.find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar);
}

bool is_label_index(std::string_view text) {
  if (text.empty() || text.size() > 3) return false;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  return std::stoi(std::string(text)) <= kMaxLabelIndex;
}

bool is_non_empty(std::string_view text) {
  return !text.empty();
}

// Names whose tail is an argument (header name, label index, ...).
struct PrefixName {
  std::string_view prefix;
  Kind kind;
  bool (*valid_arg)(std::string_view);
};

constexpr PrefixName kPrefixNames[] = {
    {"header.", Kind::kHeader, is_token},
    {"http.request.header.", Kind::kHeader, is_token},
    {"cookie.", Kind::kCookie, is_token},
    {"http.request.cookie.", Kind::kCookie, is_token},
    {"query.", Kind::kQueryParam, is_non_empty},
    {"http.request.uri.query.", Kind::kQueryParam, is_non_empty},
    {"labels.", Kind::kLabel, is_label_index},
    {"http.request.host.labels.", Kind::kLabel, is_label_index},
    {"env.", Kind::kEnv, is_non_empty},
};

// Caddy's replacer takes anything between braces as a key; we are stricter
// so that JSON bodies (`{ "a": 1 }`), `{$ENV}` left over and stray braces
// stay literal text instead of becoming unknown placeholders.
bool is_placeholder_name(std::string_view name) {
  if (name.empty() || name.front() == '$') return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '{' || c == '\\';
  });
}

bool is_brace(char c) {
  return c == '{' || c == '}';
}

// The index of the `}` closing a placeholder opened at `open`, or npos when
// the `{` there is literal text.
size_t placeholder_end(std::string_view raw, size_t open) {
  size_t close = raw.find('}', open + 1);
  if (close == std::string_view::npos) return close;
  if (!is_placeholder_name(raw.substr(open + 1, close - open - 1))) return std::string_view::npos;
  return close;
}

void flush_literal(std::string& literal, std::vector<TemplatePart>& parts) {
  if (literal.empty()) return;
  parts.push_back({true, std::move(literal), Kind::kUnknown, {}});
  literal.clear();
}

TemplatePart placeholder_part(std::string_view name) {
  TemplatePart part{false, std::string(name), Kind::kUnknown, {}};
  part.kind = classify_placeholder(name, &part.arg);
  return part;
}

}  // namespace

Template Template::parse(std::string_view raw) {
  Template out;
  out.raw = std::string(raw);
  std::string literal;
  size_t i = 0;
  while (i < raw.size()) {
    if (raw[i] == '\\' && i + 1 < raw.size() && is_brace(raw[i + 1])) {
      literal += raw[i + 1];
      i += 2;
      continue;
    }
    if (raw[i] == '{') {
      size_t close = placeholder_end(raw, i);
      if (close != std::string_view::npos) {
        flush_literal(literal, out.parts);
        out.parts.push_back(placeholder_part(raw.substr(i + 1, close - i - 1)));
        i = close + 1;
        continue;
      }
    }
    literal += raw[i++];
  }
  flush_literal(literal, out.parts);
  return out;
}

bool Template::is_literal() const {
  return std::all_of(parts.begin(), parts.end(), [](const auto& p) { return p.literal; });
}

std::vector<std::string> Template::unknown_placeholders() const {
  std::vector<std::string> out;
  for (const auto& part : parts) {
    if (part.literal || part.kind != Kind::kUnknown) continue;
    if (std::find(out.begin(), out.end(), part.text) == out.end()) out.push_back(part.text);
  }
  return out;
}

PlaceholderKind classify_placeholder(std::string_view name, std::string* arg) {
  if (arg) arg->clear();
  for (const auto& exact : kExactNames)
    if (exact.name == name) return exact.kind;
  for (const auto& prefixed : kPrefixNames) {
    if (!name.starts_with(prefixed.prefix)) continue;
    auto tail = name.substr(prefixed.prefix.size());
    if (!prefixed.valid_arg(tail)) return Kind::kUnknown;
    if (arg) *arg = std::string(tail);
    return prefixed.kind;
  }
  return Kind::kUnknown;
}

}  // namespace usher::core
