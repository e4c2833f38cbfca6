#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/core/caddyfile/adapt_helpers.h"

namespace usher::core::caddyfile {
namespace {

using test::first_error;
using test::handler_as;
using test::only_route;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string site_error(std::string_view body) {
  return first_error("a.com {\n" + std::string(body) + "\n}\n");
}

ReverseProxyHandler proxy(std::string_view body) {
  return handler_as<ReverseProxyHandler>(only_route(body));
}

struct UpstreamCase {
  std::string written;
  Upstream expected;
};

class ReverseProxyUpstreams : public ::testing::TestWithParam<UpstreamCase> {};

TEST_P(ReverseProxyUpstreams, ParsesTheAddress) {
  const auto h = proxy("reverse_proxy " + GetParam().written);
  ASSERT_EQ(h.upstreams.size(), 1u);
  EXPECT_EQ(h.upstreams[0], GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReverseProxyUpstreams,
    ::testing::Values(
        UpstreamCase{"localhost:8080", {"http", "localhost", 8080, "", "localhost:8080"}},
        UpstreamCase{"app", {"http", "app", 80, "", "app"}},
        UpstreamCase{":3000", {"http", "localhost", 3000, "", ":3000"}},
        UpstreamCase{"http://10.0.0.2:81", {"http", "10.0.0.2", 81, "", "http://10.0.0.2:81"}},
        UpstreamCase{"https://api.internal",
                     {"https", "api.internal", 443, "", "https://api.internal"}},
        UpstreamCase{"h2c://grpc:50051", {"h2c", "grpc", 50051, "", "h2c://grpc:50051"}},
        UpstreamCase{"[::1]:9000", {"http", "::1", 9000, "", "[::1]:9000"}},
        UpstreamCase{"unix//run/app.sock",
                     {"unix", "", 0, "/run/app.sock", "unix//run/app.sock"}}));

TEST(ReverseProxy, TakesAMatcherThenSeveralUpstreamsAndTo) {
  const Route r = only_route("reverse_proxy /api/* a:1 b:2 {\n to c:3\n}");
  EXPECT_THAT(r.match->paths, ElementsAre("/api/*"));
  const auto h = handler_as<ReverseProxyHandler>(r);
  ASSERT_EQ(h.upstreams.size(), 3u);
  EXPECT_EQ(h.upstreams[2].host, "c");
}

TEST(ReverseProxy, HttpsUpstreamsImplyTls) {
  EXPECT_TRUE(proxy("reverse_proxy https://a").transport.tls);
  EXPECT_FALSE(proxy("reverse_proxy http://a").transport.tls);
}

TEST(ReverseProxy, H2cUpstreamsImplyItsVersions) {
  EXPECT_THAT(proxy("reverse_proxy h2c://a:1").transport.versions, ElementsAre("h2c", "2"));
}

TEST(ReverseProxy, AddressesWithoutSchemeFollowTheOthers) {
  const auto h = proxy("reverse_proxy a:8443 https://b");
  EXPECT_EQ(h.upstreams[0].scheme, "https");
  EXPECT_TRUE(h.transport.tls);
}

TEST(ReverseProxy, RejectsMixedSchemes) {
  EXPECT_EQ(site_error("reverse_proxy http://a https://b"),
            "Caddyfile:2: upstream `https://b` uses `https://` but `http://a` uses `http://`; all "
            "upstreams of "
            "one directive must use the same scheme");
}

TEST(ReverseProxy, RejectsPlainHttpWithATlsTransport) {
  EXPECT_THAT(site_error("reverse_proxy http://a {\n transport http {\n  tls\n }\n}"),
              HasSubstr("uses `http://` but the transport is configured for TLS"));
}

TEST(ReverseProxy, RejectsBadUpstreams) {
  EXPECT_EQ(site_error("reverse_proxy ftp://a"),
            "Caddyfile:2: unsupported scheme `ftp://` in upstream `ftp://a`; use `http://`, "
            "`https://` or `h2c://`");
  EXPECT_THAT(site_error("reverse_proxy a:70000"),
              HasSubstr("invalid port `70000` in upstream `a:70000`"));
  EXPECT_THAT(site_error("reverse_proxy http://a/api"),
              HasSubstr("upstream `http://a/api` has a path"));
  EXPECT_THAT(site_error("reverse_proxy https://a:80"),
              HasSubstr("uses port 80 with the `https://` scheme"));
}

TEST(ReverseProxy, RequiresAnUpstream) {
  EXPECT_EQ(
      site_error("reverse_proxy"),
      "Caddyfile:2: `reverse_proxy` expects at least one upstream address like `localhost:8080`");
}

TEST(ReverseProxy, ReadsLoadBalancing) {
  const auto h = proxy(
      "reverse_proxy a:1 b:1 {\n"
      " lb_policy cookie lb s3cret\n"
      " lb_retries 2\n"
      " lb_try_duration 5s\n"
      " lb_try_interval 100ms\n"
      "}");
  EXPECT_EQ(h.load_balancing.policy, "cookie");
  EXPECT_EQ(h.load_balancing.policy_arg, "lb");
  EXPECT_EQ(h.load_balancing.policy_secret, "s3cret");
  EXPECT_EQ(h.load_balancing.retries, 2);
  EXPECT_EQ(h.load_balancing.try_duration, Duration{5000});
  EXPECT_EQ(h.load_balancing.try_interval, Duration{100});
}

TEST(ReverseProxy, ChecksLoadBalancingPolicies) {
  EXPECT_EQ(site_error("reverse_proxy a:1 {\n lb_policy round_robbin\n}"),
            "Caddyfile:3: unknown load balancing policy `round_robbin` in `lb_policy`; did you "
            "mean `round_robin`?");
  EXPECT_EQ(site_error("reverse_proxy a:1 {\n lb_policy header\n}"),
            "Caddyfile:3: `header` expects a header name");
  EXPECT_EQ(site_error("reverse_proxy a:1 {\n lb_policy first extra\n}"),
            "Caddyfile:3: `first` takes no arguments, got 1 (`extra`)");
}

TEST(ReverseProxy, ReadsHealthChecks) {
  const auto h = proxy(
      "reverse_proxy a:1 {\n"
      " health_uri /healthz\n"
      " health_port 9000\n"
      " health_interval 10s\n"
      " health_timeout 2s\n"
      " health_status 2xx\n"
      " fail_duration 30s\n"
      " max_fails 3\n"
      " unhealthy_status 5xx 429\n"
      "}");
  EXPECT_EQ(h.active_health.uri, "/healthz");
  EXPECT_EQ(h.active_health.port, 9000);
  EXPECT_EQ(h.active_health.interval, Duration{10'000});
  EXPECT_EQ(h.active_health.timeout, Duration{2'000});
  EXPECT_EQ(h.active_health.expect_status, 2);
  EXPECT_EQ(h.passive_health.fail_duration, Duration{30'000});
  EXPECT_EQ(h.passive_health.max_fails, 3);
  EXPECT_THAT(h.passive_health.unhealthy_status, ElementsAre(5, 429));
}

TEST(ReverseProxy, RejectsBadHealthValues) {
  EXPECT_EQ(site_error("reverse_proxy a:1 {\n health_status ok\n}"),
            "Caddyfile:3: invalid status `ok` for `health_status`; expected a code like `200` or a "
            "class like `2xx`");
  EXPECT_EQ(site_error("reverse_proxy a:1 {\n max_fails 0\n}"),
            "Caddyfile:3: invalid number `0` for `max_fails`; expected an integer of at least 1");
}

TEST(ReverseProxy, ReadsHeadersTrustedProxiesAndFlushing) {
  const auto h = proxy(
      "reverse_proxy a:1 {\n"
      " header_up Host {upstream_hostport}\n"
      " header_up -X-Secret\n"
      " header_down Server usher\n"
      " trusted_proxies 10.0.0.0/8 private_ranges\n"
      " flush_interval -1\n"
      "}");
  ASSERT_EQ(h.header_up.size(), 2u);
  EXPECT_EQ(h.header_up[0].value.raw, "{upstream_hostport}");
  EXPECT_EQ(h.header_up[1].op, HeaderOp::Op::kDelete);
  EXPECT_EQ(h.header_down.at(0).name, "Server");
  EXPECT_THAT(h.trusted_proxies, ElementsAre("10.0.0.0/8", "private_ranges"));
  EXPECT_EQ(h.flush_interval, Duration{-1});
}

TEST(ReverseProxy, RejectsABadTrustedProxy) {
  EXPECT_EQ(site_error("reverse_proxy a:1 {\n trusted_proxies 10.0.0.0/40\n}"),
            "Caddyfile:3: invalid IP range `10.0.0.0/40` for `trusted_proxies`; expected an "
            "address or CIDR range "
            "like `10.0.0.0/8` or `::1`, or `private_ranges`");
}

TEST(ReverseProxy, ReadsTheHttpTransport) {
  const auto h = proxy(
      "reverse_proxy https://a {\n"
      " transport http {\n"
      "  dial_timeout 3s\n"
      "  response_header_timeout 30s\n"
      "  read_timeout 1m\n"
      "  write_timeout 1m\n"
      "  keepalive off\n"
      "  keepalive_idle_conns 8\n"
      "  tls_insecure_skip_verify\n"
      "  tls_server_name internal.example\n"
      "  versions 1.1 2\n"
      " }\n"
      "}");
  const HttpTransport& t = h.transport;
  EXPECT_EQ(t.dial_timeout, Duration{3000});
  EXPECT_EQ(t.response_header_timeout, Duration{30'000});
  EXPECT_EQ(t.read_timeout, Duration{60'000});
  EXPECT_EQ(t.keepalive, Duration{0});
  EXPECT_EQ(t.keepalive_idle_conns, 8);
  EXPECT_TRUE(t.tls);
  EXPECT_TRUE(t.tls_insecure_skip_verify);
  EXPECT_EQ(t.tls_server_name, "internal.example");
  EXPECT_THAT(t.versions, ElementsAre("1.1", "2"));
}

TEST(ReverseProxy, ChecksTheTransport) {
  EXPECT_EQ(site_error("reverse_proxy a:1 {\n transport fastcgi\n}"),
            "Caddyfile:3: transport `fastcgi` is not supported yet; only `http` is available");
  EXPECT_EQ(site_error("reverse_proxy a:1 {\n transport http {\n  dial_timout 1s\n }\n}"),
            "Caddyfile:4: unknown subdirective `dial_timout` in `transport http`; did you mean "
            "`dial_timeout`?");
}

TEST(ReverseProxy, ReportsEveryBadSubdirective) {
  const auto a = test::adapt_text(
      "a.com {\n reverse_proxy a:1 {\n  health_interval x\n  lb_retries -1\n  bogus\n  health_uri "
      "/ok\n }\n}\n");
  EXPECT_EQ(a.diagnostics.error_count(), 3u) << a.diagnostics.str();
}

TEST(ForwardAuth, ReadsUriCopyHeadersAndHeaderUp) {
  const Route r = only_route(
      "forward_auth authelia:9091 {\n"
      " uri /api/verify?rd=https://auth.example.com\n"
      " copy_headers Remote-User Remote-Groups>X-Groups\n"
      " header_up X-Forwarded-Method {method}\n"
      " trusted_proxies private_ranges\n"
      "}");
  EXPECT_EQ(r.directive, "forward_auth");
  const auto h = handler_as<ForwardAuthHandler>(r);
  EXPECT_EQ(h.upstreams.at(0).port, 9091);
  EXPECT_EQ(h.uri.raw, "/api/verify?rd=https://auth.example.com");
  ASSERT_EQ(h.copy_headers.size(), 2u);
  EXPECT_EQ(h.copy_headers[0], (std::pair<std::string, std::string>{"Remote-User", "Remote-User"}));
  EXPECT_EQ(h.copy_headers[1], (std::pair<std::string, std::string>{"Remote-Groups", "X-Groups"}));
  EXPECT_EQ(h.header_up.size(), 1u);
  EXPECT_THAT(h.trusted_proxies, ElementsAre("private_ranges"));
}

TEST(ForwardAuth, AcceptsCopyHeadersAsABlock) {
  const auto h = handler_as<ForwardAuthHandler>(only_route(
      "forward_auth a:1 {\n uri /v\n copy_headers {\n  Remote-User\n  Remote-Email\n }\n}"));
  EXPECT_EQ(h.copy_headers.size(), 2u);
}

TEST(ForwardAuth, RequiresAUri) {
  EXPECT_EQ(site_error("forward_auth a:1"),
            "Caddyfile:2: `forward_auth` needs a `uri` subdirective; e.g. `uri "
            "/api/verify?rd=https://auth.example.com`");
}

TEST(ForwardAuth, SortsBeforeTheProxy) {
  const auto routes = test::site_routes("reverse_proxy app:1\nforward_auth auth:1 {\n uri /v\n}");
  EXPECT_THAT(test::directives(routes), ElementsAre("forward_auth", "reverse_proxy"));
}

}  // namespace
}  // namespace usher::core::caddyfile
