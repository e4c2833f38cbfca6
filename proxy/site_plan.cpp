#include "proxy/site_plan.h"

#include <algorithm>
#include <string_view>

#include "core/diagnostic.h"
#include "core/ip_range.h"
#include "proxy/site_address.h"

namespace usher::proxy {
namespace {

// Suffixes of names no public CA will certify (RFC 6762 .local, RFC 8375
// .home.arpa, ICANN's reserved .internal, RFC 6761 .localhost).
constexpr std::string_view kLocalSuffixes[] = {".localhost", ".local", ".internal", ".home.arpa"};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  return text;
}

CertificateOrigin certificate_origin(const std::string& host, const core::Site& site,
                                     const core::GlobalOptions& global) {
  if (site.tls && site.tls->mode == core::SiteTls::Mode::kFiles) return CertificateOrigin::kFiles;
  if (site.tls && site.tls->mode == core::SiteTls::Mode::kInternal)
    return CertificateOrigin::kLocal;
  if (global.local_certs || is_local_name(host)) return CertificateOrigin::kLocal;
  return CertificateOrigin::kAcme;
}

/// Adds (or widens) the listener for `served`. Sites sharing a port share
/// its socket: their `bind` addresses are merged, and a site without `bind`
/// makes the port listen on every address.
void add_listener(std::vector<ListenerPlan>& listeners, ServedAddress served,
                  const std::vector<std::string>& binds) {
  for (ListenerPlan& l : listeners) {
    if (l.port != served.port) continue;
    if (l.tls != served.tls)
      throw core::ConfigError(
          "", 0,
          "port " + std::to_string(served.port) + " is asked to serve both http and https sites",
          "give the http:// sites and the https sites different ports");
    if (l.binds.empty() || binds.empty()) {
      l.binds.clear();
    } else {
      for (const std::string& b : binds)
        if (std::find(l.binds.begin(), l.binds.end(), b) == l.binds.end()) l.binds.push_back(b);
    }
    return;
  }
  listeners.push_back({served.port, served.tls, binds});
}

void add_certificate(std::vector<CertificateNeed>& needs, const std::string& host,
                     const core::Site& site, const core::GlobalOptions& global) {
  const std::string name = lower(host);
  const bool known = std::any_of(needs.begin(), needs.end(),
                                 [&](const CertificateNeed& n) { return n.name == name; });
  if (!known) needs.push_back({name, certificate_origin(name, site, global), &site});
}

}  // namespace

ServedAddress serve_address(const core::SiteAddress& address, const core::Site& site,
                            const core::GlobalOptions& global) {
  if (address.scheme == "http") return {address.port != 0 ? address.port : global.http_port, false};
  if (address.scheme == "https")
    return {address.port != 0 ? address.port : global.https_port, true};
  if (address.host.empty() || address.port == global.http_port)
    return {address.port != 0 ? address.port : global.http_port, false};
  const bool https = global.auto_https != core::GlobalOptions::AutoHttps::kOff || site.tls;
  const uint16_t fallback = https ? global.https_port : global.http_port;
  return {address.port != 0 ? address.port : fallback, https};
}

SitePlan plan_sites(const core::Config& config) {
  SitePlan plan;
  bool any_tls = false;
  // The redirect listener binds where the HTTPS sites do.
  std::vector<ListenerPlan> https_sites;
  for (const core::Site& site : config.sites) {
    for (const core::SiteAddress& address : site.addresses) {
      const ServedAddress served = serve_address(address, site, config.global);
      add_listener(plan.listeners, served, site.binds);
      if (!served.tls) continue;
      any_tls = true;
      add_listener(https_sites, {config.global.http_port, false}, site.binds);
      if (!address.host.empty() && !(site.tls && site.tls->on_demand))
        add_certificate(plan.certificates, address.host, site, config.global);
    }
  }
  // The HTTP port answers HTTP-01 challenges and redirects to HTTPS.
  if (any_tls && config.global.auto_https != core::GlobalOptions::AutoHttps::kOff)
    add_listener(plan.listeners, {config.global.http_port, false}, https_sites.front().binds);
  std::sort(plan.listeners.begin(), plan.listeners.end(),
            [](const ListenerPlan& a, const ListenerPlan& b) { return a.port < b.port; });
  return plan;
}

bool is_local_name(const std::string& host) {
  const std::string name = lower(host);
  if (name == "localhost" || core::IpAddress::parse(name)) return true;
  return std::any_of(std::begin(kLocalSuffixes), std::end(kLocalSuffixes),
                     [&](std::string_view suffix) { return name.ends_with(suffix); });
}

}  // namespace usher::proxy
