// One happy path and at least one error path per handler directive, through
// adapt() on small Caddyfile texts.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/core/caddyfile/adapt_helpers.h"

namespace usher::core::caddyfile {
namespace {

using test::adapt_text;
using test::directives;
using test::first_error;
using test::handler_as;
using test::only_route;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string site_error(std::string_view body) {
  return first_error("a.com {\n" + std::string(body) + "\n}\n");
}

// ------------------------------------------------------------------- root

TEST(RootDirective, ReadsALonePathAsTheRoot) {
  const Route r = only_route("root /srv/www");
  EXPECT_FALSE(r.match.has_value());
  EXPECT_EQ(handler_as<RootHandler>(r).path.raw, "/srv/www");
}

TEST(RootDirective, ReadsAMatcherBeforeThePath) {
  const Route r = only_route("root /static/* /srv/static");
  EXPECT_THAT(r.match->paths, ElementsAre("/static/*"));
  EXPECT_EQ(handler_as<RootHandler>(r).path.raw, "/srv/static");
}

TEST(RootDirective, RejectsAMissingPath) {
  EXPECT_EQ(site_error("root"), "Caddyfile:2: `root` expects a directory path");
}

// ----------------------------------------------------------------- header

TEST(HeaderDirective, ReadsTheOneLineForms) {
  const auto routes = test::site_routes(
      "header X-Set v\n"
      "header +X-Add v\n"
      "header -Server\n"
      "header X-Rep old new\n"
      "header >X-Late v\n");
  ASSERT_EQ(routes.size(), 5u);
  const HeaderOp set = handler_as<HeadersHandler>(routes[0]).ops.at(0);
  EXPECT_EQ(set.op, HeaderOp::Op::kSet);
  EXPECT_EQ(set.value.raw, "v");
  EXPECT_FALSE(set.defer);
  EXPECT_EQ(handler_as<HeadersHandler>(routes[1]).ops.at(0).op, HeaderOp::Op::kAdd);
  const HeaderOp del = handler_as<HeadersHandler>(routes[2]).ops.at(0);
  EXPECT_EQ(del.op, HeaderOp::Op::kDelete);
  EXPECT_EQ(del.name, "Server");
  EXPECT_TRUE(del.defer);  // deletes wait for the response, as in Caddy
  const HeaderOp rep = handler_as<HeadersHandler>(routes[3]).ops.at(0);
  EXPECT_EQ(rep.op, HeaderOp::Op::kReplace);
  EXPECT_EQ(rep.search, "old");
  EXPECT_EQ(rep.value.raw, "new");
  EXPECT_TRUE(handler_as<HeadersHandler>(routes[4]).ops.at(0).defer);
}

TEST(HeaderDirective, ReadsTheBlockFormWithDefer) {
  const Route r = only_route(
      "header /api/* {\n"
      "  Cache-Control no-store\n"
      "  -X-Powered-By\n"
      "  defer\n"
      "}");
  const auto h = handler_as<HeadersHandler>(r);
  EXPECT_FALSE(h.request);
  ASSERT_EQ(h.ops.size(), 2u);
  EXPECT_TRUE(h.ops[0].defer);
  EXPECT_EQ(h.ops[1].name, "X-Powered-By");
}

TEST(HeaderDirective, RejectsTheSetIfAbsentPrefixClearly) {
  EXPECT_EQ(
      site_error("header ?Cache-Control max-age=60"),
      "Caddyfile:2: the set-if-absent prefix `?` in `?Cache-Control` is not supported yet; write "
      "`Cache-Control VALUE` to always set it");
}

TEST(HeaderDirective, RejectsAFieldWithoutValue) {
  EXPECT_EQ(site_error("header X-Frame-Options"),
            "Caddyfile:2: `X-Frame-Options` expects a value; to delete the header write "
            "`-X-Frame-Options`");
}

TEST(RequestHeaderDirective, ReadsARequestHeaderOperation) {
  const auto h = handler_as<HeadersHandler>(only_route("request_header X-Real-IP {remote_host}"));
  EXPECT_TRUE(h.request);
  EXPECT_EQ(h.ops.at(0).value.raw, "{remote_host}");
}

TEST(RequestHeaderDirective, RejectsTheDeferPrefix) {
  EXPECT_THAT(site_error("request_header >X-A b"), HasSubstr("only applies to response headers"));
}

// ------------------------------------------------------ request_body, encode

TEST(RequestBodyDirective, ReadsMaxSize) {
  EXPECT_EQ(
      handler_as<RequestBodyHandler>(only_route("request_body {\n max_size 10MB\n}")).max_size,
      10'000'000u);
}

TEST(RequestBodyDirective, RejectsABadSize) {
  EXPECT_EQ(site_error("request_body {\n max_size ten\n}"),
            "Caddyfile:3: invalid size `ten` for `max_size`; expected a size like `10MB`, `512KiB` "
            "or `1048576`");
}

TEST(EncodeDirective, DefaultsToZstdAndGzip) {
  EXPECT_THAT(handler_as<EncodeHandler>(only_route("encode")).encodings,
              ElementsAre("zstd", "gzip"));
}

TEST(EncodeDirective, ReadsFormatsAndMinimumLength) {
  const auto h = handler_as<EncodeHandler>(only_route("encode gzip {\n minimum_length 512\n}"));
  EXPECT_THAT(h.encodings, ElementsAre("gzip"));
  EXPECT_EQ(h.minimum_length, 512);
}

TEST(EncodeDirective, RejectsAnUnknownFormat) {
  EXPECT_EQ(site_error("encode br"),
            "Caddyfile:2: invalid value `br` for `encode`; expected `zstd` or `gzip`");
}

// ------------------------------------------------------------------ redir

struct RedirCase {
  std::string line;
  std::string to;
  int status;
  bool html;
  std::string matcher_path;
};

class RedirDirective : public ::testing::TestWithParam<RedirCase> {};

TEST_P(RedirDirective, ReadsTargetCodeAndMatcher) {
  const RedirCase& c = GetParam();
  const Route r = only_route(c.line);
  const auto h = handler_as<RedirHandler>(r);
  EXPECT_EQ(h.to.raw, c.to);
  EXPECT_EQ(h.status, c.status);
  EXPECT_EQ(h.html, c.html);
  EXPECT_EQ(r.match ? r.match->paths.at(0) : "", c.matcher_path);
}

INSTANTIATE_TEST_SUITE_P(Cases, RedirDirective,
                         ::testing::Values(RedirCase{"redir /new", "/new", 302, false, ""},
                                           RedirCase{"redir https://b.com{uri} permanent",
                                                     "https://b.com{uri}", 301, false, ""},
                                           RedirCase{"redir /old /new", "/new", 302, false, "/old"},
                                           RedirCase{"redir /old /new 308", "/new", 308, false,
                                                     "/old"},
                                           RedirCase{"redir /new 301", "/new", 301, false, ""},
                                           RedirCase{"redir * /x html", "/x", 200, true, ""},
                                           RedirCase{"redir /x temporary", "/x", 302, false, ""}));

TEST(RedirErrors, RejectsACodeOutsideTheRedirectRange) {
  EXPECT_EQ(site_error("redir /old /new 200"),
            "Caddyfile:2: invalid redirect code `200` for `redir`; expected `permanent`, "
            "`temporary`, `html` or a "
            "3xx status code");
}

// --------------------------------------------------------- rewrite and uri

TEST(RewriteDirective, ReadsALoneTargetAndAMatcherForm) {
  EXPECT_EQ(handler_as<RewriteHandler>(only_route("rewrite /index.html")).to.raw, "/index.html");
  const Route r = only_route("rewrite /old/* /new{uri}");
  EXPECT_THAT(r.match->paths, ElementsAre("/old/*"));
  EXPECT_EQ(handler_as<RewriteHandler>(r).to.raw, "/new{uri}");
}

TEST(UriDirective, ReadsEachOperation) {
  const auto strip = handler_as<UriHandler>(only_route("uri strip_prefix api"));
  EXPECT_EQ(strip.op, UriHandler::Op::kStripPrefix);
  EXPECT_EQ(strip.find, "/api");  // a prefix always starts at the path's start
  const auto suffix = handler_as<UriHandler>(only_route("uri strip_suffix .html"));
  EXPECT_EQ(suffix.op, UriHandler::Op::kStripSuffix);
  const auto replace = handler_as<UriHandler>(only_route("uri replace /a /b 1"));
  EXPECT_EQ(replace.op, UriHandler::Op::kReplace);
  EXPECT_EQ(replace.replace, "/b");
  EXPECT_EQ(replace.limit, 1);
}

TEST(UriDirective, SuggestsANearOperation) {
  EXPECT_EQ(site_error("uri strip_prefx /a"),
            "Caddyfile:2: unknown operation `strip_prefx` in `uri`; did you mean `strip_prefix`?");
}

TEST(TryFilesDirective, ReadsFilesWithoutAMatcher) {
  const Route r = only_route("try_files {path} /index.html");
  EXPECT_FALSE(r.match.has_value());
  ASSERT_EQ(handler_as<TryFilesHandler>(r).files.size(), 2u);
  EXPECT_EQ(handler_as<TryFilesHandler>(r).files[1].raw, "/index.html");
}

TEST(TryFilesDirective, RequiresAFile) {
  EXPECT_THAT(site_error("try_files"), HasSubstr("`try_files` expects"));
}

// -------------------------------------------------------------- basic_auth

TEST(BasicAuthDirective, ReadsAccountsAndRealm) {
  const Route r = only_route(
      "basic_auth /admin/* bcrypt \"Staff only\" {\n alice $2a$14$abc\n bob $2a$14$def\n}");
  const auto h = handler_as<BasicAuthHandler>(r);
  EXPECT_EQ(r.directive, "basic_auth");
  EXPECT_EQ(h.realm, "Staff only");
  ASSERT_EQ(h.accounts.size(), 2u);
  EXPECT_EQ(h.accounts[1].user, "bob");
  EXPECT_EQ(h.accounts[1].hash, "$2a$14$def");
}

TEST(BasicAuthDirective, AcceptsTheOldNameAsAnAlias) {
  EXPECT_EQ(only_route("basicauth {\n alice hash\n}").directive, "basic_auth");
}

TEST(BasicAuthDirective, RequiresAccounts) {
  EXPECT_EQ(site_error("basic_auth"),
            "Caddyfile:2: `basic_auth` expects a block of `USER HASH` lines");
}

TEST(BasicAuthDirective, RejectsAUserWithoutHash) {
  EXPECT_EQ(site_error("basic_auth {\n alice\n}"),
            "Caddyfile:3: `alice` expects a password hash after the user name");
}

// ------------------------------------------------------ handle and friends

TEST(HandlePathDirective, StripsThePrefixFirst) {
  const Route r = only_route("handle_path /api/v1/* {\n reverse_proxy localhost:1\n}");
  EXPECT_EQ(r.directive, "handle_path");
  EXPECT_THAT(r.match->paths, ElementsAre("/api/v1/*"));
  const auto sub = handler_as<SubrouteHandler>(r);
  ASSERT_EQ(sub.routes.size(), 2u);
  const auto strip = handler_as<UriHandler>(sub.routes[0]);
  EXPECT_EQ(strip.op, UriHandler::Op::kStripPrefix);
  EXPECT_EQ(strip.find, "/api/v1");
  EXPECT_EQ(sub.routes[1].directive, "reverse_proxy");
}

TEST(HandlePathDirective, RequiresOnePath) {
  EXPECT_EQ(site_error("handle_path {\n respond x\n}"),
            "Caddyfile:2: `handle_path` expects a path matcher like `/api/*`");
  EXPECT_THAT(site_error("@a path /a\nhandle_path @a {\n respond x\n}"),
              HasSubstr("invalid path matcher `@a`"));
}

TEST(HandleDirective, SeesMatchersDefinedOutsideAndInside) {
  const Route r = only_route(
      "@outer path /o\n"
      "handle {\n"
      "  @inner method GET\n"
      "  respond @outer 1\n"
      "  respond @inner 2\n"
      "}");
  const auto sub = handler_as<SubrouteHandler>(r);
  ASSERT_EQ(sub.routes.size(), 2u);
  EXPECT_EQ(sub.routes[0].matcher_name, "@outer");
  EXPECT_EQ(sub.routes[1].matcher_name, "@inner");
}

TEST(HandleDirective, KeepsInnerMatchersInside) {
  EXPECT_THAT(site_error("handle {\n @inner method GET\n}\nrespond @inner 1"),
              HasSubstr("unknown matcher `@inner`"));
}

TEST(HandleDirective, RejectsArgumentsBesidesTheMatcher) {
  EXPECT_EQ(site_error("handle /a extra {\n respond x\n}"),
            "Caddyfile:2: `handle` takes no arguments, got 1 (`extra`)");
}

// ---------------------------------------------------- respond, error, abort

struct RespondCase {
  std::string line;
  std::string body;
  int status;
  bool close;
};

class RespondDirective : public ::testing::TestWithParam<RespondCase> {};

TEST_P(RespondDirective, ReadsBodyAndStatus) {
  const auto h = handler_as<RespondHandler>(only_route(GetParam().line));
  EXPECT_EQ(h.body.raw, GetParam().body);
  EXPECT_EQ(h.status, GetParam().status);
  EXPECT_EQ(h.close, GetParam().close);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RespondDirective,
    ::testing::Values(RespondCase{"respond", "", 200, false},
                      RespondCase{"respond 404", "", 404, false},
                      RespondCase{"respond \"404\"", "404", 200, false},
                      RespondCase{"respond \"Not here\" 410", "Not here", 410, false},
                      RespondCase{"respond /x \"hi {host}\"", "hi {host}", 200, false},
                      RespondCase{"respond 403 {\n close\n}", "", 403, true},
                      RespondCase{"respond {\n body hello\n}", "hello", 200, false}));

TEST(RespondErrors, RejectsAStatusOutOfRange) {
  EXPECT_EQ(
      site_error("respond hi 999"),
      "Caddyfile:2: invalid status code `999` for `respond`; expected a number from 100 to 599");
}

TEST(ErrorDirective, ReadsMessageAndStatus) {
  const auto both = handler_as<ErrorHandler>(only_route("error \"Gone\" 410"));
  EXPECT_EQ(both.message.raw, "Gone");
  EXPECT_EQ(both.status, 410);
  EXPECT_EQ(handler_as<ErrorHandler>(only_route("error 403")).status, 403);
  EXPECT_EQ(handler_as<ErrorHandler>(only_route("error oops")).status, 500);
}

TEST(AbortDirective, TakesOnlyAMatcher) {
  const Route r = only_route("abort /secret");
  EXPECT_TRUE(std::holds_alternative<AbortHandler>(r.handler));
  EXPECT_EQ(site_error("abort now"), "Caddyfile:2: `abort` takes no arguments, got 1 (`now`)");
}

// ------------------------------------------------------------ file_server

TEST(FileServerDirective, ReadsBrowseAndItsBlock) {
  const auto h = handler_as<FileServerHandler>(
      only_route("file_server browse {\n root /srv\n hide .git *.bak\n index index.htm\n}"));
  EXPECT_TRUE(h.browse);
  EXPECT_EQ(h.root.raw, "/srv");
  EXPECT_THAT(h.hide, ElementsAre(".git", "*.bak"));
  EXPECT_THAT(h.index, ElementsAre("index.htm"));
}

TEST(FileServerDirective, SuggestsANearSubdirective) {
  EXPECT_EQ(site_error("file_server {\n indx a.html\n}"),
            "Caddyfile:3: unknown subdirective `indx` in `file_server`; did you mean `index`?");
}

TEST(FileServerDirective, ListsTheSubdirectivesWhenNothingIsNear) {
  EXPECT_EQ(site_error("file_server {\n precompressed\n}"),
            "Caddyfile:3: unknown subdirective `precompressed` in `file_server`; expected `root`, "
            "`hide`, "
            "`index` or `browse`");
}

}  // namespace
}  // namespace usher::core::caddyfile

namespace usher::core::caddyfile::test {
namespace {

TEST(Redir, ReadsANamedMatcherFirstEvenWithTwoArguments) {
  const Adapted a = adapt_text("example.com {\n@old path /old\nredir @old 301\n}\n");
  // `301` is not a target: with @old taken as the matcher, the one argument
  // left is the target, so this adapts to a redirect *to* "301".
  ASSERT_EQ(a.config.sites.size(), 1u);
  const Route& route = a.config.sites.front().routes.front();
  EXPECT_EQ(route.matcher_name, "@old");
  EXPECT_EQ(std::get<RedirHandler>(route.handler).to.raw, "301");
}

TEST(ReverseProxy, AcceptsTheCookiePolicyWithoutACookieName) {
  const Route route = only_route("reverse_proxy a:80 b:80 {\nlb_policy cookie\n}");
  const auto& proxy = std::get<ReverseProxyHandler>(route.handler);
  EXPECT_EQ(proxy.load_balancing.policy, "cookie");
  EXPECT_EQ(proxy.load_balancing.policy_arg, "");
}

}  // namespace
}  // namespace usher::core::caddyfile::test

namespace usher::core::caddyfile::test {
namespace {

TEST(Bind, ListsTheAddressesASiteListensOn) {
  const Adapted a = adapt_text("example.com {\nbind 127.0.0.1 [::1]\nrespond ok\n}\n");
  ASSERT_EQ(a.diagnostics.str(), "");
  EXPECT_EQ(a.config.sites.front().binds, (std::vector<std::string>{"127.0.0.1", "::1"}));
}

TEST(Bind, RejectsWhatIsNotAnIpAddress) {
  EXPECT_EQ(first_error("example.com {\nbind lan.example\n}\n"),
            "Caddyfile:2: invalid address `lan.example` for `bind`; expected an IP address like "
            "`127.0.0.1` or `::1`");
}

}  // namespace
}  // namespace usher::core::caddyfile::test
