#include "proxy/reverse_proxy.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/openssl.h"
#include "proxy/health_check.h"
#include "proxy/load_balancer.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker_context.h"
#include "tests/proxy/upstream_test_exchange.h"

namespace usher::proxy {
namespace {

using namespace std::chrono_literals;
using testing::ReceivedRequest;
using testing::RequestReader;
using testing::TestExchange;
using testing::TestUpstream;
using tcp = asio::ip::tcp;

// Longest a single test may run its io_context; a hang fails instead of blocking ctest.
constexpr auto kTestDeadline = 20s;

/// Serves every request on a connection with `response` until the proxy closes it.
TestUpstream::Serve answer(std::string response) {
  return [response](tcp::socket& socket, TestUpstream& self) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    while (true) {
      ReceivedRequest request;
      if (!co_await reader.read(request)) co_return;
      self.requests.push_back(std::move(request));
      if (!co_await testing::send_all(socket, response)) co_return;
    }
  };
}

core::Upstream upstream_at(const std::string& address) {
  core::Upstream u;
  u.scheme = "http";
  u.host = address.substr(0, address.rfind(':'));
  u.port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  u.original = address;
  return u;
}

core::ReverseProxyHandler proxy_to(const std::vector<std::string>& addresses) {
  core::ReverseProxyHandler config;
  for (const auto& a : addresses)
    config.upstreams.push_back(upstream_at(a));
  return config;
}

core::HeaderOp header_op(core::HeaderOp::Op op, std::string name, std::string value = {}) {
  core::HeaderOp h;
  h.op = op;
  h.name = std::move(name);
  h.value = core::Template::parse(value);
  return h;
}

bool head_has(const std::string& head, std::string_view line) {
  return head.find(std::string(line) + "\r\n") != std::string::npos;
}

bool head_mentions(const std::string& head, std::string_view text) {
  std::string lower = head;
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find(text) != std::string::npos;
}

class ReverseProxyTest : public ::testing::Test {
 protected:
  struct Outcome {
    HandlerResult result = HandlerResult::kNext;
    int error_status = 0;
    bool completed = false;
  };

  /// Runs one request through `handler` on the test's io_context.
  Outcome run(const RouteHandler& handler, TestExchange& exchange) {
    Outcome outcome;
    RequestContext ctx(exchange, worker);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          outcome.result = co_await handler.handle(ctx);
          outcome.error_status = ctx.error_status;
          outcome.completed = true;
          io.stop();
        },
        asio::detached);
    io.restart();
    io.run_for(kTestDeadline);
    EXPECT_TRUE(outcome.completed) << "the handler did not finish";
    return outcome;
  }

  /// Lets the io_context run for a moment (connections closing, pools noticing).
  void settle() {
    io.restart();
    io.run_for(50ms);
  }

  asio::io_context io;
  WorkerContext worker{io, 0};
};

// ------------------------------------------------------------ relaying

TEST_F(ReverseProxyTest, RelaysAGetAndKeepsTheHostHeader) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-App: 1\r\n\r\nhello"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  ex.req.path = "/a/b";
  ex.req.query = "x=1";
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.result, HandlerResult::kDone);
  ASSERT_TRUE(ex.sink.head);
  EXPECT_EQ(ex.sink.head->status, 200);
  EXPECT_EQ(ex.sink.head->content_length, 5u);
  EXPECT_EQ(ex.sink.header("X-App"), "1");
  EXPECT_EQ(ex.sink.body, "hello");
  EXPECT_TRUE(ex.sink.finished);
  ASSERT_EQ(up.requests.size(), 1u);
  EXPECT_EQ(up.requests[0].head.substr(0, 25), "GET /a/b?x=1 HTTP/1.1\r\nHo");
  EXPECT_TRUE(head_has(up.requests[0].head, "Host: example.com"));
}

TEST_F(ReverseProxyTest, RelaysAPostBodyWithItsLength) {
  TestUpstream up(io, answer("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  ex.req.method = "POST";
  ex.with_body({"name=", "usher"});
  run(*handler, ex);
  ASSERT_TRUE(ex.sink.head);
  EXPECT_EQ(ex.sink.head->status, 201);
  ASSERT_EQ(up.requests.size(), 1u);
  EXPECT_TRUE(head_has(up.requests[0].head, "Content-Length: 10"));
  EXPECT_EQ(up.requests[0].body, "name=usher");
}

TEST_F(ReverseProxyTest, StreamsChunkedBodiesBothWays) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  ex.req.method = "PUT";
  ex.req.has_body = true;  // length unknown: it arrived chunked
  ex.body_source.generated = 40'000;
  run(*handler, ex);
  ASSERT_EQ(up.requests.size(), 1u);
  EXPECT_TRUE(head_has(up.requests[0].head, "Transfer-Encoding: chunked"));
  EXPECT_EQ(up.requests[0].body.size(), 40'000u);
  ASSERT_TRUE(ex.sink.head);
  EXPECT_FALSE(ex.sink.head->content_length.has_value());
  EXPECT_TRUE(ex.sink.header("Transfer-Encoding").empty());
  EXPECT_EQ(ex.sink.body, "hello world");
  ASSERT_TRUE(ex.sink.trailers);
  EXPECT_EQ(*ex.sink.trailers->find("X-Sum"), "42");
  // A body of unknown length is flushed as it arrives.
  EXPECT_GT(ex.sink.flushes, 0);
}

TEST_F(ReverseProxyTest, SendsASmallBodyOfUnknownLengthWithAContentLength) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  ex.req.method = "POST";
  ex.with_body({"abc", "def"}, /*chunked=*/true);
  run(*handler, ex);
  ASSERT_EQ(up.requests.size(), 1u);
  EXPECT_TRUE(head_has(up.requests[0].head, "Content-Length: 6"));
  EXPECT_EQ(up.requests[0].body, "abcdef");
}

TEST_F(ReverseProxyTest, RelaysInterimResponsesBeforeTheFinalOne) {
  TestUpstream up(io, answer("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                             "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  run(*handler, ex);
  ASSERT_EQ(ex.sink.interim.size(), 1u);  // 100 is the proxy's own business
  EXPECT_EQ(ex.sink.interim[0].status, 103);
  EXPECT_EQ(*ex.sink.interim[0].headers.find("Link"), "</s.css>; rel=preload");
  ASSERT_TRUE(ex.sink.head);
  EXPECT_EQ(ex.sink.head->status, 200);
  EXPECT_EQ(ex.sink.body, "ok");
}

TEST_F(ReverseProxyTest, AnswersHeadWithTheDeclaredLengthAndReusesTheConnection) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange head_request;
  head_request.req.method = "HEAD";
  run(*handler, head_request);
  ASSERT_TRUE(head_request.sink.head);
  EXPECT_EQ(head_request.sink.head->content_length, 1234u);
  EXPECT_TRUE(head_request.sink.body.empty());
  EXPECT_TRUE(head_request.sink.finished);
  TestExchange again;
  again.req.method = "HEAD";
  run(*handler, again);
  EXPECT_TRUE(again.sink.finished);
  EXPECT_EQ(up.connections, 1);
  EXPECT_EQ(up.requests.size(), 2u);
}

TEST_F(ReverseProxyTest, RelaysNoContentWithoutABody) {
  TestUpstream up(io, answer("HTTP/1.1 204 No Content\r\n\r\n"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  run(*handler, ex);
  ASSERT_TRUE(ex.sink.head);
  EXPECT_EQ(ex.sink.head->status, 204);
  EXPECT_FALSE(ex.sink.head->content_length.has_value());
  EXPECT_TRUE(ex.sink.finished);
  EXPECT_EQ(worker.upstream_pools().idle("tcp:" + up.address()), 1u);
}

TEST_F(ReverseProxyTest, RelaysABodyThatRunsToClose) {
  TestUpstream up(io, [](tcp::socket& socket, TestUpstream& self) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    ReceivedRequest request;
    if (!co_await reader.read(request)) co_return;
    self.requests.push_back(request);
    co_await testing::send_all(socket, "HTTP/1.0 200 OK\r\n\r\nuntil the end");
    socket.close();
  });
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  run(*handler, ex);
  EXPECT_EQ(ex.sink.body, "until the end");
  EXPECT_TRUE(ex.sink.finished);
  EXPECT_FALSE(ex.sink.aborted);
}

// ------------------------------------------------------------ failures

TEST_F(ReverseProxyTest, AbortsTheClientWhenTheUpstreamClosesMidBody) {
  TestUpstream up(io, [](tcp::socket& socket, TestUpstream&) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    ReceivedRequest request;
    if (!co_await reader.read(request)) co_return;
    co_await testing::send_all(socket, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten!!");
    socket.close();
  });
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.result, HandlerResult::kDone);
  EXPECT_EQ(ex.sink.body, "only ten!!");
  EXPECT_TRUE(ex.sink.aborted);
  EXPECT_FALSE(ex.sink.finished);
}

TEST_F(ReverseProxyTest, AnswersBadGatewayWhenTheUpstreamRefuses) {
  auto handler =
      make_reverse_proxy_handler(proxy_to({"127.0.0.1:" + std::to_string(testing::dead_port())}));
  TestExchange ex;
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.result, HandlerResult::kError);
  EXPECT_EQ(out.error_status, 502);
  EXPECT_FALSE(ex.sink.head);
}

TEST_F(ReverseProxyTest, AnswersBadGatewayForAMalformedResponse) {
  TestUpstream up(
      io, answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.error_status, 502);
}

TEST_F(ReverseProxyTest, AnswersGatewayTimeoutWhenNoHeadArrivesInTime) {
  TestUpstream up(io, [](tcp::socket& socket, TestUpstream&) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    ReceivedRequest request;
    co_await reader.read(request);
    co_await reader.read(request);  // never answers; waits for the proxy to give up
  });
  auto config = proxy_to({up.address()});
  config.transport.response_header_timeout = 200ms;
  auto handler = make_reverse_proxy_handler(config);
  TestExchange ex;
  const auto start = std::chrono::steady_clock::now();
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.result, HandlerResult::kError);
  EXPECT_EQ(out.error_status, 504);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(ReverseProxyTest, RetriesOnTheNextUpstreamWhenOneRefuses) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  auto config = proxy_to({"127.0.0.1:" + std::to_string(testing::dead_port()), up.address()});
  config.load_balancing.policy = "first";
  config.load_balancing.retries = 1;
  config.load_balancing.try_interval = 0ms;
  auto handler = make_reverse_proxy_handler(config);
  TestExchange ex;
  ex.req.method = "POST";  // nothing was sent to the dead one: safe for any method
  ex.with_body({"payload"});
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.result, HandlerResult::kDone);
  EXPECT_EQ(ex.sink.body, "ok");
  ASSERT_EQ(up.requests.size(), 1u);
  EXPECT_EQ(up.requests[0].body, "payload");
}

TEST_F(ReverseProxyTest, DoesNotRetryWithoutARetryBudget) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  auto config = proxy_to({"127.0.0.1:" + std::to_string(testing::dead_port()), up.address()});
  config.load_balancing.policy = "first";
  auto handler = make_reverse_proxy_handler(config);
  TestExchange ex;
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.error_status, 502);
  EXPECT_TRUE(up.requests.empty());
}

TEST_F(ReverseProxyTest, KeepsRetryingOnlyForTheTryDuration) {
  auto config = proxy_to({"127.0.0.1:" + std::to_string(testing::dead_port())});
  config.load_balancing.try_duration = 300ms;
  config.load_balancing.try_interval = 50ms;
  auto handler = make_reverse_proxy_handler(config);
  TestExchange ex;
  const auto start = std::chrono::steady_clock::now();
  Outcome out = run(*handler, ex);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(out.error_status, 502);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST_F(ReverseProxyTest, AbortsWithoutBlamingTheUpstreamWhenTheClientBodyFails) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto config = proxy_to({up.address()});
  config.passive_health.fail_duration = 60s;
  auto handler = make_reverse_proxy_handler(config);
  TestExchange broken;
  broken.req.method = "POST";
  broken.with_body({"never arrives"});
  broken.body_source.fail_with = asio::error::connection_aborted;
  Outcome out = run(*handler, broken);
  EXPECT_EQ(out.result, HandlerResult::kDone);
  EXPECT_EQ(out.error_status, 0);
  EXPECT_TRUE(broken.sink.aborted);
  TestExchange next;  // the upstream is still in rotation
  run(*handler, next);
  ASSERT_TRUE(next.sink.head);
  EXPECT_EQ(next.sink.head->status, 200);
}

TEST_F(ReverseProxyTest, AnswersExpectContinueItselfAndStreamsTheBody) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  ex.req.method = "PUT";
  ex.req.expect_continue = true;
  ex.req.headers.add("Expect", "100-continue");
  ex.with_body({"big ", "upload"});
  run(*handler, ex);
  ASSERT_EQ(up.requests.size(), 1u);
  EXPECT_FALSE(head_mentions(up.requests[0].head, "expect"));
  EXPECT_TRUE(head_has(up.requests[0].head, "Content-Length: 10"));
  EXPECT_EQ(up.requests[0].body, "big upload");
}

TEST_F(ReverseProxyTest, PassiveHealthTakesAFailingUpstreamOutOfRotation) {
  TestUpstream bad(io, answer("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"));
  TestUpstream good(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto config = proxy_to({bad.address(), good.address()});
  config.load_balancing.policy = "first";
  config.passive_health.fail_duration = 60s;
  config.passive_health.max_fails = 1;
  config.passive_health.unhealthy_status = {5};
  auto handler = make_reverse_proxy_handler(config);
  TestExchange first;
  run(*handler, first);
  ASSERT_TRUE(first.sink.head);
  EXPECT_EQ(first.sink.head->status, 500);  // relayed, and counted
  TestExchange second;
  run(*handler, second);
  ASSERT_TRUE(second.sink.head);
  EXPECT_EQ(second.sink.head->status, 200);
  EXPECT_EQ(bad.requests.size(), 1u);
  EXPECT_EQ(good.requests.size(), 1u);
}

TEST_F(ReverseProxyTest, AnswersServiceUnavailableWhenEveryUpstreamIsDown) {
  TestUpstream bad(io, answer("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"));
  auto config = proxy_to({bad.address()});
  config.passive_health.fail_duration = 60s;
  config.passive_health.unhealthy_status = {502};
  auto handler = make_reverse_proxy_handler(config);
  TestExchange first;
  run(*handler, first);
  TestExchange second;
  Outcome out = run(*handler, second);
  EXPECT_EQ(out.error_status, 503);
  EXPECT_EQ(bad.requests.size(), 1u);
}

TEST_F(ReverseProxyTest, RetriesAStalePooledConnectionOnceOnAFreshOne) {
  // The first connection serves one request, then drops the second one
  // unanswered, as an upstream closing an idle connection at the wrong moment.
  TestUpstream up(io, [](tcp::socket& socket, TestUpstream& self) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    const bool first_connection = self.connections == 1;
    for (int n = 0;; ++n) {
      ReceivedRequest request;
      if (!co_await reader.read(request)) co_return;
      self.requests.push_back(request);
      if (first_connection && n == 1) co_return;  // closes without a byte
      co_await testing::send_all(socket, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
  });
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange first;
  run(*handler, first);
  TestExchange second;
  second.req.method = "POST";
  second.with_body({"once"});
  Outcome out = run(*handler, second);
  EXPECT_EQ(out.result, HandlerResult::kDone);
  ASSERT_TRUE(second.sink.head);
  EXPECT_EQ(second.sink.head->status, 200);
  EXPECT_EQ(up.connections, 2);
  ASSERT_EQ(up.requests.size(), 3u);
  EXPECT_EQ(up.requests[2].body, "once");
}

TEST_F(ReverseProxyTest, DropsPooledConnectionsTheUpstreamClosed) {
  TestUpstream up(io, [](tcp::socket& socket, TestUpstream& self) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    ReceivedRequest request;
    if (!co_await reader.read(request)) co_return;
    self.requests.push_back(request);
    co_await testing::send_all(socket, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    socket.close();  // keep-alive announced, then closed anyway
  });
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  run(*handler, ex);
  io.restart();
  io.run_for(UpstreamConnection::kIdleWatchDelay);  // the pool watches idle connections after it
  settle();
  EXPECT_EQ(worker.upstream_pools().idle("tcp:" + up.address()), 0u);
}

// ------------------------------------------------------------ headers

TEST_F(ReverseProxyTest, StripsHopByHopHeadersBothWays) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nConnection: X-Resp-Private\r\n"
                             "X-Resp-Private: 1\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n"
                             "Content-Length: 0\r\n\r\n"));
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  ex.req.headers.add("Connection", "X-Private, keep-alive");
  ex.req.headers.add("X-Private", "secret");
  ex.req.headers.add("Keep-Alive", "timeout=5");
  ex.req.headers.add("Proxy-Authorization", "Basic eDp5");
  ex.req.headers.add("TE", "trailers");
  ex.req.headers.add("Upgrade", "h2c");
  ex.req.headers.add("X-Normal", "1");
  run(*handler, ex);
  ASSERT_EQ(up.requests.size(), 1u);
  const std::string& head = up.requests[0].head;
  for (std::string_view gone :
       {"x-private", "keep-alive", "proxy-authorization", "\r\nte:", "upgrade", "connection"})
    EXPECT_FALSE(head_mentions(head, gone)) << gone;
  EXPECT_TRUE(head_has(head, "X-Normal: 1"));
  ASSERT_TRUE(ex.sink.head);
  EXPECT_TRUE(ex.sink.header("X-Resp-Private").empty());
  EXPECT_TRUE(ex.sink.header("Keep-Alive").empty());
  EXPECT_TRUE(ex.sink.header("Connection").empty());
  EXPECT_EQ(ex.sink.header("X-Kept"), "yes");
}

TEST_F(ReverseProxyTest, SetsForwardedHeadersAndDropsUntrustedOnes) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  struct Case {
    std::vector<std::string> trusted;
    std::string xff, xfp, xfh;
  };
  const std::vector<Case> cases = {
      {{}, "192.0.2.10", "http", "example.com"},
      {{"192.0.2.0/24"}, "203.0.113.7, 192.0.2.10", "https", "public.example"},
      {{"10.0.0.0/8"}, "192.0.2.10", "http", "example.com"},
  };
  for (const Case& c : cases) {
    auto config = proxy_to({up.address()});
    config.trusted_proxies = c.trusted;
    auto handler = make_reverse_proxy_handler(config);
    TestExchange ex;
    ex.req.headers.add("X-Forwarded-For", "203.0.113.7");
    ex.req.headers.add("X-Forwarded-Proto", "https");
    ex.req.headers.add("X-Forwarded-Host", "public.example");
    run(*handler, ex);
    ASSERT_FALSE(up.requests.empty());
    const std::string& head = up.requests.back().head;
    EXPECT_TRUE(head_has(head, "X-Forwarded-For: " + c.xff)) << head;
    EXPECT_TRUE(head_has(head, "X-Forwarded-Proto: " + c.xfp)) << head;
    EXPECT_TRUE(head_has(head, "X-Forwarded-Host: " + c.xfh)) << head;
    EXPECT_EQ(head.find("X-Forwarded-For", head.find("X-Forwarded-For") + 1), std::string::npos);
  }
}

TEST_F(ReverseProxyTest, AppliesHeaderUpAndHeaderDown) {
  TestUpstream up(io, answer("HTTP/1.1 200 OK\r\nServer: app/1.0\r\nContent-Length: 0\r\n\r\n"));
  using Op = core::HeaderOp::Op;
  auto config = proxy_to({up.address()});
  config.header_up = {header_op(Op::kSet, "X-Up", "via {upstream_hostport}"),
                      header_op(Op::kDelete, "X-Remove"), header_op(Op::kSet, "Host", "backend")};
  config.header_down = {header_op(Op::kSet, "X-Down", "yes"), header_op(Op::kDelete, "Server")};
  auto handler = make_reverse_proxy_handler(config);
  TestExchange ex;
  ex.req.headers.add("X-Remove", "1");
  run(*handler, ex);
  ASSERT_EQ(up.requests.size(), 1u);
  const std::string& head = up.requests[0].head;
  EXPECT_TRUE(head_has(head, "X-Up: via " + up.address())) << head;
  EXPECT_TRUE(head_has(head, "Host: backend")) << head;
  EXPECT_FALSE(head_mentions(head, "x-remove"));
  ASSERT_TRUE(ex.sink.head);
  EXPECT_EQ(ex.sink.header("X-Down"), "yes");
  EXPECT_TRUE(ex.sink.header("Server").empty());
}

TEST_F(ReverseProxyTest, SetsAStickyCookieWithTheCookiePolicy) {
  TestUpstream a(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"));
  TestUpstream b(io, answer("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"));
  auto config = proxy_to({a.address(), b.address()});
  config.load_balancing.policy = "cookie";
  auto handler = make_reverse_proxy_handler(config);
  TestExchange first;
  run(*handler, first);
  const std::string cookie = first.sink.header("Set-Cookie");
  ASSERT_EQ(cookie.substr(0, 3), "lb=");
  for (int i = 0; i < 5; ++i) {
    TestExchange again;
    again.req.headers.add("Cookie", cookie.substr(0, cookie.find(';')));
    run(*handler, again);
    EXPECT_EQ(again.sink.body, first.sink.body);
    EXPECT_TRUE(again.sink.header("Set-Cookie").empty());
  }
}

// ------------------------------------------------------------ upgrades, sockets, volume

TEST_F(ReverseProxyTest, TunnelsAnUpgradeBothWays) {
  TestUpstream up(io, [](tcp::socket& socket, TestUpstream& self) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    ReceivedRequest request;
    if (!co_await reader.read(request)) co_return;
    self.requests.push_back(request);
    co_await testing::send_all(socket,
                               "HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    char data[256];
    while (true) {  // echo until the proxy closes
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(data), kNoThrow);
      if (ec) co_return;
      if (!co_await testing::send_all(socket, std::string_view(data, n))) co_return;
    }
  });
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  testing::TestUpgradedStream client(io);
  client.to_send = "ping";
  client.expect_bytes = 4;
  ex.upgraded = &client;
  ex.req.upgrade = true;
  ex.req.headers.add("Connection", "Upgrade");
  ex.req.headers.add("Upgrade", "websocket");
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.result, HandlerResult::kDone);
  ASSERT_TRUE(ex.sink.head);
  EXPECT_EQ(ex.sink.head->status, 101);
  EXPECT_EQ(ex.sink.header("Upgrade"), "websocket");
  EXPECT_EQ(client.received, "ping");
  ASSERT_EQ(up.requests.size(), 1u);
  EXPECT_TRUE(head_has(up.requests[0].head, "Connection: Upgrade"));
  EXPECT_TRUE(head_has(up.requests[0].head, "Upgrade: websocket"));
}

TEST_F(ReverseProxyTest, ProxiesToAUnixSocket) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("usher-upstream-" + std::to_string(::getpid()) + ".sock"))
                               .string();
  std::filesystem::remove(path);
  asio::local::stream_protocol::acceptor acceptor(io, asio::local::stream_protocol::endpoint(path));
  std::string seen;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
        if (ec) co_return;
        RequestReader<asio::local::stream_protocol::socket> reader(socket);
        ReceivedRequest request;
        if (!co_await reader.read(request)) co_return;
        seen = request.head;
        co_await testing::send_all(socket, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nunix");
      },
      asio::detached);
  core::ReverseProxyHandler config;
  core::Upstream u;
  u.scheme = "unix";
  u.unix_path = path;
  config.upstreams.push_back(u);
  auto handler = make_reverse_proxy_handler(config);
  TestExchange ex;
  run(*handler, ex);
  EXPECT_EQ(ex.sink.body, "unix");
  EXPECT_TRUE(head_has(seen, "Host: example.com"));
  std::filesystem::remove(path);
}

/// A 200 response whose body is `size` bytes of the test pattern, sent in
/// 256 KiB pieces; false when the client went away.
asio::awaitable<bool> send_pattern_response(tcp::socket& socket, uint64_t size) {
  if (!co_await testing::send_all(
          socket, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n"))
    co_return false;
  std::vector<char> piece(256 * 1024);
  for (uint64_t sent = 0; sent < size; sent += piece.size()) {
    for (size_t i = 0; i < piece.size(); ++i)
      piece[i] = testing::pattern_byte(sent + i);
    if (!co_await testing::send_all(socket, std::string_view(piece.data(), piece.size())))
      co_return false;
  }
  co_return true;
}

TEST_F(ReverseProxyTest, StreamsLargeBodiesThroughFixedSizeBuffers) {
  constexpr uint64_t kSize = 64ull << 20;
  TestUpstream up(io, [](tcp::socket& socket, TestUpstream& self) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    ReceivedRequest request;
    if (!co_await reader.read(request, /*keep_body=*/false)) co_return;
    self.requests.push_back(request);
    co_await send_pattern_response(socket, kSize);
  });
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  ex.req.method = "POST";
  ex.req.has_body = true;
  ex.req.content_length = kSize;
  ex.body_source.generated = kSize;
  ex.sink.keep_body = false;
  run(*handler, ex);
  ASSERT_EQ(up.requests.size(), 1u);
  EXPECT_EQ(up.requests[0].body_bytes, kSize);
  EXPECT_TRUE(up.requests[0].pattern_ok);
  EXPECT_EQ(ex.sink.bytes, kSize);
  EXPECT_TRUE(ex.sink.pattern_ok);
  EXPECT_TRUE(ex.sink.finished);
  // Every piece went through one bounded relay buffer, grown once for a
  // large body: the handler never held more than that, whatever the size.
  EXPECT_LE(ex.sink.largest_write, UpstreamPools::kLargeRelayBufferSize);
  EXPECT_GT(ex.sink.largest_write, UpstreamPools::kRelayBufferSize);  // it grew
}

TEST_F(ReverseProxyTest, KeepsTheSmallRelayBufferForHttp2Clients) {
  constexpr uint64_t kSize = 4ull << 20;
  TestUpstream up(io, [](tcp::socket& socket, TestUpstream& self) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    ReceivedRequest request;
    if (!co_await reader.read(request)) co_return;
    self.requests.push_back(request);
    co_await send_pattern_response(socket, kSize);
  });
  auto handler = make_reverse_proxy_handler(proxy_to({up.address()}));
  TestExchange ex;
  ex.req.version_major = 2;  // its stream copies each piece into its own bounded output
  ex.sink.keep_body = false;
  run(*handler, ex);
  EXPECT_EQ(ex.sink.bytes, kSize);
  EXPECT_TRUE(ex.sink.pattern_ok);
  EXPECT_LE(ex.sink.largest_write, UpstreamPools::kRelayBufferSize);
}

// ------------------------------------------------------------ TLS upstreams

/// A server context with a fresh self-signed certificate for localhost and 127.0.0.1.
core::SslCtxPtr self_signed_server_context() {
  core::EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", const_cast<char*>("P-256")));
  core::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX ext_ctx;
  X509V3_set_ctx_nodb(&ext_ctx);
  X509V3_set_ctx(&ext_ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  core::X509ExtensionPtr san(
      X509V3_EXT_conf_nid(nullptr, &ext_ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"));
  X509_add_ext(cert.get(), san.get(), -1);
  X509_sign(cert.get(), key.get(), EVP_sha256());
  core::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_use_certificate(ctx.get(), cert.get());
  SSL_CTX_use_PrivateKey(ctx.get(), key.get());
  return ctx;
}

/// Serves one request over TLS with a fixed answer; records the SNI it got.
TestUpstream::Serve answer_over_tls(SSL_CTX* ctx, std::string response, std::string* sni) {
  return [=](tcp::socket& socket, TestUpstream& self) -> asio::awaitable<void> {
    TlsStream tls(std::move(socket), core::SslPtr(SSL_new(ctx)));
    const std::error_code handshake = co_await tls.handshake();
    *sni = tls.server_name();  // known from the ClientHello even when the client walks away
    if (handshake) co_return;
    std::string data;
    char buffer[4096];
    while (data.find("\r\n\r\n") == std::string::npos) {
      size_t n = 0;
      if (co_await tls.read_some(buffer, n)) co_return;
      data.append(buffer, n);
    }
    ReceivedRequest request;
    request.head = data;
    self.requests.push_back(request);
    asio::const_buffer out(response.data(), response.size());
    co_await tls.write(std::span<const asio::const_buffer>(&out, 1));
    co_await tls.shutdown();
  };
}

core::ReverseProxyHandler tls_proxy_to(const TestUpstream& up, std::string host) {
  core::ReverseProxyHandler config;
  core::Upstream u;
  u.scheme = "https";
  u.host = std::move(host);
  u.port = up.port();
  config.upstreams.push_back(u);
  return config;
}

TEST_F(ReverseProxyTest, SpeaksTlsToHttpsUpstreamsWhenVerificationIsSkipped) {
  core::SslCtxPtr server = self_signed_server_context();
  std::string sni;
  TestUpstream up(io, answer_over_tls(server.get(),
                                      "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret", &sni));
  auto config = tls_proxy_to(up, "localhost");
  config.transport.tls_insecure_skip_verify = true;
  config.transport.tls_server_name = "app.internal";
  auto handler = make_reverse_proxy_handler(config);
  TestExchange ex;
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.result, HandlerResult::kDone);
  EXPECT_EQ(ex.sink.body, "secret");
  EXPECT_EQ(sni, "app.internal");
}

TEST_F(ReverseProxyTest, RefusesAnUpstreamCertificateItCannotVerify) {
  core::SslCtxPtr server = self_signed_server_context();
  std::string sni;
  TestUpstream up(
      io, answer_over_tls(server.get(), "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &sni));
  auto handler = make_reverse_proxy_handler(tls_proxy_to(up, "localhost"));
  TestExchange ex;
  Outcome out = run(*handler, ex);
  EXPECT_EQ(out.error_status, 502);
  settle();  // the upstream side sees the refusal after the handler is done
  EXPECT_EQ(sni, "localhost");
  EXPECT_TRUE(up.requests.empty());
}

// ------------------------------------------------------------ active health

TEST(HealthChecks, MarkAnUpstreamDownWhenItsCheckFailsAndUpAgain) {
  asio::io_context io;
  bool healthy_answer = false;
  TestUpstream up(io, [&](tcp::socket& socket, TestUpstream& self) -> asio::awaitable<void> {
    RequestReader<tcp::socket> reader(socket);
    ReceivedRequest request;
    if (!co_await reader.read(request)) co_return;
    self.requests.push_back(request);
    co_await testing::send_all(socket, healthy_answer
                                           ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                                           : "HTTP/1.1 503 Down\r\nContent-Length: 0\r\n\r\n");
  });
  const testing::HealthCheckTarget target = testing::health_check_target(up.port(), "/health");
  const LoadBalancer& lb = *target.lb;
  {
    HealthChecks checks(target.config, target.lb, target.endpoints);
    EXPECT_TRUE(testing::run_until(io, [&] { return !lb.health(0).active_healthy(); }));
    healthy_answer = true;
    EXPECT_TRUE(testing::run_until(io, [&] { return lb.health(0).active_healthy(); }));
  }
  ASSERT_FALSE(up.requests.empty());
  EXPECT_EQ(up.requests[0].head.substr(0, 24), "GET /health HTTP/1.1\r\nHo");
}

}  // namespace
}  // namespace usher::proxy
