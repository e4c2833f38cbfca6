#pragma once

// The HTTP client the ACME client talks through, injected (style rule 10):
// cpp-httplib's blocking client in production (decision 0013), a scripted
// fake CA in the unit tests.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace usher::acme {

/// Every ACME request gives up after this long: the manager retries later,
/// a hung CA never stalls the renewal thread.
inline constexpr std::chrono::seconds kHttpTimeout{30};
/// Responses larger than this are cut off: a certificate chain is a few KiB.
inline constexpr size_t kMaxResponseBytes = 1024 * 1024;

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

/// One request. ACME uses GET (directory, ARI), HEAD (newNonce) and POST
/// with `application/jose+json` bodies.
struct HttpRequest {
  std::string method;  // "GET", "HEAD", "POST"
  std::string url;
  HttpHeaders headers;
  std::string body;
};

/// One response; header names compare case-insensitively.
struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;

  /// The first header named `name`.
  std::optional<std::string> header(std::string_view name) const;
  /// Every header named `name`, in order (Link may repeat).
  std::vector<std::string> headers_named(std::string_view name) const;
};

/// Sends requests. Throws std::runtime_error when no response arrives
/// (DNS, connection, TLS, timeout), naming the URL and the reason.
/// Implementations must be usable from one thread at a time per instance.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual HttpResponse send(const HttpRequest& request) = 0;
};

/// Settings for the network transport.
struct TransportOptions {
  std::string trusted_root_file;  // extra PEM root for the CA's HTTPS (acme_ca_root, pebble)
  /// Bounds each wait: connect, TLS handshake, every read and write; the
  /// body also stops at this long after the request started.
  std::chrono::milliseconds timeout = kHttpTimeout;
  std::string user_agent = "usher-acme";
};

/// The production transport: blocking HTTP/1.1 over cpp-httplib's client
/// (decision 0013), one connection per request, redirects never followed.
/// HTTPS verifies the chain and the host name (RFC 6125, through OpenSSL)
/// against the system trust store or, when `trusted_root_file` is set,
/// against that file only (pebble's root is the only one that signs it).
class NetworkTransport final : public HttpTransport {
 public:
  explicit NetworkTransport(TransportOptions options);
  ~NetworkTransport() override;
  NetworkTransport(const NetworkTransport&) = delete;
  NetworkTransport& operator=(const NetworkTransport&) = delete;

  HttpResponse send(const HttpRequest& request) override;

 private:
  struct Clients;  // one client per origin, so a trust store loads once per transport

  TransportOptions options_;
  std::unique_ptr<Clients> clients_;
};

/// Makes one transport per CA: the argument is the extra trusted root file
/// ("" for none).
using TransportFactory = std::function<std::unique_ptr<HttpTransport>(const std::string&)>;

/// The default factory: a NetworkTransport per CA.
TransportFactory network_transport_factory();

/// An absolute http(s) URL split for a client: `https://[::1]:14000/dir`
/// gives {true, "::1", 14000, "/dir"}.
struct HttpUrl {
  bool tls = false;
  std::string host;    // brackets of an IPv6 literal removed
  int port = 0;        // 443 / 80 when the URL names none
  std::string target;  // path and query, "/" at least; the fragment dropped
};

/// Parses `url`; throws std::runtime_error naming the URL and what is wrong
/// (another scheme, user info, a bad port, no host).
HttpUrl parse_http_url(std::string_view url);

/// The parameter `name` of a `Link` header value whose rel is `rel`
/// (RFC 8288): the URLs of `<url>;rel="alternate"` entries.
std::vector<std::string> link_targets(const HttpResponse& response, std::string_view rel);

/// Seconds from a Retry-After header (delta-seconds or an HTTP date relative
/// to `now`); nullopt when absent or unreadable.
std::optional<std::chrono::seconds> retry_after(const HttpResponse& response,
                                                std::chrono::system_clock::time_point now);

}  // namespace usher::acme
