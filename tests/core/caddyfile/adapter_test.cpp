#include "core/caddyfile/adapter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "tests/core/caddyfile/adapt_helpers.h"

namespace usher::core::caddyfile {
namespace {

using test::adapt_text;
using test::directives;
using test::first_error;
using test::handler_as;
using test::only_route;
using test::site_routes;
using ::testing::ElementsAre;

// ------------------------------------------------------------- ordering

TEST(AdapterOrder, SortsDirectivesInCaddysOrder) {
  const auto routes = site_routes(
      "file_server\n"
      "reverse_proxy /api/* localhost:9000\n"
      "respond /health 200\n"
      "encode gzip\n"
      "redir /old /new\n"
      "header X-A b\n"
      "root * /srv\n");
  EXPECT_THAT(directives(routes), ElementsAre("root", "header", "redir", "encode", "respond",
                                              "reverse_proxy", "file_server"));
}

TEST(AdapterOrder, PutsLongerPathsFirstWithinOneDirective) {
  const auto routes = site_routes(
      "reverse_proxy localhost:1\n"
      "reverse_proxy /a/* localhost:2\n"
      "reverse_proxy /a/b/* localhost:3\n");
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[0].match->paths.front(), "/a/b/*");
  EXPECT_EQ(routes[1].match->paths.front(), "/a/*");
  EXPECT_FALSE(routes[2].match.has_value());
}

TEST(AdapterOrder, PutsTheExactPathBeforeItsWildcard) {
  const auto routes = site_routes(
      "respond /docs* 1\n"
      "respond /docs 2\n");
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].match->paths.front(), "/docs");
  EXPECT_EQ(routes[1].match->paths.front(), "/docs*");
}

TEST(AdapterOrder, PutsNamedMatchersBeforeTheCatchAll) {
  const auto routes = site_routes(
      "@post method POST\n"
      "respond 404\n"
      "respond @post 405\n");
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].matcher_name, "@post");
  EXPECT_FALSE(routes[1].match.has_value());
}

TEST(AdapterOrder, KeepsTheWrittenOrderInsideRoute) {
  const auto routes = site_routes(
      "route {\n"
      "  reverse_proxy localhost:1\n"
      "  header X-A b\n"
      "  respond /x 200\n"
      "}\n");
  ASSERT_EQ(routes.size(), 1u);
  const auto sub = handler_as<SubrouteHandler>(routes[0]);
  EXPECT_THAT(directives(sub.routes), ElementsAre("reverse_proxy", "header", "respond"));
}

TEST(AdapterOrder, SortsInsideHandleBlocks) {
  const auto route = only_route(
      "handle {\n"
      "  reverse_proxy localhost:1\n"
      "  header X-A b\n"
      "}\n");
  const auto sub = handler_as<SubrouteHandler>(route);
  EXPECT_THAT(directives(sub.routes), ElementsAre("header", "reverse_proxy"));
}

TEST(AdapterOrder, SortsHandlePathWithHandle) {
  const auto routes = site_routes(
      "handle {\n respond fallback\n}\n"
      "handle_path /api/* {\n respond api\n}\n"
      "reverse_proxy /x localhost:1\n");
  EXPECT_THAT(directives(routes), ElementsAre("handle_path", "handle", "reverse_proxy"));
}

// --------------------------------------------------------------- groups

TEST(AdapterGroups, GroupsSiblingHandleBlocks) {
  const auto routes = site_routes(
      "handle /a/* {\n respond a\n}\n"
      "handle_path /b/* {\n respond b\n}\n"
      "handle {\n respond c\n}\n");
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_FALSE(routes[0].group.empty());
  EXPECT_EQ(routes[0].group, routes[1].group);
  EXPECT_EQ(routes[1].group, routes[2].group);
}

TEST(AdapterGroups, LeavesALoneHandleUngrouped) {
  EXPECT_EQ(only_route("handle {\n respond a\n}\n").group, "");
}

TEST(AdapterGroups, GivesEachDirectiveAndEachListItsOwnGroup) {
  const auto routes = site_routes(
      "rewrite /a /x\n"
      "rewrite /b /y\n"
      "root /a/* /srv/a\n"
      "root * /srv\n"
      "handle /p/* {\n handle /p/q {\n respond 1\n }\n handle {\n respond 2\n }\n}\n"
      "handle {\n respond 3\n}\n");
  std::set<std::string> groups;
  for (const Route& r : routes)
    groups.insert(r.group);
  EXPECT_EQ(groups.size(), 3u);  // rewrite, root, handle
  const auto inner = handler_as<SubrouteHandler>(routes[4]);
  ASSERT_EQ(inner.routes.size(), 2u);
  EXPECT_EQ(inner.routes[0].group, inner.routes[1].group);
  EXPECT_FALSE(groups.count(inner.routes[0].group));
}

TEST(AdapterGroups, GroupsSiblingHandlesInsideRouteToo) {
  const auto route =
      only_route("route {\n handle /a {\n respond 1\n }\n handle {\n respond 2\n }\n}\n");
  const auto sub = handler_as<SubrouteHandler>(route);
  ASSERT_EQ(sub.routes.size(), 2u);
  EXPECT_FALSE(sub.routes[0].group.empty());
  EXPECT_EQ(sub.routes[0].group, sub.routes[1].group);
}

// ---------------------------------------------------------------- sites

TEST(AdapterSites, ReadsEverySiteBlockWithItsOrigin) {
  const auto a = adapt_text("a.example.com {\n respond a\n}\n\nb.example.com {\n respond b\n}\n");
  ASSERT_EQ(a.diagnostics.str(), "");
  ASSERT_EQ(a.config.sites.size(), 2u);
  EXPECT_EQ(a.config.sites[1].addresses[0].host, "b.example.com");
  EXPECT_EQ(a.config.sites[1].origin, (Origin{"Caddyfile", 5}));
  EXPECT_EQ(a.config.sites[0].routes[0].origin, (Origin{"Caddyfile", 2}));
}

TEST(AdapterSites, WrapsTheSiteInThePathOfItsAddress) {
  const auto a =
      adapt_text("example.com/api/* {\n reverse_proxy localhost:1\n respond /x 200\n}\n");
  ASSERT_EQ(a.diagnostics.str(), "");
  const auto& routes = a.config.sites[0].routes;
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_THAT(routes[0].match->paths, ElementsAre("/api/*"));
  EXPECT_THAT(directives(handler_as<SubrouteHandler>(routes[0]).routes),
              ElementsAre("respond", "reverse_proxy"));
}

TEST(AdapterSites, AnAddressWithoutPathMakesTheSiteMatchEveryPath) {
  const auto a = adapt_text("example.com/api/*, other.com {\n respond hi\n}\n");
  ASSERT_EQ(a.diagnostics.str(), "");
  EXPECT_EQ(a.config.sites[0].routes[0].directive, "respond");
}

TEST(AdapterSites, HandleErrorsGoesToErrorRoutes) {
  const auto a = adapt_text(
      "example.com {\n"
      " respond ok\n"
      " handle_errors {\n"
      "  respond \"{err.status_code} {err.status_text}\"\n"
      " }\n"
      "}\n");
  ASSERT_EQ(a.diagnostics.str(), "");
  const Site& site = a.config.sites[0];
  ASSERT_EQ(site.routes.size(), 1u);
  ASSERT_EQ(site.error_routes.size(), 1u);
  EXPECT_EQ(handler_as<RespondHandler>(site.error_routes[0]).body.raw,
            "{err.status_code} {err.status_text}");
}

TEST(AdapterSites, AcceptsOneLineSiteBlocks) {
  const auto a = adapt_text("cloud.example.com { reverse_proxy 127.0.0.1:8080 }\n");
  ASSERT_EQ(a.diagnostics.str(), "");
  ASSERT_EQ(a.config.sites.size(), 1u);
  EXPECT_EQ(handler_as<ReverseProxyHandler>(a.config.sites[0].routes[0]).upstreams[0].port, 8080);
}

TEST(AdapterSites, ParsesATypicalHomeServerFile) {
  const auto a = adapt_text(R"({
	email admin@example.com
}

(common) {
	encode zstd gzip
	header Strict-Transport-Security "max-age=31536000"
}

cloud.example.com {
	import common
	reverse_proxy 127.0.0.1:11000
}

photos.example.com {
	import common
	request_body {
		max_size 10GB
	}
	reverse_proxy http://127.0.0.1:2283 {
		flush_interval -1
	}
}
)");
  ASSERT_EQ(a.diagnostics.str(), "");
  ASSERT_EQ(a.config.sites.size(), 2u);
  EXPECT_THAT(directives(a.config.sites[1].routes),
              ElementsAre("header", "request_body", "encode", "reverse_proxy"));
}

// ----------------------------------------------------------- addresses

struct AddressCase {
  std::string key;
  SiteAddress expected;
};

class AdapterAddresses : public ::testing::TestWithParam<AddressCase> {};

TEST_P(AdapterAddresses, ParsesTheAddress) {
  const auto a = adapt_text(GetParam().key + " {\n respond hi\n}\n");
  ASSERT_EQ(a.diagnostics.str(), "");
  ASSERT_EQ(a.config.sites.size(), 1u);
  ASSERT_EQ(a.config.sites[0].addresses.size(), 1u);
  EXPECT_EQ(a.config.sites[0].addresses[0], GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AdapterAddresses,
    ::testing::Values(
        AddressCase{"example.com", {"", "example.com", 0, "", "example.com"}},
        AddressCase{"Example.COM:8443", {"", "example.com", 8443, "", "Example.COM:8443"}},
        AddressCase{"http://example.com", {"http", "example.com", 0, "", "http://example.com"}},
        AddressCase{"https://a.b:444", {"https", "a.b", 444, "", "https://a.b:444"}},
        AddressCase{":8080", {"", "", 8080, "", ":8080"}},
        AddressCase{"*.example.com", {"", "*.example.com", 0, "", "*.example.com"}},
        AddressCase{"[::1]:8443", {"", "::1", 8443, "", "[::1]:8443"}},
        AddressCase{"::1", {"", "::1", 0, "", "::1"}},
        AddressCase{"192.168.1.5", {"", "192.168.1.5", 0, "", "192.168.1.5"}},
        AddressCase{"localhost", {"", "localhost", 0, "", "localhost"}},
        AddressCase{"example.com/api/*", {"", "example.com", 0, "/api/*", "example.com/api/*"}}));

TEST(AdapterSites, ReadsSeveralAddressesPerBlock) {
  const auto a = adapt_text("a.com, b.com:8443 http://c.com {\n respond hi\n}\n");
  ASSERT_EQ(a.diagnostics.str(), "");
  ASSERT_EQ(a.config.sites[0].addresses.size(), 3u);
  EXPECT_EQ(a.config.sites[0].addresses[2].scheme, "http");
}

// -------------------------------------------------- errors, exact text

struct ErrorCase {
  std::string text;
  std::string expected;
};

class AdapterErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(AdapterErrors, ReportsTheExactMessage) {
  EXPECT_EQ(first_error(GetParam().text), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Messages, AdapterErrors,
    ::testing::Values(
        ErrorCase{"a.com {\n\n reverse_prox localhost:1\n}\n",
                  "Caddyfile:3: unknown directive `reverse_prox`; did you mean `reverse_proxy`?"},
        ErrorCase{"a.com {\n redir a b c\n}\n",
                  "Caddyfile:2: `redir` takes at most 2 arguments, got 3 (`a`, `b`, `c`)"},
        ErrorCase{"a.com {\n reverse_proxy x:1 {\n  health_interval 5x\n }\n}\n",
                  "Caddyfile:3: invalid duration `5x` for `health_interval`; expected a duration "
                  "like `30s`, "
                  "`1m30s` or `250ms`"},
        ErrorCase{"a.com {\n reverse_proxy x:1 {\n  lb_polcy first\n }\n}\n",
                  "Caddyfile:3: unknown subdirective `lb_polcy` in `reverse_proxy`; did you mean "
                  "`lb_policy`?"},
        ErrorCase{"{\n emial a@b.c\n}\n",
                  "Caddyfile:2: unknown global option `emial`; did you mean `email`?"},
        ErrorCase{"a.com {\n @x paht /a\n respond @x 1\n}\n",
                  "Caddyfile:2: unknown matcher type `paht`; did you mean `path`?"},
        ErrorCase{"a.com {\n @api path /a\n respond @apu 200\n}\n",
                  "Caddyfile:3: unknown matcher `@apu`; did you mean `@api`?"},
        ErrorCase{"a.com {\n respond @nope 200\n}\n",
                  "Caddyfile:2: unknown matcher `@nope`; define it in the same block, e.g. `@nope "
                  "path /api/*`"},
        ErrorCase{"a.com {\n email a@b.c\n}\n",
                  "Caddyfile:2: `email` is a global option, not a directive; move it into the "
                  "global options "
                  "block `{ … }` at the top of the file"},
        ErrorCase{"{\n reverse_proxy localhost:1\n}\n",
                  "Caddyfile:2: `reverse_proxy` is a directive, not a global option; directives "
                  "belong in a site "
                  "block like `example.com { … }`"},
        ErrorCase{"a.com {\n handle {\n  tls internal\n }\n}\n",
                  "Caddyfile:3: `tls` is only allowed at the top level of a site block"},
        ErrorCase{"a.com {\n php_fastcgi localhost:9000\n}\n",
                  "Caddyfile:2: directive `php_fastcgi` is not supported yet"},
        ErrorCase{"a.com {\n @x expression `{method} == 'GET'`\n}\n",
                  "Caddyfile:2: matcher `expression` is not supported yet"},
        ErrorCase{"a.com {\n abort {\n }\n}\n", "Caddyfile:2: `abort` does not take a block"},
        ErrorCase{"ftp://a.com {\n respond hi\n}\n",
                  "Caddyfile:1: unsupported scheme `ftp://` in site address `ftp://a.com`; use "
                  "`http://` or "
                  "`https://`, or no scheme"},
        ErrorCase{"a.com:99999 {\n respond hi\n}\n",
                  "Caddyfile:1: invalid port `99999` in site address `a.com:99999`; expected a "
                  "number from 1 to 65535"},
        ErrorCase{"http://a.com:443 {\n respond hi\n}\n",
                  "Caddyfile:1: site address `http://a.com:443` uses port 443 with the `http://` "
                  "scheme; port 443 "
                  "is for `https://`"},
        ErrorCase{"a.com {\n respond 1\n}\nb.com, a.com {\n respond 2\n}\n",
                  "Caddyfile:4: ambiguous site definition: `a.com`; also defined at Caddyfile:1"},
        ErrorCase{"a.com, A.com:443 {\n respond 1\n}\n",
                  "Caddyfile:1: ambiguous site definition: `A.com:443`; it is listed twice on this "
                  "line"}));

TEST(AdapterErrors, ReportsEveryBadDirectiveOfAFile) {
  const auto a = adapt_text(
      "a.com {\n"
      " reverse_prox localhost:1\n"
      " redir a b c\n"
      " respond 200 OK extra\n"
      " encode brotli\n"
      " reverse_proxy x:1 {\n"
      "  health_interval 5x\n"
      "  max_fails zero\n"
      " }\n"
      " respond ok\n"
      "}\n");
  EXPECT_EQ(a.diagnostics.error_count(), 6u) << a.diagnostics.str();
  std::vector<int> lines;
  for (const Diagnostic& d : a.diagnostics.items())
    lines.push_back(d.line);
  EXPECT_THAT(lines, ElementsAre(2, 3, 4, 5, 7, 8));
  // the good directive still made it
  ASSERT_EQ(a.config.sites.size(), 1u);
  EXPECT_FALSE(a.config.sites[0].routes.empty());
}

TEST(AdapterErrors, ReportsErrorsInsideNestedBlocksAndGoesOn) {
  const auto a = adapt_text(
      "a.com {\n"
      " handle /a {\n"
      "  respnd 1\n"
      "  respond 2\n"
      " }\n"
      " route {\n"
      "  bogus\n"
      " }\n"
      "}\n");
  EXPECT_EQ(a.diagnostics.error_count(), 2u) << a.diagnostics.str();
  ASSERT_EQ(a.config.sites[0].routes.size(), 2u);
  EXPECT_EQ(handler_as<SubrouteHandler>(a.config.sites[0].routes[0]).routes.size(), 1u);
}

TEST(AdapterErrors, RejectsAGlobalOptionsBlockAfterASite) {
  const auto a = adapt_text("a.com {\n respond 1\n}\n{\n email a@b.c\n}\n");
  ASSERT_TRUE(a.diagnostics.has_errors());
  EXPECT_THAT(a.diagnostics.items()[0].message, ::testing::HasSubstr("global options"));
  EXPECT_EQ(a.config.global.email, "");
}

TEST(AdapterErrors, StopsAfterASyntaxError) {
  const auto a = adapt_text("a.com {\n respond hi\n");
  EXPECT_TRUE(a.diagnostics.has_errors());
  EXPECT_TRUE(a.config.sites.empty());
}

TEST(AdapterErrors, PointsAtTheImportedLine) {
  const auto a = adapt_text("(snip) {\n respnd hi\n}\na.com {\n import snip\n}\n");
  ASSERT_EQ(a.diagnostics.error_count(), 1u);
  EXPECT_EQ(a.diagnostics.items()[0].line, 2);
}

}  // namespace
}  // namespace usher::core::caddyfile
