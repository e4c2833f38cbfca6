#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "acme/certificate_manager.h"
#include "acme/local_certificates.h"
#include "core/certificates.h"
#include "core/clock.h"
#include "core/config.h"
#include "proxy/site_plan.h"

namespace usher::proxy {
class MetricsWriter;
}

namespace usher::cmd {

/// Every certificate the running config needs, from both managers: the
/// local CA and `tls CERT KEY` files (rebuilt on each reload; cheap, it
/// reuses stored leaves) and ACME (one manager for the life of the process,
/// given the new names on reload, so that orders in flight go on and the
/// challenge responder the proxy holds stays valid). Publishes one merged
/// CertificateSet.
class CertificateHub final : public core::CertificateSource {
 public:
  explicit CertificateHub(const core::Clock& clock) : clock_(clock) {}
  ~CertificateHub() override;

  /// Applies the certificate needs of `plan` (start and every reload).
  /// Throws std::runtime_error when a `tls CERT KEY` pair cannot be loaded
  /// or the data directory cannot be used; the previous state is kept then.
  void configure(const core::Config& config, const proxy::SitePlan& plan);

  std::shared_ptr<const core::CertificateSet> certificates() const override;

  /// Answers ACME challenges; valid for the life of the hub once configure()
  /// has run.
  const core::ChallengeResponder* responder();

  /// Called (from a manager's thread) whenever the merged set changes.
  void on_publish(std::function<void()> callback) { on_publish_ = std::move(callback); }

  void start();
  void stop();

  /// Writes certificate and ACME metrics (seconds to expiry, orders by
  /// outcome). Called from the admin API's thread.
  void write_metrics(proxy::MetricsWriter& out) const;

  /// The ACME manager, when any name needs one (status, logs).
  acme::CertificateManager* acme() { return acme_.get(); }

 private:
  void merge();
  void ensure_acme(const std::string& data_dir);

  const core::Clock& clock_;
  std::unique_ptr<acme::LocalCertificateManager> local_;
  std::unique_ptr<acme::CertificateManager> acme_;
  std::string acme_data_dir_;
  bool started_ = false;
  std::function<void()> on_publish_;
  mutable std::mutex mutex_;
  std::shared_ptr<const core::CertificateSet> merged_ = std::make_shared<core::CertificateSet>();
};

}  // namespace usher::cmd
