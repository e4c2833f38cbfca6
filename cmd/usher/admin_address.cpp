#include "cmd/usher/admin_address.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <algorithm>
#include <array>

namespace usher::cmd {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  return out;
}

/// `[::1]` → `::1`; other hosts unchanged.
std::string_view strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    return host.substr(1, host.size() - 2);
  return host;
}

bool is_loopback_ip(std::string_view host) {
  std::string text(strip_brackets(host));
  std::array<unsigned char, 16> bytes{};
  if (inet_pton(AF_INET, text.c_str(), bytes.data()) == 1) return bytes[0] == 127;
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1)
    return text == "::1" || text == "0:0:0:0:0:0:0:1";
  return false;
}

bool is_local_name(std::string_view host) {
  std::string h = lower(strip_brackets(host));
  return h == "localhost" || is_loopback_ip(h);
}

/// The host of a Host header value: `[::1]:2019` → `[::1]`, `a:80` → `a`.
std::string_view host_of(std::string_view authority) {
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

bool host_allowed(std::string_view host, const AdminAddress& address) {
  if (is_local_name(host)) return true;
  return !address.host.empty() && lower(strip_brackets(host)) == lower(address.host);
}

}  // namespace

std::string AdminAddress::str() const {
  if (is_unix()) return "unix/" + unix_path;
  bool v6 = ip.find(':') != std::string::npos;
  return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

std::string AdminAddress::host_header() const {
  if (is_unix()) return "localhost";
  return str();
}

std::optional<AdminAddress> parse_admin_address(std::string_view text, std::string* error) {
  AdminAddress address;
  if (text.starts_with("unix/")) {
    address.unix_path = std::string(text.substr(5));
    if (address.unix_path.empty() || address.unix_path.front() != '/') {
      *error = "admin socket `" + std::string(text) +
               "` needs an absolute path, e.g. unix//run/usher/admin.sock";
      return std::nullopt;
    }
    return address;
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    *error = "admin address `" + std::string(text) + "` has no port; write e.g. localhost:2019";
    return std::nullopt;
  }
  std::string_view port = text.substr(colon + 1);
  int value = 0;
  for (char c : port)
    value = (c >= '0' && c <= '9' && value < 65536) ? value * 10 + (c - '0') : 70000;
  if (port.empty() || value < 1 || value > 65535) {
    *error = "admin address `" + std::string(text) + "` has an invalid port";
    return std::nullopt;
  }
  address.port = static_cast<uint16_t>(value);
  address.host = std::string(strip_brackets(text.substr(0, colon)));
  if (!address.host.empty() && !is_local_name(address.host)) {
    *error = "admin address `" + std::string(text) +
             "` is not a loopback address; the admin API has no authentication, so use "
             "localhost:PORT or a Unix socket (unix//run/usher/admin.sock)";
    return std::nullopt;
  }
  std::string h = lower(address.host);
  address.ip = (h.empty() || h == "localhost") ? "127.0.0.1" : h;
  return address;
}

bool is_local_request(std::string_view host, std::optional<std::string_view> origin,
                      const AdminAddress& address, std::string* reason) {
  if (host.empty()) {
    *reason = "missing Host header";
    return false;
  }
  if (!host_allowed(host_of(host), address)) {
    *reason = "host not allowed: " + std::string(host);
    return false;
  }
  if (!origin) return true;
  // Origin is `scheme://host[:port]` (RFC 6454); `null` from sandboxed pages.
  auto scheme_end = origin->find("://");
  if (scheme_end == std::string_view::npos ||
      !host_allowed(host_of(origin->substr(scheme_end + 3)), address)) {
    *reason = "origin not allowed: " + std::string(*origin);
    return false;
  }
  return true;
}

std::string effective_admin_address(const core::AdminConfig& config, const char* env) {
  if (!config.enabled) return {};
  // The config cannot tell `admin localhost:2019` from no `admin` option; both
  // leave the default, which the environment may then replace.
  if (config == core::AdminConfig{} && env != nullptr && *env != '\0') return env;
  return config.address;
}

socklen_t socket_address(const AdminAddress& address, sockaddr_storage& out) {
  out = sockaddr_storage{};
  if (address.is_unix()) {
    auto* un = reinterpret_cast<sockaddr_un*>(&out);
    if (address.unix_path.size() >= sizeof(un->sun_path)) return 0;
    un->sun_family = AF_UNIX;
    address.unix_path.copy(un->sun_path, address.unix_path.size());
    return sizeof(sockaddr_un);
  }
  if (address.ip.find(':') != std::string::npos) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(address.port);
    inet_pton(AF_INET6, address.ip.c_str(), &in6->sin6_addr);
    return sizeof(sockaddr_in6);
  }
  auto* in4 = reinterpret_cast<sockaddr_in*>(&out);
  in4->sin_family = AF_INET;
  in4->sin_port = htons(address.port);
  inet_pton(AF_INET, address.ip.c_str(), &in4->sin_addr);
  return sizeof(sockaddr_in);
}

}  // namespace usher::cmd
