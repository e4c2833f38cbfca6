#include "core/config_yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/units.h"
#include "core/yaml_schema.h"

namespace usher::core {
namespace {

using ::testing::HasSubstr;

// ------------------------------------------------------------ the full config
//
// A hand-built config in which every field of every struct, every handler
// kind and every enum value differs from its default somewhere, so that a
// round trip through YAML exercises all of to_yaml and from_yaml.

Template tpl(const char* raw) {
  return Template::parse(raw);
}

Upstream upstream(std::string scheme, std::string host, uint16_t port, std::string original) {
  return Upstream{std::move(scheme), std::move(host), port, "", std::move(original)};
}

std::vector<HeaderOp> every_header_op() {
  return {
      {HeaderOp::Op::kSet, "Host", tpl("{upstream_hostport}"), "", false},
      {HeaderOp::Op::kAdd, "X-Tag", tpl("on"), "", false},
      {HeaderOp::Op::kDelete, "Server", {}, "", true},
      {HeaderOp::Op::kReplace, "Location", tpl("https://{host}"), "http://", true},
  };
}

MatcherSet full_matcher() {
  MatcherSet m;
  m.paths = {"/api/*", "*"};
  m.hosts = {"*.example.com"};
  m.methods = {"GET", "POST"};
  m.headers = {{"X-Mode", {"a*", "*b"}}, {"!X-Debug", {}}};
  m.query = {{"debug", "*"}, {"page", "123"}};
  m.remote_ip = {"10.0.0.0/8", "127.0.0.1"};
  m.client_ip = {"192.168.0.0/16"};
  m.protocol = "https";
  MatcherSet inner;
  inner.paths = {"/api/private/*"};
  MatcherSet innermost;
  innermost.methods = {"OPTIONS"};
  inner.nots = {innermost};
  m.nots = {inner, MatcherSet{}};
  return m;
}

ReverseProxyHandler full_reverse_proxy() {
  ReverseProxyHandler h;
  h.upstreams = {upstream("http", "10.0.0.1", 8080, "10.0.0.1:8080"),
                 upstream("h2c", "::1", 9000, "h2c://[::1]:9000"),
                 Upstream{"unix", "", 0, "/run/app.sock", "unix//run/app.sock"}};
  h.load_balancing = {"cookie", "lb", "s3cret", 3, Duration(5'000), Duration(100)};
  h.active_health = {"/healthz", 8081, Duration(10'000), Duration(2'000), 204};
  h.passive_health = {Duration(30'000), 5, {5, 429, 4}};
  h.header_up = every_header_op();
  h.header_down = {{HeaderOp::Op::kDelete, "X-Powered-*", {}, "", false}};
  h.trusted_proxies = {"private_ranges"};
  h.flush_interval = Duration(-1);
  HttpTransport& t = h.transport;
  t.dial_timeout = Duration(3'000);
  t.response_header_timeout = Duration(90'500);
  t.read_timeout = Duration(0);
  t.write_timeout = Duration(3'600'000);
  t.keepalive = Duration(120'000);
  t.keepalive_idle_conns = 0;
  t.tls = true;
  t.tls_insecure_skip_verify = true;
  t.tls_server_name = "app.internal";
  t.versions = {"1.1", "2"};
  return h;
}

Route route(std::string directive, Handler handler) {
  Route r;
  r.directive = std::move(directive);
  r.handler = std::move(handler);
  return r;
}

std::vector<Route> every_other_handler() {
  ForwardAuthHandler forward;
  forward.upstreams = {upstream("https", "auth.example.com", 443, "https://auth.example.com")};
  forward.uri = tpl("/api/verify?rd={scheme}://{host}{uri}");
  forward.copy_headers = {{"Remote-User", "Remote-User"}, {"Remote-Groups", "X-Groups"}};
  forward.header_up = {{HeaderOp::Op::kSet, "X-Forwarded-Method", tpl("{method}"), "", false}};
  forward.trusted_proxies = {"10.0.0.0/8"};
  return {
      route("redir", RedirHandler{tpl("https://{host}{uri}"), 301, true}),
      route("respond", RespondHandler{tpl("a: b"), 503, true}),
      route("header", HeadersHandler{false, every_header_op()}),
      route("request_header",
            HeadersHandler{true, {{HeaderOp::Op::kAdd, "X-A", tpl("1"), "", false}}}),
      route("request_body", RequestBodyHandler{10 * 1024 * 1024}),
      route("encode", EncodeHandler{{"zstd", "gzip"}, 512}),
      route("root", RootHandler{tpl("/srv/{host}")}),
      route("file_server",
            FileServerHandler{true, tpl("/srv/www"), {".git", "*.bak"}, {"index.html"}}),
      route("try_files", TryFilesHandler{{tpl("{path}"), tpl("/index.html")}}),
      route("uri", UriHandler{UriHandler::Op::kStripPrefix, "/api", "", 0}),
      route("uri", UriHandler{UriHandler::Op::kStripSuffix, ".php", "", 0}),
      route("uri", UriHandler{UriHandler::Op::kReplace, "/old", "/new", 2}),
      route("rewrite", RewriteHandler{tpl("/index.php?{query}")}),
      route("basic_auth", BasicAuthHandler{"argon2id", "private", {{"alice", "$2a$14$abc"}}}),
      route("forward_auth", forward),
      route("abort", AbortHandler{}),
      route("error", ErrorHandler{tpl("gone"), 410}),
  };
}

Route subroute_with_nesting() {
  Route inner = route("reverse_proxy", full_reverse_proxy());
  inner.matcher_name = "@api";
  inner.match = full_matcher();
  inner.origin = {"Caddyfile", 7};
  SubrouteHandler innermost{{route("respond", RespondHandler{tpl("{err.status_code}"), 200})}};
  Route handle = route("handle_path", SubrouteHandler{{inner, route("route", innermost)}});
  handle.match = MatcherSet{};  // present but empty: `match: {}`
  handle.group = "handle_0";
  return handle;
}

IssuerConfig full_acme_issuer() {
  IssuerConfig i;
  i.kind = IssuerConfig::Kind::kAcme;
  i.directory = "https://localhost:14000/dir";
  i.email = "admin@example.com";
  i.trusted_root = "/etc/pebble/root.pem";
  i.eab = EabCredentials{"kid-1", "bWFjLWtleQ"};
  i.disabled_challenges = {"http"};
  i.preferred_chain = "ISRG Root X1";
  return i;
}

IssuerConfig internal_issuer() {
  IssuerConfig i;
  i.kind = IssuerConfig::Kind::kInternal;
  return i;
}

Site proxy_site() {
  Site s;
  s.addresses = {{"https", "example.com", 8443, "/api/*", "https://example.com:8443/api/*"},
                 {"", "", 0, "", ":80"}};
  s.routes = {subroute_with_nesting(), route("reverse_proxy", ReverseProxyHandler{})};
  s.error_routes = {route("respond", RespondHandler{tpl("{err.status_code} {err.status_text}")})};
  SiteTls tls;
  tls.mode = SiteTls::Mode::kFiles;
  tls.email = "tls@example.com";
  tls.cert_file = "/etc/ssl/cert.pem";
  tls.key_file = "/etc/ssl/key.pem";
  tls.issuers = {full_acme_issuer(), internal_issuer()};
  tls.ca = "https://acme.example/dir";
  tls.ca_root = "/etc/ca.pem";
  tls.dns_provider = "cloudflare";
  tls.dns_args = {"{env.CF_TOKEN}"};
  tls.on_demand = true;
  tls.protocol_min = "tls1.2";
  tls.protocol_max = "tls1.3";
  s.tls = tls;
  s.log = LogConfig{"", LogOutput{LogOutput::Kind::kFile, "/var/log/usher/a.log", 1 << 20, 3},
                    "json", "INFO"};
  s.origin = {"Caddyfile", 1};
  return s;
}

Site handlers_site() {
  Site s;
  s.addresses = {{"", "localhost", 0, "", "localhost"}};
  s.routes = every_other_handler();
  s.tls = SiteTls{};
  s.tls->mode = SiteTls::Mode::kInternal;
  s.log = LogConfig{};
  return s;
}

Site auto_tls_site() {
  Site s;
  s.addresses = {{"http", "*.example.org", 0, "", "http://*.example.org"}};
  s.tls = SiteTls{};  // mode auto, the default: written as `tls: {}`
  return s;
}

GlobalOptions full_global() {
  GlobalOptions g;
  g.debug = true;
  g.email = "ops@example.com";
  g.acme_ca = "https://acme-staging-v02.api.letsencrypt.org/directory";
  g.acme_ca_root = "/etc/ca-root.pem";
  g.acme_eab = EabCredentials{"key", "mac"};
  g.cert_issuers = {internal_issuer(), full_acme_issuer()};
  g.local_certs = true;
  g.admin = {false, "unix//run/usher/admin.sock"};
  g.http_port = 8080;
  g.https_port = 8443;
  g.auto_https = GlobalOptions::AutoHttps::kDisableRedirects;
  g.storage_path = "/var/lib/usher";
  g.grace_period = Duration(15'000);
  ServerOptions all;
  all.timeouts = {Duration(10'000), Duration(60'000), Duration(0), Duration(300'000)};
  all.trusted_proxies = {"private_ranges"};
  all.protocols = {"h1", "h2"};
  all.max_header_size = 16 * 1024;
  ServerOptions https;
  https.listener = ":443";
  g.servers = {all, https};
  g.logs = {
      LogConfig{"", LogOutput{LogOutput::Kind::kStderr, "", 0, 0}, "console", "DEBUG"},
      LogConfig{"stdout", LogOutput{LogOutput::Kind::kStdout, "", 0, 0}, "", ""},
      LogConfig{"access", LogOutput{LogOutput::Kind::kFile, "/var/log/a.log", 5'000'000, 10}, "",
                "ERROR"},
      LogConfig{"quiet", LogOutput{LogOutput::Kind::kDiscard, "", 0, 0}, "", "WARN"},
  };
  g.workers = 4;
  return g;
}

Config full_config() {
  Config c;
  c.global = full_global();
  c.sites = {proxy_site(), handlers_site(), auto_tls_site()};
  return c;
}

// Reads YAML that is expected to be valid; fails the test with the
// diagnostics otherwise.
Config read_ok(const std::string& yaml) {
  Diagnostics d;
  Config c = from_yaml(yaml, "test.yaml", d);
  EXPECT_FALSE(d.has_errors()) << d.str() << "in:\n" << yaml;
  return c;
}

// Reads YAML that is expected to be invalid; returns the diagnostics text.
std::string read_errors(const std::string& yaml) {
  Diagnostics d;
  from_yaml(yaml, "test.yaml", d);
  EXPECT_TRUE(d.has_errors()) << "no error for:\n" << yaml;
  return d.str();
}

// --------------------------------------------------------------- round trips

TEST(ConfigYaml, RoundTripsEveryFieldOfAFullConfig) {
  Config config = full_config();
  Config back = read_ok(to_yaml(config));
  EXPECT_EQ(strip_origins(back), strip_origins(config)) << to_yaml(config);
}

TEST(ConfigYaml, WritesTheSameTextAfterARoundTrip) {
  std::string yaml = to_yaml(full_config());
  EXPECT_EQ(to_yaml(read_ok(yaml)), yaml);
}

TEST(ConfigYaml, RoundTripsAnEmptyConfig) {
  EXPECT_EQ(to_yaml(Config{}), "sites: []\n");
  EXPECT_EQ(read_ok("sites: []\n"), Config{});
  EXPECT_EQ(read_ok(""), Config{});
}

TEST(ConfigYaml, RoundTripsEveryAutoHttpsValue) {
  for (auto mode : {GlobalOptions::AutoHttps::kOn, GlobalOptions::AutoHttps::kOff,
                    GlobalOptions::AutoHttps::kDisableRedirects}) {
    Config config;
    config.global.auto_https = mode;
    EXPECT_EQ(read_ok(to_yaml(config)), config) << to_yaml(config);
  }
}

TEST(ConfigYaml, RoundTripsValuesOnlyTheValidatorRejects) {
  // from_yaml checks types; meaning (ranges of counts and statuses) is
  // validate()'s job, so whatever to_yaml writes must read back unchanged.
  ReverseProxyHandler proxy;
  proxy.load_balancing.retries = -1;
  proxy.passive_health.max_fails = 0;
  proxy.passive_health.unhealthy_status = {0, 7, 42, -3, 600};
  proxy.active_health.expect_status = 9;
  Site site;
  site.routes = {route("reverse_proxy", proxy), route("respond", RespondHandler{{}, 42, false}),
                 route("redir", RedirHandler{{}, 0, true}),
                 route("uri", UriHandler{UriHandler::Op::kReplace, "a", "b", -2})};
  Config config;
  config.global.workers = 0;
  config.sites = {site};
  EXPECT_EQ(strip_origins(read_ok(to_yaml(config))), config) << to_yaml(config);
}

TEST(ConfigYaml, RoundTripsEveryAsciiCharacterInStrings) {
  for (int c = 1; c < 128; ++c) {
    for (std::string value :
         {std::string(1, static_cast<char>(c)), "a" + std::string(1, static_cast<char>(c)) + "b",
          "x " + std::string(1, static_cast<char>(c))}) {
      Config config;
      config.global.email = value;
      EXPECT_EQ(read_ok(to_yaml(config)).global.email, value) << "character " << c;
    }
  }
  YAML::Emitter out;
  emit_string(out, "a\rb");  // yaml-cpp alone writes it plain, and the \r is lost
  EXPECT_STREQ(out.c_str(), "\"a\\rb\"");
}

TEST(ConfigYaml, RoundTripsStringsThatLookLikeOtherYamlTypes) {
  const std::vector<std::string> values = {
      "on",    "off",  "yes",   "No",     "true",       "null",   "~",    "123", "1.1", "-1",
      "0x1F",  "1:30", "1e3",   ".inf",   "2024-01-02", "{host}", "a: b", "",    "*",   "@x",
      "#x",    "a #b", "- x",   "[x]",    "!x",         "%x",     "&x",   "|",   ">",   "'x'",
      "\"x\"", "a\nb", " lead", "trail ", "=",          "<<",     "héllo"};
  for (const auto& value : values) {
    Config config;
    config.global.email = value;
    config.global.storage_path = "prefix";
    Site site;
    site.addresses = {{"", value, 0, "", value}};
    site.routes = {route("respond", RespondHandler{Template::parse(value), 200, false})};
    config.sites = {site};
    std::string yaml = to_yaml(config);
    EXPECT_EQ(read_ok(yaml).global.email, value) << yaml;
    EXPECT_EQ(strip_origins(read_ok(yaml)), config) << yaml;
  }
}

TEST(ConfigYaml, SetsOriginsFromYamlLines) {
  Config config = read_ok(
      "sites:\n"
      "  - addresses:\n"
      "      - host: a.example\n"
      "    routes:\n"
      "      - handler: subroute\n"
      "        routes:\n"
      "          - handler: abort\n");
  ASSERT_EQ(config.sites.size(), 1u);
  const Site& site = config.sites[0];
  EXPECT_EQ(site.origin, (Origin{"test.yaml", 2}));
  ASSERT_EQ(site.routes.size(), 1u);
  EXPECT_EQ(site.routes[0].origin, (Origin{"test.yaml", 5}));
  const auto& sub = std::get<SubrouteHandler>(site.routes[0].handler);
  ASSERT_EQ(sub.routes.size(), 1u);
  EXPECT_EQ(sub.routes[0].origin, (Origin{"test.yaml", 7}));
}

TEST(ConfigYaml, StripOriginsClearsNestedRouteOrigins) {
  Config config = full_config();
  Config stripped = strip_origins(config);
  EXPECT_EQ(stripped.sites[0].origin, Origin{});
  const auto& sub = std::get<SubrouteHandler>(stripped.sites[0].routes[0].handler);
  EXPECT_EQ(sub.routes[0].origin, Origin{});
  EXPECT_NE(config, stripped);  // the full config has origins to clear
}

TEST(ConfigYaml, ReadsSizesAndDurationsInTheirHumanForms) {
  Config config = read_ok(
      "global:\n"
      "  grace_period: 1m30s\n"
      "  servers:\n"
      "    - max_header_size: 10KiB\n"
      "sites:\n"
      "  - routes:\n"
      "      - handler: request_body\n"
      "        max_size: 5MB\n"
      "      - handler: reverse_proxy\n"
      "        flush_interval: -1\n");
  EXPECT_EQ(config.global.grace_period, Duration(90'000));
  EXPECT_EQ(config.global.servers.at(0).max_header_size, 10u * 1024);
  const auto& routes = config.sites.at(0).routes;
  EXPECT_EQ(std::get<RequestBodyHandler>(routes.at(0).handler).max_size, 5'000'000u);
  EXPECT_EQ(std::get<ReverseProxyHandler>(routes.at(1).handler).flush_interval, Duration(-1'000));
}

TEST(ConfigYaml, ReadsTemplatesIntoParts) {
  Config config = read_ok(
      "sites:\n"
      "  - routes:\n"
      "      - handler: respond\n"
      "        body: \"hello {host}\"\n");
  const auto& body = std::get<RespondHandler>(config.sites.at(0).routes.at(0).handler).body;
  EXPECT_EQ(body.raw, "hello {host}");
  EXPECT_FALSE(body.is_literal());
}

TEST(ConfigYaml, ReadsEveryEnumNameIncludingTheDefaults) {
  Config config = read_ok(
      "global:\n"
      "  auto_https: \"on\"\n"
      "  logs:\n"
      "    - output: {kind: stderr}\n"
      "sites:\n"
      "  - tls:\n"
      "      mode: auto\n"
      "      issuers: [{kind: acme}, {kind: internal}]\n"
      "    routes:\n"
      "      - handler: headers\n"
      "        ops: [{op: set, name: A}, {op: add, name: B}, {op: delete, name: C},\n"
      "              {op: replace, name: D}]\n"
      "      - {handler: uri, op: strip_prefix}\n"
      "      - {handler: uri, op: strip_suffix}\n"
      "      - {handler: uri, op: replace}\n");
  EXPECT_EQ(config.global.auto_https, GlobalOptions::AutoHttps::kOn);
  EXPECT_EQ(config.global.logs.at(0).output.kind, LogOutput::Kind::kStderr);
  const Site& site = config.sites.at(0);
  EXPECT_EQ(site.tls->mode, SiteTls::Mode::kAuto);
  EXPECT_EQ(site.tls->issuers.at(1).kind, IssuerConfig::Kind::kInternal);
  const auto& ops = std::get<HeadersHandler>(site.routes.at(0).handler).ops;
  ASSERT_EQ(ops.size(), 4u);
  EXPECT_EQ(ops[0].op, HeaderOp::Op::kSet);
  EXPECT_EQ(ops[1].op, HeaderOp::Op::kAdd);
  EXPECT_EQ(ops[2].op, HeaderOp::Op::kDelete);
  EXPECT_EQ(ops[3].op, HeaderOp::Op::kReplace);
  EXPECT_EQ(std::get<UriHandler>(site.routes.at(1).handler).op, UriHandler::Op::kStripPrefix);
  EXPECT_EQ(std::get<UriHandler>(site.routes.at(2).handler).op, UriHandler::Op::kStripSuffix);
  EXPECT_EQ(std::get<UriHandler>(site.routes.at(3).handler).op, UriHandler::Op::kReplace);
}

TEST(ConfigYaml, ReadsTheHandlerKeyWhereverItIsWritten) {
  Config config = read_ok(
      "sites:\n"
      "  - routes:\n"
      "      - status: 404\n"
      "        handler: respond\n"
      "        directive: respond\n");
  const Route& r = config.sites.at(0).routes.at(0);
  EXPECT_EQ(r.directive, "respond");
  EXPECT_EQ(std::get<RespondHandler>(r.handler).status, 404);
}

struct ScalarCase {
  const char* text;
  bool quoted;
};

TEST(ConfigYaml, QuotesExactlyTheStringsAReaderWouldTakeForAnotherType) {
  const std::vector<ScalarCase> cases = {
      {"on", true},
      {"OFF", true},
      {"yes", true},
      {"n", true},
      {"True", true},
      {"null", true},
      {"~", true},
      {"", true},
      {"123", true},
      {"-1", true},
      {"+1", true},
      {"1_000", true},
      {"0x1F", true},
      {"0o17", true},
      {"0b101", true},
      {"017", true},
      {"1:30", true},
      {"1.1", true},
      {"1.", true},
      {".5", true},
      {"1e3", true},
      {"-.inf", true},
      {".NaN", true},
      {"2024-01-02", true},
      {"=", true},
      {"<<", true},
      {"5xx", false},
      {"30s", false},
      {"-1ms", false},
      {"127.0.0.1", false},
      {"::1", false},
      {"10.0.0.0/8", false},
      {"example.com", false},
      {"onion", false},
      {"nope", false},
      {"1.2.3", false},
      {"0xZZ", false},
      {"h2c", false},
      {"/api/*", false},
      {"private_ranges", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(looks_like_non_string(c.text), c.quoted) << "`" << c.text << "`";
    YAML::Emitter out;
    emit_string(out, c.text);
    EXPECT_EQ(out.c_str(), c.quoted ? "\"" + std::string(c.text) + "\"" : std::string(c.text));
  }
}

// ------------------------------------------------------------- exact output

TEST(ConfigYaml, WritesASmallSiteExactly) {
  Site site;
  site.addresses = {{"", "cloud.example.com", 0, "", "cloud.example.com"}};
  ReverseProxyHandler proxy;
  proxy.upstreams = {upstream("http", "127.0.0.1", 8080, "127.0.0.1:8080")};
  site.routes = {route("reverse_proxy", proxy)};
  site.origin = {"Caddyfile", 1};
  Config config;
  config.sites = {site};
  EXPECT_EQ(to_yaml(config),
            "sites:\n"
            "  - addresses:\n"
            "      - host: cloud.example.com\n"
            "        original: cloud.example.com\n"
            "    routes:\n"
            "      - directive: reverse_proxy\n"
            "        handler: reverse_proxy\n"
            "        upstreams:\n"
            "          - scheme: http\n"
            "            host: 127.0.0.1\n"
            "            port: 8080\n"
            "            original: 127.0.0.1:8080\n");
}

TEST(ConfigYaml, WritesGlobalOptionsExactly) {
  Config config;
  config.global.admin.enabled = false;
  config.global.http_port = 8080;
  config.global.auto_https = GlobalOptions::AutoHttps::kOff;
  config.global.grace_period = Duration(90'250);
  config.global.servers = {ServerOptions{}};
  config.global.servers[0].max_header_size = 16384;
  config.global.servers[0].protocols = {"h1", "h2"};
  config.global.logs = {LogConfig{}};
  config.global.logs[0].output.kind = LogOutput::Kind::kDiscard;
  EXPECT_EQ(to_yaml(config),
            "global:\n"
            "  admin:\n"
            "    enabled: false\n"
            "  http_port: 8080\n"
            "  auto_https: \"off\"\n"
            "  grace_period: 1m30s250ms\n"
            "  servers:\n"
            "    - protocols:\n"
            "        - h1\n"
            "        - h2\n"
            "      max_header_size: 16384\n"
            "  logs:\n"
            "    - output:\n"
            "        kind: discard\n"
            "sites: []\n");
}

TEST(ConfigYaml, WritesMatchersStatusesAndQuotedStringsExactly) {
  Route r = route("reverse_proxy", ReverseProxyHandler{});
  r.matcher_name = "@api";
  r.match = MatcherSet{};
  r.match->paths = {"*", "/api/*"};
  r.match->nots = {MatcherSet{}};
  r.match->nots[0].hosts = {"on"};
  auto& proxy = std::get<ReverseProxyHandler>(r.handler);
  proxy.passive_health.unhealthy_status = {5, 503};
  proxy.header_up = {{HeaderOp::Op::kSet, "X-Host", Template::parse("{host}"), "", false}};
  proxy.transport.versions = {"1.1"};
  Site site;
  site.routes = {r, route("abort", AbortHandler{})};
  Config config;
  config.sites = {site};
  EXPECT_EQ(to_yaml(config),
            "sites:\n"
            "  - routes:\n"
            "      - directive: reverse_proxy\n"
            "        matcher: \"@api\"\n"
            "        match:\n"
            "          paths:\n"
            "            - \"*\"\n"
            "            - /api/*\n"
            "          nots:\n"
            "            - hosts:\n"
            "                - \"on\"\n"
            "        handler: reverse_proxy\n"
            "        passive_health:\n"
            "          unhealthy_status:\n"
            "            - 5xx\n"
            "            - 503\n"
            "        header_up:\n"
            "          - name: X-Host\n"
            "            value: \"{host}\"\n"
            "        transport:\n"
            "          versions:\n"
            "            - \"1.1\"\n"
            "      - directive: abort\n"
            "        handler: abort\n");
}

TEST(ConfigYaml, WritesPresentButEmptyOptionalsAsEmptyMaps) {
  Site site;
  site.tls = SiteTls{};
  Route r = route("handle", SubrouteHandler{});
  r.match = MatcherSet{};
  site.routes = {r};
  Config config;
  config.sites = {site};
  EXPECT_EQ(to_yaml(config),
            "sites:\n"
            "  - routes:\n"
            "      - directive: handle\n"
            "        match: {}\n"
            "        handler: subroute\n"
            "    tls: {}\n");
}

// -------------------------------------------------------------------- errors

struct BadInput {
  const char* name;
  std::string yaml;
  std::string error;  // the whole diagnostics text
};

class ConfigYamlErrors : public ::testing::TestWithParam<BadInput> {};

TEST_P(ConfigYamlErrors, ReportsTheExactMessage) {
  EXPECT_EQ(read_errors(GetParam().yaml), GetParam().error);
}

// A site with one route whose body is `route_lines` (indented by the caller).
std::string one_route(const std::string& route_lines) {
  return "sites:\n  - routes:\n      - " + route_lines;
}

INSTANTIATE_TEST_SUITE_P(
    Categories, ConfigYamlErrors,
    ::testing::Values(
        BadInput{"UnknownRouteKey", one_route("handler: abort\n        foo: 1\n"),
                 "test.yaml:4: unknown key `foo` in route; expected one of: directive, matcher, "
                 "match, group, handler\n"},
        BadInput{"UnknownTopLevelKey", "site: []\n",
                 "test.yaml:1: unknown key `site` in config; expected one of: global, sites\n"},
        BadInput{"UnknownGlobalKey", "global:\n  emial: a@b.c\n",
                 "test.yaml:2: unknown key `emial` in global; expected one of: debug, email, "
                 "acme_ca, acme_ca_root, acme_eab, cert_issuers, local_certs, admin, http_port, "
                 "https_port, auto_https, storage_path, grace_period, servers, logs, workers\n"},
        BadInput{"PortNotAnInteger", "global:\n  http_port: eighty\n",
                 "test.yaml:2: `http_port` must be an integer between 1 and 65535\n"},
        BadInput{"PortOutOfRange", "sites:\n  - addresses:\n      - host: a\n        port: 70000\n",
                 "test.yaml:4: `port` must be an integer between 1 and 65535\n"},
        BadInput{"CountNotAnInteger",
                 one_route("handler: reverse_proxy\n        load_balancing:\n"
                           "          retries: 1.5\n"),
                 "test.yaml:5: `retries` must be an integer\n"},
        BadInput{"IntegerOverflow", "global:\n  workers: 99999999999\n",
                 "test.yaml:2: `workers` must be an integer\n"},
        BadInput{"BoolSpelledYes", "global:\n  debug: yes\n",
                 "test.yaml:2: `debug` must be true or false\n"},
        BadInput{"StringGivenAMap", "global:\n  email: {a: b}\n",
                 "test.yaml:2: `email` must be a string\n"},
        BadInput{"NullString", "global:\n  email:\n", "test.yaml:2: `email` must be a string\n"},
        BadInput{"ListGivenAScalar",
                 one_route("handler: abort\n        match:\n          paths: /api\n"),
                 "test.yaml:5: `paths` must be a list\n"},
        BadInput{"ListItemOfWrongType",
                 one_route("handler: abort\n        match:\n"
                           "          paths:\n            - [a]\n"),
                 "test.yaml:6: each item of `paths` must be a string\n"},
        BadInput{"MapGivenAScalar", "global: 3\n", "test.yaml:1: `global` must be a map\n"},
        BadInput{"BadDuration", "global:\n  grace_period: 10x\n",
                 "test.yaml:2: invalid duration `10x` for `grace_period`; expected a duration "
                 "such as 250ms, 30s or 1m30s\n"},
        BadInput{"BadSize", one_route("handler: request_body\n        max_size: 10QB\n"),
                 "test.yaml:4: invalid size `10QB` for `max_size`; expected a number of bytes, or "
                 "a size such as 10KB or 1MiB\n"},
        BadInput{"BadEnum", "global:\n  auto_https: maybe\n",
                 "test.yaml:2: invalid value `maybe` for `auto_https`; expected one of: on, off, "
                 "disable_redirects\n"},
        BadInput{"BadLogKind", "global:\n  logs:\n    - output:\n        kind: syslog\n",
                 "test.yaml:4: invalid value `syslog` for `kind`; expected one of: stderr, "
                 "stdout, file, discard\n"},
        BadInput{"BadStatusClass",
                 one_route("handler: reverse_proxy\n        active_health:\n"
                           "          expect_status: 6xx\n"),
                 "test.yaml:5: invalid status `6xx` for `expect_status`; expected a status code "
                 "such as 503 or a class such as 5xx\n"},
        BadInput{"MissingHandler", one_route("directive: x\n"),
                 "test.yaml:3: route has no `handler`; expected one of: reverse_proxy, redir, "
                 "respond, headers, request_body, encode, root, file_server, try_files, uri, "
                 "rewrite, subroute, basic_auth, forward_auth, abort, error\n"},
        BadInput{"UnknownHandler", one_route("handler: proxy\n        upstreams: []\n"),
                 "test.yaml:3: unknown handler `proxy`; expected one of: reverse_proxy, redir, "
                 "respond, headers, request_body, encode, root, file_server, try_files, uri, "
                 "rewrite, subroute, basic_auth, forward_auth, abort, error\n"},
        BadInput{"KeyOfAnotherHandler", one_route("handler: redir\n        body: x\n"),
                 "test.yaml:4: unknown key `body` in route; expected one of: directive, matcher, "
                 "match, group, handler, to, status, html\n"},
        BadInput{"DuplicateKey", "global:\n  debug: true\n  debug: false\n",
                 "test.yaml:3: duplicate key `debug` in global\n"},
        BadInput{"NonScalarKey", "global:\n  ? [a]\n  : 1\n",
                 "test.yaml:2: keys in global must be strings\n"},
        BadInput{"SyntaxError", "global:\n  debug: true\n  email: [a\n",
                 "test.yaml:4: invalid YAML: end of sequence flow not found\n"},
        BadInput{"DocumentNotAMap", "- a\n- b\n",
                 "test.yaml:1: a config must be a map with the keys `global` and `sites`\n"},
        BadInput{"TwoDocuments", "sites: []\n---\nsites: []\n",
                 "test.yaml:3: expected one YAML document, found 2\n"}),
    [](const auto& test) { return std::string(test.param.name); });

TEST(ConfigYaml, CollectsEveryErrorAndKeepsTheGoodValues) {
  Diagnostics d;
  Config config = from_yaml(
      "global:\n"
      "  debug: maybe\n"
      "  email: ops@example.com\n"
      "  http_port: 0\n"
      "  bogus: 1\n"
      "sites:\n"
      "  - addresses:\n"
      "      - host: a.example\n"
      "    routes:\n"
      "      - handler: respond\n"
      "        status: abc\n"
      "        body: ok\n",
      "c.yaml", d);
  EXPECT_EQ(d.error_count(), 4u) << d.str();
  EXPECT_THAT(d.str(), HasSubstr("c.yaml:2: `debug`"));
  EXPECT_THAT(d.str(), HasSubstr("c.yaml:4: `http_port`"));
  EXPECT_THAT(d.str(), HasSubstr("c.yaml:5: unknown key `bogus`"));
  EXPECT_THAT(d.str(), HasSubstr("c.yaml:11: `status`"));
  EXPECT_EQ(config.global.email, "ops@example.com");
  ASSERT_EQ(config.sites.size(), 1u);
  EXPECT_EQ(std::get<RespondHandler>(config.sites[0].routes.at(0).handler).body.raw, "ok");
}

TEST(ConfigYaml, ReportsEveryBadItemOfAList) {
  std::string errors =
      read_errors(one_route("handler: reverse_proxy\n"
                            "        passive_health:\n"
                            "          unhealthy_status: [5xx, abc, 6xx, 404]\n"));
  EXPECT_EQ(errors,
            "test.yaml:5: invalid status `abc` for `unhealthy_status`; expected a status code such "
            "as 503 or a class such as 5xx\n"
            "test.yaml:5: invalid status `6xx` for `unhealthy_status`; expected a status code such "
            "as 503 or a class such as 5xx\n");
}

TEST(ConfigYaml, RejectsRoutesNestedTooDeeply) {
  std::string yaml = "sites:\n  - routes:\n";
  std::string indent = "      ";
  for (int i = 0; i < 100; ++i) {
    yaml += indent + "- handler: subroute\n" + indent + "  routes:\n";
    indent += "    ";
  }
  yaml += indent + "- handler: abort\n";
  std::string errors = read_errors(yaml);
  EXPECT_THAT(errors, HasSubstr("maps nest too deeply"));
}

TEST(ConfigYaml, StopsOnAliasesThatExpandExponentially) {
  // Each matcher lists the previous one ten times under `nots`: a billion
  // values once the aliases are expanded, from a file of under a kilobyte.
  std::string yaml =
      "sites:\n  - routes:\n      - handler: abort\n"
      "        match: &m0 {paths: [a, a, a, a, a, a, a, a, a, a]}\n";
  for (int i = 1; i < 9; ++i) {
    yaml += "      - handler: abort\n        match: &m" + std::to_string(i) + " {nots: [";
    for (int j = 0; j < 10; ++j)
      yaml += (j ? ", *m" : "*m") + std::to_string(i - 1);
    yaml += "]}\n";
  }
  Diagnostics d;
  EXPECT_NO_THROW(from_yaml(yaml, "bomb.yaml", d));
  EXPECT_THAT(d.str(), HasSubstr("too many values"));
}

// ------------------------------------------------------------------- fuzz-ish

TEST(ConfigYaml, NeverThrowsOnMalformedInput) {
  const std::vector<std::string> snippets = {
      "{",
      "[",
      "]",
      "}",
      ":",
      "- - - -",
      "global: [",
      "global: {a: }",
      "sites:\n  - routes:\n    - handler",
      "sites:\n- routes:\n  - handler: [abort]",
      "sites:\n- routes:\n  - {handler: subroute, routes: 3}",
      "sites:\n- routes:\n  - {handler: subroute, routes: [3, null, [], {}]}",
      "sites: {a: b}",
      "sites: [null, 1, [], {routes: {}}]",
      "global: {servers: [{timeouts: []}], logs: [[]], admin: [], acme_eab: 1}",
      "global: {cert_issuers: {kind: acme}}",
      "global:\n  workers: 99999999999999999999999",
      "global:\n  http_port: -1",
      "global:\n  grace_period: 99999999999999999999h",
      "sites: [{routes: [{handler: request_body, max_size: 99999999999999999999999}]}]",
      "sites: [{routes: [{handler: request_body, max_size: -5}]}]",
      "sites: [{routes: [{handler: reverse_proxy, upstreams: [{port: 1.5}]}]}]",
      "sites: [{routes: [{handler: respond, body: [x]}]}]",
      "sites: [{routes: [{handler: respond, body: \"{unclosed\"}]}]",
      "sites: [{routes: [{handler: uri, op: nope}]}]",
      "&a [*a]",
      "a: *unknown",
      "!!binary AAAA: x",
      "? ? ? a",
      "%YAML 9.9\n---\nsites: []",
      "\t\tglobal: 1",
      "global:\n\tdebug: true",
      "'unterminated",
      "\"bad escape \\q\"",
      std::string("global:\n  email: \"\0\"", 20),
      "\xff\xfe garbage",
      std::string(5000, '['),
      std::string(5000, '{'),
      std::string(2000, '-') + " x",
  };
  for (const auto& snippet : snippets) {
    Diagnostics d;
    EXPECT_NO_THROW(from_yaml(snippet, "fuzz.yaml", d)) << snippet;
  }
}

TEST(ConfigYaml, ReportsSyntaxErrorsAsOneDiagnostic) {
  Diagnostics d;
  Config c = from_yaml("global:\n  debug: true\n bad indent: x\n", "s.yaml", d);
  ASSERT_EQ(d.items().size(), 1u) << d.str();
  EXPECT_EQ(d.items()[0].file, "s.yaml");
  EXPECT_GT(d.items()[0].line, 0);
  EXPECT_THAT(d.items()[0].message, HasSubstr("invalid YAML: "));
  EXPECT_EQ(c, Config{});
}

}  // namespace
}  // namespace usher::core
