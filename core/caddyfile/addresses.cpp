// Site addresses: the keys of a site block (`example.com`, `http://host:8080`,
// `:443`, `*.example.com`, `[::1]:8443`, `example.com/api/*`).

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/caddyfile/directives.h"

namespace usher::core::caddyfile {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_' ||
         c == '*' || c == ':';
}

struct HostPort {
  std::string host;
  std::string port;  // as written; empty when absent
  bool has_colon = false;
  std::string path;
};

// Splits `host[:port][/path]`, with IPv6 literals in brackets or, without
// a port, bare (`::1`: more than one colon can only be an IPv6 address).
HostPort split_host_port(const Token& key, std::string_view rest) {
  HostPort out;
  std::string_view host_port = rest;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos)
      throw Dispenser::error_at(key, "missing `]` in site address `" + key.text + "`");
    out.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    const size_t slash = rest.find('/');
    host_port = rest.substr(0, slash);
    if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
    if (!host_port.empty() && host_port.front() != ':')
      throw Dispenser::error_at(key, "unexpected `" + std::string(host_port) +
                                         "` after `]` in site address `" + key.text + "`");
    out.has_colon = !host_port.empty();
    if (out.has_colon) out.port = std::string(host_port.substr(1));
    return out;
  }
  const size_t slash = rest.find('/');
  host_port = rest.substr(0, slash);
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  const size_t colons = static_cast<size_t>(std::count(host_port.begin(), host_port.end(), ':'));
  if (colons == 1) {
    const size_t colon = host_port.find(':');
    out.host = std::string(host_port.substr(0, colon));
    out.port = std::string(host_port.substr(colon + 1));
    out.has_colon = true;
  } else {
    out.host = std::string(host_port);
  }
  return out;
}

uint16_t parse_address_port(const Token& key, const std::string& port) {
  int value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value < 1 ||
      value > 65535)
    throw Dispenser::error_at(key, "invalid port `" + port + "` in site address `" + key.text + "`",
                              "expected a number from 1 to 65535");
  return static_cast<uint16_t>(value);
}

void check_scheme_and_port(const Token& key, const SiteAddress& a) {
  // Caddy refuses the conventional port of the other scheme: it is almost
  // always a typo and would serve plain HTTP on 443 (or TLS on 80).
  if ((a.scheme == "http" && a.port == 443) || (a.scheme == "https" && a.port == 80))
    throw Dispenser::error_at(
        key,
        "site address `" + key.text + "` uses port " + std::to_string(a.port) + " with the `" +
            a.scheme + "://` scheme",
        a.port == 443 ? "port 443 is for `https://`" : "port 80 is for `http://`");
}

}  // namespace

SiteAddress parse_site_address(const Token& key) {
  std::string text = key.text;
  while (!text.empty() && text.back() == ',')
    text.pop_back();
  SiteAddress a;
  a.original = text;
  std::string_view rest = text;
  if (const size_t sep = rest.find("://"); sep != std::string_view::npos) {
    a.scheme = lower(rest.substr(0, sep));
    if (a.scheme != "http" && a.scheme != "https")
      throw Dispenser::error_at(
          key, "unsupported scheme `" + a.scheme + "://` in site address `" + text + "`",
          "use `http://` or `https://`, or no scheme");
    rest.remove_prefix(sep + 3);
  }
  HostPort hp = split_host_port(key, rest);
  a.host = lower(hp.host);
  a.path = hp.path;
  if (!std::all_of(a.host.begin(), a.host.end(), valid_host_char))
    throw Dispenser::error_at(key, "invalid host `" + hp.host + "` in site address `" + text + "`");
  if (hp.has_colon) a.port = parse_address_port(key, hp.port);
  if (a.host.empty() && a.port == 0 && a.scheme.empty())
    throw Dispenser::error_at(key, "site address `" + text + "` has neither a host nor a port");
  check_scheme_and_port(key, a);
  return a;
}

std::string site_address_key(const SiteAddress& address, const GlobalOptions& global) {
  std::string scheme = address.scheme;
  uint16_t port = address.port;
  if (scheme.empty()) scheme = port == global.http_port ? "http" : "https";
  if (port == 0) port = scheme == "http" ? global.http_port : global.https_port;
  return scheme + "://" + address.host + ":" + std::to_string(port) + address.path;
}

}  // namespace usher::core::caddyfile
