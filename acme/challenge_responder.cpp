#include "acme/challenge_responder.h"

#include <algorithm>
#include <cctype>

#include "acme/authorization.h"
#include "acme/challenge.h"

namespace usher::acme {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "a.example.com:80" → "a.example.com"; "[::1]:80" stays as it is (no ACME
// certificate is ever issued for an IP literal here).
std::string host_without_port(std::string_view host) {
  auto colon = host.rfind(':');
  if (colon != std::string_view::npos && host.find(':') == colon) host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // absolute form
  return lower(host);
}

}  // namespace

std::optional<std::string> AcmeChallengeResponder::http01_key_authorization(
    std::string_view host, std::string_view token) const {
  std::lock_guard lock(mutex_);
  auto it = http_.find(token);
  if (it == http_.end() || it->second.name != host_without_port(host)) return std::nullopt;
  return it->second.key_authorization;
}

std::shared_ptr<const core::TlsCertificate> AcmeChallengeResponder::tls_alpn01_certificate(
    std::string_view server_name) const {
  std::lock_guard lock(mutex_);
  auto it = alpn_.find(lower(server_name));
  return it == alpn_.end() ? nullptr : it->second;
}

void AcmeChallengeResponder::present(const std::string& type, const std::string& name,
                                     const std::string& token,
                                     const std::string& key_authorization) {
  if (type == kHttp01) {
    std::lock_guard lock(mutex_);
    http_[token] = {lower(name), key_authorization};
  } else if (type == kTlsAlpn01) {
    // Made outside the lock: key generation is the slow part.
    auto cert = make_tls_alpn01_certificate(lower(name), key_authorization, clock_.now());
    std::lock_guard lock(mutex_);
    alpn_[lower(name)] = std::move(cert);
  } else {
    throw std::runtime_error("cannot answer challenge type " + type);
  }
}

void AcmeChallengeResponder::cleanup(const std::string& type, const std::string& name,
                                     const std::string& token) {
  std::lock_guard lock(mutex_);
  if (type == kHttp01) {
    http_.erase(token);
  } else if (type == kTlsAlpn01) {
    alpn_.erase(lower(name));
  }
}

size_t AcmeChallengeResponder::pending() const {
  std::lock_guard lock(mutex_);
  return http_.size() + alpn_.size();
}

}  // namespace usher::acme
