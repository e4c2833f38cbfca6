#include "proxy/upstream_h2.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <functional>
#include <map>

#include "proxy/health_check.h"
#include "proxy/load_balancer.h"
#include "tests/proxy/upstream_test_exchange.h"

namespace usher::proxy {
namespace {

using RequestBody = testing::TestBody;
using testing::TestSink;

Headers make_headers(std::initializer_list<std::pair<std::string, std::string>> fields) {
  Headers h;
  for (const auto& [name, value] : fields)
    h.add(name, value);
  return h;
}

std::string find(const std::vector<H2Field>& fields, std::string_view name) {
  std::string out;
  for (const H2Field& f : fields)
    if (f.name == name) out += (out.empty() ? "" : ",") + f.value;
  return out;
}

// ------------------------------------------------------------ conversions

TEST(H2RequestFields, StartsWithPseudoHeadersFromTheProxiedRequest) {
  const Headers fields = make_headers({{"Host", "app.internal"}, {"Accept", "*/*"}});
  const auto out = h2_request_fields("POST", "/a?b=1", fields, "client.example", false);
  ASSERT_GE(out.size(), 4u);
  EXPECT_EQ(out[0].name, ":method");
  EXPECT_EQ(out[0].value, "POST");
  EXPECT_EQ(out[1].name, ":scheme");
  EXPECT_EQ(out[1].value, "http");
  EXPECT_EQ(out[2].name, ":authority");
  EXPECT_EQ(out[2].value, "app.internal");
  EXPECT_EQ(out[3].name, ":path");
  EXPECT_EQ(out[3].value, "/a?b=1");
  EXPECT_EQ(find(out, "accept"), "*/*");
  EXPECT_EQ(find(out, "host"), "");
}

TEST(H2RequestFields, UsesTheRequestAuthorityWithoutHost) {
  const auto out = h2_request_fields("GET", "/", Headers(), "client.example:8443", false);
  EXPECT_EQ(find(out, ":authority"), "client.example:8443");
}

TEST(H2RequestFields, LowercasesNames) {
  const auto out = h2_request_fields("GET", "/", make_headers({{"X-Request-ID", "7"}}), "h", false);
  EXPECT_EQ(find(out, "x-request-id"), "7");
}

TEST(H2RequestFields, DropsConnectionSpecificFields) {
  const Headers fields = make_headers({{"Connection", "keep-alive"},
                                       {"Keep-Alive", "timeout=5"},
                                       {"Proxy-Connection", "keep-alive"},
                                       {"Transfer-Encoding", "chunked"},
                                       {"Upgrade", "websocket"},
                                       {"TE", "gzip"},
                                       {"HTTP2-Settings", "AAA"},
                                       {"X-Kept", "1"}});
  const auto out = h2_request_fields("GET", "/", fields, "h", false);
  ASSERT_EQ(out.size(), 5u);  // four pseudo-headers and x-kept
  EXPECT_EQ(out[4].name, "x-kept");
}

TEST(H2RequestFields, SendsTeTrailersOnlyWhenAsked) {
  EXPECT_EQ(find(h2_request_fields("GET", "/", Headers(), "h", true), "te"), "trailers");
  EXPECT_EQ(find(h2_request_fields("GET", "/", Headers(), "h", false), "te"), "");
}

TEST(TeListsTrailers, FindsTheTokenAmongOthers) {
  EXPECT_TRUE(te_lists_trailers(make_headers({{"TE", "trailers"}})));
  EXPECT_TRUE(te_lists_trailers(make_headers({{"te", "gzip;q=0.5, Trailers"}})));
  EXPECT_FALSE(te_lists_trailers(make_headers({{"TE", "gzip"}})));
  EXPECT_FALSE(te_lists_trailers(make_headers({{"X-TE", "trailers"}})));
  EXPECT_FALSE(te_lists_trailers(Headers()));
}

TEST(H2TrailerFields, KeepsEndToEndFieldsLowercased) {
  const auto out = h2_trailer_fields(make_headers(
      {{"Grpc-Status", "0"}, {"Connection", "close"}, {"Content-Length", "3"}, {"X-Sum", "9"}}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "grpc-status");
  EXPECT_EQ(out[1].name, "x-sum");
}

// ------------------------------------------------------------ outcome mapping

struct OutcomeCase {
  const char* name;
  H2StreamEnd end;
  AttemptOutcome want;
};

class H2Outcome : public ::testing::TestWithParam<OutcomeCase> {};

TEST_P(H2Outcome, MapsHowAStreamEnded) {
  EXPECT_EQ(h2_outcome(GetParam().end), GetParam().want);
}

H2StreamEnd end_with(std::function<void(H2StreamEnd&)> set) {
  H2StreamEnd end;
  set(end);
  return end;
}

INSTANTIATE_TEST_SUITE_P(
    Table, H2Outcome,
    ::testing::Values(OutcomeCase{"DialFailed", end_with([](auto& e) { e.dial_failed = true; }),
                                  AttemptOutcome::kDialFailed},
                      OutcomeCase{"ClientFailed", end_with([](auto& e) { e.client_failed = true; }),
                                  AttemptOutcome::kClientFailed},
                      OutcomeCase{"TimedOut", end_with([](auto& e) { e.timed_out = true; }),
                                  AttemptOutcome::kTimeout},
                      OutcomeCase{"BadHead", end_with([](auto& e) { e.bad_response = true; }),
                                  AttemptOutcome::kBadResponse},
                      OutcomeCase{"RefusedIsStale", end_with([](auto& e) { e.refused = true; }),
                                  AttemptOutcome::kStale},
                      OutcomeCase{"RefusedAfterTheBodyWentIsNotReplayable", end_with([](auto& e) {
                                    e.refused = true;
                                    e.body_consumed = true;
                                  }),
                                  AttemptOutcome::kNotReplayable},
                      OutcomeCase{"SilentReusedConnectionIsStale",
                                  end_with([](auto& e) { e.reused = true; }),
                                  AttemptOutcome::kStale},
                      OutcomeCase{"ResetAfterFramesIsNoResponse", end_with([](auto& e) {
                                    e.reused = true;
                                    e.any_frame = true;
                                  }),
                                  AttemptOutcome::kNoResponse},
                      OutcomeCase{"FreshConnectionLostIsNoResponse", end_with([](auto&) {}),
                                  AttemptOutcome::kNoResponse}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

// ------------------------------------------------------------ against an nghttp2 server

/// What the test server does with one complete request.
struct ServerRequest {
  std::map<std::string, std::string> fields;
  std::string body;
  std::map<std::string, std::string> trailers;
};
enum class Reply {
  kRespond,
  kReset,
  kGoaway,
  kCloseOnSecond,  // answers the first request, drops the connection on the second
};

/// A loopback HTTP/2 server on nghttp2, one connection at a time: each
/// request is answered when it is complete, as `reply` says.
class H2TestServer {
 public:
  H2TestServer(asio::io_context& io, Reply reply)
      : acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}), reply_(reply) {
    asio::co_spawn(io, accept(), asio::detached);
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  /// Stops accepting, so that the io_context runs out of work and every
  /// coroutine ends (a coroutine left suspended at shutdown would leak).
  void stop() {
    std::error_code ignored;
    acceptor_.close(ignored);
  }
  std::vector<ServerRequest> requests;
  std::string status = "200";  // of every response
  std::string response_body = "hello";
  std::vector<std::pair<std::string, std::string>> response_trailers = {{"grpc-status", "0"}};

 private:
  struct Conn {
    H2TestServer* server = nullptr;
    nghttp2_session* session = nullptr;
    std::map<int32_t, ServerRequest> streams;
    std::map<int32_t, size_t> sent;
    bool close_now = false;
  };

  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) co_return;
      co_await serve(std::move(socket));
    }
  }

  asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
    Conn conn;
    conn.server = this;
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(
        cb, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
               const uint8_t* v, size_t vl, uint8_t, void* u) {
          auto* c = static_cast<Conn*>(u);
          ServerRequest& r = c->streams[f->hd.stream_id];
          std::string name(reinterpret_cast<const char*>(n), nl);
          std::string value(reinterpret_cast<const char*>(v), vl);
          if (f->headers.cat == NGHTTP2_HCAT_REQUEST)
            r.fields[name] = value;
          else
            r.trailers[name] = value;
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cb, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) {
          static_cast<Conn*>(u)->streams[id].body.append(reinterpret_cast<const char*>(d), n);
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cb, [](nghttp2_session* s, const nghttp2_frame* f, void* u) {
          if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
              (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0)
            static_cast<Conn*>(u)->server->answer(*static_cast<Conn*>(u), s, f->hd.stream_id);
          return 0;
        });
    nghttp2_session_server_new(&conn.session, cb, &conn);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(conn.session, NGHTTP2_FLAG_NONE, nullptr, 0);
    std::vector<char> buffer(16 * 1024);
    for (;;) {
      const uint8_t* data = nullptr;
      std::string out;
      for (ssize_t n; (n = nghttp2_session_mem_send(conn.session, &data)) > 0;)
        out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      if (!out.empty()) {
        auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(out), kNoThrow);
        if (wec) break;
      }
      if (nghttp2_session_want_read(conn.session) == 0 &&
          nghttp2_session_want_write(conn.session) == 0)
        break;
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), kNoThrow);
      if (ec) break;
      if (nghttp2_session_mem_recv(conn.session, reinterpret_cast<const uint8_t*>(buffer.data()),
                                   n) < 0 ||
          conn.close_now)
        break;
    }
    nghttp2_session_del(conn.session);
  }

  void answer(Conn& conn, nghttp2_session* s, int32_t id) {
    requests.push_back(conn.streams[id]);
    if (reply_ == Reply::kCloseOnSecond && requests.size() == 2) {
      conn.close_now = true;  // as if the upstream died with the request unread
      return;
    }
    if (reply_ == Reply::kReset) {
      nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (reply_ == Reply::kGoaway) {
      nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
      return;
    }
    static const char kStatus[] = ":status";
    nghttp2_nv head[] = {{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(kStatus)),
                          reinterpret_cast<uint8_t*>(status.data()), 7, status.size(),
                          NGHTTP2_NV_FLAG_NONE}};
    nghttp2_data_provider provider{};
    provider.source.ptr = &conn;
    provider.read_callback = [](nghttp2_session* session, int32_t sid, uint8_t* buf, size_t len,
                                uint32_t* flags, nghttp2_data_source* src, void*) -> ssize_t {
      auto* c = static_cast<Conn*>(src->ptr);
      const std::string& body = c->server->response_body;
      size_t& sent = c->sent[sid];
      const size_t n = std::min(len, body.size() - sent);
      std::memcpy(buf, body.data() + sent, n);
      sent += n;
      if (sent == body.size()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nv;
        for (auto& [name, value] : c->server->response_trailers)
          nv.push_back({reinterpret_cast<uint8_t*>(name.data()),
                        reinterpret_cast<uint8_t*>(value.data()), name.size(), value.size(),
                        NGHTTP2_NV_FLAG_NONE});
        nghttp2_submit_trailer(session, sid, nv.data(), nv.size());
      }
      return static_cast<ssize_t>(n);
    };
    nghttp2_submit_response(s, id, head, 1, &provider);
  }

  asio::ip::tcp::acceptor acceptor_;
  Reply reply_;
};

struct ClientRun {
  AttemptOutcome outcome = AttemptOutcome::kDialFailed;
  std::error_code relay_error;
  std::string error;
};

/// Runs one request through an H2UpstreamClient to 127.0.0.1:port.
ClientRun run_client(asio::io_context& io, uint16_t port, HttpRequest& request, RequestBody& body,
                     TestSink& sink, H2TestServer* server = nullptr) {
  ClientRun run;
  H2Pools pools(io);
  UpstreamTimeouts timeouts;
  timeouts.read = std::chrono::milliseconds(5'000);
  PoolSettings settings;
  UpstreamEndpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = port;
  endpoint.hostport = "127.0.0.1:" + std::to_string(port);
  endpoint.pool_key = "tcp:" + endpoint.hostport;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        H2UpstreamClient client(pools, timeouts, settings, request, body);
        client.fields().add("Host", "app.test");
        client.fields().add("X-Up", "1");
        run.outcome = co_await client.attempt(endpoint, sink, false);
        if (run.outcome == AttemptOutcome::kResponse)
          run.relay_error = co_await client.relay_body(sink, std::chrono::milliseconds(-1));
        run.error = client.error().message();
        co_await client.finish_attempt();
        pools.close_all();
        if (server != nullptr) server->stop();
      },
      asio::detached);
  io.run_for(std::chrono::seconds(10));
  return run;
}

HttpRequest make_request(std::string method, bool body) {
  HttpRequest r;
  r.method = std::move(method);
  r.scheme = "https";
  r.authority = "client.test";
  r.path = "/svc/Call";
  r.has_body = body;
  return r;
}

TEST(H2UpstreamClient, RelaysTheResponseBodyAndTrailers) {
  asio::io_context io;
  H2TestServer server(io, Reply::kRespond);
  HttpRequest request = make_request("GET", false);
  RequestBody body;
  TestSink sink;
  const ClientRun run = run_client(io, server.port(), request, body, sink, &server);
  ASSERT_EQ(run.outcome, AttemptOutcome::kResponse) << run.error;
  EXPECT_FALSE(run.relay_error) << run.relay_error.message();
  EXPECT_EQ(sink.body, "hello");
  EXPECT_TRUE(sink.finished);
  ASSERT_TRUE(sink.trailers.has_value());
  ASSERT_NE(sink.trailers->find("grpc-status"), nullptr);
  EXPECT_EQ(*sink.trailers->find("grpc-status"), "0");
  ASSERT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(server.requests[0].fields[":authority"], "app.test");
  EXPECT_EQ(server.requests[0].fields[":path"], "/svc/Call");
  EXPECT_EQ(server.requests[0].fields["x-up"], "1");
}

TEST(H2UpstreamClient, StreamsTheRequestBodyAndItsTrailers) {
  asio::io_context io;
  H2TestServer server(io, Reply::kRespond);
  HttpRequest request = make_request("POST", true);
  RequestBody body;
  body.generated = 1'000'000;  // larger than one window: flow control has to move it
  body.trailer_fields.add("X-Checksum", "abc");
  TestSink sink;
  const ClientRun run = run_client(io, server.port(), request, body, sink, &server);
  ASSERT_EQ(run.outcome, AttemptOutcome::kResponse) << run.error;
  ASSERT_EQ(server.requests.size(), 1u);
  const std::string& got = server.requests[0].body;
  ASSERT_EQ(got.size(), 1'000'000u);
  bool intact = true;
  for (size_t i = 0; i < got.size() && intact; ++i)
    intact = got[i] == testing::pattern_byte(i);
  EXPECT_TRUE(intact);
  EXPECT_EQ(server.requests[0].trailers["x-checksum"], "abc");
}

TEST(H2UpstreamClient, AResetStreamIsNoResponse) {
  asio::io_context io;
  H2TestServer server(io, Reply::kReset);
  HttpRequest request = make_request("GET", false);
  RequestBody body;
  TestSink sink;
  const ClientRun run = run_client(io, server.port(), request, body, sink, &server);
  EXPECT_EQ(run.outcome, AttemptOutcome::kNoResponse);
  EXPECT_NE(run.error.find("reset"), std::string::npos) << run.error;
}

TEST(H2UpstreamClient, AStreamAboveGoawaysLastIdIsStale) {
  asio::io_context io;
  H2TestServer server(io, Reply::kGoaway);
  HttpRequest request = make_request("GET", false);
  RequestBody body;
  TestSink sink;
  const ClientRun run = run_client(io, server.port(), request, body, sink, &server);
  EXPECT_EQ(run.outcome, AttemptOutcome::kStale);
  EXPECT_NE(run.error.find("refused"), std::string::npos) << run.error;
}

TEST(H2UpstreamClient, AReusedConnectionThatDiesSilentlyIsStaleAndAFreshOneWorks) {
  asio::io_context io;
  H2TestServer server(io, Reply::kCloseOnSecond);
  H2Pools pools(io);
  UpstreamTimeouts timeouts;
  PoolSettings settings;
  UpstreamEndpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = server.port();
  endpoint.pool_key = "tcp:test";
  std::vector<AttemptOutcome> outcomes;
  std::vector<size_t> connections;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        HttpRequest request = make_request("GET", false);
        RequestBody body;
        for (bool fresh : {false, false, true}) {
          TestSink sink;
          H2UpstreamClient client(pools, timeouts, settings, request, body);
          outcomes.push_back(co_await client.attempt(endpoint, sink, fresh));
          if (outcomes.back() == AttemptOutcome::kResponse)
            co_await client.relay_body(sink, std::chrono::milliseconds(-1));
          co_await client.finish_attempt();
          connections.push_back(pools.connections("tcp:test"));
        }
        pools.close_all();
        server.stop();
      },
      asio::detached);
  io.run_for(std::chrono::seconds(10));
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[0], AttemptOutcome::kResponse);
  EXPECT_EQ(outcomes[1], AttemptOutcome::kStale);
  EXPECT_EQ(outcomes[2], AttemptOutcome::kResponse);
  EXPECT_EQ(connections, (std::vector<size_t>{1, 0, 1}));
}

TEST(H2UpstreamClient, AClosedPortIsDialFailed) {
  asio::io_context io;
  uint16_t port = 0;
  {
    asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  HttpRequest request = make_request("GET", false);
  RequestBody body;
  TestSink sink;
  const ClientRun run = run_client(io, port, request, body, sink);
  EXPECT_EQ(run.outcome, AttemptOutcome::kDialFailed);
}

// ------------------------------------------------------------ active health checks

// An h2c upstream speaks nothing but HTTP/2, so its health check must too
// (an HTTP/1.1 GET would fail and take a healthy upstream out of rotation).
TEST(H2HealthChecks, CheckAnH2cUpstreamOverHttp2) {
  using namespace std::chrono_literals;
  asio::io_context io;
  H2TestServer server(io, Reply::kRespond);
  server.status = "503";
  const std::string address = "127.0.0.1:" + std::to_string(server.port());
  const testing::HealthCheckTarget target =
      testing::health_check_target(server.port(), "/health?probe=1");
  const LoadBalancer& lb = *target.lb;
  {
    HealthChecks checks(target.config, target.lb, target.endpoints, /*h2c=*/true);
    EXPECT_TRUE(testing::run_until(io, [&] { return !lb.health(0).active_healthy(); }));
    // The server serves one connection at a time: the checks after the
    // first get through only because each check closes its connection.
    server.status = "200";
    EXPECT_TRUE(testing::run_until(io, [&] { return lb.health(0).active_healthy(); }));
  }
  server.stop();
  io.restart();
  io.run_for(1s);
  ASSERT_GE(server.requests.size(), 2u);
  std::map<std::string, std::string>& fields = server.requests[0].fields;
  EXPECT_EQ(fields[":method"], "GET");
  EXPECT_EQ(fields[":path"], "/health?probe=1");
  EXPECT_EQ(fields[":scheme"], "http");
  EXPECT_EQ(fields[":authority"], address);
  EXPECT_EQ(fields["user-agent"], "usher-health-check");
  EXPECT_EQ(fields.count("host"), 0u);
}

}  // namespace
}  // namespace usher::proxy
