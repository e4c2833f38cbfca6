#include "acme/http_transport.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <stdexcept>

#include "core/openssl.h"

namespace usher::acme {

namespace {

using SteadyClock = std::chrono::steady_clock;

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return std::string(s);
}

/// "30 s", "1.5 s": how long a timeout was, for error messages.
std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  std::string text = std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    std::string frac = std::to_string(1000 + ms % 1000).substr(1);
    while (frac.back() == '0')
      frac.pop_back();
    text += "." + frac;
  }
  return text + " s";
}

bool is_ip_literal(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 || inet_pton(AF_INET, host.c_str(), &v4) == 1;
}

/// The Host header (RFC 9110 §7.2): brackets around an IPv6 literal, the
/// port only when it is not the scheme's default.
std::string host_header(const HttpUrl& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  bool default_port = url.port == (url.tls ? 443 : 80);
  return default_port ? host : host + ":" + std::to_string(url.port);
}

std::string origin_of(const HttpUrl& url) {
  return std::string(url.tls ? "https://" : "http://") + host_header(url);
}

/// One client per origin, with the first verify error of its latest
/// handshake (the SSL object is gone once httplib reports the failure).
struct OriginClient {
  std::unique_ptr<httplib::ClientImpl> client;
  long verify_error = X509_V_OK;
};

/// Records why the chain or the name failed; the handshake then aborts with
/// an alert to the server (SSL_VERIFY_PEER).
int remember_verify_error(int ok, X509_STORE_CTX* store) {
  if (ok) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* origin = static_cast<OriginClient*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (origin && origin->verify_error == X509_V_OK) {
    origin->verify_error = X509_STORE_CTX_get_error(store);
  }
  return ok;
}

/// Loads the trusted roots: the system's (OpenSSL's default paths; Debian:
/// /etc/ssl/certs from ca-certificates) or, when set, that file only. Reads
/// the file by hand first so that a missing or wrong acme_ca_root gets an
/// error naming it, not a verify failure later.
void load_trusted_roots(SSL_CTX* ctx, const std::string& path) {
  if (path.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      throw std::runtime_error("cannot load the system's trusted roots: " +
                               core::openssl_error_text());
    }
    return;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "r"), std::fclose);
  if (!file) {
    throw std::runtime_error("cannot read the trusted root file " + path +
                             " (acme_ca_root): " + std::strerror(errno));
  }
  core::X509Ptr cert(PEM_read_X509(file.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    throw std::runtime_error("the trusted root file " + path +
                             " (acme_ca_root) holds no PEM certificate");
  }
  if (SSL_CTX_load_verify_file(ctx, path.c_str()) != 1) {
    throw std::runtime_error("cannot load the trusted root file " + path +
                             " (acme_ca_root): " + core::openssl_error_text());
  }
}

/// Verification is OpenSSL's, during the handshake: the chain against the
/// trusted roots and the host name (RFC 6125: subjectAltName only, wildcards
/// whole and leftmost only). httplib 0.11's own check is turned off: it
/// falls back to the common name, accepts partial wildcards, and its IP
/// address comparison reads uninitialised memory (valgrind).
void verify_server(OriginClient& origin, SSL_CTX* ctx, const std::string& host,
                   const std::string& trusted_root_file) {
  load_trusted_roots(ctx, trusted_root_file);
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int ok = is_ip_literal(host) ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                               : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (ok != 1) throw std::runtime_error("cannot set the expected host name " + host);
  SSL_CTX_set_app_data(ctx, &origin);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, remember_verify_error);
}

void make_client(OriginClient& origin, const HttpUrl& url, const TransportOptions& options) {
  std::unique_ptr<httplib::ClientImpl> client;
  if (url.tls) {
    auto tls = std::make_unique<httplib::SSLClient>(url.host, url.port);
    if (!tls->is_valid()) {
      throw std::runtime_error("cannot create a TLS client: " + core::openssl_error_text());
    }
    tls->enable_server_certificate_verification(false);  // OpenSSL's instead, below
    SSL_CTX_set_min_proto_version(tls->ssl_context(), TLS1_2_VERSION);
    verify_server(origin, tls->ssl_context(), url.host, options.trusted_root_file);
    client = std::move(tls);
  } else {
    client = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  }
  client->set_connection_timeout(options.timeout);
  client->set_read_timeout(options.timeout);
  client->set_write_timeout(options.timeout);
  // ACME redirects nothing; a CA that redirects is misconfigured, and
  // following would re-send a signed body to another URL.
  client->set_follow_location(false);
  client->set_keep_alive(false);
  client->set_url_encode(false);  // send the CA's URLs byte for byte
  origin.client = std::move(client);
}

/// Why the chain or the name did not verify, with what to do about it.
std::string verify_failure(long result, const HttpUrl& url, const TransportOptions& options) {
  std::string text = std::string("certificate verify failed: ") +
                     X509_verify_cert_error_string(static_cast<int>(result));
  switch (result) {
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return text + " — the server's certificate does not cover " + url.host +
             "; check the host name in the CA's URL";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      if (options.trusted_root_file.empty()) {
        return text +
               " — for a private or test CA, set acme_ca_root to the CA's root certificate;"
               " for a public CA, check that the ca-certificates package is installed";
      }
      return text + " — " + options.trusted_root_file +
             " (acme_ca_root) is not the root that signed this server's certificate";
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return text + " — check this machine's clock";
    default:
      return text;
  }
}

/// What happened to a request that got no response, in words a user can act on.
struct Failure {
  httplib::Error error = httplib::Error::Success;
  long verify_result = X509_V_OK;
  SteadyClock::duration elapsed{};
  bool too_large = false;  // our receiver cut the body off
  bool too_slow = false;   // our receiver gave up at the deadline
};

std::string describe(const Failure& f, const HttpUrl& url, const TransportOptions& options) {
  std::string where = host_header(url);  // with the port even when it is the default
  if (url.port == (url.tls ? 443 : 80)) where += ":" + std::to_string(url.port);
  // Each wait is bounded by the timeout: a failure that took that long was one.
  bool timed_out = f.elapsed >= options.timeout * 95 / 100;
  if (f.too_large) {
    return "response larger than " + std::to_string(kMaxResponseBytes / 1024) +
           " KiB, cut off (an ACME response is a few KiB: is this the CA's URL?)";
  }
  if (f.too_slow) return "the response took longer than " + seconds_text(options.timeout);
  switch (f.error) {
    case httplib::Error::Connection:
      if (timed_out)
        return "no connection to " + where + " within " + seconds_text(options.timeout);
      return "cannot connect to " + where +
             " (the name does not resolve, or nothing listens there)";
    case httplib::Error::ConnectionTimeout:
      return "no connection to " + where + " within " + seconds_text(options.timeout);
    case httplib::Error::SSLConnection: {
      if (f.verify_result != X509_V_OK) return verify_failure(f.verify_result, url, options);
      if (timed_out) {
        return "the TLS handshake with " + where + " did not finish within " +
               seconds_text(options.timeout);
      }
      std::string why = core::openssl_error_text();
      return "the TLS handshake with " + where + " failed" +
             (why.empty() ? std::string(" (the server closed the connection)") : ": " + why);
    }
    case httplib::Error::Read:
      return timed_out ? "no response within " + seconds_text(options.timeout) + " (read timed out)"
                       : "the connection closed before a complete response";
    case httplib::Error::Write:
      return timed_out ? "sending the request timed out after " + seconds_text(options.timeout)
                       : "sending the request failed: the connection closed";
    case httplib::Error::Compression:
      return "cannot decompress the response body";
    default:
      return "the request failed (" + httplib::to_string(f.error) + ")";
  }
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equals_ignore_case(key, name)) return value;
  }
  return std::nullopt;
}

std::vector<std::string> HttpResponse::headers_named(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [key, value] : headers) {
    if (equals_ignore_case(key, name)) out.push_back(value);
  }
  return out;
}

HttpUrl parse_http_url(std::string_view url) {
  auto bad = [&](const std::string& why) {
    return std::runtime_error("bad URL " + std::string(url) + ": " + why);
  };
  HttpUrl out;
  std::string_view rest = url;
  auto scheme_end = rest.find("://");
  std::string_view scheme = scheme_end == std::string_view::npos ? "" : rest.substr(0, scheme_end);
  if (equals_ignore_case(scheme, "https")) {
    out.tls = true;
  } else if (!equals_ignore_case(scheme, "http")) {
    throw bad("only https:// and http:// URLs are supported");
  }
  rest.remove_prefix(scheme_end + 3);
  size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target = rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) throw bad("user info is not supported");
  std::string_view port_text;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) throw bad("unclosed [ in the host");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) throw bad("junk after ]");
    if (!after.empty()) port_text = after.substr(1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, out.host.c_str(), &v6) != 1) throw bad("not an IPv6 address in [ ]");
  } else {
    size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) throw bad("no host");
  out.port = out.tls ? 443 : 80;
  if (!port_text.empty()) {
    auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || out.port < 1 ||
        out.port > 65535) {
      throw bad("the port must be a number from 1 to 65535");
    }
  }
  target = target.substr(0, std::min(target.find('#'), target.size()));
  out.target =
      target.empty() || target.starts_with('?') ? "/" + std::string(target) : std::string(target);
  return out;
}

struct NetworkTransport::Clients {
  // Held by pointer: each TLS context points at its entry (SSL_CTX app data).
  std::map<std::string, std::unique_ptr<OriginClient>> by_origin;
};

NetworkTransport::NetworkTransport(TransportOptions options)
    : options_(std::move(options)), clients_(std::make_unique<Clients>()) {}

NetworkTransport::~NetworkTransport() = default;

HttpResponse NetworkTransport::send(const HttpRequest& request) {
  auto fail = [&](const std::string& why) {
    return std::runtime_error(request.method + " " + request.url + ": " + why);
  };
  HttpUrl url;
  try {
    url = parse_http_url(request.url);
  } catch (const std::runtime_error& e) {
    throw fail(e.what());
  }
  std::string origin = origin_of(url);
  auto& entry = clients_->by_origin[origin];
  if (!entry) {
    try {
      entry = std::make_unique<OriginClient>();
      make_client(*entry, url, options_);
    } catch (const std::runtime_error& e) {
      clients_->by_origin.erase(origin);
      throw fail(e.what());
    }
  }
  OriginClient& target = *entry;

  httplib::Request out;
  out.method = request.method;
  out.path = url.target;
  for (const auto& [name, value] : request.headers)
    out.headers.emplace(name, value);
  if (!out.has_header("Host")) out.headers.emplace("Host", host_header(url));
  if (!out.has_header("User-Agent")) out.headers.emplace("User-Agent", options_.user_agent);
  out.body = request.body;

  HttpResponse response;
  Failure failure;
  auto start = SteadyClock::now();
  auto deadline = start + options_.timeout;
  out.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (response.body.size() + size > kMaxResponseBytes) {
      failure.too_large = true;
      return false;
    }
    if (SteadyClock::now() > deadline) {
      failure.too_slow = true;
      return false;
    }
    response.body.append(data, size);
    return true;
  };

  httplib::Response in;
  ERR_clear_error();  // so that a handshake failure reports its own reason
  target.verify_error = X509_V_OK;
  if (!target.client->send(out, in, failure.error)) {
    failure.elapsed = SteadyClock::now() - start;
    failure.verify_result = target.verify_error;
    throw fail(describe(failure, url, options_));
  }
  response.status = in.status;
  for (const auto& [name, value] : in.headers)
    response.headers.emplace_back(name, value);
  return response;
}

TransportFactory network_transport_factory() {
  return [](const std::string& trusted_root) {
    TransportOptions options;
    options.trusted_root_file = trusted_root;
    return std::make_unique<NetworkTransport>(std::move(options));
  };
}

namespace {

// True when the `;`-separated link parameters carry rel=REL (quoted or not).
bool has_rel(std::string_view params, std::string_view rel) {
  size_t pos = 0;
  while (pos <= params.size()) {
    size_t end = std::min(params.find(';', pos), params.size());
    std::string param = trim(params.substr(pos, end - pos));
    if (param == "rel=\"" + std::string(rel) + "\"" || param == "rel=" + std::string(rel)) {
      return true;
    }
    pos = end + 1;
  }
  return false;
}

}  // namespace

std::vector<std::string> link_targets(const HttpResponse& response, std::string_view rel) {
  std::vector<std::string> out;
  for (const std::string& header : response.headers_named("Link")) {
    // One header may hold several links: <url>;rel="up", <url2>;rel="alternate"
    size_t pos = 0;
    while ((pos = header.find('<', pos)) != std::string::npos) {
      size_t end = header.find('>', pos);
      if (end == std::string::npos) break;
      size_t next = std::min(header.find(',', end), header.size());
      if (has_rel(std::string_view(header).substr(end + 1, next - end - 1), rel)) {
        out.push_back(header.substr(pos + 1, end - pos - 1));
      }
      pos = end;
    }
  }
  return out;
}

std::optional<std::chrono::seconds> retry_after(const HttpResponse& response,
                                                std::chrono::system_clock::time_point now) {
  auto value = response.header("Retry-After");
  if (!value) return std::nullopt;
  std::string text = trim(*value);
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    try {
      return std::chrono::seconds(std::stoll(text));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  // RFC 9110 §5.6.7: IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm parts{};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  if (!end) return std::nullopt;
  auto when = std::chrono::system_clock::from_time_t(timegm(&parts));
  auto delta = std::chrono::duration_cast<std::chrono::seconds>(when - now);
  return std::max(delta, std::chrono::seconds(0));
}

}  // namespace usher::acme
