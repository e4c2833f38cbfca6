#include "cmd/usher/certificates.h"

#include <spdlog/spdlog.h>

#include <set>

#include "core/data_dir.h"
#include "core/ip_range.h"
#include "proxy/metrics.h"

namespace usher::cmd {

namespace {

/// The certificate for clients that send no SNI, which is what clients do
/// when the URL names an IP address (RFC 6066 §3 forbids IP literals in
/// SNI): the certificate of a site addressed by IP, else the only
/// certificate when there is just one. With several named sites and none
/// for an IP, no guess is made: the handshake fails rather than show some
/// other site's certificate.
std::shared_ptr<const core::TlsCertificate> fallback_for_no_sni(const core::CertificateSet& set) {
  std::shared_ptr<const core::TlsCertificate> only;
  for (const auto& [name, cert] : set.entries()) {
    if (core::IpAddress::parse(name)) return cert;
    if (only && only != cert) return nullptr;
    only = cert;
  }
  return only;
}

}  // namespace

CertificateHub::~CertificateHub() {
  stop();
}

void CertificateHub::ensure_acme(const std::string& data_dir) {
  if (acme_) {
    if (data_dir != acme_data_dir_)
      spdlog::warn("the data directory changed to {}; ACME certificates stay in {} until restart",
                   data_dir, acme_data_dir_);
    return;
  }
  acme::CertificateManagerOptions options;
  options.data_dir = data_dir;
  options.clock = &clock_;
  acme_ = std::make_unique<acme::CertificateManager>(std::move(options));
  acme_data_dir_ = data_dir;
  acme_->on_publish([this] { merge(); });
  if (started_) acme_->start();
}

void CertificateHub::configure(const core::Config& config, const proxy::SitePlan& plan) {
  std::string data_dir = core::data_directory(config.global.storage_path);
  std::vector<std::string> local_names;
  std::vector<acme::FileCertificate> files;
  std::vector<acme::ManagedName> acme_names;
  std::set<std::string> seen;
  for (const auto& need : plan.certificates) {
    if (!seen.insert(need.name).second) continue;
    const core::SiteTls* tls = need.site != nullptr && need.site->tls ? &*need.site->tls : nullptr;
    switch (need.origin) {
      case proxy::CertificateOrigin::kLocal:
        local_names.push_back(need.name);
        break;
      case proxy::CertificateOrigin::kFiles:
        files.push_back({need.name, tls->cert_file, tls->key_file});
        break;
      case proxy::CertificateOrigin::kAcme:
        acme_names.push_back({need.name, acme::acme_issuers(config.global, tls)});
        break;
    }
  }
  // Build the new local manager completely before replacing the old one.
  auto local =
      std::make_unique<acme::LocalCertificateManager>(data_dir, local_names, files, clock_);
  local->on_publish([this] { merge(); });
  local->on_error([](const std::string& error) { spdlog::error("local certificates: {}", error); });
  // Created even without ACME names: the proxy holds its challenge
  // responder for the life of the process.
  ensure_acme(data_dir);
  acme_->set_names(std::move(acme_names));
  {
    std::unique_ptr<acme::LocalCertificateManager> old;
    {
      std::lock_guard lock(mutex_);
      old = std::move(local_);
      local_ = std::move(local);
    }
    if (old) old->stop();
    if (started_) local_->start();
  }
  merge();
}

void CertificateHub::merge() {
  auto merged = std::make_shared<core::CertificateSet>();
  {
    std::lock_guard lock(mutex_);
    // ACME first, local second: a name configured for the local CA (or
    // files) wins over a stale ACME certificate for the same name.
    if (acme_)
      for (const auto& [name, cert] : acme_->certificates()->entries())
        merged->add(name, cert);
    if (local_) {
      auto local = local_->certificates();
      for (const auto& [name, cert] : local->entries())
        merged->add(name, cert);
      merged->set_fallback(local->fallback());
    }
    if (!merged->fallback()) merged->set_fallback(fallback_for_no_sni(*merged));
    merged_ = merged;
  }
  if (on_publish_) on_publish_();
}

std::shared_ptr<const core::CertificateSet> CertificateHub::certificates() const {
  std::lock_guard lock(mutex_);
  return merged_;
}

const core::ChallengeResponder* CertificateHub::responder() {
  return acme_ ? &acme_->responder() : nullptr;
}

void CertificateHub::start() {
  started_ = true;
  if (local_) local_->start();
  if (acme_) acme_->start();
}

void CertificateHub::stop() {
  if (!started_) return;
  started_ = false;
  if (local_) local_->stop();
  if (acme_) acme_->stop();
}

void CertificateHub::write_metrics(proxy::MetricsWriter& out) const {
  std::shared_ptr<const core::CertificateSet> merged;
  acme::OrderCounts orders;
  {
    std::lock_guard lock(mutex_);
    merged = merged_;
    if (acme_) orders = acme_->order_counts();
  }
  out.family("usher_certificates", "gauge", "Certificates the running config serves.");
  out.sample("usher_certificates", {}, static_cast<double>(merged->size()));
  out.family("usher_certificate_expiry_seconds", "gauge",
             "Seconds until the certificate served for a name expires (negative: expired).");
  const auto now = clock_.now();
  for (const auto& [name, cert] : merged->entries()) {
    const double seconds = std::chrono::duration<double>(cert->not_after - now).count();
    out.sample("usher_certificate_expiry_seconds", {{"name", name}, {"issuer", cert->issuer}},
               seconds);
  }
  out.family("usher_acme_orders_total", "counter",
             "ACME orders by outcome (held_back: not sent, over usher's hourly cap).");
  out.sample("usher_acme_orders_total", {{"outcome", "valid"}}, static_cast<double>(orders.valid));
  out.sample("usher_acme_orders_total", {{"outcome", "failed"}},
             static_cast<double>(orders.failed));
  out.sample("usher_acme_orders_total", {{"outcome", "rate_limited"}},
             static_cast<double>(orders.rate_limited));
  out.sample("usher_acme_orders_total", {{"outcome", "held_back"}},
             static_cast<double>(orders.held_back));
}

}  // namespace usher::cmd
