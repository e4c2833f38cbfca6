#pragma once

// The one exchange abstraction between the protocol codecs (HTTP/1.1 now,
// HTTP/2 next) and everything above them: routing, handlers, retries and
// logging never know which protocol carried the request (design.md §3,
// Envoy's codec.h). Bodies stream through in both directions with an explicit
// end of stream; nothing here buffers a whole body.

#include <asio/awaitable.hpp>
#include <asio/ip/address.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace usher::proxy {

/// A header field. Names keep the case they arrived with; lookups ignore case.
struct Header {
  std::string name;
  std::string value;
};

/// An ordered list of header fields with case-insensitive lookups. Reused
/// across the requests of a connection so that its capacity is kept.
class Headers {
 public:
  /// The first value of `name`, or nullptr.
  const std::string* find(std::string_view name) const;
  /// Every value of `name` joined with ", " (RFC 9110 §5.3), or "" when absent.
  std::string joined(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  void add(std::string_view name, std::string_view value);
  /// Replaces every field named `name` with one field (adds it when absent).
  void set(std::string_view name, std::string_view value);
  /// Removes every field named `name`; returns how many were removed.
  size_t remove(std::string_view name);
  /// Removes every field whose name starts with `prefix` (case-insensitive).
  size_t remove_prefix(std::string_view prefix);
  void clear() { fields_.clear(); }

  const std::vector<Header>& fields() const { return fields_; }
  std::vector<Header>& fields() { return fields_; }
  size_t size() const { return fields_.size(); }

 private:
  std::vector<Header> fields_;
};

/// True when two header names are equal ignoring ASCII case.
bool header_name_equals(std::string_view a, std::string_view b);

/// How a request arrived: used by matchers, placeholders, X-Forwarded-* and
/// the access log.
struct ConnectionInfo {
  asio::ip::address remote_address;
  uint16_t remote_port = 0;
  asio::ip::address local_address;
  uint16_t local_port = 0;
  bool tls = false;
  std::string tls_version;      // "TLSv1.3"; empty without TLS
  std::string tls_server_name;  // SNI; empty without TLS or SNI
  std::string alpn;             // "h2", "http/1.1"; empty when none was negotiated
  uint64_t id = 0;              // connection number, for logs
  // remote_address as text, formatted once per connection rather than for
  // every request (X-Forwarded-For, client_ip); empty when not filled in.
  std::string remote_ip;
};

/// The request as the router and handlers see it. Owned strings: handlers
/// rewrite the path and headers in place.
struct HttpRequest {
  std::string method;     // upper case as received ("GET")
  std::string scheme;     // "http" or "https"
  std::string authority;  // host[:port] from Host (HTTP/1.1) or :authority (HTTP/2)
  std::string host;       // authority without port, lower case
  std::string path;       // request target path, percent-encoded as received, "/…"
  std::string query;      // after `?`, without it; empty when none
  int version_major = 1;  // 1 or 2
  int version_minor = 1;
  Headers headers;
  std::optional<uint64_t> content_length;  // known body length; nullopt = chunked or to EOF
  bool has_body = false;                   // a body follows (length > 0 or chunked)
  bool expect_continue = false;            // `Expect: 100-continue`
  bool upgrade = false;                    // `Connection: upgrade` + `Upgrade` (e.g. websocket)
  std::string protocol;                    // HTTP/2 extended CONNECT :protocol (RFC 8441)

  /// path plus `?query` when there is a query.
  std::string uri() const;
};

/// The response head a handler or the upstream produces.
struct ResponseHead {
  int status = 200;
  std::string reason;  // empty = the standard reason phrase
  Headers headers;
  std::optional<uint64_t> content_length;  // nullopt = length unknown (chunked / to close)
};

/// The request body as a stream. `read` returns the next piece of the body
/// (a view valid until the next call), an empty span with `end` set once the
/// body is complete, or an error (client gone, malformed chunking, timeout).
class BodySource {
 public:
  virtual ~BodySource() = default;
  struct Chunk {
    std::span<const char> data;
    bool end = false;
  };
  virtual asio::awaitable<std::error_code> read(Chunk& chunk) = 0;
  /// Trailers that arrived after the body (chunked or HTTP/2); valid once end was read.
  virtual const Headers& trailers() const = 0;
  /// Sends `100 Continue` if the client asked for it and it was not sent yet;
  /// the first read() does this implicitly.
  virtual asio::awaitable<std::error_code> send_continue() = 0;
};

/// Where the response goes. Call order: optional interim heads (1xx), one
/// `write_head`, any number of `write_body`, then `finish`. A handler that
/// fails after write_head calls `abort` instead of finish: the client sees a
/// reset, never a truncated response that looks complete.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  virtual asio::awaitable<std::error_code> write_interim(const ResponseHead& head) = 0;
  virtual asio::awaitable<std::error_code> write_head(const ResponseHead& head) = 0;
  /// Writes a piece of the body. `flush` asks to send it now rather than
  /// coalescing (server-sent events, flush_interval -1).
  virtual asio::awaitable<std::error_code> write_body(std::span<const char> data,
                                                      bool flush = false) = 0;
  virtual asio::awaitable<std::error_code> finish(const Headers* trailers = nullptr) = 0;
  virtual void abort() = 0;
  /// True once write_head was called.
  virtual bool head_written() const = 0;
  /// Bytes of body written so far (for the access log).
  virtual uint64_t body_bytes() const = 0;
};

/// A bidirectional byte stream a protocol upgrade hands over (WebSocket after
/// `101`, HTTP/2 extended CONNECT): the tunnel relays it to the upstream.
class UpgradedStream {
 public:
  virtual ~UpgradedStream() = default;
  /// Reads some bytes into `buffer`; 0 bytes with no error means the peer closed.
  virtual asio::awaitable<std::error_code> read_some(std::span<char> buffer, size_t& n) = 0;
  virtual asio::awaitable<std::error_code> write(std::span<const char> data) = 0;
  /// Half-closes the direction towards the peer.
  virtual asio::awaitable<void> shutdown_send() = 0;
};

/// One request/response exchange, whichever protocol carries it.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual HttpRequest& request() = 0;
  virtual const ConnectionInfo& connection() const = 0;
  virtual BodySource& body() = 0;
  virtual ResponseSink& response() = 0;
  /// After a `101 Switching Protocols` head (or a 2xx to extended CONNECT)
  /// was written, the raw stream to tunnel; null when the protocol cannot
  /// upgrade.
  virtual UpgradedStream* upgraded_stream() = 0;
  /// Asks the codec to close the connection after this exchange.
  virtual void close_after() = 0;
};

}  // namespace usher::proxy
