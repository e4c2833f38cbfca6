#pragma once

// Certificates that need no ACME order: leaves from usher's local CA and
// `tls CERT KEY` files, published to the TLS layer as one CertificateSet.

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "acme/local_ca.h"
#include "core/certificates.h"
#include "core/clock.h"

namespace usher::acme {

/// How often the background thread checks the leaves (design.md §4: at least
/// every 10 minutes, so a sleeping laptop renews soon after it wakes).
inline constexpr std::chrono::minutes kLocalMaintenanceInterval{10};

/// A site configured with `tls CERT KEY`.
struct FileCertificate {
  std::string name;  // the site's host name
  std::string cert_file;
  std::string key_file;
};

/// True when a certificate valid from `not_before` to `not_after` should be
/// replaced at `now` (design.md §4): when a third of its lifetime remains, or
/// half for certificates shorter than 10 days, or once it has expired.
bool renewal_due(std::chrono::system_clock::time_point not_before,
                 std::chrono::system_clock::time_point not_after,
                 std::chrono::system_clock::time_point now);

/// The file name a certificate for `name` is stored under: lower case,
/// `*` spelled `wildcard_`, nothing that could leave the directory.
std::string storage_name(const std::string& name);

/// Serves local-CA leaves and certificate files. A restart reuses stored
/// leaves (never issues when a good one exists); maintain() renews them.
/// certificates() may be called from any thread.
class LocalCertificateManager final : public core::CertificateSource {
 public:
  /// Loads or issues a leaf for every name in `local_names` and loads every
  /// file pair, then publishes the first snapshot. Throws std::runtime_error
  /// naming the file when a `tls CERT KEY` pair does not load.
  LocalCertificateManager(const std::string& data_dir, std::vector<std::string> local_names,
                          const std::vector<FileCertificate>& files, const core::Clock& clock);
  ~LocalCertificateManager() override;
  LocalCertificateManager(const LocalCertificateManager&) = delete;
  LocalCertificateManager& operator=(const LocalCertificateManager&) = delete;

  std::shared_ptr<const core::CertificateSet> certificates() const override;

  /// Re-issues the leaves due for renewal and publishes a new snapshot when
  /// any changed. Returns how many were re-issued. Tries every name; throws
  /// the first failure afterwards ("renewing localhost: …").
  size_t maintain();

  /// Called after every new snapshot (on the maintaining thread); set it
  /// before start().
  void on_publish(std::function<void()> callback) { on_publish_ = std::move(callback); }
  /// Called with the error text when a background maintain() fails.
  void on_error(std::function<void(const std::string&)> callback) {
    on_error_ = std::move(callback);
  }

  /// Runs maintain() every `interval` on a background thread until stop().
  void start(std::chrono::milliseconds interval = kLocalMaintenanceInterval);
  /// Stops the background thread promptly (does not wait out the interval).
  void stop();

  const LocalCa& ca() const { return ca_; }

 private:
  using CertificatePtr = std::shared_ptr<const core::TlsCertificate>;

  CertificatePtr load_or_issue(const std::string& name) const;
  CertificatePtr load_stored(const std::string& name) const;
  CertificatePtr issue_and_store(const std::string& name) const;
  void publish();
  void run(std::chrono::milliseconds interval);

  std::string directory_;  // <data>/certificates/local
  const core::Clock& clock_;
  LocalCa ca_;
  std::vector<std::string> local_names_;
  std::map<std::string, CertificatePtr> local_;  // guarded by maintain_mutex_
  std::vector<std::pair<std::string, CertificatePtr>> files_;
  std::mutex maintain_mutex_;

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const core::CertificateSet> snapshot_;

  std::function<void()> on_publish_;
  std::function<void(const std::string&)> on_error_;
  std::mutex thread_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace usher::acme
