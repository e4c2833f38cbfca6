#pragma once

// What a config asks the proxy to open and which certificates it needs,
// decided once per config by Caddy's automatic-HTTPS rules so that the
// listeners, the router and the certificate managers agree.

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace usher::proxy {

/// One listening port.
struct ListenerPlan {
  uint16_t port = 0;
  bool tls = false;                // TLS listener (HTTPS) or plain HTTP
  std::vector<std::string> binds;  // addresses to bind; empty = every address (IPv4 and IPv6)
  bool operator==(const ListenerPlan&) const = default;
};

/// Where a site's certificate comes from.
enum class CertificateOrigin { kAcme, kLocal, kFiles };

/// A name that needs a certificate.
struct CertificateNeed {
  std::string name;  // DNS name, wildcard or IP address
  CertificateOrigin origin = CertificateOrigin::kAcme;
  const core::Site* site = nullptr;  // the site that asked (issuers, email, files)
};

/// Everything the config needs from the outside world.
struct SitePlan {
  std::vector<ListenerPlan> listeners;
  std::vector<CertificateNeed> certificates;
};

/// Applies the rules: a site is HTTPS unless its address says `http://` or
/// its port is http_port, or it has no host name (`:8080`); HTTPS sites with
/// a public-looking host get ACME certificates, `localhost`, IP addresses,
/// `*.local`, `*.internal`, `*.home.arpa`, `tls internal` and `local_certs`
/// get local ones, `tls CERT KEY` uses the files; the HTTP port is opened
/// for redirects and HTTP-01 whenever an HTTPS site exists and auto_https is
/// not off.
SitePlan plan_sites(const core::Config& config);

/// True for names usher's local CA serves by default (see plan_sites).
bool is_local_name(const std::string& host);

}  // namespace usher::proxy
