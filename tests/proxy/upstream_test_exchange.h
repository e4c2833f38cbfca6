#pragma once

// Test doubles for reverse_proxy tests: an exchange whose request body is
// generated on the fly and whose response sink counts and checks bytes
// instead of keeping them (so 64 MiB can stream through), a scripted
// upgraded stream, and loopback upstream servers written with Asio.

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/exchange.h"
#include "proxy/health_check.h"
#include "proxy/load_balancer.h"
#include "proxy/stream.h"

namespace usher::proxy::testing {

/// The byte at `offset` of a generated body: a pattern that catches lost,
/// duplicated or reordered bytes.
inline char pattern_byte(uint64_t offset) {
  return static_cast<char>('a' + offset % 23);
}

/// A request body: fixed pieces, or `generated` bytes of the pattern made
/// piece by piece, so that no test holds a large body in memory.
class TestBody : public BodySource {
 public:
  std::vector<std::string> pieces;
  uint64_t generated = 0;
  size_t piece_size = 16 * 1024;
  Headers trailer_fields;
  uint64_t bytes_read = 0;
  std::error_code fail_with;  // returned by the first read: the client broke off

  asio::awaitable<std::error_code> read(Chunk& chunk) override {
    if (fail_with) co_return fail_with;
    if (generated > 0) {
      const uint64_t left = generated - bytes_read;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, piece_size));
      buffer_.resize(n);
      for (size_t i = 0; i < n; ++i)
        buffer_[i] = pattern_byte(bytes_read + i);
      bytes_read += n;
      chunk = {{buffer_.data(), n}, bytes_read == generated};
      co_return std::error_code{};
    }
    if (next_ < pieces.size()) {
      const std::string& p = pieces[next_++];
      bytes_read += p.size();
      chunk = {{p.data(), p.size()}, next_ == pieces.size()};
      co_return std::error_code{};
    }
    chunk = {{}, true};
    co_return std::error_code{};
  }
  const Headers& trailers() const override { return trailer_fields; }
  asio::awaitable<std::error_code> send_continue() override { co_return std::error_code{}; }

 private:
  std::vector<char> buffer_;
  size_t next_ = 0;
};

/// Records a response; with `keep_body` false it only counts and checks the
/// pattern, and remembers the largest single write.
class TestSink : public ResponseSink {
 public:
  bool keep_body = true;
  std::vector<ResponseHead> interim;
  std::optional<ResponseHead> head;
  std::string body;
  uint64_t bytes = 0;
  size_t largest_write = 0;
  bool pattern_ok = true;
  bool finished = false;
  bool aborted = false;
  int flushes = 0;
  std::optional<Headers> trailers;

  asio::awaitable<std::error_code> write_interim(const ResponseHead& h) override {
    interim.push_back(h);
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> write_head(const ResponseHead& h) override {
    head = h;
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> write_body(std::span<const char> data, bool flush) override {
    if (flush) ++flushes;
    largest_write = std::max(largest_write, data.size());
    if (keep_body) {
      body.append(data.data(), data.size());
    } else {
      for (size_t i = 0; i < data.size() && pattern_ok; ++i)
        pattern_ok = data[i] == pattern_byte(bytes + i);
    }
    bytes += data.size();
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> finish(const Headers* t) override {
    finished = true;
    if (t != nullptr) trailers = *t;
    co_return std::error_code{};
  }
  void abort() override { aborted = true; }
  bool head_written() const override { return head.has_value(); }
  uint64_t body_bytes() const override { return bytes; }

  std::string header(std::string_view name) const {
    const std::string* v = head ? head->headers.find(name) : nullptr;
    return v != nullptr ? *v : std::string();
  }
};

/// The client side of an upgraded connection: sends `to_send`, then waits
/// until `expect_bytes` came back and closes.
class TestUpgradedStream : public UpgradedStream {
 public:
  explicit TestUpgradedStream(asio::io_context& io) : wake_(io) {}

  std::string to_send;
  size_t expect_bytes = 0;
  std::string received;

  asio::awaitable<std::error_code> read_some(std::span<char> buffer, size_t& n) override {
    if (!sent_) {
      sent_ = true;
      n = std::min(buffer.size(), to_send.size());
      std::copy_n(to_send.data(), n, buffer.data());
      co_return std::error_code{};
    }
    while (received.size() < expect_bytes) {
      wake_.expires_after(std::chrono::seconds(10));
      auto [ec] = co_await wake_.async_wait(kNoThrow);
      if (!ec) break;  // timed out: close anyway
    }
    n = 0;  // the client closes
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> write(std::span<const char> data) override {
    received.append(data.data(), data.size());
    wake_.cancel();
    co_return std::error_code{};
  }
  asio::awaitable<void> shutdown_send() override { co_return; }

 private:
  asio::steady_timer wake_;
  bool sent_ = false;
};

/// An exchange around the doubles above. Defaults: GET / from
/// 192.0.2.10:40000, Host example.com.
class TestExchange : public Exchange {
 public:
  HttpRequest req;
  ConnectionInfo conn;
  TestBody body_source;
  TestSink sink;
  UpgradedStream* upgraded = nullptr;

  TestExchange() {
    req.method = "GET";
    req.scheme = "http";
    req.authority = "example.com";
    req.host = "example.com";
    req.path = "/";
    req.headers.add("Host", "example.com");
    conn.remote_address = asio::ip::make_address("192.0.2.10");
    conn.remote_port = 40000;
  }

  /// Gives the request a body of `pieces`, with a Content-Length unless `chunked`.
  void with_body(std::vector<std::string> pieces, bool chunked = false) {
    uint64_t total = 0;
    for (const auto& p : pieces)
      total += p.size();
    body_source.pieces = std::move(pieces);
    req.has_body = total > 0 || chunked;
    if (!chunked) req.content_length = total;
  }

  HttpRequest& request() override { return req; }
  const ConnectionInfo& connection() const override { return conn; }
  BodySource& body() override { return body_source; }
  ResponseSink& response() override { return sink; }
  UpgradedStream* upgraded_stream() override { return sink.head_written() ? upgraded : nullptr; }
  void close_after() override {}
};

// ------------------------------------------------------------ upstream servers

/// What a loopback upstream received in one request.
struct ReceivedRequest {
  std::string head;  // request line and fields, up to the empty line
  std::string body;  // decoded (chunked or Content-Length)
  uint64_t body_bytes = 0;
  bool pattern_ok = true;  // for generated bodies
};

/// Reading HTTP/1.1 requests on the upstream side of a test, simply: the
/// proxy under test is the only client.
template <class Socket>
class RequestReader {
 public:
  explicit RequestReader(Socket& socket) : socket_(socket) {}

  /// Reads one request; false when the connection closed first. Bodies are
  /// kept when `keep_body`, else only counted and checked.
  asio::awaitable<bool> read(ReceivedRequest& out, bool keep_body = true) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!co_await fill()) co_return false;
    }
    out.head = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 4);
    const std::string lower = lowercase(out.head);
    if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      co_return co_await read_chunked(out, keep_body);
    }
    uint64_t length = 0;
    if (auto at = lower.find("content-length: "); at != std::string::npos)
      length = std::stoull(lower.substr(at + 16));
    co_return co_await read_exact(length, out, keep_body);
  }

 private:
  static std::string lowercase(std::string s) {
    for (char& c : s)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  asio::awaitable<bool> fill() {
    char data[16 * 1024];
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(data), kNoThrow);
    if (ec) co_return false;
    buffer_.append(data, n);
    co_return true;
  }
  void take(size_t n, ReceivedRequest& out, bool keep_body) {
    if (keep_body) {
      out.body.append(buffer_, 0, n);
    } else {
      for (size_t i = 0; i < n && out.pattern_ok; ++i)
        out.pattern_ok = buffer_[i] == pattern_byte(out.body_bytes + i);
    }
    out.body_bytes += n;
    buffer_.erase(0, n);
  }
  asio::awaitable<bool> read_exact(uint64_t length, ReceivedRequest& out, bool keep_body) {
    while (length > 0) {
      if (buffer_.empty() && !co_await fill()) co_return false;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(length, buffer_.size()));
      take(n, out, keep_body);
      length -= n;
    }
    co_return true;
  }
  asio::awaitable<bool> read_line(std::string& line) {
    size_t end;
    while ((end = buffer_.find("\r\n")) == std::string::npos) {
      if (!co_await fill()) co_return false;
    }
    line = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    co_return true;
  }
  asio::awaitable<bool> read_chunked(ReceivedRequest& out, bool keep_body) {
    while (true) {
      std::string line;
      if (!co_await read_line(line)) co_return false;
      const uint64_t size = std::stoull(line, nullptr, 16);
      if (size == 0) {
        // Trailers, then the empty line.
        do {
          if (!co_await read_line(line)) co_return false;
        } while (!line.empty());
        co_return true;
      }
      if (!co_await read_exact(size, out, keep_body)) co_return false;
      if (!co_await read_line(line)) co_return false;
    }
  }

  Socket& socket_;
  std::string buffer_;
};

/// Writes `text` completely; false on error.
template <class Socket>
asio::awaitable<bool> send_all(Socket& socket, std::string_view text) {
  auto [ec, n] =
      co_await asio::async_write(socket, asio::buffer(text.data(), text.size()), kNoThrow);
  (void)n;
  co_return !ec;
}

/// A loopback upstream on 127.0.0.1, port 0: each accepted connection runs
/// `serve`. Counts connections.
class TestUpstream {
 public:
  using Serve = std::function<asio::awaitable<void>(asio::ip::tcp::socket&, TestUpstream&)>;

  TestUpstream(asio::io_context& io, Serve serve)
      : acceptor_(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        serve_(std::move(serve)) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port()); }

  int connections = 0;
  std::vector<ReceivedRequest> requests;

 private:
  asio::awaitable<void> accept_loop() {
    while (true) {
      auto [ec, socket] = co_await acceptor_.async_accept(kNoThrow);
      if (ec) co_return;
      ++connections;
      asio::co_spawn(acceptor_.get_executor(), run(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> run(asio::ip::tcp::socket socket) { co_await serve_(socket, *this); }

  asio::ip::tcp::acceptor acceptor_;
  Serve serve_;
};

/// A port that was bound and closed: connecting to it is refused.
inline uint16_t dead_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io,
                                   asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

/// One loopback upstream for active health checks: its load balancer, its
/// endpoint, and a check of `uri` every 20 ms with a 1 s timeout.
struct HealthCheckTarget {
  std::shared_ptr<LoadBalancer> lb;
  std::shared_ptr<std::vector<UpstreamEndpoint>> endpoints;
  core::ActiveHealthCheck config;
};

inline HealthCheckTarget health_check_target(uint16_t port, std::string uri) {
  using namespace std::chrono_literals;
  const std::string address = "127.0.0.1:" + std::to_string(port);
  HealthCheckTarget t;
  t.lb = std::make_shared<LoadBalancer>(core::LoadBalancing{}, core::PassiveHealthCheck{},
                                        std::vector<std::string>{address});
  t.endpoints = std::make_shared<std::vector<UpstreamEndpoint>>(1);
  UpstreamEndpoint& e = (*t.endpoints)[0];
  e.host = "127.0.0.1";
  e.port = port;
  e.hostport = address;
  e.pool_key = "tcp:" + address;
  t.config.uri = std::move(uri);
  t.config.interval = 20ms;
  t.config.timeout = 1s;
  return t;
}

/// Runs `io` in 10 ms slices until `condition` holds, for at most 5 s.
template <class Condition>
bool run_until(asio::io_context& io, Condition condition) {
  using namespace std::chrono_literals;
  for (int i = 0; i < 500 && !condition(); ++i) {
    io.restart();
    io.run_for(10ms);
  }
  return condition();
}

}  // namespace usher::proxy::testing
