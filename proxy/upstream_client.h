#pragma once

// The HTTP/1.1 client side of reverse_proxy: dial (TCP, unix socket, TLS),
// send the request head and stream the body, read the response head
// (relaying 1xx), then stream the response body or tunnel an upgrade.
// Policy (which upstream, retry or not, which status) lives in
// reverse_proxy.cpp; this file only says what happened.

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "core/config.h"
#include "core/openssl.h"
#include "proxy/chunked_decoder.h"
#include "proxy/exchange.h"
#include "proxy/http1_response_parser.h"
#include "proxy/upstream_pool.h"

namespace usher::proxy {

/// TLS towards upstreams: one client SSL_CTX per handler, verifying
/// against the system trust store unless tls_insecure_skip_verify.
class UpstreamTls {
 public:
  /// Throws core::ConfigError when OpenSSL cannot build the context.
  explicit UpstreamTls(const core::HttpTransport& transport);

  /// A new SSL object for a connection to `host`: SNI and the name (or IP
  /// address) the certificate must carry are tls_server_name when set.
  core::SslPtr new_ssl(std::string_view host) const;

  /// Part of the pool key: connections made under other settings are not shared.
  const std::string& key() const { return key_; }

 private:
  core::SslCtxPtr ctx_;
  std::string server_name_;
  bool verify_ = true;
  std::string key_;
};

/// Where one upstream is; immutable, shared by every worker.
struct UpstreamEndpoint {
  std::string host;  // name or IP literal without brackets; empty for unix sockets
  uint16_t port = 0;
  std::string unix_path;  // a unix socket instead of host:port
  std::string hostport;   // `host:port` or the socket path: {upstream_hostport}, logs
  std::string pool_key;   // address and TLS settings: connections are shared under one key
  const UpstreamTls* tls = nullptr;  // null = plain HTTP
};

/// Timeouts of a handler's upstream exchanges (`transport http`).
struct UpstreamTimeouts {
  std::chrono::milliseconds dial{3'000};
  // No response head within this after the request was sent: 504. Without
  // it, `read` bounds the wait for the head too.
  std::optional<std::chrono::milliseconds> response_header;
  // Longest wait for progress while reading from the upstream.
  std::chrono::milliseconds read{300'000};
  // Longest wait for progress while writing to the upstream.
  std::chrono::milliseconds write{300'000};
  // An upgraded tunnel with no byte in either direction for this long is closed.
  std::chrono::milliseconds tunnel_idle{3'600'000};
};

/// How an attempt ended, which decides retry or finish (style rule 8).
enum class AttemptOutcome {
  kResponse,       // a final response head was read
  kDialFailed,     // no connection: nothing was sent
  kStale,          // a reused connection failed before any response byte
  kNoResponse,     // the request went out, then the connection failed before a head
  kTimeout,        // no response head within the deadline
  kBadResponse,    // the upstream's head was malformed
  kClientFailed,   // reading the request body or writing to the client failed
  kNotReplayable,  // part of the request body was consumed and cannot be sent again
};

/// One request's conversation with its upstream(s); lives on the handler's
/// coroutine frame. Holds one relay buffer from the worker's spares, so a
/// 1 GiB body costs the same memory as a small one.
class UpstreamClient {
 public:
  UpstreamClient(UpstreamPools& pools, const UpstreamTimeouts& timeouts,
                 const PoolSettings& pool_settings, const HttpRequest& request, BodySource& body);
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  /// The request head being built: the handler appends the request line and
  /// header fields (without framing headers and without the final empty line).
  std::string& head() { return buffers_.head(); }

  /// Sends the request to `endpoint` and reads the response head, relaying
  /// interim responses other than 100 to `sink`. `fresh` skips the pool.
  asio::awaitable<AttemptOutcome> attempt(const UpstreamEndpoint& endpoint, ResponseSink& sink,
                                          bool fresh);

  /// The final response head; valid after kResponse.
  const ResponseHeadView& response() const { return parser_.head(); }
  /// What failed last, for logs.
  const std::error_code& error() const { return error_; }
  /// Whether request body bytes were read from the client and could not be
  /// sent again: no further attempt is possible.
  bool body_committed() const { return body_started_ && !replayable_; }

  /// Streams the response body to `sink` and finishes it. Flushes every
  /// write when `flush_interval` is negative, at most that often when
  /// positive. On an error the caller aborts the client's response.
  asio::awaitable<std::error_code> relay_body(ResponseSink& sink,
                                              std::chrono::milliseconds flush_interval);

  /// Relays bytes both ways between the client and the upstream after a
  /// 101 until either side closes or the tunnel idles out.
  asio::awaitable<void> tunnel(UpgradedStream& client);

  /// Ends the attempt: a connection that completed its exchange cleanly goes
  /// back to the pool, anything else is closed.
  void finish_attempt();

 private:
  struct FlushClock;

  class Buffers {
   public:
    explicit Buffers(UpstreamPools& pools);
    ~Buffers();
    std::vector<char>& in() { return relay_.data(); }
    const std::vector<char>& in() const { return relay_.data(); }
    std::string& head() { return relay_.head(); }
    std::string& replay() { return relay_.replay(); }
    Http1ResponseParser& parser() { return relay_.parser(); }

   private:
    UpstreamPools& pools_;
    RelayBuffer relay_;
  };

  /// Dials a new connection to `endpoint`.
  asio::awaitable<std::error_code> connect(const UpstreamEndpoint& endpoint);
  asio::awaitable<std::error_code> dial_tcp(const UpstreamEndpoint& endpoint);
  asio::awaitable<std::error_code> dial_unix(const UpstreamEndpoint& endpoint);
  asio::awaitable<std::error_code> start_tls(const UpstreamEndpoint& endpoint);
  asio::awaitable<std::error_code> read_body_start();
  asio::awaitable<void> pump_to_client(UpgradedStream& client);
  asio::awaitable<void> pump_to_upstream(UpgradedStream& client, std::span<char> buffer);
  asio::awaitable<AttemptOutcome> send_request();
  asio::awaitable<std::error_code> stream_request_body(bool& client_failed);
  asio::awaitable<std::error_code> write_upstream(std::span<const asio::const_buffer> buffers);
  // Ends a write's deadline: the error of the write, or timed_out.
  std::error_code written(std::error_code ec);
  asio::awaitable<AttemptOutcome> read_response_head(ResponseSink& sink);
  asio::awaitable<std::error_code> read_more(size_t& n);
  void grow_for_large_body();
  asio::awaitable<std::error_code> relay_length(ResponseSink& sink, FlushClock& flush);
  asio::awaitable<std::error_code> relay_chunked(ResponseSink& sink, FlushClock& flush);
  asio::awaitable<std::error_code> relay_until_close(ResponseSink& sink, FlushClock& flush);
  void append_framing(bool chunked);
  void consume(size_t n);
  std::span<const char> buffered() const;

  UpstreamPools& pools_;
  const UpstreamTimeouts& timeouts_;
  const PoolSettings& pool_settings_;
  const HttpRequest& request_;
  BodySource& body_;
  Buffers buffers_;
  Http1ResponseParser& parser_;  // the relay buffer's: reused, so its capacity is kept
  ChunkedDecoder chunked_;
  std::shared_ptr<UpstreamConnection> connection_;
  const UpstreamEndpoint* endpoint_ = nullptr;
  std::error_code error_;
  size_t begin_ = 0;  // unread response bytes are in[begin_, end_)
  size_t end_ = 0;
  bool body_started_ = false;  // request body bytes were read from the client
  bool body_complete_ = false;
  bool replayable_ = true;  // everything read of the body is held in replay()
  bool request_sent_ = false;
  bool response_done_ = false;     // the response body was read to its end
  std::span<const char> pending_;  // a body piece read but not yet sent
  bool chunked_request_ = false;   // the request body goes out chunked
  bool reusable_ = false;          // the connection may serve another exchange
};

}  // namespace usher::proxy
