#include "core/validate.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string_view>
#include <variant>

#include "core/ip_range.h"
#include "core/placeholder.h"

namespace usher::core {
namespace {

// ------------------------------------------------------------ small helpers

std::string quoted(std::string_view text) {
  return "`" + std::string(text) + "`";
}

void report(Diagnostics& out, const Origin& origin, std::string message, std::string hint = {}) {
  out.error(origin.file, origin.line, std::move(message), std::move(hint));
}

// Global options carry no line; naming the file still tells the user where.
Origin global_origin(const Config& config) {
  return config.sites.empty() ? Origin{} : Origin{config.sites.front().origin.file, 0};
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string join(std::span<const std::string_view> names) {
  std::string out;
  for (auto name : names)
    out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

bool contains(std::span<const std::string_view> names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Optimal string alignment distance: edits, with a swap of neighbours as one
// edit, so that `{hots}` is one step from `{host}`.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j)
    d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// A suggestion is offered only when it is close relative to its length, so
// that `{x}` is not "corrected" to `{uri}`.
bool close_enough(size_t distance, std::string_view candidate) {
  return distance <= 2 && distance * 3 <= candidate.size();
}

// RFC 9110 §5.6.2: a header name is a token.
bool is_token(std::string_view text) {
  static constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           kSymbols.find(c) != std::string_view::npos;
  });
}

// ------------------------------------------------------ placeholder hints

// The names suggested for a misspelt placeholder: every short form, then the
// long forms, so that a long name is corrected to a long name.
// clang-format off
constexpr std::string_view kSuggestedNames[] = {
    "host", "hostport", "port", "uri", "path", "dir", "file", "query", "scheme", "method",
    "remote", "remote_host", "remote_port", "client_ip", "tls_server_name", "upstream_hostport",
    "err.status_code", "err.status_text", "err.message",
    "http.request.host", "http.request.hostport", "http.request.port", "http.request.uri",
    "http.request.uri.path", "http.request.uri.query", "http.request.scheme",
    "http.request.method", "http.request.remote", "http.request.remote.host",
    "http.request.remote.port", "http.vars.client_ip", "http.request.tls.server_name",
    "http.reverse_proxy.upstream.hostport", "http.error.status_code", "http.error.message",
};
// clang-format on

// Forms with an argument: a misspelt head keeps the user's argument.
// clang-format off
constexpr std::string_view kSuggestedPrefixes[] = {
    "header.", "cookie.", "query.", "labels.", "env.",
    "http.request.header.", "http.request.cookie.", "http.request.uri.query.",
    "http.request.host.labels.",
};
// clang-format on

struct Suggestion {
  std::string name;
  size_t distance = SIZE_MAX;
};

// Keeps `candidate` when it is nearer than the best so far; `compared` is
// the known text the distance was measured against.
void consider(Suggestion& best, std::string candidate, size_t distance, std::string_view compared) {
  if (distance >= best.distance || !close_enough(distance, compared)) return;
  // Only offer what would itself be accepted.
  std::string arg;
  if (classify_placeholder(candidate, &arg) == PlaceholderKind::kUnknown) return;
  best = {std::move(candidate), distance};
}

std::string suggest_placeholder(std::string_view name) {
  Suggestion best;
  for (auto known : kSuggestedNames)
    consider(best, std::string(known), edit_distance(name, known), known);
  for (size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1)) {
    auto head = name.substr(0, dot + 1);
    for (auto prefix : kSuggestedPrefixes) {
      consider(best, std::string(prefix) + std::string(name.substr(dot + 1)),
               edit_distance(head, prefix), prefix);
    }
  }
  return best.name;
}

// Why a known form was rejected, when its argument is what is wrong.
struct ArgumentHint {
  std::string_view short_prefix;
  std::string_view long_prefix;
  std::string_view hint;
};

constexpr ArgumentHint kArgumentHints[] = {
    {"labels.", "http.request.host.labels.",
     "a label index is a non-negative integer counted from the right, e.g. `{labels.1}`"},
    {"header.", "http.request.header.", "a header name is a token, e.g. `{header.User-Agent}`"},
    {"cookie.", "http.request.cookie.", "a cookie name is a token, e.g. `{cookie.session}`"},
    {"query.", "http.request.uri.query.", "name the query key, e.g. `{query.page}`"},
    {"env.", "env.", "name the environment variable, e.g. `{env.HOME}`"},
};

std::string unknown_placeholder_hint(std::string_view name) {
  for (const auto& entry : kArgumentHints)
    if (name.starts_with(entry.short_prefix) || name.starts_with(entry.long_prefix))
      return std::string(entry.hint);
  if (auto suggestion = suggest_placeholder(name); !suggestion.empty())
    return "did you mean `{" + suggestion + "}`?";
  bool odd = std::any_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_' && c != '.' && c != '-';
  });
  if (odd) return "write literal braces as `\\{` and `\\}`";
  return {};
}

// ------------------------------------------------------------ route walking

// Where a route sits: inside handle_errors or not, and the nearest origin.
struct RouteScope {
  bool in_errors = false;
  Origin origin;
};

// Directive names for routes that carry none (YAML input), by handler index.
// clang-format off
constexpr std::string_view kHandlerNames[] = {
    "reverse_proxy", "redir", "respond", "header", "request_body", "encode", "root",
    "file_server", "try_files", "uri", "rewrite", "route", "basic_auth", "forward_auth",
    "abort", "error",
};
// clang-format on
static_assert(std::size(kHandlerNames) == std::variant_size_v<Handler>);

std::string directive_name(const Route& route) {
  if (!route.directive.empty()) return route.directive;
  if (auto* headers = std::get_if<HeadersHandler>(&route.handler); headers && headers->request)
    return "request_header";
  return std::string(kHandlerNames[route.handler.index()]);
}

using RouteVisitor = std::function<void(const Route&, const RouteScope&)>;

void walk_routes(const std::vector<Route>& routes, const RouteScope& parent,
                 const RouteVisitor& visit) {
  for (const auto& route : routes) {
    RouteScope scope{parent.in_errors, route.origin.line > 0 ? route.origin : parent.origin};
    visit(route, scope);
    if (auto* sub = std::get_if<SubrouteHandler>(&route.handler))
      walk_routes(sub->routes, scope, visit);
  }
}

void for_each_route(const Config& config, const RouteVisitor& visit) {
  for (const auto& site : config.sites) {
    walk_routes(site.routes, {false, site.origin}, visit);
    walk_routes(site.error_routes, {true, site.origin}, visit);
  }
}

// -------------------------------------------------------- template checks

// One template with the words that name where it was written.
struct TemplateUse {
  const Template* value;
  std::string where;            // e.g. "`redir`", "`header_up` of `reverse_proxy`"
  bool upstream_known = false;  // {upstream_hostport} has a value here
};

void add_header_ops(std::vector<TemplateUse>& uses, const std::vector<HeaderOp>& ops,
                    const std::string& where, bool upstream_known) {
  for (const auto& op : ops)
    uses.push_back({&op.value, where, upstream_known});
}

// Collects every template of a handler; one overload per handler type.
struct TemplateCollector {
  std::string directive;
  std::vector<TemplateUse>& uses;

  std::string of(std::string_view part) const { return quoted(part) + " of " + quoted(directive); }
  void add(const Template& value) const { uses.push_back({&value, quoted(directive)}); }

  void operator()(const ReverseProxyHandler& h) const {
    add_header_ops(uses, h.header_up, of("header_up"), true);
    add_header_ops(uses, h.header_down, of("header_down"), true);
  }
  void operator()(const ForwardAuthHandler& h) const {
    uses.push_back({&h.uri, of("uri")});
    add_header_ops(uses, h.header_up, of("header_up"), true);
  }
  void operator()(const RedirHandler& h) const { add(h.to); }
  void operator()(const RespondHandler& h) const { add(h.body); }
  void operator()(const HeadersHandler& h) const {
    add_header_ops(uses, h.ops, quoted(directive), false);
  }
  void operator()(const RootHandler& h) const { add(h.path); }
  void operator()(const FileServerHandler& h) const { uses.push_back({&h.root, of("root")}); }
  void operator()(const TryFilesHandler& h) const {
    for (const auto& file : h.files)
      add(file);
  }
  void operator()(const RewriteHandler& h) const { add(h.to); }
  void operator()(const ErrorHandler& h) const { add(h.message); }
  template <typename Other>
  void operator()(const Other&) const {}
};

bool is_error_placeholder(PlaceholderKind kind) {
  return kind == PlaceholderKind::kErrorStatusCode || kind == PlaceholderKind::kErrorStatusText ||
         kind == PlaceholderKind::kErrorMessage;
}

void check_placeholder(const TemplatePart& part, const TemplateUse& use, const RouteScope& scope,
                       Diagnostics& out) {
  std::string written = "`{" + part.text + "}`";
  if (part.kind == PlaceholderKind::kUnknown) {
    report(out, scope.origin, "unknown placeholder " + written + " in " + use.where,
           unknown_placeholder_hint(part.text));
  } else if (is_error_placeholder(part.kind) && !scope.in_errors) {
    report(out, scope.origin,
           "placeholder " + written + " in " + use.where + " only has a value in `handle_errors`",
           "move this route into a `handle_errors` block");
  } else if (part.kind == PlaceholderKind::kUpstreamHostport && !use.upstream_known) {
    report(out, scope.origin,
           "placeholder " + written + " in " + use.where +
               " only has a value in `header_up` or `header_down` of `reverse_proxy`");
  }
}

void check_route_templates(const Route& route, const RouteScope& scope, Diagnostics& out) {
  std::vector<TemplateUse> uses;
  std::visit(TemplateCollector{directive_name(route), uses}, route.handler);
  for (const auto& use : uses) {
    // Re-parsed from `raw` so that a front end that fills only `raw` (or a
    // stale `parts`) cannot hide a problem.
    auto parsed = Template::parse(use.value->raw);
    std::vector<std::string> seen;
    for (const auto& part : parsed.parts) {
      if (part.literal || std::find(seen.begin(), seen.end(), part.text) != seen.end()) continue;
      seen.push_back(part.text);
      check_placeholder(part, use, scope, out);
    }
  }
}

// ----------------------------------------------------- value checks: shared

void check_ip_ranges(const std::vector<std::string>& specs, std::string_view where,
                     const Origin& origin, Diagnostics& out) {
  for (const auto& spec : specs) {
    if (is_valid_ip_range(spec)) continue;
    report(out, origin, "invalid IP range " + quoted(spec) + " in " + std::string(where),
           "write an address or a CIDR such as `10.0.0.0/8`, or `private_ranges`");
  }
}

// `*` is a token character, so `-Name*` (delete by prefix) passes too.
void check_header_names(const std::vector<HeaderOp>& ops, std::string_view where,
                        const Origin& origin, Diagnostics& out) {
  for (const auto& op : ops) {
    if (!is_token(op.name))
      report(out, origin, "invalid header name " + quoted(op.name) + " in " + std::string(where));
  }
}

// A status condition is a class (`5` for 5xx) or a full code.
bool is_status_match(StatusMatch status) {
  return (status >= 1 && status <= 5) || (status >= 100 && status <= 599);
}

void check_negative(std::optional<Duration> value, std::string_view what, const Origin& origin,
                    Diagnostics& out) {
  if (value && value->count() < 0) report(out, origin, std::string(what) + " must not be negative");
}

// ------------------------------------------------ value checks: upstreams

// Caddy requires one transport for every upstream of a reverse_proxy; plain
// http, unix sockets and an empty scheme all use the HTTP/1.1 transport.
std::string_view transport_of(const Upstream& upstream) {
  if (upstream.scheme == "https" || upstream.scheme == "h2c") return upstream.scheme;
  return "http";
}

constexpr std::string_view kUpstreamSchemes[] = {"", "http", "https", "h2c", "unix"};

void check_upstream(const Upstream& upstream, const std::string& directive, const Origin& origin,
                    Diagnostics& out) {
  auto shown = quoted(upstream.original.empty() ? upstream.host : upstream.original);
  if (!contains(kUpstreamSchemes, upstream.scheme)) {
    report(out, origin, "unknown upstream scheme " + quoted(upstream.scheme) + " in " + shown,
           "use http://, https://, h2c:// or unix//");
  } else if (upstream.scheme == "unix" ? upstream.unix_path.empty() : upstream.host.empty()) {
    report(out, origin, "upstream " + shown + " of " + quoted(directive) + " has no address");
  } else if ((upstream.scheme == "https" && upstream.port == 80) ||
             (upstream.scheme == "http" && upstream.port == 443)) {
    report(out, origin,
           "upstream " + shown + " has a scheme that conflicts with its port " +
               std::to_string(upstream.port),
           "use http:// with port 80 and https:// with port 443");
  }
}

void check_upstreams(const std::vector<Upstream>& upstreams, const std::string& directive,
                     const Origin& origin, Diagnostics& out) {
  if (upstreams.empty()) {
    report(out, origin, quoted(directive) + " has no upstream",
           "add an address such as `localhost:8080`");
    return;
  }
  for (const auto& upstream : upstreams)
    check_upstream(upstream, directive, origin, out);
  auto first = transport_of(upstreams.front());
  for (const auto& upstream : upstreams) {
    if (transport_of(upstream) == first) continue;
    report(out, origin,
           "upstreams of " + quoted(directive) + " mix " + std::string(first) + " and " +
               std::string(transport_of(upstream)) + " schemes",
           "every upstream of one `reverse_proxy` must use the same scheme");
    return;
  }
}

void check_h2c_with_tls(const ReverseProxyHandler& h, const Origin& origin, Diagnostics& out) {
  const auto& versions = h.transport.versions;
  bool h2c = std::find(versions.begin(), versions.end(), "h2c") != versions.end() ||
             std::any_of(h.upstreams.begin(), h.upstreams.end(),
                         [](const auto& u) { return u.scheme == "h2c"; });
  bool tls = h.transport.tls || std::any_of(h.upstreams.begin(), h.upstreams.end(),
                                            [](const auto& u) { return u.scheme == "https"; });
  if (h2c && tls)
    report(out, origin, "`reverse_proxy` cannot use h2c (cleartext HTTP/2) over TLS",
           "use `versions 2` for HTTP/2 over TLS, or plain http:// upstreams for h2c");
}

constexpr std::string_view kTransportVersions[] = {"1.1", "2", "h2c"};

void check_transport(const HttpTransport& t, const Origin& origin, Diagnostics& out) {
  for (const auto& version : t.versions) {
    if (!contains(kTransportVersions, version))
      report(out, origin, "unknown transport version " + quoted(version),
             "expected one of " + join(kTransportVersions));
  }
  check_negative(t.dial_timeout, "dial_timeout", origin, out);
  check_negative(t.response_header_timeout, "response_header_timeout", origin, out);
  check_negative(t.read_timeout, "read_timeout", origin, out);
  check_negative(t.write_timeout, "write_timeout", origin, out);
  check_negative(t.keepalive, "keepalive", origin, out);
  if (t.keepalive_idle_conns && *t.keepalive_idle_conns < 0)
    report(out, origin, "keepalive_idle_conns must not be negative");
}

// ------------------------------------------- value checks: load balancing

// The lb_policy names usher knows; `needs_arg` policies take a name.
struct PolicyRule {
  std::string_view name;
  bool needs_arg;
};

// `cookie` may omit its name: Caddy then uses a cookie called `lb`.
// The last four are Caddy policies that check_supported refuses for now.
constexpr PolicyRule kPolicies[] = {
    {"random", false},         {"round_robin", false}, {"first", false},
    {"least_conn", false},     {"ip_hash", false},     {"uri_hash", false},
    {"header", true},          {"cookie", false},      {"random_choose", false},
    {"client_ip_hash", false}, {"query", true},        {"weighted_round_robin", false}};

std::string nearest_policy(std::string_view name) {
  Suggestion best;
  for (const auto& rule : kPolicies) {
    auto distance = edit_distance(name, rule.name);
    if (distance < best.distance && close_enough(distance, rule.name))
      best = {std::string(rule.name), distance};
  }
  return best.name;
}

void check_policy(const LoadBalancing& lb, const Origin& origin, Diagnostics& out) {
  auto rule = std::find_if(std::begin(kPolicies), std::end(kPolicies),
                           [&](const auto& r) { return r.name == lb.policy; });
  if (rule == std::end(kPolicies)) {
    auto nearest = nearest_policy(lb.policy);
    report(out, origin, "unknown lb_policy " + quoted(lb.policy),
           nearest.empty() ? "expected random, round_robin, first, least_conn, ip_hash, "
                             "uri_hash, header NAME or cookie [NAME]"
                           : "did you mean " + quoted(nearest) + "?");
  } else if (rule->needs_arg && lb.policy_arg.empty()) {
    report(out, origin, "lb_policy " + quoted(lb.policy) + " needs a name",
           "write e.g. `lb_policy " + std::string(lb.policy) + " X-Session`");
  }
}

void check_load_balancing(const LoadBalancing& lb, const Origin& origin, Diagnostics& out) {
  check_policy(lb, origin, out);
  if (lb.retries < 0) report(out, origin, "lb_retries must not be negative");
  check_negative(lb.try_duration, "lb_try_duration", origin, out);
  check_negative(lb.try_interval, "lb_try_interval", origin, out);
}

void check_health(const ReverseProxyHandler& h, const Origin& origin, Diagnostics& out) {
  const auto& active = h.active_health;
  if (!active.uri.empty() && active.interval.count() <= 0)
    report(out, origin, "health_interval must be positive when health_uri is set");
  if (!active.uri.empty() && active.timeout.count() <= 0)
    report(out, origin, "health_timeout must be positive when health_uri is set");
  if (!is_status_match(active.expect_status))
    report(out, origin, "invalid health_status " + std::to_string(active.expect_status),
           "use a code such as `200` or a class such as `2xx`");
  const auto& passive = h.passive_health;
  if (passive.max_fails < 1) report(out, origin, "max_fails must be at least 1");
  check_negative(passive.fail_duration, "fail_duration", origin, out);
  for (auto status : passive.unhealthy_status) {
    if (!is_status_match(status))
      report(out, origin, "invalid unhealthy_status " + std::to_string(status),
             "use a code such as `503` or a class such as `5xx`");
  }
}

// ------------------------------------------------- value checks: handlers

void check_reverse_proxy(const ReverseProxyHandler& h, const std::string& directive,
                         const Origin& origin, Diagnostics& out) {
  check_upstreams(h.upstreams, directive, origin, out);
  check_h2c_with_tls(h, origin, out);
  check_transport(h.transport, origin, out);
  check_load_balancing(h.load_balancing, origin, out);
  check_health(h, origin, out);
  check_ip_ranges(h.trusted_proxies, "`trusted_proxies`", origin, out);
  check_header_names(h.header_up, "`header_up`", origin, out);
  check_header_names(h.header_down, "`header_down`", origin, out);
}

void check_forward_auth(const ForwardAuthHandler& h, const std::string& directive,
                        const Origin& origin, Diagnostics& out) {
  check_upstreams(h.upstreams, directive, origin, out);
  if (h.uri.raw.empty())
    report(out, origin, "`forward_auth` needs a `uri`",
           "e.g. `uri /api/verify?rd=https://auth.example.com`");
  for (const auto& [from, to] : h.copy_headers) {
    if (!is_token(from) || !is_token(to))
      report(out, origin, "invalid header name in copy_headers: " + quoted(from + ">" + to));
  }
  check_ip_ranges(h.trusted_proxies, "`trusted_proxies`", origin, out);
  check_header_names(h.header_up, "`header_up`", origin, out);
}

// Caddy accepts 3xx and, since 2.8, 401 (for WWW-Authenticate flows); an
// HTML redirect page is written with 200 (older Caddy wrote 302).
void check_redir(const RedirHandler& h, const Origin& origin, Diagnostics& out) {
  bool redirect = (h.status >= 300 && h.status <= 399) || h.status == 401;
  bool html_page = h.html && (h.status == 0 || h.status == 200 || redirect);
  if (!redirect && !html_page)
    report(out, origin, "`redir` status " + std::to_string(h.status) + " is not a redirect",
           "use a 3xx code, `permanent` or `temporary`");
  if (h.to.raw.empty()) report(out, origin, "`redir` has no target");
}

// A status is three digits on the wire (RFC 9110 §15).
void check_respond(const RespondHandler& h, const Origin& origin, Diagnostics& out) {
  if (h.status < 100 || h.status > 999)
    report(out, origin, "`respond` status " + std::to_string(h.status) + " is not 100-999");
}

// Caddy takes any status here; usher insists on 4xx/5xx because `error` is
// how a route hands over to handle_errors, and a 2xx "error" is surely a
// mistake for `respond`.
void check_error(const ErrorHandler& h, const Origin& origin, Diagnostics& out) {
  if (h.status < 400 || h.status > 599)
    report(out, origin, "`error` status " + std::to_string(h.status) + " is not 400-599",
           "use `respond` for a response that is not an error");
}

// bcrypt's modular crypt format: `$2a$`, `$2b$` or `$2y$`, a two-digit cost,
// `$`, then 22 characters of salt and 31 of hash in bcrypt's base64 alphabet.
bool is_bcrypt_hash(std::string_view hash) {
  constexpr size_t kBcryptLength = 60;
  if (hash.size() != kBcryptLength) return false;
  if (!hash.starts_with("$2a$") && !hash.starts_with("$2b$") && !hash.starts_with("$2y$"))
    return false;
  if (!std::isdigit(static_cast<unsigned char>(hash[4])) ||
      !std::isdigit(static_cast<unsigned char>(hash[5])) || hash[6] != '$')
    return false;
  return std::all_of(hash.begin() + 7, hash.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '/';
  });
}

// Standard base64 (RFC 4648 §4), padding optional; nullopt when invalid.
std::optional<std::string> decode_base64(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (text.ends_with('='))
    text.remove_suffix(1);
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    auto value = kAlphabet.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return out;
}

// Older Caddyfiles hold the bcrypt hash base64-encoded; Caddy still accepts that.
bool is_accepted_hash(std::string_view hash) {
  if (is_bcrypt_hash(hash)) return true;
  auto decoded = decode_base64(hash);
  return decoded && is_bcrypt_hash(*decoded);
}

void check_basic_auth(const BasicAuthHandler& h, const Origin& origin, Diagnostics& out) {
  if (h.algorithm != "bcrypt")
    report(out, origin, "`basic_auth` algorithm " + quoted(h.algorithm) + " is not supported",
           "use bcrypt");
  if (h.accounts.empty())
    report(out, origin, "`basic_auth` has no accounts", "add `USER HASH` lines to its block");
  std::vector<std::string_view> users;
  for (const auto& account : h.accounts) {
    if (std::find(users.begin(), users.end(), account.user) != users.end())
      report(out, origin, "`basic_auth` account " + quoted(account.user) + " is listed twice");
    users.push_back(account.user);
    if (h.algorithm == "bcrypt" && !is_accepted_hash(account.hash))
      report(out, origin,
             "password of `basic_auth` account " + quoted(account.user) + " is not a bcrypt hash",
             "hash it with `htpasswd -nbBC 14 \"\" PASSWORD` and paste the part after `:`");
  }
}

constexpr std::string_view kEncodings[] = {"gzip", "zstd"};

void check_encode(const EncodeHandler& h, const Origin& origin, Diagnostics& out) {
  for (const auto& encoding : h.encodings) {
    if (!contains(kEncodings, encoding))
      report(out, origin, "unknown encoding " + quoted(encoding), "use gzip or zstd");
  }
  if (h.minimum_length < 0) report(out, origin, "minimum_length must not be negative");
}

void check_uri(const UriHandler& h, const Origin& origin, Diagnostics& out) {
  if (h.find.empty()) report(out, origin, "`uri` has nothing to strip or replace");
  if (h.limit < 0) report(out, origin, "`uri replace` limit must not be negative");
}

// Runs the value checks of one handler; one overload per handler type.
struct HandlerChecker {
  std::string directive;
  const Origin& origin;
  Diagnostics& out;

  void operator()(const ReverseProxyHandler& h) const {
    check_reverse_proxy(h, directive, origin, out);
  }
  void operator()(const ForwardAuthHandler& h) const {
    check_forward_auth(h, directive, origin, out);
  }
  void operator()(const RedirHandler& h) const { check_redir(h, origin, out); }
  void operator()(const RespondHandler& h) const { check_respond(h, origin, out); }
  void operator()(const ErrorHandler& h) const { check_error(h, origin, out); }
  void operator()(const BasicAuthHandler& h) const { check_basic_auth(h, origin, out); }
  void operator()(const EncodeHandler& h) const { check_encode(h, origin, out); }
  void operator()(const UriHandler& h) const { check_uri(h, origin, out); }
  void operator()(const HeadersHandler& h) const {
    check_header_names(h.ops, quoted(directive), origin, out);
  }
  template <typename Other>
  void operator()(const Other&) const {}
};

constexpr std::string_view kMatcherProtocols[] = {"http",     "https",  "grpc",
                                                  "http/1.1", "http/2", "http/3"};

void check_matcher(const MatcherSet& match, const Origin& origin, Diagnostics& out) {
  check_ip_ranges(match.remote_ip, "`remote_ip`", origin, out);
  check_ip_ranges(match.client_ip, "`client_ip`", origin, out);
  if (!match.protocol.empty() && !contains(kMatcherProtocols, match.protocol))
    report(out, origin, "unknown protocol " + quoted(match.protocol) + " in matcher",
           "expected one of " + join(kMatcherProtocols));
  for (const auto& negated : match.nots)
    check_matcher(negated, origin, out);
}

void check_routes(const Config& config, Diagnostics& out) {
  for_each_route(config, [&](const Route& route, const RouteScope& scope) {
    check_route_templates(route, scope, out);
    std::visit(HandlerChecker{directive_name(route), scope.origin, out}, route.handler);
    if (route.match) check_matcher(*route.match, scope.origin, out);
  });
}

// ---------------------------------------------------------- certificates

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  auto address = IpAddress::parse(host);
  auto loopback = IpRange::parse("127.0.0.0/8");
  return address && loopback->contains(*address);
}

// RFC 8555 §6.1 requires HTTPS for ACME. Plain http is let through for
// loopback only: a local test CA's traffic never leaves the machine, so TLS
// would protect nothing there, while anywhere else it would leak account keys'
// signatures and certificates to the network.
void check_acme_url(std::string_view url, std::string_view what, const Origin& origin,
                    Diagnostics& out) {
  if (url.empty() || (url.starts_with("https://") && url.size() > 8)) return;
  if (url.starts_with("http://")) {
    auto host = url.substr(7, url.find_first_of(":/", 7) - 7);
    if (url.substr(7).starts_with("[::1]")) host = "[::1]";
    if (is_loopback_host(host)) return;
  }
  report(out, origin, std::string(what) + " " + quoted(url) + " is not an https:// URL",
         "ACME servers are reached over HTTPS, e.g. "
         "`https://acme-v02.api.letsencrypt.org/directory`");
}

// Deliberately loose: one `@`, something before it, a dotted domain after it
// and no spaces. The CA does the real check; this catches typos early.
bool is_email(std::string_view email) {
  auto at = email.find('@');
  if (at == 0 || at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos)
    return false;
  auto domain = email.substr(at + 1);
  bool spaces = std::any_of(email.begin(), email.end(),
                            [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  return !spaces && domain.find('.') != std::string_view::npos && !domain.starts_with('.') &&
         !domain.ends_with('.');
}

void check_email(std::string_view email, const Origin& origin, Diagnostics& out) {
  if (!email.empty() && !is_email(email))
    report(out, origin, "invalid email " + quoted(email), "write it as `name@example.com`");
}

void check_eab(const std::optional<EabCredentials>& eab, const Origin& origin, Diagnostics& out) {
  if (eab && (eab->key_id.empty() || eab->mac_key.empty()))
    report(out, origin, "`eab` needs both a key id and a MAC key");
}

constexpr std::string_view kChallenges[] = {"http", "tls-alpn"};

void check_issuer(const IssuerConfig& issuer, const Origin& origin, Diagnostics& out) {
  if (issuer.kind != IssuerConfig::Kind::kAcme) return;
  check_acme_url(issuer.directory, "ACME directory", origin, out);
  check_email(issuer.email, origin, out);
  check_eab(issuer.eab, origin, out);
  for (const auto& challenge : issuer.disabled_challenges) {
    if (!contains(kChallenges, challenge))
      report(out, origin, "unknown challenge " + quoted(challenge), "expected http or tls-alpn");
  }
  bool all_disabled = std::all_of(std::begin(kChallenges), std::end(kChallenges), [&](auto c) {
    const auto& d = issuer.disabled_challenges;
    return std::find(d.begin(), d.end(), c) != d.end();
  });
  if (all_disabled)
    report(out, origin, "every ACME challenge is disabled, so no certificate can be obtained",
           "keep the http or the tls-alpn challenge enabled");
}

constexpr std::string_view kTlsVersions[] = {"tls1.2", "tls1.3"};

void check_tls_protocols(const SiteTls& tls, const Origin& origin, Diagnostics& out) {
  for (const auto& version : {tls.protocol_min, tls.protocol_max}) {
    if (!version.empty() && !contains(kTlsVersions, version))
      report(out, origin, "unknown TLS version " + quoted(version), "use tls1.2 or tls1.3");
  }
  if (tls.protocol_min == "tls1.3" && tls.protocol_max == "tls1.2")
    report(out, origin, "TLS minimum version tls1.3 is above the maximum tls1.2");
}

// ------------------------------------------------------------------ sites

std::string shown_address(const SiteAddress& address) {
  if (!address.original.empty()) return address.original;
  std::string out = address.scheme.empty() ? "" : address.scheme + "://";
  out += address.host;
  if (address.port) out += ":" + std::to_string(address.port);
  return out + address.path;
}

uint16_t effective_port(const SiteAddress& address, const GlobalOptions& global) {
  if (address.port) return address.port;
  return address.scheme == "http" ? global.http_port : global.https_port;
}

bool is_plain_http(const SiteAddress& address, const GlobalOptions& global) {
  return address.scheme == "http" ||
         (address.scheme.empty() && address.port != 0 && address.port == global.http_port);
}

void check_site_has_address(const Config&, const Site& site, Diagnostics& out) {
  if (site.addresses.empty())
    report(out, site.origin, "site block has no address",
           "start it with a host name, e.g. `example.com {`");
}

void check_http_site_tls(const Config& config, const Site& site, Diagnostics& out) {
  if (!site.tls || site.addresses.empty()) return;
  bool all_http = std::all_of(site.addresses.begin(), site.addresses.end(),
                              [&](const auto& a) { return is_plain_http(a, config.global); });
  if (all_http)
    report(out, site.origin,
           "site " + quoted(shown_address(site.addresses.front())) +
               " is served over plain HTTP but has `tls` settings",
           "remove `tls` or the http:// scheme");
}

void check_site_tls(const Config&, const Site& site, Diagnostics& out) {
  if (!site.tls) return;
  const auto& tls = *site.tls;
  if (tls.mode == SiteTls::Mode::kFiles && (tls.cert_file.empty() || tls.key_file.empty()))
    report(out, site.origin, "`tls` needs both a certificate file and a key file",
           "write `tls cert.pem key.pem`");
  check_email(tls.email, site.origin, out);
  check_acme_url(tls.ca, "ACME directory", site.origin, out);
  for (const auto& issuer : tls.issuers)
    check_issuer(issuer, site.origin, out);
  check_tls_protocols(tls, site.origin, out);
}

constexpr std::string_view kLogFormats[] = {"", "json", "console"};
constexpr std::string_view kLogLevels[] = {"", "DEBUG", "INFO", "WARN", "ERROR"};

void check_log(const LogConfig& log, const Origin& origin, Diagnostics& out) {
  if (log.output.kind == LogOutput::Kind::kFile && log.output.path.empty())
    report(out, origin, "log output `file` has no path",
           "write `output file /var/log/usher/access.log`");
  if (log.output.roll_keep < 0) report(out, origin, "roll_keep must not be negative");
  if (!contains(kLogFormats, log.format))
    report(out, origin, "unknown log format " + quoted(log.format), "use json or console");
  auto level = log.level;
  std::transform(level.begin(), level.end(), level.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (!contains(kLogLevels, level))
    report(out, origin, "unknown log level " + quoted(log.level), "use DEBUG, INFO, WARN or ERROR");
}

void check_site_log(const Config&, const Site& site, Diagnostics& out) {
  if (site.log) check_log(*site.log, site.origin, out);
}

using SiteCheck = void (*)(const Config&, const Site&, Diagnostics&);

// Checks that look at one site at a time.
constexpr SiteCheck kSiteChecks[] = {
    check_site_has_address,
    check_http_site_tls,
    check_site_tls,
    check_site_log,
};

void check_sites(const Config& config, Diagnostics& out) {
  for (const auto& site : config.sites)
    for (auto check : kSiteChecks)
      check(config, site, out);
}

std::string origin_text(const Origin& origin) {
  return origin.line > 0 ? origin.file + ":" + std::to_string(origin.line) : origin.file;
}

// Two addresses are the same site when host (case-insensitive), effective
// port and path agree: the scheme only picks the default port.
void check_duplicate_addresses(const Config& config, Diagnostics& out) {
  std::map<std::string, size_t> first_site;  // address key -> index of the site using it
  for (size_t index = 0; index < config.sites.size(); ++index) {
    const auto& site = config.sites[index];
    for (const auto& address : site.addresses) {
      auto key = lowercase(address.host) + "|" +
                 std::to_string(effective_port(address, config.global)) + "|" + address.path;
      auto [it, inserted] = first_site.emplace(key, index);
      if (inserted) continue;
      const auto& other = config.sites[it->second].origin;
      report(out, site.origin,
             "duplicate site address " + quoted(shown_address(address)) +
                 (it->second == index ? " in the same site"
                                      : ", also defined at " + origin_text(other)),
             "merge the two site blocks or remove one address");
    }
  }
}

// ----------------------------------------------------------- global options

void check_ports(const Config& config, Diagnostics& out) {
  const auto& g = config.global;
  auto origin = global_origin(config);
  if (g.http_port == 0) report(out, origin, "http_port must be between 1 and 65535");
  if (g.https_port == 0) report(out, origin, "https_port must be between 1 and 65535");
  if (g.http_port != 0 && g.http_port == g.https_port)
    report(out, origin, "http_port and https_port are both " + std::to_string(g.http_port),
           "give HTTP and HTTPS different ports");
}

void check_workers(const Config& config, Diagnostics& out) {
  if (config.global.workers && *config.global.workers < 1)
    report(out, global_origin(config), "workers must be at least 1",
           "remove `workers` to run one worker per core");
}

void check_global_tls(const Config& config, Diagnostics& out) {
  const auto& g = config.global;
  auto origin = global_origin(config);
  check_email(g.email, origin, out);
  check_acme_url(g.acme_ca, "acme_ca", origin, out);
  check_eab(g.acme_eab, origin, out);
  for (const auto& issuer : g.cert_issuers)
    check_issuer(issuer, origin, out);
}

bool is_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  auto value = std::stoi(std::string(text));
  return value >= 1 && value <= 65535;
}

// The hosts an admin address may name: "" (`:2019`, bound to 127.0.0.1),
// localhost and the loopback addresses ([::1] included).
bool is_admin_host(std::string_view host) {
  return host.empty() || host == "::1" || is_loopback_host(host);
}

// `localhost:2019`, `:2019`, `[::1]:2019` or `unix//run/usher/admin.sock`.
void check_admin(const Config& config, Diagnostics& out) {
  const auto& admin = config.global.admin;
  if (!admin.enabled || admin.address.starts_with("unix/")) return;
  auto colon = admin.address.rfind(':');
  if (colon == std::string::npos || !is_port(std::string_view(admin.address).substr(colon + 1))) {
    report(out, global_origin(config), "invalid admin address " + quoted(admin.address),
           "write `host:port`, e.g. `localhost:2019`");
    return;
  }
  // The admin API can replace the config and stop the process: it has no
  // authentication, so only this machine may reach it.
  if (!is_admin_host(std::string_view(admin.address).substr(0, colon)))
    report(out, global_origin(config),
           "admin address " + quoted(admin.address) + " is not a loopback address",
           "the admin API has no authentication; use `localhost:PORT`, `127.0.0.1:PORT`, "
           "`[::1]:PORT` or a Unix socket like `unix//run/usher/admin.sock`");
}

constexpr std::string_view kServerProtocols[] = {"h1", "h2", "h2c", "h3"};

void check_servers(const Config& config, Diagnostics& out) {
  auto origin = global_origin(config);
  for (const auto& server : config.global.servers) {
    check_ip_ranges(server.trusted_proxies, "`trusted_proxies` of `servers`", origin, out);
    for (const auto& protocol : server.protocols) {
      if (!contains(kServerProtocols, protocol))
        report(out, origin, "unknown server protocol " + quoted(protocol),
               "expected one of " + join(kServerProtocols));
    }
    check_negative(server.timeouts.read_header, "read_header timeout", origin, out);
    check_negative(server.timeouts.read_body, "read_body timeout", origin, out);
    check_negative(server.timeouts.write, "write timeout", origin, out);
    check_negative(server.timeouts.idle, "idle timeout", origin, out);
    if (server.max_header_size && *server.max_header_size == 0)
      report(out, origin, "max_header_size must be positive");
  }
}

void check_global_misc(const Config& config, Diagnostics& out) {
  auto origin = global_origin(config);
  check_negative(config.global.grace_period, "grace_period", origin, out);
  for (const auto& log : config.global.logs)
    check_log(log, origin, out);
}

using ConfigCheck = void (*)(const Config&, Diagnostics&);

// Every check validate() runs, in the order their reports appear.
constexpr ConfigCheck kConfigChecks[] = {
    check_ports,       check_workers, check_global_tls,          check_admin,  check_servers,
    check_global_misc, check_sites,   check_duplicate_addresses, check_routes,
};

// -------------------------------------------------------- unsupported features

// Features this build parses but cannot serve. Each row is one feature; delete
// the row when the feature is implemented.
struct UnsupportedRoute {
  std::string_view feature;  // as the user writes it
  bool (*used)(const Route&);
};

template <typename H>
bool holds(const Route& route) {
  return std::holds_alternative<H>(route.handler);
}

bool uses_http3_matcher(const MatcherSet& match) {
  return match.protocol == "http/3" ||
         std::any_of(match.nots.begin(), match.nots.end(), uses_http3_matcher);
}

bool matches_http3(const Route& route) {
  return route.match && uses_http3_matcher(*route.match);
}

// Caddy policies usher knows by name but does not implement yet.
constexpr std::string_view kUnbuiltPolicies[] = {"random_choose", "client_ip_hash", "query",
                                                 "weighted_round_robin"};

template <size_t kIndex>
bool uses_policy(const Route& route) {
  auto* proxy = std::get_if<ReverseProxyHandler>(&route.handler);
  return proxy && proxy->load_balancing.policy == kUnbuiltPolicies[kIndex];
}

constexpr UnsupportedRoute kUnsupportedRoutes[] = {
    {"encode", holds<EncodeHandler>},                    // response compression
    {"file_server", holds<FileServerHandler>},           // static files
    {"try_files", holds<TryFilesHandler>},               // needs the file system layer
    {"root", holds<RootHandler>},                        // only useful with file_server
    {"basic_auth", holds<BasicAuthHandler>},             // needs bcrypt verification
    {"forward_auth", holds<ForwardAuthHandler>},         // needs the auth subrequest
    {"protocol http/3", matches_http3},                  // no HTTP/3 listener
    {"lb_policy random_choose", uses_policy<0>},         // power-of-N choice
    {"lb_policy client_ip_hash", uses_policy<1>},        // needs trusted client IP
    {"lb_policy query", uses_policy<2>},                 // hash of a query value
    {"lb_policy weighted_round_robin", uses_policy<3>},  // needs upstream weights
};

struct UnsupportedSite {
  std::string_view feature;
  bool (*used)(const SiteTls&);
};

constexpr UnsupportedSite kUnsupportedTls[] = {
    {"tls dns", [](const SiteTls& t) { return !t.dns_provider.empty(); }},  // DNS-01
    {"tls on_demand", [](const SiteTls& t) { return t.on_demand; }},        // on-demand issuance
};

void report_unsupported(std::string_view feature, const Origin& origin, Diagnostics& out) {
  report(out, origin, quoted(feature) + " is not supported yet",
         "remove it or use a build that supports it");
}

void check_supported_routes(const Config& config, Diagnostics& out) {
  for_each_route(config, [&](const Route& route, const RouteScope& scope) {
    for (const auto& row : kUnsupportedRoutes)
      if (row.used(route)) report_unsupported(row.feature, scope.origin, out);
  });
}

void check_supported_tls(const Config& config, Diagnostics& out) {
  for (const auto& site : config.sites) {
    if (!site.tls) continue;
    for (const auto& row : kUnsupportedTls)
      if (row.used(*site.tls)) report_unsupported(row.feature, site.origin, out);
  }
}

// `servers { protocols h3 }`: no QUIC listener yet.
void check_supported_servers(const Config& config, Diagnostics& out) {
  for (const auto& server : config.global.servers) {
    const auto& p = server.protocols;
    if (std::find(p.begin(), p.end(), "h3") != p.end())
      report_unsupported("protocols h3", global_origin(config), out);
  }
}

}  // namespace

void validate(const Config& config, Diagnostics& diagnostics) {
  for (auto check : kConfigChecks)
    check(config, diagnostics);
}

void check_supported(const Config& config, Diagnostics& diagnostics) {
  check_supported_servers(config, diagnostics);
  check_supported_tls(config, diagnostics);
  check_supported_routes(config, diagnostics);
}

}  // namespace usher::core
