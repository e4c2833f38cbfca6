#include "core/validate.h"

#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace usher::core {
namespace {

// A well-formed bcrypt hash: `$2b$`, cost 12, `$`, 53 characters of salt and hash.
const std::string kBcrypt = "$2b$12$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234";

Origin at(int line) {
  return {"Caddyfile", line};
}

SiteAddress address(std::string host, uint16_t port = 0, std::string scheme = "") {
  std::string original =
      (scheme.empty() ? "" : scheme + "://") + host + (port ? ":" + std::to_string(port) : "");
  return {std::move(scheme), std::move(host), port, "", std::move(original)};
}

Upstream upstream(std::string host, uint16_t port, std::string scheme = "http") {
  std::string original =
      (scheme == "http" ? "" : scheme + "://") + host + ":" + std::to_string(port);
  return {std::move(scheme), std::move(host), port, "", std::move(original)};
}

Route route(Handler handler, int line, std::string directive = "") {
  Route r;
  r.directive = std::move(directive);
  r.handler = std::move(handler);
  r.origin = at(line);
  return r;
}

ReverseProxyHandler proxy_to(std::vector<Upstream> upstreams) {
  ReverseProxyHandler h;
  h.upstreams = std::move(upstreams);
  return h;
}

RedirHandler redir(std::string to, int status = 302) {
  return {Template::parse(to), status, false};
}

RespondHandler respond(std::string body, int status = 200) {
  return {Template::parse(body), status, false};
}

HeaderOp set_header(std::string name, std::string value) {
  HeaderOp op;
  op.name = std::move(name);
  op.value = Template::parse(value);
  return op;
}

// `example.com { reverse_proxy localhost:8080 }`, written over lines 1-3:
// the valid starting point every case changes in one way.
Config base_config() {
  Site site;
  site.addresses = {address("example.com")};
  site.origin = at(1);
  site.routes.push_back(route(proxy_to({upstream("localhost", 8080)}), 2, "reverse_proxy"));
  Config config;
  config.sites.push_back(std::move(site));
  return config;
}

Site& first_site(Config& c) {
  return c.sites.front();
}
ReverseProxyHandler& first_proxy(Config& c) {
  return std::get<ReverseProxyHandler>(c.sites.front().routes.front().handler);
}

void add_route(Config& c, Handler handler, int line, std::string directive) {
  first_site(c).routes.push_back(route(std::move(handler), line, std::move(directive)));
}

Site second_site(SiteAddress a, int line) {
  Site site;
  site.addresses = {std::move(a)};
  site.origin = at(line);
  return site;
}

std::vector<std::string> rendered(const Diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& item : d.items())
    out.push_back(item.str());
  return out;
}

std::vector<std::string> validate_config(const Config& config) {
  Diagnostics d;
  validate(config, d);
  return rendered(d);
}

std::vector<std::string> supported_config(const Config& config) {
  Diagnostics d;
  check_supported(config, d);
  return rendered(d);
}

TEST(Validate, AcceptsTheBaseConfig) {
  EXPECT_TRUE(validate_config(base_config()).empty());
}

TEST(Validate, AcceptsAnEmptyConfig) {
  EXPECT_TRUE(validate_config(Config{}).empty());
}

// One change to the base config, and every diagnostic it must produce.
struct RuleCase {
  std::string label;
  std::function<void(Config&)> change;
  std::vector<std::string> expected;  // empty: the change is valid
};

// Failures name the case instead of dumping its bytes.
void PrintTo(const RuleCase& c, std::ostream* os) {
  *os << c.label;
}

class ValidateRule : public testing::TestWithParam<RuleCase> {};

TEST_P(ValidateRule, ReportsExactlyTheExpectedDiagnostics) {
  auto config = base_config();
  GetParam().change(config);
  EXPECT_EQ(validate_config(config), GetParam().expected);
}

std::string rule_name(const testing::TestParamInfo<RuleCase>& test) {
  return test.param.label;
}

// ---------------------------------------------------------------- placeholders

INSTANTIATE_TEST_SUITE_P(
    Placeholders, ValidateRule,
    testing::Values(
        RuleCase{"UnknownPlaceholderInRedirSuggestsTheNearestName",
                 [](Config& c) { add_route(c, redir("https://{hots}{uri}"), 4, "redir"); },
                 {"Caddyfile:4: unknown placeholder `{hots}` in `redir`; did you mean `{host}`?"}},
        RuleCase{"UnknownLongPlaceholderSuggestsTheLongName",
                 [](Config& c) { add_route(c, respond("{http.request.hots}"), 4, "respond"); },
                 {"Caddyfile:4: unknown placeholder `{http.request.hots}` in `respond`; did you "
                  "mean `{http.request.host}`?"}},
        RuleCase{"MisspeltPrefixKeepsTheArgument",
                 [](Config& c) { add_route(c, respond("{heder.User-Agent}"), 4, "respond"); },
                 {"Caddyfile:4: unknown placeholder `{heder.User-Agent}` in `respond`; did you "
                  "mean `{header.User-Agent}`?"}},
        RuleCase{"BadLabelIndexExplainsTheArgument",
                 [](Config& c) { add_route(c, respond("{labels.x}"), 4, "respond"); },
                 {"Caddyfile:4: unknown placeholder `{labels.x}` in `respond`; a label index is a "
                  "non-negative integer counted from the right, e.g. `{labels.1}`"}},
        RuleCase{"NothingCloseGivesNoSuggestion",
                 [](Config& c) { add_route(c, respond("{zzzzzz}"), 4, "respond"); },
                 {"Caddyfile:4: unknown placeholder `{zzzzzz}` in `respond`"}},
        RuleCase{"JsonLikeBracesSuggestEscaping",
                 [](Config& c) { add_route(c, respond("{\"ok\":true}"), 4, "respond"); },
                 {"Caddyfile:4: unknown placeholder `{\"ok\":true}` in `respond`; write literal "
                  "braces as `\\{` and `\\}`"}},
        RuleCase{"EachUnknownPlaceholderIsReportedOncePerTemplate",
                 [](Config& c) { add_route(c, respond("{hots}{hots}{metod}"), 4, "respond"); },
                 {"Caddyfile:4: unknown placeholder `{hots}` in `respond`; did you mean `{host}`?",
                  "Caddyfile:4: unknown placeholder `{metod}` in `respond`; did you mean "
                  "`{method}`?"}},
        RuleCase{
            "UnknownPlaceholderInProxyHeaderUp",
            [](Config& c) { first_proxy(c).header_up.push_back(set_header("X-Host", "{hst}")); },
            {"Caddyfile:2: unknown placeholder `{hst}` in `header_up` of `reverse_proxy`; did "
             "you mean `{host}`?"}},
        RuleCase{"UnknownPlaceholderInNestedSubroute",
                 [](Config& c) {
                   SubrouteHandler sub;
                   sub.routes.push_back(route(redir("/{pth}"), 6, "redir"));
                   add_route(c, sub, 5, "handle");
                 },
                 {"Caddyfile:6: unknown placeholder `{pth}` in `redir`; did you mean `{path}`?"}},
        RuleCase{"NestedRouteWithoutLineUsesTheParentLine",
                 [](Config& c) {
                   SubrouteHandler sub;
                   sub.routes.push_back(route(redir("/{pth}"), 0, "redir"));
                   add_route(c, sub, 5, "handle");
                 },
                 {"Caddyfile:5: unknown placeholder `{pth}` in `redir`; did you mean `{path}`?"}},
        RuleCase{"UnknownPlaceholderInErrorRoutes",
                 [](Config& c) {
                   first_site(c).error_routes.push_back(
                       route(respond("{err.mesage}"), 9, "respond"));
                 },
                 {"Caddyfile:9: unknown placeholder `{err.mesage}` in `respond`; did you mean "
                  "`{err.message}`?"}},
        RuleCase{
            "UnknownPlaceholderInHeaderDirective",
            [](Config& c) {
              add_route(c, HeadersHandler{false, {set_header("X-Req", "{reomte}")}}, 4, "header");
            },
            {"Caddyfile:4: unknown placeholder `{reomte}` in `header`; did you mean "
             "`{remote}`?"}},
        RuleCase{"RequestHeaderWithoutDirectiveNameIsNamedFromItsHandler",
                 [](Config& c) {
                   add_route(c, HeadersHandler{true, {set_header("X-Req", "{hots}")}}, 4, "");
                 },
                 {"Caddyfile:4: unknown placeholder `{hots}` in `request_header`; did you mean "
                  "`{host}`?"}},
        RuleCase{"UnknownPlaceholderInRewriteTryFilesRootAndError",
                 [](Config& c) {
                   add_route(c, RewriteHandler{Template::parse("/{fle}")}, 4, "rewrite");
                   add_route(c, TryFilesHandler{{Template::parse("{pth}.html")}}, 5, "try_files");
                   add_route(c, RootHandler{Template::parse("/srv/{labels.y}")}, 6, "root");
                   add_route(c, ErrorHandler{Template::parse("{nope}"), 404}, 7, "error");
                 },
                 {"Caddyfile:4: unknown placeholder `{fle}` in `rewrite`; did you mean `{file}`?",
                  "Caddyfile:5: unknown placeholder `{pth}` in `try_files`; did you mean `{path}`?",
                  "Caddyfile:6: unknown placeholder `{labels.y}` in `root`; a label index is a "
                  "non-negative integer counted from the right, e.g. `{labels.1}`",
                  "Caddyfile:7: unknown placeholder `{nope}` in `error`"}},
        RuleCase{"UnknownPlaceholderInForwardAuthUriAndFileServerRoot",
                 [](Config& c) {
                   ForwardAuthHandler auth;
                   auth.upstreams = {upstream("authelia", 9091)};
                   auth.uri = Template::parse("/api/verify?rd={schme}");
                   add_route(c, auth, 4, "forward_auth");
                   FileServerHandler files;
                   files.root = Template::parse("/srv/{hots}");
                   add_route(c, files, 5, "file_server");
                 },
                 {"Caddyfile:4: unknown placeholder `{schme}` in `uri` of `forward_auth`; did you "
                  "mean `{scheme}`?",
                  "Caddyfile:5: unknown placeholder `{hots}` in `root` of `file_server`; did you "
                  "mean `{host}`?"}},
        RuleCase{"ErrorPlaceholderOutsideHandleErrors",
                 [](Config& c) { add_route(c, respond("{err.status_code}"), 4, "respond"); },
                 {"Caddyfile:4: placeholder `{err.status_code}` in `respond` only has a value in "
                  "`handle_errors`; move this route into a `handle_errors` block"}},
        RuleCase{"ErrorPlaceholderInsideHandleErrorsIsFine",
                 [](Config& c) {
                   SubrouteHandler sub;
                   sub.routes.push_back(
                       route(respond("{http.error.status_code} {err.message}"), 10, "respond"));
                   first_site(c).error_routes.push_back(route(sub, 9, "handle"));
                 },
                 {}},
        RuleCase{"UpstreamPlaceholderOutsideReverseProxy",
                 [](Config& c) { add_route(c, respond("{upstream_hostport}"), 4, "respond"); },
                 {"Caddyfile:4: placeholder `{upstream_hostport}` in `respond` only has a value in "
                  "`header_up` or `header_down` of `reverse_proxy`"}},
        RuleCase{"UpstreamPlaceholderInProxyHeadersIsFine",
                 [](Config& c) {
                   first_proxy(c).header_up.push_back(set_header("Host", "{upstream_hostport}"));
                   first_proxy(c).header_down.push_back(
                       set_header("X-Up", "{http.reverse_proxy.upstream.hostport}"));
                 },
                 {}},
        RuleCase{"KnownPlaceholdersAndEscapesAreFine",
                 [](Config& c) {
                   add_route(c, redir("https://{host}{uri}\\{x\\} {env.HOME} {labels.0}"), 4,
                             "redir");
                   add_route(c, respond("{ \"json\": true } {}"), 5, "respond");
                 },
                 {}}),
    rule_name);

// ------------------------------------------------------------ sites and ports

INSTANTIATE_TEST_SUITE_P(
    SitesAndGlobals, ValidateRule,
    testing::Values(
        RuleCase{"SiteWithoutAddress",
                 [](Config& c) { first_site(c).addresses.clear(); },
                 {"Caddyfile:1: site block has no address; start it with a host name, e.g. "
                  "`example.com {`"}},
        RuleCase{"DuplicateAddressAcrossSitesIgnoringHostCase",
                 [](Config& c) { c.sites.push_back(second_site(address("EXAMPLE.com"), 7)); },
                 {"Caddyfile:7: duplicate site address `EXAMPLE.com`, also defined at "
                  "Caddyfile:1; merge the two site blocks or remove one address"}},
        RuleCase{"DuplicateAddressWithDefaultPortSpelledOut",
                 [](Config& c) {
                   c.sites.push_back(second_site(address("example.com", 443, "https"), 7));
                 },
                 {"Caddyfile:7: duplicate site address `https://example.com:443`, also defined at "
                  "Caddyfile:1; merge the two site blocks or remove one address"}},
        RuleCase{"DuplicateAddressUsesTheConfiguredHttpPort",
                 [](Config& c) {
                   c.global.http_port = 8080;
                   c.sites.push_back(second_site(address("a.test", 0, "http"), 7));
                   c.sites.push_back(second_site(address("a.test", 8080), 9));
                 },
                 {"Caddyfile:9: duplicate site address `a.test:8080`, also defined at "
                  "Caddyfile:7; merge the two site blocks or remove one address"}},
        RuleCase{"DuplicateAddressWithinOneSite",
                 [](Config& c) { first_site(c).addresses.push_back(address("Example.COM")); },
                 {"Caddyfile:1: duplicate site address `Example.COM` in the same site; merge the "
                  "two site blocks or remove one address"}},
        RuleCase{
            "HttpAndHttpsOfOneHostAreDifferentSites",
            [](Config& c) { c.sites.push_back(second_site(address("example.com", 0, "http"), 7)); },
            {}},
        RuleCase{"SamePortsForHttpAndHttps",
                 [](Config& c) {
                   c.global.http_port = 8443;
                   c.global.https_port = 8443;
                 },
                 {"Caddyfile: http_port and https_port are both 8443; give HTTP and HTTPS "
                  "different ports"}},
        RuleCase{"ZeroHttpsPort",
                 [](Config& c) { c.global.https_port = 0; },
                 {"Caddyfile: https_port must be between 1 and 65535"}},
        RuleCase{"ZeroHttpPort",
                 [](Config& c) { c.global.http_port = 0; },
                 {"Caddyfile: http_port must be between 1 and 65535"}},
        RuleCase{"ZeroWorkers",
                 [](Config& c) { c.global.workers = 0; },
                 {"Caddyfile: workers must be at least 1; remove `workers` to run one worker per "
                  "core"}},
        RuleCase{"OneWorkerIsFine", [](Config& c) { c.global.workers = 1; }, {}},
        RuleCase{"InvalidAdminAddress",
                 [](Config& c) { c.global.admin.address = "localhost"; },
                 {"Caddyfile: invalid admin address `localhost`; write `host:port`, e.g. "
                  "`localhost:2019`"}},
        RuleCase{"NonLoopbackAdminAddress",
                 [](Config& c) { c.global.admin.address = "0.0.0.0:2019"; },
                 {"Caddyfile: admin address `0.0.0.0:2019` is not a loopback address; the admin "
                  "API has no authentication; use `localhost:PORT`, `127.0.0.1:PORT`, "
                  "`[::1]:PORT` or a Unix socket like `unix//run/usher/admin.sock`"}},
        RuleCase{"LoopbackAdminAddressesAreFine",
                 [](Config& c) { c.global.admin.address = "[::1]:2019"; },
                 {}},
        RuleCase{
            "BarePortAdminAddressIsFine", [](Config& c) { c.global.admin.address = ":2020"; }, {}},
        RuleCase{"UnixAdminAddressIsFine",
                 [](Config& c) { c.global.admin.address = "unix//run/usher/admin.sock"; },
                 {}},
        RuleCase{"NegativeGracePeriod",
                 [](Config& c) { c.global.grace_period = Duration{-1}; },
                 {"Caddyfile: grace_period must not be negative"}},
        RuleCase{"InvalidServerTrustedProxies",
                 [](Config& c) {
                   ServerOptions server;
                   server.trusted_proxies = {"private_ranges", "10.0.0.0/99"};
                   c.global.servers.push_back(server);
                 },
                 {"Caddyfile: invalid IP range `10.0.0.0/99` in `trusted_proxies` of `servers`; "
                  "write an address or a CIDR such as `10.0.0.0/8`, or `private_ranges`"}},
        RuleCase{"UnknownServerProtocol",
                 [](Config& c) {
                   ServerOptions server;
                   server.protocols = {"h1", "h4"};
                   c.global.servers.push_back(server);
                 },
                 {"Caddyfile: unknown server protocol `h4`; expected one of h1, h2, h2c, h3"}},
        RuleCase{"ZeroMaxHeaderSize",
                 [](Config& c) {
                   ServerOptions server;
                   server.max_header_size = 0;
                   c.global.servers.push_back(server);
                 },
                 {"Caddyfile: max_header_size must be positive"}}),
    rule_name);

// -------------------------------------------------------------- reverse_proxy

INSTANTIATE_TEST_SUITE_P(
    ReverseProxy, ValidateRule,
    testing::Values(
        RuleCase{"NoUpstream",
                 [](Config& c) { first_proxy(c).upstreams.clear(); },
                 {"Caddyfile:2: `reverse_proxy` has no upstream; add an address such as "
                  "`localhost:8080`"}},
        RuleCase{"MixedUpstreamSchemes",
                 [](Config& c) {
                   first_proxy(c).upstreams.push_back(upstream("b.internal", 443, "https"));
                 },
                 {"Caddyfile:2: upstreams of `reverse_proxy` mix http and https schemes; every "
                  "upstream of one `reverse_proxy` must use the same scheme"}},
        RuleCase{"UnixSocketAndHttpUpstreamsMix",
                 [](Config& c) {
                   first_proxy(c).upstreams.push_back(
                       Upstream{"unix", "", 0, "/run/app.sock", "unix//run/app.sock"});
                 },
                 {}},
        RuleCase{"HttpsUpstreamWithH2c",
                 [](Config& c) {
                   first_proxy(c).upstreams = {upstream("app.internal", 8443, "https")};
                   first_proxy(c).transport.versions = {"h2c", "2"};
                 },
                 {"Caddyfile:2: `reverse_proxy` cannot use h2c (cleartext HTTP/2) over TLS; use "
                  "`versions 2` for HTTP/2 over TLS, or plain http:// upstreams for h2c"}},
        RuleCase{
            "HttpsSchemeOnPort80",
            [](Config& c) { first_proxy(c).upstreams = {upstream("app.internal", 80, "https")}; },
            {"Caddyfile:2: upstream `https://app.internal:80` has a scheme that conflicts "
             "with its port 80; use http:// with port 80 and https:// with port 443"}},
        RuleCase{"UnknownTransportVersion",
                 [](Config& c) { first_proxy(c).transport.versions = {"3"}; },
                 {"Caddyfile:2: unknown transport version `3`; expected one of 1.1, 2, h2c"}},
        RuleCase{"UnknownLbPolicySuggestsTheNearest",
                 [](Config& c) { first_proxy(c).load_balancing.policy = "round_robbin"; },
                 {"Caddyfile:2: unknown lb_policy `round_robbin`; did you mean `round_robin`?"}},
        RuleCase{"UnknownLbPolicyListsThePolicies",
                 [](Config& c) { first_proxy(c).load_balancing.policy = "fastest"; },
                 {"Caddyfile:2: unknown lb_policy `fastest`; expected random, round_robin, first, "
                  "least_conn, ip_hash, uri_hash, header NAME or cookie [NAME]"}},
        RuleCase{"HeaderPolicyWithoutName",
                 [](Config& c) { first_proxy(c).load_balancing.policy = "header"; },
                 {"Caddyfile:2: lb_policy `header` needs a name; write e.g. `lb_policy header "
                  "X-Session`"}},
        RuleCase{"CookiePolicyWithoutNameUsesCaddysDefault",
                 [](Config& c) { first_proxy(c).load_balancing.policy = "cookie"; },
                 {}},
        RuleCase{"HealthUriWithoutInterval",
                 [](Config& c) {
                   first_proxy(c).active_health.uri = "/healthz";
                   first_proxy(c).active_health.interval = Duration{0};
                 },
                 {"Caddyfile:2: health_interval must be positive when health_uri is set"}},
        RuleCase{"ZeroIntervalWithoutHealthUriIsFine",
                 [](Config& c) { first_proxy(c).active_health.interval = Duration{0}; },
                 {}},
        RuleCase{"MaxFailsBelowOne",
                 [](Config& c) { first_proxy(c).passive_health.max_fails = 0; },
                 {"Caddyfile:2: max_fails must be at least 1"}},
        RuleCase{"NegativeTryInterval",
                 [](Config& c) { first_proxy(c).load_balancing.try_interval = Duration{-5}; },
                 {"Caddyfile:2: lb_try_interval must not be negative"}},
        RuleCase{"InvalidUnhealthyStatus",
                 [](Config& c) {
                   first_proxy(c).passive_health.unhealthy_status = {5, 503, 42};
                 },
                 {"Caddyfile:2: invalid unhealthy_status 42; use a code such as `503` or a class "
                  "such as `5xx`"}},
        RuleCase{"InvalidTrustedProxy",
                 [](Config& c) {
                   first_proxy(c).trusted_proxies = {"private_ranges", "10.0.0"};
                 },
                 {"Caddyfile:2: invalid IP range `10.0.0` in `trusted_proxies`; write an address "
                  "or a CIDR such as `10.0.0.0/8`, or `private_ranges`"}},
        RuleCase{"InvalidHeaderUpName",
                 [](Config& c) { first_proxy(c).header_up.push_back(set_header("X Bad", "1")); },
                 {"Caddyfile:2: invalid header name `X Bad` in `header_up`"}}),
    rule_name);

// ---------------------------------------------------------- other handlers

INSTANTIATE_TEST_SUITE_P(
    Handlers, ValidateRule,
    testing::Values(
        RuleCase{"RedirWithNonRedirectStatus",
                 [](Config& c) { add_route(c, redir("/new", 200), 4, "redir"); },
                 {"Caddyfile:4: `redir` status 200 is not a redirect; use a 3xx code, `permanent` "
                  "or `temporary`"}},
        RuleCase{"RedirWith308And401IsFine",
                 [](Config& c) {
                   add_route(c, redir("/a", 308), 4, "redir");
                   add_route(c, redir("/b", 401), 5, "redir");
                 },
                 {}},
        RuleCase{"HtmlRedirWithZeroStatusIsFine",
                 [](Config& c) {
                   add_route(c, RedirHandler{Template::parse("/x"), 0, true}, 4, "redir");
                 },
                 {}},
        RuleCase{"RespondStatusOutOfRange",
                 [](Config& c) { add_route(c, respond("x", 1000), 4, "respond"); },
                 {"Caddyfile:4: `respond` status 1000 is not 100-999"}},
        RuleCase{"ErrorStatusOutOfRange",
                 [](Config& c) {
                   add_route(c, ErrorHandler{Template::parse("x"), 302}, 4, "error");
                 },
                 {"Caddyfile:4: `error` status 302 is not 400-599; use `respond` for a response "
                  "that is not an error"}},
        RuleCase{"BasicAuthWithoutAccounts",
                 [](Config& c) { add_route(c, BasicAuthHandler{}, 4, "basic_auth"); },
                 {"Caddyfile:4: `basic_auth` has no accounts; add `USER HASH` lines to its block"}},
        RuleCase{"BasicAuthWithOtherAlgorithm",
                 [](Config& c) {
                   BasicAuthHandler auth;
                   auth.algorithm = "scrypt";
                   auth.accounts = {{"bob", kBcrypt}};
                   add_route(c, auth, 4, "basic_auth");
                 },
                 {"Caddyfile:4: `basic_auth` algorithm `scrypt` is not supported; use bcrypt"}},
        RuleCase{"BasicAuthWithPlainPassword",
                 [](Config& c) {
                   BasicAuthHandler auth;
                   auth.accounts = {{"bob", "hunter2"}};
                   add_route(c, auth, 4, "basic_auth");
                 },
                 {"Caddyfile:4: password of `basic_auth` account `bob` is not a bcrypt hash; hash "
                  "it with `htpasswd -nbBC 14 \"\" PASSWORD` and paste the part after `:`"}},
        RuleCase{"BasicAuthWithTruncatedHash",
                 [](Config& c) {
                   BasicAuthHandler auth;
                   auth.accounts = {{"bob", kBcrypt.substr(0, 59)}};
                   add_route(c, auth, 4, "basic_auth");
                 },
                 {"Caddyfile:4: password of `basic_auth` account `bob` is not a bcrypt hash; hash "
                  "it with `htpasswd -nbBC 14 \"\" PASSWORD` and paste the part after `:`"}},
        RuleCase{"BasicAuthAcceptsRawAndBase64Hashes",
                 [](Config& c) {
                   BasicAuthHandler auth;
                   // base64 of kBcrypt, as older Caddyfiles hold it
                   auth.accounts = {{"bob", kBcrypt},
                                    {"eve",
                                     "JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXZBQkNERUZHSElKS0xNTk9QU"
                                     "VJTVFVWV1hZWjAxMjM0"}};
                   add_route(c, auth, 4, "basic_auth");
                 },
                 {}},
        RuleCase{"BasicAuthWithDuplicateUser",
                 [](Config& c) {
                   BasicAuthHandler auth;
                   auth.accounts = {{"bob", kBcrypt}, {"bob", kBcrypt}};
                   add_route(c, auth, 4, "basic_auth");
                 },
                 {"Caddyfile:4: `basic_auth` account `bob` is listed twice"}},
        RuleCase{"ForwardAuthWithoutUri",
                 [](Config& c) {
                   ForwardAuthHandler auth;
                   auth.upstreams = {upstream("authelia", 9091)};
                   add_route(c, auth, 4, "forward_auth");
                 },
                 {"Caddyfile:4: `forward_auth` needs a `uri`; e.g. `uri "
                  "/api/verify?rd=https://auth.example.com`"}},
        RuleCase{"InvalidRemoteIpInNestedNotMatcher",
                 [](Config& c) {
                   MatcherSet inner;
                   inner.remote_ip = {"192.168.0.0/16", "bogus"};
                   MatcherSet outer;
                   outer.client_ip = {"private_ranges"};
                   outer.nots = {inner};
                   auto r = route(respond("no"), 4, "respond");
                   r.match = outer;
                   first_site(c).routes.push_back(r);
                 },
                 {"Caddyfile:4: invalid IP range `bogus` in `remote_ip`; write an address or a "
                  "CIDR such as `10.0.0.0/8`, or `private_ranges`"}},
        RuleCase{"UnknownEncoding",
                 [](Config& c) {
                   add_route(c, EncodeHandler{{"gzip", "brotli"}, 0}, 4, "encode");
                 },
                 {"Caddyfile:4: unknown encoding `brotli`; use gzip or zstd"}}),
    rule_name);

// ------------------------------------------------------------ TLS and logs

SiteTls tls_files(std::string cert, std::string key) {
  SiteTls tls;
  tls.mode = SiteTls::Mode::kFiles;
  tls.cert_file = std::move(cert);
  tls.key_file = std::move(key);
  return tls;
}

IssuerConfig acme_issuer(std::string directory) {
  IssuerConfig issuer;
  issuer.directory = std::move(directory);
  return issuer;
}

INSTANTIATE_TEST_SUITE_P(
    TlsAndLogs, ValidateRule,
    testing::Values(
        RuleCase{"TlsFilesWithoutKey",
                 [](Config& c) { first_site(c).tls = tls_files("c.pem", ""); },
                 {"Caddyfile:1: `tls` needs both a certificate file and a key file; write `tls "
                  "cert.pem key.pem`"}},
        RuleCase{"AcmeDirectoryOverPlainHttp",
                 [](Config& c) {
                   first_site(c).tls = SiteTls{};
                   first_site(c).tls->issuers = {acme_issuer("http://ca.example.net/dir")};
                 },
                 {"Caddyfile:1: ACME directory `http://ca.example.net/dir` is not an https:// "
                  "URL; ACME servers are reached over HTTPS, e.g. "
                  "`https://acme-v02.api.letsencrypt.org/directory`"}},
        RuleCase{"AcmeDirectoryOverHttpOnLoopbackIsFine",
                 [](Config& c) {
                   c.global.acme_ca = "http://127.0.0.1:14000/dir";
                   c.global.cert_issuers = {acme_issuer("http://localhost:14000/dir"),
                                            acme_issuer("http://[::1]:14000/dir")};
                 },
                 {}},
        RuleCase{"GlobalAcmeCaWithoutScheme",
                 [](Config& c) { c.global.acme_ca = "acme.example.net/directory"; },
                 {"Caddyfile: acme_ca `acme.example.net/directory` is not an https:// URL; ACME "
                  "servers are reached over HTTPS, e.g. "
                  "`https://acme-v02.api.letsencrypt.org/directory`"}},
        RuleCase{"InvalidEmail",
                 [](Config& c) { c.global.email = "admin@localhost"; },
                 {"Caddyfile: invalid email `admin@localhost`; write it as `name@example.com`"}},
        RuleCase{"InvalidSiteTlsEmail",
                 [](Config& c) {
                   first_site(c).tls = SiteTls{};
                   first_site(c).tls->email = "me.example.com";
                 },
                 {"Caddyfile:1: invalid email `me.example.com`; write it as `name@example.com`"}},
        RuleCase{"EveryChallengeDisabled",
                 [](Config& c) {
                   auto issuer = acme_issuer("");
                   issuer.disabled_challenges = {"http", "tls-alpn"};
                   c.global.cert_issuers = {issuer};
                 },
                 {"Caddyfile: every ACME challenge is disabled, so no certificate can be "
                  "obtained; keep the http or the tls-alpn challenge enabled"}},
        RuleCase{"HttpSiteWithTls",
                 [](Config& c) {
                   first_site(c).addresses = {address("example.com", 0, "http")};
                   first_site(c).tls = SiteTls{};
                 },
                 {"Caddyfile:1: site `http://example.com` is served over plain HTTP but has `tls` "
                  "settings; remove `tls` or the http:// scheme"}},
        RuleCase{"UnknownTlsVersion",
                 [](Config& c) {
                   first_site(c).tls = SiteTls{};
                   first_site(c).tls->protocol_min = "tls1.1";
                 },
                 {"Caddyfile:1: unknown TLS version `tls1.1`; use tls1.2 or tls1.3"}},
        RuleCase{"LogFileWithoutPath",
                 [](Config& c) {
                   LogConfig log;
                   log.output.kind = LogOutput::Kind::kFile;
                   first_site(c).log = log;
                 },
                 {"Caddyfile:1: log output `file` has no path; write `output file "
                  "/var/log/usher/access.log`"}},
        RuleCase{"UnknownGlobalLogLevel",
                 [](Config& c) {
                   LogConfig log;
                   log.level = "verbose";
                   c.global.logs.push_back(log);
                 },
                 {"Caddyfile: unknown log level `verbose`; use DEBUG, INFO, WARN or ERROR"}},
        RuleCase{"LowercaseLogLevelIsFine",
                 [](Config& c) {
                   LogConfig log;
                   log.level = "debug";
                   c.global.logs.push_back(log);
                 },
                 {}}),
    rule_name);

TEST(Validate, ReportsEveryErrorNotJustTheFirst) {
  auto config = base_config();
  config.global.workers = 0;
  first_proxy(config).upstreams.clear();
  add_route(config, redir("https://{hots}/"), 4, "redir");
  config.sites.push_back(second_site(address("example.com"), 7));
  auto found = validate_config(config);
  ASSERT_EQ(found.size(), 4u) << testing::PrintToString(found);
  EXPECT_EQ(found[0],
            "Caddyfile: workers must be at least 1; remove `workers` to run one worker "
            "per core");
  EXPECT_EQ(found[1],
            "Caddyfile:7: duplicate site address `example.com`, also defined at "
            "Caddyfile:1; merge the two site blocks or remove one address");
  EXPECT_EQ(found[2],
            "Caddyfile:2: `reverse_proxy` has no upstream; add an address such as "
            "`localhost:8080`");
  EXPECT_EQ(found[3],
            "Caddyfile:4: unknown placeholder `{hots}` in `redir`; did you mean `{host}`?");
}

TEST(Validate, ReadsPlaceholdersFromTheRawText) {
  // A front end that fills only `raw` must not hide an unknown placeholder.
  auto config = base_config();
  RedirHandler h;
  h.to.raw = "/{hots}";
  add_route(config, h, 4, "redir");
  EXPECT_EQ(validate_config(config),
            (std::vector<std::string>{
                "Caddyfile:4: unknown placeholder `{hots}` in `redir`; did you mean `{host}`?"}));
}

// ------------------------------------------------------------ check_supported

TEST(CheckSupported, AcceptsTheBaseConfig) {
  EXPECT_TRUE(supported_config(base_config()).empty());
}

class CheckSupportedRow : public testing::TestWithParam<RuleCase> {};

TEST_P(CheckSupportedRow, RefusesTheFeature) {
  auto config = base_config();
  GetParam().change(config);
  EXPECT_EQ(supported_config(config), GetParam().expected);
}

std::string not_yet(std::string where, std::string feature) {
  return where + ": `" + feature +
         "` is not supported yet; remove it or use a build that supports it";
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CheckSupportedRow,
    testing::Values(
        RuleCase{"Encode",
                 [](Config& c) {
                   add_route(c, EncodeHandler{{"gzip"}, 0}, 7, "encode");
                 },
                 {not_yet("Caddyfile:7", "encode")}},
        RuleCase{"FileServer",
                 [](Config& c) { add_route(c, FileServerHandler{}, 4, "file_server"); },
                 {not_yet("Caddyfile:4", "file_server")}},
        RuleCase{"TryFiles",
                 [](Config& c) {
                   add_route(c, TryFilesHandler{{Template::parse("{path}")}}, 4, "try_files");
                 },
                 {not_yet("Caddyfile:4", "try_files")}},
        RuleCase{"Root",
                 [](Config& c) { add_route(c, RootHandler{Template::parse("/srv")}, 4, "root"); },
                 {not_yet("Caddyfile:4", "root")}},
        RuleCase{"BasicAuthInsideHandle",
                 [](Config& c) {
                   SubrouteHandler sub;
                   sub.routes.push_back(route(BasicAuthHandler{}, 5, "basic_auth"));
                   add_route(c, sub, 4, "handle");
                 },
                 {not_yet("Caddyfile:5", "basic_auth")}},
        RuleCase{"ForwardAuth",
                 [](Config& c) { add_route(c, ForwardAuthHandler{}, 4, "forward_auth"); },
                 {not_yet("Caddyfile:4", "forward_auth")}},
        RuleCase{"TlsDns",
                 [](Config& c) {
                   first_site(c).tls = SiteTls{};
                   first_site(c).tls->dns_provider = "cloudflare";
                 },
                 {not_yet("Caddyfile:1", "tls dns")}},
        RuleCase{"TlsOnDemand",
                 [](Config& c) {
                   first_site(c).tls = SiteTls{};
                   first_site(c).tls->on_demand = true;
                 },
                 {not_yet("Caddyfile:1", "tls on_demand")}},
        RuleCase{"ProtocolsH3",
                 [](Config& c) {
                   ServerOptions server;
                   server.protocols = {"h1", "h2", "h3"};
                   c.global.servers.push_back(server);
                 },
                 {not_yet("Caddyfile", "protocols h3")}},
        RuleCase{"Http3ProtocolMatcher",
                 [](Config& c) {
                   MatcherSet match;
                   match.protocol = "http/3";
                   first_site(c).routes.front().match = match;
                 },
                 {not_yet("Caddyfile:2", "protocol http/3")}},
        RuleCase{"Http3ProtocolMatcherInsideNot",
                 [](Config& c) {
                   MatcherSet inner;
                   inner.protocol = "http/3";
                   MatcherSet match;
                   match.nots = {inner};
                   first_site(c).routes.front().match = match;
                 },
                 {not_yet("Caddyfile:2", "protocol http/3")}},
        RuleCase{"LbPolicyRandomChoose",
                 [](Config& c) { first_proxy(c).load_balancing.policy = "random_choose"; },
                 {not_yet("Caddyfile:2", "lb_policy random_choose")}},
        RuleCase{"HandleErrorsAreCheckedToo",
                 [](Config& c) {
                   first_site(c).error_routes.push_back(
                       route(FileServerHandler{}, 9, "file_server"));
                 },
                 {not_yet("Caddyfile:9", "file_server")}}),
    rule_name);

TEST(CheckSupported, ServableFeaturesPass) {
  auto config = base_config();
  add_route(config, redir("/x"), 4, "redir");
  add_route(config, HeadersHandler{false, {set_header("X-A", "1")}}, 5, "header");
  add_route(config, RequestBodyHandler{1024}, 6, "request_body");
  first_proxy(config).load_balancing.policy = "least_conn";
  ServerOptions server;
  server.protocols = {"h1", "h2"};
  config.global.servers.push_back(server);
  EXPECT_TRUE(supported_config(config).empty());
}

}  // namespace
}  // namespace usher::core
