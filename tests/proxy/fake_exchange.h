#pragma once

// An in-memory Exchange for tests of everything above the codecs: the
// request head and body chunks go in, the response head, body and trailers
// are captured. Coroutines run on a private io_context (run_awaitable).

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/exchange.h"
#include "proxy/worker_context.h"

namespace usher::proxy::testing {

/// A body made of fixed chunks, optionally failing after them.
class FakeBodySource : public BodySource {
 public:
  std::vector<std::string> chunks;
  std::error_code error_after;  // returned once the chunks are used up, instead of the end
  Headers trailer_fields;
  size_t reads = 0;
  bool continue_sent = false;

  asio::awaitable<std::error_code> read(Chunk& chunk) override {
    ++reads;
    if (next_ < chunks.size()) {
      const std::string& c = chunks[next_++];
      chunk = {{c.data(), c.size()}, false};
      co_return std::error_code{};
    }
    chunk = {{}, true};
    co_return error_after;
  }
  const Headers& trailers() const override { return trailer_fields; }
  asio::awaitable<std::error_code> send_continue() override {
    continue_sent = true;
    co_return std::error_code{};
  }

 private:
  size_t next_ = 0;
};

/// Captures what a handler writes.
class FakeResponseSink : public ResponseSink {
 public:
  std::vector<ResponseHead> interim;
  std::optional<ResponseHead> head;
  std::string body;
  bool finished = false;
  bool aborted = false;
  std::optional<Headers> trailers;
  std::error_code fail_writes;  // every write returns it when set

  asio::awaitable<std::error_code> write_interim(const ResponseHead& h) override {
    interim.push_back(h);
    co_return fail_writes;
  }
  asio::awaitable<std::error_code> write_head(const ResponseHead& h) override {
    head = h;
    co_return fail_writes;
  }
  asio::awaitable<std::error_code> write_body(std::span<const char> data, bool) override {
    body.append(data.data(), data.size());
    co_return fail_writes;
  }
  asio::awaitable<std::error_code> finish(const Headers* t) override {
    finished = true;
    if (t != nullptr) trailers = *t;
    co_return fail_writes;
  }
  void abort() override { aborted = true; }
  bool head_written() const override { return head.has_value(); }
  uint64_t body_bytes() const override { return body.size(); }

  /// A header of the captured head, or "" when absent.
  std::string header(std::string_view name) const {
    if (!head) return {};
    const std::string* v = head->headers.find(name);
    return v != nullptr ? *v : std::string();
  }
};

/// The exchange itself. Defaults: `GET / HTTP/1.1` for example.com over
/// plain HTTP from 192.0.2.10:40000 to port 80.
class FakeExchange : public Exchange {
 public:
  HttpRequest head;
  ConnectionInfo conn;
  FakeBodySource body_source;
  FakeResponseSink sink;
  bool closed_after = false;

  FakeExchange() {
    head.method = "GET";
    head.scheme = "http";
    head.authority = "example.com";
    head.host = "example.com";
    head.path = "/";
    conn.remote_address = asio::ip::make_address("192.0.2.10");
    conn.remote_port = 40000;
    conn.local_address = asio::ip::make_address("192.0.2.1");
    conn.local_port = 80;
  }

  /// Sets the target (`/path?query`) and host (`host[:port]`).
  FakeExchange& target(std::string_view uri, std::string_view authority = "example.com") {
    const size_t q = uri.find('?');
    head.path = std::string(uri.substr(0, q));
    head.query = q == std::string_view::npos ? std::string() : std::string(uri.substr(q + 1));
    head.authority = std::string(authority);
    const size_t colon = authority.rfind(':');
    const bool has_port =
        colon != std::string_view::npos && authority.find(']') == std::string_view::npos;
    head.host = std::string(has_port ? authority.substr(0, colon) : authority);
    return *this;
  }
  /// Makes it a TLS exchange on `port`.
  FakeExchange& over_tls(uint16_t port = 443) {
    conn.tls = true;
    conn.tls_version = "TLSv1.3";
    conn.tls_server_name = head.host;
    conn.local_port = port;
    head.scheme = "https";
    return *this;
  }

  HttpRequest& request() override { return head; }
  const ConnectionInfo& connection() const override { return conn; }
  BodySource& body() override { return body_source; }
  ResponseSink& response() override { return sink; }
  UpgradedStream* upgraded_stream() override { return nullptr; }
  void close_after() override { closed_after = true; }
};

/// Runs a coroutine to completion on a fresh io_context and returns its value.
template <typename T>
T run_awaitable(asio::awaitable<T> awaitable) {
  asio::io_context io;
  auto future = asio::co_spawn(io, std::move(awaitable), asio::use_future);
  io.run();
  return future.get();
}

/// A worker for code that takes one. Routing and the non-proxy handlers
/// only pass it along; it is real so that a handler that uses it works.
inline WorkerContext& test_worker() {
  static asio::io_context io;
  static WorkerContext worker(io, 0);
  return worker;
}

}  // namespace usher::proxy::testing
