#include "proxy/router.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <unistd.h>

#include "core/config_loader.h"
#include "core/diagnostic.h"
#include "proxy/handlers.h"
#include "proxy/metrics.h"
#include "tests/proxy/fake_exchange.h"
#include "tests/test_files.h"

namespace usher::proxy {
namespace {

using ::usher::test_support::read_file;

using testing::FakeExchange;
using testing::run_awaitable;
using testing::test_worker;

core::SiteAddress address(std::string host, std::string scheme = {}, uint16_t port = 0,
                          std::string path = {}) {
  core::SiteAddress a;
  a.host = std::move(host);
  a.scheme = std::move(scheme);
  a.port = port;
  a.path = std::move(path);
  a.original = a.host;
  return a;
}

core::Route respond_route(std::string body, int status = 200) {
  core::Route r;
  r.directive = "respond";
  r.handler = core::RespondHandler{core::Template::parse(body), status, false};
  return r;
}

core::Route error_route(int status, std::string message = {}) {
  core::Route r;
  r.directive = "error";
  r.handler = core::ErrorHandler{core::Template::parse(message), status};
  return r;
}

core::Route header_route(std::string name, std::string value) {
  core::HeaderOp op;
  op.name = std::move(name);
  op.value = core::Template::parse(value);
  core::Route r;
  r.directive = "header";
  r.handler = core::HeadersHandler{false, {op}};
  return r;
}

core::Site site(std::vector<core::SiteAddress> addresses, std::vector<core::Route> routes) {
  core::Site s;
  s.addresses = std::move(addresses);
  s.routes = std::move(routes);
  return s;
}

class FakeChallenges : public core::ChallengeResponder {
 public:
  std::map<std::pair<std::string, std::string>, std::string> keys;
  std::optional<std::string> http01_key_authorization(std::string_view host,
                                                      std::string_view token) const override {
    auto it = keys.find({std::string(host), std::string(token)});
    if (it == keys.end()) return std::nullopt;
    return it->second;
  }
  std::shared_ptr<const core::TlsCertificate> tls_alpn01_certificate(
      std::string_view) const override {
    return nullptr;
  }
};

void serve(const RouteTable& table, FakeExchange& ex) {
  run_awaitable(table.serve(ex, test_worker()));
}

// ------------------------------------------------------------ hosts

struct HostCase {
  const char* host;
  const char* body;
};

class HostRouting : public ::testing::TestWithParam<HostCase> {};

TEST_P(HostRouting, PrefersExactThenWildcardThenCatchAll) {
  core::Config config;
  config.sites = {site({address("*.example.com")}, {respond_route("wildcard")}),
                  site({address("a.example.com")}, {respond_route("exact")}),
                  site({address("", "https")}, {respond_route("catch-all")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.target("/", GetParam().host).over_tls();
  serve(*table, ex);
  ASSERT_TRUE(ex.sink.head);
  EXPECT_EQ(ex.sink.body, GetParam().body) << GetParam().host;
}

INSTANTIATE_TEST_SUITE_P(Cases, HostRouting,
                         ::testing::Values(HostCase{"a.example.com", "exact"},
                                           HostCase{"b.example.com", "wildcard"},
                                           HostCase{"x.y.example.com", "catch-all"},
                                           HostCase{"example.org", "catch-all"}));

TEST(RouteTable, AnswersAnUnknownHostWith404AndAnExplanation) {
  core::Config config;
  config.sites = {site({address("example.com")}, {respond_route("x")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.target("/", "nowhere.example").over_tls();
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 404);
  EXPECT_EQ(ex.sink.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(ex.sink.body, "usher: no site is configured for host nowhere.example\n");
}

TEST(RouteTable, AnswersOnlyThePortASiteIsServedOn) {
  core::Config config;
  config.sites = {site({address("example.com", "", 8443)}, {respond_route("x")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.over_tls(443);
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 404);
}

TEST(RouteTable, TriesSitesSharingAHostLongestAddressPathFirst) {
  core::Route api_wrapper;
  api_wrapper.directive = "handle";
  api_wrapper.match = core::MatcherSet{};
  api_wrapper.match->paths = {"/api/*"};
  api_wrapper.handler = core::SubrouteHandler{{respond_route("api")}};
  core::Config config;
  config.sites = {site({address("example.com")}, {respond_route("root")}),
                  site({address("example.com", "", 0, "/api/*")}, {api_wrapper})};
  const auto table = RouteTable::build(config, {});
  FakeExchange api;
  api.target("/api/x").over_tls();
  serve(*table, api);
  EXPECT_EQ(api.sink.body, "api");
  FakeExchange other;
  other.target("/other").over_tls();
  serve(*table, other);
  EXPECT_EQ(other.sink.body, "root");
}

// ------------------------------------------------------------ plain HTTP

TEST(RouteTable, RedirectsPlainHttpToHttpsWith308) {
  core::Config config;
  config.sites = {site({address("example.com")}, {respond_route("x")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.target("/a/b?c=1");
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 308);
  EXPECT_EQ(ex.sink.header("Location"), "https://example.com/a/b?c=1");
}

TEST(RouteTable, KeepsANonStandardHttpsPortInTheRedirect) {
  core::Config config;
  config.global.https_port = 8443;
  config.sites = {site({address("example.com")}, {respond_route("x")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  serve(*table, ex);
  EXPECT_EQ(ex.sink.header("Location"), "https://example.com:8443/");
}

TEST(RouteTable, DoesNotRedirectWhenRedirectsAreDisabled) {
  core::Config config;
  config.global.auto_https = core::GlobalOptions::AutoHttps::kDisableRedirects;
  config.sites = {site({address("example.com")}, {respond_route("x")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 404);
}

TEST(RouteTable, ServesHttpSitesOverPlainHttp) {
  core::Config config;
  config.sites = {site({address("example.com", "http")}, {respond_route("plain")}),
                  site({address("example.com")}, {respond_route("secure")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 200);
  EXPECT_EQ(ex.sink.body, "plain");
}

TEST(RouteTable, RedirectsBeforeACatchAllHttpSite) {
  core::Config config;
  config.sites = {site({address("", "http")}, {respond_route("catch-all")}),
                  site({address("example.com")}, {respond_route("secure")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange named;
  serve(*table, named);
  EXPECT_EQ(named.sink.head->status, 308);
  FakeExchange other;
  other.target("/", "other.example");
  serve(*table, other);
  EXPECT_EQ(other.sink.body, "catch-all");
}

TEST(RouteTable, AnswersHttp01ChallengesBeforeRouting) {
  FakeChallenges challenges;
  challenges.keys[{"example.com", "tok"}] = "tok.thumbprint";
  core::Config config;
  config.sites = {site({address("example.com")}, {respond_route("x")})};
  const auto table = RouteTable::build(config, {&challenges});
  FakeExchange ex;
  ex.target("/.well-known/acme-challenge/tok");
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 200);
  EXPECT_EQ(ex.sink.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(ex.sink.body, "tok.thumbprint");
}

TEST(RouteTable, AnswersAnUnknownChallengeTokenWith404InsteadOfRedirecting) {
  FakeChallenges challenges;
  core::Config config;
  config.sites = {site({address("example.com")}, {respond_route("x")})};
  const auto table = RouteTable::build(config, {&challenges});
  FakeExchange ex;
  ex.target("/.well-known/acme-challenge/other");
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 404);
}

TEST(RouteTable, LeavesChallengePathsOverTlsToTheSite) {
  FakeChallenges challenges;
  challenges.keys[{"example.com", "tok"}] = "tok.thumbprint";
  core::Config config;
  config.sites = {site({address("example.com")}, {respond_route("site")})};
  const auto table = RouteTable::build(config, {&challenges});
  FakeExchange ex;
  ex.target("/.well-known/acme-challenge/tok").over_tls();
  serve(*table, ex);
  EXPECT_EQ(ex.sink.body, "site");
}

// ------------------------------------------------------------ running a site

TEST(RouteTable, AnswersAnEmpty200WhenNoHandlerFinishes) {
  core::Config config;
  config.sites = {site({address("example.com")}, {header_route("X-Seen", "yes")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.over_tls();
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 200);
  EXPECT_EQ(ex.sink.body, "");
  EXPECT_EQ(ex.sink.header("X-Seen"), "yes");
  EXPECT_TRUE(ex.sink.finished);
}

TEST(RouteTable, AppliesResponseHeadersToWhateverWritesTheHead) {
  core::Config config;
  config.sites = {
      site({address("example.com")}, {header_route("X-Served-By", "{host}"), respond_route("hi")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.over_tls();
  serve(*table, ex);
  EXPECT_EQ(ex.sink.header("X-Served-By"), "example.com");
  EXPECT_EQ(ex.sink.body, "hi");
}

TEST(RouteTable, WritesAPlainErrorPageWithoutHandleErrors) {
  core::Config config;
  config.sites = {site({address("example.com")}, {error_route(403, "nope")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.over_tls();
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 403);
  EXPECT_EQ(ex.sink.body, "403 Forbidden\n");
}

TEST(RouteTable, RunsHandleErrorsWithTheErrorPlaceholders) {
  core::Config config;
  core::Site s = site({address("example.com")}, {error_route(404, "no {path}")});
  s.error_routes = {respond_route("{err.status_code} {err.status_text}: {err.message}")};
  config.sites = {s};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.target("/x").over_tls();
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 404);  // respond keeps the error's status
  EXPECT_EQ(ex.sink.body, "404 Not Found: no /x");
}

TEST(RouteTable, AnswersTooLargeBodiesWith413) {
  core::Route limit;
  limit.directive = "request_body";
  limit.handler = core::RequestBodyHandler{4};
  core::Config config;
  config.sites = {site({address("example.com")}, {limit, respond_route("ok")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.over_tls();
  ex.head.method = "POST";
  ex.head.content_length = 5;
  ex.head.has_body = true;
  serve(*table, ex);
  EXPECT_EQ(ex.sink.head->status, 413);
  EXPECT_TRUE(ex.closed_after);
}

TEST(RouteTable, AbortLeavesNoResponse) {
  core::Route abort;
  abort.directive = "abort";
  abort.handler = core::AbortHandler{};
  core::Config config;
  config.sites = {site({address("example.com")}, {abort})};
  const auto table = RouteTable::build(config, {});
  FakeExchange ex;
  ex.over_tls();
  serve(*table, ex);
  EXPECT_TRUE(ex.sink.aborted);
  EXPECT_FALSE(ex.sink.head);
}

TEST(RouteTable, TakesTheClientAddressFromTrustedProxiesOnly) {
  core::Config config;
  core::ServerOptions server;
  server.trusted_proxies = {"192.0.2.0/24"};
  config.global.servers = {server};
  config.sites = {site({address("example.com")}, {respond_route("{client_ip}")})};
  const auto table = RouteTable::build(config, {});
  FakeExchange trusted;
  trusted.over_tls();
  trusted.head.headers.add("X-Forwarded-For", "203.0.113.5, 10.0.0.1");
  serve(*table, trusted);
  EXPECT_EQ(trusted.sink.body, "203.0.113.5");
  FakeExchange untrusted;
  untrusted.over_tls();
  untrusted.conn.remote_address = asio::ip::make_address("198.51.100.1");
  untrusted.head.headers.add("X-Forwarded-For", "203.0.113.5");
  serve(*table, untrusted);
  EXPECT_EQ(untrusted.sink.body, "198.51.100.1");
}

TEST(RouteTable, RefusesAConfigWithAnUnsupportedHandler) {
  core::Route r;
  r.directive = "file_server";
  r.handler = core::FileServerHandler{};
  core::Config config;
  config.sites = {site({address("example.com")}, {r})};
  EXPECT_THROW(RouteTable::build(config, {}), core::ConfigError);
}

// ------------------------------------------------------------ access log

TEST(RouteTable, WritesOneJsonAccessLogLinePerExchangeWithoutSecrets) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("usher-router-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto log_path = dir / "access.log";
  core::Site s = site({address("example.com")}, {respond_route("hello")});
  core::LogConfig log;
  log.output.kind = core::LogOutput::Kind::kFile;
  log.output.path = log_path.string();
  s.log = log;
  core::Config config;
  config.sites = {s};
  {
    const auto table = RouteTable::build(config, {});
    FakeExchange ex;
    ex.target("/path?q=1").over_tls();
    ex.head.headers.add("Cookie", "session=cookie-secret");
    ex.head.headers.add("Authorization", "Bearer auth-secret");
    serve(*table, ex);
    serve(*table, ex);
  }
  const std::string text = read_file(log_path);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  const std::string line = text.substr(0, text.find('\n'));
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
  for (const char* field :
       {"\"remote_ip\":\"192.0.2.10\"", "\"remote_port\":40000", "\"proto\":\"HTTP/1.1\"",
        "\"method\":\"GET\"", "\"host\":\"example.com\"", "\"uri\":\"/path?q=1\"", "\"status\":200",
        "\"size\":5", "\"bytes_read\":0", "\"duration\":", "\"upstream\":\"\"",
        "\"tls\":\"TLSv1.3\"", "\"ts\":"})
    EXPECT_NE(line.find(field), std::string::npos) << field << " in " << line;
  EXPECT_EQ(text.find("secret"), std::string::npos);
}

}  // namespace
}  // namespace usher::proxy

namespace usher::proxy {
namespace {

TEST(RouteTable, ListsEveryReverseProxysUpstreamsBySiteNestedOnesIncluded) {
  auto loaded = core::load_config_text(R"(a.example.com {
	handle /api/* {
		reverse_proxy 127.0.0.1:9001 127.0.0.1:9002
	}
	reverse_proxy unix//run/app.sock {
		fail_duration 30s
	}
}
b.example.com {
	respond "no upstreams here"
}
)",
                                       "Caddyfile", core::ConfigFormat::kCaddyfile);
  ASSERT_FALSE(loaded.diagnostics.has_errors()) << loaded.diagnostics.items().front().str();
  const auto table = RouteTable::build(loaded.config, {});
  const auto groups = table->upstreams();
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].site, "a.example.com");
  ASSERT_EQ(groups[0].upstreams.size(), 2u);
  EXPECT_EQ(groups[0].upstreams[0].name, "127.0.0.1:9001");
  EXPECT_EQ(groups[0].upstreams[1].name, "127.0.0.1:9002");
  EXPECT_TRUE(groups[0].upstreams[0].healthy());
  EXPECT_FALSE(groups[0].active_checks);
  EXPECT_FALSE(groups[0].passive_checks);
  EXPECT_EQ(groups[1].site, "a.example.com");
  ASSERT_EQ(groups[1].upstreams.size(), 1u);
  EXPECT_EQ(groups[1].upstreams[0].name, "unix//run/app.sock");
  EXPECT_TRUE(groups[1].passive_checks);
  EXPECT_EQ(groups[1].upstreams[0].in_flight, 0);
}

}  // namespace
}  // namespace usher::proxy

// ------------------------------------------------------------ metrics

namespace usher::proxy {
namespace {

TEST(RouteTable, SiteCountersSurviveARebuildForSitesThatStay) {
  MetricsRegistry registry;
  RouterOptions options;
  options.metrics = &registry;
  core::Config config;
  config.sites = {site({address("kept.example")}, {respond_route("hello", 201)}),
                  site({address("gone.example")}, {respond_route("x", 404)})};
  auto old_table = RouteTable::build(config, options);
  for (int i = 0; i < 3; ++i) {
    FakeExchange ex;
    ex.target("/", "kept.example").over_tls();
    serve(*old_table, ex);
  }
  FakeExchange gone;
  gone.target("/", "gone.example").over_tls();
  serve(*old_table, gone);
  // A reload: the new table is built while the old one still serves.
  config.sites.pop_back();
  auto new_table = RouteTable::build(config, options);
  old_table.reset();
  FakeExchange ex;
  ex.target("/", "kept.example").over_tls();
  serve(*new_table, ex);
  MetricsWriter w;
  registry.write(w);
  const std::string text = w.text();
  EXPECT_NE(text.find("usher_http_requests_total{site=\"kept.example\",code_class=\"2xx\"} 4\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("usher_http_response_bytes_total{site=\"kept.example\"} 20\n"),
            std::string::npos);
  EXPECT_EQ(text.find("gone.example"), std::string::npos);
}

TEST(RouteTable, CountsRequestsNoSiteServesUnderAnEmptySite) {
  MetricsRegistry registry;
  RouterOptions options;
  options.metrics = &registry;
  core::Config config;
  config.sites = {site({address("a.example")}, {respond_route("a")})};
  auto table = RouteTable::build(config, options);
  FakeExchange ex;
  ex.target("/", "unknown.example").over_tls();
  serve(*table, ex);
  MetricsWriter w;
  registry.write(w);
  EXPECT_NE(w.text().find("usher_http_requests_total{site=\"\",code_class=\"4xx\"} 1\n"),
            std::string::npos)
      << w.text();
  EXPECT_NE(w.text().find("usher_http_requests_total{site=\"a.example\",code_class=\"4xx\"} 0\n"),
            std::string::npos);
}

}  // namespace
}  // namespace usher::proxy
