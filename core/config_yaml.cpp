#include "core/config_yaml.h"

#include <algorithm>
#include <array>
#include <utility>
#include <variant>

#include "core/yaml_schema.h"

namespace usher::core {

// The YAML shape of every config struct: one table each, fields in the
// order config.h declares them. A route is the one irregular shape: its
// handler is written as `handler: KIND` followed by that kind's fields, in
// the same map, so a route reads like the Caddyfile directive it came from.

using CopyHeader = std::pair<std::string, std::string>;

// Every schema is declared before any is used: the codecs of one struct
// refer to the schemas of the structs it holds.
template <>
const YamlStruct<SiteAddress>& schema(Tag<SiteAddress>);
template <>
const YamlStruct<HeaderMatch>& schema(Tag<HeaderMatch>);
template <>
const YamlStruct<QueryMatch>& schema(Tag<QueryMatch>);
template <>
const YamlStruct<MatcherSet>& schema(Tag<MatcherSet>);
template <>
const YamlStruct<HeaderOp>& schema(Tag<HeaderOp>);
template <>
const YamlStruct<Upstream>& schema(Tag<Upstream>);
template <>
const YamlStruct<LoadBalancing>& schema(Tag<LoadBalancing>);
template <>
const YamlStruct<ActiveHealthCheck>& schema(Tag<ActiveHealthCheck>);
template <>
const YamlStruct<PassiveHealthCheck>& schema(Tag<PassiveHealthCheck>);
template <>
const YamlStruct<HttpTransport>& schema(Tag<HttpTransport>);
template <>
const YamlStruct<ReverseProxyHandler>& schema(Tag<ReverseProxyHandler>);
template <>
const YamlStruct<RedirHandler>& schema(Tag<RedirHandler>);
template <>
const YamlStruct<RespondHandler>& schema(Tag<RespondHandler>);
template <>
const YamlStruct<HeadersHandler>& schema(Tag<HeadersHandler>);
template <>
const YamlStruct<RequestBodyHandler>& schema(Tag<RequestBodyHandler>);
template <>
const YamlStruct<EncodeHandler>& schema(Tag<EncodeHandler>);
template <>
const YamlStruct<RootHandler>& schema(Tag<RootHandler>);
template <>
const YamlStruct<FileServerHandler>& schema(Tag<FileServerHandler>);
template <>
const YamlStruct<TryFilesHandler>& schema(Tag<TryFilesHandler>);
template <>
const YamlStruct<UriHandler>& schema(Tag<UriHandler>);
template <>
const YamlStruct<RewriteHandler>& schema(Tag<RewriteHandler>);
template <>
const YamlStruct<SubrouteHandler>& schema(Tag<SubrouteHandler>);
template <>
const YamlStruct<BasicAuthHandler::Account>& schema(Tag<BasicAuthHandler::Account>);
template <>
const YamlStruct<BasicAuthHandler>& schema(Tag<BasicAuthHandler>);
template <>
const YamlStruct<CopyHeader>& schema(Tag<CopyHeader>);
template <>
const YamlStruct<ForwardAuthHandler>& schema(Tag<ForwardAuthHandler>);
template <>
const YamlStruct<AbortHandler>& schema(Tag<AbortHandler>);
template <>
const YamlStruct<ErrorHandler>& schema(Tag<ErrorHandler>);
template <>
const YamlStruct<Route>& schema(Tag<Route>);
template <>
const YamlStruct<EabCredentials>& schema(Tag<EabCredentials>);
template <>
const YamlStruct<IssuerConfig>& schema(Tag<IssuerConfig>);
template <>
const YamlStruct<SiteTls>& schema(Tag<SiteTls>);
template <>
const YamlStruct<LogOutput>& schema(Tag<LogOutput>);
template <>
const YamlStruct<LogConfig>& schema(Tag<LogConfig>);
template <>
const YamlStruct<Timeouts>& schema(Tag<Timeouts>);
template <>
const YamlStruct<ServerOptions>& schema(Tag<ServerOptions>);
template <>
const YamlStruct<AdminConfig>& schema(Tag<AdminConfig>);
template <>
const YamlStruct<GlobalOptions>& schema(Tag<GlobalOptions>);
template <>
const YamlStruct<Site>& schema(Tag<Site>);
template <>
const YamlStruct<Config>& schema(Tag<Config>);

namespace {

// ------------------------------------------------------------------ routes

/// One alternative of the Handler variant: its name after `handler:`, and
/// how its fields are written into and read from the route's map.
struct HandlerKind {
  std::string_view name;
  std::function<void(YAML::Emitter&, const Handler&)> write_fields;
  std::function<void(Handler&, YamlReader&, std::vector<BoundKey>&)> bind_fields;
};

// The names after `handler:`, in the order of the Handler variant's
// alternatives; a new alternative without a name fails to compile.
constexpr std::array<std::string_view, std::variant_size_v<Handler>> kHandlerNames{
    "reverse_proxy", "redir",        "respond",   "headers", "request_body", "encode",
    "root",          "file_server",  "try_files", "uri",     "rewrite",      "subroute",
    "basic_auth",    "forward_auth", "abort",     "error",
};
static_assert(std::ranges::none_of(kHandlerNames, [](std::string_view n) { return n.empty(); }),
              "every Handler alternative needs a name in kHandlerNames");

template <class H>
HandlerKind handler_kind(std::string_view name) {
  return {name,
          [](YAML::Emitter& out, const Handler& h) {
            write_fields(out, schema(Tag<H>{}), std::get<H>(h));
          },
          [](Handler& h, YamlReader& r, std::vector<BoundKey>& keys) {
            bind_fields(schema(Tag<H>{}), h.emplace<H>(), r, keys);
          }};
}

template <size_t... I>
std::vector<HandlerKind> make_handler_kinds(std::index_sequence<I...>) {
  return {handler_kind<std::variant_alternative_t<I, Handler>>(kHandlerNames[I])...};
}

/// Indexed like the Handler variant.
const std::vector<HandlerKind>& handler_kinds() {
  static const std::vector<HandlerKind> kinds =
      make_handler_kinds(std::make_index_sequence<std::variant_size_v<Handler>>());
  return kinds;
}

std::string expected_handlers() {
  std::string out = "expected one of: ";
  const auto& kinds = handler_kinds();
  for (size_t i = 0; i < kinds.size(); ++i)
    out += (i ? ", " : "") + std::string(kinds[i].name);
  return out;
}

const HandlerKind& kind_of(const Handler& handler) {
  return handler_kinds().at(handler.index());
}

// Finds the route's `handler:` entry; nullptr (after a diagnostic) when it
// is missing or names no known handler.
const HandlerKind* read_handler_kind(const YAML::Node& route, int route_line, YamlReader& r) {
  for (const auto& entry : route) {
    if (!entry.first.IsScalar() || entry.first.Scalar() != "handler") continue;
    int line = yaml_line(entry.first, route_line);
    if (!entry.second.IsScalar()) {
      r.error(line, "`handler` must be a string", expected_handlers());
      return nullptr;
    }
    for (const auto& kind : handler_kinds())
      if (kind.name == entry.second.Scalar()) return &kind;
    r.error(line, "unknown handler `" + entry.second.Scalar() + "`", expected_handlers());
    return nullptr;
  }
  r.error(route_line, "route has no `handler`", expected_handlers());
  return nullptr;
}

void write_route(YAML::Emitter& out, const Route& route) {
  const HandlerKind& kind = kind_of(route.handler);
  out << YAML::BeginMap;
  write_fields(out, schema(Tag<Route>{}), route);
  out << YAML::Key << "handler" << YAML::Value;
  emit_string(out, kind.name);
  kind.write_fields(out, route.handler);
  out << YAML::EndMap;
}

bool read_route(const YAML::Node& node, const YamlPlace& place, YamlReader& r, Route& route) {
  if (!expect_map(node, place, r)) return false;
  int line = yaml_line(node, place.line);
  if (!r.enter(line)) return false;
  route.origin = Origin{r.file(), line};
  std::vector<BoundKey> keys;
  bind_fields(schema(Tag<Route>{}), route, r, keys);
  keys.push_back({"handler", [](const YAML::Node&, const YamlPlace&) {}});  // read first, below
  const HandlerKind* kind = read_handler_kind(node, line, r);
  if (kind) kind->bind_fields(route.handler, r, keys);
  // Without a known handler the valid keys are unknown: skip them silently.
  read_entries(node, "route", keys, r, kind != nullptr);
  r.leave();
  return true;
}

Codec<std::vector<Route>> routes_codec() {
  return list_of(Codec<Route>{write_route, read_route});
}

// -------------------------------------------------------------------- enums

Codec<HeaderOp::Op> header_op_codec() {
  using Op = HeaderOp::Op;
  return enum_codec<Op>(
      {{Op::kSet, "set"}, {Op::kAdd, "add"}, {Op::kDelete, "delete"}, {Op::kReplace, "replace"}});
}

Codec<UriHandler::Op> uri_op_codec() {
  using Op = UriHandler::Op;
  return enum_codec<Op>({{Op::kStripPrefix, "strip_prefix"},
                         {Op::kStripSuffix, "strip_suffix"},
                         {Op::kReplace, "replace"}});
}

Codec<IssuerConfig::Kind> issuer_kind_codec() {
  using Kind = IssuerConfig::Kind;
  return enum_codec<Kind>({{Kind::kAcme, "acme"}, {Kind::kInternal, "internal"}});
}

Codec<SiteTls::Mode> tls_mode_codec() {
  using Mode = SiteTls::Mode;
  return enum_codec<Mode>(
      {{Mode::kAuto, "auto"}, {Mode::kInternal, "internal"}, {Mode::kFiles, "files"}});
}

Codec<LogOutput::Kind> log_output_codec() {
  using Kind = LogOutput::Kind;
  return enum_codec<Kind>({{Kind::kStderr, "stderr"},
                           {Kind::kStdout, "stdout"},
                           {Kind::kFile, "file"},
                           {Kind::kDiscard, "discard"}});
}

Codec<GlobalOptions::AutoHttps> auto_https_codec() {
  using Mode = GlobalOptions::AutoHttps;
  return enum_codec<Mode>(
      {{Mode::kOn, "on"}, {Mode::kOff, "off"}, {Mode::kDisableRedirects, "disable_redirects"}});
}

/// A field written even when it holds its default (the top-level `sites`).
template <class T>
YamlField<T> always_written(YamlField<T> f) {
  f.is_default = [](const T&) { return false; };
  return f;
}

void strip_route_origins(std::vector<Route>& routes) {
  for (auto& route : routes) {
    route.origin = Origin{};
    if (auto* sub = std::get_if<SubrouteHandler>(&route.handler)) strip_route_origins(sub->routes);
  }
}

}  // namespace

// ----------------------------------------------------------------- matchers

template <>
const YamlStruct<SiteAddress>& schema(Tag<SiteAddress>) {
  static const YamlStruct<SiteAddress> s{"address",
                                         {
                                             field("scheme", &SiteAddress::scheme),
                                             field("host", &SiteAddress::host),
                                             field("port", &SiteAddress::port, port_codec()),
                                             field("path", &SiteAddress::path),
                                             field("original", &SiteAddress::original),
                                         }};
  return s;
}

template <>
const YamlStruct<HeaderMatch>& schema(Tag<HeaderMatch>) {
  static const YamlStruct<HeaderMatch> s{"header match",
                                         {
                                             field("name", &HeaderMatch::name),
                                             field("values", &HeaderMatch::values),
                                         }};
  return s;
}

template <>
const YamlStruct<QueryMatch>& schema(Tag<QueryMatch>) {
  static const YamlStruct<QueryMatch> s{"query match",
                                        {
                                            field("key", &QueryMatch::key),
                                            field("value", &QueryMatch::value),
                                        }};
  return s;
}

template <>
const YamlStruct<MatcherSet>& schema(Tag<MatcherSet>) {
  static const YamlStruct<MatcherSet> s{"matcher",
                                        {
                                            field("paths", &MatcherSet::paths),
                                            field("hosts", &MatcherSet::hosts),
                                            field("methods", &MatcherSet::methods),
                                            field("headers", &MatcherSet::headers),
                                            field("query", &MatcherSet::query),
                                            field("remote_ip", &MatcherSet::remote_ip),
                                            field("client_ip", &MatcherSet::client_ip),
                                            field("protocol", &MatcherSet::protocol),
                                            field("nots", &MatcherSet::nots),
                                        }};
  return s;
}

// ----------------------------------------------------------------- handlers

template <>
const YamlStruct<HeaderOp>& schema(Tag<HeaderOp>) {
  static const YamlStruct<HeaderOp> s{"header operation",
                                      {
                                          field("op", &HeaderOp::op, header_op_codec()),
                                          field("name", &HeaderOp::name),
                                          field("value", &HeaderOp::value),
                                          field("search", &HeaderOp::search),
                                          field("defer", &HeaderOp::defer),
                                      }};
  return s;
}

template <>
const YamlStruct<Upstream>& schema(Tag<Upstream>) {
  static const YamlStruct<Upstream> s{"upstream",
                                      {
                                          field("scheme", &Upstream::scheme),
                                          field("host", &Upstream::host),
                                          field("port", &Upstream::port, port_codec()),
                                          field("unix_path", &Upstream::unix_path),
                                          field("original", &Upstream::original),
                                      }};
  return s;
}

template <>
const YamlStruct<LoadBalancing>& schema(Tag<LoadBalancing>) {
  static const YamlStruct<LoadBalancing> s{
      "load_balancing",
      {
          field("policy", &LoadBalancing::policy),
          field("policy_arg", &LoadBalancing::policy_arg),
          field("policy_secret", &LoadBalancing::policy_secret),
          field("retries", &LoadBalancing::retries, int_codec()),
          field("try_duration", &LoadBalancing::try_duration),
          field("try_interval", &LoadBalancing::try_interval),
      }};
  return s;
}

template <>
const YamlStruct<ActiveHealthCheck>& schema(Tag<ActiveHealthCheck>) {
  static const YamlStruct<ActiveHealthCheck> s{
      "active_health",
      {
          field("uri", &ActiveHealthCheck::uri),
          field("port", &ActiveHealthCheck::port, port_codec()),
          field("interval", &ActiveHealthCheck::interval),
          field("timeout", &ActiveHealthCheck::timeout),
          field("expect_status", &ActiveHealthCheck::expect_status, status_codec()),
      }};
  return s;
}

template <>
const YamlStruct<PassiveHealthCheck>& schema(Tag<PassiveHealthCheck>) {
  static const YamlStruct<PassiveHealthCheck> s{
      "passive_health",
      {
          field("fail_duration", &PassiveHealthCheck::fail_duration),
          field("max_fails", &PassiveHealthCheck::max_fails, int_codec()),
          field("unhealthy_status", &PassiveHealthCheck::unhealthy_status, list_of(status_codec())),
      }};
  return s;
}

template <>
const YamlStruct<HttpTransport>& schema(Tag<HttpTransport>) {
  static const YamlStruct<HttpTransport> s{
      "transport",
      {
          field("dial_timeout", &HttpTransport::dial_timeout),
          field("response_header_timeout", &HttpTransport::response_header_timeout),
          field("read_timeout", &HttpTransport::read_timeout),
          field("write_timeout", &HttpTransport::write_timeout),
          field("keepalive", &HttpTransport::keepalive),
          field("keepalive_idle_conns", &HttpTransport::keepalive_idle_conns,
                optional_of(int_codec())),
          field("tls", &HttpTransport::tls),
          field("tls_insecure_skip_verify", &HttpTransport::tls_insecure_skip_verify),
          field("tls_server_name", &HttpTransport::tls_server_name),
          field("versions", &HttpTransport::versions),
      }};
  return s;
}

template <>
const YamlStruct<ReverseProxyHandler>& schema(Tag<ReverseProxyHandler>) {
  using H = ReverseProxyHandler;
  static const YamlStruct<H> s{"reverse_proxy",
                               {
                                   field("upstreams", &H::upstreams),
                                   field("load_balancing", &H::load_balancing),
                                   field("active_health", &H::active_health),
                                   field("passive_health", &H::passive_health),
                                   field("header_up", &H::header_up),
                                   field("header_down", &H::header_down),
                                   field("trusted_proxies", &H::trusted_proxies),
                                   field("flush_interval", &H::flush_interval),
                                   field("transport", &H::transport),
                               }};
  return s;
}

template <>
const YamlStruct<RedirHandler>& schema(Tag<RedirHandler>) {
  static const YamlStruct<RedirHandler> s{"redir",
                                          {
                                              field("to", &RedirHandler::to),
                                              field("status", &RedirHandler::status, int_codec()),
                                              field("html", &RedirHandler::html),
                                          }};
  return s;
}

template <>
const YamlStruct<RespondHandler>& schema(Tag<RespondHandler>) {
  static const YamlStruct<RespondHandler> s{
      "respond",
      {
          field("body", &RespondHandler::body),
          field("status", &RespondHandler::status, int_codec()),
          field("close", &RespondHandler::close),
      }};
  return s;
}

template <>
const YamlStruct<HeadersHandler>& schema(Tag<HeadersHandler>) {
  static const YamlStruct<HeadersHandler> s{"headers",
                                            {
                                                field("request", &HeadersHandler::request),
                                                field("ops", &HeadersHandler::ops),
                                            }};
  return s;
}

template <>
const YamlStruct<RequestBodyHandler>& schema(Tag<RequestBodyHandler>) {
  static const YamlStruct<RequestBodyHandler> s{
      "request_body", {field("max_size", &RequestBodyHandler::max_size, size_codec())}};
  return s;
}

template <>
const YamlStruct<EncodeHandler>& schema(Tag<EncodeHandler>) {
  static const YamlStruct<EncodeHandler> s{
      "encode",
      {
          field("encodings", &EncodeHandler::encodings),
          field("minimum_length", &EncodeHandler::minimum_length, int_codec()),
      }};
  return s;
}

template <>
const YamlStruct<RootHandler>& schema(Tag<RootHandler>) {
  static const YamlStruct<RootHandler> s{"root", {field("path", &RootHandler::path)}};
  return s;
}

template <>
const YamlStruct<FileServerHandler>& schema(Tag<FileServerHandler>) {
  static const YamlStruct<FileServerHandler> s{"file_server",
                                               {
                                                   field("browse", &FileServerHandler::browse),
                                                   field("root", &FileServerHandler::root),
                                                   field("hide", &FileServerHandler::hide),
                                                   field("index", &FileServerHandler::index),
                                               }};
  return s;
}

template <>
const YamlStruct<TryFilesHandler>& schema(Tag<TryFilesHandler>) {
  static const YamlStruct<TryFilesHandler> s{"try_files",
                                             {field("files", &TryFilesHandler::files)}};
  return s;
}

template <>
const YamlStruct<UriHandler>& schema(Tag<UriHandler>) {
  static const YamlStruct<UriHandler> s{"uri",
                                        {
                                            field("op", &UriHandler::op, uri_op_codec()),
                                            field("find", &UriHandler::find),
                                            field("replace", &UriHandler::replace),
                                            field("limit", &UriHandler::limit, int_codec()),
                                        }};
  return s;
}

template <>
const YamlStruct<RewriteHandler>& schema(Tag<RewriteHandler>) {
  static const YamlStruct<RewriteHandler> s{"rewrite", {field("to", &RewriteHandler::to)}};
  return s;
}

template <>
const YamlStruct<SubrouteHandler>& schema(Tag<SubrouteHandler>) {
  static const YamlStruct<SubrouteHandler> s{
      "subroute", {field("routes", &SubrouteHandler::routes, routes_codec())}};
  return s;
}

template <>
const YamlStruct<BasicAuthHandler::Account>& schema(Tag<BasicAuthHandler::Account>) {
  using Account = BasicAuthHandler::Account;
  static const YamlStruct<Account> s{"account",
                                     {
                                         field("user", &Account::user),
                                         field("hash", &Account::hash),
                                     }};
  return s;
}

template <>
const YamlStruct<BasicAuthHandler>& schema(Tag<BasicAuthHandler>) {
  static const YamlStruct<BasicAuthHandler> s{"basic_auth",
                                              {
                                                  field("algorithm", &BasicAuthHandler::algorithm),
                                                  field("realm", &BasicAuthHandler::realm),
                                                  field("accounts", &BasicAuthHandler::accounts),
                                              }};
  return s;
}

template <>
const YamlStruct<CopyHeader>& schema(Tag<CopyHeader>) {
  static const YamlStruct<CopyHeader> s{"copy header",
                                        {
                                            field("from", &CopyHeader::first),
                                            field("to", &CopyHeader::second),
                                        }};
  return s;
}

template <>
const YamlStruct<ForwardAuthHandler>& schema(Tag<ForwardAuthHandler>) {
  using H = ForwardAuthHandler;
  static const YamlStruct<H> s{"forward_auth",
                               {
                                   field("upstreams", &H::upstreams),
                                   field("uri", &H::uri),
                                   field("copy_headers", &H::copy_headers),
                                   field("header_up", &H::header_up),
                                   field("trusted_proxies", &H::trusted_proxies),
                               }};
  return s;
}

template <>
const YamlStruct<AbortHandler>& schema(Tag<AbortHandler>) {
  static const YamlStruct<AbortHandler> s{"abort", {}};
  return s;
}

template <>
const YamlStruct<ErrorHandler>& schema(Tag<ErrorHandler>) {
  static const YamlStruct<ErrorHandler> s{"error",
                                          {
                                              field("message", &ErrorHandler::message),
                                              field("status", &ErrorHandler::status, int_codec()),
                                          }};
  return s;
}

// The route's own fields; `handler` and the handler's fields follow them.
template <>
const YamlStruct<Route>& schema(Tag<Route>) {
  static const YamlStruct<Route> s{"route",
                                   {
                                       field("directive", &Route::directive),
                                       field("matcher", &Route::matcher_name),
                                       field("match", &Route::match),
                                       field("group", &Route::group),
                                   }};
  return s;
}

// ---------------------------------------------------------------------- TLS

template <>
const YamlStruct<EabCredentials>& schema(Tag<EabCredentials>) {
  static const YamlStruct<EabCredentials> s{"eab",
                                            {
                                                field("key_id", &EabCredentials::key_id),
                                                field("mac_key", &EabCredentials::mac_key),
                                            }};
  return s;
}

template <>
const YamlStruct<IssuerConfig>& schema(Tag<IssuerConfig>) {
  static const YamlStruct<IssuerConfig> s{
      "issuer",
      {
          field("kind", &IssuerConfig::kind, issuer_kind_codec()),
          field("directory", &IssuerConfig::directory),
          field("email", &IssuerConfig::email),
          field("trusted_root", &IssuerConfig::trusted_root),
          field("eab", &IssuerConfig::eab),
          field("disabled_challenges", &IssuerConfig::disabled_challenges),
          field("preferred_chain", &IssuerConfig::preferred_chain),
      }};
  return s;
}

template <>
const YamlStruct<SiteTls>& schema(Tag<SiteTls>) {
  static const YamlStruct<SiteTls> s{"tls",
                                     {
                                         field("mode", &SiteTls::mode, tls_mode_codec()),
                                         field("email", &SiteTls::email),
                                         field("cert_file", &SiteTls::cert_file),
                                         field("key_file", &SiteTls::key_file),
                                         field("issuers", &SiteTls::issuers),
                                         field("ca", &SiteTls::ca),
                                         field("ca_root", &SiteTls::ca_root),
                                         field("dns_provider", &SiteTls::dns_provider),
                                         field("dns_args", &SiteTls::dns_args),
                                         field("on_demand", &SiteTls::on_demand),
                                         field("protocol_min", &SiteTls::protocol_min),
                                         field("protocol_max", &SiteTls::protocol_max),
                                     }};
  return s;
}

// --------------------------------------------------------------------- logs

template <>
const YamlStruct<LogOutput>& schema(Tag<LogOutput>) {
  static const YamlStruct<LogOutput> s{"output",
                                       {
                                           field("kind", &LogOutput::kind, log_output_codec()),
                                           field("path", &LogOutput::path),
                                           field("roll_size", &LogOutput::roll_size, size_codec()),
                                           field("roll_keep", &LogOutput::roll_keep, int_codec()),
                                       }};
  return s;
}

template <>
const YamlStruct<LogConfig>& schema(Tag<LogConfig>) {
  static const YamlStruct<LogConfig> s{"log",
                                       {
                                           field("name", &LogConfig::name),
                                           field("output", &LogConfig::output),
                                           field("format", &LogConfig::format),
                                           field("level", &LogConfig::level),
                                       }};
  return s;
}

// ----------------------------------------------------------- global options

template <>
const YamlStruct<Timeouts>& schema(Tag<Timeouts>) {
  static const YamlStruct<Timeouts> s{"timeouts",
                                      {
                                          field("read_header", &Timeouts::read_header),
                                          field("read_body", &Timeouts::read_body),
                                          field("write", &Timeouts::write),
                                          field("idle", &Timeouts::idle),
                                      }};
  return s;
}

template <>
const YamlStruct<ServerOptions>& schema(Tag<ServerOptions>) {
  static const YamlStruct<ServerOptions> s{
      "server",
      {
          field("listener", &ServerOptions::listener),
          field("timeouts", &ServerOptions::timeouts),
          field("trusted_proxies", &ServerOptions::trusted_proxies),
          field("protocols", &ServerOptions::protocols),
          field("max_header_size", &ServerOptions::max_header_size, optional_of(size_codec())),
      }};
  return s;
}

template <>
const YamlStruct<AdminConfig>& schema(Tag<AdminConfig>) {
  static const YamlStruct<AdminConfig> s{"admin",
                                         {
                                             field("enabled", &AdminConfig::enabled),
                                             field("address", &AdminConfig::address),
                                         }};
  return s;
}

template <>
const YamlStruct<GlobalOptions>& schema(Tag<GlobalOptions>) {
  using G = GlobalOptions;
  static const YamlStruct<G> s{"global",
                               {
                                   field("debug", &G::debug),
                                   field("email", &G::email),
                                   field("acme_ca", &G::acme_ca),
                                   field("acme_ca_root", &G::acme_ca_root),
                                   field("acme_eab", &G::acme_eab),
                                   field("cert_issuers", &G::cert_issuers),
                                   field("local_certs", &G::local_certs),
                                   field("admin", &G::admin),
                                   field("http_port", &G::http_port, port_codec()),
                                   field("https_port", &G::https_port, port_codec()),
                                   field("auto_https", &G::auto_https, auto_https_codec()),
                                   field("storage_path", &G::storage_path),
                                   field("grace_period", &G::grace_period),
                                   field("servers", &G::servers),
                                   field("logs", &G::logs),
                                   field("workers", &G::workers, optional_of(int_codec())),
                               }};
  return s;
}

// --------------------------------------------------------------------- site

template <>
const YamlStruct<Site>& schema(Tag<Site>) {
  static const YamlStruct<Site> s{"site",
                                  {
                                      field("addresses", &Site::addresses),
                                      field("binds", &Site::binds),
                                      field("routes", &Site::routes, routes_codec()),
                                      field("error_routes", &Site::error_routes, routes_codec()),
                                      field("tls", &Site::tls),
                                      field("log", &Site::log),
                                  }};
  return s;
}

template <>
const YamlStruct<Config>& schema(Tag<Config>) {
  static const YamlStruct<Config> s{"config",
                                    {
                                        field("global", &Config::global),
                                        always_written(field("sites", &Config::sites)),
                                    }};
  return s;
}

// ------------------------------------------------------------- entry points

std::string to_yaml(const Config& config) {
  YAML::Emitter out;
  write_struct(out, config);
  return std::string(out.c_str()) + "\n";
}

namespace {

int exception_line(const YAML::Exception& e) {
  return e.mark.is_null() ? 0 : e.mark.line + 1;
}

// The first document of `text` read into a config; a second document is an
// error rather than silently ignored.
void read_documents(std::string_view text, YamlReader& r, Config& config) {
  std::vector<YAML::Node> documents = YAML::LoadAll(std::string(text));
  if (documents.size() > 1) {
    r.error(yaml_line(documents[1], 0),
            "expected one YAML document, found " + std::to_string(documents.size()));
  }
  if (documents.empty() || documents[0].IsNull()) return;  // an empty file is an empty config
  if (!documents[0].IsMap()) {
    r.error(yaml_line(documents[0], 1),
            "a config must be a map with the keys `global` and `sites`");
    return;
  }
  read_struct(documents[0], YamlPlace{"config", 1, false}, r, config);
}

}  // namespace

Config from_yaml(std::string_view text, const std::string& filename, Diagnostics& diagnostics) {
  Config config;
  YamlReader reader(filename, diagnostics);
  // yaml-cpp reports syntax errors (and, defensively, anything else) by
  // throwing; the config loader wants diagnostics, so nothing escapes.
  try {
    read_documents(text, reader, config);
  } catch (const YAML::Exception& e) {
    diagnostics.error(filename, exception_line(e), "invalid YAML: " + e.msg);
    return Config{};
  } catch (const std::exception& e) {
    diagnostics.error(filename, 0, std::string("reading YAML: ") + e.what());
    return Config{};
  }
  return config;
}

Config strip_origins(Config config) {
  for (auto& site : config.sites) {
    site.origin = Origin{};
    strip_route_origins(site.routes);
    strip_route_origins(site.error_routes);
  }
  return config;
}

}  // namespace usher::core
