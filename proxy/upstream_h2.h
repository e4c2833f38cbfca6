#pragma once

// The HTTP/2 client side of reverse_proxy for h2c upstreams (HTTP/2 with
// prior knowledge over cleartext TCP, RFC 9113 §3.3), which gRPC needs:
// trailers, streaming both ways, `te: trailers`. Per worker and per
// upstream a small set of connections carries many requests as streams
// (decision 0007). Each connection is driven by one reader coroutine
// (frames in) and one writer coroutine (nghttp2's output out); a request is
// a stream on it, driven by the handler's coroutine. Flow control follows
// back-pressure both ways: request body bytes are read from the client only
// when the upstream's window takes them, and response DATA is acknowledged
// (WINDOW_UPDATE) only once the client's sink accepted it.
//
// H2UpstreamClient reports the same AttemptOutcome as the HTTP/1.1
// UpstreamClient, so retries, health, header rules and logs stay the same.

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "proxy/exchange.h"
#include "proxy/http1_response_parser.h"
#include "proxy/upstream_client.h"
#include "proxy/upstream_pool.h"

namespace usher::proxy {

class H2Connection;
struct H2Stream;

/// A request head as HTTP/2 fields: pseudo-headers first, then regular
/// fields with lowercase names (RFC 9113 §8.2.1, §8.3).
struct H2Field {
  std::string name;
  std::string value;
};

/// What the proxy puts on an HTTP/2 request: `fields` are those it would
/// send an HTTP/1.1 upstream (after header_up). Connection-specific fields
/// are dropped (RFC 9113 §8.2.2); Host becomes :authority; `te: trailers`
/// goes on only when `te_trailers` (the client asked for trailers).
std::vector<H2Field> h2_request_fields(std::string_view method, std::string_view target,
                                       const Headers& fields, std::string_view fallback_authority,
                                       bool te_trailers);

/// Trailer fields for HTTP/2: lowercase names, connection-specific and
/// pseudo fields dropped.
std::vector<H2Field> h2_trailer_fields(const Headers& trailers);

/// Whether a client's TE field values list the `trailers` token.
bool te_lists_trailers(const Headers& headers);

/// How a stream ended without a final response, for the outcome mapping.
struct H2StreamEnd {
  bool dial_failed = false;    // no connection could be opened
  bool timed_out = false;      // no response head within the deadline
  bool bad_response = false;   // the head was not a valid HTTP/2 response
  bool refused = false;        // REFUSED_STREAM or above GOAWAY's last id: never processed
  bool any_frame = false;      // the upstream sent something on this stream
  bool reused = false;         // the connection carried streams before this one
  bool body_consumed = false;  // request body bytes were read from the client
  bool client_failed = false;  // reading the client's body failed
};

/// The AttemptOutcome of a stream that got no final response.
AttemptOutcome h2_outcome(const H2StreamEnd& end);

/// Per-worker sets of h2c connections, by upstream pool key. Lives in the
/// WorkerContext; like the HTTP/1.1 pools it never locks.
class H2Pools {
 public:
  explicit H2Pools(asio::io_context& io) : io_(io) {}
  ~H2Pools() { close_all(); }
  H2Pools(const H2Pools&) = delete;
  H2Pools& operator=(const H2Pools&) = delete;

  asio::io_context& io() { return io_; }

  /// A connection to `endpoint` with room for one more stream: an open one
  /// when one has room (`reused` set), else a newly dialed one. `fresh`
  /// always dials.
  asio::awaitable<std::error_code> acquire(const UpstreamEndpoint& endpoint,
                                           const UpstreamTimeouts& timeouts,
                                           const PoolSettings& settings, bool fresh,
                                           std::shared_ptr<H2Connection>& out, bool& reused);
  /// Open connections to `key` (tests, metrics).
  size_t connections(const std::string& key) const;
  /// Closes every connection (shutdown).
  void close_all();

 private:
  friend class H2Connection;
  void remove(const std::string& key, const H2Connection* connection);

  asio::io_context& io_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<H2Connection>>> sets_;
};

/// One request's conversation with an h2c upstream; the HTTP/2 twin of
/// UpstreamClient with the calls reverse_proxy.cpp makes.
class H2UpstreamClient {
 public:
  H2UpstreamClient(H2Pools& pools, const UpstreamTimeouts& timeouts,
                   const PoolSettings& pool_settings, const HttpRequest& request, BodySource& body);
  ~H2UpstreamClient();
  H2UpstreamClient(const H2UpstreamClient&) = delete;
  H2UpstreamClient& operator=(const H2UpstreamClient&) = delete;

  /// The request's fields as for an HTTP/1.1 upstream (after header_up).
  Headers& fields() { return fields_; }

  /// Opens a stream to `endpoint`, streams the request body in the
  /// background and waits for the final response head, relaying interim
  /// responses other than 100 to `sink`.
  asio::awaitable<AttemptOutcome> attempt(const UpstreamEndpoint& endpoint, ResponseSink& sink,
                                          bool fresh);
  /// The final response head; valid after kResponse.
  const ResponseHeadView& response() const { return view_; }
  const std::error_code& error() const { return error_; }
  /// Whether request body bytes were read from the client and are not held
  /// for another attempt (small bodies are, as with HTTP/1.1).
  bool body_committed() const { return body_started_ && !replayable_; }

  /// Streams the response body (and trailers) to `sink` and finishes it.
  asio::awaitable<std::error_code> relay_body(ResponseSink& sink,
                                              std::chrono::milliseconds flush_interval);
  /// Ends the attempt: resets an unfinished stream and waits until the
  /// request body pump let go of the client's body.
  asio::awaitable<void> finish_attempt();

 private:
  asio::awaitable<void> pump_body(std::shared_ptr<H2Stream> stream);
  void keep_for_replay(const BodySource::Chunk& chunk);
  asio::awaitable<AttemptOutcome> await_head(ResponseSink& sink);
  AttemptOutcome end_without_response();
  bool build_view();
  asio::awaitable<bool> wait(std::chrono::steady_clock::time_point deadline);

  H2Pools& pools_;
  const UpstreamTimeouts& timeouts_;
  const PoolSettings& pool_settings_;
  const HttpRequest& request_;
  BodySource& body_;
  Headers fields_;
  std::shared_ptr<H2Connection> connection_;
  std::shared_ptr<H2Stream> stream_;
  bool reused_ = false;
  std::vector<Header> head_fields_;  // the final head; view_ points into it
  ResponseHeadView view_;
  std::vector<char> relay_;
  std::error_code error_;
  // A request body up to this size is kept so that a refused stream can go
  // again; larger bodies stream through once (as the HTTP/1.1 client does).
  static constexpr size_t kMaxReplayBytes = 16 * 1024;
  std::string replay_;
  bool replayable_ = true;      // everything read of the body is in replay_
  bool body_complete_ = false;  // the client's body was read to its end
  bool body_started_ = false;   // request body bytes were read from the client
  bool pump_running_ = false;
};

}  // namespace usher::proxy
