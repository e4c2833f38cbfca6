// The HTTP/2 codec against a fake handler: an nghttp2 client session on one
// end of a loopback TCP connection, serve_http2 on the other. These tests pin
// the mapping of HTTP/2 requests onto HttpRequest and of ResponseHead onto
// HTTP/2 responses, and the RFC 9113 §8 rejections; the integration test
// drives the same code through the binary with real clients.

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <array>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "proxy/http2_session.h"

namespace usher::proxy {
namespace {

using asio::ip::tcp;

struct Seen {
  HttpRequest request;
  std::string body;
};

struct ClientStream {
  std::string status;
  std::map<std::string, std::string> headers;
  std::string body;
  bool closed = false;
  uint32_t error = 0;
};

/// A blocking nghttp2 client on the test thread; the server runs on its own
/// io_context thread.
class Http2Harness {
 public:
  explicit Http2Harness(size_t max_header_bytes = 64 * 1024) {
    tcp::acceptor acceptor(server_io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_.connect(acceptor.local_endpoint());
    tcp::socket accepted = acceptor.accept();
    server_stream_ = std::make_unique<TcpStream>(std::move(accepted));
    entry_.stream = server_stream_.get();
    env_.settings.max_header_bytes = max_header_bytes;
    env_.handler = [this](Exchange& exchange) { return handle(exchange); };
    asio::co_spawn(server_io_, serve(), asio::detached);
    server_thread_ = std::thread([this] { server_io_.run(); });

    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* self) {
          auto& s = static_cast<Http2Harness*>(self)->streams_[frame->hd.stream_id];
          std::string n(reinterpret_cast<const char*>(name), namelen);
          std::string v(reinterpret_cast<const char*>(value), valuelen);
          if (n == ":status") s.status = v;
          s.headers[n] = v;
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        callbacks,
        [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* self) {
          static_cast<Http2Harness*>(self)->streams_[id].body.append(
              reinterpret_cast<const char*>(data), len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        callbacks, [](nghttp2_session*, int32_t id, uint32_t error, void* self) {
          auto& s = static_cast<Http2Harness*>(self)->streams_[id];
          s.closed = true;
          s.error = error;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        callbacks, [](nghttp2_session*, const nghttp2_frame* frame, void* self) {
          auto& h = *static_cast<Http2Harness*>(self);
          if (frame->hd.type == NGHTTP2_GOAWAY) h.goaway_ = frame->goaway.error_code;
          if (frame->hd.type == NGHTTP2_SETTINGS) h.settings_seen_ = true;
          return 0;
        });
    nghttp2_option* option = nullptr;
    nghttp2_option_new(&option);
    // The client must be able to send what a hostile client would.
    nghttp2_option_set_no_http_messaging(option, 1);
    nghttp2_session_client_new2(&client_session_, callbacks, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(client_session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }

  ~Http2Harness() {
    std::error_code ignored;
    client_.close(ignored);
    server_thread_.join();
    nghttp2_session_del(client_session_);
  }

  /// Sends a request with these fields (pseudo-headers included, in order).
  int32_t request(const std::vector<std::pair<std::string, std::string>>& fields,
                  bool end_stream = true) {
    std::vector<nghttp2_nv> nv;
    // NO_COPY keeps names as given (a copy would lower-case them); `fields`
    // outlives the frame, which pump_until sends before returning.
    for (const auto& [n, v] : fields)
      nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE});
    int32_t id = nghttp2_submit_headers(client_session_,
                                        end_stream ? NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_NONE,
                                        -1, nullptr, nv.data(), nv.size(), nullptr);
    pump_until([] { return true; });
    return id;
  }

  /// Exchanges frames until `done` holds or the deadline passes.
  template <class Done>
  bool pump_until(Done done, std::chrono::seconds limit = std::chrono::seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      const uint8_t* data = nullptr;
      ssize_t n;
      while ((n = nghttp2_session_mem_send(client_session_, &data)) > 0)
        asio::write(client_, asio::buffer(data, static_cast<size_t>(n)));
      if (done()) return true;
      if (client_.available() == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (client_.available() == 0) continue;
      }
      std::array<char, 16384> buf;
      std::error_code ec;
      size_t got = client_.read_some(asio::buffer(buf), ec);
      if (ec) return done();
      nghttp2_session_mem_recv(client_session_, reinterpret_cast<uint8_t*>(buf.data()), got);
    }
    return done();
  }

  const ClientStream& stream(int32_t id) { return streams_[id]; }

  const ClientStream& response(int32_t id) {
    pump_until([&] { return streams_[id].closed; });
    return streams_[id];
  }

  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  std::optional<uint32_t> goaway() {
    pump_until([&] { return goaway_.has_value(); });
    return goaway_;
  }
  nghttp2_session* client_session() { return client_session_; }

  /// Runs `f` on the server's thread (where its spare streams live) and
  /// returns what it returns.
  template <class F>
  auto on_server(F f) {
    std::promise<decltype(f())> result;
    asio::post(server_io_, [&] { result.set_value(f()); });
    return result.get_future().get();
  }

 private:
  asio::awaitable<void> serve() {
    ConnectionInfo info;
    co_await serve_http2(*server_stream_, info, env_, entry_);
    server_stream_->close();
  }

  asio::awaitable<void> handle(Exchange& exchange) {
    Seen seen{exchange.request(), {}};
    BodySource::Chunk chunk;
    while (!co_await exchange.body().read(chunk) && !chunk.end)
      seen.body.append(chunk.data.data(), chunk.data.size());
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(seen);
    }
    ResponseSink& sink = exchange.response();
    ResponseHead head;
    if (exchange.request().upgrade) {
      head.status = 101;
      head.headers.add("Upgrade", "websocket");
      head.headers.add("Connection", "Upgrade");
      head.headers.add("Sec-WebSocket-Accept", "x");
      co_await sink.write_head(head);
      if (UpgradedStream* tunnel = exchange.upgraded_stream()) {
        co_await tunnel->write(std::string_view("tunnel"));
        co_await tunnel->shutdown_send();
      }
      co_return;
    }
    head.status = 200;
    head.headers.add("X-Mixed-Case", "v");
    head.headers.add("Connection", "close");
    head.headers.add("Keep-Alive", "timeout=5");
    head.headers.add("Transfer-Encoding", "chunked");
    head.headers.add("Upgrade", "h2c");
    head.headers.add("Proxy-Connection", "keep-alive");
    head.headers.add("Date", "Sun, 06 Nov 1994 08:49:37 GMT");
    head.headers.add("X-A-Field-Name-Longer-Than-Sso", std::string(300, 'v'));
    // Names go to nghttp2 as they are (it lowers them as it copies them):
    // only A-Z change, not the bytes either side ('@', '[', '`', '{').
    if (exchange.request().path == "/edges") head.headers.add("X-Edge-@AZ[`az{-Name-MiXeD", "e");
    head.content_length = 2;
    co_await sink.write_head(head);
    co_await sink.write_body(std::string_view("ok"));
    Headers trailers;
    if (exchange.request().path == "/trailers") trailers.add("X-Trailer", "t");
    co_await sink.finish(&trailers);
  }

  asio::io_context server_io_{1};
  asio::io_context client_io_{1};
  tcp::socket client_{client_io_};
  std::unique_ptr<TcpStream> server_stream_;
  ConnectionEntry entry_;
  Http2Environment env_;
  std::thread server_thread_;
  nghttp2_session* client_session_ = nullptr;
  std::map<int32_t, ClientStream> streams_;
  std::optional<uint32_t> goaway_;
  bool settings_seen_ = false;
  std::mutex mutex_;
  std::vector<Seen> seen_;
};

using Fields = std::vector<std::pair<std::string, std::string>>;

Fields get(std::string path, std::string authority = "Example.COM:8443") {
  return {{":method", "GET"}, {":scheme", "https"}, {":authority", authority}, {":path", path}};
}

TEST(Http2Session, MapsPseudoHeadersOntoTheRequest) {
  Http2Harness h;
  Fields f = get("/a/b?x=1&y=2");
  f.push_back({"cookie", "a=1"});
  f.push_back({"accept", "*/*"});
  f.push_back({"cookie", "b=2"});
  const auto& r = h.response(h.request(f));
  EXPECT_EQ(r.status, "200");
  const std::vector<Seen> seen = h.seen();
  ASSERT_EQ(seen.size(), 1u);
  const HttpRequest& req = seen[0].request;
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.scheme, "http");  // the connection decides: this one is plain
  EXPECT_EQ(req.authority, "Example.COM:8443");
  EXPECT_EQ(req.host, "example.com");
  EXPECT_EQ(req.path, "/a/b");
  EXPECT_EQ(req.query, "x=1&y=2");
  EXPECT_EQ(req.version_major, 2);
  EXPECT_FALSE(req.has_body);
  ASSERT_NE(req.headers.find("cookie"), nullptr);
  EXPECT_EQ(*req.headers.find("cookie"), "a=1; b=2");  // RFC 9113 §8.2.3
  EXPECT_EQ(req.headers.find(":path"), nullptr);
}

TEST(Http2Session, StripsTheBracketsAndPortOfAnIpv6Authority) {
  Http2Harness h;
  h.response(h.request(get("/", "[::1]:443")));
  const std::vector<Seen> seen = h.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].request.host, "::1");
}

TEST(Http2Session, WritesLowerCaseNamesAndDropsConnectionSpecificFields) {
  Http2Harness h;
  const auto& r = h.response(h.request(get("/trailers")));
  EXPECT_EQ(r.status, "200");
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(r.headers.count("x-mixed-case"), 1u);
  EXPECT_EQ(r.headers.count("connection"), 0u);
  EXPECT_EQ(r.headers.count("keep-alive"), 0u);
  EXPECT_EQ(r.headers.count("transfer-encoding"), 0u);
  EXPECT_EQ(r.headers.count("upgrade"), 0u);
  EXPECT_EQ(r.headers.count("proxy-connection"), 0u);
  // The upstream's Date is kept, and no second one is added after it.
  EXPECT_EQ(r.headers.at("date"), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(r.headers.at("x-a-field-name-longer-than-sso"), std::string(300, 'v'));
  EXPECT_EQ(r.headers.at("content-length"), "2");
  EXPECT_EQ(r.headers.at("x-trailer"), "t");  // trailers end the stream
  EXPECT_EQ(r.error, 0u);
}

TEST(Http2Session, LowersOnlyTheLettersOfAName) {
  Http2Harness h;
  const auto& r = h.response(h.request(get("/edges")));
  EXPECT_EQ(r.status, "200");
  EXPECT_EQ(r.headers.count("x-edge-@az[`az{-name-mixed"), 1u);
}

// Finished streams are recycled for the next ones (per worker thread):
// what one request carried (query, cookies, fields, trailers) must not show
// in the next.
TEST(Http2Session, ARecycledStreamStartsAfresh) {
  Http2Harness h;
  // A request whose body never ends keeps a stream open beside the recycled
  // ones.
  Fields hold = get("/hold");
  hold[0].second = "POST";
  h.request(hold, false);
  Fields first = get("/trailers?q=1");
  first.push_back({"cookie", "a=1"});
  for (int i = 0; i < 20; ++i)
    first.push_back({"x-field-" + std::to_string(i), std::string(40, 'f')});
  const auto& r1 = h.response(h.request(first));
  EXPECT_EQ(r1.headers.at("x-trailer"), "t");
  for (int i = 0; i < 3; ++i) {
    const int32_t id = h.request(get("/", "other.example"));
    const auto& r = h.response(id);
    EXPECT_EQ(r.status, "200");
    EXPECT_EQ(r.body, "ok");
    EXPECT_EQ(r.headers.count("x-trailer"), 0u);
    EXPECT_EQ(r.error, 0u);
  }
  const std::vector<Seen> seen = h.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].request.query, "q=1");
  EXPECT_EQ(seen[0].request.headers.size(), 21u);  // 20 fields and the cookie
  for (size_t i = 1; i < seen.size(); ++i) {
    const HttpRequest& req = seen[i].request;
    EXPECT_EQ(req.path, "/");
    EXPECT_EQ(req.query, "");
    EXPECT_EQ(req.authority, "other.example");
    EXPECT_EQ(req.host, "other.example");
    EXPECT_EQ(req.headers.size(), 0u);
    EXPECT_EQ(req.headers.find("cookie"), nullptr);
    EXPECT_FALSE(req.has_body);
    EXPECT_TRUE(seen[i].body.empty());
  }
}

// Opens `n` streams whose bodies stay open, then ends every body: all n
// HEADERS reach the server before any END_STREAM, so it holds n streams at
// once, and n finished streams become spares of its thread.
void burst(Http2Harness& h, int n) {
  Fields post = get("/burst");
  post[0].second = "POST";
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i)
    ids.push_back(h.request(post, false));
  nghttp2_data_provider end{};
  end.read_callback = [](nghttp2_session*, int32_t, uint8_t*, size_t, uint32_t* flags,
                         nghttp2_data_source*, void*) -> ssize_t {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  };
  for (int32_t id : ids)
    nghttp2_submit_data(h.client_session(), NGHTTP2_FLAG_END_STREAM, id, &end);
  for (int32_t id : ids)
    EXPECT_EQ(h.response(id).status, "200");
}

// The worker's once-a-second sweep trims spare streams (decision 0019): the
// ones that stayed unused for a whole interval go, the ones a steady load
// takes stay, and a later burst makes new ones.
TEST(Http2Session, SparesUnusedForASweepIntervalAreFreed) {
  Http2Harness h;
  auto spares = [&] { return h.on_server([] { return spare_http2_streams(); }); };
  auto trim = [&] { return h.on_server([] { return trim_spare_http2_streams(); }); };
  // A finished stream becomes a spare once its handler and nghttp2 both let
  // go of it, which can be just after the client saw the response.
  auto spares_reach = [&](size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (spares() != n && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return spares() == n;
  };
  burst(h, 8);
  ASSERT_TRUE(spares_reach(8));
  // Made in this interval: they count as used, the first sweep keeps them.
  EXPECT_EQ(trim(), 0u);
  EXPECT_EQ(spares(), 8u);
  // One request takes the top spare and gives it back: it stays, the seven
  // below it went unused for the whole interval.
  EXPECT_EQ(h.response(h.request(get("/"))).status, "200");
  ASSERT_TRUE(spares_reach(8));
  EXPECT_EQ(trim(), 7u);
  EXPECT_EQ(spares(), 1u);
  // A steady trickle keeps its spare from one sweep to the next.
  EXPECT_EQ(h.response(h.request(get("/"))).status, "200");
  ASSERT_TRUE(spares_reach(1));
  EXPECT_EQ(trim(), 0u);
  EXPECT_EQ(spares(), 1u);
  // No request for a whole interval: the last one goes too, and so do
  // nghttp2's freed blocks.
  EXPECT_EQ(trim(), 1u);
  EXPECT_EQ(spares(), 0u);
  EXPECT_EQ(h.on_server([] { return spare_nghttp2_blocks(); }), 0u);
  EXPECT_EQ(trim(), 0u);
  // A later burst is served and refills the spares, kept by the next sweep.
  burst(h, 8);
  ASSERT_TRUE(spares_reach(8));
  EXPECT_GT(h.on_server([] { return spare_nghttp2_blocks(); }), 0u);
  EXPECT_EQ(trim(), 0u);
  EXPECT_EQ(spares(), 8u);
  EXPECT_EQ(h.seen().size(), 18u);
}

TEST(Http2Session, ReadsARequestBodyWithoutContentLength) {
  Http2Harness h;
  Fields f = get("/upload");
  f[0].second = "POST";
  int32_t id = h.request(f, false);
  std::string payload(100000, 'p');
  size_t offset = 0;
  nghttp2_data_provider provider{};
  struct Src {
    std::string* data;
    size_t* offset;
  } src{&payload, &offset};
  provider.source.ptr = &src;
  provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                              uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    auto* s = static_cast<Src*>(source->ptr);
    size_t n = std::min(length, s->data->size() - *s->offset);
    std::memcpy(buf, s->data->data() + *s->offset, n);
    *s->offset += n;
    if (*s->offset == s->data->size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  };
  nghttp2_submit_data(h.client_session(), NGHTTP2_FLAG_END_STREAM, id, &provider);
  const auto& r = h.response(id);
  EXPECT_EQ(r.status, "200");
  const std::vector<Seen> seen = h.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].request.has_body);
  EXPECT_FALSE(seen[0].request.content_length.has_value());
  EXPECT_EQ(seen[0].body, payload);
}

struct RejectCase {
  std::string name;
  Fields fields;
  std::string status;  // "" = the stream is reset instead
  uint32_t error = 0;  // the RST_STREAM code when reset
};

class Http2Rejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(Http2Rejects, WithoutCallingTheHandler) {
  Http2Harness h;
  const auto& r = h.response(h.request(GetParam().fields));
  EXPECT_EQ(r.status, GetParam().status);
  if (GetParam().status.empty()) {
    EXPECT_EQ(r.error, GetParam().error);
  }
  EXPECT_TRUE(h.seen().empty());
}

Fields with(Fields f, std::string name, std::string value) {
  f.push_back({std::move(name), std::move(value)});
  return f;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9113, Http2Rejects,
    ::testing::Values(
        RejectCase{"UpperCaseName", with(get("/"), "X-Upper", "1"), "", NGHTTP2_PROTOCOL_ERROR},
        RejectCase{"ConnectionHeader", with(get("/"), "connection", "keep-alive"), "",
                   NGHTTP2_PROTOCOL_ERROR},
        RejectCase{"TransferEncoding", with(get("/"), "transfer-encoding", "chunked"), "",
                   NGHTTP2_PROTOCOL_ERROR},
        RejectCase{"TeOtherThanTrailers", with(get("/"), "te", "gzip"), "", NGHTTP2_PROTOCOL_ERROR},
        RejectCase{"MissingPath",
                   {{":method", "GET"}, {":scheme", "https"}, {":authority", "a"}},
                   "",
                   NGHTTP2_PROTOCOL_ERROR},
        RejectCase{"UnknownPseudoHeader", with(get("/"), ":bogus", "1"), "",
                   NGHTTP2_PROTOCOL_ERROR},
        RejectCase{"PseudoHeaderAfterRegular",
                   {{":method", "GET"}, {":scheme", "https"}, {"accept", "*/*"}, {":path", "/"}},
                   "",
                   NGHTTP2_PROTOCOL_ERROR},
        RejectCase{"HostDiffersFromAuthority", with(get("/"), "host", "other.example"), "400"},
        RejectCase{"NoAuthorityNoHost",
                   {{":method", "GET"}, {":scheme", "https"}, {":path", "/"}},
                   "",
                   NGHTTP2_PROTOCOL_ERROR},
        RejectCase{
            "PlainConnect", {{":method", "CONNECT"}, {":authority", "a.example:443"}}, "501"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(Http2Session, AcceptsAHostEqualToTheAuthority) {
  Http2Harness h;
  const auto& r = h.response(h.request(with(get("/", "a.example"), "host", "A.example")));
  EXPECT_EQ(r.status, "200");
}

TEST(Http2Session, ResetsABodyLongerThanItsContentLength) {
  Http2Harness h;
  Fields f = with(get("/"), "content-length", "2");
  f[0].second = "POST";
  int32_t id = h.request(f, false);
  static std::string payload = "too long";
  nghttp2_data_provider provider{};
  provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t, uint32_t* flags,
                              nghttp2_data_source*, void*) -> ssize_t {
    std::memcpy(buf, payload.data(), payload.size());
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(payload.size());
  };
  nghttp2_submit_data(h.client_session(), NGHTTP2_FLAG_END_STREAM, id, &provider);
  const auto& r = h.response(id);
  EXPECT_EQ(r.error, static_cast<uint32_t>(NGHTTP2_PROTOCOL_ERROR));
}

TEST(Http2Session, PresentsExtendedConnectAsAWebSocketUpgrade) {
  Http2Harness h;
  Fields f = {{":method", "CONNECT"},    {":protocol", "websocket"},
              {":scheme", "https"},      {":authority", "a.example"},
              {":path", "/chat?room=1"}, {"sec-websocket-version", "13"}};
  // RFC 8441 §3: only after the server's SETTINGS_ENABLE_CONNECT_PROTOCOL.
  h.pump_until([&] {
    return nghttp2_session_get_remote_settings(h.client_session(),
                                               NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
  });
  int32_t id = h.request(f, false);
  // The client keeps its side open: wait for the tunnel's bytes, not the close.
  const ClientStream& r = h.stream(id);
  h.pump_until([&] { return r.body == "tunnel"; });
  const std::vector<Seen> seen = h.seen();
  ASSERT_EQ(seen.size(), 1u);
  const HttpRequest& req = seen[0].request;
  EXPECT_EQ(req.method, "GET");
  EXPECT_TRUE(req.upgrade);
  EXPECT_EQ(req.protocol, "websocket");
  EXPECT_EQ(req.path, "/chat");
  EXPECT_EQ(req.query, "room=1");
  ASSERT_NE(req.headers.find("Upgrade"), nullptr);
  EXPECT_EQ(*req.headers.find("Upgrade"), "websocket");
  EXPECT_EQ(*req.headers.find("Connection"), "Upgrade");
  ASSERT_NE(req.headers.find("Sec-WebSocket-Key"), nullptr);
  EXPECT_EQ(req.headers.find("Sec-WebSocket-Key")->size(), 24u);
  EXPECT_EQ(r.status, "200");  // not 101 (RFC 8441 §5)
  EXPECT_EQ(r.headers.count("upgrade"), 0u);
  EXPECT_EQ(r.headers.count("sec-websocket-accept"), 0u);
  EXPECT_EQ(r.body, "tunnel");
}

TEST(Http2Session, ClosesTheConnectionWhenAHeaderBlockExceedsTheLimit) {
  Http2Harness h(1024);
  int32_t id = h.request(with(get("/"), "x-big", std::string(2000, 'b')));
  EXPECT_EQ(h.goaway(), static_cast<uint32_t>(NGHTTP2_ENHANCE_YOUR_CALM));
  EXPECT_TRUE(h.stream(id).status.empty());
  EXPECT_TRUE(h.seen().empty());
}

TEST(Http2Session, AnnouncesItsLimitsInSettings) {
  Http2Harness h;
  h.pump_until([&] {
    return nghttp2_session_get_remote_settings(h.client_session(),
                                               NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) ==
           kHttp2MaxConcurrentStreams;
  });
  auto setting = [&](nghttp2_settings_id id) {
    return nghttp2_session_get_remote_settings(h.client_session(), id);
  };
  EXPECT_EQ(setting(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), kHttp2MaxConcurrentStreams);
  EXPECT_EQ(setting(NGHTTP2_SETTINGS_HEADER_TABLE_SIZE), kHttp2HeaderTableSize);
  EXPECT_EQ(setting(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 64u * 1024);
  EXPECT_EQ(setting(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1u);
}

TEST(Http2Preface, RecognisesThePrefaceAndItsPrefixes) {
  EXPECT_TRUE(starts_like_http2_preface(kHttp2Preface));
  EXPECT_TRUE(starts_like_http2_preface(std::string_view("PRI * HT")));
  EXPECT_FALSE(starts_like_http2_preface(std::string_view("GET / HTTP/1.1\r\n")));
  EXPECT_FALSE(starts_like_http2_preface(std::string_view("")));
}

}  // namespace
}  // namespace usher::proxy
