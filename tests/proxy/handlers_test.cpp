#include "proxy/handlers.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/diagnostic.h"
#include "tests/proxy/fake_exchange.h"

namespace usher::proxy {

namespace {

using testing::FakeExchange;
using testing::run_awaitable;
using testing::test_worker;

core::Route route_of(core::Handler handler, std::optional<core::MatcherSet> match = std::nullopt,
                     std::string group = {}) {
  core::Route r;
  r.handler = std::move(handler);
  r.match = std::move(match);
  r.group = std::move(group);
  return r;
}

core::RespondHandler respond(std::string body, int status = 200) {
  return {core::Template::parse(body), status, false};
}

core::MatcherSet path_matcher(std::string path) {
  core::MatcherSet set;
  set.paths = {std::move(path)};
  return set;
}

core::HeaderOp header_op(core::HeaderOp::Op op, std::string name, std::string value = {},
                         std::string search = {}) {
  core::HeaderOp h;
  h.op = op;
  h.name = std::move(name);
  h.value = core::Template::parse(value);
  h.search = std::move(search);
  return h;
}

// Runs one handler on `ex` and returns its result.
HandlerResult run_handler(const core::Handler& handler, RequestContext& ctx) {
  const auto compiled = make_route_handler(route_of(handler));
  return run_awaitable(compiled->handle(ctx));
}

struct Fixture : ::testing::Test {
  FakeExchange ex;
  RequestContext ctx{ex, test_worker()};
  HandlerResult run(const core::Handler& handler) { return run_handler(handler, ctx); }
};

// ------------------------------------------------------------ Headers

TEST(Headers, FindsNamesIgnoringCase) {
  Headers h;
  h.add("Content-Type", "text/plain");
  ASSERT_NE(h.find("content-type"), nullptr);
  EXPECT_EQ(*h.find("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(h.find("Content-Length"), nullptr);
}

TEST(Headers, JoinsRepeatedFieldsWithCommaSpace) {
  Headers h;
  h.add("Accept", "a");
  h.add("X", "y");
  h.add("accept", "b");
  EXPECT_EQ(h.joined("Accept"), "a, b");
  EXPECT_EQ(h.joined("Missing"), "");
}

TEST(Headers, SetReplacesEveryFieldOfThatName) {
  Headers h;
  h.add("A", "1");
  h.add("B", "2");
  h.add("a", "3");
  h.set("A", "x");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.fields()[0].value, "x");
  EXPECT_EQ(h.fields()[1].name, "B");
}

TEST(Headers, RemovesByNameAndByPrefix) {
  Headers h;
  h.add("X-One", "1");
  h.add("x-two", "2");
  h.add("Other", "3");
  EXPECT_EQ(h.remove_prefix("X-"), 2u);
  EXPECT_EQ(h.remove("other"), 1u);
  EXPECT_EQ(h.size(), 0u);
}

TEST(HttpRequest, UriAddsTheQueryOnlyWhenThereIsOne) {
  HttpRequest r;
  r.path = "/a";
  EXPECT_EQ(r.uri(), "/a");
  r.query = "b=1";
  EXPECT_EQ(r.uri(), "/a?b=1");
}

// ------------------------------------------------------------ respond, redir

using RespondTest = Fixture;

TEST_F(RespondTest, WritesStatusBodyAndPlainTextType) {
  EXPECT_EQ(run(respond("hello {host}", 201)), HandlerResult::kDone);
  ASSERT_TRUE(ex.sink.head);
  EXPECT_EQ(ex.sink.head->status, 201);
  EXPECT_EQ(ex.sink.body, "hello example.com");
  EXPECT_EQ(ex.sink.head->content_length, 17u);
  EXPECT_EQ(ex.sink.header("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_TRUE(ex.sink.finished);
}

TEST_F(RespondTest, LabelsJsonBodiesAsJson) {
  run(respond(R"( {"ok": true} )"));
  EXPECT_EQ(ex.sink.header("Content-Type"), "application/json");
}

TEST_F(RespondTest, SendsNoContentTypeWithoutABody) {
  run(respond("", 404));
  EXPECT_EQ(ex.sink.head->status, 404);
  EXPECT_FALSE(ex.sink.head->headers.contains("Content-Type"));
  EXPECT_EQ(ex.sink.head->content_length, 0u);
}

TEST_F(RespondTest, SendsOnlyTheHeadToHeadRequests) {
  ex.head.method = "HEAD";
  run(respond("body"));
  EXPECT_EQ(ex.sink.head->content_length, 4u);
  EXPECT_EQ(ex.sink.body, "");
}

TEST_F(RespondTest, ClosesTheConnectionWhenAsked) {
  core::RespondHandler h = respond("bye");
  h.close = true;
  run(h);
  EXPECT_TRUE(ex.closed_after);
}

TEST_F(RespondTest, AbortsWhenTheClientIsGone) {
  ex.sink.fail_writes = std::make_error_code(std::errc::broken_pipe);
  run(respond("x"));
  EXPECT_TRUE(ex.sink.aborted);
}

using RedirTest = Fixture;

TEST_F(RedirTest, SetsLocationAndStatus) {
  ex.target("/old?x=1");
  run(core::RedirHandler{core::Template::parse("https://{host}{uri}"), 301, false});
  EXPECT_EQ(ex.sink.head->status, 301);
  EXPECT_EQ(ex.sink.header("Location"), "https://example.com/old?x=1");
  EXPECT_EQ(ex.sink.body, "");
}

TEST_F(RedirTest, WritesAnEscapedHtmlPageInHtmlMode) {
  run(core::RedirHandler{core::Template::parse("/new?a=1&b=\"2\""), 200, true});
  EXPECT_EQ(ex.sink.head->status, 200);
  EXPECT_EQ(ex.sink.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(ex.sink.body.find("url=/new?a=1&amp;b=&quot;2&quot;"), std::string::npos);
  EXPECT_EQ(ex.sink.body.find("b=\"2\""), std::string::npos);
}

// ------------------------------------------------------------ header, request_header

using HeaderTest = Fixture;

TEST_F(HeaderTest, RequestOperationsApplyAtOnce) {
  using Op = core::HeaderOp::Op;
  ex.head.headers.add("X-Remove-Me", "1");
  ex.head.headers.add("X-Old", "abcabc");
  core::HeadersHandler h{
      true,
      {header_op(Op::kSet, "X-Host", "{host}"), header_op(Op::kDelete, "X-Remove-*"),
       header_op(Op::kReplace, "X-Old", "z", "b")}};
  EXPECT_EQ(run(h), HandlerResult::kNext);
  EXPECT_EQ(*ex.head.headers.find("X-Host"), "example.com");
  EXPECT_FALSE(ex.head.headers.contains("X-Remove-Me"));
  EXPECT_EQ(*ex.head.headers.find("X-Old"), "azcazc");
  EXPECT_TRUE(ctx.response_header_ops.empty());
}

TEST_F(HeaderTest, ResponseOperationsWaitForTheHead) {
  using Op = core::HeaderOp::Op;
  core::HeadersHandler h{false, {header_op(Op::kSet, "X-Frame-Options", "DENY")}};
  const auto compiled = make_route_handler(route_of(h));
  EXPECT_EQ(run_awaitable(compiled->handle(ctx)), HandlerResult::kNext);
  ASSERT_EQ(ctx.response_header_ops.size(), 1u);
  Headers response;
  response.add("x-frame-options", "SAMEORIGIN");
  apply_response_header_ops(ctx, response);
  ASSERT_EQ(response.size(), 1u);
  EXPECT_EQ(response.fields()[0].value, "DENY");
}

struct OpCase {
  core::HeaderOp op;
  std::vector<Header> before;
  std::vector<Header> after;
};

class HeaderOps : public Fixture, public ::testing::WithParamInterface<OpCase> {};

TEST_P(HeaderOps, ChangeHeadersAsCaddyDoes) {
  Headers headers;
  for (const Header& h : GetParam().before)
    headers.add(h.name, h.value);
  apply_header_op(GetParam().op, headers, ctx);
  ASSERT_EQ(headers.size(), GetParam().after.size());
  for (size_t i = 0; i < headers.size(); ++i) {
    EXPECT_EQ(headers.fields()[i].name, GetParam().after[i].name);
    EXPECT_EQ(headers.fields()[i].value, GetParam().after[i].value);
  }
}

using Op = core::HeaderOp::Op;
INSTANTIATE_TEST_SUITE_P(
    Cases, HeaderOps,
    ::testing::Values(
        OpCase{header_op(Op::kSet, "A", "x"), {{"A", "1"}, {"a", "2"}}, {{"A", "x"}}},
        OpCase{header_op(Op::kAdd, "A", "x"), {{"A", "1"}}, {{"A", "1"}, {"A", "x"}}},
        OpCase{header_op(Op::kDelete, "A"), {{"A", "1"}, {"B", "2"}}, {{"B", "2"}}},
        OpCase{header_op(Op::kDelete, "X-*"), {{"X-A", "1"}, {"B", "2"}}, {{"B", "2"}}},
        OpCase{header_op(Op::kDelete, "*-Id"), {{"X-Id", "1"}, {"Idx", "2"}}, {{"Idx", "2"}}},
        OpCase{header_op(Op::kDelete, "*pow*"), {{"X-Powered-By", "1"}, {"B", "2"}}, {{"B", "2"}}},
        OpCase{header_op(Op::kReplace, "Location", "https://", "http://"),
               {{"Location", "http://a/http://"}},
               {{"Location", "https://a/https://"}}},
        OpCase{header_op(Op::kReplace, "*", "b", "a"),
               {{"X", "a"}, {"Y", "aa"}},
               {{"X", "b"}, {"Y", "bb"}}},
        OpCase{header_op(Op::kSet, "X-Uri", "{method} {uri}"), {}, {{"X-Uri", "GET /"}}}));

// ------------------------------------------------------------ request_body

using RequestBodyTest = Fixture;

TEST_F(RequestBodyTest, RejectsAnAnnouncedLengthOverTheLimitWith413) {
  ex.head.content_length = 11;
  EXPECT_EQ(run(core::RequestBodyHandler{10}), HandlerResult::kError);
  EXPECT_EQ(ctx.error_status, 413);
  EXPECT_TRUE(ex.closed_after);
}

TEST_F(RequestBodyTest, PassesBodiesWithinTheLimitAndRemembersIt) {
  ex.head.content_length = 10;
  EXPECT_EQ(run(core::RequestBodyHandler{10}), HandlerResult::kNext);
  EXPECT_EQ(ctx.max_body_size, 10u);
}

TEST_F(RequestBodyTest, LimitedSourceFailsOnceAChunkedBodyGrowsTooLarge) {
  ex.body_source.chunks = {"12345", "67890", "x"};
  ctx.max_body_size = 10;
  LimitedBodySource body(ex.body_source, ctx);
  BodySource::Chunk chunk;
  EXPECT_FALSE(run_awaitable(body.read(chunk)));
  EXPECT_FALSE(run_awaitable(body.read(chunk)));
  EXPECT_EQ(run_awaitable(body.read(chunk)), make_error_code(handler_errc::kBodyTooLarge));
  EXPECT_EQ(ctx.error_status, 413);
  EXPECT_EQ(run_awaitable(body.read(chunk)), make_error_code(handler_errc::kBodyTooLarge));
  EXPECT_EQ(ex.body_source.reads, 3u);  // nothing more is read from the client
}

TEST_F(RequestBodyTest, LimitedSourceCountsBytesWithoutALimit) {
  ex.body_source.chunks = {"abc", "de"};
  LimitedBodySource body(ex.body_source, ctx);
  BodySource::Chunk chunk;
  do {
    ASSERT_FALSE(run_awaitable(body.read(chunk)));
  } while (!chunk.end);
  EXPECT_EQ(body.bytes_read(), 5u);
}

// ------------------------------------------------------------ abort, error

using AbortTest = Fixture;

TEST_F(AbortTest, AbortsWithoutAResponse) {
  EXPECT_EQ(run(core::AbortHandler{}), HandlerResult::kDone);
  EXPECT_TRUE(ex.sink.aborted);
  EXPECT_FALSE(ex.sink.head);
  EXPECT_TRUE(ex.closed_after);
}

using ErrorTest = Fixture;

TEST_F(ErrorTest, SetsStatusAndExpandedMessage) {
  ex.target("/missing");
  EXPECT_EQ(run(core::ErrorHandler{core::Template::parse("no {path}"), 404}),
            HandlerResult::kError);
  EXPECT_EQ(ctx.error_status, 404);
  EXPECT_EQ(ctx.error_message, "no /missing");
  EXPECT_FALSE(ex.sink.head);
}

// ------------------------------------------------------------ uri

struct UriCase {
  core::UriHandler::Op op;
  const char* find;
  const char* replace;
  int limit;
  const char* before;
  const char* after;
};

class UriTest : public Fixture, public ::testing::WithParamInterface<UriCase> {};

TEST_P(UriTest, RewritesThePath) {
  const UriCase& c = GetParam();
  ex.target(c.before);
  EXPECT_EQ(run(core::UriHandler{c.op, c.find, c.replace, c.limit}), HandlerResult::kNext);
  EXPECT_EQ(ex.head.uri(), c.after);
}

using UriOp = core::UriHandler::Op;
INSTANTIATE_TEST_SUITE_P(
    Cases, UriTest,
    ::testing::Values(UriCase{UriOp::kStripPrefix, "/api", "", 0, "/api/users?x=1", "/users?x=1"},
                      UriCase{UriOp::kStripPrefix, "api", "", 0, "/api/users", "/users"},
                      UriCase{UriOp::kStripPrefix, "/api", "", 0, "/api", "/"},
                      UriCase{UriOp::kStripPrefix, "/api", "", 0, "/API/x", "/x"},
                      UriCase{UriOp::kStripPrefix, "/api", "", 0, "/%61pi/x", "/x"},
                      UriCase{UriOp::kStripPrefix, "/api", "", 0, "//api/x", "/x"},
                      UriCase{UriOp::kStripPrefix, "/api", "", 0, "/other/x", "/other/x"},
                      UriCase{UriOp::kStripSuffix, ".html", "", 0, "/page.html", "/page"},
                      UriCase{UriOp::kStripSuffix, ".html", "", 0, "/page.htm", "/page.htm"},
                      UriCase{UriOp::kReplace, "a", "b", 0, "/aaa?a=1", "/bbb?b=1"},
                      UriCase{UriOp::kReplace, "a", "b", 2, "/aaa", "/bba"}));

// ------------------------------------------------------------ rewrite

struct RewriteCase {
  const char* to;
  const char* before;
  const char* after;
};

class RewriteTest : public Fixture, public ::testing::WithParamInterface<RewriteCase> {};

TEST_P(RewriteTest, RewritesPathAndQueryLikeCaddy) {
  ex.target(GetParam().before);
  EXPECT_EQ(run(core::RewriteHandler{core::Template::parse(GetParam().to)}), HandlerResult::kNext);
  EXPECT_EQ(ex.head.uri(), GetParam().after) << GetParam().to;
}

INSTANTIATE_TEST_SUITE_P(Cases, RewriteTest,
                         ::testing::Values(RewriteCase{"/index.html", "/a?x=1", "/index.html?x=1"},
                                           RewriteCase{"/x?{query}", "/a?x=1", "/x?x=1"},
                                           RewriteCase{"/x?a=b", "/a?x=1", "/x?a=b"},
                                           RewriteCase{"/x?{query}&a=b", "/a", "/x?a=b"},
                                           RewriteCase{"/x?{query}&a=b", "/a?c=d", "/x?c=d&a=b"},
                                           RewriteCase{"?p={path}", "/a%20b/c",
                                                       "/a%20b/c?p=%2Fa+b%2Fc"},
                                           RewriteCase{"/x?", "/a?x=1", "/x"},
                                           RewriteCase{"index.php", "/a", "/index.php"},
                                           RewriteCase{"{path}/", "/dir", "/dir/"}));

// ------------------------------------------------------------ route lists

asio::awaitable<HandlerResult> run_list(const RouteList& list, RequestContext& ctx) {
  co_return co_await list.run(ctx);
}

TEST(RouteList, RunsOnlyTheFirstMatchingRouteOfAGroup) {
  const RouteList list = RouteList::compile({
      route_of(respond("api"), path_matcher("/api/*"), "handle_0"),
      route_of(respond("catch-all"), std::nullopt, "handle_0"),
  });
  FakeExchange ex;
  ex.target("/api/x");
  RequestContext ctx(ex, test_worker());
  EXPECT_EQ(run_awaitable(run_list(list, ctx)), HandlerResult::kDone);
  EXPECT_EQ(ex.sink.body, "api");
}

TEST(RouteList, SkipsTheRestOfAGroupEvenWhenTheMatchPassesOn) {
  using HOp = core::HeaderOp::Op;
  core::HeadersHandler first{true, {header_op(HOp::kSet, "X-Seen", "first")}};
  core::HeadersHandler second{true, {header_op(HOp::kSet, "X-Seen", "second")}};
  const RouteList list = RouteList::compile({
      route_of(core::SubrouteHandler{{route_of(first)}}, std::nullopt, "handle_0"),
      route_of(core::SubrouteHandler{{route_of(second)}}, std::nullopt, "handle_0"),
  });
  FakeExchange ex;
  RequestContext ctx(ex, test_worker());
  EXPECT_EQ(run_awaitable(run_list(list, ctx)), HandlerResult::kNext);
  EXPECT_EQ(*ex.head.headers.find("X-Seen"), "first");
}

TEST(RouteList, EvaluatesMatchersAfterEarlierRewrites) {
  const RouteList list = RouteList::compile({
      route_of(core::RewriteHandler{core::Template::parse("/rewritten")}),
      route_of(respond("seen"), path_matcher("/rewritten")),
      route_of(respond("not seen")),
  });
  FakeExchange ex;
  RequestContext ctx(ex, test_worker());
  run_awaitable(run_list(list, ctx));
  EXPECT_EQ(ex.sink.body, "seen");
}

TEST(RouteList, HandlePathStripsItsPrefixBeforeItsRoutes) {
  // What the adapter makes of `handle_path /api/* { respond {path} }`.
  core::UriHandler strip{core::UriHandler::Op::kStripPrefix, "/api", "", 0};
  const RouteList list = RouteList::compile(
      {route_of(core::SubrouteHandler{{route_of(strip), route_of(respond("{path}"))}},
                path_matcher("/api/*"))});
  FakeExchange ex;
  ex.target("/api/users/7");
  RequestContext ctx(ex, test_worker());
  run_awaitable(run_list(list, ctx));
  EXPECT_EQ(ex.sink.body, "/users/7");
}

TEST(RouteList, ReturnsNextWhenNoRouteFinishes) {
  const RouteList list = RouteList::compile({route_of(respond("x"), path_matcher("/only"))});
  FakeExchange ex;
  RequestContext ctx(ex, test_worker());
  EXPECT_EQ(run_awaitable(run_list(list, ctx)), HandlerResult::kNext);
  EXPECT_FALSE(ex.sink.head);
}

TEST(RouteList, RefusesHandlersTheProxyDoesNotImplement) {
  core::Route r = route_of(core::BasicAuthHandler{});
  r.directive = "basic_auth";
  r.origin = {"Caddyfile", 7};
  try {
    RouteList::compile({r});
    FAIL() << "basic_auth compiled";
  } catch (const core::ConfigError& e) {
    EXPECT_EQ(e.diagnostics().items().front().str(),
              "Caddyfile:7: `basic_auth` is not supported by the proxy yet");
  }
}

TEST(RouteList, NamesTheRouteOfAnInvalidMatcher) {
  core::MatcherSet bad;
  bad.protocol = "gopher";
  core::Route r = route_of(respond("x"), bad);
  r.origin = {"Caddyfile", 3};
  EXPECT_THROW(RouteList::compile({r}), core::ConfigError);
}

TEST(RootTest, SetsTheRootFromATemplate) {
  FakeExchange ex;
  RequestContext ctx(ex, test_worker());
  EXPECT_EQ(run_handler(core::RootHandler{core::Template::parse("/srv/{host}")}, ctx),
            HandlerResult::kNext);
  EXPECT_EQ(ctx.root, "/srv/example.com");
}

}  // namespace
}  // namespace usher::proxy
