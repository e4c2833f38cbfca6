// reverse_proxy and forward_auth: upstream addresses, the subdirective table
// of reverse_proxy (load balancing, health checks, headers) and the table of
// `transport http { … }`.

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>

#include "core/caddyfile/directives.h"

namespace usher::core::caddyfile {

namespace {

constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();
constexpr int kMaxInt = std::numeric_limits<int>::max();

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// ------------------------------------------------------------ upstreams

uint16_t parse_upstream_port(const Token& t, const std::string& port) {
  if (port.find('-') != std::string::npos)
    throw unsupported_error(t, "a port range in upstream `" + t.text + "`");
  int value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
      value > 65535)
    throw Dispenser::error_at(t, "invalid port `" + port + "` in upstream `" + t.text + "`",
                              "expected a number from 1 to 65535");
  return static_cast<uint16_t>(value);
}

// Splits `host[:port]` with IPv6 literals in brackets.
void split_upstream_host(const Token& t, std::string_view rest, Upstream& u) {
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos)
      throw Dispenser::error_at(t, "missing `]` in upstream `" + t.text + "`");
    u.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty() && rest.front() != ':')
      throw Dispenser::error_at(
          t, "unexpected `" + std::string(rest) + "` in upstream `" + t.text + "`");
    if (!rest.empty()) port = std::string(rest.substr(1));
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    u.host = std::string(rest.substr(0, colon));
    port = std::string(rest.substr(colon + 1));
  } else {
    u.host = std::string(rest);
  }
  if (!port.empty() || rest.find(':') != std::string_view::npos)
    u.port = parse_upstream_port(t, port);
  u.host = lower(u.host);
  // `:8080` dials this machine, as Go's dialer does for an empty host.
  if (u.host.empty()) u.host = "localhost";
}

// Caddy refuses the other scheme's conventional port: almost always a typo.
void check_upstream_port(const Token& t, const Upstream& u) {
  if ((u.scheme == "http" || u.scheme == "h2c") && u.port == 443)
    throw Dispenser::error_at(
        t, "upstream `" + t.text + "` uses port 443 with the `" + u.scheme + "://` scheme",
        "port 443 is for `https://`");
  if (u.scheme == "https" && u.port == 80)
    throw Dispenser::error_at(t,
                              "upstream `" + t.text + "` uses port 80 with the `https://` scheme",
                              "port 80 is for `http://`");
}

// Parses one address; the scheme stays empty when none was written, so that
// the caller can apply the other upstreams' scheme or the transport's TLS.
Upstream parse_upstream_address(const Token& t) {
  Upstream u;
  u.original = t.text;
  if (t.text.find('{') != std::string::npos)
    throw unsupported_error(t, "a placeholder in upstream `" + t.text + "`",
                            "write the address itself");
  if (t.text.rfind("unix/", 0) == 0) {
    u.scheme = "unix";
    u.unix_path = t.text.substr(5);
    if (u.unix_path.empty())
      throw missing_arg_error(t, t.text, "a socket path, like `unix//run/app.sock`");
    return u;
  }
  std::string_view rest = t.text;
  if (const size_t sep = rest.find("://"); sep != std::string_view::npos) {
    u.scheme = lower(rest.substr(0, sep));
    if (u.scheme != "http" && u.scheme != "https" && u.scheme != "h2c")
      throw Dispenser::error_at(
          t, "unsupported scheme `" + u.scheme + "://` in upstream `" + t.text + "`",
          "use `http://`, `https://` or `h2c://`");
    rest.remove_prefix(sep + 3);
  }
  if (rest.find_first_of("/?#") != std::string_view::npos)
    throw Dispenser::error_at(t, "upstream `" + t.text + "` has a path",
                              "an upstream is only a scheme, a host and a port; use `rewrite` or "
                              "`uri` to change the path");
  split_upstream_host(t, rest, u);
  check_upstream_port(t, u);
  return u;
}

// An upstream as written, kept with its token for error messages.
struct WrittenUpstream {
  Token token;
  Upstream upstream;
};

// Every upstream of one directive speaks the same protocol, as in Caddy:
// written schemes must agree, and addresses without one take it (or TLS
// when the transport asks for it). Ports default by the final scheme.
std::string settle_schemes(std::vector<WrittenUpstream>& written, bool transport_tls) {
  const WrittenUpstream* first_explicit = nullptr;
  for (const WrittenUpstream& w : written) {
    const std::string& scheme = w.upstream.scheme;
    if (scheme.empty() || scheme == "unix") continue;
    if (transport_tls && scheme != "https")
      throw Dispenser::error_at(w.token,
                                "upstream `" + w.token.text + "` uses `" + scheme +
                                    "://` but the transport is configured for TLS",
                                "write `https://` or remove `tls` from the transport");
    if (first_explicit == nullptr) {
      first_explicit = &w;
    } else if (scheme != first_explicit->upstream.scheme) {
      throw Dispenser::error_at(w.token,
                                "upstream `" + w.token.text + "` uses `" + scheme + "://` but `" +
                                    first_explicit->token.text + "` uses `" +
                                    first_explicit->upstream.scheme + "://`",
                                "all upstreams of one directive must use the same scheme");
    }
  }
  std::string common = first_explicit  ? first_explicit->upstream.scheme
                       : transport_tls ? "https"
                                       : "http";
  for (WrittenUpstream& w : written) {
    Upstream& u = w.upstream;
    if (u.scheme.empty()) u.scheme = common;
    if (u.scheme != "unix" && u.port == 0) u.port = u.scheme == "https" ? 443 : 80;
  }
  return common;
}

void add_upstreams(std::vector<WrittenUpstream>& out, const std::vector<Token>& tokens) {
  for (const Token& t : tokens)
    out.push_back({t, parse_upstream_address(t)});
}

std::vector<Upstream> upstreams_of(const std::vector<WrittenUpstream>& written) {
  std::vector<Upstream> out;
  for (const WrittenUpstream& w : written)
    out.push_back(w.upstream);
  return out;
}

// ------------------------------------------------------------ transport

Duration take_duration(Dispenser& d, std::string_view name) {
  return parse_duration_arg(take_one(d, name, "a duration like `30s`"), name);
}

void transport_dial_timeout(Dispenser& d, HttpTransport& t) {
  t.dial_timeout = take_duration(d, "dial_timeout");
}
void transport_response_header_timeout(Dispenser& d, HttpTransport& t) {
  t.response_header_timeout = take_duration(d, "response_header_timeout");
}
void transport_read_timeout(Dispenser& d, HttpTransport& t) {
  t.read_timeout = take_duration(d, "read_timeout");
}
void transport_write_timeout(Dispenser& d, HttpTransport& t) {
  t.write_timeout = take_duration(d, "write_timeout");
}

void transport_keepalive(Dispenser& d, HttpTransport& t) {
  const Token arg = take_one(d, "keepalive", "a duration like `2m`, or `off`");
  t.keepalive = arg.text == "off" ? Duration{0} : parse_duration_arg(arg, "keepalive");
}

void transport_keepalive_idle_conns(Dispenser& d, HttpTransport& t) {
  t.keepalive_idle_conns =
      parse_int_arg(take_one(d, "keepalive_idle_conns", "a number of connections"),
                    "keepalive_idle_conns", 0, kMaxInt);
}

void transport_tls(Dispenser& d, HttpTransport& t) {
  take_none(d, "tls");
  t.tls = true;
}

// As in Caddy, any tls_* setting turns TLS on.
void transport_tls_insecure_skip_verify(Dispenser& d, HttpTransport& t) {
  take_none(d, "tls_insecure_skip_verify");
  t.tls = true;
  t.tls_insecure_skip_verify = true;
}

void transport_tls_server_name(Dispenser& d, HttpTransport& t) {
  t.tls_server_name = take_one(d, "tls_server_name", "a server name").text;
  t.tls = true;
}

constexpr std::array<std::string_view, 3> kHttpVersions{"1.1", "2", "h2c"};

void transport_versions(Dispenser& d, HttpTransport& t) {
  for (const Token& v :
       take_args(d, "versions", 1, kNoLimit, "one or more of `1.1`, `2` or `h2c`")) {
    if (v.text == "3") throw unsupported_error(v, "HTTP/3 to upstreams");
    t.versions.push_back(parse_choice_arg(v, "versions", kHttpVersions));
  }
}

constexpr std::array<Subdirective<HttpTransport>, 10> kTransportSubdirectives{{
    {"dial_timeout", transport_dial_timeout},
    {"response_header_timeout", transport_response_header_timeout},
    {"read_timeout", transport_read_timeout},
    {"write_timeout", transport_write_timeout},
    {"keepalive", transport_keepalive},
    {"keepalive_idle_conns", transport_keepalive_idle_conns},
    {"tls", transport_tls},
    {"tls_insecure_skip_verify", transport_tls_insecure_skip_verify},
    {"tls_server_name", transport_tls_server_name},
    {"versions", transport_versions},
}};

// --------------------------------------------------------- reverse_proxy

// The handler being built plus the upstreams as written.
struct ProxyBuild {
  ReverseProxyHandler handler;
  std::vector<WrittenUpstream> upstreams;
};

void rp_to(Dispenser& d, ProxyBuild& b) {
  add_upstreams(b.upstreams, take_args(d, "to", 1, kNoLimit, "one or more upstream addresses"));
}

struct LbPolicy {
  std::string_view name;
  size_t min_args;
  size_t max_args;
};

constexpr std::array<LbPolicy, 8> kLbPolicies{{
    {"random", 0, 0},
    {"round_robin", 0, 0},
    {"first", 0, 0},
    {"least_conn", 0, 0},
    {"ip_hash", 0, 0},
    {"uri_hash", 0, 0},
    {"header", 1, 1},
    {"cookie", 0, 2},  // the cookie is named `lb` unless given, as in Caddy
}};

void rp_lb_policy(Dispenser& d, ProxyBuild& b) {
  const std::vector<Token> all = take_args(d, "lb_policy", 1, 3, "a policy like `round_robin`");
  const Token& name = all.front();
  const LbPolicy* policy = nullptr;
  for (const LbPolicy& p : kLbPolicies)
    if (p.name == name.text) policy = &p;
  if (policy == nullptr) {
    std::array<std::string_view, kLbPolicies.size()> names{};
    for (size_t i = 0; i < names.size(); ++i)
      names[i] = kLbPolicies[i].name;
    throw unknown_name_error(name, "load balancing policy", "lb_policy", names,
                             "expected " + quoted_list(names));
  }
  const std::vector<Token> args(all.begin() + 1, all.end());
  if (args.size() < policy->min_args)
    throw missing_arg_error(name, name.text,
                            name.text == "header" ? "a header name" : "a cookie name");
  if (args.size() > policy->max_args)
    throw too_many_args_error(name, name.text, policy->max_args, args);
  LoadBalancing& lb = b.handler.load_balancing;
  lb.policy = name.text;
  if (!args.empty()) lb.policy_arg = args[0].text;
  if (args.size() > 1) lb.policy_secret = args[1].text;
}

void rp_lb_retries(Dispenser& d, ProxyBuild& b) {
  b.handler.load_balancing.retries =
      parse_int_arg(take_one(d, "lb_retries", "a number of retries"), "lb_retries", 0, kMaxInt);
}
void rp_lb_try_duration(Dispenser& d, ProxyBuild& b) {
  b.handler.load_balancing.try_duration = take_duration(d, "lb_try_duration");
}
void rp_lb_try_interval(Dispenser& d, ProxyBuild& b) {
  b.handler.load_balancing.try_interval = take_duration(d, "lb_try_interval");
}
void rp_health_uri(Dispenser& d, ProxyBuild& b) {
  b.handler.active_health.uri = take_one(d, "health_uri", "a URI like `/healthz`").text;
}
void rp_health_port(Dispenser& d, ProxyBuild& b) {
  b.handler.active_health.port =
      parse_port_arg(take_one(d, "health_port", "a port"), "health_port");
}
void rp_health_interval(Dispenser& d, ProxyBuild& b) {
  b.handler.active_health.interval = take_duration(d, "health_interval");
}
void rp_health_timeout(Dispenser& d, ProxyBuild& b) {
  b.handler.active_health.timeout = take_duration(d, "health_timeout");
}
void rp_health_status(Dispenser& d, ProxyBuild& b) {
  b.handler.active_health.expect_status =
      parse_status_match_arg(take_one(d, "health_status", "a status like `2xx`"), "health_status");
}
void rp_fail_duration(Dispenser& d, ProxyBuild& b) {
  b.handler.passive_health.fail_duration = take_duration(d, "fail_duration");
}
void rp_max_fails(Dispenser& d, ProxyBuild& b) {
  b.handler.passive_health.max_fails =
      parse_int_arg(take_one(d, "max_fails", "a number of failures"), "max_fails", 1, kMaxInt);
}
void rp_unhealthy_status(Dispenser& d, ProxyBuild& b) {
  for (const Token& t :
       take_args(d, "unhealthy_status", 1, kNoLimit, "one or more statuses like `5xx`"))
    b.handler.passive_health.unhealthy_status.push_back(
        parse_status_match_arg(t, "unhealthy_status"));
}

HeaderOp take_header_op(Dispenser& d, std::string_view name) {
  std::vector<Token> args =
      take_args(d, name, 1, 3, "a header field like `Host {upstream_hostport}`");
  return parse_header_op(args[0], {args.begin() + 1, args.end()}, false);
}

void rp_header_up(Dispenser& d, ProxyBuild& b) {
  b.handler.header_up.push_back(take_header_op(d, "header_up"));
}
void rp_header_down(Dispenser& d, ProxyBuild& b) {
  b.handler.header_down.push_back(take_header_op(d, "header_down"));
}

void take_trusted_proxies(Dispenser& d, std::vector<std::string>& out) {
  for (const Token& t :
       take_args(d, "trusted_proxies", 1, kNoLimit, "IP ranges or `private_ranges`"))
    out.push_back(parse_ip_range_arg(t, "trusted_proxies", true));
}

void rp_trusted_proxies(Dispenser& d, ProxyBuild& b) {
  take_trusted_proxies(d, b.handler.trusted_proxies);
}
// `-1` (any negative interval) means flush after every write; the config
// spells that -1ms whatever the unit written.
void rp_flush_interval(Dispenser& d, ProxyBuild& b) {
  const Duration interval = take_duration(d, "flush_interval");
  b.handler.flush_interval = interval.count() < 0 ? Duration{-1} : interval;
}

void rp_transport(Dispenser& d, ProxyBuild& b) {
  const Token kind = take_one(d, "transport", "a transport name: `http`");
  if (kind.text != "http")
    throw unsupported_error(kind, "transport `" + kind.text + "`", "only `http` is available");
  parse_subdirectives(d, "transport http", kTransportSubdirectives, b.handler.transport);
}

constexpr std::array<Subdirective<ProxyBuild>, 18> kProxySubdirectives{{
    {"to", rp_to},
    {"lb_policy", rp_lb_policy},
    {"lb_retries", rp_lb_retries},
    {"lb_try_duration", rp_lb_try_duration},
    {"lb_try_interval", rp_lb_try_interval},
    {"health_uri", rp_health_uri},
    {"health_port", rp_health_port},
    {"health_interval", rp_health_interval},
    {"health_timeout", rp_health_timeout},
    {"health_status", rp_health_status},
    {"fail_duration", rp_fail_duration},
    {"max_fails", rp_max_fails},
    {"unhealthy_status", rp_unhealthy_status},
    {"header_up", rp_header_up},
    {"header_down", rp_header_down},
    {"trusted_proxies", rp_trusted_proxies},
    {"flush_interval", rp_flush_interval},
    {"transport", rp_transport},
}};

void apply_implied_transport(ReverseProxyHandler& h, const std::string& scheme) {
  if (scheme == "https") h.transport.tls = true;
  if (scheme == "h2c" && h.transport.versions.empty()) h.transport.versions = {"h2c", "2"};
}

// ----------------------------------------------------------- forward_auth

struct ForwardAuthBuild {
  ForwardAuthHandler handler;
  std::vector<WrittenUpstream> upstreams;
  bool has_uri = false;
};

void fa_uri(Dispenser& d, ForwardAuthBuild& b) {
  b.handler.uri = Template::parse(
      take_one(d, "uri", "a URI like `/api/verify?rd=https://auth.example.com`").text);
  b.has_uri = true;
}

void add_copy_header(ForwardAuthBuild& b, const Token& t) {
  const size_t arrow = t.text.find('>');
  if (arrow == 0 || arrow + 1 == t.text.size())
    throw invalid_value_error(t, "header rename", "copy_headers", "`Name` or `From>To`");
  if (arrow == std::string::npos) {
    b.handler.copy_headers.emplace_back(t.text, t.text);
  } else {
    b.handler.copy_headers.emplace_back(t.text.substr(0, arrow), t.text.substr(arrow + 1));
  }
}

void fa_copy_headers(Dispenser& d, ForwardAuthBuild& b) {
  const Token owner = d.token();
  const std::vector<Token> args = d.remaining_arg_tokens();
  for (const Token& t : args)
    add_copy_header(b, t);
  const bool has_block = d.next_is_block_open();
  for (int nesting = d.nesting(); d.next_block(nesting);) {
    add_copy_header(b, d.token());
    for (const Token& t : d.remaining_arg_tokens())
      add_copy_header(b, t);
  }
  if (args.empty() && !has_block)
    throw missing_arg_error(owner, "copy_headers", "one or more header names");
}

void fa_header_up(Dispenser& d, ForwardAuthBuild& b) {
  b.handler.header_up.push_back(take_header_op(d, "header_up"));
}
void fa_trusted_proxies(Dispenser& d, ForwardAuthBuild& b) {
  take_trusted_proxies(d, b.handler.trusted_proxies);
}

constexpr std::array<Subdirective<ForwardAuthBuild>, 4> kForwardAuthSubdirectives{{
    {"uri", fa_uri},
    {"copy_headers", fa_copy_headers},
    {"header_up", fa_header_up},
    {"trusted_proxies", fa_trusted_proxies},
}};

}  // namespace

Upstream parse_upstream(const Token& t) {
  std::vector<WrittenUpstream> one{{t, parse_upstream_address(t)}};
  settle_schemes(one, false);
  return one.front().upstream;
}

void parse_reverse_proxy(Dispenser& d, Scope& scope, Route& route) {
  const Token directive = d.token();
  take_matcher(d, scope, route);
  ProxyBuild b;
  add_upstreams(b.upstreams, d.remaining_arg_tokens());
  parse_subdirectives(d, "reverse_proxy", kProxySubdirectives, b);
  if (b.upstreams.empty())
    throw missing_arg_error(directive, "reverse_proxy",
                            "at least one upstream address like `localhost:8080`");
  const std::string scheme = settle_schemes(b.upstreams, b.handler.transport.tls);
  b.handler.upstreams = upstreams_of(b.upstreams);
  apply_implied_transport(b.handler, scheme);
  route.handler = std::move(b.handler);
}

void parse_forward_auth(Dispenser& d, Scope& scope, Route& route) {
  const Token directive = d.token();
  take_matcher(d, scope, route);
  ForwardAuthBuild b;
  add_upstreams(b.upstreams, d.remaining_arg_tokens());
  parse_subdirectives(d, "forward_auth", kForwardAuthSubdirectives, b);
  if (b.upstreams.empty())
    throw missing_arg_error(directive, "forward_auth",
                            "the address of the auth service, like `authelia:9091`");
  if (!b.has_uri)
    throw Dispenser::error_at(directive, "`forward_auth` needs a `uri` subdirective",
                              "e.g. `uri /api/verify?rd=https://auth.example.com`");
  settle_schemes(b.upstreams, false);
  b.handler.upstreams = upstreams_of(b.upstreams);
  route.handler = std::move(b.handler);
}

}  // namespace usher::core::caddyfile
