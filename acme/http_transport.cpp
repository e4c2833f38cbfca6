#include "acme/http_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace usher::acme {

namespace {

struct CurlDeleter {
  void operator()(CURL* curl) const noexcept { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// ACME redirects nothing; a CA that redirects is misconfigured, and
// following would re-send a signed body to another URL.
constexpr long kMaxRedirects = 0;

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

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  size_t bytes = size * count;
  if (response->body.size() + bytes > kMaxResponseBytes) return 0;  // aborts the transfer
  response->body.append(data, bytes);
  return bytes;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  size_t bytes = size * count;
  std::string_view line(data, bytes);
  // A new status line (after 100 Continue) starts a new header block.
  if (line.starts_with("HTTP/")) response->headers.clear();
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    response->headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  return bytes;
}

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
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

CurlTransport::CurlTransport(CurlOptions options) : options_(std::move(options)) {
  global_init_once();
}

HttpResponse CurlTransport::send(const HttpRequest& request) {
  CurlPtr curl(curl_easy_init());
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  HttpResponse response;
  SlistPtr headers;
  for (const auto& [name, value] : request.headers) {
    std::string line = name + ": " + value;
    headers.reset(curl_slist_append(headers.release(), line.c_str()));
  }
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // the renewal thread must not get SIGALRM
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response);
  if (!options_.trusted_root_file.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, options_.trusted_root_file.c_str());
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }
  CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    throw std::runtime_error(request.method + " " + request.url + ": " + curl_easy_strerror(code));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

TransportFactory curl_transport_factory() {
  return [](const std::string& trusted_root) {
    CurlOptions options;
    options.trusted_root_file = trusted_root;
    return std::make_unique<CurlTransport>(std::move(options));
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
