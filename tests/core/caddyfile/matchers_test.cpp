#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/core/caddyfile/adapt_helpers.h"

namespace usher::core::caddyfile {
namespace {

using test::first_error;
using test::only_route;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string site_error(std::string_view body) {
  return first_error("a.com {\n" + std::string(body) + "\n}\n");
}

// The matcher set of `respond @m` after `DEFINITION` (which defines @m).
MatcherSet matcher(std::string_view definition) {
  const Route r = only_route(std::string(definition) + "\nrespond @m 200");
  EXPECT_EQ(r.matcher_name, "@m");
  return r.match.value_or(MatcherSet{});
}

TEST(Matchers, WildcardMatchesEverything) {
  const Route r = only_route("respond * 200");
  EXPECT_FALSE(r.match.has_value());
  EXPECT_EQ(r.matcher_name, "");
}

TEST(Matchers, APathTokenIsAPathMatcher) {
  EXPECT_THAT(only_route("respond /health 200").match->paths, ElementsAre("/health"));
}

TEST(Matchers, QuotedTokensAreNeverMatchers) {
  const Route r = only_route("respond \"/health\" 200");
  EXPECT_FALSE(r.match.has_value());
  EXPECT_EQ(test::handler_as<RespondHandler>(r).body.raw, "/health");
}

TEST(Matchers, ReadsAOneLineNamedMatcher) {
  EXPECT_THAT(matcher("@m path /a /b").paths, ElementsAre("/a", "/b"));
}

TEST(Matchers, ReadsEveryTypeInABlock) {
  const MatcherSet m = matcher(
      "@m {\n"
      "  path /api/*\n"
      "  host Example.com\n"
      "  method get post\n"
      "  header X-Env prod staging\n"
      "  header !Authorization\n"
      "  query debug=1 page=*\n"
      "  remote_ip 192.168.0.0/16 ::1\n"
      "  client_ip private_ranges\n"
      "  protocol https\n"
      "}");
  EXPECT_THAT(m.paths, ElementsAre("/api/*"));
  EXPECT_THAT(m.hosts, ElementsAre("example.com"));
  EXPECT_THAT(m.methods, ElementsAre("GET", "POST"));
  ASSERT_EQ(m.headers.size(), 2u);
  EXPECT_EQ(m.headers[0], (HeaderMatch{"X-Env", {"prod", "staging"}}));
  EXPECT_EQ(m.headers[1], (HeaderMatch{"!Authorization", {}}));
  ASSERT_EQ(m.query.size(), 2u);
  EXPECT_EQ(m.query[1], (QueryMatch{"page", "*"}));
  EXPECT_THAT(m.remote_ip, ElementsAre("192.168.0.0/16", "::1"));
  EXPECT_THAT(m.client_ip, ElementsAre("private_ranges"));
  EXPECT_EQ(m.protocol, "https");
}

TEST(Matchers, MergesTheSameTypeGivenTwice) {
  const MatcherSet m = matcher("@m {\n path /a\n path /b\n header X v1\n header X v2\n}");
  EXPECT_THAT(m.paths, ElementsAre("/a", "/b"));
  ASSERT_EQ(m.headers.size(), 1u);
  EXPECT_THAT(m.headers[0].values, ElementsAre("v1", "v2"));
}

TEST(Matchers, ReadsNotInBothForms) {
  const MatcherSet m =
      matcher("@m {\n not path /admin/*\n not {\n  method POST\n  host a.com\n }\n}");
  ASSERT_EQ(m.nots.size(), 2u);
  EXPECT_THAT(m.nots[0].paths, ElementsAre("/admin/*"));
  EXPECT_THAT(m.nots[1].methods, ElementsAre("POST"));
  EXPECT_THAT(m.nots[1].hosts, ElementsAre("a.com"));
}

TEST(Matchers, AnUnusedMatcherIsFine) {
  EXPECT_EQ(test::site_routes("@unused path /x\nrespond hi").size(), 1u);
}

TEST(Matchers, ResolvedMatchersAreCopies) {
  const auto routes = test::site_routes("@m path /a\nrespond @m 1\nreverse_proxy @m x:1");
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].match, routes[1].match);
}

TEST(Matchers, ListsDefinedMatchersForAnUnknownName) {
  EXPECT_EQ(site_error("@api path /api\n@static path /s\nrespond @zzzzzz 1"),
            "Caddyfile:4: unknown matcher `@zzzzzz`; defined here: `@api` or `@static`");
}

TEST(Matchers, RejectsADuplicateDefinition) {
  EXPECT_EQ(site_error("@a path /a\n@a path /b"),
            "Caddyfile:3: matcher `@a` is defined more than once; first defined at Caddyfile:2");
}

TEST(Matchers, RejectsABadValueWithoutCascading) {
  const auto a = test::adapt_text("a.com {\n @m remote_ip 300.1.1.1\n respond @m 1\n}\n");
  ASSERT_EQ(a.diagnostics.error_count(), 1u);
  EXPECT_THAT(a.diagnostics.items()[0].message,
              HasSubstr("invalid IP range `300.1.1.1` for `remote_ip`"));
}

struct UnsupportedCase {
  std::string definition;
  std::string name;
};

class UnsupportedMatchers : public ::testing::TestWithParam<UnsupportedCase> {};

TEST_P(UnsupportedMatchers, ReportsThemAsNotSupportedYet) {
  EXPECT_EQ(site_error(GetParam().definition),
            "Caddyfile:2: matcher `" + GetParam().name + "` is not supported yet");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UnsupportedMatchers,
    ::testing::Values(UnsupportedCase{"@m expression {method} == 'GET'", "expression"},
                      UnsupportedCase{"@m \"{method} == 'GET'\"", "expression"},
                      UnsupportedCase{"@m path_regexp \\.php$", "path_regexp"},
                      UnsupportedCase{"@m header_regexp X a.*", "header_regexp"},
                      UnsupportedCase{"@m file {path}", "file"}));

TEST(Matchers, ChecksValues) {
  EXPECT_EQ(site_error("@m query debug"),
            "Caddyfile:2: invalid query condition `debug` for `query`; expected a `key=value` pair "
            "like `page=*`");
  EXPECT_EQ(site_error("@m protocol gopher"),
            "Caddyfile:2: invalid value `gopher` for `protocol`; expected `http`, `https`, `grpc`, "
            "`http/1.1`, "
            "`http/2` or `http/3`");
  EXPECT_EQ(site_error("@m path api"),
            "Caddyfile:2: invalid path `api` for `path`; expected a path starting with `/`, like "
            "`/api/*`");
  EXPECT_EQ(site_error("@m"), "Caddyfile:2: `@m` expects a matcher like `path /api/*` or a block");
}

}  // namespace
}  // namespace usher::core::caddyfile
