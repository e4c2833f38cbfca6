#pragma once

// Request matchers compiled once per config snapshot. Matching reads the
// request in place: no allocation on the request path except when a path
// needs decoding or cleaning, which reuses a per-thread buffer.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/ip_range.h"
#include "proxy/exchange.h"

namespace usher::proxy {

struct RequestContext;

/// Appends the percent-decoded form of `text` to `out`; invalid escapes stay
/// as written. `plus_is_space` decodes `+` as a space (query strings).
void percent_decode_into(std::string_view text, std::string& out, bool plus_is_space = false);

/// The path the path matcher compares against, as Caddy does: percent-decoded,
/// `.` and `..` segments resolved, doubled slashes merged, a trailing slash
/// kept. Returns `raw` itself when it is already clean, else a view of
/// `scratch`, which it overwrites.
std::string_view clean_request_path(std::string_view raw, std::string& scratch);

/// Resolves `.` and `..` segments and merges doubled slashes in place,
/// keeping a trailing slash and leaving percent-encodings as they are.
void clean_path_in_place(std::string& path);

/// One path pattern, lower-cased and classified once: `*` (any), `/exact`,
/// `/prefix*`, `*suffix`, `*substring*`, or a glob with `*` and `?` that do
/// not cross `/` (Go's path.Match, without character classes).
class PathPattern {
 public:
  explicit PathPattern(std::string_view pattern);
  /// True when the cleaned path `path` matches, ignoring ASCII case.
  bool matches(std::string_view path) const;

 private:
  enum class Kind : uint8_t { kAny, kExact, kPrefix, kSuffix, kContains, kGlob };
  Kind kind_ = Kind::kExact;
  std::string text_;  // lower case, without the wildcards the kind stands for
};

/// A host pattern: exact, or with `*` labels that match exactly one label
/// each (`*.example.com` matches `a.example.com`, not `a.b.example.com`).
class HostPattern {
 public:
  explicit HostPattern(std::string_view pattern);
  /// True when `host` (without port) matches, ignoring ASCII case.
  bool matches(std::string_view host) const;

 private:
  std::string text_;  // lower case
  bool wildcard_ = false;
};

/// A compiled core::MatcherSet: every non-empty condition must hold, the
/// values inside one condition are alternatives, and every `not` set must
/// fail, as in Caddy.
class CompiledMatcher {
 public:
  /// Compiles `set`. Throws core::ConfigError for an invalid IP range or
  /// protocol (the validator reports those first).
  explicit CompiledMatcher(const core::MatcherSet& set);

  /// Matches a request that arrived on `connection`; `client_ip` is the
  /// client address after trusted_proxies.
  bool matches(const HttpRequest& request, const ConnectionInfo& connection,
               std::string_view client_ip) const;
  bool matches(RequestContext& ctx) const;

 private:
  struct ValuePattern {
    enum class Kind : uint8_t { kAnyNonEmpty, kExact, kPrefix, kSuffix, kContains };
    Kind kind = Kind::kExact;
    std::string text;
    bool matches(std::string_view value) const;
  };
  struct HeaderCondition {
    std::string name;
    bool absent = false;  // `!Name`
    std::vector<ValuePattern> values;
  };
  struct QueryCondition {
    std::string key;
    std::vector<std::string> values;  // any of them; "*" matches any value
  };
  struct Protocol {
    enum class Kind : uint8_t { kNone, kHttp, kHttps, kGrpc, kVersion };
    Kind kind = Kind::kNone;
    int major = 0;
    int minor = 0;
    bool or_newer = false;  // `http/2+`
  };

  static ValuePattern compile_value(const std::string& value);
  static Protocol compile_protocol(std::string_view text);

  bool path_matches(const HttpRequest& request) const;
  bool host_matches(const HttpRequest& request) const;
  bool method_matches(const HttpRequest& request) const;
  bool protocol_matches(const HttpRequest& request, const ConnectionInfo& connection) const;
  bool headers_match(const HttpRequest& request) const;
  bool header_matches(const HeaderCondition& condition, const HttpRequest& request) const;
  bool query_matches(const HttpRequest& request) const;
  bool remote_ip_matches(const ConnectionInfo& connection) const;
  bool client_ip_matches(std::string_view client_ip) const;
  bool nots_match(const HttpRequest& request, const ConnectionInfo& connection,
                  std::string_view client_ip) const;

  std::vector<PathPattern> paths_;
  std::vector<HostPattern> hosts_;
  std::vector<std::string> methods_;
  std::vector<HeaderCondition> headers_;
  std::vector<QueryCondition> query_;
  std::vector<core::IpRange> remote_ranges_;
  std::vector<core::IpRange> client_ranges_;
  Protocol protocol_;
  std::vector<CompiledMatcher> nots_;
};

/// The address of a peer as core::IpAddress, for range checks.
core::IpAddress to_ip_address(const asio::ip::address& address);

}  // namespace usher::proxy
